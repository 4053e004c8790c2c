// Each /api/v1 route declares its access once, in `config.access`. The hook in src/auth/hook.ts
// enforces the declaration and src/openapi.ts documents the same declaration, so what discovery
// advertises is what is checked.
import type { FastifyRequest } from 'fastify';
import type { Config } from '../config.js';
import type { AuthContext } from './context.js';
import { effectiveOrgRole, effectiveRepoRole, realOrgRole, realRepoRole } from './permissions.js';
import {
  allowsSuperuser,
  capRepoRole,
  orgRoleAtLeast,
  repoRoleAtLeast,
  userRoleAtLeast,
  type OrgRole,
  type RepoRole,
  type ScopeName,
  type UserRole,
} from './scopes.js';

export interface AccessRule {
  /** The scope shown in discovery (`security: [{oauth2_implicit: [scope]}]`); null for none. */
  scope: ScopeName | null;
  /** 'deny': anonymous callers fail the check; 'allow': the check runs for them too (subject to
   * FEATURE_ANONYMOUS_ACCESS); 'always': allowed even when anonymous access is disabled. */
  anonymous: 'deny' | 'allow' | 'always';
  /** Sessions older than FRESH_LOGIN_TIMEOUT get 401 fresh_login_required (OAuth tokens pass). */
  fresh: boolean;
  /** Cookie-authenticated writes need the CSRF token. Only web-style routes turn this off. */
  csrf: boolean;
  /** Listed in discovery only with ?internal=true (Quay's internal_only). */
  internal: boolean;
  /** Not in discovery at all (web routes that live under /api/v1, such as /user/initialize). */
  hidden: boolean;
  /** The permission predicate; false → 401 for anonymous callers, 403 otherwise. */
  check: (req: FastifyRequest) => boolean | Promise<boolean>;
}

type Options = Partial<Pick<AccessRule, 'fresh' | 'internal' | 'hidden' | 'csrf'>>;

function rule(base: Pick<AccessRule, 'scope' | 'anonymous' | 'check'>, o: Options = {}): AccessRule {
  return { fresh: false, csrf: true, internal: false, hidden: false, ...base, ...o };
}

/** No permission needed (discovery, error descriptions, global messages, public user info). */
export function anonymousAccess(o: Options & { always?: boolean } = {}): AccessRule {
  return rule({ scope: null, anonymous: o.always ? 'always' : 'allow', check: () => true }, o);
}

/** Any authenticated user, whatever the token's scopes; `scope` is what discovery shows. */
export function authenticatedAccess(scope: ScopeName | null, o: Options = {}): AccessRule {
  return rule({ scope, anonymous: 'deny', check: (req) => req.auth.user !== null }, o);
}

/** UserRead / UserAdmin on the caller's own account (user:read or user:admin, or a session). */
export function userAccess(role: UserRole, o: Options = {}): AccessRule {
  return rule(
    {
      scope: role === 'admin' ? 'user:admin' : 'user:read',
      anonymous: 'deny',
      check: (req) => req.auth.user !== null && userRoleAtLeast(req.auth.scopes, role),
    },
    o,
  );
}

/**
 * Who is a superuser, as current Quay (part2 §2.2, §10): `full` for SUPER_USERS, `readonly` for
 * GLOBAL_READONLY_SUPER_USERS (a name in both lists is a full superuser), whatever credential is in use.
 */
export type SuperuserKind = 'full' | 'readonly';
export function configuredSuperuser(username: string, config: Config): SuperuserKind | null {
  if (!config.FEATURE_SUPER_USERS) return null;
  if (config.SUPER_USERS.includes(username)) return 'full';
  if (config.GLOBAL_READONLY_SUPER_USERS.includes(username)) return 'readonly';
  return null;
}

/** The superuser powers the caller holds right now: configured as one, and the credential carries super:user. */
export function superuserPowers(auth: Pick<AuthContext, 'user' | 'scopes'>, config: Config): SuperuserKind | null {
  if (!auth.user || auth.user.robot || auth.user.organization || !allowsSuperuser(auth.scopes)) return null;
  return configuredSuperuser(auth.user.username, config);
}

/** A caller who currently holds full superuser powers: listed in SUPER_USERS and holding super:user. */
export function isSuperuser(req: FastifyRequest, config: Config): boolean {
  return superuserPowers(req.auth, config) === 'full';
}

/** Whether the user is configured as a (full) superuser, whatever the credential in use. */
export function isConfiguredSuperuser(username: string, config: Config): boolean {
  return configuredSuperuser(username, config) === 'full';
}

/**
 * Whether the caller acts as every namespace's admin on this request: a full superuser with
 * FEATURE_SUPERUSERS_FULL_ACCESS, or a global read-only superuser on a read. The token's scopes
 * still cap the role (the route's own scope is checked as for anyone).
 */
