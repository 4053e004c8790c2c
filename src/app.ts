// The application as a plain plugin tree. Only src/server.ts listens; tests build it in-process and
// send requests with inject().
import cookie from '@fastify/cookie';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import fp from 'fastify-plugin';
import type { Kysely } from 'kysely';
import { apiRoutes } from './api/index.js';
import { RepoPathRouter } from './api/repo-path.js';
import { AuthCache } from './auth/cache.js';
import { SecretBox } from './auth/crypto.js';
import type { TokenLookup } from './db/oauth.js';
import type { UserOrganization } from './db/users.js';
import { authPlugin } from './auth/hook.js';
import type { SessionSettings } from './auth/session.js';
import { ensureBuiltinApplications } from './auth/builtin-apps.js';
import { appUrl, type Config } from './config.js';
import { releaseAllUploadLeases } from './db/blobs.js';
import { databaseOptions, migrateToLatest, openDatabase, type Database, type DB } from './db/index.js';
import { ensureLogPartitions } from './db/log-partitions.js';
import { clientErrorHandler, frameworkErrorHandler, installErrorHandlers } from './lib/error-handler.js';
import { installInputGuard, MAX_PARAM_LENGTH, parseQuery } from './lib/input-guard.js';
import { installBackgroundTasks } from './lib/background.js';
import { loggerOptions } from './lib/logger.js';
import { registerRateLimits } from './lib/rate-limit.js';
import { responseSerializerCompiler } from './lib/response-serializer.js';
import { zodValidatorCompiler } from './lib/validation.js';
import { jobsPlugin } from './jobs/index.js';
import { storagePlugin } from './storage/index.js';
import { createMailer, type Mailer } from './mail/mailer.js';
import { registerOpenApi } from './openapi.js';
import { registryRoutes, rewriteRegistryUrl } from './registry/index.js';
import { webRoutes } from './web/index.js';

declare module 'fastify' {
  interface FastifyInstance {
    config: Config;
    db: Kysely<DB>;
    database: Database;
    secrets: SecretBox;
    sessionSettings: SessionSettings;
    /** `<scheme>://<SERVER_HOSTNAME>`, the base of every absolute URL this server emits. */
    baseUrl: string;
    /** Per-process cache of validated tokens and organization lists (src/auth/cache.ts). */
    authCache: AuthCache<TokenLookup, UserOrganization[]>;
    /** SMTP delivery; undefined unless FEATURE_MAILING is on. */
    mailer: Mailer | undefined;
    /** Every registered route with its schema and config (the hostile-input walk reads it). */
    routeTable: RouteEntry[];
  }
}

export interface RouteEntry {
  method: string;
  url: string;
  schema?: Record<string, unknown>;
  config?: Record<string, unknown>;
}

export interface BuildOptions {
  /** An already open database (tests); otherwise one is opened from the config and closed with the app. */
  database?: Database;
  logger?: FastifyServerOptions['logger'];
}

const dbPlugin = fp(
  async (app: FastifyInstance, opts: { database?: Database }) => {
    const database =
      opts.database ??
      (await openDatabase(databaseOptions(app.config)));
    if (!opts.database) app.addHook('onClose', () => database.close());
    await migrateToLatest(database.db);
    // The audit table's coming months (the log-maintenance job keeps this up while running).
    await ensureLogPartitions(database.db, new Date());
    // No request of another process can be writing to an upload of a database this one holds
    // alone: write leases left by a killed server are void.
    if (database.exclusive) await releaseAllUploadLeases(database.db);
    app.decorate('database', database);
    app.decorate('db', database.db);
  },
  { name: 'db' },
);

/** Fastify's trustProxy as a hop count: the nearest `hops` proxies are believed. */
function trustHops(hops: number) {
  return (_address: string, hop: number) => hop < hops;
}

export async function buildApp(config: Config, opts: BuildOptions = {}): Promise<FastifyInstance> {
  const repoPaths = new RepoPathRouter();
  const baseUrl = appUrl(config);
  // The app itself, for the two handlers Fastify takes as options (they run only after it is built).
  let self: FastifyInstance | undefined;
  const app = Fastify({
    logger: opts.logger ?? loggerOptions(config.LOG_LEVEL),
    rewriteUrl: (req) => rewriteRegistryUrl(repoPaths.rewrite(req.url ?? '/')),
    bodyLimit: 1024 * 1024,
    trustProxy: typeof config.TRUST_PROXY === 'number' ? trustHops(config.TRUST_PROXY) : config.TRUST_PROXY,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH, querystringParser: parseQuery },
    frameworkErrors: frameworkErrorHandler(() => self!),
    clientErrorHandler: clientErrorHandler(() => baseUrl),
    // Plugins may take long to start, legitimately: the database plugin creates an embedded
    // cluster on a first start and runs migrations (a backfill over a large table takes minutes).
    // Fastify's default (10 s) would kill a slow but healthy start; a hung one is the operator's
    // to see in the log.
    pluginTimeout: 0,
  });
  self = app;
  // Before every other hook: no input reaches authentication, a handler or a query unchecked.
  installInputGuard(app);
  app.decorate('config', config);
  app.decorate('baseUrl', baseUrl);
  app.decorate('secrets', new SecretBox(config.DATABASE_SECRET_KEY));
  const mailer = createMailer(config);
  app.decorate('mailer', mailer);
  installBackgroundTasks(app);
  if (mailer) app.addHook('onClose', async () => mailer.close());
  app.decorate('authCache', new AuthCache<TokenLookup, UserOrganization[]>(config.AUTH_CACHE_SECONDS));
  app.decorate('sessionSettings', {
    secure: config.PREFERRED_URL_SCHEME === 'https',
    timeoutS: config.SESSION_TIMEOUT,
  } satisfies SessionSettings);

  app.decorate('routeTable', [] as RouteEntry[]);
  app.addHook('onRoute', (route) => {
    repoPaths.addRoute(route.url);
    for (const method of [route.method].flat()) {
      app.routeTable.push({ method, url: route.url, schema: route.schema as Record<string, unknown> | undefined, config: route.config as Record<string, unknown> | undefined });
    }
  });
  app.setValidatorCompiler(zodValidatorCompiler);
  app.setSerializerCompiler(responseSerializerCompiler);

  await app.register(cookie);
  await app.register(dbPlugin, { database: opts.database });
  await app.register(storagePlugin);
  await ensureBuiltinApplications(app.db, app.secrets, app.baseUrl);
  await app.register(authPlugin);
  await registerRateLimits(app);
  installErrorHandlers(app);
  await registerOpenApi(app);
  await app.register(apiRoutes, { prefix: '/api/v1' });
  await app.register(registryRoutes, { prefix: '/v2' });
  await app.register(webRoutes);
  await app.register(jobsPlugin); // last: handlers see every decorator; routes reach app.jobs at request time
  return app;
}
