// Counts of the audit table by period, so that an aggregation over a month reads a few hundred
// counts instead of every entry of the window (bench/logs.ts). Entries are written with the time
// of their transaction, so a period's entries never change once it is over and every transaction
// that began in it has ended; the log-maintenance job then counts it once, by kind, for each
// namespace, each repository, each namespace's performers and the whole instance
// (src/db/log-counts.ts), and marks it in log_counted. Periods are UTC days, and the hours of the
// last two days (so that today and a window that does not start at midnight are counted too).
// An aggregation sums the counts of the counted periods inside its window and counts the rest
// from the entries themselves, so the answer never depends on whether the job has run.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // scope: 1 a namespace (target_id = account_id), 2 a repository (target_id = repository_id),
  // 3 the whole instance (target_id = 0). performer_id 0: every entry, performer or not; otherwise
  // only that performer's (kept for namespaces, whose aggregations take a performer filter).
  // hours: 24 for a day, 1 for an hour; period: its start.
  await sql`
    create table log_count (
      scope smallint not null,
      target_id integer not null,
      performer_id integer not null,
      hours smallint not null,
      period timestamptz not null,
      kind text not null,
      count integer not null,
      primary key (scope, target_id, performer_id, hours, period, kind) include (count)
    )`.execute(db);
  await sql`create index log_count_period on log_count (period)`.execute(db);
  await sql`
    create table log_counted (
      hours smallint not null,
      period timestamptz not null,
      counted timestamptz not null default now(),
      primary key (hours, period)
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table log_counted`.execute(db);
  await sql`drop table log_count`.execute(db);
}
