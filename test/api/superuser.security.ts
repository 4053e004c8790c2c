// Security-matrix rows for the SUPERUSER section's users, organizations, logs and builds (part2 §10,
// §10.15): super:user and a superuser; global read-only superusers on the reads only; everyone else
// 403 (401 anonymous) before anything about the target is looked up. Writes act on throwaway
// targets made per call, so one identity's success leaves nothing missing for the next.
import { makeOrg, makeUser, uniqueName } from '../helpers/factories.js';
import { all, type Ctx, type Row } from './matrix.js';

const ANON = { anonymous: 401, anonymousSession: 401, robot: 401 } as const;
/** Anonymous writes without a session (and robots' Basic credentials) meet the CSRF check first. */
const ANON_WRITE = { anonymous: 403, anonymousSession: 401, robot: 403 } as const;

const read = (status: number) => all(403, { ...ANON, superuser: status, readonlySuperuser: status });
const write = (status: number) => all(403, { ...ANON_WRITE, superuser: status });

const throwawayUser = async (c: Ctx) => (await makeUser(c.t)).username;
const throwawayOrg = async (c: Ctx) => (await makeOrg(c.t, [c.alice])).username;

export const rows: Row[] = [
  { method: 'GET', route: '/api/v1/superuser/users/', path: () => '/api/v1/superuser/users/', expect: read(200) },
  {
    method: 'POST', route: '/api/v1/superuser/users/', path: () => '/api/v1/superuser/users/',
    body: () => ({ username: uniqueName('made'), email: `${uniqueName('made')}@example.com` }),
    expect: write(200),
  },
  { method: 'GET', route: '/api/v1/superuser/users/:username', path: (c) => `/api/v1/superuser/users/${c.bob.username}`, expect: read(200) },
  {
    method: 'PUT', route: '/api/v1/superuser/users/:username', path: async (c) => `/api/v1/superuser/users/${await throwawayUser(c)}`,
    body: () => ({ enabled: false }),
    expect: write(200),
  },
  { method: 'DELETE', route: '/api/v1/superuser/users/:username', path: async (c) => `/api/v1/superuser/users/${await throwawayUser(c)}`, expect: write(204) },
  {
    method: 'POST', route: '/api/v1/superusers/users/:username/sendrecovery',
    path: async (c) => `/api/v1/superusers/users/${await throwawayUser(c)}/sendrecovery`,
    expect: write(200),
  },
  {
    method: 'POST', route: '/api/v1/superuser/takeownership/:namespace',
    path: async (c) => `/api/v1/superuser/takeownership/${await throwawayOrg(c)}`,
    expect: write(200),
  },
  { method: 'GET', route: '/api/v1/superuser/organizations/', path: () => '/api/v1/superuser/organizations/', expect: read(200) },
  {
    method: 'PUT', route: '/api/v1/superuser/organizations/:name', path: async (c) => `/api/v1/superuser/organizations/${await throwawayOrg(c)}`,
    body: () => ({ name: uniqueName('renamed') }),
    expect: write(200),
  },
  { method: 'DELETE', route: '/api/v1/superuser/organizations/:name', path: async (c) => `/api/v1/superuser/organizations/${await throwawayOrg(c)}`, expect: write(204) },
  { method: 'GET', route: '/api/v1/superuser/logs', path: () => '/api/v1/superuser/logs', expect: read(200) },
  { method: 'GET', route: '/api/v1/superuser/aggregatelogs', path: () => '/api/v1/superuser/aggregatelogs', expect: read(200) },
  { method: 'GET', route: '/api/v1/superuser/changelog/', path: () => '/api/v1/superuser/changelog/', expect: read(200) },
  // No build exists: Quay answers an unknown uuid with 400 invalid_response (status, logs) or 404 (build).
  { method: 'GET', route: '/api/v1/superuser/:build_uuid/status', path: () => '/api/v1/superuser/no-such-build/status', expect: read(400) },
  { method: 'GET', route: '/api/v1/superuser/:build_uuid/build', path: () => '/api/v1/superuser/no-such-build/build', expect: read(404) },
  { method: 'GET', route: '/api/v1/superuser/:build_uuid/logs', path: () => '/api/v1/superuser/no-such-build/logs', expect: read(400) },
];
