// Counts of the audit table by period (migration 20261212T000000_log_counts): what lets an
// aggregation over a month read a few hundred counts instead of every entry of the window.
//
// Entries are written only by src/lib/audit.ts, with their transaction's start time, so a period
// is complete once it is over and every transaction that began in it has ended (settledBefore).
// The log-maintenance job then counts it, once, and marks it in log_counted: every UTC day, and
// the hours of the last HOURS_KEPT_MS (so that today, and a window that does not begin at
// midnight such as the default one, read counts too). Nothing is added to the write path: a push
// or a pull costs what it did.
//
// The aggregation (aggregateLogEntries, src/db/logs.ts) takes the counted days and hours that lie
// inside its window from the counts and everything else (the last hour or so, the edges of a
// window that are not on an hour, periods never counted) from the entries, so its answer is the
// same whether the job has run or not. Each count of a period has a version (log_counted.counted,
// a new one at every count), and a version's counts never change, so each process reads them once
// and keeps them (PeriodCountCache).
//
// Entries only leave by log rotation (whole months and the default partition's old entries), which
// forgets the counts of the periods it may have touched (forgetLogCountsBefore) so that the next
// run counts again what is left of them, and by deleteUnverifiedUser (src/db/users.ts), which
// removes the entries of a failed sign-up and forgets their periods' counts (forgetLogCountsAt)
// should one have been made meanwhile.
import { sql, type Kysely, type RawBuilder } from 'kysely';
import { advisoryXactLock } from './lock.js';
import type { Db, DB, Trx } from './index.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** How long after its end a period is counted at the earliest (and only once no transaction older than its end is open). */
export const SETTLE_MS = 120_000;
/** Hours are counted for this long back; days for as far back as there are entries. */
export const HOURS_KEPT_MS = 48 * HOUR_MS;
/** Periods counted by one run of the job at most (a first run over years of entries spreads out). */
export const MAX_PERIODS_PER_RUN = 200;

// One number for every process sharing the database (pg_advisory_xact_lock takes a bigint).
const COUNT_LOCK = 0x4c_6f_67_63_6f_75_6en; // "Logcoun"

/** log_count.scope: what target_id names. */
export const CountScope = { Namespace: 1, Repository: 2, Instance: 3 } as const;
export type CountScope = (typeof CountScope)[keyof typeof CountScope];

/** A counted period: a UTC day (24) or hour (1) from `start`. */
export interface Period {
  start: Date;
  hours: 24 | 1;
  /** When it was counted (log_counted.counted, to the microsecond): names one set of its counts. */
  version?: string;
}

const periodEnd = (p: Period) => new Date(p.start.getTime() + p.hours * HOUR_MS);

/**
 * The time before which every period may be counted: two minutes ago, or the start of the oldest
 * transaction still open on the database (a transaction writes its entries with its start time),
 * whichever is earlier. Sessions of other roles show no transaction start; the margin covers them.
 */
export async function settledBefore(db: Db): Promise<Date> {
  const r = await sql<{ t: Date }>`
    select least(now() - ${sql.lit(`${SETTLE_MS / 1000} seconds`)}::interval,
      coalesce((select min(xact_start) from pg_stat_activity
        where datname = current_database() and backend_type = 'client backend'
          and pid <> pg_backend_pid() and xact_start is not null), now())) as t`.execute(db);
  return new Date(r.rows[0].t);
}

/** Counts `p` afresh and marks it. Runs in the caller's transaction. */
async function countPeriod(trx: Trx, p: Period): Promise<void> {
  const from = p.start;
  const to = periodEnd(p);
  const hours = sql.lit(p.hours);
  await trx.deleteFrom('log_count').where('hours', '=', p.hours).where('period', '=', from).execute();
  // One pass over the period's entries, then each scope summed from those groups.
  await sql`
    with g as (
      select account_id as a, repository_id as r, performer_id as p, kind, count(*)::int as n
      from log_entry where datetime >= ${from} and datetime < ${to}
      group by 1, 2, 3, 4
    )
    insert into log_count (scope, target_id, performer_id, hours, period, kind, count)
    select ${sql.lit(CountScope.Namespace)}, a, 0, ${hours}, ${from}::timestamptz, kind, sum(n) from g where a is not null group by a, kind
    union all
    select ${sql.lit(CountScope.Namespace)}, a, p, ${hours}, ${from}::timestamptz, kind, sum(n) from g where a is not null and p is not null group by a, p, kind
    union all
    select ${sql.lit(CountScope.Repository)}, r, 0, ${hours}, ${from}::timestamptz, kind, sum(n) from g where r is not null group by r, kind
    union all
    select ${sql.lit(CountScope.Instance)}, 0, 0, ${hours}, ${from}::timestamptz, kind, sum(n) from g group by kind`.execute(trx);
  // clock_timestamp(), taken under the lock: every count of a period gets a later version.
  await sql`insert into log_counted (hours, period, counted) values (${hours}, ${from}::timestamptz, clock_timestamp())
    on conflict (hours, period) do update set counted = excluded.counted`.execute(trx);
}

