// The security matrix: each section file (test/api/*.security.ts) exports `rows`; one test
// (security-matrix.test.ts) runs them all against one fixture and fails when a served /api/v1
// route has no row. A section file may also export `config` (settings such as FEATURE_REPO_MIRROR
// that register its feature-gated routes); the fixture app is built with all of them merged.
//
// The fixture: organization `org` whose owners team holds alice (org admin); carol is in a
// `member` team of org with read on `repo`; dave is in a `creator` team; erin holds a direct admin
// grant on `repo` and no team; bob has no relation to anything; root is a superuser; `org+bot` is
// a robot with read on `repo`. `repo` is a private repository of org.
import type { Namespace, Repository } from '../../src/db/schema.js';
import type { TestApp } from '../helpers/app.js';
import type { TestUser } from '../helpers/factories.js';

export const IDENTITIES = [
  'anonymous', // no credentials
  'anonymousSession', // a browser session with its CSRF token, not signed in
  'robot', // HTTP Basic org+bot:token (a registry credential the API never reads)
  'repoReadOnlyToken', // alice, scope repo:read only
  'userReadOnlyToken', // alice, scope user:read only
  'outsider', // bob, every scope but super:user
  'orgMember', // carol, every scope but super:user
  'teamCreator', // dave, every scope but super:user
  'repoAdmin', // erin, every scope but super:user
  'orgAdmin', // alice, every scope but super:user
  'orgAdminSession', // alice signed in (fresh), with CSRF token
  'superuser', // root (in SUPER_USERS), every scope
] as const;
export type Identity = (typeof IDENTITIES)[number];

export const FULL_SCOPES = 'repo:read repo:write repo:admin repo:create user:read user:admin org:admin';

export interface Ctx {
  t: TestApp;
  alice: TestUser;
  bob: TestUser;
  carol: TestUser;
  dave: TestUser;
  erin: TestUser;
  root: TestUser;
  org: Namespace;
  repo: Repository;
  robot: Namespace & { token: string };
  headers: Record<Identity, Record<string, string>>;
  /** Who each identity is (null for anonymous ones). */
  users: Record<Identity, TestUser | null>;
}

export interface Row {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** The Fastify route pattern, as registered. */
  route: string;
  /** The concrete path; may create what the request needs (each identity gets a fresh call). */
  path: (ctx: Ctx, identity: Identity) => string | Promise<string>;
  body?: (ctx: Ctx, identity: Identity) => unknown;
  expect: Record<Identity, number>;
}

/** Every identity → the same status, with overrides. */
export function all(status: number, overrides: Partial<Record<Identity, number>> = {}): Record<Identity, number> {
  return { ...(Object.fromEntries(IDENTITIES.map((i) => [i, status])) as Record<Identity, number>), ...overrides };
}
