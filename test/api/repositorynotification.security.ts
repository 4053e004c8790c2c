// Security-matrix rows for REPOSITORYNOTIFICATION (part2 §5): AdminRepo on every route, the GETs
// included. Each row that names a notification creates a fresh one on the fixture's repository, so
// every identity that gets through meets a real one (and a delete or reset of its own).
import { insertRepoNotification } from '../../src/db/notifications.js';
import { all, type Ctx, type Row } from './matrix.js';

/** Reads: the repository's admins (and the global read-only superuser, derived from the org admin). */
const READ = (ok: number) => all(403, { anonymous: 401, anonymousSession: 401, robot: 401, repoAdmin: ok, orgAdmin: ok, orgAdminSession: ok });
/** Changes: its admins; anonymous writes meet the CSRF check first (403), as in the TAG rows. */
const WRITE = (ok: number) => all(403, { anonymousSession: 401, repoAdmin: ok, orgAdmin: ok, orgAdminSession: ok });

const base = (c: Ctx) => `/api/v1/repository/${c.org.username}/${c.repo.name}/notification/`;

async function fresh(c: Ctx): Promise<string> {
  const n = await insertRepoNotification(c.t.app.db, {
    repositoryId: c.repo.id,
    event: 'repo_push',
    method: 'quay_notification',
    config: { target: { kind: 'org', name: c.org.username } },
    eventConfig: {},
    title: 'matrix',
  });
  return n.uuid;
}

export const rows: Row[] = [
  { method: 'GET', route: '/api/v1/repository/:namespace/:repository/notification/', path: base, expect: READ(200) },
  {
    method: 'POST', route: '/api/v1/repository/:namespace/:repository/notification/',
    path: base,
    body: (c) => ({ event: 'repo_push', method: 'quay_notification', config: { target: { kind: 'org', name: c.org.username } }, eventConfig: {} }),
    expect: WRITE(201),
  },
  { method: 'GET', route: '/api/v1/repository/:namespace/:repository/notification/:uuid', path: async (c) => `${base(c)}${await fresh(c)}`, expect: READ(200) },
  { method: 'DELETE', route: '/api/v1/repository/:namespace/:repository/notification/:uuid', path: async (c) => `${base(c)}${await fresh(c)}`, expect: WRITE(204) },
  { method: 'POST', route: '/api/v1/repository/:namespace/:repository/notification/:uuid', path: async (c) => `${base(c)}${await fresh(c)}`, expect: WRITE(204) },
  { method: 'POST', route: '/api/v1/repository/:namespace/:repository/notification/:uuid/test', path: async (c) => `${base(c)}${await fresh(c)}/test`, expect: WRITE(200) },
  // Quay's repoemail section (registered with FEATURE_MAILING, which team-invites.security.ts turns
  // on): an address never authorized is 404 to the admins; a POST that is not an address is their
  // 400 (a real one would mail it: test/api/repositorynotification.test.ts covers that).
  {
    method: 'GET', route: '/api/v1/repository/:namespace/:repository/authorizedemail/:email',
    path: (c) => `/api/v1/repository/${c.org.username}/${c.repo.name}/authorizedemail/nobody@example.com`,
    expect: READ(404),
  },
  {
    method: 'POST', route: '/api/v1/repository/:namespace/:repository/authorizedemail/:email',
    path: (c) => `/api/v1/repository/${c.org.username}/${c.repo.name}/authorizedemail/not-an-address`,
    expect: WRITE(400),
  },
];
