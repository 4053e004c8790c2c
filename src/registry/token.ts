// GET /v2/auth: the registry token endpoint (registry-and-auth.md B, C.1–C.4). HTTP Basic credentials
// only (`$app` + app-specific token, `$oauthtoken` + OAuth token, `ns+robot` + robot token, a user's
// name or e-mail address + password) or none; each `scope=repository:<name>:<actions>` is granted
// or silently reduced (C.3), a missing repository is created when `push` is asked by someone who may
// create in its namespace, and the answer is `{"token": "<RS256 JWT>"}` and nothing else.
//
// Order of the checks (C.2): credentials → anonymous-access switch → invalid credentials →
// anonymous without scope → every scope parsed (400s) → each scope decided in request order.
// Passwords go through the sign-in throttle (checkPasswordLogin); the route shares the `login`
// per-address limit with the sign-in routes. No login audit entry is written (as Quay 3.6, and as
// this server's sign-in), and a repository created here writes no create_repo entry (D.7).
import { sign } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { safeEqual } from '../auth/crypto.js';
import { realOrgRole } from '../auth/permissions.js';
import { capOrgRole, orgRoleAtLeast, repoRoleAtLeast } from '../auth/scopes.js';
import { validateAccessToken } from '../auth/tokens.js';
import { createRepository } from '../api/repository/create.js';
import { isUniqueViolation } from '../db/errors.js';
import type { Db } from '../db/index.js';
import type { Config } from '../config.js';
import { findRepository } from '../db/repositories.js';
import type { Namespace, Repository } from '../db/schema.js';
import { findNamespaceByName } from '../db/users.js';
import { firstString } from '../lib/validation.js';
import { basicCredentials, checkAppTokenLogin, checkPasswordLogin, decryptUserPassword, loginGuard } from '../services/login.js';
import {
  ANONYMOUS_SUB,
  contextFor,
  identityNamespaceRepoRole,
  identityRepoRole,
  superuserRepoRole,
  isValidRepoName,
  type AccessEntry,
  type RegistryAction,
  type RegistryClaims,
  type RegistryIdentity,
} from './access.js';
import { RegistryError } from './errors.js';
import { INSTANCE_KEY_SERVICE, type ServiceKeys } from './service-keys.js';

/** Registry tokens live an hour (Quay's TOKEN_VALIDITY_LIFETIME_S). */
export const REGISTRY_TOKEN_LIFETIME_S = 3600;

const ROBOT_TOKEN_LENGTH = 64;

// ---- Credentials (B) ----

export type CredentialVerdict = { ok: true; identity: RegistryIdentity } | { ok: false; message: string };

async function robotLogin(db: Db, secrets: FastifyRequest['server']['secrets'], username: string, password: string, disallowed: boolean): Promise<CredentialVerdict> {
  const invalid = { ok: false as const, message: `Could not find robot with username: ${username} and supplied password.` };
  if (!/^[\x20-\x7e]*$/.test(password)) return invalid;
  if (disallowed) return { ok: false, message: 'Robot accounts have been disabled. Please contact your administrator.' };
  const robot = await findNamespaceByName(db, username);
  if (!robot?.robot) return invalid;
  const row = await db.selectFrom('robot_account').select(['token_enc']).where('robot_id', '=', robot.id).executeTakeFirst();
  const token = row ? secrets.decrypt(row.token_enc) : undefined;
  if (!token || token.length !== ROBOT_TOKEN_LENGTH || !safeEqual(token, password)) return invalid;
  const owner = robot.robot_owner_id === null ? undefined : await db.selectFrom('namespace').select('enabled').where('id', '=', robot.robot_owner_id).executeTakeFirst();
  if (!owner) return { ok: false, message: `Robot ${username} owner does not exist` };
  if (!owner.enabled || !robot.enabled) return { ok: false, message: 'This user has been disabled. Please contact your administrator.' };
  await db.updateTable('robot_account').set({ last_accessed: new Date() }).where('robot_id', '=', robot.id).execute();
  return { ok: true, identity: { kind: 'robot', entity: robot, scopes: null, oauth: null, appToken: null } };
}

