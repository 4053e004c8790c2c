// Fault tests for /v2 (issue 8, "Tests"): a server killed with SIGKILL in the middle of chunked
// uploads and restarted (each upload resumes at the recorded offset; no partial blob is ever
// served); an upload begun on one server and finished on another (two in-process servers on one
// PostgreSQL database and one storage directory; only with TEST_DATABASE_URL); a wrong digest at
// the final PUT; a manifest pointing at a missing blob; concurrent pushes of one tag, of manifests
// sharing blobs, of one blob to two repositories, and two PATCHes of one upload at once. Run them
// on PostgreSQL too: only there do transactions really run side by side.
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { request as httpRequest } from 'node:http';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanUp, runCli, startServer, stop, tempDataDir, type Server } from '../db/server-process.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { freshDatabase, usingPostgres } from '../helpers/database.js';
import { makeUser, uniqueName, type TestUser } from '../helpers/factories.js';
import {
  digestOf,
  expectError,
  httpSender,
  makeImage,
  manifestOf,
  randomBlob,
  registryToken,
  RegistryClient,
  repoScope,
} from '../helpers/registry.js';
import { blobKey, uploadDataKey } from '../../src/storage/paths.js';

let t: TestApp;
let alice: TestUser;

beforeAll(async () => {
  t = await testApp();
  alice = await makeUser(t);
});
afterAll(async () => {
  await t?.close();
  await cleanUp();
});

async function newRepo(app: TestApp = t, user: TestUser = alice): Promise<{ name: string; c: RegistryClient; repoId: () => Promise<number> }> {
  const name = `${user.username}/${uniqueName('repo')}`;
  const c = await RegistryClient.login(app, user, repoScope(name));
  const repoId = async () =>
    (
      await app.app.db
        .selectFrom('repository')
        .innerJoin('namespace', 'namespace.id', 'repository.namespace_id')
        .select('repository.id')
        .where('namespace.username', '=', user.username)
        .where('repository.name', '=', name.split('/')[1])
        .executeTakeFirstOrThrow()
    ).id;
  return { name, c, repoId };
}

const uuidOf = (location: string) => location.split('/').pop()!;
const storageRoot = (app: TestApp) => (app.config.STORAGE as { root: string }).root;

