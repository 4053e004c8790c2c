// The worker: claims jobs of the registered queues (src/jobs/queue.ts) and runs their handlers, a
// few at a time, renewing each lease while its handler runs.
//
// - Queues are claimed one at a time, in rotation (an index lookup each, and fair between queues).
// - It polls every `pollIntervalMs` when idle; `nudge()` (a job enqueued by this process has
//   committed) and a finished job (a slot is free) make it look at once instead.
// - `stop()` stops claiming, waits up to `shutdownTimeoutMs` for running handlers, then aborts
//   their `ctx.signal` and waits briefly once more. A handler that stops because of that abort
//   gives its attempt back (release); one still running after that keeps its lease, which expires,
//   and the job runs again elsewhere. Handlers are idempotent (see queue.ts).
// - Each failure is logged once, with `{ err }`, by the worker; handlers throw and do not log it.
import type { FastifyBaseLogger } from 'fastify';
import type { Kysely } from 'kysely';
import type { DB } from '../db/index.js';
import { claim, complete, DEFAULT_RETRIES, fail, release, renew, type Job } from './queue.js';

export interface JobContext {
  /**
   * Aborted when the lease is lost (another worker may now run this job: stop, and throw) or when
   * the worker has stopped waiting for this handler at shutdown. Pass it to long I/O.
   */
  signal: AbortSignal;
  /** The jobs logger with `job` (id) and `queue`. */
  log: FastifyBaseLogger;
  /** Attempt number, from 1 (derived from `retries` and the claims left). */
  attempt: number;
  /** Extends the lease now (the worker already renews it every leaseS/3). false: the lease is lost. */
  renew(): Promise<boolean>;
}

export interface JobHandler<B = any> {
  /** The queue this handler serves; one handler per queue. */
  queue: string;
  /**
   * Does the work; throws to fail the attempt. Must be idempotent: a job can run more than once
   * (a lease that expired mid-run, a crash after the work but before the row was deleted).
   * Keep database transactions short and blob I/O out of them (PGlite has one connection).
   */
  handle(job: Job<B>, ctx: JobContext): Promise<void>;
  /** Lease length in seconds (default 60); renewed every leaseS/3 while the handler runs. */
  leaseS?: number;
  /** Claims allowed when enqueued through app.jobs (default 5, Quay's). The last failure leaves a dead row. */
  retries?: number;
  /**
   * Seconds to wait before the next attempt: a number, or a function of the attempt that failed
   * (1 = the first). Default: 10 s doubling per attempt up to 1 h, ±25% jitter.
   */
  backoff?: number | ((attempt: number, job: Job<B>, err: unknown) => number);
}

export const DEFAULT_LEASE_S = 60;

export function defaultBackoff(attempt: number): number {
  const base = Math.min(10 * 2 ** Math.max(0, attempt - 1), 3600);
  return base * (0.75 + Math.random() * 0.5);
}

/** Checks a handler's options at registration, so a bad one fails at startup. */
export function checkHandler(h: JobHandler): void {
  if (!h || typeof h.handle !== 'function') throw new TypeError('a job handler needs a handle(job, ctx) function');
  if (typeof h.queue !== 'string' || h.queue.length === 0 || h.queue.length > 100) throw new TypeError(`job handler queue must be 1-100 characters, got ${JSON.stringify(h.queue)}`);
  if (h.leaseS !== undefined && !(Number.isFinite(h.leaseS) && h.leaseS > 0)) throw new TypeError(`job handler ${h.queue}: leaseS must be a positive number, got ${h.leaseS}`);
  if (h.retries !== undefined && !(Number.isInteger(h.retries) && h.retries >= 1)) throw new TypeError(`job handler ${h.queue}: retries must be a positive integer, got ${h.retries}`);
  if (h.backoff !== undefined && typeof h.backoff !== 'function' && !(Number.isFinite(h.backoff) && h.backoff >= 0)) {
    throw new TypeError(`job handler ${h.queue}: backoff must be a non-negative number of seconds or a function, got ${h.backoff}`);
  }
}

export interface WorkerOptions {
  db: Kysely<DB>;
  /** Already the jobs logger (`app.log.child({ component: 'jobs' })`). */
  log: FastifyBaseLogger;
  /** The handlers by queue; read at every claim, so handlers registered later are served too. */
  handlers: ReadonlyMap<string, JobHandler>;
  pollIntervalMs: number;
  concurrency: number;
  shutdownTimeoutMs: number;
}