/**
 * Counts the given periods (each a whole UTC day or hour), each in its own transaction (short:
 * PGlite has one connection), stopping between two when `signal` is aborted.
 */
export async function countLogPeriods(db: Kysely<DB>, periods: readonly Period[], signal?: AbortSignal): Promise<void> {
  for (const p of periods) {
    signal?.throwIfAborted();
    const aligned = p.start.getTime() % (p.hours * HOUR_MS) === 0;
    if (!aligned || (p.hours !== 24 && p.hours !== 1)) throw new TypeError(`not a whole UTC day or hour: ${p.start.toISOString()} (${p.hours} h)`);
    await db.transaction().execute(async (trx) => {
      await advisoryXactLock(trx, COUNT_LOCK);
      await countPeriod(trx, p);
    });
  }
}

/**
 * The periods over before `settled` and not counted yet, oldest first, at most `limit`: the days
 * from the oldest entry's on, then the hours of the last HOURS_KEPT_MS before `settled`.
 */
export async function uncountedLogPeriods(db: Db, settled: Date, limit = MAX_PERIODS_PER_RUN): Promise<Period[]> {
  const series = (hours: 24 | 1, step: string, trunc: string, from: RawBuilder<Date>) => sql<{ start: Date }>`
    select s at time zone 'UTC' as start
    from (select datetime from log_entry order by datetime limit 1) oldest,
      generate_series(date_trunc(${trunc}, greatest(oldest.datetime, ${from}) at time zone 'UTC'),
                      (${settled}::timestamptz at time zone 'UTC') - ${sql.lit(step)}::interval, ${sql.lit(step)}::interval) s
    where not exists (select 1 from log_counted c where c.hours = ${sql.lit(hours)} and c.period = s at time zone 'UTC')
    order by s
    limit ${limit}`;
  const days = (await series(24, '1 day', 'day', sql`'-infinity'::timestamptz`).execute(db)).rows;
  const hoursFrom = new Date(settled.getTime() - HOURS_KEPT_MS);
  const hours = days.length < limit ? (await series(1, '1 hour', 'hour', sql`${hoursFrom}::timestamptz`).execute(db)).rows : [];
  return [...days.map((d) => ({ start: new Date(d.start), hours: 24 as const })), ...hours.map((h) => ({ start: new Date(h.start), hours: 1 as const }))].slice(0, limit);
}

/**
 * The job's step: counts the settled periods not counted yet (at most `limit`) and forgets hours
 * older than HOURS_KEPT_MS (days cover them). Returns the periods counted. `settledAt` (tests):
 * instead of settledBefore().
 */
export async function countSettledLogPeriods(
  db: Kysely<DB>,
  o: { limit?: number; settledAt?: Date; signal?: AbortSignal } = {},
): Promise<Period[]> {
  const settled = o.settledAt ?? (await settledBefore(db));
  const periods = await uncountedLogPeriods(db, settled, o.limit ?? MAX_PERIODS_PER_RUN);
  await countLogPeriods(db, periods, o.signal);
  const old = new Date(Math.floor((settled.getTime() - HOURS_KEPT_MS) / HOUR_MS) * HOUR_MS);
  await db.transaction().execute((trx) => forget(trx, sql`hours = 1 and period < ${old}`));
  return periods;
}

/**
 * After rotation removed the entries before `cutoff`: forgets the counts of every period that
 * begins before the end of its day, so what is left of them is counted again (and read from the
 * entries until then).
 */
export async function forgetLogCountsBefore(db: Kysely<DB>, cutoff: Date): Promise<void> {
  const dayEnd = new Date(Math.floor(cutoff.getTime() / DAY_MS) * DAY_MS + DAY_MS);
  await db.transaction().execute((trx) => forget(trx, sql`period < ${dayEnd}`));
}

/**
 * Forgets the counts of the periods holding these times (entries deleted from them), in the
 * caller's transaction; the job counts those periods again.
 */
export async function forgetLogCountsAt(trx: Trx, times: readonly Date[]): Promise<void> {
  const periods = new Map<string, Period>();
  for (const t of times) {
    for (const hours of [24, 1] as const) {
      const start = new Date(Math.floor(t.getTime() / (hours * HOUR_MS)) * hours * HOUR_MS);
      periods.set(`${hours}:${start.getTime()}`, { start, hours });
    }
  }
  if (!periods.size) return;
  await forget(trx, sql.join([...periods.values()].map((p) => sql`(hours = ${p.hours} and period = ${p.start})`), sql` or `));
}

