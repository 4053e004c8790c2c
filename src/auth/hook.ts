// The auth plugin: builds one AuthContext per request, then enforces the route's declared access in
// Quay's order (web-endpoints.md §2.3): XHR rule → credentials → CSRF → anonymous-access switch →
// permission → fresh login → (body validation, by Fastify, after this hook).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { freshLoginRequired, insufficientScope, PlainError, unauthorized } from '../lib/api-error.js';
import { namespacePower, type AccessRule, type RequestTarget } from './access.js';
import { anonymousContext, describeCaller, type AuthContext } from './context.js';
import { safeEqual } from './crypto.js';
import { loadSession, SESSION_COOKIE, slideSession } from './session.js';
import { validateAccessToken, validateCachedAccessToken } from './tokens.js';
import type { TokenLookup } from '../db/oauth.js';
import { checkBasicUser, loginGuard } from '../services/login.js';

declare module 'fastify' {
  interface FastifyRequest {
    auth: AuthContext;
  }
  interface FastifyInstance {
    /** Every /api/v1 route with its access declaration (for the security matrix and audits). */
    apiRoutes: { method: string; url: string; operationId?: string; notImplemented: boolean }[];
  }
}

const API_PREFIX = '/api/v1';
const BROWSER_UA = /Mozilla\/\d.*(Chrome|Chromium|Firefox|Safari|Edg|OPR)\//;

export function isApiRoute(url: string | undefined): boolean {
  return !!url && (url === API_PREFIX || url.startsWith(`${API_PREFIX}/`));
}

/** `Bearer <token>`: undefined when absent or another scheme, null when the token part is empty. */
function bearerToken(req: FastifyRequest): string | undefined | null {
  const h = req.headers.authorization;
  if (!h) return undefined;
  // Exactly one space, as `h.split(' ')` giving two parts; scanned rather than split on every request.
  const space = h.indexOf(' ');
  if (space < 0 || h.indexOf(' ', space + 1) >= 0 || h.slice(0, space).toLowerCase() !== 'bearer') return undefined;
  return h.slice(space + 1) || null;
}

function oauthContext(lookup: TokenLookup, ip: string): AuthContext {
  const { token, scopes, user, clientId, applicationName } = lookup;
  return {
    kind: 'oauth',
    user,
    scopes: scopes ?? new Set(),
    token: { id: token.id, uuid: token.uuid, applicationId: token.application_id, clientId, applicationName },
    session: null,
    ip,
  };
}

/** The common case without a database round trip or a promise: a Bearer token whose lookup is cached. */
function authenticateFromCache(app: FastifyInstance, req: FastifyRequest, api: boolean): AuthContext | undefined {
  if (!api) return undefined;
  const bearer = bearerToken(req);
  if (!bearer) return undefined;
  const v = validateCachedAccessToken(bearer, app.authCache);
  if (!v) return undefined;
  return v.ok ? oauthContext(v.lookup, req.ip) : anonymousContext(req.ip);
}

async function authenticate(app: FastifyInstance, req: FastifyRequest, reply: FastifyReply): Promise<AuthContext> {
  const ip = req.ip;
  // Bearer tokens count only on the API (Quay's web routes read sessions and Basic credentials).
  if (isApiRoute(req.routeOptions.url)) {
    const bearer = bearerToken(req);
    if (bearer !== undefined) {
      // An invalid bearer token does not fail by itself and does not fall back to the cookie: the
      // request goes on anonymously and fails at the permission check (registry-and-auth.md A.9).
      if (!bearer) return anonymousContext(ip);
      const v = await validateAccessToken(app.db, bearer, app.authCache);
      return v.ok ? oauthContext(v.lookup, ip) : anonymousContext(ip);
    }
  }
  const cookie = req.cookies[SESSION_COOKIE];
  const loaded = await loadSession(app.db, cookie, app.secrets);
  if (req.routeOptions.config?.basicAuth && /^basic /i.test(req.headers.authorization ?? '')) {
    const user = await checkBasicUser(app.db, app.secrets, req.headers.authorization, loginGuard(req));
    if (user) return { kind: 'basic', user, scopes: null, token: null, session: loaded?.info ?? null, ip };
  }
  if (!loaded) return anonymousContext(ip);
  if (!loaded.user) return anonymousContext(ip, loaded.info);
  await slideSession(reply, app.db, cookie!, loaded.info, loaded.expiresAt, app.sessionSettings);
  return { kind: 'session', user: loaded.user, scopes: null, token: null, session: loaded.info, ip };
}

/** The CSRF token sent with a request: query or form field `_csrf_token` first, else the header. */
function presentedCsrf(req: FastifyRequest): string | undefined {
  const q = (req.query as Record<string, unknown> | undefined)?._csrf_token;
  if (typeof q === 'string' && q) return q;
  const ct = req.headers['content-type'] ?? '';
  if (ct.startsWith('application/x-www-form-urlencoded')) {
    const f = (req.body as Record<string, unknown> | undefined)?._csrf_token;
    if (typeof f === 'string' && f) return f;
  }
  const h = req.headers['x-csrf-token'];
  return typeof h === 'string' && h ? h : undefined;
}

