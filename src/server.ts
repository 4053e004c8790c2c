// The process entry for `serve`: builds the app, listens, cleans up expired sessions, and closes
// gracefully on SIGINT/SIGTERM.
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.js';
import type { Config } from './config.js';
import { deleteExpiredSessions } from './db/sessions.js';
import { countNamespaces } from './db/users.js';

export async function startServer(config: Config): Promise<FastifyInstance> {
  const app = await buildApp(config);
  const cleanup = setInterval(() => {
    deleteExpiredSessions(app.db).catch((err) => app.log.warn({ err }, 'expired-session cleanup failed'));
  }, 3600_000);
  cleanup.unref();
  app.addHook('onClose', async () => clearInterval(cleanup));

  await app.listen({ port: config.PORT, host: config.HOST });
  const where = config.DATABASE_URL ? 'PostgreSQL (DATABASE_URL)' : `embedded PGlite in ${config.DATA_DIR}/db`;
  app.log.info(`Quay-compatible API listening on ${app.baseUrl} (bound to ${config.HOST}:${config.PORT}); database: ${where}`);
  app.log.info(`API documentation: ${app.baseUrl}/api/docs`);
  if ((await countNamespaces(app.db)) === 0) {
    app.log.info(
      config.FEATURE_USER_INITIALIZE
        ? `The database is empty. Create the first user with: curl -X POST ${app.baseUrl}/api/v1/user/initialize -H 'Content-Type: application/json' -d '{"username":"admin","password":"password123","email":"admin@example.com","access_token":true}'`
        : 'The database is empty. Create the first user with: npx quay-compat create-user <username> --password <password>',
    );
  }

  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info(`${signal} received, closing`);
    app.close().then(
      () => process.exit(0),
      (err) => {
        app.log.error({ err }, 'error while closing');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  return app;
}
