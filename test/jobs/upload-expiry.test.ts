// Upload-session expiry and cancellation (src/jobs/upload-expiry.ts) against the real database and
// the filesystem driver in a temp dir: sessions left idle go with their bytes, sessions in use
// stay, a request arriving mid-removal is refused, and a deleted repository's sessions lose their
// bytes through the `upload-cancel` job.
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leaseUpload } from '../../src/db/blobs.js';
import { deleteLeasedUpload, leaseStaleUpload } from '../../src/db/gc.js';
import { requestNow, UPLOAD_CANCEL_QUEUE, UPLOAD_EXPIRY_QUEUE, UPLOAD_EXPIRY_SWEEP_KEY } from '../../src/jobs/schedule.js';
import { expireUploads } from '../../src/jobs/upload-expiry.js';
import { uploadDataKey } from '../../src/storage/paths.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { bearer, makeUser, tokenFor, uniqueName, type TestUser } from '../helpers/factories.js';
import { expectError, randomBlob, RegistryClient, repoScope } from '../helpers/registry.js';

const HOUR = 3600_000;
const EXPIRY_S = 86400; // UPLOAD_EXPIRY's default, which testApp keeps

let t: TestApp;
let alice: TestUser;

beforeAll(async () => {
  t = await testApp();
  alice = await makeUser(t);
});
afterAll(() => t?.close());

const expire = (later = 0) => expireUploads({ db: t.app.db, storage: t.app.storage }, { expiryS: EXPIRY_S, now: Date.now() + later });

/** A session with `bytes` bytes received, in a new repository. */
async function session(bytes = 3000) {
  const name = `${alice.username}/${uniqueName('repo')}`;
  const c = await RegistryClient.login(t, alice, [repoScope(name)]);
  const location = await c.startUpload(name);
  if (bytes) expect((await c.patch(location, randomBlob(bytes))).statusCode).toBe(202);
  const uuid = location.split('/').pop()!;
  const row = await t.app.db.selectFrom('blob_upload').selectAll().where('uuid', '=', uuid).executeTakeFirstOrThrow();
  return { name, c, location, uuid, row };
}

const bytesOf = async (uuid: string) => (await t.app.storage.stat(uploadDataKey(uuid)))?.size;
const rowOf = (uuid: string) => t.app.db.selectFrom('blob_upload').selectAll().where('uuid', '=', uuid).executeTakeFirst();

describe('upload expiry', () => {
  it('removes a session idle for longer than UPLOAD_EXPIRY, bytes and row, and keeps a younger one', async () => {
    const s = await session(3000);
    expect(await bytesOf(s.uuid)).toBe(3000);
    await expire(23 * HOUR);
    expect(await rowOf(s.uuid)).toBeDefined();
    expect(await bytesOf(s.uuid)).toBe(3000);

    expect(await expire(25 * HOUR)).toBeGreaterThanOrEqual(1);
    expect(await rowOf(s.uuid)).toBeUndefined();
    expect(await bytesOf(s.uuid)).toBeUndefined();
    expectError(await s.c.request('GET', s.location), 404, 'BLOB_UPLOAD_UNKNOWN');
    expectError(await s.c.patch(s.location, randomBlob(10)), 404, 'BLOB_UPLOAD_UNKNOWN');
  });

  it('counts from the last activity: a chunk renews the session', async () => {
    const s = await session(1000);
    await t.app.db.updateTable('blob_upload').set({ updated: new Date(Date.now() - 25 * HOUR) }).where('id', '=', s.row.id).execute();
    expect((await s.c.patch(s.location, randomBlob(500))).statusCode).toBe(202);
    await expire();
    expect(await rowOf(s.uuid)).toMatchObject({ byte_count: 1500 });
    expect(await bytesOf(s.uuid)).toBe(1500);
  });

  it('keeps a session a request is writing to until its lease has expired', async () => {
    const s = await session(2000);
    await t.app.db.updateTable('blob_upload').set({ updated: new Date(Date.now() - 25 * HOUR) }).where('id', '=', s.row.id).execute();
    expect(await leaseUpload(t.app.db, s.row.id, randomUUID(), HOUR)).toBe(true);
    await expire();
    expect(await rowOf(s.uuid)).toBeDefined();
    expect(await bytesOf(s.uuid)).toBe(2000);
    await expire(2 * HOUR); // the lease has run out by then
    expect(await rowOf(s.uuid)).toBeUndefined();
    expect(await bytesOf(s.uuid)).toBeUndefined();
  });

  it('refuses a request that arrives while the collector holds the session, which then goes', async () => {
    const s = await session(1200);
    const now = Date.now() + 25 * HOUR;
    const before = new Date(now - EXPIRY_S * 1000);
    // The collector's steps: take the session's lease, [a request arrives], cancel the bytes, delete the row.
    const taken = await leaseStaleUpload(t.app.db, s.row.id, 'gc-test', before, new Date(now), new Date(now + HOUR));
    expect(taken?.storageState).toEqual(s.row.storage_state);
    const late = await s.c.patch(s.location, randomBlob(100), { start: 1200 });
    expect(late.statusCode).toBe(416); // as when another request writes to the session
    expect(await bytesOf(s.uuid)).toBe(1200);
    // Nor can a second collector take it meanwhile.
    expect(await leaseStaleUpload(t.app.db, s.row.id, 'gc-other', before, new Date(now), new Date(now + HOUR))).toBeUndefined();
    await t.app.storage.cancelUpload(taken!.storageState as never);
    expect(await deleteLeasedUpload(t.app.db, s.row.id, 'gc-test')).toBe(true);
    expectError(await s.c.request('GET', s.location), 404, 'BLOB_UPLOAD_UNKNOWN');
    expect(await bytesOf(s.uuid)).toBeUndefined();
  });

  it('removes a session whose storage state belongs to another driver (the bytes are out of reach)', async () => {
    const s = await session(0);
    const foreign = { driver: 's3', v: 1, size: 0, id: s.uuid, chunks: [] };
    await t.app.db.updateTable('blob_upload').set({ storage_state: JSON.stringify(foreign), updated: new Date(Date.now() - 25 * HOUR) }).where('id', '=', s.row.id).execute();
    expect(await expire()).toBeGreaterThanOrEqual(1);
    expect(await rowOf(s.uuid)).toBeUndefined();
  });

  it('runs as the upload-expiry job with UPLOAD_EXPIRY', async () => {
    const s = await session(800);
    await t.app.db.updateTable('blob_upload').set({ updated: new Date(Date.now() - 25 * HOUR) }).where('id', '=', s.row.id).execute();
    expect(await requestNow(t.app.db, { queue: UPLOAD_EXPIRY_QUEUE, key: UPLOAD_EXPIRY_SWEEP_KEY })).toBeDefined();
    expect(await t.app.jobs.runPending([UPLOAD_EXPIRY_QUEUE])).toBe(1);
    expect(await rowOf(s.uuid)).toBeUndefined();
    expect(await bytesOf(s.uuid)).toBeUndefined();
    expect(await t.app.db.selectFrom('job').select('id').where('queue', '=', UPLOAD_EXPIRY_QUEUE).execute()).toEqual([]);
  });
});

