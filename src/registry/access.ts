// Who may do what on /v2 (registry-and-auth.md C.5, D.1). A request carries at most a Bearer JWT
// issued by /v2/auth (src/registry/token.ts); its `access` claim is the only thing that grants
// repository operations: `*` → admin, `push` → write, `pull` → read. The user's live permissions
// are not consulted again while the token lives (an hour), as in Quay. What this server adds to
// Quay: the entity behind the token must still exist and be enabled (a deleted robot, a disabled
// user, a revoked OAuth or app token stop working within AUTH_CACHE_SECONDS, not at expiry).
//
// Every route under /v2/:name/… gets its repository access checked before its handler runs, by the
// onRequest hook of the registry plugin (src/registry/index.ts) calling requireRepoAccess with the
// action requiredAction() derives from the route and method. A missing permission is always
// 401 UNAUTHORIZED with a challenge naming the scope to ask for (`pull`, or `pull,push` for
// writes), never 403 (E.4). Public repositories are readable without any token while
// FEATURE_ANONYMOUS_ACCESS is on.
//
// Repository names hold `/` (`ns/team/app`), and Fastify parameters are single segments, so the URL
// is rewritten before routing (rewriteRegistryUrl, from app.ts's rewriteUrl): the name's inner
// slashes become %2F, which the router decodes back into `:name`. The split follows the fixed route
// shapes of the protocol (REPO_ROUTE_SHAPES): the shortest name whose remainder is a known shape.
import { verify as verifySignature } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { TokenInfo } from '../auth/context.js';
import { superuserPowers } from '../auth/access.js';
import { capRepoRole, maxRepoRole, parseScopeString, type RepoRole, type ScopeSet } from '../auth/scopes.js';
import { realOrgRole, realRepoRole } from '../auth/permissions.js';
import type { Config } from '../config.js';
import type { Db } from '../db/index.js';
import { readThrough } from '../db/read-cache.js';
import { findRepositoryByPath } from '../db/repositories.js';
import type { Namespace, Repository } from '../db/schema.js';
import { RegistryError, unauthorized, type ChallengeScope } from './errors.js';
import { INSTANCE_KEY_SERVICE, type ServiceKeys } from './service-keys.js';

export type RegistryAction = 'pull' | 'push' | '*';

/** `sub` of tokens issued without credentials. */
export const ANONYMOUS_SUB = '(anonymous)';
/** Clock skew allowed on exp, nbf and iat (Quay's JWT_CLOCK_SKEW_SECONDS). */
export const JWT_LEEWAY_S = 30;
/** The longest exp − iat accepted (Quay's REGISTRY_JWT_AUTH_MAX_FRESH_S). */
export const JWT_MAX_FRESH_S = 3660;

// ---- Route shapes and the action each method needs ----

/**
 * Every repository-scoped route under /v2/:name/, by shape (`:` stands for a parameter). The
 * registry plugin refuses at start-up to register a /v2/:name/ route of another shape.
 */
export const REPO_ROUTE_SHAPES = ['blobs/uploads/', 'blobs/uploads/:', 'blobs/:', 'manifests/:', 'tags/list', 'referrers/:'] as const;

const SHAPE_RES = REPO_ROUTE_SHAPES.map(
  (shape) => new RegExp(`^${shape.split('/').map((seg) => (seg === ':' ? '[^/]+' : seg)).join('/')}$`),
);

export const REPO_ROUTE_PREFIX = '/v2/:name/';

/** The shape of a registered route (`/v2/:name/blobs/:digest` → `blobs/:`), or undefined for a route without `:name`. */
export function repoRouteShape(routeUrl: string | undefined): string | undefined {
  if (!routeUrl?.startsWith(REPO_ROUTE_PREFIX)) return undefined;
  return routeUrl.slice(REPO_ROUTE_PREFIX.length).replace(/:[A-Za-z0-9_]+/g, ':');
}

/**
 * The one map from (route, method) to the action a token must grant, as Quay decides it
 * (D.1): reads need `pull`; writes, deletes included, need `push`; everything on an upload
 * session (its status GET too) needs `push`. `*` (admin) is never required by a /v2 route, so a
 * writer may delete tags and manifests, as in Quay. Null for routes outside a repository.
 */
