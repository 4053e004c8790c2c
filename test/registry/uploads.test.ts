// Blob uploads and blob reads on /v2 (OCI distribution spec "Pushing blobs", "Pushing a blob in
// chunks", "Mounting a blob from another repository", "Pulling blobs", "Deleting Blobs"), checked
// from the spec's text and what the conformance suites (v1.1.1 and main) exercise: monolithic
// POST, POST+PUT, chunked PATCHes with and without Content-Range, out-of-order and repeated
// chunks (416 with the Range received), the last chunk in the PUT, status, cancel, mounts, sha256
// and sha512, empty blobs, Range reads. Tokens come from /v2/auth as clients get them.
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp, type TestApp } from '../helpers/app.js';
import { makeUser, uniqueName, type TestUser } from '../helpers/factories.js';
import { digestOf, expectError, httpSender, makeImage, randomBlob, registryToken, RegistryClient, repoScope, type RegistryResponse } from '../helpers/registry.js';

let t: TestApp;
let alice: TestUser;
let bob: TestUser;

beforeAll(async () => {
  t = await testApp();
  alice = await makeUser(t);
  bob = await makeUser(t);
});
afterAll(() => t?.close());

/** A new repository of alice's (created by the push scope at /v2/auth) and a client for it. */
async function newRepo(extraScopes: string[] = [], owner: TestUser = alice): Promise<{ name: string; c: RegistryClient }> {
  const name = `${owner.username}/${uniqueName('repo')}`;
  const c = await RegistryClient.login(t, owner, [repoScope(name), ...extraScopes]);
  return { name, c };
}

/** The session headers every upload answer carries (spec: Location; Range `0-<last byte>`). */
function expectSession(res: RegistryResponse, name: string, received: number) {
  const location = res.header('location')!;
  expect(location).toMatch(new RegExp(`^/v2/${name}/blobs/uploads/[0-9a-f-]{36}$`));
  expect(res.header('docker-upload-uuid')).toBe(location.split('/').pop());
  expect(res.header('range')).toBe(`0-${Math.max(received - 1, 0)}`);
  return location;
}

async function expectBlob(c: RegistryClient, name: string, digest: string, bytes: Buffer) {
  const head = await c.request('HEAD', `/v2/${name}/blobs/${digest}`);
  expect(head.statusCode).toBe(200);
  expect(head.header('docker-content-digest')).toBe(digest);
  expect(head.header('content-length')).toBe(String(bytes.length));
  expect(head.body.length).toBe(0);
  const get = await c.request('GET', `/v2/${name}/blobs/${digest}`);
  expect(get.statusCode).toBe(200);
  expect(get.header('docker-content-digest')).toBe(digest);
  expect(get.header('content-type')).toBe('application/octet-stream');
  expect(get.header('content-length')).toBe(String(bytes.length));
  expect(get.body.equals(bytes)).toBe(true);
}

function expectCreated(res: RegistryResponse, name: string, digest: string) {
  expect(res.statusCode, res.text).toBe(201);
  expect(res.header('location')).toBe(`/v2/${name}/blobs/${digest}`);
  expect(res.header('docker-content-digest')).toBe(digest);
}