/**
 * The identity of an `Authorization: Basic` header, in Quay's order of username kinds. A refusal
 * carries Quay's message; a throttled password login throws 429 TOOMANYREQUESTS.
 */
export async function registryCredentials(req: FastifyRequest): Promise<CredentialVerdict> {
  const { db, secrets, config } = req.server;
  const c = basicCredentials(req.headers.authorization);
  if (!c) return { ok: false, message: 'Specified credentials are invalid' };
  if (config.FEATURE_APP_SPECIFIC_TOKENS && c.username === '$app') {
    const user = await checkAppTokenLogin(db, secrets, c.password);
    if (!user) return { ok: false, message: 'Invalid token' };
    const row = await db.selectFrom('app_specific_token').select(['id', 'uuid', 'title']).where('token_name', '=', c.password.slice(0, 60)).executeTakeFirst();
    if (!row) return { ok: false, message: 'Invalid token' };
    return { ok: true, identity: { kind: 'appspecifictoken', entity: user, scopes: null, oauth: null, appToken: row } };
  }
  if (c.username === '$oauthtoken') {
    const v = await validateAccessToken(db, c.password, req.server.authCache);
    if (!v.ok) {
      const message =
        v.reason === 'expired' ? 'OAuth access token has expired'
        : v.reason === 'disabled' ? 'Granter of the oauth access token is disabled'
        : 'OAuth access token could not be validated';
      return { ok: false, message };
    }
    const { token, scopes, user, clientId, applicationName } = v.lookup;
    const oauth = { id: token.id, uuid: token.uuid, applicationId: token.application_id, clientId, applicationName };
    return { ok: true, identity: { kind: 'oauthtoken', entity: user, scopes: scopes ?? new Set(), oauth, appToken: null } };
  }
  // `ns+short` is a robot; an e-mail address with a `+` (no robot name has an `@`) is a user login.
  if (c.username.includes('+') && !c.username.includes('@')) return robotLogin(db, secrets, c.username, c.password, config.ROBOTS_DISALLOW);
  // An encrypted password (generateUserClientKey) stands for the password it seals.
  const password = decryptUserPassword(secrets, c.password) ?? c.password;
  const v = await checkPasswordLogin(db, c.username, password, true, loginGuard(req));
  if (v.ok) return { ok: true, identity: { kind: 'user', entity: v.user, scopes: null, oauth: null, appToken: null } };
  if (v.status === 429) {
    throw new RegistryError('TOOMANYREQUESTS', {
      message: 'Too many login attempts. Please reset your password and try again.',
      headers: { 'Retry-After': String(v.retryAfter ?? 1) },
    });
  }
  const m = v.body.message;
  if (v.body.needsEmailVerification) return { ok: false, message: 'The e-mail address of this user has not been verified' };
  return { ok: false, message: typeof m === 'string' ? m : 'Invalid Username or Password' };
}

// ---- Scopes (C.1) ----