async function blobRows(app: TestApp, digest: string) {
  return app.app.db.selectFrom('blob').select(['id', 'size']).where('digest', '=', digest).execute();
}

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// The servers here run the embedded database whatever the pass, so the PostgreSQL pass skips them.
describe.skipIf(usingPostgres)('a server killed (SIGKILL) during chunked uploads', () => {
  // A real `serve` process on embedded PGlite in a temporary DATA_DIR (filesystem storage under it),
  // killed and restarted on the same DATA_DIR. SERVER_HOSTNAME is fixed, so the token issued before
  // the kill (signed by the instance key kept in the database) is still good after it. Two uploads
  // are caught by the one kill: `between` has no request in flight, `during` is half-way through
  // its third chunk.
  const env = { SERVER_HOSTNAME: 'registry.test' };
  // The filesystem driver writes in batches of about 1 MiB: chunks of 2 MiB put bytes on disk mid-chunk.
  const CHUNK = 2 * 1024 * 1024;
  const name = 'admin/resume';
  let dataDir: string;
  let server: Server | undefined;
  let token: string;
  let c: RegistryClient;
  const uploads = {} as Record<'between' | 'during', { bytes: Buffer; digest: string; location: string; recorded: number }>;
  const chunkOf = (bytes: Buffer, i: number) => bytes.subarray(i * CHUNK, Math.min((i + 1) * CHUNK, bytes.length));

  afterAll(async () => {
    if (server) await stop(server, 'SIGKILL');
  });

  it('while a chunk streams, status and reads show only what was recorded; after kill -9 and a restart, the same', async () => {
    dataDir = tempDataDir('upload-kill');
    // The database is created (initdb, migrations) and the user added by the CLI first: the first
    // `serve` on a fresh DATA_DIR does that inside the db plugin, which Fastify's 10 s plugin
    // time-out cuts short on a busy 2-core machine.
    const created = await runCli(['create-user', 'admin', '--password', 'password123'], { DATA_DIR: dataDir, ...env });
    expect(created.code, created.output).toBe(0);
    server = await startServer(dataDir, env);
    token = await registryToken(httpSender(server.url), { username: 'admin', password: 'password123' }, repoScope(name), env.SERVER_HOSTNAME);
    c = new RegistryClient(httpSender(server.url), token);

    for (const key of ['between', 'during'] as const) {
      const bytes = randomBlob(CHUNK * 4 + 1234);
      const location = await c.startUpload(name);
      expect((await c.patch(location, chunkOf(bytes, 0), { start: 0 })).statusCode).toBe(202);
      expect((await c.patch(location, chunkOf(bytes, 1), { start: CHUNK })).statusCode).toBe(202);
      uploads[key] = { bytes, digest: digestOf(bytes), location, recorded: 2 * CHUNK };
    }

    // The third chunk of `during` is three quarters sent when the server dies: its first bytes are
    // in the upload's file (beyond the recorded offset), and the request holds the upload.
    const u = uploads.during;
    const dataFile = path.join(dataDir, 'storage', uploadDataKey(uuidOf(u.location)));
    const inFlight = httpRequest(new URL(u.location, server.url), {
      method: 'PATCH',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream', 'content-length': String(CHUNK), 'content-range': `${u.recorded}-${u.recorded + CHUNK - 1}` },
    });
    const outcome = new Promise<string>((resolve) => {
      inFlight.on('response', (r) => resolve(`answered ${r.statusCode}`));
      inFlight.on('error', (e) => resolve(`error ${e.message}`));
    });
    inFlight.write(chunkOf(u.bytes, 2).subarray(0, (CHUNK * 3) / 4));
    await waitFor('the streamed bytes on disk', () => existsSync(dataFile) && statSync(dataFile).size > u.recorded);

    const check = async () => {
      for (const x of Object.values(uploads)) {
        const status = await c.request('GET', x.location);
        expect(status.statusCode).toBe(204);
        expect(status.header('range')).toBe(`0-${x.recorded - 1}`);
        expect(status.header('location')).toBe(x.location);
        expect((await c.request('HEAD', `/v2/${name}/blobs/${x.digest}`)).statusCode).toBe(404);
        expectError(await c.request('GET', `/v2/${name}/blobs/${x.digest}`), 404, 'BLOB_UNKNOWN');
      }
    };
    await check();

    server.child.kill('SIGKILL');
    expect(await server.exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect(await outcome).toMatch(/^error /);
    server = await startServer(dataDir, env);
    c = new RegistryClient(httpSender(server.url), token);
    await check();
  }, 120_000);

  /** Sends the rest from the recorded offset, the last chunk in the PUT; checks the stored blob. */
  async function finish(x: (typeof uploads)['between']) {
    expect((await c.patch(x.location, chunkOf(x.bytes, 3), { start: 3 * CHUNK })).statusCode).toBe(202);
    expectError(await c.request('GET', `/v2/${name}/blobs/${x.digest}`), 404, 'BLOB_UNKNOWN');
    const put = await c.put(x.location, x.digest, chunkOf(x.bytes, 4), { start: 4 * CHUNK });
    expect(put.statusCode, put.text).toBe(201);
    const got = await c.request('GET', `/v2/${name}/blobs/${x.digest}`);
    expect(got.statusCode).toBe(200);
    expect(digestOf(got.body)).toBe(x.digest);
    expect(got.body.equals(x.bytes)).toBe(true);
    expect(existsSync(path.join(dataDir, 'storage', blobKey(x.digest)))).toBe(true);
    expect(existsSync(path.join(dataDir, 'storage', 'uploads', uuidOf(x.location)))).toBe(false);
  }

  it('an upload the kill caught between chunks resumes at the recorded offset, and its blob has the right digest', async () => {
    const x = uploads.between;
    const res = await c.patch(x.location, chunkOf(x.bytes, 2), { start: x.recorded });
    expect(res.statusCode, res.text).toBe(202);
    expect(res.header('range')).toBe(`0-${3 * CHUNK - 1}`);
    await finish(x);
  });

  it('an upload the kill caught in the middle of a chunk resumes at the recorded offset: the dead request no longer holds it', async () => {
    // As a client does after a 416: ask where the upload stands, resend from there. The answer must
    // come within seconds: a hold left by a killed request must not outlive it by long.
    const x = uploads.during;
    const deadline = Date.now() + 10_000;
    let res = await c.patch(x.location, chunkOf(x.bytes, 2), { start: x.recorded });
    while (res.statusCode === 416 && Date.now() < deadline) {
      const status = await c.request('GET', x.location);
      // The server says the client is right where it should be: the 416 can only be the old hold.
      expect(status.header('range')).toBe(`0-${x.recorded - 1}`);
      await new Promise((r) => setTimeout(r, 250));
      res = await c.patch(x.location, chunkOf(x.bytes, 2), { start: x.recorded });
    }
    expect(res.statusCode, `resending the interrupted chunk at the recorded offset ${x.recorded}: ${res.statusCode} ${res.text}`).toBe(202);
    expect(res.header('range')).toBe(`0-${3 * CHUNK - 1}`);
    await finish(x);
    expect(await stop(server!)).toEqual({ code: 0, signal: null });
    server = undefined;
  }, 60_000);
});

describe.runIf(usingPostgres)('two servers on one PostgreSQL database and one storage directory', () => {
  it('finishes on one server an upload begun on the other; each serves what the other stored', async () => {
    const db = await freshDatabase();
    const storage = mkdtempSync(path.join(tmpdir(), 'quay-shared-storage-'));
    const a = await testApp({ STORAGE_PATH: storage }, db);
    const b = await testApp({ STORAGE_PATH: storage }, db);
    try {
      const user = await makeUser(a);
      const name = `${user.username}/${uniqueName('replica')}`;
      // A token issued by one replica is good on the other (one instance key, in the database).
      const token = await registryToken(a, user, repoScope(name));
      const onA = RegistryClient.inject(a, token);
      const onB = RegistryClient.inject(b, token);
      const bytes = randomBlob(3 * 100_000 + 7);
      const digest = digestOf(bytes);
      const location = await onA.startUpload(name);
      expect((await onA.patch(location, bytes.subarray(0, 100_000), { start: 0 })).statusCode).toBe(202);
      const status = await onB.request('GET', location);
      expect(status.statusCode).toBe(204);
      expect(status.header('range')).toBe('0-99999');
      expect((await onB.patch(location, bytes.subarray(100_000, 200_000), { start: 100_000 })).statusCode).toBe(202);
      // A chunk the other replica already took is refused on either.
      expect((await onA.patch(location, bytes.subarray(100_000, 200_000), { start: 100_000 })).statusCode).toBe(416);
      expect((await onA.patch(location, bytes.subarray(200_000, 300_000), { start: 200_000 })).statusCode).toBe(202);
      expectError(await onA.request('GET', `/v2/${name}/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
      const put = await onB.put(location, digest, bytes.subarray(300_000), { start: 300_000 });
      expect(put.statusCode, put.text).toBe(201);
      for (const c of [onA, onB]) {
        const got = await c.request('GET', `/v2/${name}/blobs/${digest}`);
        expect(got.statusCode).toBe(200);
        expect(got.body.equals(bytes)).toBe(true);
      }
      // A manifest pushed through one is pulled through the other.
      const image = makeImage();
      await onB.pushImage(name, image, 'v1');
      const m = await onA.request('GET', `/v2/${name}/manifests/v1`);
      expect(m.body.equals(image.manifest.bytes)).toBe(true);
    } finally {
      await a.close();
      await b.close();
      await db.close();
      rmSync(storage, { recursive: true, force: true });
    }
  });
});
if (!usingPostgres) {
  console.warn('[registry faults] SKIPPED: two servers on one database needs PostgreSQL; set TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test');
}

describe('a wrong digest at the final PUT', () => {
  it('400 DIGEST_INVALID; the session and its bytes are gone; nothing is visible under either digest', async () => {
    const { name, c } = await newRepo();
    const bytes = randomBlob(5000);
    const location = await c.startUpload(name);
    expect((await c.patch(location, bytes.subarray(0, 3000), { start: 0 })).statusCode).toBe(202);
    const claimed = digestOf(randomBlob(5000));
    expectError(await c.put(location, claimed, bytes.subarray(3000), { start: 3000 }), 400, 'DIGEST_INVALID');
    expectError(await c.request('GET', location), 404, 'BLOB_UPLOAD_UNKNOWN');
    expectError(await c.patch(location, bytes, { start: 0 }), 404, 'BLOB_UPLOAD_UNKNOWN');
    for (const d of [claimed, digestOf(bytes)]) {
      expectError(await c.request('GET', `/v2/${name}/blobs/${d}`), 404, 'BLOB_UNKNOWN');
      expect(await blobRows(t, d)).toEqual([]);
      expect(existsSync(path.join(storageRoot(t), blobKey(d)))).toBe(false);
    }
    expect(existsSync(path.join(storageRoot(t), 'uploads', uuidOf(location)))).toBe(false);
    expect(await t.app.db.selectFrom('blob_upload').select('id').where('uuid', '=', uuidOf(location)).execute()).toEqual([]);
  });
});

describe('a manifest pointing at a missing blob', () => {
  it('400 MANIFEST_BLOB_UNKNOWN; no manifest, tag or reference is stored; the same push succeeds once the blob is there', async () => {
    const { name, c, repoId } = await newRepo();
    const image = makeImage({ layers: 2 });
    await c.pushBlob(name, image.config.bytes);
    await c.pushBlob(name, image.layers[0].bytes);
    const e = expectError(await c.putManifest(name, 'v1', image.manifest), 400, 'MANIFEST_BLOB_UNKNOWN');
    expect(e.detail).toEqual({ digest: image.layers[1].descriptor.digest });
    const id = await repoId();
    expect(await t.app.db.selectFrom('manifest').select('id').where('repository_id', '=', id).execute()).toEqual([]);
    expect(await t.app.db.selectFrom('tag').select('id').where('repository_id', '=', id).execute()).toEqual([]);
    expectError(await c.request('GET', `/v2/${name}/manifests/${image.manifest.digest}`), 404, 'MANIFEST_UNKNOWN');
    expect((await c.request('GET', `/v2/${name}/tags/list`)).json().tags).toEqual([]);
    await c.pushBlob(name, image.layers[1].bytes);
    expect((await c.putManifest(name, 'v1', image.manifest)).statusCode).toBe(201);
  });
});

describe('concurrent pushes', () => {
  it('two (and four) pushes of one tag at once: all 201, the tag ends on one of them, one live lifetime, the others closed', async () => {
    const { name, c, repoId } = await newRepo();
    const id = await repoId();
    for (const n of [2, 2, 4]) {
      const tag = uniqueName('t');
      const images = Array.from({ length: n }, () => makeImage());
      for (const img of images) for (const b of img.blobs) await c.pushBlob(name, b.bytes);
      const results = await Promise.all(images.map((img) => c.putManifest(name, tag, img.manifest)));
      for (const r of results) expect(r.statusCode, r.text).toBe(201);
      const rows = await t.app.db.selectFrom('tag').selectAll().where('repository_id', '=', id).where('name', '=', tag).orderBy('id').execute();
      expect(rows).toHaveLength(n);
      const live = rows.filter((r) => r.lifetime_end_ms === null);
      expect(live).toHaveLength(1);
      for (const r of rows.filter((x) => x !== live[0])) {
        expect(r.lifetime_end_ms).toBeGreaterThanOrEqual(r.lifetime_start_ms);
        expect(r.lifetime_end_ms).toBeLessThanOrEqual(live[0].lifetime_start_ms);
      }
      // What the tag resolves to is the live lifetime's manifest, one of those pushed.
      const got = await c.request('GET', `/v2/${name}/manifests/${tag}`);
      const winner = images.find((img) => img.manifest.digest === got.header('docker-content-digest'));
      expect(winner).toBeDefined();
      const liveManifest = await t.app.db.selectFrom('manifest').select('digest').where('id', '=', live[0].manifest_id).executeTakeFirstOrThrow();
      expect(liveManifest.digest).toBe(winner!.manifest.digest);
      expect((await c.request('GET', `/v2/${name}/tags/list`)).json().tags.filter((x: string) => x === tag)).toEqual([tag]);
    }
  });

  it('manifests sharing blobs pushed at once (by tag and by digest, into one repository and into two): all 201', async () => {
    const one = await newRepo();
    const two = await newRepo();
    const both = await RegistryClient.login(t, alice, [repoScope(one.name), repoScope(two.name)]);
    for (let round = 0; round < 4; round++) {
      // Three images on one base layer, as images built FROM one base are.
      const base = makeImage();
      const images = [makeImage(), makeImage(), makeImage()].map((img) => ({
        ...img,
        manifest: manifestOf({ ...img.manifest.doc, layers: [base.layers[0].descriptor, ...img.layers.map((l) => l.descriptor)] }),
      }));
      for (const r of [one, two]) for (const b of [base.layers[0], ...images.flatMap((i) => i.blobs)]) await both.pushBlob(r.name, b.bytes);
      const results = await Promise.all([
        both.putManifest(one.name, `a${round}`, images[0].manifest),
        both.putManifest(two.name, `b${round}`, images[1].manifest),
        both.putManifest(one.name, images[2].manifest.digest, images[2].manifest),
        both.putManifest(two.name, images[2].manifest.digest, images[2].manifest),
      ]);
      expect(results.map((r) => r.statusCode), results.map((r) => r.text).join(' ')).toEqual([201, 201, 201, 201]);
      expect((await both.request('GET', `/v2/${one.name}/manifests/a${round}`)).body.equals(images[0].manifest.bytes)).toBe(true);
      expect((await both.request('GET', `/v2/${two.name}/manifests/${images[2].manifest.digest}`)).statusCode).toBe(200);
    }
  });

  it('one blob pushed to two repositories at once, and twice to one (monolithic and chunked): each sees it, one blob row, one stored object', async () => {
    const one = await newRepo();
    const two = await newRepo();
    for (const mode of ['monolithic', 'chunked'] as const) {
      const bytes = randomBlob(200_000);
      const digest = digestOf(bytes);
      const push = async (r: { name: string; c: RegistryClient }) => {
        if (mode === 'monolithic') return r.c.pushBlob(r.name, bytes);
        const location = await r.c.startUpload(r.name);
        expect((await r.c.patch(location, bytes.subarray(0, 100_000), { start: 0 })).statusCode).toBe(202);
        const res = await r.c.put(location, digest, bytes.subarray(100_000), { start: 100_000 });
        expect(res.statusCode, res.text).toBe(201);
        return digest;
      };
      // Twice into the first repository as well.
      expect(await Promise.all([push(one), push(two), push(one)])).toEqual([digest, digest, digest]);
      for (const r of [one, two]) {
        const got = await r.c.request('GET', `/v2/${r.name}/blobs/${digest}`);
        expect(got.statusCode).toBe(200);
        expect(got.body.equals(bytes)).toBe(true);
      }
      const rows = await blobRows(t, digest);
      expect(rows).toHaveLength(1);
      expect(rows[0].size).toBe(bytes.length);
      const links = await t.app.db.selectFrom('repository_blob').select('repository_id').where('blob_id', '=', rows[0].id).execute();
      expect(links.map((l) => l.repository_id).sort()).toEqual([await one.repoId(), await two.repoId()].sort());
      expect(statSync(path.join(storageRoot(t), blobKey(digest))).size).toBe(bytes.length);
    }
  });

  it('two PATCHes of one upload at once: the one that holds the upload wins, the other gets 416 with the Range, the blob is right', async () => {
    const { name, c } = await newRepo();
    const bytes = randomBlob(300_000);
    const digest = digestOf(bytes);
    const location = await c.startUpload(name);
    expect((await c.patch(location, bytes.subarray(0, 100_000), { start: 0 })).statusCode).toBe(202);

    // The first PATCH streams its body slowly; the second arrives while the first holds the upload.
    const body = new PassThrough();
    const first = c.request('PATCH', location, {
      headers: { 'content-type': 'application/octet-stream', 'content-length': '100000', 'content-range': '100000-199999' },
      body,
    });
    body.write(bytes.subarray(100_000, 150_000));
    await waitFor('the first PATCH to hold the upload', async () => {
      const row = await t.app.db.selectFrom('blob_upload').select('lease_token').where('uuid', '=', uuidOf(location)).executeTakeFirst();
      return !!row?.lease_token;
    });
    const second = await c.patch(location, bytes.subarray(100_000, 200_000), { start: 100_000 });
    expect(second.statusCode).toBe(416);
    expect(second.header('range')).toBe('0-99999');
    expect(second.header('location')).toBe(location);
    body.end(bytes.subarray(150_000, 200_000));
    const won = await first;
    expect(won.statusCode, won.text).toBe(202);
    expect(won.header('range')).toBe('0-199999');

    // And racing outright: both send the whole chunk at once; exactly one is taken.
    const race = await Promise.all([0, 1].map(() => c.patch(location, bytes.subarray(200_000), { start: 200_000 })));
    expect(race.map((r) => r.statusCode).sort()).toEqual([202, 416]);
    const status = await c.request('GET', location);
    expect(status.header('range')).toBe(`0-${bytes.length - 1}`);
    const put = await c.put(location, digest);
    expect(put.statusCode, put.text).toBe(201);
    const got = await c.request('GET', `/v2/${name}/blobs/${digest}`);
    expect(got.body.equals(bytes)).toBe(true);
  });
});
