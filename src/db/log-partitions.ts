// The audit table's monthly partitions (migration 20261211T000000): the coming months are created
// ahead of time, and with log rotation on (FEATURE_ACTION_LOG_ROTATION) the months wholly older than
// ACTION_LOG_ROTATION_THRESHOLD are dropped as tables, not deleted row by row. Entries whose month
// has no partition yet wait in log_entry_default and move into it when it is created.
import { sql, type Kysely } from 'kysely';
import { advisoryXactLock } from './lock.js';
import { forgetLogCountsBefore } from './log-counts.js';
import type { DB } from './schema.js';

const pad = (n: number) => String(n).padStart(2, '0');
const PARTITION_RE = /^log_entry_p(\d{4})(\d{2})$/;

// One number for every process sharing the database (pg_advisory_xact_lock takes a bigint).
const PARTITION_LOCK = 0x4c_6f_67_70_61_72_74n; // "Logpart"

export function partitionName(year: number, month0: number): string {
  return `log_entry_p${year}${pad(month0 + 1)}`;
}

function monthBounds(year: number, month0: number): { from: string; to: string } {
  return { from: new Date(Date.UTC(year, month0, 1)).toISOString(), to: new Date(Date.UTC(year, month0 + 1, 1)).toISOString() };
}

async function existingPartitions(db: Kysely<DB>): Promise<Set<string>> {
  const r = await sql<{ name: string }>`
    select c.relname as name from pg_inherits i
      join pg_class c on c.oid = i.inhrelid
      join pg_class p on p.oid = i.inhparent
    where p.relname = 'log_entry' and c.relkind in ('r', 'p')`.execute(db);
  return new Set(r.rows.map((x) => x.name));
}

/**
 * Makes sure the months from `now`'s through `ahead` months later have their partitions. A month
 * whose entries already sit in the default partition gets them moved into its new table, in the
 * same transaction. Returns the partitions created.
 */
export async function ensureLogPartitions(db: Kysely<DB>, now: Date, ahead = 2): Promise<string[]> {
  const wanted: { name: string; from: string; to: string }[] = [];
  for (let i = 0; i <= ahead; i++) {
    const y = now.getUTCFullYear() + Math.floor((now.getUTCMonth() + i) / 12);
    const m = (now.getUTCMonth() + i) % 12;
    wanted.push({ name: partitionName(y, m), ...monthBounds(y, m) });
  }
  const have = await existingPartitions(db);
  const missing = wanted.filter((w) => !have.has(w.name));
  if (missing.length === 0) return [];
  return db.transaction().execute(async (trx) => {
    await advisoryXactLock(trx, PARTITION_LOCK);
    const again = await existingPartitions(trx);
    const created: string[] = [];
    for (const w of missing) {
      if (again.has(w.name)) continue;
      const from = sql.lit(w.from);
      const to = sql.lit(w.to);
      // Created standalone, filled from the default partition, then attached: attaching checks
      // that the default partition holds nothing of the month any more.
      await sql`create table ${sql.ref(w.name)} (like log_entry including defaults including constraints)`.execute(trx);
      await sql`with moved as (delete from log_entry_default where datetime >= ${from} and datetime < ${to} returning *)
        insert into ${sql.ref(w.name)} select * from moved`.execute(trx);
      await sql`alter table log_entry attach partition ${sql.ref(w.name)} for values from (${from}) to (${to})`.execute(trx);
      created.push(w.name);
    }
    return created;
  });
}

/**
 * Log rotation: drops every month partition that ends at or before `cutoff`, and deletes the
 * default partition's entries older than it; the counts of the periods it touched are forgotten
 * (src/db/log-counts.ts). Returns the partitions dropped.
 */
export async function dropLogPartitionsBefore(db: Kysely<DB>, cutoff: Date): Promise<string[]> {
  const dropped: string[] = [];
  for (const name of [...(await existingPartitions(db))].sort()) {
    const m = PARTITION_RE.exec(name);
    if (!m) continue;
    const end = new Date(Date.UTC(Number(m[1]), Number(m[2]), 1));
    if (end.getTime() > cutoff.getTime()) continue;
    await db.transaction().execute(async (trx) => {
      await advisoryXactLock(trx, PARTITION_LOCK);
      await sql`drop table if exists ${sql.ref(name)}`.execute(trx);
    });
    dropped.push(name);
  }
  await sql`delete from log_entry_default where datetime < ${cutoff}`.execute(db);
  await forgetLogCountsBefore(db, cutoff);
  return dropped;
}
