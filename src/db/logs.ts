// Reading the audit table (log_entry): the list and aggregate queries behind the log endpoints.
// Entries are written only by src/lib/audit.ts.
import { sql } from 'kysely';
import type { Db } from './index.js';
import { CountScope, periodCountCache, PeriodCountCache, periodCountsSql, planCount, type CountTarget, type Period, type PeriodCountRow } from './log-counts.js';

export interface LogFilter {
  start: Date;
  /** Exclusive. */
  end: Date;
  accountId?: number;
  repositoryId?: number;
  performerId?: number;
  /** Kinds left out (the user logs leave out the service-key kinds). */
  excludeKinds?: readonly string[];
}

export interface LogRow {
  id: number;
  kind: string;
  metadata: unknown;
  ip: string | null;
  datetime: Date;
  /** The entry's position for the next page's cursor. */
  cursor: string;
  performer_name: string | null;
  performer_email: string | null;
  performer_robot: boolean | null;
  account_name: string | null;
  account_email: string | null;
  account_org: boolean | null;
}

/**
 * Where the previous page ended: entries come newest first by (datetime, id). The time is the
 * database's own text of it, exact to the microsecond (a JavaScript Date keeps milliseconds).
 */
export interface LogCursor {
  datetime: string;
  id: number;
}

/** Newest first: `limit` entries of the window that come after `after` (from the newest without). */
export async function listLogEntries(db: Db, f: LogFilter, after: LogCursor | undefined, limit: number): Promise<LogRow[]> {
  let q = db
    .selectFrom('log_entry as l')
    .leftJoin('namespace as p', 'p.id', 'l.performer_id')
    .leftJoin('namespace as a', 'a.id', 'l.account_id')
    .select([
      sql<number>`l.id::int8`.as('id'),
      'l.kind',
      'l.metadata',
      'l.ip',
      'l.datetime',
      sql<string>`l.datetime::text`.as('cursor'),
      'p.username as performer_name',
      'p.email as performer_email',
      'p.robot as performer_robot',
      'a.username as account_name',
      'a.email as account_email',
      'a.organization as account_org',
    ])
    .where(filterSql(f));
  if (after) q = q.where(sql<boolean>`(l.datetime, l.id) < (${after.datetime}::timestamptz, ${String(after.id)}::int8)`);
  const rows = await q.orderBy('l.datetime', 'desc').orderBy('l.id', 'desc').limit(limit).execute();
  return rows.map((r) => ({ ...r, id: Number(r.id) }));
}

/** The window and filters every log query shares, as one condition (the window first, for partition pruning). */
function filterSql(f: LogFilter, range: { from: Date; to: Date } = { from: f.start, to: f.end }) {
  const parts = [sql`l.datetime >= ${range.from}`, sql`l.datetime < ${range.to}`];
  if (f.accountId !== undefined) parts.push(sql`l.account_id = ${f.accountId}`);
  if (f.repositoryId !== undefined) parts.push(sql`l.repository_id = ${f.repositoryId}`);
  if (f.performerId !== undefined) parts.push(sql`l.performer_id = ${f.performerId}`);
  if (f.excludeKinds?.length) parts.push(sql`l.kind not in (${sql.join([...f.excludeKinds])})`);
  return sql<boolean>`${sql.join(parts, sql` and `)}`;
}

/** The counts that answer this filter (src/db/log-counts.ts), if they keep it. */
function countTarget(f: LogFilter): CountTarget | undefined {
  if (f.repositoryId !== undefined) {
    return f.accountId === undefined && f.performerId === undefined ? { scope: CountScope.Repository, targetId: f.repositoryId, performerId: 0 } : undefined;
  }
  if (f.accountId !== undefined) return { scope: CountScope.Namespace, targetId: f.accountId, performerId: f.performerId ?? 0 };
  return f.performerId === undefined ? { scope: CountScope.Instance, targetId: 0, performerId: 0 } : undefined;
}

/**
 * Entries of the window counted by kind and day of the month (UTC), as Quay aggregates them: the
 * days and hours already counted from log_count (src/db/log-counts.ts; each period's counts read
 * from the database once per process), the rest of the window from the entries, in one statement.
 */
export async function aggregateLogEntries(db: Db, f: LogFilter): Promise<{ kind: string; day: number; count: number }[]> {
  const target = countTarget(f);
  const plan = await planCount(db, f.start, f.end, target);
  const sums = new Map<string, Map<number, number>>();
  const add = (kind: string, day: number, n: number) => {
    let days = sums.get(kind);
    if (!days) sums.set(kind, (days = new Map()));
    days.set(day, (days.get(day) ?? 0) + n);
  };
  const excluded = new Set(f.excludeKinds ?? []);
  const fromPeriod = (p: Period, counts: ReadonlyMap<string, number>) => {
    for (const [kind, n] of counts) if (!excluded.has(kind)) add(kind, p.start.getUTCDate(), n);
  };

  const cache = periodCountCache(db);
  const missing: { period: Period; key: string }[] = [];
  for (const p of plan.counted) {
    const key = PeriodCountCache.key(target!, p, p.version!);
    const hit = cache.get(key);
    if (hit) fromPeriod(p, hit);
    else missing.push({ period: p, key });
  }

  const parts = plan.live.map(
    (range) => sql<PeriodCountRow>`select null::int as hours, null::int8 as at, l.kind,
      extract(day from l.datetime at time zone 'UTC')::int as day, count(*) as count
      from log_entry l where ${filterSql(f, range)} group by 3, 4`,
  );
  if (missing.length) parts.push(periodCountsSql(target!, missing.map((m) => m.period)));
  const rows = parts.length ? (await sql<PeriodCountRow>`${sql.join(parts, sql` union all `)}`.execute(db)).rows : [];

  const read = new Map<string, Map<string, number>>(missing.map((m) => [`${m.period.hours}:${m.period.start.getTime()}`, new Map()]));
  for (const x of rows) {
    if (x.hours === null) add(x.kind, Number(x.day), Number(x.count));
    else read.get(`${x.hours}:${Number(x.at)}`)?.set(x.kind, Number(x.count));
  }
  for (const m of missing) {
    const counts = read.get(`${m.period.hours}:${m.period.start.getTime()}`)!;
    cache.set(m.key, counts);
    fromPeriod(m.period, counts);
  }
  // Ordered by kind then day.
  const out = [];
  for (const [kind, days] of sums) for (const [day, count] of days) out.push({ kind, day, count });
  return out.sort((a, b) => (a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : a.day - b.day));
}