/** Why a job's signal was aborted. */
export class LeaseLostError extends Error {
  override name = 'LeaseLostError';
}
export class WorkerStoppingError extends Error {
  override name = 'WorkerStoppingError';
}

interface Running {
  job: Job;
  controller: AbortController;
  done: Promise<void>;
}

export class Worker {
  readonly #o: WorkerOptions;
  readonly #running = new Map<string, Running>(); // by `${id}:${stateId}`
  readonly #lastRunById = new Map<number, Promise<void>>();
  #loop: Promise<void> | undefined;
  #stopping = false;
  #wakeRequested = false;
  #wake: (() => void) | undefined;
  #stopped: Promise<void> | undefined;
  #nextQueue = 0;

  constructor(opts: WorkerOptions) {
    if (!(opts.pollIntervalMs > 0)) throw new TypeError('pollIntervalMs must be positive');
    if (!(Number.isInteger(opts.concurrency) && opts.concurrency >= 1)) throw new TypeError('concurrency must be a positive integer');
    if (!(opts.shutdownTimeoutMs >= 0)) throw new TypeError('shutdownTimeoutMs must be non-negative');
    this.#o = opts;
  }

  get running(): boolean {
    return this.#loop !== undefined && !this.#stopping;
  }

  /** Jobs whose handlers are running now. */
  get active(): number {
    return this.#running.size;
  }

