// The `worker` command: the app built as `serve` builds it (same handlers, database, storage), with
// the job worker running and no HTTP listener. SIGINT/SIGTERM close it like the server: stop
// claiming, wait (JOB_SHUTDOWN_TIMEOUT) for running jobs, close the database.
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../app.js';
import type { Config } from '../config.js';
import { closeOnSignals } from '../lib/shutdown.js';

export async function startWorkerProcess(config: Config): Promise<FastifyInstance> {
  const app = await buildApp({ ...config, JOBS_IN_PROCESS: true });
  await app.ready();
  // The worker's timers do not hold the process open (they must not keep a test's app alive),
  // and an idle embedded database holds nothing either: this does, until the app closes.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  const where = config.DATABASE_URL ? 'PostgreSQL (DATABASE_URL)' : `embedded PGlite in ${config.DATA_DIR}/db`;
  app.log.info(
    { component: 'jobs', queues: app.jobs.queues, concurrency: config.JOB_CONCURRENCY, pollIntervalS: config.JOB_POLL_INTERVAL },
    `job worker started (no HTTP listener); database: ${where}`,
  );

  closeOnSignals(app, 'stopping the job worker', () => clearInterval(keepAlive));
  return app;
}
