// Garbage collection (src/jobs/gc.ts, src/db/gc.ts) against the real database and the filesystem
// driver in a temp dir: what stays and what goes, bytes checked in storage, the race with pushes
// interleaved step by step, the sweep after a repository deletion, the periodic scheduler
// (src/jobs/schedule.ts) and the `gc` command.
//
// Most sweeps run with a clock moved forward (`now`) instead of waiting: rows are written at the
// real time by the real routes, and the sweep looks at them from two hours or fifteen days later.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { claimBlob, linkBlob } from '../../src/db/blobs.js';
import { markBlobsDeleting } from '../../src/db/gc.js';
import { ABANDONED_MARK_MS, collectGarbage, removeMarkedBlobs, type GcResult } from '../../src/jobs/gc.js';
import { GC_QUEUE, GC_SWEEP_KEY, requestNow, schedulePeriodic, Scheduler, UPLOAD_CANCEL_QUEUE } from '../../src/jobs/schedule.js';
import { claim, complete, fail } from '../../src/jobs/queue.js';
import { blobKey } from '../../src/storage/index.js';
import { uploadDataKey } from '../../src/storage/paths.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { usingPostgres } from '../helpers/database.js';
import { bearer, makeUser, tokenFor, uniqueName, type TestUser } from '../helpers/factories.js';
import { blobOf, digestOf, expectError, injectSender, makeImage, makeIndex, randomBlob, RegistryClient, registryToken, repoScope, type Descriptor } from '../helpers/registry.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const GRACE_S = 3600; // GC_GRACE_PERIOD's default, which testApp keeps

let t: TestApp;
let alice: TestUser;

beforeAll(async () => {
  t = await testApp();
  alice = await makeUser(t);
});
afterAll(() => t?.close());

/** A sweep as if it ran `later` ms from now. */
const sweep = (later = 0): Promise<GcResult> => collectGarbage({ db: t.app.db, storage: t.app.storage }, { graceS: GRACE_S, now: Date.now() + later });

async function newRepo(owner: TestUser = alice): Promise<{ name: string; c: RegistryClient; id: () => Promise<number> }> {
  const name = `${owner.username}/${uniqueName('repo')}`;
  const c = await RegistryClient.login(t, owner, [repoScope(name)]);
  const id = async () => {
    const [ns, repo] = name.split('/');
    const row = await t.app.db
      .selectFrom('repository as r')
      .innerJoin('namespace as n', 'n.id', 'r.namespace_id')
      .select('r.id')
      .where('n.username', '=', ns)
      .where('r.name', '=', repo)
      .executeTakeFirstOrThrow();
    return row.id;
  };
  return { name, c, id };
}

const inStorage = async (digest: string) => (await t.app.storage.stat(blobKey(digest))) !== undefined;
const blobRow = (digest: string) => t.app.db.selectFrom('blob').selectAll().where('digest', '=', digest).executeTakeFirst();
const manifestRow = (digest: string) => t.app.db.selectFrom('manifest').select(['id', 'repository_id']).where('digest', '=', digest).executeTakeFirst();

/** Present in the database and in storage, and served to the repository. */
async function expectBlobKept(c: RegistryClient, name: string, digest: string) {
  expect(await blobRow(digest), digest).toBeDefined();
  expect(await inStorage(digest), digest).toBe(true);
  expect((await c.request('HEAD', `/v2/${name}/blobs/${digest}`)).statusCode).toBe(200);
}

async function expectBlobGone(digest: string) {
  expect(await blobRow(digest), digest).toBeUndefined();
  expect(await inStorage(digest), digest).toBe(false);
}

async function expectManifest(c: RegistryClient, name: string, digest: string, status: 200 | 404) {
  const res = await c.request('GET', `/v2/${name}/manifests/${digest}`, { headers: { accept: '*/*' } });
  expect(res.statusCode, `${digest}: ${res.text}`).toBe(status);
}

/** Makes rows look written `ago` ms earlier (setup for sweeps that run at the real time). */
async function backdateBlob(digest: string, ago: number) {
  const when = new Date(Date.now() - ago);
  await t.app.db.updateTable('blob').set({ last_used: when }).where('digest', '=', digest).execute();
  await sql`update repository_blob set created = ${when} where blob_id = (select id from blob where digest = ${digest})`.execute(t.app.db);
}

