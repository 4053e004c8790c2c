// The audit table becomes partitioned by month (declarative range partitioning on `datetime`), so
// that retention drops whole months instead of deleting rows, and a time window reads only its
// months. Rows outside every month partition land in `log_entry_default` until their month is
// created (src/db/log-partitions.ts keeps the coming months ready and moves such rows).
//
// Lists page by (datetime, id): every index ends with both. The primary key must include the
// partition key, hence (datetime, id). The id sequence of the old table is kept.
import { sql, type Kysely } from 'kysely';

const pad = (n: number) => String(n).padStart(2, '0');
const monthName = (y: number, m: number) => `log_entry_p${y}${pad(m + 1)}`;
const monthStart = (y: number, m: number) => new Date(Date.UTC(y, m, 1)).toISOString();

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table log_entry rename to log_entry_unpartitioned`.execute(db);
  await sql`alter index log_entry_pkey rename to log_entry_unpartitioned_pkey`.execute(db);
  await sql`alter sequence log_entry_id_seq owned by none`.execute(db);
  for (const idx of ['log_entry_account_datetime', 'log_entry_repository_datetime', 'log_entry_performer_datetime', 'log_entry_datetime']) {
    await sql`drop index if exists ${sql.ref(idx)}`.execute(db);
  }
  await sql`
    create table log_entry (
      id bigint not null default nextval('log_entry_id_seq'),
      kind text not null,
      account_id integer,
      performer_id integer,
      repository_id integer,
      ip text,
      datetime timestamptz not null default now(),
      metadata jsonb not null default '{}'::jsonb,
      primary key (datetime, id)
    ) partition by range (datetime)`.execute(db);
  await sql`alter sequence log_entry_id_seq owned by log_entry.id`.execute(db);
  await sql`create table log_entry_default partition of log_entry default`.execute(db);

  // One partition per month from the oldest entry's month to two months from now.
  const r = await sql<{ oldest: Date | null }>`select min(datetime) as oldest from log_entry_unpartitioned`.execute(db);
  const now = new Date();
  const first = r.rows[0]?.oldest ?? now;
  let y = first.getUTCFullYear();
  let m = first.getUTCMonth();
  const lastIndex = now.getUTCFullYear() * 12 + now.getUTCMonth() + 2;
  while (y * 12 + m <= lastIndex) {
    const ny = m === 11 ? y + 1 : y;
    const nm = (m + 1) % 12;
    await sql`create table ${sql.ref(monthName(y, m))} partition of log_entry
      for values from (${sql.lit(monthStart(y, m))}) to (${sql.lit(monthStart(ny, nm))})`.execute(db);
    y = ny;
    m = nm;
  }

  await sql`insert into log_entry (id, kind, account_id, performer_id, repository_id, ip, datetime, metadata)
    select id, kind, account_id, performer_id, repository_id, ip, datetime, metadata from log_entry_unpartitioned`.execute(db);
  await sql`drop table log_entry_unpartitioned`.execute(db);

  // Each list and aggregation reads one of these by its filter, a window of time, then id.
  await sql`create index log_entry_account_datetime on log_entry (account_id, datetime, id) include (kind)`.execute(db);
  await sql`create index log_entry_repository_datetime on log_entry (repository_id, datetime, id) include (kind)`.execute(db);
  await sql`create index log_entry_performer_datetime on log_entry (performer_id, datetime, id)`.execute(db);
  // The aggregations group by kind and UTC day: without this the planner expects a group per row
  // and sorts every row of the window instead of hashing a few hundred groups (bench/logs.ts).
  // The expression must be the query's own (src/db/logs.ts aggregateLogEntries).
  await sql`create statistics log_entry_kind_day (ndistinct) on kind, (extract(day from datetime at time zone 'UTC')::int) from log_entry`.execute(db);
  await sql`analyze log_entry`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table log_entry rename to log_entry_partitioned`.execute(db);
  await sql`alter index log_entry_pkey rename to log_entry_partitioned_pkey`.execute(db);
  await sql`alter sequence log_entry_id_seq owned by none`.execute(db);
  await sql`
    create table log_entry (
      id bigint primary key default nextval('log_entry_id_seq'),
      kind text not null,
      account_id integer,
      performer_id integer,
      repository_id integer,
      ip text,
      datetime timestamptz not null default now(),
      metadata jsonb not null default '{}'::jsonb
    )`.execute(db);
  await sql`alter sequence log_entry_id_seq owned by log_entry.id`.execute(db);
  await sql`insert into log_entry select id, kind, account_id, performer_id, repository_id, ip, datetime, metadata from log_entry_partitioned`.execute(db);
  await sql`drop table log_entry_partitioned cascade`.execute(db);
  await sql`create index log_entry_account_datetime on log_entry (account_id, datetime)`.execute(db);
  await sql`create index log_entry_repository_datetime on log_entry (repository_id, datetime)`.execute(db);
  await sql`create index log_entry_performer_datetime on log_entry (performer_id, datetime)`.execute(db);
  await sql`create index log_entry_datetime on log_entry (datetime)`.execute(db);
}