/** Removes the marks and the counts of the periods `where` selects (a condition on hours and period), under the counting lock. */
async function forget(trx: Trx, where: RawBuilder<unknown>): Promise<void> {
  await advisoryXactLock(trx, COUNT_LOCK);
  await sql`delete from log_counted where ${where}`.execute(trx);
  await sql`delete from log_count where ${where}`.execute(trx);
}

export interface CountTarget {
  scope: CountScope;
  targetId: number;
  performerId: number;
}

export interface CountPlan {
  /** Counted periods inside the window, read from the counts, in order. */
  counted: Period[];
  /** The rest of the window, read from the entries: [from, to) ranges, in order. */
  live: { from: Date; to: Date }[];
}

/**
 * Splits the window [start, end) into counted periods (whole days where it can, hours elsewhere)
 * and the ranges to count from the entries. Without a target (a filter the counts do not keep)
 * everything is live.
 */
export async function planCount(db: Db, start: Date, end: Date, target: CountTarget | undefined): Promise<CountPlan> {
  const s = start.getTime();
  const e = end.getTime();
  const counted: Period[] = [];
  if (target && e - s >= HOUR_MS) {
    const marks = await db
      .selectFrom('log_counted')
      .select(['hours', 'period', sql<string>`counted::text`.as('version')])
      .where('period', '>=', start)
      .where('period', '<', end)
      .orderBy('period')
      .orderBy('hours', 'desc')
      .execute();
    // In order of start, a day before the hours it holds: each period is taken unless it
    // overlaps the last one taken (an hour of a counted day) or ends past the window.
    let taken = s;
    for (const m of marks) {
      const from = new Date(m.period).getTime();
      const hours = m.hours === 24 ? 24 : 1;
      const to = from + hours * HOUR_MS;
      if (from < taken || to > e) continue;
      counted.push({ start: new Date(from), hours, version: m.version });
      taken = to;
    }
  }
  const live: CountPlan['live'] = [];
  let from = s;
  for (const p of counted) {
    const at = p.start.getTime();
    if (at > from) live.push({ from: new Date(from), to: p.start });
    from = at + p.hours * HOUR_MS;
  }
  if (from < e) live.push({ from: new Date(from), to: end });
  return { counted, live };
}

/**
 * The counts of `periods` for `target`, every kind, as one SELECT of (hours, at: the start in
 * epoch milliseconds, kind, day, count) to unite with others; one range of the primary key per
 * length of period.
 */
export function periodCountsSql(target: CountTarget, periods: readonly Period[]): RawBuilder<PeriodCountRow> {
  const sets = [];
  for (const hours of [24, 1] as const) {
    const starts = periods.filter((p) => p.hours === hours).map((p) => p.start.toISOString());
    if (!starts.length) continue;
    sets.push(sql`(c.hours = ${sql.lit(hours)} and c.period >= ${starts[0]}::timestamptz and c.period <= ${starts[starts.length - 1]}::timestamptz
      and c.period = any(${starts}::timestamptz[]))`);
  }
  return sql<PeriodCountRow>`
    select c.hours::int as hours, (extract(epoch from c.period) * 1000)::int8 as at, c.kind,
      extract(day from c.period at time zone 'UTC')::int as day, c.count::int8 as count
    from log_count c
    where c.scope = ${sql.lit(target.scope)} and c.target_id = ${target.targetId} and c.performer_id = ${target.performerId}
      and (${sql.join(sets, sql` or `)})`;
}

export interface PeriodCountRow {
  /** Null for a row counted from the entries. */
  hours: number | null;
  at: string | null;
  kind: string;
  day: number;
  count: string;
}

/**
 * The counts of counted periods, kept in memory: a period's counts never change under one version
 * (a new count gives a new one, forgetting removes the mark), so a version's counts are read from
 * the database once per process. Least recently used first out, at most MAX_CACHED periods.
 */
export class PeriodCountCache {
  static readonly MAX_CACHED = 20_000;
  readonly #map = new Map<string, ReadonlyMap<string, number>>();

  static key(target: CountTarget, p: { hours: number; start: Date }, version: string): string {
    return `${target.scope}:${target.targetId}:${target.performerId}:${p.hours}:${p.start.getTime()}:${version}`;
  }

  get(key: string): ReadonlyMap<string, number> | undefined {
    const hit = this.#map.get(key);
    if (hit) {
      this.#map.delete(key);
      this.#map.set(key, hit);
    }
    return hit;
  }

  set(key: string, counts: ReadonlyMap<string, number>): void {
    this.#map.delete(key);
    this.#map.set(key, counts);
    while (this.#map.size > PeriodCountCache.MAX_CACHED) this.#map.delete(this.#map.keys().next().value!);
  }

  get size(): number {
    return this.#map.size;
  }
}

const caches = new WeakMap<object, PeriodCountCache>();

/** The cache of a database handle's counts. */
export function periodCountCache(db: object): PeriodCountCache {
  let c = caches.get(db);
  if (!c) caches.set(db, (c = new PeriodCountCache()));
  return c;
}