export function requiredAction(method: string, routeUrl: string | undefined): RegistryAction | null {
  const shape = repoRouteShape(routeUrl);
  if (shape === undefined) return null;
  if (shape.startsWith('blobs/uploads/')) return 'push';
  return method === 'GET' || method === 'HEAD' ? 'pull' : 'push';
}

/** `/v2/ns/team/app/manifests/x` → `/v2/ns%2Fteam%2Fapp/manifests/x`; other URLs unchanged. */
export function rewriteRegistryUrl(url: string): string {
  if (!url.startsWith('/v2/')) return url;
  const q = url.indexOf('?');
  const path = q >= 0 ? url.slice(0, q) : url;
  const segs = path.slice(4).split('/');
  if (segs.length < 3) return url;
  for (let k = 1; k < segs.length; k++) {
    const rest = segs.slice(k).join('/');
    if (SHAPE_RES.some((re) => re.test(rest))) {
      if (k === 1) return url;
      return `/v2/${segs.slice(0, k).join('%2F')}/${rest}${q >= 0 ? url.slice(q) : ''}`;
    }
  }
  return url;
}

// ---- Names ----

const REPO_NAME = /^(?=.{1,255}$)[a-z0-9][.a-z0-9_-]*(?:\/[a-z0-9][.a-z0-9_-]*)*$/;
const NAMESPACE_NAME = /^[a-z0-9][.a-z0-9_-]{0,254}$/;

export interface RepoName {
  namespace: string;
  repository: string;
  /** `namespace/repository`. */
  full: string;
}

/**
 * Splits `<name>` as Quay does: the first segment is the namespace and the rest the repository;
 * a single segment means LIBRARY_NAMESPACE/<name> (FEATURE_LIBRARY_SUPPORT). Undefined when the
 * name cannot be a repository of this registry.
 */
export function splitRepoName(name: string, config: Pick<Config, 'FEATURE_LIBRARY_SUPPORT' | 'LIBRARY_NAMESPACE'>): RepoName | undefined {
  const slash = name.indexOf('/');
  const namespace = slash < 0 ? (config.FEATURE_LIBRARY_SUPPORT ? config.LIBRARY_NAMESPACE : undefined) : name.slice(0, slash);
  const repository = slash < 0 ? name : name.slice(slash + 1);
  if (namespace === undefined || !NAMESPACE_NAME.test(namespace) || !REPO_NAME.test(repository)) return undefined;
  return { namespace, repository, full: `${namespace}/${repository}` };
}

/** Whether a repository name (without namespace) is valid: lower-case components, ≤ 255 characters. */
export function isValidRepoName(name: string): boolean {
  return REPO_NAME.test(name);
}

// ---- The token ----

/** The `context` claim: Quay's serialized auth context, legacy keys included (C.4). */
export interface TokenContext {
  version?: number;
  entity_kind?: string;
  entity_reference?: string;
  kind?: string;
  user?: string;
  oauth?: string;
  'com.apostille.roots'?: Record<string, string>;
  'com.apostille.root'?: string;
}

export interface AccessEntry {
  type: 'repository';
  name: string;
  actions: RegistryAction[];
}

export interface RegistryClaims {
  iss: string;
  aud: string | null;
  sub: string;
  iat: number;
  nbf: number;
  exp: number;
  access: AccessEntry[];
  context: TokenContext;
}

export interface VerifiedToken {
  claims: RegistryClaims;
  /** Repository (`ns/repo`) → the role the token grants on it. */
  grants: Map<string, RepoRole>;
}

const B64URL = /^[A-Za-z0-9_-]*$/;
const BEARER = /^Bearer (([a-zA-Z0-9+\-_/]+\.)+[a-zA-Z0-9+\-_/]+)$/;
const ACTION_ROLE: Record<RegistryAction, RepoRole> = { pull: 'read', push: 'write', '*': 'admin' };
const ROLE_RANK: Record<RepoRole, number> = { read: 1, write: 2, admin: 3 };