describe('what stays and what goes', () => {
  it('keeps a tagged image; once its tag is deleted, keeps it through the time-machine window, then removes it, bytes and all', async () => {
    const { name, c } = await newRepo();
    const img = makeImage({ layers: 2 });
    await c.pushImage(name, img, 'v1');

    await sweep(2 * HOUR);
    await expectManifest(c, name, img.manifest.digest, 200);
    for (const b of img.blobs) await expectBlobKept(c, name, b.descriptor.digest);
    // The upload links are past the grace period, but a manifest of the repository references the blobs.
    const links = await t.app.db.selectFrom('repository_blob').select('blob_id').where('repository_id', '=', (await manifestRow(img.manifest.digest))!.repository_id).execute();
    expect(links).toHaveLength(3);

    expect((await c.request('DELETE', `/v2/${name}/manifests/v1`)).statusCode).toBe(202);
    // Within the namespace's window (tag_expiration_s, two weeks by default) the tag can be restored.
    await sweep(2 * HOUR);
    await expectManifest(c, name, img.manifest.digest, 200);
    expect(await t.app.db.selectFrom('tag').select('id').where('name', '=', 'v1').where('manifest_id', '=', (await manifestRow(img.manifest.digest))!.id).execute()).toHaveLength(1);

    const r = await sweep(15 * DAY);
    expect(r.manifests).toBeGreaterThanOrEqual(1);
    expect(r.blobs).toBeGreaterThanOrEqual(3);
    await expectManifest(c, name, img.manifest.digest, 404);
    expect(await manifestRow(img.manifest.digest)).toBeUndefined();
    for (const b of img.blobs) await expectBlobGone(b.descriptor.digest);
    expectError(await c.request('GET', `/v2/${name}/blobs/${img.layers[0].descriptor.digest}`), 404, 'BLOB_UNKNOWN');
  });

  it("follows the namespace's own time-machine window", async () => {
    const bob = await makeUser(t);
    await t.app.db.updateTable('namespace').set({ tag_expiration_s: 0 }).where('id', '=', bob.id).execute();
    const { name, c } = await newRepo(bob);
    const img = makeImage();
    await c.pushImage(name, img, 'latest');
    expect((await c.request('DELETE', `/v2/${name}/manifests/latest`)).statusCode).toBe(202);
    await sweep(2 * HOUR);
    expect(await manifestRow(img.manifest.digest)).toBeUndefined();
    for (const b of img.blobs) await expectBlobGone(b.descriptor.digest);
  });

  it('keeps a manifest pushed by digest until its hidden tag expires', async () => {
    const { name, c, id } = await newRepo();
    const img = makeImage();
    await c.pushImage(name, img); // by digest: a hidden $temp tag for an hour
    await sweep(30 * MIN);
    await expectManifest(c, name, img.manifest.digest, 200);
    await sweep(2 * HOUR);
    await expectManifest(c, name, img.manifest.digest, 404);
    for (const b of img.blobs) await expectBlobGone(b.descriptor.digest);
    // The expired hidden tag went with it.
    expect(await t.app.db.selectFrom('tag').select('id').where('repository_id', '=', await id()).execute()).toEqual([]);
  });

  it('keeps a blob uploaded within the grace period; after it, an unreferenced blob goes with its link', async () => {
    const { name, c, id } = await newRepo();
    const bytes = randomBlob(2048);
    const digest = await c.pushBlob(name, bytes);
    const r1 = await sweep(30 * MIN);
    await expectBlobKept(c, name, digest);
    expect(r1.blobs).toBe(0);
    const r2 = await sweep(2 * HOUR);
    expect(r2.links).toBeGreaterThanOrEqual(1);
    expect(r2.blobs).toBeGreaterThanOrEqual(1);
    expect(r2.bytes).toBeGreaterThanOrEqual(bytes.length);
    await expectBlobGone(digest);
    expect(await t.app.db.selectFrom('repository_blob').select('blob_id').where('repository_id', '=', await id()).execute()).toEqual([]);
    expectError(await c.request('GET', `/v2/${name}/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
  });

  it('keeps a blob another repository references, and drops only the stale link of the one that never used it', async () => {
    const a = await newRepo();
    const b = await newRepo();
    const img = makeImage();
    const shared = img.layers[0];
    await a.c.pushBlob(a.name, shared.bytes);
    await b.c.pushImage(b.name, img, 'v1');
    await sweep(2 * HOUR);
    await expectBlobKept(b.c, b.name, shared.descriptor.digest);
    // Repository a never referenced it: its link is gone, so it no longer sees the blob.
    expectError(await a.c.request('GET', `/v2/${a.name}/blobs/${shared.descriptor.digest}`), 404, 'BLOB_UNKNOWN');
    expect(await t.app.db.selectFrom('repository_blob').select('blob_id').where('repository_id', '=', await a.id()).execute()).toEqual([]);
  });

  it('keeps referrers as long as their subject, and removes them after it', async () => {
    const { name, c } = await newRepo();
    const subject = makeImage();
    await c.pushImage(name, subject, 'app');
    const sbom = makeImage({ artifactType: 'application/vnd.example.sbom', subject: subject.manifest.descriptor, config: blobOf('{}', 'application/vnd.oci.empty.v1+json') });
    await c.pushImage(name, sbom); // by digest
    // A signature of the sbom: a referrer of a referrer.
    const sig = makeImage({ artifactType: 'application/vnd.example.sig', subject: sbom.manifest.descriptor, config: blobOf('{}', 'application/vnd.oci.empty.v1+json') });
    await c.pushImage(name, sig);
    // A referrer whose subject never came: only its hidden tag keeps it.
    const orphan = makeImage({ artifactType: 'application/vnd.example.sbom', subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: digestOf(randomBlob(10)), size: 10 } });
    await c.pushImage(name, orphan);

    await sweep(2 * HOUR);
    await expectManifest(c, name, sbom.manifest.digest, 200);
    await expectManifest(c, name, sig.manifest.digest, 200);
    await expectManifest(c, name, orphan.manifest.digest, 404);
    const listed = await c.request('GET', `/v2/${name}/referrers/${subject.manifest.digest}`);
    expect(listed.json().manifests.map((m: Descriptor) => m.digest)).toEqual([sbom.manifest.digest]);

    expect((await c.request('DELETE', `/v2/${name}/manifests/app`)).statusCode).toBe(202);
    await sweep(2 * HOUR);
    await expectManifest(c, name, sbom.manifest.digest, 200); // the subject is in its window still
    const r = await sweep(15 * DAY);
    expect(r.manifests).toBeGreaterThanOrEqual(3);
    for (const m of [subject, sbom, sig]) await expectManifest(c, name, m.manifest.digest, 404);
    for (const b of [...subject.blobs, ...sig.layers, ...sbom.layers]) await expectBlobGone(b.descriptor.digest);
  });

  it("removes an index's children after the index, but not a child something else keeps", async () => {
    const { name, c } = await newRepo();
    const amd = makeImage({ platform: { os: 'linux', architecture: 'amd64' } });
    const arm = makeImage({ platform: { os: 'linux', architecture: 'arm64' } });
    await c.pushImage(name, amd);
    await c.pushImage(name, arm, 'arm-only');
    const index = makeIndex([amd.manifest.descriptor, arm.manifest.descriptor]);
    await c.pushManifest(name, index, 'multi');
    // An index of the index: three levels.
    const outer = makeIndex([index.descriptor]);
    await c.pushManifest(name, outer, 'outer');

    await sweep(2 * HOUR);
    for (const m of [amd.manifest, arm.manifest, index, outer]) await expectManifest(c, name, m.digest, 200);

    // Untagged, the outer index keeps the inner one, which keeps its children.
    expect((await c.request('DELETE', `/v2/${name}/manifests/multi`)).statusCode).toBe(202);
    await sweep(15 * DAY);
    for (const m of [amd.manifest, index, outer]) await expectManifest(c, name, m.digest, 200);

    expect((await c.request('DELETE', `/v2/${name}/manifests/outer`)).statusCode).toBe(202);
    const r = await sweep(15 * DAY);
    expect(r.manifests).toBeGreaterThanOrEqual(3);
    for (const m of [amd.manifest, index, outer]) await expectManifest(c, name, m.digest, 404);
    for (const b of amd.blobs) await expectBlobGone(b.descriptor.digest);
    // Still tagged on its own.
    await expectManifest(c, name, arm.manifest.digest, 200);
    for (const b of arm.blobs) await expectBlobKept(c, name, b.descriptor.digest);
  });

  it('removes in bounded pages: a sweep with pages of 2 rows finds everything a single page would', async () => {
    const { name, c } = await newRepo();
    const images = Array.from({ length: 5 }, () => makeImage({ layers: 2 }));
    for (const img of images) await c.pushImage(name, img);
    const index = makeIndex(images.map((i) => i.manifest.descriptor));
    await c.pushManifest(name, index);
    const r = await collectGarbage({ db: t.app.db, storage: t.app.storage }, { graceS: GRACE_S, now: Date.now() + 2 * HOUR, pageSize: 2 });
    expect(r.manifests).toBeGreaterThanOrEqual(6);
    for (const img of images) {
      expect(await manifestRow(img.manifest.digest)).toBeUndefined();
      for (const b of img.blobs) await expectBlobGone(b.descriptor.digest);
    }
  });
});

describe('never racing a push', () => {
  /** A blob pushed, then unlinked (DELETE), and made older than the grace period. */
  async function oldUnlinkedBlob(r: { name: string; c: RegistryClient }) {
    const bytes = randomBlob(1500);
    const digest = await r.c.pushBlob(r.name, bytes);
    expect((await r.c.request('DELETE', `/v2/${r.name}/blobs/${digest}`)).statusCode).toBe(202);
    await backdateBlob(digest, 2 * HOUR);
    return { bytes, digest };
  }

  it('claim → sweep → complete: the claimed blob stays, and the push ends with it readable', async () => {
    const repo = await newRepo();
    const claimed = await oldUnlinkedBlob(repo);
    const control = await oldUnlinkedBlob(repo);
    const repoId = await repo.id();

    // The push's steps (src/registry/uploads.ts commit): bytes into an upload, claim, [sweep], complete, link.
    const state = await t.app.storage.startUpload(randomUUID());
    const appended = await t.app.storage.appendUpload(state, 0, Readable.from([claimed.bytes]));
    const row = await claimBlob(t.app.db, claimed.digest, claimed.bytes.length);
    expect(row).not.toBe('deleting');

    const r = await sweep(); // at the real time: the claim has just renewed the grace period
    expect(r.blobs).toBeGreaterThanOrEqual(1);
    await expectBlobGone(control.digest); // the same blob without a claim goes
    expect(await blobRow(claimed.digest)).toMatchObject({ deleting: false });

    await t.app.storage.completeUpload(appended.state, blobKey(claimed.digest));
    await linkBlob(t.app.db, repoId, (row as { id: number }).id);
    const get = await repo.c.request('GET', `/v2/${repo.name}/blobs/${claimed.digest}`);
    expect(get.statusCode).toBe(200);
    expect(get.body.equals(claimed.bytes)).toBe(true);
  });

  it('mark → push → finish: the push waits for the removal, then stores the blob again and it is readable', async () => {
    const repo = await newRepo();
    const { bytes, digest } = await oldUnlinkedBlob(repo);
    const id = (await blobRow(digest))!.id;

    // The sweep's first step: marked in its own transaction.
    const now = new Date();
    const marked = await t.app.db.transaction().execute((trx) => markBlobsDeleting(trx, [id], new Date(now.getTime() - GRACE_S * 1000), now));
    expect(marked.map((b) => b.digest)).toEqual([digest]);

    // A push of the same blob now: it finds the mark and waits (claimBlob → 'deleting', polling).
    let settled = false;
    const push = repo.c
      .request('POST', `/v2/${repo.name}/blobs/uploads/?digest=${digest}`, { headers: { 'content-length': String(bytes.length) }, body: bytes })
      .finally(() => (settled = true));
    await new Promise((r) => setTimeout(r, 400));
    expect(settled).toBe(false);
    expect(await claimBlob(t.app.db, digest, bytes.length)).toBe('deleting');

    // The sweep finishes: bytes, then row. The push goes on and stores the blob again.
    expect(await removeMarkedBlobs({ db: t.app.db, storage: t.app.storage }, marked)).toEqual({ count: 1, bytes: bytes.length });
    const res = await push;
    expect(res.statusCode, res.text).toBe(201);
    const row = await blobRow(digest);
    expect(row).toMatchObject({ deleting: false });
    expect(row!.id).not.toBe(id);
    expect(await inStorage(digest)).toBe(true);
    const get = await repo.c.request('GET', `/v2/${repo.name}/blobs/${digest}`);
    expect(get.statusCode).toBe(200);
    expect(get.body.equals(bytes)).toBe(true);
    // And a sweep now leaves it (just used).
    await sweep();
    await expectBlobKept(repo.c, repo.name, digest);
  });

  it('a manifest PUT refuses a blob being removed; pushed again, the manifest goes in', async () => {
    const repo = await newRepo();
    const img = makeImage();
    await repo.c.pushBlob(repo.name, img.config.bytes);
    await repo.c.pushBlob(repo.name, img.layers[0].bytes);
    const layer = img.layers[0].descriptor.digest;
    // The state a PUT can meet inside its transaction: it found the blob (linked), and meanwhile
    // the collector dropped the stale link and marked the blob (a mark is made only on unlinked blobs).
    const id = (await blobRow(layer))!.id;
    await t.app.db.updateTable('blob').set({ deleting: true }).where('id', '=', id).execute();
    expectError(await repo.c.putManifest(repo.name, 'v1', img.manifest), 400, 'MANIFEST_BLOB_UNKNOWN');
    await removeMarkedBlobs({ db: t.app.db, storage: t.app.storage }, [{ id, digest: layer, size: img.layers[0].bytes.length }]);
    await expectBlobGone(layer);
    await repo.c.pushBlob(repo.name, img.layers[0].bytes);
    expect((await repo.c.putManifest(repo.name, 'v1', img.manifest)).statusCode).toBe(201);
    await sweep(2 * HOUR);
    for (const b of img.blobs) await expectBlobKept(repo.c, repo.name, b.descriptor.digest);
  });

  it('finishes a removal a crashed collector left, once the mark is old enough', async () => {
    const repo = await newRepo();
    const { bytes, digest } = await oldUnlinkedBlob(repo);
    const id = (await blobRow(digest))!.id;
    const markedAt = new Date();
    await t.app.db.transaction().execute((trx) => markBlobsDeleting(trx, [id], new Date(markedAt.getTime() - GRACE_S * 1000), markedAt));
    // …and the collector died here. A sweep soon after leaves the mark to the collector that may still be at work.
    await sweep(ABANDONED_MARK_MS / 2);
    expect(await blobRow(digest)).toMatchObject({ deleting: true });
    expect(await inStorage(digest)).toBe(true);
    const r = await sweep(ABANDONED_MARK_MS + MIN);
    expect(r.blobs).toBeGreaterThanOrEqual(1);
    await expectBlobGone(digest);
    // Nothing is left in the way of a push.
    await repo.c.pushBlob(repo.name, bytes);
    await expectBlobKept(repo.c, repo.name, digest);
  });

  it.runIf(usingPostgres)('skips a blob a manifest PUT has locked instead of waiting for it (PostgreSQL: concurrent connections)', async () => {
    const repo = await newRepo();
    const { digest } = await oldUnlinkedBlob(repo);
    let release!: () => void;
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => (locked = r));
    const held = t.app.db.transaction().execute(async (trx) => {
      await trx.selectFrom('blob').select('id').where('digest', '=', digest).forShare().execute();
      locked();
      await new Promise<void>((r) => (release = r));
    });
    await isLocked;
    try {
      await sweep();
      expect(await blobRow(digest)).toMatchObject({ deleting: false });
      expect(await inStorage(digest)).toBe(true);
    } finally {
      release();
      await held;
    }
    await sweep();
    await expectBlobGone(digest);
  });
});

describe('repository deletion', () => {
  it('leaves no blob or upload bytes behind after the sweeps, and keeps what another repository uses', async () => {
    const doomed = await newRepo();
    const other = await newRepo();
    const amd = makeImage();
    const arm = makeImage({ platform: { os: 'linux', architecture: 'arm64' } });
    await doomed.c.pushImage(doomed.name, amd);
    await doomed.c.pushImage(doomed.name, arm);
    await doomed.c.pushManifest(doomed.name, makeIndex([amd.manifest.descriptor, arm.manifest.descriptor]), 'multi');
    const shared = makeImage({ config: amd.config });
    await other.c.pushImage(other.name, shared, 'v1');
    // An upload in progress: bytes in storage under uploads/<uuid>/.
    const location = await doomed.c.startUpload(doomed.name);
    expect((await doomed.c.patch(location, randomBlob(5000))).statusCode).toBe(202);
    const uuid = location.split('/').pop()!;
    expect(await t.app.storage.stat(uploadDataKey(uuid))).toEqual({ size: 5000 });

    const token = await tokenFor(t, alice, 'repo:admin');
    const del = await t.inject({ method: 'DELETE', url: `/api/v1/repository/${doomed.name}`, headers: bearer(token) });
    expect(del.statusCode, del.body).toBe(204);
    // Enqueued: the uploads' cancellation (with the delete) and a sweep (right after it).
    const jobs = await t.app.db.selectFrom('job').select(['queue', 'dedupe_key']).where('queue', 'in', [UPLOAD_CANCEL_QUEUE, GC_QUEUE]).execute();
    expect(jobs).toEqual(expect.arrayContaining([{ queue: UPLOAD_CANCEL_QUEUE, dedupe_key: null }, { queue: GC_QUEUE, dedupe_key: GC_SWEEP_KEY }]));

    // The blobs were used minutes ago: make them older than the grace period, as the next sweeps will see them.
    for (const b of [...amd.blobs, ...arm.blobs]) await backdateBlob(b.descriptor.digest, 2 * HOUR);
    expect(await t.app.jobs.runPending()).toBeGreaterThanOrEqual(2);
    expect(await t.app.storage.stat(uploadDataKey(uuid))).toBeUndefined();
    for (const b of [...amd.layers, ...arm.blobs]) await expectBlobGone(b.descriptor.digest);
    // The config blob the other repository's image uses stays.
    await expectBlobKept(other.c, other.name, amd.config.descriptor.digest);
    await expectManifest(other.c, other.name, shared.manifest.digest, 200);
  });
});

describe('scheduling', () => {
  const jobRows = (key: string) => t.app.db.selectFrom('job').selectAll().where('dedupe_key', '=', key).execute();
  let k = 0;
  const periodic = (intervalS = 600) => ({ queue: `test-periodic-${++k}`, key: `test:periodic:${k}`, intervalS });

  it('enqueues one job per interval boundary however many replicas tick', async () => {
    const job = periodic(600);
    const log = t.app.log;
    const replicas = [0, 1, 2].map(() => new Scheduler({ db: t.app.db, log, jobs: [job] }));
    for (let i = 0; i < 3; i++) await Promise.all(replicas.map((s) => s.tick(job)));
    const rows = await jobRows(job.key);
    expect(rows).toHaveLength(1);
    const at = new Date(rows[0].available_after).getTime();
    expect(at % 600_000).toBe(0);
    expect(at).toBeGreaterThan(Date.now());
    expect(at).toBeLessThanOrEqual(Date.now() + 600_000);

    // Once it has run (its row is gone), the next tick enqueues the next boundary's.
    await t.app.db.updateTable('job').set({ available_after: sql`now()` }).where('id', '=', rows[0].id).execute();
    const claimed = (await claim(t.app.db, [job.queue], 30))!;
    expect(claimed.id).toBe(rows[0].id);
    // While it runs, ticks add nothing.
    await Promise.all(replicas.map((s) => s.tick(job)));
    expect(await jobRows(job.key)).toHaveLength(1);
    expect(await complete(t.app.db, claimed)).toBe(true);
    await Promise.all(replicas.map((s) => s.tick(job)));
    const next = await jobRows(job.key);
    expect(next).toHaveLength(1);
    expect(next[0].id).not.toBe(rows[0].id);
    for (const s of replicas) await s.stop();
  });

  it('does not let a dead job hold the key', async () => {
    const job = periodic(600);
    const id = (await schedulePeriodic(t.app.db, { ...job, retries: 1 }))!;
    expect(await schedulePeriodic(t.app.db, job)).toBeUndefined();
    await t.app.db.updateTable('job').set({ available_after: sql`now()` }).where('id', '=', id).execute();
    const claimed = (await claim(t.app.db, [job.queue], 30))!;
    expect(await fail(t.app.db, claimed, new Error('storage down'), 0)).toEqual({ retrying: false, retriesRemaining: 0 });
    const next = await schedulePeriodic(t.app.db, job);
    expect(next).toBeDefined();
    expect(next).not.toBe(id);
    // The dead row is kept for diagnosis, without its key.
    expect(await t.app.db.selectFrom('job').select(['dedupe_key', 'last_error']).where('id', '=', id).executeTakeFirst()).toEqual({ dedupe_key: null, last_error: 'Error: storage down' });
  });

  it('requestNow pulls a waiting job forward, and leaves a running one alone', async () => {
    const job = periodic(3600);
    const id = (await schedulePeriodic(t.app.db, job))!;
    expect(await requestNow(t.app.db, job)).toBe(id);
    const row = (await jobRows(job.key))[0];
    expect(new Date(row.available_after).getTime()).toBeLessThanOrEqual(Date.now() + 1000);
    const claimed = (await claim(t.app.db, [job.queue], 30))!;
    expect(claimed.id).toBe(id);
    expect(await requestNow(t.app.db, job)).toBeUndefined();
    expect(await jobRows(job.key)).toHaveLength(1);
    await complete(t.app.db, claimed);
    // Nothing waiting: a new one, claimable now.
    const fresh = (await requestNow(t.app.db, job))!;
    expect(fresh).not.toBe(id);
    expect((await claim(t.app.db, [job.queue], 30))?.id).toBe(fresh);
  });

  it('an app running a worker schedules the sweeps and runs them', async () => {
    const w = await testApp({ JOBS_IN_PROCESS: true, JOB_POLL_INTERVAL: 1, GC_INTERVAL: 1 });
    try {
      const user = await makeUser(w);
      const name = `${user.username}/${uniqueName('repo')}`;
      const c = await RegistryClient.login(w, user, [repoScope(name)]);
      const digest = await c.pushBlob(name, randomBlob(700));
      const when = new Date(Date.now() - 2 * HOUR);
      await w.app.db.updateTable('blob').set({ last_used: when }).where('digest', '=', digest).execute();
      await w.app.db.updateTable('repository_blob').set({ created: when }).execute();
      const end = Date.now() + 15_000;
      // The row goes last (after the bytes).
      while (await w.app.db.selectFrom('blob').select('id').where('digest', '=', digest).executeTakeFirst()) {
        if (Date.now() > end) throw new Error('the periodic sweep did not remove the blob');
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(await w.app.storage.stat(blobKey(digest))).toBeUndefined();
    } finally {
      await w.close();
    }
  });
});

describe('gc command', () => {
  it.skipIf(usingPostgres)('runs one sweep and prints what it removed', async () => {
    const DATA_DIR = mkdtempSync(path.join(tmpdir(), 'gc-cli-'));
    const env = { DATA_DIR, LOG_LEVEL: 'silent', JOBS_IN_PROCESS: 'false' };
    const app = await buildApp(loadConfig(env));
    let digest: string;
    try {
      const user = await makeUser(app);
      const name = `${user.username}/${uniqueName('repo')}`;
      const c = new RegistryClient(injectSender(app), await registryToken(injectSender(app), user, [repoScope(name)], app.config.SERVER_HOSTNAME));
      digest = await c.pushBlob(name, randomBlob(1234));
      const when = new Date(Date.now() - 2 * HOUR);
      await app.db.updateTable('blob').set({ last_used: when }).where('digest', '=', digest).execute();
      await app.db.updateTable('repository_blob').set({ created: when }).execute();
    } finally {
      await app.close();
    }
    const { stdout } = await promisify(execFile)('node_modules/.bin/tsx', ['src/cli.ts', 'gc'], { env: { PATH: process.env.PATH, ...env }, timeout: 60_000 });
    expect(stdout).toContain('Removed 0 manifests, 1 blobs (1234 bytes), 1 expired blob links');
    const after = await buildApp(loadConfig(env));
    try {
      expect(await after.storage.stat(blobKey(digest))).toBeUndefined();
    } finally {
      await after.close();
    }
  });
});