export function checkCsrf(req: FastifyRequest): void {
  const expected = req.auth.session?.csrfToken;
  const got = presentedCsrf(req);
  if (!expected || !got || !safeEqual(expected, got)) {
    throw new PlainError(403, { error: `CSRF token was invalid or missing.${describeCaller(req.auth)}` });
  }
}

export const authPlugin = fp(
  async (app: FastifyInstance) => {
    app.decorateRequest('auth', null as unknown as AuthContext);
    app.decorateRequest('target', null as unknown as RequestTarget);
    app.decorate('apiRoutes', []);
    const operationIds = new Set<string>();

    // A route under /api/v1 without an access declaration, or reusing an operationId, is a bug
    // caught at startup rather than a hole found in production.
    app.addHook('onRoute', (route) => {
      if (!isApiRoute(route.url) || route.method === 'HEAD' || route.method === 'OPTIONS') return;
      if (!route.config?.access) throw new Error(`Route ${route.method} ${route.url} declares no config.access`);
      const schema = route.schema as { operationId?: string; 'x-not-implemented'?: boolean } | undefined;
      const id = schema?.operationId;
      for (const method of [route.method].flat()) {
        app.apiRoutes.push({ method, url: route.url, operationId: id, notImplemented: !!schema?.['x-not-implemented'] });
      }
      if (id) {
        if (operationIds.has(id)) throw new Error(`Duplicate operationId ${id} (${route.method} ${route.url})`);
        operationIds.add(id);
      }
    });

    // Callback-style hooks with synchronous fast paths: these run on every request, and a cached
    // token or a synchronous check needs no promise (see bench/user-endpoint.ts).
    app.addHook('onRequest', (req, reply, done) => {
      // routeOptions is a getter that builds a new object on every read: read it once.
      const api = isApiRoute(req.routeOptions.url);
      if (api && req.method === 'GET' && app.config.BROWSER_API_CALLS_XHR_ONLY) {
        const ua = req.headers['user-agent'] ?? '';
        if (BROWSER_UA.test(ua) && req.headers['x-requested-with'] !== 'XMLHttpRequest') {
          done(new PlainError(400, { error: 'API calls must be invoked with an X-Requested-With header if called from a browser' }));
          return;
        }
      }
      req.target = {};
      // /v2 authenticates with its own Bearer JWTs (src/registry/access.ts): no session cookie,
      // CSRF or OAuth token is read there.
      if (!api && (req.url === '/v2' || req.url.startsWith('/v2/') || req.url.startsWith('/v2?'))) {
        req.auth = anonymousContext(req.ip);
        done();
        return;
      }
      const fast = authenticateFromCache(app, req, api);
      if (fast) {
        req.auth = fast;
        done();
        return;
      }
      authenticate(app, req, reply).then((auth) => {
        req.auth = auth;
        done();
      }, done);
    });

    app.addHook('preValidation', (req, _reply, done) => {
      let pending: Promise<void> | void;
      try {
        pending = enforceAccess(app, req);
      } catch (err) {
        done(err as Error);
        return;
      }
      if (pending) pending.then(() => done(), done);
      else done();
    });
  },
  { name: 'auth', dependencies: ['db'] },
);

/** Enforces the route's access declaration; synchronous unless the permission check is async. */
function enforceAccess(app: FastifyInstance, req: FastifyRequest): Promise<void> | void {
  const access = req.routeOptions.config.access;
  if (!access) return;
  const auth = req.auth;
  if (auth.user) {
    const power = namespacePower(auth, app.config, req.method);
    if (power) auth.namespacePower = power;
  }
  const write = req.method !== 'GET' && req.method !== 'HEAD' && req.method !== 'OPTIONS';
  if (write && access.csrf && auth.kind !== 'oauth') checkCsrf(req);
  if (!auth.user) {
    if (!app.config.FEATURE_ANONYMOUS_ACCESS && access.anonymous !== 'always') {
      throw new PlainError(401, { error: 'Anonymous access is not allowed' });
    }
    if (access.anonymous === 'deny') throw unauthorized();
  }
  const allowed = access.check(req);
  if (typeof allowed === 'boolean') return finishAccess(app, auth, access, allowed);
  return allowed.then((ok) => finishAccess(app, auth, access, ok));
}

// A module function rather than a closure in enforceAccess: under tsx (esbuild keepNames) every
// named closure costs a defineProperty call per request.
function finishAccess(app: FastifyInstance, auth: AuthContext, access: AccessRule, allowed: boolean): void {
  if (!allowed) throw auth.user ? insufficientScope() : unauthorized();
  if (access.fresh && auth.user && !isFresh(auth, app.config.FRESH_LOGIN_TIMEOUT)) throw freshLoginRequired();
}

function isFresh(auth: AuthContext, timeoutS: number): boolean {
  if (auth.kind === 'oauth') return true;
  if (auth.user && !auth.user.password_hash) return true; // no password to re-enter (external login)
  const t = auth.session?.loginTime;
  return !!t && Date.now() - t.getTime() <= timeoutS * 1000;
}

