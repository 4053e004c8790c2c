// Security-matrix rows for the TAG section (part2 §11): ReadRepo (public-ok) for the two GETs,
// WriteRepo for the three changes. The fixture's repository holds no tags, so the callers who get
// through meet the handler's own answer: an empty history, 404 for a tag or manifest that does
// not exist, 204 for deleting a tag that is not live.
import { all, type Row } from './matrix.js';
import { freshRepo } from './repository.security.js';

/** Who may read the fixture's private repository. */
const READ = (ok: number) => all(403, { anonymous: 401, anonymousSession: 401, robot: 401, repoReadOnlyToken: ok, orgMember: ok, repoAdmin: ok, orgAdmin: ok, orgAdminSession: ok });
/** Who may write to it: its admins (no identity of the fixture holds a bare write role). */
const WRITE = (ok: number) => all(403, { anonymousSession: 401, repoAdmin: ok, orgAdmin: ok, orgAdminSession: ok });
const NO_SUCH_DIGEST = `sha256:${'0'.repeat(64)}`;

export const rows: Row[] = [
  { method: 'GET', route: '/api/v1/repository/:namespace/:repository/tag/', path: (c) => `/api/v1/repository/${c.org.username}/${c.repo.name}/tag/`, expect: READ(200) },
  { method: 'GET', route: '/api/v1/repository/:namespace/:repository/tag/', path: async (c) => `/api/v1/repository/${await freshRepo(c, 'public')}/tag/`, expect: all(200) },
  {
    method: 'GET', route: '/api/v1/repository/:namespace/:repository/tag/:tag/images',
    path: (c) => `/api/v1/repository/${c.org.username}/${c.repo.name}/tag/latest/images`,
    expect: READ(404),
  },
  {
    method: 'PUT', route: '/api/v1/repository/:namespace/:repository/tag/:tag',
    path: (c) => `/api/v1/repository/${c.org.username}/${c.repo.name}/tag/latest`,
    body: () => ({ manifest_digest: NO_SUCH_DIGEST }),
    expect: WRITE(404),
  },
  {
    method: 'DELETE', route: '/api/v1/repository/:namespace/:repository/tag/:tag',
    path: (c) => `/api/v1/repository/${c.org.username}/${c.repo.name}/tag/latest`,
    expect: WRITE(204),
  },
  {
    method: 'POST', route: '/api/v1/repository/:namespace/:repository/tag/:tag/restore',
    path: (c) => `/api/v1/repository/${c.org.username}/${c.repo.name}/tag/latest/restore`,
    body: () => ({ manifest_digest: NO_SUCH_DIGEST }),
    expect: WRITE(404),
  },
];