describe('monolithic pushes', () => {
  for (const algorithm of ['sha256', 'sha512'] as const) {
    it(`POST ?digest= (${algorithm}) stores the blob at once: 201 with Location and Docker-Content-Digest`, async () => {
      const { name, c } = await newRepo();
      const bytes = randomBlob(4096);
      const digest = digestOf(bytes, algorithm);
      const res = await c.request('POST', `/v2/${name}/blobs/uploads/?digest=${digest}`, {
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) },
        body: bytes,
      });
      expectCreated(res, name, digest);
      expect(res.header('content-length')).toBe('0');
      await expectBlob(c, name, digest, bytes);
    });

    it(`POST, then PUT ?digest= (${algorithm}) with the whole blob`, async () => {
      const { name, c } = await newRepo();
      const post = await c.request('POST', `/v2/${name}/blobs/uploads/`, { headers: { 'content-length': '0' } });
      expect(post.statusCode).toBe(202);
      const location = expectSession(post, name, 0);
      const bytes = randomBlob(3000);
      const digest = digestOf(bytes, algorithm);
      expectCreated(await c.put(location, digest, bytes), name, digest);
      await expectBlob(c, name, digest, bytes);
      // The session is over.
      expectError(await c.request('GET', location), 404, 'BLOB_UPLOAD_UNKNOWN');
    });
  }

  it('pushes and serves the empty blob', async () => {
    const { name, c } = await newRepo();
    const empty = Buffer.alloc(0);
    for (const algorithm of ['sha256', 'sha512'] as const) {
      const digest = await c.pushBlob(name, empty, algorithm);
      await expectBlob(c, name, digest, empty);
      // No byte can be asked of it.
      const r = await c.request('GET', `/v2/${name}/blobs/${digest}`, { headers: { range: 'bytes=0-0' } });
      expect(r.statusCode).toBe(416);
    }
    // POST then PUT with no body at all.
    const location = await c.startUpload(name);
    const digest = digestOf(empty);
    expectCreated(await c.put(location, digest), name, digest);
  });

  it('a wrong digest or a body shorter than declared stores nothing', async () => {
    const { name, c } = await newRepo();
    const bytes = randomBlob(1000);
    const wrong = digestOf(randomBlob(10));
    const res = await c.request('POST', `/v2/${name}/blobs/uploads/?digest=${wrong}`, { headers: { 'content-length': String(bytes.length) }, body: bytes });
    expectError(res, 400, 'DIGEST_INVALID');
    expect((await c.request('HEAD', `/v2/${name}/blobs/${wrong}`)).statusCode).toBe(404);
    expect((await c.request('HEAD', `/v2/${name}/blobs/${digestOf(bytes)}`)).statusCode).toBe(404);
  });

  it('refuses a malformed digest or an unsupported algorithm with 400 DIGEST_INVALID', async () => {
    const { name, c } = await newRepo();
    for (const digest of ['sha256:abc', 'md5:d41d8cd98f00b204e9800998ecf8427e', `SHA256:${'a'.repeat(64)}`, 'garbage', '']) {
      const res = await c.request('POST', `/v2/${name}/blobs/uploads/?digest=${encodeURIComponent(digest)}`, { headers: { 'content-length': '3' }, body: 'abc' });
      expectError(res, 400, 'DIGEST_INVALID');
    }
    expectError(await c.request('POST', `/v2/${name}/blobs/uploads/?digest-algorithm=md5`, { headers: { 'content-length': '0' } }), 400, 'DIGEST_INVALID');
  });
});

