// Security-matrix rows for the MANIFEST section (part1 §8): ReadRepo (public-ok) for the reads,
// WriteRepo for adding and deleting labels. The fixture's repository holds no manifest, so the
// callers who get through meet the handler's 404.
import { all, type Row } from './matrix.js';

const READ = (ok: number) => all(403, { anonymous: 401, anonymousSession: 401, robot: 401, repoReadOnlyToken: ok, orgMember: ok, repoAdmin: ok, orgAdmin: ok, orgAdminSession: ok });
const WRITE = (ok: number) => all(403, { anonymousSession: 401, repoAdmin: ok, orgAdmin: ok, orgAdminSession: ok });
const DIGEST = `sha256:${'0'.repeat(64)}`;
const LABEL = '00000000-0000-4000-8000-000000000000';
const base = (c: Parameters<Row['path']>[0]) => `/api/v1/repository/${c.org.username}/${c.repo.name}/manifest/${DIGEST}`;

export const rows: Row[] = [
  { method: 'GET', route: '/api/v1/repository/:namespace/:repository/manifest/:manifestref', path: (c) => base(c), expect: READ(404) },
  { method: 'GET', route: '/api/v1/repository/:namespace/:repository/manifest/:manifestref/labels', path: (c) => `${base(c)}/labels`, expect: READ(404) },
  {
    method: 'POST', route: '/api/v1/repository/:namespace/:repository/manifest/:manifestref/labels', path: (c) => `${base(c)}/labels`,
    body: () => ({ key: 'matrix', value: 'v', media_type: null }),
    expect: WRITE(404),
  },
  { method: 'GET', route: '/api/v1/repository/:namespace/:repository/manifest/:manifestref/labels/:labelid', path: (c) => `${base(c)}/labels/${LABEL}`, expect: READ(404) },
  { method: 'DELETE', route: '/api/v1/repository/:namespace/:repository/manifest/:manifestref/labels/:labelid', path: (c) => `${base(c)}/labels/${LABEL}`, expect: WRITE(404) },
];
