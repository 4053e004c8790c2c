// Security-matrix rows for the stars of the USER section (part2 §14.1, §14.2, §14.4): UserAdmin, and
// only repositories the caller can read (404 otherwise, never a hint that a private one exists).
import { all, type Row } from './matrix.js';

const USER_ADMIN = { anonymous: 401, anonymousSession: 401, robot: 401, repoReadOnlyToken: 403, userReadOnlyToken: 403 } as const;
/** Anonymous writes without a session (and robots) meet the CSRF check first. */
const USER_ADMIN_WRITE = { ...USER_ADMIN, anonymous: 403, robot: 403 } as const;
/** Callers who cannot read the fixture's private repository. */
const CANNOT_READ = { outsider: 404, teamCreator: 404, superuser: 404 } as const;

export const rows: Row[] = [
  { method: 'GET', route: '/api/v1/user/starred', path: () => '/api/v1/user/starred', expect: all(200, USER_ADMIN) },
  {
    method: 'POST', route: '/api/v1/user/starred', path: () => '/api/v1/user/starred',
    body: (c) => ({ namespace: c.org.username, repository: c.repo.name }),
    expect: all(201, { ...USER_ADMIN_WRITE, ...CANNOT_READ }),
  },
  {
    method: 'DELETE', route: '/api/v1/user/starred/:namespace/:repository', path: (c) => `/api/v1/user/starred/${c.org.username}/${c.repo.name}`,
    expect: all(204, { ...USER_ADMIN_WRITE, ...CANNOT_READ }),
  },
];
