// Reading the audit table (log_entry): the list and aggregate queries behind the log endpoints.
// Entries are written only by src/lib/audit.ts.
import { sql } from 'kysely';
import type { Db } from './index.js';

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
  performer_name: string | null;
  performer_email: string | null;
  performer_robot: boolean | null;
  account_name: string | null;
  account_email: string | null;
  account_org: boolean | null;
}

/** Newest first: `limit` entries of the window with an id below `beforeId` (0: from the newest). */
export async function listLogEntries(db: Db, f: LogFilter, beforeId: number, limit: number): Promise<LogRow[]> {
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
      'p.username as performer_name',
      'p.email as performer_email',
      'p.robot as performer_robot',
      'a.username as account_name',
      'a.email as account_email',
      'a.organization as account_org',
    ])
    .where('l.datetime', '>=', f.start)
    .where('l.datetime', '<', f.end);
  if (f.accountId !== undefined) q = q.where('l.account_id', '=', f.accountId);
  if (f.repositoryId !== undefined) q = q.where('l.repository_id', '=', f.repositoryId);
  if (f.performerId !== undefined) q = q.where('l.performer_id', '=', f.performerId);
  if (f.excludeKinds?.length) q = q.where('l.kind', 'not in', [...f.excludeKinds]);
  if (beforeId > 0) q = q.where('l.id', '<', String(beforeId));
  const rows = await q.orderBy('l.id', 'desc').limit(limit).execute();
  return rows.map((r) => ({ ...r, id: Number(r.id) }));
}

/** Entries of the window counted by kind and day of the month (UTC), as Quay aggregates them. */
export async function aggregateLogEntries(db: Db, f: LogFilter): Promise<{ kind: string; day: number; count: number }[]> {
  let q = db
    .selectFrom('log_entry as l')
    .select([
      'l.kind',
      sql<number>`extract(day from l.datetime at time zone 'UTC')::int`.as('day'),
      sql<string>`count(*)`.as('count'),
    ])
    .where('l.datetime', '>=', f.start)
    .where('l.datetime', '<', f.end);
  if (f.accountId !== undefined) q = q.where('l.account_id', '=', f.accountId);
  if (f.repositoryId !== undefined) q = q.where('l.repository_id', '=', f.repositoryId);
  if (f.performerId !== undefined) q = q.where('l.performer_id', '=', f.performerId);
  if (f.excludeKinds?.length) q = q.where('l.kind', 'not in', [...f.excludeKinds]);
  const rows = await q.groupBy(['l.kind', sql`2`]).orderBy('l.kind').orderBy(sql`2`).execute();
  return rows.map((r) => ({ kind: r.kind, day: Number(r.day), count: Number(r.count) }));
}
