// The process entry for `serve`: builds the app, listens, cleans up expired sessions, and closes
// gracefully on SIGINT/SIGTERM.
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.js';
import type { Config } from './config.js';
import { closeOnSignals } from './lib/shutdown.js';
import { startMaintenance } from './lib/maintenance.js';
import { countNamespaces } from './db/users.js';

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

export async function startServer(config: Config): Promise<FastifyInstance> {
  const app = await buildApp(config);
  startMaintenance(app);

  await app.listen({ port: config.PORT, host: config.HOST });
  const where = config.DATABASE_URL ? 'PostgreSQL (DATABASE_URL)' : `embedded PGlite in ${config.DATA_DIR}/db (EMBEDDED_DB_SYNC=${config.EMBEDDED_DB_SYNC})`;
  app.log.info(`Quay-compatible API listening on ${app.baseUrl} (bound to ${config.HOST}:${config.PORT}); database: ${where}`);
  app.log.info(`API documentation: ${app.baseUrl}/api/docs`);
  if ((await countNamespaces(app.db)) === 0) {
    app.log.info(
      config.FEATURE_USER_INITIALIZE
        ? `The database is empty. Create the first user with: curl -X POST ${app.baseUrl}/api/v1/user/initialize -H 'Content-Type: application/json' -d '{"username":"admin","password":"password123","email":"admin@example.com","access_token":true}'` +
            (isLoopback(config.HOST) ? '' : ` Until then, anyone who can reach ${config.HOST}:${config.PORT} can do the same (FEATURE_USER_INITIALIZE=false turns it off).`)
        : 'The database is empty. Create the first user with: npx quay-compat create-user <username> --password <password>',
    );
  }

  closeOnSignals(app, 'closing');
  return app;
}
