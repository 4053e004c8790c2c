// The job queue's statements against the real database (PGlite, or PostgreSQL with TEST_DATABASE_URL).
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateToLatest, openDatabase, type Database } from '../../src/db/index.js';
import { claim, complete, describeError, enqueue, fail, findDeadJobs, release, renew, requeueDeadJob } from '../../src/jobs/queue.js';
import { freshDatabase, usingPostgres } from '../helpers/database.js';
import { withDatabase } from '../helpers/pg-url.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let n = 0;
/** A queue name of its own per test, so tests never see each other's jobs. */
const q = (what: string) => `test-${what}-${++n}`;

describe('job queue', () => {
  let database: Database;
  let db: Database['db'];
  beforeAll(async () => {
    database = await freshDatabase();
    db = database.db;
    await migrateToLatest(db); // PGlite starts empty; a PostgreSQL clone is already migrated

  });
  afterAll(async () => database?.close());

  const row = (id: number) => db.selectFrom('job').selectAll().where('id', '=', id).executeTakeFirst();

  it('writes a job inside the caller transaction: rolled back with it, committed with it', async () => {
    const queue = q('trx');
    let rolledBackId = 0;
    await expect(
      db.transaction().execute(async (trx) => {
        rolledBackId = await enqueue(trx, queue, { n: 1 });
        throw new Error('the change fails');
      }),
    ).rejects.toThrow('the change fails');
    expect(rolledBackId).toBeGreaterThan(0);
    expect(await row(rolledBackId)).toBeUndefined();
    expect(await claim(db, [queue], 10)).toBeUndefined();

    const id = await db.transaction().execute((trx) => enqueue(trx, queue, { n: 2, list: [1, 2], s: "it's" }));
    const job = await claim(db, [queue], 10);
    expect(job).toMatchObject({ id, queue, body: { n: 2, list: [1, 2], s: "it's" }, retriesRemaining: 4, lastError: null });
    expect(job!.leaseExpires.getTime()).toBeGreaterThan(Date.now() + 5000);
  });

  it('stores any JSON body, arrays and strings included', async () => {
    const queue = q('json');
    await enqueue(db, queue, ['a', { b: null }]);
    await enqueue(db, queue, 'just a string');
    const bodies = [(await claim(db, [queue], 10))!.body, (await claim(db, [queue], 10))!.body];
    expect(bodies).toEqual([['a', { b: null }], 'just a string']);
  });

  it('claims only the given queues, oldest first, each job once while leased', async () => {
    const a = q('a');
    const b = q('b');
    const first = await enqueue(db, a, 1);
    const second = await enqueue(db, a, 2);
    const other = await enqueue(db, b, 3);
    expect((await claim(db, [a], 10))!.id).toBe(first);
    expect((await claim(db, [a], 10))!.id).toBe(second);
    expect(await claim(db, [a], 10)).toBeUndefined();
    expect((await claim(db, [a, b], { [a]: 10, [b]: 20 }))!.id).toBe(other);
    expect(await claim(db, [], 10)).toBeUndefined();
  });

  it('leases per queue when given a map of lease lengths', async () => {
    const a = q('lease-a');
    const b = q('lease-b');
    await enqueue(db, a, 1);
    await enqueue(db, b, 2);
    const leases = { [a]: 100, [b]: 1000 };
    const j1 = (await claim(db, [a, b], leases))!;
    const j2 = (await claim(db, [a, b], leases))!;
    const left = (j: typeof j1) => (j.leaseExpires.getTime() - Date.now()) / 1000;
    expect(left(j1)).toBeGreaterThan(90);
    expect(left(j1)).toBeLessThan(110);
    expect(left(j2)).toBeGreaterThan(990);
    await expect(claim(db, [a], { [b]: 1 })).rejects.toThrow(/lease/);
  });

  it('waits until available_after: seconds from now or a date', async () => {
    const queue = q('delay');
    const later = await enqueue(db, queue, 'later', { availableAfter: 0.6 });
    const dated = await enqueue(db, queue, 'dated', { availableAfter: new Date(Date.now() + 3600_000) });
    expect(await claim(db, [queue], 10)).toBeUndefined();
    await sleep(300);
    expect(await claim(db, [queue], 10)).toBeUndefined();
    await sleep(400);
    expect((await claim(db, [queue], 10))!.id).toBe(later);
    expect(await claim(db, [queue], 10)).toBeUndefined();
    expect((await row(dated))!.available_after.getTime()).toBeGreaterThan(Date.now() + 3500_000);
  });

  it('completes by deleting the row, only for the holder of the current claim', async () => {
    const queue = q('complete');
    const id = await enqueue(db, queue, {});
    const job = (await claim(db, [queue], 10))!;
    expect(await complete(db, { id, stateId: 'not-the-claim' })).toBe(false);
    expect(await row(id)).toBeDefined();
    expect(await complete(db, job)).toBe(true);
    expect(await row(id)).toBeUndefined();
    expect(await complete(db, job)).toBe(false);
  });

  it('takes over a job whose lease expired; the first holder can no longer finish, fail, renew or release it', async () => {
    const queue = q('expired');
    const id = await enqueue(db, queue, { work: 1 });
    const crashed = (await claim(db, [queue], 0.3))!;
    expect(await claim(db, [queue], 0.3)).toBeUndefined(); // leased
    await sleep(450);
    const taken = (await claim(db, [queue], 10))!;
    expect(taken.id).toBe(id);
    expect(taken.stateId).not.toBe(crashed.stateId);
    expect(taken.retriesRemaining).toBe(crashed.retriesRemaining - 1); // the crashed attempt counted
    expect(taken.lastError).toMatch(/lease expired/);
    expect(await complete(db, crashed)).toBe(false);
    expect(await fail(db, crashed, new Error('late'), 0)).toBeUndefined();
    expect(await renew(db, crashed, 10)).toBe(false);
    expect(await release(db, crashed)).toBe(false);
    expect((await row(id))!.state_id).toBe(taken.stateId);
    expect(await complete(db, taken)).toBe(true);
  });

  it('keeps a renewed lease from being taken over', async () => {
    const queue = q('renew');
    await enqueue(db, queue, {});
    const job = (await claim(db, [queue], 0.4))!;
    for (let i = 0; i < 4; i++) {
      await sleep(200);
      expect(await renew(db, job, 0.4)).toBe(true);
      expect(await claim(db, [queue], 10)).toBeUndefined();
    }
    await sleep(550);
    expect((await claim(db, [queue], 10))!.id).toBe(job.id);
  });

  it('retries a failed job after its backoff and keeps it as a dead row after the last attempt', async () => {
    const queue = q('retry');
    const id = await enqueue(db, queue, { x: 1 }, { retries: 3 });
    const attempts: number[] = [];
    for (let i = 0; i < 3; i++) {
      let job = await claim(db, [queue], 10);
      if (i > 0) {
        expect(job).toBeUndefined(); // backing off
        await sleep(350);
        job = await claim(db, [queue], 10);
      }
      expect(job!.id).toBe(id);
      attempts.push(job!.retriesRemaining);
      const outcome = await fail(db, job!, new Error(`attempt ${i + 1} broke`), 0.3);
      expect(outcome).toEqual(i < 2 ? { retrying: true, retriesRemaining: 2 - i } : { retrying: false, retriesRemaining: 0 });
    }
    expect(attempts).toEqual([2, 1, 0]);
    await sleep(350);
    expect(await claim(db, [queue], 10)).toBeUndefined(); // dead: never claimed again
    const dead = (await row(id))!;
    expect(dead).toMatchObject({ retries_remaining: 0, processing_expires: null, last_error: 'Error: attempt 3 broke' });
    expect(await findDeadJobs(db, { queue })).toEqual([expect.objectContaining({ id, queue, body: { x: 1 }, lastError: 'Error: attempt 3 broke' })]);

    expect(await requeueDeadJob(db, id, 2)).toBe(true);
    expect(await findDeadJobs(db, { queue })).toEqual([]);
    const revived = (await claim(db, [queue], 10))!;
    expect(revived).toMatchObject({ id, retriesRemaining: 1, lastError: 'Error: attempt 3 broke' });
    expect(await requeueDeadJob(db, id)).toBe(false); // not dead
  });

  it('counts an attempt that never finished, so a job that kills its worker ends dead too', async () => {
    const queue = q('poison');
    const id = await enqueue(db, queue, {}, { retries: 2 });
    await claim(db, [queue], 0.2);
    await sleep(300);
    await claim(db, [queue], 0.2);
    await sleep(300);
    expect(await claim(db, [queue], 10)).toBeUndefined();
    const [dead] = await findDeadJobs(db, { queue });
    expect(dead.id).toBe(id);
    expect(dead.lastError).toMatch(/lease expired/);
  });

  it('gives the attempt back on release', async () => {
    const queue = q('release');
    await enqueue(db, queue, {}, { retries: 1 });
    const job = (await claim(db, [queue], 10))!;
    expect(job.retriesRemaining).toBe(0);
    expect(await release(db, job)).toBe(true);
    const again = (await claim(db, [queue], 10))!;
    expect(again).toMatchObject({ id: job.id, retriesRemaining: 0 });
  });

  it('hands each job to exactly one of many concurrent claimers (two connection pools on PostgreSQL)', async () => {
    const queue = q('race');
    const ids = new Set<number>();
    await db.transaction().execute(async (trx) => {
      for (let i = 0; i < 150; i++) ids.add(await enqueue(trx, queue, { i }));
    });
    // A second, independent handle on the same database: on PostgreSQL its own pool of
    // connections, as another replica would have; PGlite has one connection per database.
    let second: Database | undefined;
    if (usingPostgres) {
      const { rows } = await sql<{ name: string }>`select current_database() as name`.execute(db);
      second = await openDatabase({ url: withDatabase(process.env.TEST_DATABASE_URL!, rows[0].name), poolSize: 4 });
    }
    try {
      const handles = [db, second?.db ?? db];
      const claimed: number[] = [];
      const claimer = async (h: Database['db']) => {
        for (;;) {
          const job = await claim(h, [queue], 30);
          if (!job) return;
          claimed.push(job.id);
        }
      };
      await Promise.all(Array.from({ length: 8 }, (_, i) => claimer(handles[i % 2])));
      expect(claimed.length).toBe(150);
      expect(new Set(claimed)).toEqual(ids);
    } finally {
      await second?.close();
    }
  });

  it('validates its arguments', async () => {
    await expect(enqueue(db, '', {})).rejects.toThrow(/queue name/);
    await expect(enqueue(db, 'x'.repeat(101), {})).rejects.toThrow(/queue name/);
    await expect(enqueue(db, 'ok', {}, { retries: 0 })).rejects.toThrow(/retries/);
    await expect(enqueue(db, 'ok', {}, { availableAfter: -1 })).rejects.toThrow(/availableAfter/);
    await expect(enqueue(db, 'ok', undefined)).rejects.toThrow(/JSON/);
    await expect(claim(db, ['ok'], 0)).rejects.toThrow(/lease/);
  });
});

describe('last_error', () => {
  it('keeps the name, code and message but no credentials, signatures or stack', () => {
    const err = Object.assign(new Error('connect postgres://app:hunter2@db:5432/quay failed'), { code: 'ECONNREFUSED' });
    expect(describeError(err)).toBe('Error [ECONNREFUSED]: connect postgres://[redacted]@db:5432/quay failed');
    const s3 = describeError(new TypeError('GET https://bucket.s3.local/sha256/ab?X-Amz-Signature=deadbeef&X-Amz-Credential=AKIA failed'));
    expect(s3).toBe('TypeError: GET https://bucket.s3.local/sha256/ab?[redacted] failed');
    expect(describeError(new Error('sent Authorization: Bearer abcdefghijklmnop0123'))).not.toContain('abcdefghijklmnop0123');
    expect(describeError(new Error('password=letmein1 and secret_key: "xyz123"'))).toBe('Error: password=[redacted] and secret_key: "[redacted]"');
    expect(describeError('a string')).toBe('non-error thrown: a string');
    expect(describeError(new Error('x'.repeat(5000))).length).toBe(1000);
    expect(describeError(new Error('boom'))).not.toMatch(/at .*\.ts/);
  });
});
