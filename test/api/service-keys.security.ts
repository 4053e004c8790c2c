// Security-matrix rows for the service keys of the SUPERUSER section (part2 §10.4, §10.5,
// §10.8–§10.11): scope super:user and a superuser; global read-only superusers may call the two
// GETs. Anonymous callers get 401, except writes without a session (and robots, whose Basic
// credentials the API never reads), which meet the CSRF check first (403).
import { randomUUID } from 'node:crypto';
import { all, type Ctx, type Row } from './matrix.js';

const SUPERUSER_READ = (ok: number) => all(403, { anonymous: 401, anonymousSession: 401, robot: 401, superuser: ok, readonlySuperuser: ok });
const SUPERUSER_WRITE = (ok: number) => all(403, { anonymousSession: 401, superuser: ok });

/** A fresh key row of service `matrix` (approved or not) for each call. */
async function freshKey(c: Ctx, approved: boolean): Promise<string> {
  const kid = `matrix-${randomUUID()}`;
  await c.t.app.db
    .insertInto('service_key')
    .values({
      kid, service: 'matrix', name: 'matrix', jwk: JSON.stringify({ kty: 'RSA', n: 'AQ', e: 'AQAB' }), private_key_enc: null, metadata: '{}',
      created_date: new Date(), expiration_date: null, rotation_duration: null, approval_type: approved ? 'Super User API' : null,
      approver_id: null, approved_date: approved ? new Date() : null, approval_notes: approved ? '' : null,
    })
    .execute();
  return kid;
}

export const rows: Row[] = [
  { method: 'GET', route: '/api/v1/superuser/keys', path: () => '/api/v1/superuser/keys', expect: SUPERUSER_READ(200) },
  {
    method: 'POST', route: '/api/v1/superuser/keys', path: () => '/api/v1/superuser/keys',
    body: () => ({ service: 'matrix', expiration: null, name: 'matrix' }),
    expect: SUPERUSER_WRITE(200),
  },
  { method: 'GET', route: '/api/v1/superuser/keys/:kid', path: async (c) => `/api/v1/superuser/keys/${await freshKey(c, true)}`, expect: SUPERUSER_READ(200) },
  {
    method: 'PUT', route: '/api/v1/superuser/keys/:kid', path: async (c) => `/api/v1/superuser/keys/${await freshKey(c, true)}`,
    body: () => ({ name: 'renamed' }),
    expect: SUPERUSER_WRITE(200),
  },
  {
    method: 'POST', route: '/api/v1/superuser/approvedkeys/:kid', path: async (c) => `/api/v1/superuser/approvedkeys/${await freshKey(c, false)}`,
    body: () => ({ notes: 'ok' }),
    expect: SUPERUSER_WRITE(201),
  },
  { method: 'DELETE', route: '/api/v1/superuser/keys/:kid', path: async (c) => `/api/v1/superuser/keys/${await freshKey(c, true)}`, expect: SUPERUSER_WRITE(204) },
];