function decodeJson(part: string): unknown {
  if (!B64URL.test(part)) return undefined;
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

function validAccess(v: unknown): v is AccessEntry[] {
  if (!Array.isArray(v)) return false;
  return v.every(
    (e) =>
      isObject(e) &&
      e.type === 'repository' &&
      typeof e.name === 'string' &&
      Array.isArray(e.actions) &&
      e.actions.every((a) => a === 'push' || a === 'pull' || a === '*'),
  );
}

export type TokenVerdict = { ok: true; token: VerifiedToken } | { ok: false; reason: string };

/**
 * Verifies an `Authorization` header as Quay's registry does (C.5): exactly `Bearer <jwt>`, RS256
 * with the `kid` of an approved, unexpired `quay` service key, `aud` = SERVER_HOSTNAME,
 * `iss` = quay, `nbf`/`iat`/`exp` present with 30 s of leeway, `iat` not in the future, at most
 * 3660 s between `iat` and `exp`, a `sub`, and `access` entries of the expected form.
 */
export async function verifyRegistryToken(
  header: string,
  keys: Pick<ServiceKeys, 'verificationKey'>,
  config: Pick<Config, 'SERVER_HOSTNAME' | 'FEATURE_LIBRARY_SUPPORT' | 'LIBRARY_NAMESPACE'>,
  nowMs = Date.now(),
): Promise<TokenVerdict> {
  const m = BEARER.exec(header);
  if (!m) return { ok: false, reason: 'Invalid bearer token format' };
  const parts = m[1].split('.');
  if (parts.length !== 3) return { ok: false, reason: 'Invalid bearer token format' };
  const head = decodeJson(parts[0]);
  if (!isObject(head)) return { ok: false, reason: 'Invalid token header' };
  // The algorithm is fixed: `none`, HS256 and the rest are refused before any key is looked up.
  if (head.alg !== 'RS256') return { ok: false, reason: 'The token is not signed with RS256' };
  if (typeof head.kid !== 'string' || head.kid.length === 0 || head.kid.length > 200) return { ok: false, reason: 'Missing kid header' };
  const key = await keys.verificationKey(head.kid);
  if (!key) return { ok: false, reason: 'Unknown service key' };
  if (!B64URL.test(parts[2])) return { ok: false, reason: 'Invalid token signature' };
  const signed = Buffer.from(`${parts[0]}.${parts[1]}`, 'latin1');
  if (!verifySignature('sha256', signed, key, Buffer.from(parts[2], 'base64url'))) return { ok: false, reason: 'Invalid token signature' };
  const p = decodeJson(parts[1]);
  if (!isObject(p)) return { ok: false, reason: 'Invalid token payload' };
  for (const claim of ['exp', 'iat', 'nbf'] as const) {
    if (!isNumber(p[claim])) return { ok: false, reason: `Token is missing the "${claim}" claim` };
  }
  const aud = p.aud;
  const audOk = aud === config.SERVER_HOSTNAME || (Array.isArray(aud) && aud.includes(config.SERVER_HOSTNAME));
  if (!audOk) return { ok: false, reason: 'Invalid audience' };
  if (p.iss !== INSTANCE_KEY_SERVICE) return { ok: false, reason: 'Invalid issuer' };
  const now = nowMs / 1000;
  const { exp, iat, nbf } = p as { exp: number; iat: number; nbf: number };
  if (now > exp + JWT_LEEWAY_S) return { ok: false, reason: 'Token has expired' };
  if (nbf > now + JWT_LEEWAY_S) return { ok: false, reason: 'Token is not yet valid' };
  if (iat > now + JWT_LEEWAY_S) return { ok: false, reason: 'Token was issued in the future' };
  if (exp - iat > JWT_MAX_FRESH_S) return { ok: false, reason: `Token was signed for more than ${JWT_MAX_FRESH_S} seconds` };
  if (typeof p.sub !== 'string') return { ok: false, reason: 'Missing sub field in JWT' };
  const access = p.access ?? [];
  if (!validAccess(access)) return { ok: false, reason: 'Token contained invalid or malformed access grants' };
  if (p.context !== undefined && !isObject(p.context)) return { ok: false, reason: 'Token contained an invalid context' };
  const grants = new Map<string, RepoRole>();
  for (const entry of access) {
    const name = grantName(entry.name, config);
    if (!name) continue;
    let role: RepoRole | undefined;
    for (const a of entry.actions) if (!role || ROLE_RANK[ACTION_ROLE[a]] > ROLE_RANK[role]) role = ACTION_ROLE[a];
    const prev = grants.get(name);
    if (role && (!prev || ROLE_RANK[role] > ROLE_RANK[prev])) grants.set(name, role);
  }
  const claims = { ...p, access, context: (p.context ?? {}) as TokenContext } as unknown as RegistryClaims;
  return { ok: true, token: { claims, grants } };
}

/** A scope's repository as written (`[host/]ns/repo` or `name`) → `ns/repo`. */
function grantName(name: string, config: Pick<Config, 'SERVER_HOSTNAME' | 'FEATURE_LIBRARY_SUPPORT' | 'LIBRARY_NAMESPACE'>): string | undefined {
  const host = `${config.SERVER_HOSTNAME}/`;
  const bare = name.startsWith(host) ? name.slice(host.length) : name;
  return splitRepoName(bare, config)?.full;
}

// ---- Identities ----

export type EntityKind = 'user' | 'robot' | 'oauthtoken' | 'appspecifictoken';

/** The entity a registry credential stands for. */
export interface RegistryIdentity {
  kind: EntityKind;
  /** The acting namespace row: the user (for OAuth and app tokens, their owner) or the robot. */
  entity: Namespace;
  /** OAuth scopes, which cap every role; null for passwords, app tokens and robots (no cap). */
  scopes: ScopeSet;
  /** The OAuth token in use (for audit metadata). */
  oauth: TokenInfo | null;
  /** The app-specific token in use. */
  appToken: { id: number; uuid: string; title: string } | null;
}

/** The `context` claim for an identity (C.4); anonymous requests carry only the apostille keys. */
export function contextFor(identity: RegistryIdentity | null, sent: boolean, roots: Record<string, string>): TokenContext {
  const apostille = { 'com.apostille.roots': roots, 'com.apostille.root': '$disabled' };
  if (!identity) return sent ? { version: 2, entity_kind: 'anonymous', kind: 'anonymous', ...apostille } : apostille;
  const user = identity.entity.username;
  switch (identity.kind) {
    case 'user':
      return { version: 2, entity_kind: 'user', entity_reference: identity.entity.uuid, kind: 'user', user, ...apostille };
    case 'robot':
      return { version: 2, entity_kind: 'robot', entity_reference: user, kind: 'user', user, ...apostille };
    case 'oauthtoken':
      return { version: 2, entity_kind: 'oauthtoken', entity_reference: identity.oauth!.uuid, kind: 'oauth', oauth: identity.oauth!.uuid, user, ...apostille };
    case 'appspecifictoken':
      return { version: 2, entity_kind: 'appspecifictoken', entity_reference: identity.appToken!.uuid, kind: 'user', user, ...apostille };
  }
}

/** A robot whose owner is missing or disabled cannot act. */
async function robotUsable(db: Db, robot: Namespace): Promise<boolean> {
  if (!robot.robot || !robot.enabled || robot.robot_owner_id === null) return false;
  const owner = await db.selectFrom('namespace').select('enabled').where('id', '=', robot.robot_owner_id).executeTakeFirst();
  return !!owner?.enabled;
}

/**
 * The live entity behind a token's context, or null when it is gone, disabled, revoked or expired.
 * Anonymous contexts (and tokens issued without credentials) resolve to `anonymous`.
 */
export async function resolveContext(
  db: Db,
  config: Pick<Config, 'FEATURE_APP_SPECIFIC_TOKENS'>,
  claims: Pick<RegistryClaims, 'sub' | 'context'>,
): Promise<RegistryIdentity | 'anonymous' | null> {
  const ctx = claims.context;
  const kind = ctx.entity_kind;
  const ref = ctx.entity_reference;
  if (kind === undefined || kind === 'anonymous') return claims.sub === ANONYMOUS_SUB ? 'anonymous' : null;
  if (typeof ref !== 'string' || ref.length === 0 || ref.length > 255) return null;
  const now = new Date();
  if (kind === 'user') {
    const u = await db.selectFrom('namespace').selectAll().where('uuid', '=', ref).where('robot', '=', false).where('organization', '=', false).executeTakeFirst();
    return u?.enabled ? { kind, entity: u, scopes: null, oauth: null, appToken: null } : null;
  }
  if (kind === 'robot') {
    const r = await db.selectFrom('namespace').selectAll().where('username', '=', ref).where('robot', '=', true).executeTakeFirst();
    return r && (await robotUsable(db, r)) ? { kind, entity: r, scopes: null, oauth: null, appToken: null } : null;
  }
  if (kind === 'oauthtoken') {
    const t = await db
      .selectFrom('oauth_access_token as t')
      .innerJoin('oauth_application as a', 'a.id', 't.application_id')
      .select(['t.id', 't.uuid', 't.scope', 't.expires_at', 't.authorized_user_id', 't.application_id', 'a.client_id', 'a.name'])
      .where('t.uuid', '=', ref)
      .executeTakeFirst();
    if (!t || t.expires_at.getTime() <= now.getTime()) return null;
    const u = await db.selectFrom('namespace').selectAll().where('id', '=', t.authorized_user_id).executeTakeFirst();
    if (!u?.enabled || u.robot || u.organization) return null;
    const oauth: TokenInfo = { id: t.id, uuid: t.uuid, applicationId: t.application_id, clientId: t.client_id, applicationName: t.name };
    return { kind, entity: u, scopes: parseScopeString(t.scope) ?? new Set(), oauth, appToken: null };
  }
  if (kind === 'appspecifictoken') {
    if (!config.FEATURE_APP_SPECIFIC_TOKENS) return null;
    const t = await db.selectFrom('app_specific_token').select(['id', 'uuid', 'title', 'user_id', 'expiration']).where('uuid', '=', ref).executeTakeFirst();
    if (!t || (t.expiration && t.expiration.getTime() <= now.getTime())) return null;
    const u = await db.selectFrom('namespace').selectAll().where('id', '=', t.user_id).executeTakeFirst();
    if (!u?.enabled || u.robot || u.organization) return null;
    return { kind, entity: u, scopes: null, oauth: null, appToken: { id: t.id, uuid: t.uuid, title: t.title } };
  }
  return null;
}

// ---- Per-request state ----

export interface RegistryAuth {
  /** The verified token, or null when the request carried no Authorization header. */
  token: VerifiedToken | null;
  /** The live entity behind the token; null for anonymous requests and anonymous tokens. */
  identity: RegistryIdentity | null;
}

/** What requireRepoAccess found: the repository named in the path and the access granted. */
export interface RepoAccess extends RepoName {
  action: RegistryAction;
  /** The repository row (with its namespace's name), or undefined when it does not exist. */
  repo: (Repository & { namespace_name: string; namespace_is_org: boolean }) | undefined;
  /** How access was granted: by the token, or as a public repository without one. */
  via: 'token' | 'public';
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the registry plugin's onRequest hook on every /v2 route except /v2/auth. */
    registryAuth: RegistryAuth;
    /** Set on every /v2/:name/… route before its handler: the repository and the access checked. */
    repoAccess: RepoAccess;
  }
  interface FastifyContextConfig {
    /** /v2/auth reads HTTP Basic credentials itself; no Bearer JWT is expected there. */
    registryBasicAuth?: boolean;
  }
}

