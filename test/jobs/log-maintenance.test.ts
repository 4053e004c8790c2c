// The audit table's monthly partitions (src/db/log-partitions.ts) and log rotation
// (FEATURE_ACTION_LOG_ROTATION, the log-maintenance job): coming months are ready, entries of a month
// without a partition wait in the default one and move when it is made, rotation drops whole months.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropLogPartitionsBefore, ensureLogPartitions, partitionName } from '../../src/db/log-partitions.js';
import { testApp, type TestApp } from '../helpers/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await testApp({ FEATURE_ACTION_LOG_ROTATION: true, ACTION_LOG_ROTATION_THRESHOLD: '30d' });
});
afterAll(() => t?.close());

async function partitions(): Promise<string[]> {
  const r = await sql<{ name: string }>`select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
    join pg_class p on p.oid = i.inhparent where p.relname = 'log_entry' order by 1`.execute(t.app.db);
  return r.rows.map((x) => x.name);
}
const where = async (id: string) =>
  (await sql<{ part: string }>`select tableoid::regclass::text as part from log_entry where id = ${id}::int8`.execute(t.app.db)).rows[0]?.part;
const insert = async (datetime: Date, kind = 'create_repo') =>
  (await t.app.db.insertInto('log_entry').values({ kind, account_id: null, performer_id: null, repository_id: null, ip: null, datetime, metadata: '{}' }).returning('id').executeTakeFirstOrThrow()).id;

describe('audit log partitions', () => {
  it('has this month and the next two ready after a start, and new entries land in this month’s', async () => {
    const now = new Date();
    const names = await partitions();
    for (let i = 0; i <= 2; i++) {
      const d = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + i, 1));
      expect(names).toContain(partitionName(d.getUTCFullYear(), d.getUTCMonth()));
    }
    expect(names).toContain('log_entry_default');
    expect(await where(await insert(now))).toBe(partitionName(now.getUTCFullYear(), now.getUTCMonth()));
  });

  it('keeps an entry of a month without a partition in the default one, and moves it when the month is made', async () => {
    const future = new Date(Date.UTC(new Date().getUTCFullYear() + 1, 6, 15));
    const id = await insert(future);
    expect(await where(id)).toBe('log_entry_default');
    const created = await ensureLogPartitions(t.app.db, future, 0);
    expect(created).toEqual([partitionName(future.getUTCFullYear(), 6)]);
    expect(await where(id)).toBe(partitionName(future.getUTCFullYear(), 6));
    expect(await ensureLogPartitions(t.app.db, future, 0)).toEqual([]); // already there
  });

  it('rotation drops the months wholly past the threshold and the default partition’s old entries', async () => {
    const jan = new Date(Date.UTC(2025, 0, 20));
    const feb = new Date(Date.UTC(2025, 1, 10));
    await ensureLogPartitions(t.app.db, jan, 1);
    const a = await insert(jan);
    const b = await insert(feb);
    const old = await insert(new Date(Date.UTC(2024, 5, 1))); // no partition: default
    const dropped = await dropLogPartitionsBefore(t.app.db, new Date(Date.UTC(2025, 1, 15)));
    expect(dropped).toContain(partitionName(2025, 0));
    expect(dropped).not.toContain(partitionName(2025, 1)); // February is not wholly past
    expect(await where(a)).toBeUndefined();
    expect(await where(b)).toBe(partitionName(2025, 1));
    expect(await where(old)).toBeUndefined();
  });

  it('the log-maintenance job rotates with FEATURE_ACTION_LOG_ROTATION and keeps everything without it', async () => {
    await ensureLogPartitions(t.app.db, new Date(Date.UTC(2025, 4, 5)), 0);
    const may = await insert(new Date(Date.UTC(2025, 4, 5)));
    const off = await testApp({}, t.database);
    try {
      await off.app.jobs.enqueue(off.app.db, 'log-maintenance', {});
      expect(await off.app.jobs.runPending(['log-maintenance'])).toBe(1);
      expect(await where(may)).toBe(partitionName(2025, 4));
    } finally {
      await off.close();
    }
    await t.app.jobs.enqueue(t.app.db, 'log-maintenance', {});
    expect(await t.app.jobs.runPending(['log-maintenance'])).toBe(1);
    expect(await where(may)).toBeUndefined();
    expect(await partitions()).not.toContain(partitionName(2025, 4));
    // This month's entries stay.
    expect((await partitions()).length).toBeGreaterThanOrEqual(4);
  });
});
