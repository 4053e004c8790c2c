// Security-matrix rows for the IMAGE section (part1 §6): ReadRepo, public-ok. The fixture's
// repository holds no manifest: an empty list, and 404 for any image id.
import { all, type Row } from './matrix.js';

const READ = (ok: number) => all(403, { anonymous: 401, anonymousSession: 401, robot: 401, repoReadOnlyToken: ok, orgMember: ok, repoAdmin: ok, orgAdmin: ok, orgAdminSession: ok });

export const rows: Row[] = [
  { method: 'GET', route: '/api/v1/repository/:namespace/:repository/image/', path: (c) => `/api/v1/repository/${c.org.username}/${c.repo.name}/image/`, expect: READ(200) },
  {
    method: 'GET', route: '/api/v1/repository/:namespace/:repository/image/:image_id',
    path: (c) => `/api/v1/repository/${c.org.username}/${c.repo.name}/image/${'a'.repeat(64)}`,
    expect: READ(404),
  },
];
