// Work a request starts but does not wait for (a mail sent after the answer went out). Each task's
// failure is logged once; closing the app waits for the tasks still running.
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';

export class BackgroundTasks {
  readonly #running = new Set<Promise<void>>();
  constructor(private readonly log: FastifyBaseLogger) {}

  run(what: string, task: () => Promise<unknown>, log: FastifyBaseLogger = this.log): void {
    const p: Promise<void> = Promise.resolve()
      .then(task)
      .then(
        () => undefined,
        (err) => log.warn({ err }, `${what} failed`),
      )
      .finally(() => this.#running.delete(p));
    this.#running.add(p);
  }

  /** Resolves once every task started so far has finished. */
  async drain(): Promise<void> {
    while (this.#running.size > 0) await Promise.all([...this.#running]);
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    background: BackgroundTasks;
  }
}

export function installBackgroundTasks(app: FastifyInstance): void {
  app.decorate('background', new BackgroundTasks(app.log));
  // preClose runs before the onClose hooks that close the mailer and the database.
  app.addHook('preClose', async () => app.background.drain());
}
