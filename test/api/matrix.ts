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
/**
 * Identities whose expectation a row may leave out, derived by `expectFor` from the others:
 * `superuserNoScope` (root without super:user) behaves as the outsider; `readonlySuperuser` (viewer,
 * in GLOBAL_READONLY_SUPER_USERS, every scope) reads what the org admin reads and changes nothing,
 * as the outsider.
 */
export const DERIVED_IDENTITIES = ['readonlySuperuser', 'superuserNoScope'] as const;
export type BaseIdentity = (typeof IDENTITIES)[number];
export type DerivedIdentity = (typeof DERIVED_IDENTITIES)[number];
export type Identity = BaseIdentity | DerivedIdentity;
export const ALL_IDENTITIES: readonly Identity[] = [...IDENTITIES, ...DERIVED_IDENTITIES];

export const FULL_SCOPES = 'repo:read repo:write repo:admin repo:create user:read user:admin org:admin';

export interface Ctx {
  t: TestApp;
  alice: TestUser;
  bob: TestUser;
  carol: TestUser;
  dave: TestUser;
  erin: TestUser;
  root: TestUser;
  viewer: TestUser;
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
  expect: Record<BaseIdentity, number> & Partial<Record<DerivedIdentity, number>>;
}

/** The status a row expects for an identity, derived ones included. */
export function expectFor(row: Row, identity: Identity): number {
  const explicit = row.expect[identity];
  if (explicit !== undefined) return explicit;
  if (identity === 'superuserNoScope') return row.expect.outsider;
  return row.method === 'GET' ? row.expect.orgAdmin : row.expect.outsider;
}

/** Every identity → the same status, with overrides. */
export function all(status: number, overrides: Partial<Record<Identity, number>> = {}): Row['expect'] {
  return { ...(Object.fromEntries(IDENTITIES.map((i) => [i, status])) as Record<BaseIdentity, number>), ...overrides };
}