export interface RequestedScope {
  /** The repository as written in the scope (`[host/]path`), copied into the token. */
  written: string;
  namespace: string;
  repository: string;
  actions: Set<RegistryAction>;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Parses one `scope` value; throws Quay's 400s (INVALID_REQUEST, NAME_INVALID). */
export function parseScope(
  scope: string,
  config: { SERVER_HOSTNAME: string; FEATURE_LIBRARY_SUPPORT: boolean; LIBRARY_NAMESPACE: string },
): RequestedScope {
  const re = new RegExp(
    `^repository:((?:${escapeRegExp(config.SERVER_HOSTNAME)}\\/)?((?:[.a-zA-Z0-9_-]+\\/)*[.a-zA-Z0-9_-]+)):((?:push|pull|\\*)(?:,(?:push|pull|\\*))*)$`,
  );
  const m = re.exec(scope);
  if (!m) {
    // Quay repeats the scope; a long or unprintable one is left out rather than echoed.
    const shown = scope.length <= 255 && /^[\x20-\x7e]*$/.test(scope) ? `: ${scope}` : '';
    throw new RegistryError('INVALID_REQUEST', { message: `Unable to decode repository and actions${shown}` });
  }
  const path = m[2];
  const slash = path.indexOf('/');
  if (slash < 0 && !config.FEATURE_LIBRARY_SUPPORT) {
    throw new RegistryError('NAME_INVALID', { message: 'A namespace must be specified explicitly' });
  }
  const namespace = slash < 0 ? config.LIBRARY_NAMESPACE : path.slice(0, slash);
  const repository = slash < 0 ? path : path.slice(slash + 1);
  if (!isValidRepoName(repository)) {
    throw new RegistryError('NAME_INVALID', { message: `Invalid repository name: ${path.length <= 255 ? path : path.slice(0, 255)}` });
  }
  return { written: m[1], namespace, repository, actions: new Set(m[3].split(',') as RegistryAction[]) };
}

// ---- Decisions (C.3) ----

/** Whether the identity may create repositories in `ns` (own namespace, creator/admin team; OAuth needs repo:create or org:admin). */
async function mayCreateIn(db: Db, config: Config, identity: RegistryIdentity, ns: Namespace): Promise<boolean> {
  if (ns.robot || !ns.enabled) return false;
  // A full-access superuser creates anywhere, as an admin of the namespace would.
  const real = superuserRepoRole(config, identity) === 'admin' ? 'admin' : await realOrgRole(db, identity.entity.id, ns.id);
  return orgRoleAtLeast(capOrgRole(real, identity.scopes), 'creator');
}

/** Creates `ns/name` for a push (private unless CREATE_PRIVATE_REPO_ON_PUSH is off); a concurrent creation wins. */
async function createOnPush(req: FastifyRequest, ns: Namespace, name: string, creator: Namespace): Promise<Repository> {
  const db = req.server.db;
  try {
    return await db.transaction().execute((trx) =>
      createRepository(trx, {
        namespace: ns,
        name,
        visibility: req.server.config.CREATE_PRIVATE_REPO_ON_PUSH ? 'private' : 'public',
        description: '',
        kind: 'image',
        creator,
      }),
    );
  } catch (err) {
    if (!isUniqueViolation(err, 'repository_namespace_name')) throw err;
    const existing = await findRepository(db, ns.id, name);
    if (!existing) throw err;
    return existing;
  }
}

function unsupportedKind(repo: Repository): RegistryError {
  return new RegistryError('UNSUPPORTED', { message: `This repository is for managing ${repo.kind} and not container images.` });
}

/** The actions granted for one scope, in Quay's order: push, pull, `*`. */
export async function decideScope(req: FastifyRequest, identity: RegistryIdentity | null, s: RequestedScope): Promise<RegistryAction[]> {
  const db = req.server.db;
  const ns = await findNamespaceByName(db, s.namespace);
  if (ns && !ns.enabled) {
    throw new RegistryError('DENIED', { status: 405, message: `Namespace ${s.namespace} has been disabled. Please contact a system administrator.` });
  }
  let repo = ns ? await findRepository(db, ns.id, s.repository) : undefined;
  // The caller's role, computed once per repository (again after a create-on-push).
  let role: Awaited<ReturnType<typeof identityRepoRole>> | undefined;
  const roleOf = async () => {
    if (role !== undefined) return role;
    if (!identity || !ns) return (role = null);
    role = repo ? await identityRepoRole(db, req.server.config, identity, repo) : await identityNamespaceRepoRole(db, req.server.config, identity, ns.id);
    return role;
  };
  const out: RegistryAction[] = [];

  if (s.actions.has('push') && identity) {
    if (repo) {
      if (repoRoleAtLeast(await roleOf(), 'write')) {
        if (repo.kind !== 'image') throw unsupportedKind(repo);
        // READ_ONLY never pushes; MIRROR only for its mirror robot, and mirrors are not configured yet.
        if (repo.state === 'NORMAL') out.push('push');
      }
    } else if (ns && (await mayCreateIn(db, req.server.config, identity, ns))) {
      repo = await createOnPush(req, ns, s.repository, identity.entity);
      role = undefined;
      out.push('push');
    }
  }

  if (s.actions.has('pull')) {
    const readable = repoRoleAtLeast(await roleOf(), 'read') || repo?.visibility === 'public';
    if (readable) {
      if (repo && repo.kind !== 'image') throw unsupportedKind(repo);
      out.push('pull');
    }
  }

  if (s.actions.has('*') && repo) {
    if (repoRoleAtLeast(await roleOf(), 'admin')) {
      if (repo.kind !== 'image') throw unsupportedKind(repo);
      if (repo.state === 'NORMAL') out.push('*');
    }
  }
  return out;
}

// ---- The JWT (C.4) ----

const b64json = (v: unknown) => Buffer.from(JSON.stringify(v), 'utf8').toString('base64url');

/** Signs registry claims with the instance key: RS256, `kid` in the header. */
export async function signRegistryToken(keys: Pick<ServiceKeys, 'signingKey'>, claims: RegistryClaims): Promise<string> {
  const key = await keys.signingKey();
  const input = `${b64json({ typ: 'JWT', alg: 'RS256', kid: key.kid })}.${b64json(claims)}`;
  return `${input}.${sign('sha256', Buffer.from(input, 'latin1'), key.privateKey).toString('base64url')}`;
}

export function buildClaims(o: {
  audience: string | null;
  identity: RegistryIdentity | null;
  credentialsSent: boolean;
  access: AccessEntry[];
  roots: Record<string, string>;
  nowS?: number;
}): RegistryClaims {
  const now = o.nowS ?? Math.floor(Date.now() / 1000);
  return {
    iss: INSTANCE_KEY_SERVICE,
    aud: o.audience,
    nbf: now,
    iat: now,
    exp: now + REGISTRY_TOKEN_LIFETIME_S,
    sub: o.identity ? o.identity.entity.username : ANONYMOUS_SUB,
    access: o.access,
    context: contextFor(o.identity, o.credentialsSent, o.roots),
  };
}

// ---- The route ----

const AuthQuery = z.object({
  service: firstString.describe('The registry the token is for; becomes the `aud` claim (must be SERVER_HOSTNAME to be usable)'),
  scope: z.union([z.string(), z.array(z.string())]).optional().describe('repository:<name>:<actions>, repeated for several repositories'),
  account: firstString.describe('Ignored'),
});

export function tokenRoutes(keys: ServiceKeys): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/auth',
      {
        onRequest: app.ipLimit('login'),
        config: { registryBasicAuth: true },
        schema: { querystring: AuthQuery, response: { 200: z.object({ token: z.string() }) } },
      },
      async (req, reply) => {
        const config = app.config;
        const credentialsSent = !!req.headers.authorization;
        const verdict = credentialsSent ? await registryCredentials(req) : undefined;
        const identity = verdict?.ok ? verdict.identity : null;
        if (!config.FEATURE_ANONYMOUS_ACCESS && !identity) {
          throw new RegistryError('UNAUTHORIZED', { message: 'Anonymous access is not allowed' });
        }
        if (verdict && !verdict.ok) throw new RegistryError('UNAUTHORIZED', { message: verdict.message });
        const raw = req.query.scope;
        const scopes = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
        if (!identity && (scopes.length === 0 || scopes.includes(''))) {
          throw new RegistryError('UNAUTHORIZED', { message: 'access to the requested resource is not authorized' });
        }
        // Every scope is read before any is decided: a bad one creates nothing.
        const requested = scopes.filter((s) => s !== '').map((s) => parseScope(s, config));
        const access: AccessEntry[] = [];
        const roots: Record<string, string> = {};
        for (const s of requested) {
          const actions = await decideScope(req, identity, s);
          access.push({ type: 'repository', name: s.written, actions });
          roots[`${s.namespace}/${s.repository}`] = '$disabled';
        }
        const claims = buildClaims({ audience: req.query.service ?? null, identity, credentialsSent, access, roots });
        const token = await signRegistryToken(keys, claims);
        reply.header('Cache-Control', 'no-cache, no-store, must-revalidate').header('Pragma', 'no-cache');
        return { token };
      },
    );
  };
}
