// The BlobDriver conformance suite (src/storage/driver.ts): every driver runs all of it, as
// distribution runs its testsuites against each of its drivers. test/storage/<driver>.test.ts
// calls driverSuite() with a way to build the driver.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { PassThrough, Readable, Transform } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  parseUploadState,
  StorageInvalidKey,
  StorageInvalidOffset,
  StorageInvalidRange,
  StorageInvalidState,
  StorageNotFound,
  StorageSizeMismatch,
  type BlobDriver,
  type UploadState,
} from '../../src/storage/driver.js';
import { blobKey, tmpKey, uploadChunkKey, uploadDataKey, uploadPrefix } from '../../src/storage/paths.js';

export const MiB = 1024 * 1024;

export interface SuiteOptions {
  /** Bytes of the large streamed write/upload/read whose memory use is checked. */
  largeSize: number;
  /**
   * Most the process's RSS may grow during that transfer. Not much below 96 MiB: V8 frees the
   * memory of Buffers a stream has passed on only when it next collects, which it does after tens
   * of MiB of such memory (about 64 MiB) have built up, so a streaming driver still shows that
   * much. A driver that held the body would grow by its whole size (256 or 512 MiB here).
   */
  maxRssGrowth: number;
  /** Whether presignedGetUrl gives a URL (S3 with redirects on) or undefined. */
  presigned: boolean;
  /** Size of the pieces for the multi-chunk upload test (S3 needs >= 5 MiB ones to copy them). */
  bigChunk: number;
}

export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
export const digestOf = (b: Buffer) => `sha256:${sha256(b)}`;

export async function readAll(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

export const bodyOf = (b: Buffer, piece = 64 * 1024): Readable => {
  const pieces: Buffer[] = [];
  for (let i = 0; i < b.length; i += piece) pieces.push(b.subarray(i, i + piece));
  return Readable.from(pieces, { objectMode: false });
};

/** A body that sends `b` and then fails as a client that went away. */
export function failingBody(b: Buffer, err = new Error('client went away')): { body: Readable; err: Error } {
  let sent = false;
  const body = new Readable({
    read() {
      if (!sent) {
        sent = true;
        this.push(b);
      } else {
        setImmediate(() => this.destroy(err));
      }
    },
  });
  return { body, err };
}

/**
 * `size` deterministic bytes, streamed in 64 KiB pieces generated on the fly (never held whole).
 * Each MiB is a shared random block with its index stamped at the front, so misordered or repeated
 * pieces change the digest.
 */
const BLOCK = randomBytes(MiB);
export function patternStream(size: number): Readable {
  let at = 0;
  const piece = 64 * 1024;
  return new Readable({
    highWaterMark: piece,
    read() {
      if (at >= size) return void this.push(null);
      const n = Math.min(piece, size - at);
      const off = at % MiB;
      const out = Buffer.allocUnsafe(n);
      BLOCK.copy(out, 0, off, off + n);
      if (off === 0 && n >= 8) out.writeBigUInt64BE(BigInt(at / MiB), 0);
      at += n;
      this.push(out);
    },
  });
}

export async function hashStream(r: Readable): Promise<{ hex: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const c of r) {
    h.update(c as Buffer);
    size += (c as Buffer).length;
  }
  return { hex: h.digest('hex'), size };
}

/** A pass-through that hashes what flows, as the registry handlers do in front of the driver. */
function hashingTap(): { tap: Transform; digest: () => string; bytes: () => number } {
  const h = createHash('sha256');
  let n = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      h.update(chunk);
      n += chunk.length;
      cb(null, chunk);
    },
  });
  return { tap, digest: () => h.digest('hex'), bytes: () => n };
}

