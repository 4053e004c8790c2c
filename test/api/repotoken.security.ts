// Security-matrix rows for REPOTOKEN (part2 §6): AdminRepo, then 410 Gone.
import { all, type Ctx, type Row } from './matrix.js';

const base = (c: Ctx) => `/api/v1/repository/${c.org.username}/${c.repo.name}/tokens/`;
const GONE_READ = all(403, { anonymous: 401, anonymousSession: 401, robot: 401, repoAdmin: 410, orgAdmin: 410, orgAdminSession: 410 });
/** Anonymous writes without a session (and robots) meet the CSRF check first. */
const GONE_WRITE = all(403, { anonymousSession: 401, repoAdmin: 410, orgAdmin: 410, orgAdminSession: 410 });

export const rows: Row[] = [
  { method: 'GET', route: '/api/v1/repository/:namespace/:repository/tokens/', path: base, expect: GONE_READ },
  { method: 'POST', route: '/api/v1/repository/:namespace/:repository/tokens/', path: base, body: () => ({ friendlyName: 'matrix' }), expect: GONE_WRITE },
  { method: 'GET', route: '/api/v1/repository/:namespace/:repository/tokens/:code', path: (c) => `${base(c)}abc`, expect: GONE_READ },
  { method: 'PUT', route: '/api/v1/repository/:namespace/:repository/tokens/:code', path: (c) => `${base(c)}abc`, body: () => ({ role: 'read' }), expect: GONE_WRITE },
  { method: 'DELETE', route: '/api/v1/repository/:namespace/:repository/tokens/:code', path: (c) => `${base(c)}abc`, expect: GONE_WRITE },
];