describe('chunked uploads', () => {
  const CHUNK = 1024;
  const split = (b: Buffer) => Array.from({ length: Math.ceil(b.length / CHUNK) }, (_, i) => b.subarray(i * CHUNK, (i + 1) * CHUNK));

  it('PATCHes chunks in order with Content-Range (202, Range 0-<end>), reports status (204), PUT completes (201)', async () => {
    const { name, c } = await newRepo();
    const bytes = randomBlob(CHUNK * 3 - 5);
    let location = await c.startUpload(name);
    let received = 0;
    for (const chunk of split(bytes)) {
      const res = await c.patch(location, chunk, { start: received });
      expect(res.statusCode, res.text).toBe(202);
      received += chunk.length;
      location = expectSession(res, name, received);
      expect(res.header('content-length')).toBe('0');
      const status = await c.request('GET', location);
      expect(status.statusCode).toBe(204);
      expectSession(status, name, received);
    }
    const digest = digestOf(bytes);
    expectCreated(await c.put(location, digest), name, digest);
    await expectBlob(c, name, digest, bytes);
    expectError(await c.request('GET', location), 404, 'BLOB_UPLOAD_UNKNOWN');
  });

  it('sends the last chunk in the PUT, with its Content-Range', async () => {
    const { name, c } = await newRepo();
    const bytes = randomBlob(CHUNK * 3 - 5);
    const chunks = split(bytes);
    const location = await c.startUpload(name);
    expect((await c.patch(location, chunks[0], { start: 0 })).statusCode).toBe(202);
    expect((await c.patch(location, chunks[1], { start: CHUNK })).statusCode).toBe(202);
    const digest = digestOf(bytes);
    expectCreated(await c.put(location, digest, chunks[2], { start: 2 * CHUNK }), name, digest);
    await expectBlob(c, name, digest, bytes);
  });

  it('appends chunks sent without Content-Range (a streamed upload), in arrival order', async () => {
    const { name, c } = await newRepo();
    const bytes = randomBlob(CHUNK * 3 - 5);
    const location = await c.startUpload(name);
    let received = 0;
    for (const chunk of split(bytes)) {
      const res = await c.patch(location, chunk, false);
      expect(res.statusCode).toBe(202);
      received += chunk.length;
      expectSession(res, name, received);
    }
    // Last chunk without Content-Range in a PUT too.
    const more = randomBlob(100);
    const whole = Buffer.concat([bytes, more]);
    expectCreated(await c.put(location, digestOf(whole), more), name, digestOf(whole));
    await expectBlob(c, name, digestOf(whole), whole);
  });

  it('takes a streamed PATCH (Transfer-Encoding: chunked, no length, no range) over HTTP, as docker sends one', async () => {
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = t.app.server.address() as AddressInfo;
    const { name, c: injected } = await newRepo();
    const c = new RegistryClient(httpSender(`http://127.0.0.1:${port}`), injected.token);
    const bytes = randomBlob(3 * 1024 * 1024 + 17);
    const location = await c.startUpload(name);
    const body = new PassThrough();
    const pending = c.request('PATCH', location, { headers: { 'content-type': 'application/octet-stream' }, body });
    for (let at = 0; at < bytes.length; at += 100_000) body.write(bytes.subarray(at, at + 100_000));
    body.end();
    const res = await pending;
    expect(res.statusCode, res.text).toBe(202);
    expectSession(res, name, bytes.length);
    expectCreated(await c.put(location, digestOf(bytes)), name, digestOf(bytes));
    await expectBlob(c, name, digestOf(bytes), bytes);
    // A streamed monolithic POST too.
    const more = randomBlob(500_000);
    const post = new PassThrough();
    const p = c.request('POST', `/v2/${name}/blobs/uploads/?digest=${digestOf(more, 'sha512')}`, { body: post });
    post.end(more);
    expectCreated(await p, name, digestOf(more, 'sha512'));
  });

  it('answers a chunk that skips ahead with 416, the Range received and the Location; the upload goes on', async () => {
    const { name, c } = await newRepo();
    const bytes = randomBlob(CHUNK * 3 - 5);
    const chunks = split(bytes);
    const location = await c.startUpload(name);
    expect((await c.patch(location, chunks[0], { start: 0 })).statusCode).toBe(202);
    const skip = await c.patch(location, chunks[2], { start: 2 * CHUNK });
    expect(skip.statusCode).toBe(416);
    expect(skip.json().errors[0].code).toBe('RANGE_INVALID');
    expect(expectSession(skip, name, CHUNK)).toBe(location);
    // GET tells where it stands; nothing of the refused chunk was kept.
    const status = await c.request('GET', location);
    expect(status.statusCode).toBe(204);
    expect(status.header('range')).toBe(`0-${CHUNK - 1}`);
    expect((await c.patch(location, chunks[1], { start: CHUNK })).statusCode).toBe(202);
    expect((await c.patch(location, chunks[2], { start: 2 * CHUNK })).statusCode).toBe(202);
    const digest = digestOf(bytes);
    expectCreated(await c.put(location, digest), name, digest);
    await expectBlob(c, name, digest, bytes);
  });

  it('answers a repeated chunk (back to 0) with 416 and keeps the bytes once', async () => {
    const { name, c } = await newRepo();
    const bytes = randomBlob(CHUNK * 2);
    const [a, b] = split(bytes);
    const location = await c.startUpload(name);
    expect((await c.patch(location, a, { start: 0 })).statusCode).toBe(202);
    const again = await c.patch(location, a, { start: 0 });
    expect(again.statusCode).toBe(416);
    expect(again.header('range')).toBe(`0-${CHUNK - 1}`);
    // A first chunk that does not start at 0 is out of order too.
    const fresh = await c.startUpload(name);
    expect((await c.patch(fresh, a, { start: 5 })).statusCode).toBe(416);
    // An out-of-order last chunk in the PUT: 416, and the session stays.
    const put = await c.put(location, digestOf(bytes), b, { start: CHUNK + 1 });
    expect(put.statusCode).toBe(416);
    expect(put.header('range')).toBe(`0-${CHUNK - 1}`);
    expectCreated(await c.put(location, digestOf(bytes), b, { start: CHUNK }), name, digestOf(bytes));
    await expectBlob(c, name, digestOf(bytes), bytes);
  });

  it('refuses a malformed Content-Range (400) and one that disagrees with Content-Length (400 SIZE_INVALID)', async () => {
    const { name, c } = await newRepo();
    const location = await c.startUpload(name);
    const chunk = randomBlob(100);
    for (const range of ['0-', 'a-b', '10-5', '0-99-1', '-1-99']) {
      const res = await c.request('PATCH', location, { headers: { 'content-range': range, 'content-length': '100' }, body: chunk });
      expect(res.statusCode, range).toBe(400);
      expect(res.json().errors[0].code).toBe('INVALID_REQUEST');
    }
    expectError(await c.request('PATCH', location, { headers: { 'content-range': '0-49', 'content-length': '100' }, body: chunk }), 400, 'SIZE_INVALID');
    // Nothing was recorded.
    expect((await c.request('GET', location)).header('range')).toBe('0-0');
    expect((await c.patch(location, chunk, { start: 0 })).statusCode).toBe(202);
  });

  it('verifies a sha512 digest across chunks (no digest-algorithm on POST: read back), and honours digest-algorithm when given', async () => {
    const { name, c } = await newRepo();
    const bytes = randomBlob(CHUNK * 3 - 5);
    const chunks = split(bytes);
    const location = await c.startUpload(name);
    let at = 0;
    for (const chunk of chunks) {
      expect((await c.patch(location, chunk, { start: at })).statusCode).toBe(202);
      at += chunk.length;
    }
    const digest = digestOf(bytes, 'sha512');
    expectCreated(await c.put(location, digest), name, digest);
    await expectBlob(c, name, digest, bytes);

    // The last chunk in the PUT itself, with a sha512 digest: appended, then read back whole.
    const more = randomBlob(CHUNK + 7);
    const withBody = await c.startUpload(name);
    expect((await c.patch(withBody, more.subarray(0, CHUNK), { start: 0 })).statusCode).toBe(202);
    expectCreated(await c.put(withBody, digestOf(more, 'sha512'), more.subarray(CHUNK), { start: CHUNK }), name, digestOf(more, 'sha512'));
    await expectBlob(c, name, digestOf(more, 'sha512'), more);

    // A wrong sha512 digest: refused after the read-back, the session ends, nothing is visible.
    const wrong = await c.startUpload(name);
    const third = randomBlob(3000);
    expect((await c.patch(wrong, third, { start: 0 })).statusCode).toBe(202);
    const liar = digestOf(randomBlob(10), 'sha512');
    expectError(await c.put(wrong, liar), 400, 'DIGEST_INVALID');
    expectError(await c.request('GET', wrong), 404, 'BLOB_UPLOAD_UNKNOWN');
    expectError(await c.request('GET', `/v2/${name}/blobs/${digestOf(third, 'sha512')}`), 404, 'BLOB_UNKNOWN');

    // Declared sha512 on POST: hashed as sha512 on the way; a sha256 commit is read back instead.
    const declared = await c.startUpload(name, '?digest-algorithm=sha512');
    const other = randomBlob(2000);
    expect((await c.patch(declared, other, { start: 0 })).statusCode).toBe(202);
    expectCreated(await c.put(declared, digestOf(other, 'sha256')), name, digestOf(other, 'sha256'));
    const again = await c.startUpload(name, '?digest-algorithm=sha512');
    expect((await c.patch(again, other, { start: 0 })).statusCode).toBe(202);
    expectCreated(await c.put(again, digestOf(other, 'sha512')), name, digestOf(other, 'sha512'));
  });

  it('PUT without a digest is refused (400 DIGEST_INVALID) and the session stays', async () => {
    const { name, c } = await newRepo();
    const location = await c.startUpload(name);
    const bytes = randomBlob(500);
    expect((await c.patch(location, bytes, { start: 0 })).statusCode).toBe(202);
    expectError(await c.request('PUT', location, { headers: { 'content-length': '0' } }), 400, 'DIGEST_INVALID');
    expect((await c.request('GET', location)).statusCode).toBe(204);
    expectCreated(await c.put(location, digestOf(bytes)), name, digestOf(bytes));
  });

  it('cancels with DELETE (204): the session is gone and nothing is visible', async () => {
    const { name, c } = await newRepo();
    const location = await c.startUpload(name);
    const bytes = randomBlob(500);
    expect((await c.patch(location, bytes, { start: 0 })).statusCode).toBe(202);
    const del = await c.request('DELETE', location, { headers: { 'content-length': '0' } });
    expect(del.statusCode).toBe(204);
    expectError(await c.request('GET', location), 404, 'BLOB_UPLOAD_UNKNOWN');
    expectError(await c.patch(location, bytes, { start: 500 }), 404, 'BLOB_UPLOAD_UNKNOWN');
    expectError(await c.put(location, digestOf(bytes)), 404, 'BLOB_UPLOAD_UNKNOWN');
    expectError(await c.request('DELETE', location), 404, 'BLOB_UPLOAD_UNKNOWN');
    expect((await c.request('HEAD', `/v2/${name}/blobs/${digestOf(bytes)}`)).statusCode).toBe(404);
  });

  it('knows no session by another id, or from another repository', async () => {
    const { name, c } = await newRepo();
    const other = await newRepo();
    const location = await other.c.startUpload(other.name);
    const uuid = location.split('/').pop();
    for (const id of ['00000000-0000-0000-0000-000000000000', 'not-a-uuid', 'x'.repeat(36)]) {
      expectError(await c.request('GET', `/v2/${name}/blobs/uploads/${id}`), 404, 'BLOB_UPLOAD_UNKNOWN');
    }
    // The session of `other` cannot be reached through `name`, even by a token for both.
    const both = await RegistryClient.login(t, alice, [repoScope(name), repoScope(other.name)]);
    expectError(await both.request('GET', `/v2/${name}/blobs/uploads/${uuid}`), 404, 'BLOB_UPLOAD_UNKNOWN');
    expect((await both.request('GET', location)).statusCode).toBe(204);
  });

  it('needs push: a pull-only token gets 401 with the scope to ask for', async () => {
    const { name, c } = await newRepo();
    const location = await c.startUpload(name);
    const reader = await RegistryClient.login(t, alice, repoScope(name, 'pull'));
    for (const [method, url] of [['POST', `/v2/${name}/blobs/uploads/`], ['GET', location], ['PATCH', location], ['DELETE', location]] as const) {
      const res = await reader.request(method, url, { headers: { 'content-length': '0' } });
      expectError(res, 401, 'UNAUTHORIZED');
      expect(res.header('www-authenticate')).toContain(`scope="repository:${name}:pull,push"`);
    }
  });
});