/** Runs `fn` while sampling RSS every 10 ms; resolves to fn's result and the peak growth. */
export async function withRss<T>(fn: () => Promise<T>): Promise<{ result: T; growth: number }> {
  (globalThis as { gc?: () => void }).gc?.();
  const base = process.memoryUsage().rss;
  let peak = base;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 10);
  try {
    const result = await fn();
    peak = Math.max(peak, process.memoryUsage().rss);
    return { result, growth: peak - base };
  } finally {
    clearInterval(timer);
  }
}

const rejection = async (p: Promise<unknown>): Promise<unknown> => {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
};

export function driverSuite(label: string, make: () => Promise<BlobDriver>, opts: SuiteOptions): void {
  describe(`BlobDriver contract: ${label}`, () => {
    let d: BlobDriver;
    beforeAll(async () => {
      d = await make();
    });
    afterAll(async () => {
      await d?.close();
    });

    const put = async (b: Buffer) => {
      const key = blobKey(digestOf(b));
      await d.write(key, bodyOf(b), b.length);
      return key;
    };
    const upload = async (...chunks: Buffer[]) => {
      let state = await d.startUpload(randomUUID());
      for (const c of chunks) state = (await d.appendUpload(state, state.size, bodyOf(c))).state;
      return state;
    };

    describe('keys', () => {
      it('come from paths.ts in the documented layout', () => {
        const hex = 'ab' + 'c'.repeat(62);
        expect(blobKey(`sha256:${hex}`)).toBe(`blobs/sha256/ab/${hex}`);
        const hex512 = '0f' + 'e'.repeat(126);
        expect(blobKey(`sha512:${hex512}`)).toBe(`blobs/sha512/0f/${hex512}`);
        const id = '0b6c2f1e-6a47-4c4e-9d1b-3f3c3c7f9a10';
        expect(uploadPrefix(id)).toBe(`uploads/${id}`);
        expect(uploadDataKey(id)).toBe(`uploads/${id}/data`);
        expect(uploadChunkKey(id, 5 * MiB, 'abc')).toBe(`uploads/${id}/c-0000000005242880-abc`);
        expect(tmpKey('x1')).toBe('tmp/x1');
      });

      it.each(['sha256:' + 'A'.repeat(64), 'sha256:abc', 'md5:' + 'a'.repeat(32), 'sha256:' + 'a'.repeat(64) + '/../x', 'sha512:' + 'a'.repeat(64), ''])(
        'refuses to build a blob key from %j',
        (digest) => {
          expect(() => blobKey(digest)).toThrow(TypeError);
        },
      );

      it('refuses upload ids that are not lowercase UUIDs', () => {
        for (const id of ['../../etc', 'ABCDEFAB-6a47-4c4e-9d1b-3f3c3c7f9a10', '', 'x'.repeat(36)]) expect(() => uploadPrefix(id)).toThrow(TypeError);
      });

      it.each(['../escape', '/absolute', 'a//b', 'a/./b', 'a/../b', '', 'blobs/sha256/ab/x y', 'trailing/'])('rejects the key %j in every method', async (key) => {
        expect(await rejection(d.stat(key))).toBeInstanceOf(StorageInvalidKey);
        expect(await rejection(d.read(key))).toBeInstanceOf(StorageInvalidKey);
        expect(await rejection(d.write(key, bodyOf(Buffer.from('x'))))).toBeInstanceOf(StorageInvalidKey);
        expect(await rejection(d.delete(key))).toBeInstanceOf(StorageInvalidKey);
        expect(await rejection(d.presignedGetUrl(key, 60))).toBeInstanceOf(StorageInvalidKey);
      });
    });

    describe('objects', () => {
      it('stats a missing key as undefined and reads it as StorageNotFound', async () => {
        const key = blobKey(digestOf(randomBytes(16)));
        expect(await d.stat(key)).toBeUndefined();
        const err = await rejection(d.read(key));
        expect(err).toBeInstanceOf(StorageNotFound);
        expect((err as StorageNotFound).key).toBe(key);
      });

      it('writes, stats and reads back an object, reporting the bytes stored', async () => {
        const b = randomBytes(300 * 1024 + 7);
        const key = blobKey(digestOf(b));
        expect(await d.write(key, bodyOf(b))).toEqual({ size: b.length });
        expect(await d.stat(key)).toEqual({ size: b.length });
        expect((await readAll(await d.read(key))).equals(b)).toBe(true);
      });

      it('consumes the body exactly once, so a hashing tap in front sees the same bytes', async () => {
        const b = randomBytes(2 * MiB + 123);
        const key = blobKey(digestOf(b));
        const { tap, digest, bytes } = hashingTap();
        expect(await d.write(key, bodyOf(b).pipe(tap))).toEqual({ size: b.length });
        expect(bytes()).toBe(b.length);
        expect(digest()).toBe(sha256(b));
        expect(sha256(await readAll(await d.read(key)))).toBe(sha256(b));
      });

      it('stores and reads an empty object; no range of it is valid', async () => {
        const key = blobKey(digestOf(Buffer.alloc(0)));
        expect(await d.write(key, bodyOf(Buffer.alloc(0)), 0)).toEqual({ size: 0 });
        expect(await d.stat(key)).toEqual({ size: 0 });
        expect((await readAll(await d.read(key))).length).toBe(0);
        expect(await rejection(d.read(key, { start: 0, end: 0 }))).toBeInstanceOf(StorageInvalidRange);
      });

      it('reads inclusive byte ranges', async () => {
        const b = randomBytes(100_000);
        const key = await put(b);
        for (const [start, end] of [
          [0, 0],
          [0, 9],
          [10, 19],
          [99_999, 99_999],
          [1234, 98_765],
          [0, 99_999],
        ]) {
          expect((await readAll(await d.read(key, { start, end }))).equals(b.subarray(start, end + 1))).toBe(true);
        }
      });

      it('refuses ranges outside the object with StorageInvalidRange', async () => {
        const b = randomBytes(1000);
        const key = await put(b);
        for (const range of [
          { start: 0, end: 1000 },
          { start: 999, end: 1000 },
          { start: 1000, end: 1000 },
          { start: 5000, end: 6000 },
          { start: 10, end: 9 },
          { start: -1, end: 5 },
          { start: 1.5, end: 5 },
        ]) {
          const err = await rejection(d.read(key, range));
          expect(err, JSON.stringify(range)).toBeInstanceOf(StorageInvalidRange);
        }
        // A refused range left the object alone.
        expect((await readAll(await d.read(key))).equals(b)).toBe(true);
      });

      it('refuses a body of the wrong size and stores nothing', async () => {
        const b = randomBytes(5000);
        const key = blobKey(digestOf(b));
        const err = await rejection(d.write(key, bodyOf(b), 4999));
        expect(err).toBeInstanceOf(StorageSizeMismatch);
        expect(await rejection(d.write(key, bodyOf(b), 5001))).toBeInstanceOf(StorageSizeMismatch);
        expect(await d.stat(key)).toBeUndefined();
      });

      it('replaces an object atomically: readers see the old bytes until the new ones are whole', async () => {
        const key = blobKey(digestOf(randomBytes(8)));
        const old = randomBytes(3 * MiB);
        await d.write(key, bodyOf(old));
        // More than one S3 part goes out before the check.
        const next = randomBytes(2 * opts.bigChunk + 3 * MiB);
        const body = new PassThrough();
        const writing = d.write(key, body);
        body.write(next.subarray(0, 2 * opts.bigChunk));
        await sleep(300);
        expect(await d.stat(key)).toEqual({ size: old.length });
        expect((await readAll(await d.read(key))).equals(old)).toBe(true);
        body.end(next.subarray(2 * opts.bigChunk));
        expect(await writing).toEqual({ size: next.length });
        expect((await readAll(await d.read(key))).equals(next)).toBe(true);
      });

      it('keeps the old object when the body fails midway, and rejects with the body\'s error', async () => {
        const old = randomBytes(1000);
        const key = await put(old);
        const { body, err } = failingBody(randomBytes(opts.bigChunk + MiB));
        expect(await rejection(d.write(key, body))).toBe(err);
        expect((await readAll(await d.read(key))).equals(old)).toBe(true);
        const fresh = blobKey(digestOf(randomBytes(8)));
        const f2 = failingBody(randomBytes(1000));
        expect(await rejection(d.write(fresh, f2.body))).toBe(f2.err);
        expect(await d.stat(fresh)).toBeUndefined();
      });

      it('lets a reader opened before an overwrite finish with the old bytes', async () => {
        const key = blobKey(digestOf(randomBytes(8)));
        const old = randomBytes(4 * MiB);
        await d.write(key, bodyOf(old));
        const reader = await d.read(key);
        const it = reader[Symbol.asyncIterator]();
        const first = (await it.next()).value as Buffer;
        await d.write(key, bodyOf(randomBytes(4 * MiB)));
        const rest: Buffer[] = [first];
        for (let r = await it.next(); !r.done; r = await it.next()) rest.push(r.value as Buffer);
        expect(Buffer.concat(rest).equals(old)).toBe(true);
      });

      it('deletes idempotently', async () => {
        const key = await put(randomBytes(100));
        await d.delete(key);
        expect(await d.stat(key)).toBeUndefined();
        expect(await rejection(d.read(key))).toBeInstanceOf(StorageNotFound);
        await d.delete(key);
        await d.delete(blobKey(digestOf(randomBytes(8))));
      });

      it(`gives a presigned GET URL ${opts.presigned ? 'that serves the object and its ranges' : 'only where it can (undefined here)'}`, async () => {
        const b = randomBytes(10_000);
        const key = await put(b);
        const url = await d.presignedGetUrl(key, 60);
        if (!opts.presigned) {
          expect(url).toBeUndefined();
          return;
        }
        expect(url).toMatch(/^https?:\/\//);
        const r = await fetch(url!);
        expect(r.status).toBe(200);
        expect(Buffer.from(await r.arrayBuffer()).equals(b)).toBe(true);
        const ranged = await fetch(url!, { headers: { Range: 'bytes=100-199' } });
        expect(ranged.status).toBe(206);
        expect(Buffer.from(await ranged.arrayBuffer()).equals(b.subarray(100, 200))).toBe(true);
        // The signature covers the key: another key with the same query is refused.
        const other = url!.replace(/\/[0-9a-f]{64}\?/, `/${'0'.repeat(64)}?`);
        expect((await fetch(other)).status).toBe(403);
      });
    });

    describe('chunked uploads', () => {
      it('starts with size 0 and a JSON state that round-trips', async () => {
        const id = randomUUID();
        const s = await d.startUpload(id);
        expect(s.size).toBe(0);
        expect(parseUploadState(JSON.parse(JSON.stringify(s)))).toEqual(s);
        expect(await rejection(d.startUpload('not-a-uuid'))).toBeInstanceOf(TypeError);
      });

      it('appends chunks at their offsets and completes into the blob key', async () => {
        const a = randomBytes(1000);
        const b = randomBytes(300 * 1024);
        const c = randomBytes(1);
        let s = await d.startUpload(randomUUID());
        let r = await d.appendUpload(s, 0, bodyOf(a));
        expect(r.size).toBe(1000);
        expect(r.state.size).toBe(1000);
        s = parseUploadState(JSON.parse(JSON.stringify(r.state)));
        r = await d.appendUpload(s, 1000, bodyOf(b));
        s = r.state;
        r = await d.appendUpload(s, s.size, bodyOf(c));
        expect(r.size).toBe(a.length + b.length + 1);
        const all = Buffer.concat([a, b, c]);
        const key = blobKey(digestOf(all));
        expect(await d.stat(key)).toBeUndefined();
        await d.completeUpload(r.state, key);
        expect((await readAll(await d.read(key))).equals(all)).toBe(true);
      });

      it('an empty append changes nothing', async () => {
        const a = randomBytes(500);
        let s = await upload(a);
        s = (await d.appendUpload(s, s.size, bodyOf(Buffer.alloc(0)))).state;
        expect(s.size).toBe(500);
        const key = blobKey(digestOf(a));
        await d.completeUpload(s, key);
        expect((await readAll(await d.read(key))).equals(a)).toBe(true);
      });

      it('completes an upload with no chunks as the empty blob', async () => {
        const s = await d.startUpload(randomUUID());
        const key = blobKey(digestOf(Buffer.alloc(0)));
        await d.delete(key);
        await d.completeUpload(s, key);
        expect(await d.stat(key)).toEqual({ size: 0 });
      });

      it('retries a chunk after a partial failure: the failed bytes never reach the blob', async () => {
        const a = randomBytes(200 * 1024);
        const s1 = await upload(a);
        const { body, err } = failingBody(randomBytes(opts.bigChunk + 2 * MiB));
        expect(await rejection(d.appendUpload(s1, s1.size, body))).toBe(err);
        const b = randomBytes(100 * 1024);
        const r = await d.appendUpload(s1, s1.size, bodyOf(b));
        expect(r.size).toBe(a.length + b.length);
        const all = Buffer.concat([a, b]);
        const key = blobKey(digestOf(all));
        await d.completeUpload(r.state, key);
        expect((await readAll(await d.read(key))).equals(all)).toBe(true);
      });

      it('discards an append whose new state was never recorded', async () => {
        const a = randomBytes(1000);
        const s1 = await upload(a);
        await d.appendUpload(s1, s1.size, bodyOf(randomBytes(70_000))); // the caller crashed before storing it
        const b = randomBytes(50);
        const r = await d.appendUpload(s1, s1.size, bodyOf(b));
        expect(r.size).toBe(1050);
        const all = Buffer.concat([a, b]);
        const key = blobKey(digestOf(all));
        await d.completeUpload(r.state, key);
        expect((await readAll(await d.read(key))).equals(all)).toBe(true);
      });

      it('completes from the recorded state even when a later append failed', async () => {
        const a = randomBytes(4000);
        const s1 = await upload(a);
        const f = failingBody(randomBytes(64 * 1024));
        await rejection(d.appendUpload(s1, s1.size, f.body));
        const key = blobKey(digestOf(a));
        await d.completeUpload(s1, key);
        expect((await readAll(await d.read(key))).equals(a)).toBe(true);
      });

      it('overwrites from a smaller offset, discarding what lay beyond it', async () => {
        const a = randomBytes(3000);
        const b = randomBytes(3000);
        const s = await upload(a, b);
        const x = randomBytes(10);
        const r = await d.appendUpload(s, 3002, bodyOf(x));
        expect(r.size).toBe(3012);
        const all = Buffer.concat([a, b.subarray(0, 2), x]);
        const key = blobKey(digestOf(all));
        await d.completeUpload(r.state, key);
        expect((await readAll(await d.read(key))).equals(all)).toBe(true);
      });

      it('refuses an offset beyond the upload with StorageInvalidOffset', async () => {
        const s = await upload(randomBytes(10));
        for (const off of [11, 1000, -1, 0.5]) {
          const err = await rejection(d.appendUpload(s, off, bodyOf(Buffer.from('x'))));
          expect(err).toBeInstanceOf(StorageInvalidOffset);
        }
        await d.cancelUpload(s);
      });

      it('assembles many chunks of mixed sizes in order', async () => {
        const big = opts.bigChunk;
        const sizes = [MiB, big + 17, 2 * MiB, 1, 2 * MiB + 5, big + MiB, 300, 3 * MiB, big, 100];
        const chunks = sizes.map((n) => randomBytes(n));
        const s = await upload(...chunks);
        const all = Buffer.concat(chunks);
        expect(s.size).toBe(all.length);
        const key = blobKey(digestOf(all));
        await d.completeUpload(s, key);
        expect(await d.stat(key)).toEqual({ size: all.length });
        expect(sha256(await readAll(await d.read(key)))).toBe(sha256(all));
        expect((await readAll(await d.read(key, { start: big, end: big + 2 * MiB }))).equals(all.subarray(big, big + 2 * MiB + 1))).toBe(true);
      });

      it('completes a single large chunk and one cut short by a later offset', async () => {
        const a = randomBytes(opts.bigChunk + 123);
        const s = await upload(a);
        const key = blobKey(digestOf(a));
        await d.completeUpload(s, key);
        expect(sha256(await readAll(await d.read(key)))).toBe(sha256(a));

        const b = randomBytes(opts.bigChunk + 5000);
        const s2 = await upload(b);
        const r = await d.appendUpload(s2, opts.bigChunk, bodyOf(Buffer.alloc(0)));
        const cut = b.subarray(0, opts.bigChunk);
        const key2 = blobKey(digestOf(cut));
        await d.completeUpload(r.state, key2);
        expect(sha256(await readAll(await d.read(key2)))).toBe(sha256(cut));
      });

      it('keeps an existing blob on completion and may be completed twice', async () => {
        const a = randomBytes(2000);
        const key = await put(a);
        const s = await upload(a);
        await d.completeUpload(s, key);
        await d.completeUpload(s, key);
        expect((await readAll(await d.read(key))).equals(a)).toBe(true);

        const b = randomBytes(3000);
        const s2 = await upload(b);
        const key2 = blobKey(digestOf(b));
        await d.completeUpload(s2, key2);
        await d.completeUpload(s2, key2); // a retry after a crash before the row was written
        expect((await readAll(await d.read(key2))).equals(b)).toBe(true);
      });

      it('reads back the recorded bytes of an upload in progress, and leaves it as it was', async () => {
        const collect = async (it: AsyncIterable<Uint8Array>) => {
          const parts: Buffer[] = [];
          for await (const c of it) parts.push(Buffer.from(c));
          return Buffer.concat(parts);
        };
        expect((await collect(d.readUpload(await d.startUpload(randomUUID())))).length).toBe(0);
        const a = randomBytes(opts.bigChunk + 5);
        const b = randomBytes(3000);
        const s = await upload(a, b);
        // Cut short by a later, smaller offset; then an append whose state is never recorded.
        const x = randomBytes(10);
        const r = await d.appendUpload(s, a.length + 2, bodyOf(x));
        await d.appendUpload(r.state, r.size, bodyOf(randomBytes(5000)));
        const all = Buffer.concat([a, b.subarray(0, 2), x]);
        expect((await collect(d.readUpload(r.state))).equals(all)).toBe(true);
        expect((await collect(d.readUpload(r.state))).equals(all)).toBe(true);
        const key = blobKey(digestOf(all));
        await d.completeUpload(r.state, key);
        expect((await readAll(await d.read(key))).equals(all)).toBe(true);
        expect(await rejection(collect(d.readUpload(r.state)))).toBeInstanceOf(StorageNotFound);
      });

      it('cancels idempotently; a cancelled upload cannot complete', async () => {
        const a = randomBytes(5000);
        const s = await upload(a);
        await d.cancelUpload(s);
        await d.cancelUpload(s);
        const key = blobKey(digestOf(a));
        expect(await rejection(d.completeUpload(s, key))).toBeInstanceOf(StorageNotFound);
        expect(await d.stat(key)).toBeUndefined();
        await d.cancelUpload(await d.startUpload(randomUUID()));
      });

      it('refuses a state that is not its own', async () => {
        const foreign = { driver: 'elsewhere', v: 1, size: 0, id: randomUUID() } as UploadState;
        expect(await rejection(d.appendUpload(foreign, 0, bodyOf(Buffer.from('x'))))).toBeInstanceOf(StorageInvalidState);
        expect(await rejection(d.completeUpload(foreign, blobKey(digestOf(Buffer.from('x')))))).toBeInstanceOf(StorageInvalidState);
        expect(await rejection(d.cancelUpload(foreign))).toBeInstanceOf(StorageInvalidState);
        expect(() => parseUploadState({ driver: 'x' })).toThrow(StorageInvalidState);
        expect(() => parseUploadState(null)).toThrow(StorageInvalidState);
      });
    });

    describe(`large bodies stream (${opts.largeSize / MiB} MiB)`, () => {
      let expected: { hex: string; size: number };
      beforeAll(async () => {
        expected = await hashStream(patternStream(opts.largeSize));
        // Warm-up with a smaller body through the same paths: the first use of a code path (the
        // SDK's lazy modules, sockets, the driver's buffer pool) costs memory once, whatever the
        // size. What the checks below measure is what a body's size adds on top: nothing, if the
        // driver streams.
        const warm = 48 * MiB;
        const key = blobKey(`sha256:${(await hashStream(patternStream(warm))).hex}`);
        await d.write(key, patternStream(warm), warm);
        await hashStream(await d.read(key));
        let s = await d.startUpload(randomUUID());
        s = (await d.appendUpload(s, 0, patternStream(warm))).state;
        await d.completeUpload(s, key);
        await d.delete(key);
      }, 120_000);

      it(`writes and reads back without holding the body: RSS grows by less than ${opts.maxRssGrowth / MiB} MiB`, async () => {
        const key = blobKey(`sha256:${expected.hex}`);
        const w = await withRss(() => d.write(key, patternStream(opts.largeSize), opts.largeSize));
        expect(w.result).toEqual({ size: opts.largeSize });
        expect(w.growth, `write grew RSS by ${(w.growth / MiB).toFixed(1)} MiB`).toBeLessThan(opts.maxRssGrowth);
        const r = await withRss(async () => hashStream(await d.read(key)));
        expect(r.result).toEqual(expected);
        expect(r.growth, `read grew RSS by ${(r.growth / MiB).toFixed(1)} MiB`).toBeLessThan(opts.maxRssGrowth);
        await d.delete(key);
      });

      it('uploads in two appends and completes without holding the body', async () => {
        const key = blobKey(`sha256:${expected.hex}`);
        const half = Math.floor(opts.largeSize / 2 / MiB) * MiB;
        const w = await withRss(async () => {
          // The second append gets the whole stream and skips the first half itself, as a handler
          // skipping overlapping bytes would.
          let s = await d.startUpload(randomUUID());
          const first = patternStream(opts.largeSize);
          let taken = 0;
          const head = new Transform({
            transform(chunk: Buffer, _e, cb) {
              const room = half - taken;
              taken += chunk.length;
              if (room > 0) this.push(chunk.subarray(0, Math.min(room, chunk.length)));
              cb();
            },
          });
          s = (await d.appendUpload(s, 0, first.pipe(head))).state;
          expect(s.size).toBe(half);
          let skipped = 0;
          const tail = new Transform({
            transform(chunk: Buffer, _e, cb) {
              const skip = Math.max(0, Math.min(chunk.length, half - skipped));
              skipped += skip;
              cb(null, chunk.subarray(skip));
            },
          });
          s = (await d.appendUpload(s, half, patternStream(opts.largeSize).pipe(tail))).state;
          expect(s.size).toBe(opts.largeSize);
          await d.completeUpload(s, key);
        });
        expect(w.growth, `upload grew RSS by ${(w.growth / MiB).toFixed(1)} MiB`).toBeLessThan(opts.maxRssGrowth);
        expect(await hashStream(await d.read(key))).toEqual(expected);
        await d.delete(key);
      });
    });
  });
}
