// The job queue: one table (`job`, migrations/20261206T000000_registry.ts), shaped after Quay's
// QueueItem (quay/quay:data/queue.py): `available_after`, a processing lease, `retries_remaining`
// and a `state_id` that changes on every claim.
//
// A job's life:
//
//   enqueue ──► waiting ──claim──► leased ──complete──► (row deleted)
//                 ▲    ▲             │  │
//                 │    └───fail──────┘  └──lease expires (worker crashed)──► claimable again
//                 │       (retries_remaining > 0: available_after = now + backoff)
//                 └──release (shutdown: the attempt is given back)
//   fail with retries_remaining = 0 ──► dead: kept, never claimed again, last_error says why
//
// - Every claim uses one of `retries_remaining` (as Quay does), so a job that kills its worker
//   each time (its lease keeps expiring) also ends dead instead of looping forever.
// - A claim writes a new `state_id`; complete, fail, renew and release only act when the caller
//   still holds that state_id. A worker whose lease expired and was taken over by another cannot
//   delete or reschedule the job the other is now running.
// - A lease can expire while its handler still runs (a stalled process, a lost renewal), and then a
//   second worker runs the same job: handlers must be idempotent.
// - Every statement here is a single short statement that runs on its own (never inside a
//   handler's work): PGlite has one connection, and on PostgreSQL a transaction held open around a
//   handler would pin a pool client. Times are the database's `now()`, so replicas agree.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { Db } from '../db/index.js';

/** Quay's default (`WorkQueue.put(retries_remaining=5)`): a job may be claimed five times. */
export const DEFAULT_RETRIES = 5;
const MAX_QUEUE_NAME = 100;
const MAX_ERROR_LENGTH = 1000;

/** A claimed job, as its handler sees it. */
export interface Job<B = unknown> {
  id: number;
  queue: string;
  body: B;
  /** The claim's token: complete/fail/renew/release act only while it is the row's state_id. */
  stateId: string;
  /** Claims left after this one (0: this is the last attempt). */
  retriesRemaining: number;
  /** When the lease ends unless renewed. */
  leaseExpires: Date;
  created: Date;
  /** Why the previous attempt failed, if one did. */
  lastError: string | null;
}

export interface EnqueueOptions {
  /** Not before this time: a Date, or seconds from now (the database's clock). Default: now. */
  availableAfter?: Date | number;
  /** How many times the job may be claimed (Quay's `retries_remaining`); default 5. */
  retries?: number;
}

function checkQueueName(queue: string): void {
  if (typeof queue !== 'string' || queue.length === 0 || queue.length > MAX_QUEUE_NAME) {
    throw new TypeError(`job queue name must be 1-${MAX_QUEUE_NAME} characters, got ${JSON.stringify(queue)}`);
  }
}

function checkSeconds(what: string, s: number): void {
  if (!Number.isFinite(s) || s < 0) throw new TypeError(`${what} must be a non-negative number of seconds, got ${s}`);
}

/**
 * Adds a job. Pass the transaction of the change the job belongs to, so the job commits (or rolls
 * back) with it; wake a worker only after that commit (`app.jobs.transaction` does both).
 * `body` must be JSON; keep secrets out of it (rows are readable by whoever can read the database).
 */