describe('cross-repository mounts', () => {
  it('mounts a blob from a repository the token may read: 201 with Location and Docker-Content-Digest', async () => {
    const source = await newRepo();
    const bytes = randomBlob(700);
    const digest = await source.c.pushBlob(source.name, bytes);
    const { name, c } = await newRepo([repoScope(source.name, 'pull')]);
    const res = await c.request('POST', `/v2/${name}/blobs/uploads/?mount=${digest}&from=${source.name}`, { headers: { 'content-length': '0' } });
    expectCreated(res, name, digest);
    await expectBlob(c, name, digest, bytes);
    // sha512 too.
    const d512 = await source.c.pushBlob(source.name, bytes, 'sha512');
    expectCreated(await c.request('POST', `/v2/${name}/blobs/uploads/?mount=${d512}&from=${source.name}`), name, d512);
  });

  it('mounts from a public repository of another user', async () => {
    const source = await newRepo([], bob);
    const digest = await source.c.pushBlob(source.name, randomBlob(100));
    await t.app.db.updateTable('repository').set({ visibility: 'public' }).where('name', '=', source.name.split('/')[1]).execute();
    const { name, c } = await newRepo();
    expectCreated(await c.request('POST', `/v2/${name}/blobs/uploads/?mount=${digest}&from=${source.name}`), name, digest);
  });

  it('falls back to a new session (202) when the source is not readable, lacks the blob, or does not exist', async () => {
    const bobs = await newRepo([], bob);
    const secret = await bobs.c.pushBlob(bobs.name, randomBlob(100));
    const mine = await newRepo();
    const notThere = digestOf(randomBlob(10));
    await mine.c.pushBlob(mine.name, randomBlob(10));
    const { name, c } = await newRepo([repoScope(bobs.name, 'pull'), repoScope(mine.name, 'pull')]);
    // Not allowed to read bob's private repository (the token was downscoped), a blob not in the source,
    // a source that does not exist, a malformed digest, a mount without `from`.
    for (const q of [
      `mount=${secret}&from=${bobs.name}`,
      `mount=${notThere}&from=${mine.name}`,
      `mount=${secret}&from=${alice.username}/${uniqueName('none')}`,
      `mount=sha256:nope&from=${mine.name}`,
      `mount=${secret}`,
    ]) {
      const res = await c.request('POST', `/v2/${name}/blobs/uploads/?${q}`, { headers: { 'content-length': '0' } });
      expect(res.statusCode, q).toBe(202);
      expectSession(res, name, 0);
    }
    expect((await c.request('HEAD', `/v2/${name}/blobs/${secret}`)).statusCode).toBe(404);
    // A token without the source's scope cannot mount even from alice's own repository.
    const digest = await mine.c.pushBlob(mine.name, randomBlob(20));
    const narrow = await newRepo();
    expect((await narrow.c.request('POST', `/v2/${narrow.name}/blobs/uploads/?mount=${digest}&from=${mine.name}`)).statusCode).toBe(202);
  });
});