describe('cancelling the sessions of a deleted repository', () => {
  it('removes idle sessions at once and one being written to after its lease', async () => {
    const idle = await session(900);
    // A second session in the same repository, leased by a request streaming into it right now.
    const location = await idle.c.startUpload(idle.name);
    const busyUuid = location.split('/').pop()!;
    expect((await idle.c.patch(location, randomBlob(400))).statusCode).toBe(202);
    const busyRow = (await rowOf(busyUuid))!;
    expect(await leaseUpload(t.app.db, busyRow.id, randomUUID(), HOUR)).toBe(true);

    const del = await t.inject({ method: 'DELETE', url: `/api/v1/repository/${idle.name}`, headers: bearer(await tokenFor(t, alice, 'repo:admin')) });
    expect(del.statusCode, del.body).toBe(204);
    expect(await rowOf(idle.uuid)).toBeUndefined(); // the rows went with the repository

    const jobs = await t.app.db
      .selectFrom('job')
      .select(['id', 'body', sql<number>`extract(epoch from available_after - now())`.as('in_s')])
      .where('queue', '=', UPLOAD_CANCEL_QUEUE)
      .orderBy('id')
      .execute();
    expect(jobs).toHaveLength(2);
    expect(Number(jobs[0].in_s)).toBeLessThanOrEqual(1);
    expect(Number(jobs[1].in_s)).toBeGreaterThan(HOUR / 1000 - 60);

    expect(await t.app.jobs.runPending([UPLOAD_CANCEL_QUEUE])).toBe(1);
    expect(await bytesOf(idle.uuid)).toBeUndefined();
    expect(await bytesOf(busyUuid)).toBe(400); // the request writing to it has until its lease ends

    await t.app.db.updateTable('job').set({ available_after: sql`now()` }).where('id', '=', jobs[1].id).execute();
    expect(await t.app.jobs.runPending([UPLOAD_CANCEL_QUEUE])).toBe(1);
    expect(await bytesOf(busyUuid)).toBeUndefined();
  });

  it('is idempotent, and skips a state it cannot read without failing', async () => {
    const state = await t.app.storage.startUpload(randomUUID());
    const { state: written } = await t.app.storage.appendUpload(state, 0, Readable.from([randomBlob(50)]));
    const foreign = { driver: 's3', v: 1, size: 0, id: randomUUID(), chunks: [] };
    for (let i = 0; i < 2; i++) await t.app.jobs.enqueue(t.app.db, UPLOAD_CANCEL_QUEUE, { states: [foreign, written, 'garbage'] });
    expect(await t.app.jobs.runPending([UPLOAD_CANCEL_QUEUE])).toBe(2);
    expect(await t.app.storage.stat(uploadDataKey(state.id as string))).toBeUndefined();
    // Both completed: nothing left, nothing dead.
    expect(await t.app.db.selectFrom('job').select('id').where('queue', '=', UPLOAD_CANCEL_QUEUE).execute()).toEqual([]);
  });
});
