// Security-matrix rows for PERMISSION (part1 §11): RepoAdmin with repo:admin on every endpoint.
// Writes act on a fresh repository of the fixture org (erin holds a direct admin grant on it, as
// on the fixture repository), so the fixture's own grants never change.
import { grant, makeRepo } from '../helpers/factories.js';
import { all, type Ctx, type Row } from './matrix.js';

/** Only erin (direct admin grant) and alice (org admin, repo:admin or session) pass. */
const ADMINS_ONLY = (ok: number, write: boolean) =>
  all(403, {
    anonymous: write ? 403 : 401, // anonymous writes meet the CSRF guard first
    robot: write ? 403 : 401, // Basic credentials are not read by the API
    anonymousSession: 401,
    repoAdmin: ok,
    orgAdmin: ok,
    orgAdminSession: ok,
  });

const P = '/api/v1/repository/:namespace/:repository/permissions';

async function freshRepo(c: Ctx, o: { bob?: boolean; readers?: boolean } = {}): Promise<string> {
  const repo = await makeRepo(c.t, c.org);
  await grant(c.t, repo, { userId: c.erin.id }, 'admin');
  if (o.bob) await grant(c.t, repo, { userId: c.bob.id }, 'read');
  if (o.readers) {
    const team = await c.t.app.db.selectFrom('team').select('id').where('organization_id', '=', c.org.id).where('name', '=', 'readers').executeTakeFirstOrThrow();
    await grant(c.t, repo, { teamId: team.id }, 'read');
  }
  return `/api/v1/repository/${c.org.username}/${repo.name}/permissions`;
}

const fixture = (c: Ctx) => `/api/v1/repository/${c.org.username}/${c.repo.name}/permissions`;

export const rows: Row[] = [
  { method: 'GET', route: `${P}/user/`, path: (c) => `${fixture(c)}/user/`, expect: ADMINS_ONLY(200, false) },
  { method: 'GET', route: `${P}/team/`, path: (c) => `${fixture(c)}/team/`, expect: ADMINS_ONLY(200, false) },
  { method: 'GET', route: `${P}/user/:username`, path: (c) => `${fixture(c)}/user/${c.erin.username}`, expect: ADMINS_ONLY(200, false) },
  { method: 'GET', route: `${P}/user/:username/transitive`, path: (c) => `${fixture(c)}/user/${c.erin.username}/transitive`, expect: ADMINS_ONLY(200, false) },
  { method: 'GET', route: `${P}/team/:teamname`, path: (c) => `${fixture(c)}/team/readers`, expect: ADMINS_ONLY(200, false) },
  {
    method: 'PUT', route: `${P}/user/:username`, path: async (c) => `${await freshRepo(c)}/user/${c.bob.username}`,
    body: () => ({ role: 'read' }), expect: ADMINS_ONLY(200, true),
  },
  { method: 'DELETE', route: `${P}/user/:username`, path: async (c) => `${await freshRepo(c, { bob: true })}/user/${c.bob.username}`, expect: ADMINS_ONLY(204, true) },
  {
    method: 'PUT', route: `${P}/team/:teamname`, path: async (c) => `${await freshRepo(c)}/team/readers`,
    body: () => ({ role: 'write' }), expect: ADMINS_ONLY(200, true),
  },
  { method: 'DELETE', route: `${P}/team/:teamname`, path: async (c) => `${await freshRepo(c, { readers: true })}/team/readers`, expect: ADMINS_ONLY(204, true) },
];