/** The challenge scope a route advertises: `pull` for reads, `pull,push` for writes (Quay's). */
export function challengeScope(name: string, action: RegistryAction): ChallengeScope {
  return { repository: name, actions: action === 'pull' ? ['pull'] : ['pull', 'push'] };
}

/**
 * Checks that the request may perform `action` on the repository `name` (from the path, or another
 * repository such as a mount's `from`). Throws 401 UNAUTHORIZED with the scoped challenge when the
 * token does not grant it, NAME_INVALID for a name that cannot exist, 405 UNSUPPORTED for a
 * repository that does not hold images, 405 DENIED for writes to a READ_ONLY or MIRROR repository.
 * A missing repository passes when the token grants the action (the handler answers NAME_UNKNOWN).
 */
export async function requireRepoAccess(req: FastifyRequest, action: RegistryAction, name?: string): Promise<RepoAccess> {
  const config = req.server.config;
  const raw = name ?? (req.params as { name?: string }).name ?? '';
  const parsed = splitRepoName(raw, config);
  if (!parsed) {
    if (raw.includes('/') || config.FEATURE_LIBRARY_SUPPORT) throw new RegistryError('NAME_INVALID');
    throw new RegistryError('NAME_INVALID', { message: 'A namespace must be specified explicitly' });
  }
  const repo = await readThrough(req.server.database.readCache, `repo\0${parsed.namespace}\0${parsed.repository}`, async () => ({
    value: await findRepositoryByPath(req.server.db, parsed.namespace, parsed.repository),
  }));
  const granted = req.registryAuth?.token?.grants.get(parsed.full);
  const needed = ACTION_ROLE[action];
  let via: RepoAccess['via'] | undefined;
  if (granted && ROLE_RANK[granted] >= ROLE_RANK[needed]) via = 'token';
  else if (action === 'pull' && repo?.visibility === 'public' && config.FEATURE_ANONYMOUS_ACCESS) via = 'public';
  if (!via) throw unauthorized({ scope: challengeScope(parsed.full, action) });
  if (repo && repo.kind !== 'image') {
    throw new RegistryError('UNSUPPORTED', { message: `This repository is for managing ${repo.kind} and not container images.` });
  }
  // A token outlives a state change: writes check the state again (Quay's check_repository_state).
  if (repo && action !== 'pull' && repo.state !== 'NORMAL') {
    throw new RegistryError('DENIED', { status: 405, message: 'The repository is read-only: pushes and deletions are refused.' });
  }
  return { ...parsed, action, repo, via };
}