describe('blob reads', () => {
  let name: string;
  let c: RegistryClient;
  let bytes: Buffer;
  let digest: string;
  beforeAll(async () => {
    ({ name, c } = await newRepo());
    bytes = randomBlob(2048);
    digest = await c.pushBlob(name, bytes);
  });

  const ranged = (range: string) => c.request('GET', `/v2/${name}/blobs/${digest}`, { headers: { range } });

  it('serves byte ranges with 206, Content-Range and Content-Length (the conformance suite’s cases)', async () => {
    const cases: [string, number, number][] = [
      ['bytes=500-1499', 500, 1499],
      ['bytes=500-', 500, 2047],
      ['bytes=-500', 1548, 2047],
      ['bytes=2000-5000', 2000, 2047],
      ['bytes=0-0', 0, 0],
      ['bytes=-5000', 0, 2047],
    ];
    for (const [range, start, end] of cases) {
      const res = await ranged(range);
      expect(res.statusCode, range).toBe(206);
      expect(res.header('content-range'), range).toBe(`bytes ${start}-${end}/2048`);
      expect(res.header('content-length'), range).toBe(String(end - start + 1));
      expect(res.header('docker-content-digest')).toBe(digest);
      expect(res.body.equals(bytes.subarray(start, end + 1)), range).toBe(true);
    }
  });

  it('answers a range beyond the blob with 416 and Content-Range bytes */<size>', async () => {
    for (const range of ['bytes=5000-10000', 'bytes=2048-', 'bytes=-0']) {
      const res = await ranged(range);
      expect(res.statusCode, range).toBe(416);
      expect(res.header('content-range'), range).toBe('bytes */2048');
    }
  });

  it('ignores a Range it cannot parse (RFC 9110 §14.2): the whole blob, 200', async () => {
    for (const range of ['items=0-5', 'bytes=a-b', 'bytes=1-2,5-6', 'bytes=-', 'garbage']) {
      const res = await ranged(range);
      expect(res.statusCode, range).toBe(200);
      expect(res.body.equals(bytes), range).toBe(true);
    }
  });

  it('answers 404 BLOB_UNKNOWN for a blob not in this repository, and 400 DIGEST_INVALID for a malformed digest', async () => {
    expectError(await c.request('GET', `/v2/${name}/blobs/${digestOf(randomBlob(5))}`), 404, 'BLOB_UNKNOWN');
    // Stored, but for another repository only.
    const other = await newRepo();
    expectError(await other.c.request('GET', `/v2/${other.name}/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
    expect((await other.c.request('HEAD', `/v2/${other.name}/blobs/${digest}`)).statusCode).toBe(404);
    expectError(await c.request('GET', `/v2/${name}/blobs/sha256:xyz`), 400, 'DIGEST_INVALID');
  });

  it('DELETE removes the repository’s link (202); a blob a manifest uses cannot be deleted', async () => {
    const { name: repo, c: rc } = await newRepo();
    const b = randomBlob(64);
    const d = await rc.pushBlob(repo, b);
    const del = await rc.request('DELETE', `/v2/${repo}/blobs/${d}`);
    expect(del.statusCode).toBe(202);
    expect((await rc.request('HEAD', `/v2/${repo}/blobs/${d}`)).statusCode).toBe(404);
    expectError(await rc.request('DELETE', `/v2/${repo}/blobs/${d}`), 404, 'BLOB_UNKNOWN');
    // Another repository holding the same blob keeps it.
    const keeper = await newRepo();
    await keeper.c.pushBlob(keeper.name, b);
    await rc.pushBlob(repo, b);
    expect((await rc.request('DELETE', `/v2/${repo}/blobs/${d}`)).statusCode).toBe(202);
    await expectBlob(keeper.c, keeper.name, d, b);

    const image = makeImage();
    await rc.pushImage(repo, image, 'v1');
    expectError(await rc.request('DELETE', `/v2/${repo}/blobs/${image.layers[0].descriptor.digest}`), 405, 'UNSUPPORTED');
    expect((await rc.request('HEAD', `/v2/${repo}/blobs/${image.layers[0].descriptor.digest}`)).statusCode).toBe(200);
  });

  it('reads need pull: no token → 401 with the pull challenge; a private repository is invisible to others', async () => {
    const anon = RegistryClient.inject(t, null);
    const res = await anon.request('GET', `/v2/${name}/blobs/${digest}`);
    expectError(res, 401, 'UNAUTHORIZED');
    expect(res.header('www-authenticate')).toContain(`scope="repository:${name}:pull"`);
    const bobToken = await registryToken(t, bob, repoScope(name, 'pull'));
    expectError(await RegistryClient.inject(t, bobToken).request('GET', `/v2/${name}/blobs/${digest}`), 401, 'UNAUTHORIZED');
  });
});