export async function enqueue<B>(db: Db, queue: string, body: B, opts: EnqueueOptions = {}): Promise<number> {
  checkQueueName(queue);
  const retries = opts.retries ?? DEFAULT_RETRIES;
  if (!Number.isInteger(retries) || retries < 1) throw new TypeError(`retries must be a positive integer, got ${retries}`);
  const json = JSON.stringify(body);
  if (json === undefined) throw new TypeError('job body must be JSON-serializable');
  let availableAfter;
  if (opts.availableAfter instanceof Date) availableAfter = sql<Date>`${opts.availableAfter.toISOString()}::timestamptz`;
  else {
    const delay = opts.availableAfter ?? 0;
    checkSeconds('availableAfter', delay);
    availableAfter = sql<Date>`now() + make_interval(secs => ${delay}::float8)`;
  }
  const row = await db
    .insertInto('job')
    .values({
      queue,
      body: sql`${json}::jsonb`,
      available_after: availableAfter,
      retries_remaining: retries,
      state_id: randomUUID(),
      created: sql`now()`,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return Number(row.id);
}

interface ClaimedRow {
  id: number | string;
  queue: string;
  body: unknown;
  state_id: string;
  retries_remaining: number;
  processing_expires: Date | string;
  created: Date | string;
  last_error: string | null;
}

const toDate = (v: Date | string) => (v instanceof Date ? v : new Date(v));

/**
 * Takes the next claimable job of `queues` and leases it for `leaseS` seconds (one number for all,
 * or one per queue); undefined when there is none. Claimable: `available_after` has passed, claims
 * are left, and nobody holds an unexpired lease (a job whose worker died is taken over here).
 * Oldest `available_after` first. One statement: the inner SELECT locks one row with
 * FOR UPDATE SKIP LOCKED, so concurrent claimers each get a different job without waiting on one
 * another, and the UPDATE leases it.
 *
 * With one queue the (queue, available_after) index yields the oldest row directly (0.04 ms with
 * 50,000 waiting on PostgreSQL 15); with several, every due row of those queues is read and
 * sorted (14 ms for the same 50,000), so the worker claims queue by queue.
 */
export async function claim<B = unknown>(db: Db, queues: readonly string[], leaseS: number | Readonly<Record<string, number>>): Promise<Job<B> | undefined> {
  const leases: Record<string, number> = {};
  for (const q of queues) {
    checkQueueName(q);
    const s = typeof leaseS === 'number' ? leaseS : leaseS[q];
    if (s === undefined || !(s > 0)) throw new TypeError(`lease for queue ${q} must be a positive number of seconds, got ${s}`);
    leases[q] = s;
  }
  if (queues.length === 0) return undefined;
  const leasesJson = JSON.stringify(leases);
  // `queue = any(array(…))` rather than `jsonb ? queue`, so the (queue, available_after) index
  // can serve it. The scalar subquery runs once (an InitPlan): `id in (…)` could be re-evaluated
  // and lock more rows than it returns.
  const which =
    queues.length === 1
      ? sql`c.queue = ${queues[0]}`
      : sql`c.queue = any(array(select jsonb_object_keys(${leasesJson}::jsonb)))`;
  const order = queues.length === 1 ? sql`c.available_after` : sql`c.available_after, c.id`;
  const { rows } = await sql<ClaimedRow>`
    update job set
      processing_expires = now() + make_interval(secs => (${leasesJson}::jsonb ->> job.queue)::float8),
      retries_remaining = job.retries_remaining - 1,
      state_id = ${randomUUID()},
      last_error = case when job.processing_expires is not null
        then 'the previous attempt did not finish before its lease expired (worker stopped or stalled)'
        else job.last_error end
    where job.id = (
      select c.id from job c
      where ${which}
        and c.retries_remaining > 0
        and c.available_after <= now()
        and (c.processing_expires is null or c.processing_expires <= now())
      order by ${order}
      limit 1
      for update skip locked
    )
    returning job.id, job.queue, job.body, job.state_id, job.retries_remaining, job.processing_expires, job.created, job.last_error`.execute(db);
  const r = rows[0];
  if (!r) return undefined;
  return {
    id: Number(r.id),
    queue: r.queue,
    body: r.body as B,
    stateId: r.state_id,
    retriesRemaining: r.retries_remaining,
    leaseExpires: toDate(r.processing_expires),
    created: toDate(r.created),
    lastError: r.last_error,
  };
}

/** Extends the lease to `leaseS` seconds from now. false: the lease was lost (another worker took the job over, or it is gone). */
export async function renew(db: Db, job: Pick<Job, 'id' | 'stateId'>, leaseS: number): Promise<boolean> {
  if (!(leaseS > 0)) throw new TypeError(`leaseS must be positive, got ${leaseS}`);
  const r = await db
    .updateTable('job')
    .set({ processing_expires: sql`now() + make_interval(secs => ${leaseS}::float8)` })
    .where('id', '=', job.id)
    .where('state_id', '=', job.stateId)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/** The job succeeded: its row is deleted. false: the lease had been lost, and the row is left to its new holder. */
export async function complete(db: Db, job: Pick<Job, 'id' | 'stateId'>): Promise<boolean> {
  const r = await db.deleteFrom('job').where('id', '=', job.id).where('state_id', '=', job.stateId).executeTakeFirst();
  return Number(r.numDeletedRows) === 1;
}

export type FailOutcome = { retrying: true; retriesRemaining: number } | { retrying: false; retriesRemaining: 0 };

/**
 * The attempt failed: the lease is dropped, the job waits `backoffS` seconds, and `last_error`
 * records why (see describeError: no stack, no credentials). With no claims left it stays as a
 * dead row. undefined: the lease had been lost, nothing was changed.
 */
export async function fail(db: Db, job: Pick<Job, 'id' | 'stateId'>, error: unknown, backoffS: number): Promise<FailOutcome | undefined> {
  checkSeconds('backoffS', backoffS);
  const row = await db
    .updateTable('job')
    .set({
      processing_expires: null,
      available_after: sql`now() + make_interval(secs => ${backoffS}::float8)`,
      last_error: describeError(error),
      state_id: randomUUID(),
    })
    .where('id', '=', job.id)
    .where('state_id', '=', job.stateId)
    .returning('retries_remaining')
    .executeTakeFirst();
  if (!row) return undefined;
  return row.retries_remaining > 0 ? { retrying: true, retriesRemaining: row.retries_remaining } : { retrying: false, retriesRemaining: 0 };
}

/**
 * Gives the job back without counting the attempt (the worker is shutting down and its handler
 * stopped early): claimable again at once. false: the lease had been lost.
 */
export async function release(db: Db, job: Pick<Job, 'id' | 'stateId'>): Promise<boolean> {
  const r = await db
    .updateTable('job')
    .set({
      processing_expires: null,
      available_after: sql`now()`,
      retries_remaining: sql`retries_remaining + 1`,
      state_id: randomUUID(),
    })
    .where('id', '=', job.id)
    .where('state_id', '=', job.stateId)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

export interface DeadJob {
  id: number;
  queue: string;
  body: unknown;
  lastError: string | null;
  created: Date;
  /** When the last attempt failed (or was scheduled to be retried). */
  availableAfter: Date;
}

/**
 * Jobs out of claims and not running: kept for diagnosis, never claimed again. A dead job whose
 * last attempt crashed its worker has no last_error of its own.
 */
export async function findDeadJobs(db: Db, opts: { queue?: string; limit?: number } = {}): Promise<DeadJob[]> {
  let q = db
    .selectFrom('job')
    .select(['id', 'queue', 'body', 'last_error', 'created', 'available_after'])
    .where('retries_remaining', '<=', 0)
    .where((eb) => eb.or([eb('processing_expires', 'is', null), eb('processing_expires', '<=', sql<Date>`now()`)]))
    .orderBy('id')
    .limit(opts.limit ?? 100);
  if (opts.queue !== undefined) q = q.where('queue', '=', opts.queue);
  const rows = await q.execute();
  return rows.map((r) => ({
    id: Number(r.id),
    queue: r.queue,
    body: r.body,
    lastError: r.last_error ?? 'the last attempt did not finish before its lease expired',
    created: toDate(r.created),
    availableAfter: toDate(r.available_after),
  }));
}

/** Gives a dead job `retries` more claims, available now. false: no such dead job. */
export async function requeueDeadJob(db: Db, id: number, retries = 1): Promise<boolean> {
  if (!Number.isInteger(retries) || retries < 1) throw new TypeError(`retries must be a positive integer, got ${retries}`);
  const r = await db
    .updateTable('job')
    .set({ retries_remaining: retries, available_after: sql`now()`, processing_expires: null, state_id: randomUUID() })
    .where('id', '=', id)
    .where('retries_remaining', '<=', 0)
    .where((eb) => eb.or([eb('processing_expires', 'is', null), eb('processing_expires', '<=', sql<Date>`now()`)]))
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

// Credentials in URLs (`scheme://user:secret@host`), query strings (presigned URLs carry their
// signature there), Authorization-style values and key=value secrets.
const SECRET_PATTERNS: [RegExp, string][] = [
  [/([a-z][a-z0-9+.-]*:\/\/)[^\s/@]*@/gi, '$1[redacted]@'],
  [/(https?:\/\/[^\s?#]+)\?[^\s]*/gi, '$1?[redacted]'],
  [/\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{8,}/gi, '$1 [redacted]'],
  [/\b(password|passwd|secret|token|signature|credential|access[_-]?key|secret[_-]?key|api[_-]?key)(["']?\s*[=:]\s*["']?)[^\s"'&,;)\]}]+/gi, '$1$2[redacted]'],
];

/**
 * The text kept in `last_error`: the error's name, code and message, without the stack, with
 * credentials, query strings and token-shaped values removed, at most 1,000 characters. The full
 * error goes to the log (once), not to the row.
 */
export function describeError(err: unknown): string {
  let text: string;
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    text = `${err.name}${typeof code === 'string' || typeof code === 'number' ? ` [${code}]` : ''}: ${err.message}`;
  } else {
    text = `non-error thrown: ${typeof err === 'string' ? err : (() => { try { return JSON.stringify(err) ?? String(err); } catch { return String(err); } })()}`;
  }
  for (const [re, to] of SECRET_PATTERNS) text = text.replace(re, to);
  return text.length > MAX_ERROR_LENGTH ? text.slice(0, MAX_ERROR_LENGTH - 1) + '…' : text;
}
