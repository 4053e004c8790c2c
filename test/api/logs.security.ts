// Security-matrix rows for the LOGS section's lists and aggregations (part1 §7): the caller's own
// account (UserAdmin), an organization (OrgAdmin) and a repository (RepoAdmin).
import { all, type Row } from './matrix.js';

const USER_ADMIN = { anonymous: 401, anonymousSession: 401, robot: 401, repoReadOnlyToken: 403, userReadOnlyToken: 403 } as const;
/** OrgAdmin on the fixture's org: only alice (and the read-only superuser, on reads). */
const ORG_ADMIN = all(403, { anonymous: 401, anonymousSession: 401, robot: 401, orgAdmin: 200, orgAdminSession: 200, readonlySuperuser: 200 });
/** RepoAdmin on the fixture's private repository: alice as org admin, erin by a direct grant. */
const REPO_ADMIN = all(403, { anonymous: 401, anonymousSession: 401, robot: 401, orgAdmin: 200, orgAdminSession: 200, repoAdmin: 200, readonlySuperuser: 200 });

/** Anonymous writes without a session (and robots) meet the CSRF check first. */
const WRITE = { anonymous: 403, robot: 403, readonlySuperuser: 403 } as const;

export const rows: Row[] = [
  // The caller's own account: every signed-in identity, the read-only superuser included.
  { method: 'POST', route: '/api/v1/user/exportlogs', path: () => '/api/v1/user/exportlogs', body: () => ({}), expect: all(200, { ...USER_ADMIN, anonymous: 403, robot: 403 }) },
  {
    method: 'POST', route: '/api/v1/organization/:orgname/exportlogs', path: (c) => `/api/v1/organization/${c.org.username}/exportlogs`, body: () => ({}),
    expect: { ...ORG_ADMIN, ...WRITE },
  },
  {
    method: 'POST', route: '/api/v1/repository/:namespace/:repository/exportlogs', path: (c) => `/api/v1/repository/${c.org.username}/${c.repo.name}/exportlogs`,
    body: () => ({}),
    expect: { ...REPO_ADMIN, ...WRITE },
  },
  { method: 'GET', route: '/api/v1/user/logs', path: () => '/api/v1/user/logs', expect: all(200, USER_ADMIN) },
  { method: 'GET', route: '/api/v1/user/aggregatelogs', path: () => '/api/v1/user/aggregatelogs', expect: all(200, USER_ADMIN) },
  { method: 'GET', route: '/api/v1/organization/:orgname/logs', path: (c) => `/api/v1/organization/${c.org.username}/logs`, expect: ORG_ADMIN },
  { method: 'GET', route: '/api/v1/organization/:orgname/aggregatelogs', path: (c) => `/api/v1/organization/${c.org.username}/aggregatelogs`, expect: ORG_ADMIN },
  { method: 'GET', route: '/api/v1/repository/:namespace/:repository/logs', path: (c) => `/api/v1/repository/${c.org.username}/${c.repo.name}/logs`, expect: REPO_ADMIN },
  {
    method: 'GET', route: '/api/v1/repository/:namespace/:repository/aggregatelogs',
    path: (c) => `/api/v1/repository/${c.org.username}/${c.repo.name}/aggregatelogs`,
    expect: REPO_ADMIN,
  },
];