export function namespacePower(auth: Pick<AuthContext, 'user' | 'scopes'>, config: Config, method: string): 'admin' | undefined {
  const kind = superuserPowers(auth, config);
  if (kind === 'full' && config.FEATURE_SUPERUSERS_FULL_ACCESS) return 'admin';
  if (kind === 'readonly' && (method === 'GET' || method === 'HEAD')) return 'admin';
  return undefined;
}

/**
 * The superuser section (part2 §10): scope super:user, and the caller must be a superuser; global
 * read-only superusers pass on `read` routes only. Everyone else gets 403 (401 when anonymous),
 * before anything about the target is looked up.
 */
export function superuserAccess(mode: 'read' | 'write', o: Options = {}): AccessRule {
  return rule(
    {
      scope: 'super:user',
      anonymous: 'deny',
      check: (req) => {
        const kind = superuserPowers(req.auth, req.server.config);
        return kind === 'full' || (kind === 'readonly' && mode === 'read');
      },
    },
    { fresh: true, ...o },
  );
}

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: AccessRule;
    /** Web routes that also accept HTTP Basic user credentials (password or `$app` token), as Quay's
     * /oauth/authorize and /oauth/authorizeapp do. The API never reads Basic credentials. */
    basicAuth?: boolean;
  }
}

export interface RequestTarget {
  /** The namespace named in the path (user or organization), when it exists. */
  namespace?: import('../db/schema.js').Namespace;
  /** The repository named in the path, when it exists. */
  repository?: import('../db/schema.js').Repository;
  /** The caller's role on `repository` as repoAccess computed it (public read included for publicOk routes). */
  repoRole?: RepoRole | null;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** What the access check looked up from the path, so handlers do not look it up again. */
    target: RequestTarget;
  }
}

async function loadNamespace(req: FastifyRequest, name: string | undefined) {
  if (!name) return undefined;
  return req.server.db.selectFrom('namespace').selectAll().where('username', '=', name).executeTakeFirst();
}

/**
 * RepoRead / RepoWrite / RepoAdmin on `:namespace/:repository` (part2 §1.3). Permission is checked
 * before existence: a missing repository fails like a forbidden one, except for a caller who
 * administers the namespace, who reaches the handler (and its 404).
 */
export function repoAccess(role: RepoRole, o: Options & { publicOk?: boolean } = {}): AccessRule {
  return rule(
    {
      scope: role === 'admin' ? 'repo:admin' : role === 'write' ? 'repo:write' : 'repo:read',
      anonymous: o.publicOk ? 'allow' : 'deny',
      check: async (req) => {
        const { namespace, repository } = req.params as { namespace?: string; repository?: string };
        const db = req.server.db;
        const ns = await loadNamespace(req, namespace);
        const repo = ns && repository
          ? await db.selectFrom('repository').selectAll().where('namespace_id', '=', ns.id).where('name', '=', repository).executeTakeFirst()
          : undefined;
        req.target = { namespace: ns, repository: repo };
        if (repo) {
          const effective = o.publicOk
            ? await effectiveRepoRole(db, req.auth, repo)
            : capRepoRole(req.auth.user ? (req.auth.namespacePower ?? (await realRepoRole(db, req.auth.user.id, repo))) : null, req.auth.scopes);
          req.target.repoRole = effective;
          return repoRoleAtLeast(effective, role);
        }
        if (!req.auth.user || !ns) return false;
        const adminsNamespace = req.auth.namespacePower === 'admin' || (await realOrgRole(db, req.auth.user.id, ns.id)) === 'admin';
        return adminsNamespace && repoRoleAtLeast(capRepoRole('admin', req.auth.scopes), role);
      },
    },
    o,
  );
}

/**
 * OrgAdmin / OrgMember / CreateRepo on `:orgname` (or another named parameter). A user's own
 * namespace counts as administered, so such a caller reaches the handler's 404 for "no such org".
 */
export function orgAccess(role: OrgRole, o: Options & { param?: string; scope?: ScopeName | null } = {}): AccessRule {
  return rule(
    {
      scope: o.scope === undefined ? (role === 'creator' ? 'repo:create' : 'org:admin') : o.scope,
      anonymous: 'deny',
      check: async (req) => {
        const name = (req.params as Record<string, string | undefined>)[o.param ?? 'orgname'];
        const ns = await loadNamespace(req, name);
        req.target = { namespace: ns };
        if (!req.auth.user) return false;
        if (!ns) return false;
        return orgRoleAtLeast(await effectiveOrgRole(req.server.db, req.auth, ns), role);
      },
    },
    o,
  );
}
