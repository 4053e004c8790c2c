// Closing a process's app on SIGINT/SIGTERM, once: `serve` and `worker` share it.
import type { FastifyInstance } from 'fastify';

/** On the first SIGINT or SIGTERM: log `what`, run `before`, close the app, exit 0 (1 if closing failed). */
export function closeOnSignals(app: FastifyInstance, what: string, before: () => void = () => {}): void {
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info(`${signal} received, ${what}`);
    before();
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
}
