// Periodic jobs (the garbage-collection and upload-expiry sweeps), enqueued by every process that
// runs a worker, so that no single process is special, and deduplicated through the job table so
// that N replicas still run each sweep once per interval:
//
// - A periodic job has a dedupe key (job.dedupe_key, unique among rows that have one). Each
//   process, every min(interval, 60 s), inserts the job for the next interval boundary (the
//   database's clock, so replicas agree: boundaries are multiples of the interval since the epoch)
//   with ON CONFLICT DO NOTHING. While one is waiting or running, the others' inserts do nothing;
//   once it has run and its row is gone, the next insert is for the following boundary. So each
//   boundary runs the sweep at most once, whichever replica claims it.
// - A job that ran out of retries is kept (dead) for diagnosis but would hold its key forever: the
//   key is taken off dead rows before each insert.
// - `requestNow` pulls the waiting job forward to now (or inserts one), e.g. after a repository
//   deletion; a job already running is left alone.
import type { FastifyBaseLogger } from 'fastify';
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { Config } from '../config.js';
import type { Db } from '../db/index.js';
import { DEFAULT_RETRIES } from './queue.js';

export interface PeriodicJob {
  queue: string;
  /** job.dedupe_key: one waiting or running job per key. */
  key: string;
  intervalS: number;
  body?: unknown;
  retries?: number;
}

/** The dedupe keys of the sweeps (also used by requestNow callers). */
export const GC_SWEEP_KEY = 'periodic:gc';
export const UPLOAD_EXPIRY_SWEEP_KEY = 'periodic:upload-expiry';
export const GC_QUEUE = 'gc';
export const UPLOAD_EXPIRY_QUEUE = 'upload-expiry';
export const LOG_MAINTENANCE_KEY = 'periodic:log-maintenance';
/** The audit table's partitions, rotation and counts: src/jobs/log-maintenance.ts. */
export const LOG_MAINTENANCE_QUEUE = 'log-maintenance';
/** Hours are counted within about this long of their end (the aggregations read the rest from the entries). */
const LOG_MAINTENANCE_INTERVAL_S = 600;
/** Cancels the storage of given upload sessions (a deleted repository's): src/jobs/upload-expiry.ts. */
export const UPLOAD_CANCEL_QUEUE = 'upload-cancel';

/** The periodic jobs of this configuration (the collection sweeps: none with GC_INTERVAL = 0). */
export function periodicSweeps(config: Pick<Config, 'GC_INTERVAL'>): PeriodicJob[] {
  const logs: PeriodicJob = { queue: LOG_MAINTENANCE_QUEUE, key: LOG_MAINTENANCE_KEY, intervalS: LOG_MAINTENANCE_INTERVAL_S };
  if (!(config.GC_INTERVAL > 0)) return [logs];
  return [
    { queue: GC_QUEUE, key: GC_SWEEP_KEY, intervalS: config.GC_INTERVAL },
    { queue: UPLOAD_EXPIRY_QUEUE, key: UPLOAD_EXPIRY_SWEEP_KEY, intervalS: config.GC_INTERVAL },
    logs,
  ];
}

/** Frees `key` from jobs that will never run again (out of retries, not running). */
async function releaseDeadKey(db: Db, key: string): Promise<void> {
  await db
    .updateTable('job')
    .set({ dedupe_key: null })
    .where('dedupe_key', '=', key)
    .where('retries_remaining', '<=', 0)
    .where((eb) => eb.or([eb('processing_expires', 'is', null), eb('processing_expires', '<=', sql<Date>`now()`)]))
    .execute();
}

/**
 * Enqueues `job` for the next boundary of its interval unless a job with its key is waiting or
 * running. Returns the new job's id, or undefined when one was there already.
 */
export async function schedulePeriodic(db: Db, job: PeriodicJob): Promise<number | undefined> {
  if (!(job.intervalS > 0)) throw new TypeError(`intervalS must be positive, got ${job.intervalS}`);
  await releaseDeadKey(db, job.key);
  const { rows } = await sql<{ id: number | string }>`
    insert into job (queue, body, available_after, retries_remaining, state_id, dedupe_key, created)
    values (${job.queue}, ${JSON.stringify(job.body ?? {})}::jsonb,
      to_timestamp((floor(extract(epoch from now()) / ${job.intervalS}::float8) + 1) * ${job.intervalS}::float8),
      ${job.retries ?? DEFAULT_RETRIES}, ${randomUUID()}, ${job.key}, now())
    on conflict (dedupe_key) where dedupe_key is not null do nothing
    returning id`.execute(db);
  return rows[0] ? Number(rows[0].id) : undefined;
}

/**
 * Makes the job with `key` claimable now: pulls a waiting one forward, or inserts one. A running
 * one is left as it is (the next periodic run catches up). Returns the job's id, or undefined when
 * one is running.
 */
export async function requestNow(db: Db, job: Omit<PeriodicJob, 'intervalS'>): Promise<number | undefined> {
  await releaseDeadKey(db, job.key);
  const { rows } = await sql<{ id: number | string }>`
    insert into job (queue, body, available_after, retries_remaining, state_id, dedupe_key, created)
    values (${job.queue}, ${JSON.stringify(job.body ?? {})}::jsonb, now(), ${job.retries ?? DEFAULT_RETRIES}, ${randomUUID()}, ${job.key}, now())
    on conflict (dedupe_key) where dedupe_key is not null do update
      set available_after = least(job.available_after, excluded.available_after)
      where job.processing_expires is null or job.processing_expires <= now()
    returning id`.execute(db);
  return rows[0] ? Number(rows[0].id) : undefined;
}

export interface SchedulerOptions {
  db: Db;
  log: FastifyBaseLogger;
  jobs: readonly PeriodicJob[];
  /** Called after a tick enqueued something (the worker looks at once when it is due). */
  onEnqueued?: () => void;
}

/** Ticks every min(interval, 60 s) per job, from start() until stop(). */
export class Scheduler {
  readonly #o: SchedulerOptions;
  #timers: NodeJS.Timeout[] = [];
  #failing = new Set<string>();
  #ticking = new Map<string, Promise<void>>();
  #stopped = false;

  constructor(opts: SchedulerOptions) {
    for (const j of opts.jobs) if (!(j.intervalS > 0)) throw new TypeError(`periodic job ${j.key}: intervalS must be positive`);
    this.#o = opts;
  }

  start(): void {
    if (this.#stopped || this.#timers.length) return;
    for (const job of this.#o.jobs) {
      void this.tick(job);
      const timer = setInterval(() => void this.tick(job), Math.min(job.intervalS, 60) * 1000);
      timer.unref();
      this.#timers.push(timer);
    }
  }

  /** One tick for `job` (never throws; a failure is logged once until it works again). */
  tick(job: PeriodicJob): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    const running = this.#ticking.get(job.key);
    if (running) return running;
    const p = schedulePeriodic(this.#o.db, job)
      .then((id) => {
        if (this.#failing.delete(job.key)) this.#o.log.info({ key: job.key }, 'scheduling periodic jobs works again');
        if (id !== undefined) this.#o.onEnqueued?.();
      })
      .catch((err) => {
        if (!this.#failing.has(job.key)) this.#o.log.error({ err, key: job.key }, 'scheduling a periodic job failed; retrying at the next tick');
        this.#failing.add(job.key);
      })
      .finally(() => this.#ticking.delete(job.key));
    this.#ticking.set(job.key, p);
    return p;
  }

  /** Stops ticking and waits for a tick in flight (so nothing runs after the database closes). */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    await Promise.all([...this.#ticking.values()]);
  }
}