/** Whether the request may perform `action` on `name`, without throwing (a mount's `from`). */
export async function mayAccessRepo(req: FastifyRequest, action: RegistryAction, name: string): Promise<RepoAccess | undefined> {
  try {
    return await requireRepoAccess(req, action, name);
  } catch (err) {
    if (err instanceof RegistryError) return undefined;
    throw err;
  }
}

/** The repository of a /v2/:name/… request, or NAME_UNKNOWN (404). */
export function existingRepo(req: FastifyRequest): NonNullable<RepoAccess['repo']> {
  const repo = req.repoAccess?.repo;
  if (!repo) throw new RegistryError('NAME_UNKNOWN', { message: 'repository not found' });
  return repo;
}

/**
 * What logAction needs for the caller of a /v2 request: the acting user or robot, the OAuth token
 * in use, the address. Audit metadata beyond that (is_robot, app_specific_token…) is the handler's.
 */
export function auditActor(req: FastifyRequest): { user: Namespace | null; token: TokenInfo | null; ip: string } {
  const identity = req.registryAuth?.identity ?? null;
  return { user: identity?.entity ?? null, token: identity?.oauth ?? null, ip: req.ip };
}

// ---- Roles used by /v2/auth and the catalog ----

/**
 * The role a superuser's powers give over every repository (Quay's v2auth): a full superuser with
 * FEATURE_SUPERUSERS_FULL_ACCESS administers them, a global read-only superuser pulls. Users only
 * (robots hold no powers), and the credential must allow super:user.
 */
