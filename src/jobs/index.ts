// The jobs plugin: decorates `app.jobs` (handlers, enqueue, nudge) and, with JOBS_IN_PROCESS, runs
// the worker in this process from onReady until the app closes. Registered last in src/app.ts
// (infra → auth → /api/v1 → /v2 → jobs); routes reach `app.jobs` at request time.
//
// Enqueue inside the transaction of the change and wake the worker after it commits:
//
//   await app.jobs.transaction(async (trx) => {
//     await deleteRepository(trx, repo.id);
//     await app.jobs.enqueue(trx, 'gc-repository', { repositoryId: repo.id });
//   });                                   // committed: the worker here looks at once
//
// (or open the transaction yourself and call `app.jobs.nudge()` after it resolves). Other replicas
// pick the job up at their next poll.
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Db, Trx } from '../db/index.js';
import { DEFAULT_RETRIES, enqueue, type EnqueueOptions } from './queue.js';
import { checkHandler, Worker, type JobHandler } from './worker.js';
import { gcHandler } from './gc.js';
import { logExportCleanupHandler, logExportDeliverHandler, logExportHandler } from './log-export.js';
import { logMaintenanceHandler } from './log-maintenance.js';
import { notificationHandler } from './notifications.js';
import { periodicSweeps, Scheduler } from './schedule.js';
import { uploadCancelHandler, uploadExpiryHandler } from './upload-expiry.js';

export type { Job, EnqueueOptions } from './queue.js';
export type { JobContext, JobHandler } from './worker.js';

/**
 * The handlers every process serves, one factory per job kind (src/jobs/<kind>.ts), in an explicit
 * list as the API sections are. A factory receives the app (db, storage, config) when the plugin
 * registers.
 */
const HANDLERS: ReadonlyArray<(app: FastifyInstance) => JobHandler> = [gcHandler, uploadExpiryHandler, uploadCancelHandler, notificationHandler, logMaintenanceHandler, logExportHandler, logExportDeliverHandler, logExportCleanupHandler];

export interface Jobs {
  /** Serves `handler.queue` from now on (options checked here; one handler per queue). */
  register(handler: JobHandler): void;
  /** Registered queue names. */
  readonly queues: readonly string[];
  /**
   * Adds a job to a registered queue, with that handler's `retries` unless given: queue.ts
   * `enqueue`. Pass the change's transaction. Outside a transaction the worker is nudged at once;
   * inside one, `transaction()` nudges it after the commit (or call `nudge()` yourself).
   */
  enqueue<B>(db: Db, queue: string, body: B, opts?: EnqueueOptions): Promise<number>;
  /** `app.db.transaction().execute(fn)`, then a nudge if `fn` enqueued a job through `app.jobs`. */
  transaction<T>(fn: (trx: Trx) => Promise<T>): Promise<T>;
  /** Wakes this process's worker (no-op when it does not run one). */
  nudge(): void;
  /**
   * Runs the claimable jobs of `queues` (default: all) in this process until none is left, and
   * returns how many attempts ran; for tests and apps built with JOBS_IN_PROCESS=false.
   */
  runPending(queues?: readonly string[]): Promise<number>;
  /** The worker loop of this process, when JOBS_IN_PROCESS started one. */
  readonly worker: Worker | undefined;
}

declare module 'fastify' {
  interface FastifyInstance {
    jobs: Jobs;
  }
}

export const jobsPlugin = fp(
  async (app: FastifyInstance) => {
    const log = app.log.child({ component: 'jobs' });
    const handlers = new Map<string, JobHandler>();
    const workerOptions = {
      db: app.db,
      log,
      handlers,
      pollIntervalMs: app.config.JOB_POLL_INTERVAL * 1000,
      concurrency: app.config.JOB_CONCURRENCY,
      shutdownTimeoutMs: app.config.JOB_SHUTDOWN_TIMEOUT * 1000,
    };
    // runPending uses a worker of its own, so it works whether or not the loop runs here.
    const oneShot = new Worker(workerOptions);
    let worker: Worker | undefined;
    let scheduler: Scheduler | undefined;
    // Transactions that enqueued through app.jobs and have not committed yet.
    const enqueuedIn = new WeakSet<object>();

    const jobs: Jobs = {
      register(handler) {
        checkHandler(handler);
        if (handlers.has(handler.queue)) throw new Error(`job queue ${handler.queue} already has a handler`);
        handlers.set(handler.queue, handler);
        worker?.nudge();
      },
      get queues() {
        return [...handlers.keys()];
      },
      async enqueue(db, queue, body, opts = {}) {
        const handler = handlers.get(queue);
        // A typo in a queue name would otherwise leave jobs nobody ever claims.
        if (!handler) throw new Error(`no job handler is registered for queue ${JSON.stringify(queue)}`);
        const id = await enqueue(db, queue, body, { ...opts, retries: opts.retries ?? handler.retries ?? DEFAULT_RETRIES });
        if (db.isTransaction) enqueuedIn.add(db);
        else worker?.nudge();
        return id;
      },
      async transaction(fn) {
        let trx: Trx | undefined;
        const result = await app.db.transaction().execute((t) => {
          trx = t;
          return fn(t);
        });
        if (trx && enqueuedIn.has(trx)) worker?.nudge();
        return result;
      },
      nudge() {
        worker?.nudge();
      },
      runPending(queues) {
        return oneShot.runPending(queues);
      },
      get worker() {
        return worker;
      },
    };
    app.decorate('jobs', jobs);
    for (const make of HANDLERS) jobs.register(make(app));

    if (app.config.JOBS_IN_PROCESS) {
      // Started once every plugin is registered; nothing runs in a built app that is never readied.
      app.addHook('onReady', async () => {
        worker = new Worker(workerOptions);
        worker.start();
        // Every process that runs a worker enqueues the periodic sweeps; the job table's
        // dedupe_key makes them run once per interval across replicas (src/jobs/schedule.ts).
        scheduler = new Scheduler({ db: app.db, log, jobs: periodicSweeps(app.config), onEnqueued: () => worker?.nudge() });
        scheduler.start();
      });
    }
    // preClose (requests may still be finishing): stop claiming. onClose (before the database
    // closes: hooks run last-registered first): wait, bounded, for the running handlers.
    app.addHook('preClose', async () => {
      await scheduler?.stop();
      void worker?.stop();
    });
    app.addHook('onClose', async () => {
      await worker?.stop();
    });
  },
  { name: 'jobs', dependencies: ['db'], fastify: '5.x' },
);
