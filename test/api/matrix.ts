// The security matrix: each section file (test/api/*.security.ts) exports rows; one test runs them
// all and fails when a registered /api/v1 route has none.
import type { TestApp } from '../helpers/app.js';
import type { TestUser } from '../helpers/factories.js';

export const IDENTITIES = [
  'anonymous', // no credentials at all
  'anonymousSession', // a browser session with its CSRF token, not signed in
  'basicCredentials', // HTTP Basic (robot/app-token style): never read by the API
  'noScopeToken', // alice's token with only repo:read
  'userReadToken', // alice, user:read
  'userAdminToken', // alice, user:admin
  'session', // alice signed in (fresh), with CSRF token
  'superuserToken', // root (in SUPER_USERS), super:user only
  'superuserWithoutScope', // root, user:admin without super:user
  'outsiderAdminToken', // bob, user:admin: another user
] as const;
export type Identity = (typeof IDENTITIES)[number];

export interface Ctx {
  t: TestApp;
  alice: TestUser;
  bob: TestUser;
  root: TestUser;
  headers: Record<Identity, Record<string, string>>;
}

export interface Row {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** The Fastify route pattern, as registered. */
  route: string;
  path: (ctx: Ctx) => string | Promise<string>;
  body?: (ctx: Ctx) => unknown;
  expect: Record<Identity, number>;
}