  start(): void {
    if (this.#loop || this.#stopping) return;
    this.#loop = this.#run().catch((err) => this.#o.log.error({ err }, 'job worker loop crashed'));
  }

  /** Look for jobs now rather than at the next poll (call after the enqueuing transaction has committed). */
  nudge(): void {
    this.#wakeRequested = true;
    this.#wake?.();
  }

  /** Stops claiming; resolves once running handlers have finished, or were abandoned after the timeout. */
  stop(): Promise<void> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  /**
   * Claims and runs jobs one at a time until none of `queues` (default: every registered queue)
   * is claimable now; returns how many attempts ran. For a process that does not run the worker
   * loop (tests, a one-off command). Jobs waiting for their backoff are not waited for.
   */
  async runPending(queues?: readonly string[]): Promise<number> {
    let n = 0;
    for (;;) {
      const job = await this.#claim(queues);
      if (!job) return n;
      n++;
      await this.#execute(job);
    }
  }

  async #stop(): Promise<void> {
    this.#stopping = true;
    this.#wake?.();
    await this.#loop;
    if (this.#running.size === 0) return;
    const all = () => Promise.all([...this.#running.values()].map((r) => r.done));
    if (await settlesWithin(all(), this.#o.shutdownTimeoutMs)) return;
    for (const r of this.#running.values()) r.controller.abort(new WorkerStoppingError('the worker is stopping'));
    if (await settlesWithin(all(), Math.min(this.#o.shutdownTimeoutMs, 1000) + 100)) return;
    this.#o.log.warn(
      { jobs: [...this.#running.values()].map((r) => ({ id: r.job.id, queue: r.job.queue })) },
      'stopped with jobs still running; they run again once their leases expire',
    );
  }

  /**
   * One queue at a time, starting one further along each call: a single-queue claim is an index
   * lookup however long the backlog (queue.ts), and no queue's backlog starves the others.
   */
  async #claim(only?: readonly string[]): Promise<Job | undefined> {
    const handlers = [...this.#o.handlers.values()].filter((h) => !only || only.includes(h.queue));
    const start = this.#nextQueue++;
    for (let i = 0; i < handlers.length; i++) {
      const h = handlers[(start + i) % handlers.length];
      const job = await claim(this.#o.db, [h.queue], h.leaseS ?? DEFAULT_LEASE_S);
      if (job) return job;
    }
    return undefined;
  }

  async #run(): Promise<void> {
    let failing = false;
    while (!this.#stopping) {
      while (!this.#stopping && this.#running.size < this.#o.concurrency) {
        let job: Job | undefined;
        try {
          job = await this.#claim();
          if (failing) this.#o.log.info('claiming jobs works again');
          failing = false;
        } catch (err) {
          // Logged when it starts failing, not at every poll while the database is away.
          if (!failing) this.#o.log.error({ err }, 'claiming a job failed; retrying at the next poll');
          failing = true;
          break;
        }
        if (!job) break;
        if (this.#stopping) {
          await release(this.#o.db, job).catch((err) => this.#o.log.warn({ err, job: job!.id }, 'releasing a job claimed while stopping failed; it runs again once its lease expires'));
          break;
        }
        this.#spawn(job);
      }
      await this.#sleep(this.#o.pollIntervalMs);
    }
  }

  #sleep(ms: number): Promise<void> {
    if (this.#wakeRequested || this.#stopping) {
      this.#wakeRequested = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        this.#wakeRequested = false;
        resolve();
      };
      const timer = setTimeout(finish, ms);
      timer.unref();
      this.#wake = finish;
    });
  }

  #spawn(job: Job): void {
    const key = `${job.id}:${job.stateId}`;
    const controller = new AbortController();
    // If this process still runs an earlier attempt of the same job (its lease expired under it and
    // it was claimed again here), the new attempt waits for it: never two at once in one process.
    const previous = this.#lastRunById.get(job.id);
    const done: Promise<void> = (previous ?? Promise.resolve())
      .then(() => this.#execute(job, controller))
      .finally(() => {
        this.#running.delete(key);
        if (this.#lastRunById.get(job.id) === done) this.#lastRunById.delete(job.id);
        this.nudge(); // a slot is free
      });
    this.#lastRunById.set(job.id, done);
    this.#running.set(key, { job, controller, done });
  }

  /** Runs one claimed job to its outcome; never throws. */
  async #execute(job: Job, controller = new AbortController()): Promise<void> {
    const { db } = this.#o;
    const log = this.#o.log.child({ job: job.id, queue: job.queue });
    const handler = this.#o.handlers.get(job.queue);
    if (!handler) {
      // Only claimed queues have handlers; kept for safety if one is unregistered mid-run.
      await release(db, job).catch(() => undefined);
      return;
    }
    const leaseS = handler.leaseS ?? DEFAULT_LEASE_S;
    const attempt = Math.max(1, (handler.retries ?? DEFAULT_RETRIES) - job.retriesRemaining);
    const loseLease = () => {
      if (!controller.signal.aborted) {
        log.warn('lost the lease of a running job; another worker may run it now');
        controller.abort(new LeaseLostError('the job lease was lost'));
      }
    };
    let renewing: Promise<boolean> | undefined;
    const renewLease = async (): Promise<boolean> => {
      renewing ??= renew(db, job, leaseS).finally(() => (renewing = undefined));
      const held = await renewing;
      if (!held) loseLease();
      return held;
    };
    const timer = setInterval(() => {
      renewLease().catch((err) => log.warn({ err }, 'renewing a job lease failed; trying again'));
    }, Math.max(50, (leaseS * 1000) / 3));
    timer.unref();

    let error: unknown;
    let ok = false;
    try {
      await handler.handle(job, { signal: controller.signal, log, attempt, renew: renewLease });
      ok = true;
    } catch (err) {
      error = err;
    } finally {
      clearInterval(timer);
    }

    try {
      if (ok) {
        if (!(await complete(db, job))) log.warn('job finished after its lease was lost; its new holder decides its outcome');
        return;
      }
      if (controller.signal.aborted && controller.signal.reason instanceof WorkerStoppingError) {
        const released = await release(db, job);
        log.warn({ err: error }, released ? 'job interrupted by shutdown; it will run again' : 'job interrupted by shutdown after its lease was lost');
        return;
      }
      const backoffS = this.#backoff(handler, attempt, job, error, log);
      const outcome = await fail(db, job, error, backoffS);
      if (!outcome) log.warn({ err: error }, 'job failed after its lease was lost; its new holder decides its outcome');
      else if (outcome.retrying) log.warn({ err: error, attempt, retryInS: Math.round(backoffS * 10) / 10, retriesRemaining: outcome.retriesRemaining }, 'job failed; it will be retried');
      else log.error({ err: error, attempt }, 'job failed for the last time; kept as a dead row');
    } catch (err) {
      log.error({ err, handlerErr: ok ? undefined : error }, 'recording the outcome of a job failed; it runs again once its lease expires');
    }
  }

  #backoff(handler: JobHandler, attempt: number, job: Job, err: unknown, log: FastifyBaseLogger): number {
    try {
      const s = typeof handler.backoff === 'function' ? handler.backoff(attempt, job, err) : (handler.backoff ?? defaultBackoff(attempt));
      if (Number.isFinite(s) && s >= 0) return s;
      log.warn({ backoff: s }, 'job backoff is not a non-negative number; using the default');
    } catch (e) {
      log.warn({ err: e }, 'job backoff function threw; using the default');
    }
    return defaultBackoff(attempt);
  }
}

function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    p.then(
      () => {
        clearTimeout(timer);
        resolve(true);
      },
      () => {
        clearTimeout(timer);
        resolve(true);
      },
    );
  });
}
