// Security-matrix rows for the REPOSITORY section (part2 §4).
import { randomUUID } from 'node:crypto';
import { uniqueName } from '../helpers/factories.js';
import { all, type Ctx, type Row } from './matrix.js';

/**
 * A fresh private repository of ctx.org with the same grants as ctx.repo (readers team read, erin
 * admin, the robot read), for rows that change or destroy what they touch.
 */
export async function freshRepo(ctx: Ctx, visibility: 'public' | 'private' = 'private'): Promise<string> {
  const db = ctx.t.app.db;
  const repo = await db
    .insertInto('repository')
    .values({ namespace_id: ctx.org.id, name: uniqueName('mrepo'), visibility, badge_token: randomUUID() })
    .returningAll()
    .executeTakeFirstOrThrow();
  const grants = await db.selectFrom('repository_permission').select(['user_id', 'team_id', 'role']).where('repository_id', '=', ctx.repo.id).execute();
  if (grants.length) await db.insertInto('repository_permission').values(grants.map((g) => ({ ...g, repository_id: repo.id }))).execute();
  return `${ctx.org.username}/${repo.name}`;
}

/** Who may read the fixture's private repository. */
const READ = all(403, { anonymous: 401, anonymousSession: 401, robot: 401, repoReadOnlyToken: 200, orgMember: 200, repoAdmin: 200, orgAdmin: 200, orgAdminSession: 200 });
/** Writes: anonymous callers without a session (and robots, whose Basic credentials the API ignores) meet the CSRF check first. */
const ADMIN_WRITE = (ok: number) => all(403, { anonymousSession: 401, repoAdmin: ok, orgAdmin: ok, orgAdminSession: ok });

/** changeRepoState is registered only with FEATURE_REPO_MIRROR. */
export const config = { FEATURE_REPO_MIRROR: 'true' };

export const rows: Row[] = [
  { method: 'GET', route: '/api/v1/repository', path: (c) => `/api/v1/repository?namespace=${c.org.username}`, expect: all(200) },
  {
    method: 'GET', route: '/api/v1/repository', path: () => '/api/v1/repository?starred=true',
    expect: all(200, { anonymous: 400, anonymousSession: 400, robot: 400 }),
  },
  {
    // CreateRepo(org): org admins and creator teams; repo:read-only or user-only tokens cannot.
    method: 'POST', route: '/api/v1/repository', path: () => '/api/v1/repository',
    body: (c) => ({ namespace: c.org.username, repository: uniqueName('mnew'), visibility: 'private', description: '' }),
    expect: all(403, { anonymousSession: 401, teamCreator: 201, orgAdmin: 201, orgAdminSession: 201 }),
  },
  { method: 'GET', route: '/api/v1/repository/:namespace/:repository', path: (c) => `/api/v1/repository/${c.org.username}/${c.repo.name}`, expect: READ },
  { method: 'GET', route: '/api/v1/repository/:namespace/:repository', path: async (c) => `/api/v1/repository/${await freshRepo(c, 'public')}`, expect: all(200) },
  {
    method: 'PUT', route: '/api/v1/repository/:namespace/:repository', path: async (c) => `/api/v1/repository/${await freshRepo(c)}`,
    body: () => ({ description: 'matrix' }),
    expect: ADMIN_WRITE(200),
  },
  {
    method: 'POST', route: '/api/v1/repository/:namespace/:repository/changevisibility',
    path: async (c) => `/api/v1/repository/${await freshRepo(c)}/changevisibility`,
    body: () => ({ visibility: 'public' }),
    expect: ADMIN_WRITE(200),
  },
  {
    method: 'PUT', route: '/api/v1/repository/:namespace/:repository/changestate',
    path: async (c) => `/api/v1/repository/${await freshRepo(c)}/changestate`,
    body: () => ({ state: 'READ_ONLY' }),
    expect: ADMIN_WRITE(200),
  },
  {
    method: 'DELETE', route: '/api/v1/repository/:namespace/:repository', path: async (c) => `/api/v1/repository/${await freshRepo(c)}`,
    expect: ADMIN_WRITE(204),
  },
];