export function superuserRepoRole(config: Config, identity: RegistryIdentity): RepoRole | null {
  if (identity.entity.robot) return null;
  const kind = superuserPowers({ user: identity.entity, scopes: identity.scopes }, config);
  if (kind === 'full' && config.FEATURE_SUPERUSERS_FULL_ACCESS) return 'admin';
  return kind === 'readonly' ? 'read' : null;
}

function higher(a: RepoRole | null, b: RepoRole | null): RepoRole | null {
  if (!a) return b;
  if (!b) return a;
  return ROLE_RANK[a] >= ROLE_RANK[b] ? a : b;
}

/** The caller's role on an existing repository, capped by OAuth scopes. */
export async function identityRepoRole(db: Db, config: Config, identity: RegistryIdentity, repo: Pick<Repository, 'id' | 'namespace_id'>): Promise<RepoRole | null> {
  return capRepoRole(higher(await realRepoRole(db, identity.entity.id, repo), superuserRepoRole(config, identity)), identity.scopes);
}

/** The role the caller holds over every repository of a namespace (its own, or an org it administers). */
export async function identityNamespaceRepoRole(db: Db, config: Config, identity: RegistryIdentity, namespaceId: number): Promise<RepoRole | null> {
  const org = await realOrgRole(db, identity.entity.id, namespaceId);
  return capRepoRole(higher(org === 'admin' ? 'admin' : null, superuserRepoRole(config, identity)), identity.scopes);
}

/** Whether the identity's credential may read repositories at all (OAuth tokens need a repo:* scope). */
export function canReadRepositories(identity: RegistryIdentity): boolean {
  return maxRepoRole(identity.scopes) !== null;
}
