// The /v2 plugin: the OCI distribution protocol with Quay's login and tokens (registry-and-auth.md
// C, D). Registered by app.ts after /api/v1, with the prefix /v2. What it sets up for every route
// inside it (the handlers of blobs, uploads, manifests, tags and referrers register below):
//
//   - bodies are not parsed: a handler reads `req.raw` (a stream) itself, whatever the
//     Content-Type, so uploads stream and manifests keep their exact bytes; Fastify's bodyLimit
//     does not apply, each handler caps what it reads;
//   - `Docker-Distribution-API-Version: registry/2.0` on every answer;
//   - authentication: an `Authorization` header must be a Bearer JWT from /v2/auth, verified with
//     the service keys, whose entity still exists (src/registry/access.ts); anything else is 401
//     with the challenge. /v2/auth alone reads HTTP Basic instead (`config.registryBasicAuth`).
//     The /api/v1 machinery (sessions, CSRF, OAuth Bearer tokens) is not involved;
//   - authorization: on /v2/:name/… routes, requireRepoAccess(req, requiredAction(method, route))
//     runs before the handler and leaves `req.repoAccess` (the repository row, or undefined when it
//     does not exist: `existingRepo(req)` answers NAME_UNKNOWN);
//   - errors: handlers throw RegistryError; the one error handler writes the OCI envelope.
//
// Route shapes under /v2/:name/ are fixed (REPO_ROUTE_SHAPES): a route of another shape fails at
// start-up, because names with `/` are routed by rewriting the URL for those shapes.
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import {
  REPO_ROUTE_SHAPES,
  repoRouteShape,
  requiredAction,
  requireRepoAccess,
  resolveContext,
  challengeScope,
  splitRepoName,
  verifyRegistryToken,
  type RegistryAuth,
  type RegistryIdentity,
  type RepoAccess,
  type RegistryClaims,
} from './access.js';
import { blobRoutes } from './blobs.js';
import { catalogRoutes } from './catalog.js';
import { manifestRoutes } from './manifests.js';
import { referrerRoutes } from './referrers.js';
import { tagListRoutes } from './tags.js';
import { uploadRoutes } from './uploads.js';
import { API_VERSION_HEADER, bearerChallenge, unauthorized } from './errors.js';
import { ServiceKeys } from './service-keys.js';
import { tokenRoutes } from './token.js';

export { rewriteRegistryUrl } from './access.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Inside the /v2 plugin: the instance signing key and the verification-key cache. */
    registryKeys: ServiceKeys;
  }
}

/**
 * The protocol handlers, each a plugin registered inside /v2 (after /v2/, /v2/auth, /v2/_catalog),
 * in this order. Their routes are relative to /v2 (`/:name/blobs/:digest`…).
 */
const HANDLERS: FastifyPluginAsync[] = [blobRoutes, uploadRoutes, manifestRoutes, tagListRoutes, referrerRoutes];

/** Per-process cache of resolved token contexts, for AUTH_CACHE_SECONDS. */
class IdentityCache {
  readonly #entries = new Map<string, { at: number; value: RegistryIdentity | 'anonymous' | null }>();
  constructor(private readonly ttlMs: number) {}

  async resolve(app: FastifyInstance, claims: RegistryClaims): Promise<RegistryIdentity | 'anonymous' | null> {
    const ctx = claims.context;
    const key = `${ctx.entity_kind ?? ''}\0${ctx.entity_reference ?? ''}\0${claims.sub}`;
    const hit = this.#entries.get(key);
    if (hit && Date.now() - hit.at <= this.ttlMs) return hit.value;
    const value = await resolveContext(app.db, app.config, claims);
    if (this.ttlMs > 0) {
      if (this.#entries.size >= 10_000) this.#entries.delete(this.#entries.keys().next().value as string);
      this.#entries.set(key, { at: Date.now(), value });
    }
    return value;
  }
}

export const registryRoutes: FastifyPluginAsync = async (app) => {
  const keys = await ServiceKeys.load(app.db, app.secrets, app.config.AUTH_CACHE_SECONDS, {
    rotation: { expirationMinutes: app.config.INSTANCE_SERVICE_KEY_EXPIRATION, refreshMinutes: app.config.INSTANCE_SERVICE_KEY_REFRESH },
  });
  app.decorate('registryKeys', keys);
  const identities = new IdentityCache(app.config.AUTH_CACHE_SECONDS * 1000);

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, _payload, done) => done(null, undefined));
  app.decorateRequest('registryAuth', null as unknown as RegistryAuth);
  app.decorateRequest('repoAccess', null as unknown as RepoAccess);

  // A repository route that escaped requiredAction (another parameter name, a wildcard, an unknown
  // shape) would run without an access check: refuse it at start-up.
  app.addHook('onRoute', (route) => {
    const shape = repoRouteShape(route.url);
    if (shape !== undefined && !(REPO_ROUTE_SHAPES as readonly string[]).includes(shape)) {
      throw new Error(`Registry route ${route.url} has no known shape (src/registry/access.ts REPO_ROUTE_SHAPES)`);
    }
    if (shape === undefined && (route.url.includes(':') || route.url.includes('*'))) {
      throw new Error(`Registry route ${route.url}: parameters are allowed only under /v2/:name/ (src/registry/access.ts)`);
    }
  });

  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    reply.headers(API_VERSION_HEADER);
    if (req.routeOptions.config.registryBasicAuth) return;
    const action = requiredAction(req.method, req.routeOptions.url);
    const scope = () => {
      const name = action && splitRepoName((req.params as { name?: string }).name ?? '', app.config);
      return name && action ? challengeScope(name.full, action) : undefined;
    };
    const auth: RegistryAuth = { token: null, identity: null };
    const header = req.headers.authorization?.trim();
    if (header) {
      const v = await verifyRegistryToken(header, keys, app.config);
      if (!v.ok) throw unauthorized({ scope: scope(), message: v.reason });
      const identity = await identities.resolve(app, v.token.claims);
      if (identity === null) throw unauthorized({ scope: scope(), message: 'The account or credential this token was issued to is no longer valid' });
      auth.token = v.token;
      auth.identity = identity === 'anonymous' ? null : identity;
    }
    req.registryAuth = auth;
    if (action) req.repoAccess = await requireRepoAccess(req, action);
  });

  // GET (and HEAD) /v2/: `true` with a valid token (an anonymous one included), else 401; the
  // challenge is sent either way, as Quay does (C.6).
  app.get('/', async (req, reply) => {
    const challenge = bearerChallenge(app.baseUrl, app.config.SERVER_HOSTNAME);
    if (!req.registryAuth.token) throw unauthorized();
    return reply.header('WWW-Authenticate', challenge).type('application/json; charset=utf-8').send('true');
  });

  await app.register(tokenRoutes(keys));
  await app.register(catalogRoutes);
  for (const handlers of HANDLERS) await app.register(handlers);
};
