import { createHash, randomBytes } from 'node:crypto';
import { PassThrough, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import {
  digestOf,
  digestOfStream,
  formatDigest,
  hashBody,
  hashStream,
  hasherForRequest,
  HashStateError,
  initialHashState,
  isDigestSyntax,
  OneShotHasher,
  parseDigest,
  parseDigestAlgorithm,
  UploadHasher,
  uploadHashEngine,
  type DigestAlgorithm,
  type EngineName,
} from '../../src/registry/digest.js';

const HEX64 = 'ab'.repeat(32);
const HEX128 = 'cd'.repeat(64);
const native = (alg: DigestAlgorithm, data: Uint8Array) => `${alg}:${createHash(alg).update(data).digest('hex')}`;
const EMPTY_SHA256 = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const EMPTY_SHA512 =
  'sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e';

/** A small seeded PRNG (mulberry32), so a failing split can be replayed from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Random chunk lengths: empty, one byte, block-sized and odd ones, and some over 256 KiB. */
function split(total: number, rnd: () => number): number[] {
  const sizes: number[] = [];
  let left = total;
  const picks = [0, 1, 63, 64, 65, 127, 128, 129, 1000, 65536, 300_000];
  while (left > 0) {
    const n = rnd() < 0.5 ? picks[Math.floor(rnd() * picks.length)] : Math.floor(rnd() * 40_000);
    const take = Math.min(n, left);
    sizes.push(take);
    left -= take;
  }
  return sizes;
}

describe('parseDigest', () => {
  it('accepts sha256 and sha512 with lowercase hex of their exact lengths', () => {
    expect(parseDigest(`sha256:${HEX64}`)).toEqual({ algorithm: 'sha256', hex: HEX64, digest: `sha256:${HEX64}` });
    expect(parseDigest(`sha512:${HEX128}`)).toEqual({ algorithm: 'sha512', hex: HEX128, digest: `sha512:${HEX128}` });
    expect(parseDigest(EMPTY_SHA256)?.hex).toBe(EMPTY_SHA256.slice(7));
  });

  it.each([
    ['uppercase hex', `sha256:${HEX64.toUpperCase()}`],
    ['one uppercase digit', `sha256:${HEX64.slice(0, 63)}B`],
    ['uppercase algorithm', `SHA256:${HEX64}`],
    ['63 digits', `sha256:${HEX64.slice(1)}`],
    ['65 digits', `sha256:${HEX64}a`],
    ['sha256 with 128 digits', `sha256:${HEX128}`],
    ['sha512 with 64 digits', `sha512:${HEX64}`],
    ['127 digits', `sha512:${HEX128.slice(1)}`],
    ['129 digits', `sha512:${HEX128}0`],
    ['empty encoded part', 'sha256:'],
    ['empty algorithm', `:${HEX64}`],
    ['no separator', `sha256${HEX64}`],
    ['two separators', `sha256:${HEX64.slice(0, 32)}:${HEX64.slice(32)}`],
    ['empty string', ''],
    ['sha384 (registered nowhere here)', `sha384:${'a'.repeat(96)}`],
    ['md5', 'md5:d41d8cd98f00b204e9800998ecf8427e'],
    ['an algorithm with a separator', `sha256+b64u:${HEX64}`],
    ['leading space', ` sha256:${HEX64}`],
    ['trailing space', `sha256:${HEX64} `],
    ['trailing newline', `sha256:${HEX64}\n`],
    ['leading newline', `\nsha256:${HEX64}`],
    ['trailing NUL', `sha256:${HEX64}\0`],
    ['NUL inside', `sha256:${HEX64.slice(0, 10)}\0${HEX64.slice(11)}`],
    ['NUL after the algorithm', `sha256\0:${HEX64}`],
    ['non-hex letter', `sha256:${HEX64.slice(0, 63)}g`],
    ['fullwidth digit', `sha256:${HEX64.slice(0, 63)}\uff11`],
    ['Cyrillic a', `sha256:${HEX64.slice(0, 63)}\u0430`],
    ['percent-encoded colon', `sha256%3A${HEX64}`],
    ['path traversal', `sha256:../../${HEX64.slice(6)}`],
    ['a million hex digits', `sha256:${'a'.repeat(1_000_000)}`],
  ])('refuses %s', (_what, value) => {
    expect(parseDigest(value)).toBeUndefined();
  });

  it('refuses values that are not strings, without throwing', () => {
    for (const v of [undefined, null, 0, 1n, {}, [`sha256:${HEX64}`], Buffer.from(`sha256:${HEX64}`), { toString: () => `sha256:${HEX64}` }]) {
      expect(parseDigest(v)).toBeUndefined();
    }
  });

  it('answers a huge hostile string at once', () => {
    const huge = 'sha256:' + 'a'.repeat(50_000_000);
    const t0 = performance.now();
    expect(parseDigest(huge)).toBeUndefined();
    expect(isDigestSyntax(huge)).toBe(false);
    expect(performance.now() - t0).toBeLessThan(50);
  });
});

describe('isDigestSyntax', () => {
  it.each([
    `sha256:${HEX64}`,
    `sha256:${HEX64.toUpperCase()}`,
    'md5:d41d8cd98f00b204e9800998ecf8427e',
    'sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564',
    'multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8',
    'a.b_c-d+e:x=',
    'sha256:1',
  ])('accepts the grammar: %s', (v) => {
    expect(isDigestSyntax(v)).toBe(true);
  });

  it.each([
    ['empty encoded', 'sha256:'],
    ['empty algorithm', ':abc'],
    ['uppercase algorithm', 'SHA256:abc'],
    ['doubled separator', 'a++b:abc'],
    ['trailing separator', 'a+:abc'],
    ['leading separator', '+a:abc'],
    ['slash', 'sha256:ab/cd'],
    ['space', 'sha256:ab cd'],
    ['NUL', 'sha256:ab\0cd'],
    ['newline', 'sha256:abcd\n'],
    ['no colon', 'sha256'],
    ['over 256 characters', `sha256:${'a'.repeat(250)}`],
    ['not a string', 42],
  ])('refuses %s', (_w, v) => {
    expect(isDigestSyntax(v)).toBe(false);
  });
});

describe('parseDigestAlgorithm, formatDigest, digestOf', () => {
  it('knows exactly sha256 and sha512', () => {
    expect(parseDigestAlgorithm('sha256')).toBe('sha256');
    expect(parseDigestAlgorithm('sha512')).toBe('sha512');
    for (const v of ['SHA256', 'sha384', 'md5', '', ' sha256', 'sha256\0', undefined, ['sha256']]) expect(parseDigestAlgorithm(v)).toBeUndefined();
  });

  it('formats raw hashes and hex, and refuses wrong lengths', () => {
    const data = randomBytes(1000);
    expect(formatDigest('sha256', createHash('sha256').update(data).digest())).toBe(native('sha256', data));
    expect(formatDigest('sha512', new Uint8Array(createHash('sha512').update(data).digest()))).toBe(native('sha512', data));
    expect(formatDigest('sha256', HEX64.toUpperCase())).toBe(`sha256:${HEX64}`);
    const sub = Buffer.concat([Buffer.alloc(7), createHash('sha256').update(data).digest()]).subarray(7);
    expect(formatDigest('sha256', sub)).toBe(native('sha256', data));
    expect(() => formatDigest('sha256', HEX128)).toThrow(TypeError);
    expect(() => formatDigest('sha512', HEX64)).toThrow(TypeError);
    expect(() => formatDigest('sha256', `${HEX64.slice(1)}g`)).toThrow(TypeError);
    expect(() => formatDigest('sha256', new Uint8Array(31))).toThrow(TypeError);
    expect(parseDigest(formatDigest('sha512', HEX128))).toBeDefined();
  });

  it('digests bytes in memory as Node does', () => {
    const data = randomBytes(4321);
    expect(digestOf(data)).toBe(native('sha256', data));
    expect(digestOf(data, 'sha512')).toBe(native('sha512', data));
    expect(digestOf('')).toBe(EMPTY_SHA256);
  });
});

describe('UploadHasher', () => {
  const engines: EngineName[] = uploadHashEngine.name === 'openssl' ? ['openssl', 'wasm'] : ['wasm'];

  // npm ci builds native/ with node-gyp (python3, make, a C compiler); without them the server
  // falls back to hash-wasm. CI=true makes the native engine required, so that a broken build
  // cannot go unnoticed (PATCH pushes would hash at a third of the speed).
  const nativeRequired = process.env.CI === 'true';
  if (uploadHashEngine.name !== 'openssl' && !nativeRequired) {
    console.warn(`[digest.test] the native hash engine is not built (${uploadHashEngine.unavailable}): run npm ci with python3, make and g++`);
  }
  it.skipIf(uploadHashEngine.name !== 'openssl' && !nativeRequired)('hashes new uploads with the native engine (native/, built by npm ci)', () => {
    expect(uploadHashEngine, `the addon did not load: ${uploadHashEngine.unavailable}`).toEqual({ name: 'openssl' });
    expect(UploadHasher.start().engineName).toBe('openssl');
  });

  for (const engine of engines) {
    describe(`${engine} engine`, () => {
      const opts = { engine };

      it.each([1, 2, 3, 4, 5])('matches Node for random data split at random points, saved and resumed after every chunk (seed %i)', async (seed) => {
        const rnd = prng(seed);
        const total = Math.floor(rnd() * 1_500_000) + 1;
        const data = randomBytes(total);
        let state = UploadHasher.start(undefined, opts).save();
        let at = 0;
        for (const n of split(total, rnd)) {
          const h = UploadHasher.resume(state);
          expect(h.engineName).toBe(engine);
          expect(h.byteCount).toBe(at);
          h.update(data.subarray(at, at + n));
          at += n;
          state = h.save();
          h.dispose();
        }
        const h = UploadHasher.resume(state);
        expect(h.byteCount).toBe(total);
        expect(await h.digest('sha256')).toBe(native('sha256', data));
        expect(await h.digest('sha512')).toBe(native('sha512', data));
        h.dispose();
      });

      it('hashes the empty blob', async () => {
        const h = UploadHasher.start(undefined, opts);
        expect(await h.digest('sha256')).toBe(EMPTY_SHA256);
        expect(await h.digest('sha512')).toBe(EMPTY_SHA512);
        const r = UploadHasher.resume(h.save());
        r.update(Buffer.alloc(0));
        expect(r.byteCount).toBe(0);
        expect(await r.digest('sha256')).toBe(EMPTY_SHA256);
        expect(await r.digest('sha512')).toBe(EMPTY_SHA512);
        h.dispose();
        r.dispose();
      });

      it('resumes in another instance while the first goes on, and neither disturbs the other', async () => {
        const a = randomBytes(200_003);
        const b = randomBytes(1_777_777);
        const c = randomBytes(1_500_001);
        const first = UploadHasher.start(undefined, opts);
        first.update(a);
        const saved = first.save();
        const second = UploadHasher.resume(saved);
        // Interleaved (the wasm engine shares one WebAssembly instance per algorithm).
        const rnd = prng(7);
        let i = 0;
        let j = 0;
        while (i < b.length || j < c.length) {
          first.update(b.subarray(i, (i += Math.floor(rnd() * 400_000))));
          second.update(c.subarray(j, (j += Math.floor(rnd() * 400_000))));
        }
        expect(await first.digest('sha256')).toBe(native('sha256', Buffer.concat([a, b])));
        expect(await first.digest('sha512')).toBe(native('sha512', Buffer.concat([a, b])));
        expect(await second.digest('sha256')).toBe(native('sha256', Buffer.concat([a, c])));
        expect(await second.digest('sha512')).toBe(native('sha512', Buffer.concat([a, c])));
        // The saved bytes were not touched by either.
        const third = UploadHasher.resume(saved);
        expect(await third.digest('sha256')).toBe(native('sha256', a));
        for (const h of [first, second, third]) h.dispose();
      });

      it('digest() does not end the hash, and save() is a snapshot', async () => {
        const a = randomBytes(5000);
        const b = randomBytes(7000);
        const h = UploadHasher.start(undefined, opts);
        h.update(a);
        expect(await h.digest('sha512')).toBe(native('sha512', a));
        expect(await h.digest('sha256')).toBe(native('sha256', a));
        const snap = h.save();
        h.update(b);
        expect(await h.digest('sha256')).toBe(native('sha256', Buffer.concat([a, b])));
        expect(await h.digest('sha512')).toBe(native('sha512', Buffer.concat([a, b])));
        // As PGlite returns bytea: a plain Uint8Array, here a view into a larger buffer at an odd offset.
        const plain = new Uint8Array(snap.length + 10).subarray(5, 5 + snap.length);
        plain.set(snap);
        const r = UploadHasher.resume(plain);
        expect(r.byteCount).toBe(5000);
        expect(await r.digest('sha256')).toBe(native('sha256', a));
        r.update(b);
        expect(await r.digest('sha512')).toBe(native('sha512', Buffer.concat([a, b])));
        h.dispose();
        r.dispose();
      });

      it('hashes only the algorithms asked for, and says so', async () => {
        const data = randomBytes(10_000);
        const only256 = UploadHasher.start(['sha256'], opts);
        only256.update(data);
        expect(only256.algorithms).toEqual(['sha256']);
        expect(only256.has('sha512')).toBe(false);
        expect(() => only256.digest('sha512')).toThrow(/sha512/);
        const state = only256.save();
        expect(state.length).toBeLessThan(200);
        expect(await UploadHasher.resume(state).digest('sha256')).toBe(native('sha256', data));
        expect(UploadHasher.resume(state, ['sha512']).algorithms).toEqual([]);

        const both = UploadHasher.start(undefined, opts);
        both.update(data);
        const narrowed = UploadHasher.resume(both.save(), ['sha512']);
        expect(narrowed.algorithms).toEqual(['sha512']);
        narrowed.update(data);
        expect(await narrowed.digest('sha512')).toBe(native('sha512', Buffer.concat([data, data])));
        expect(() => UploadHasher.start([], opts)).toThrow(TypeError);
      });

      it('keeps its saved state small whatever it hashed', () => {
        const h = UploadHasher.start(undefined, opts);
        h.update(randomBytes(3 * 1024 * 1024 + 17));
        const state = h.save();
        expect(state.length).toBeLessThan(400);
        expect(UploadHasher.resume(state).byteCount).toBe(3 * 1024 * 1024 + 17);
      });

      it('refuses a disposed hasher', () => {
        const h = UploadHasher.start(undefined, opts);
        h.dispose();
        h.dispose();
        expect(() => h.update(Buffer.from('x'))).toThrow(/disposed/);
        expect(() => h.save()).toThrow(/disposed/);
      });

      describe('refuses states it did not write, with HashStateError', () => {
        const good = (() => {
          const h = UploadHasher.start(undefined, opts);
          h.update(randomBytes(1000));
          return h.save();
        })();
        // Layout: 13 header bytes, then for sha256 and sha512: uint16 length and the engine's state.
        const len256 = good.readUInt16LE(13);
        const at512 = 13 + 2 + len256 + 2;

        const cases: [string, (s: Buffer) => Uint8Array][] = [
          ['empty', () => Buffer.alloc(0)],
          ['random bytes', (s) => randomBytes(s.length)],
          ['truncated by one byte', (s) => s.subarray(0, s.length - 1)],
          ['truncated to the header', (s) => s.subarray(0, 13)],
          ['truncated to the version 1 header', (s) => s.subarray(0, 12)],
          ['with a trailing byte', (s) => Buffer.concat([s, Buffer.from([0])])],
          ['wrong magic', (s) => ((s[0] = 0x00), s)],
          ['another version', (s) => ((s[2] = 3), s)],
          ['an unknown engine', (s) => ((s[12] = 9), s)],
          ['the other engine named', (s) => ((s[12] = engine === 'wasm' ? 2 : 1), s)],
          ['no algorithm', (s) => ((s[3] = 0), s)],
          ['an unknown algorithm bit', (s) => ((s[3] = 7), s)],
          ['a length past 2^53', (s) => (s.writeBigUInt64LE(2n ** 60n, 4), s)],
          ['a wrong inner length', (s) => (s.writeUInt16LE(50, 13), s)],
          ['a sha256 state declared as sha512', (s) => ((s[3] = 2), s)],
        ];
        if (engine === 'wasm') {
          cases.push(['another hash-wasm build', (s) => ((s[15] ^= 0xff), s)]);
        } else {
          // OpenSSL trusts the context's `num` (bytes buffered in the block) and `md_len`: a state
          // from the database must never make it write outside the block.
          const numAt256 = 13 + 2 + len256 - 8;
          const numAt512 = at512 + good.readUInt16LE(at512 - 2) - 8;
          cases.push(
            ['a sha256 context whose block count is past the block', (s) => (s.writeUInt32LE(64, numAt256), s)],
            ['a sha256 context with a huge block count', (s) => (s.writeUInt32LE(0xffffffff, numAt256), s)],
            ['a sha256 context of another digest length', (s) => (s.writeUInt32LE(28, numAt256 + 4), s)],
            ['a sha512 context whose block count is past the block', (s) => (s.writeUInt32LE(128, numAt512), s)],
            ['a sha512 context of another digest length', (s) => (s.writeUInt32LE(48, numAt512 + 4), s)],
          );
        }

        it.each(cases)('%s', (_what, mangle) => {
          const bad = mangle(Buffer.from(good));
          expect(() => UploadHasher.resume(bad)).toThrow(HashStateError);
          // An empty hash_state is "no state yet" for hasherForRequest (a new session).
          if (bad.length > 0) expect(() => hasherForRequest({ state: bad })).toThrow(HashStateError);
        });

        it('not bytes at all', () => {
          expect(() => UploadHasher.resume('UH' as unknown as Uint8Array)).toThrow(HashStateError);
        });

        it('and a refused state does not disturb a live hasher', async () => {
          const data = randomBytes(50_000);
          const h = UploadHasher.start(undefined, opts);
          h.update(data.subarray(0, 20_000));
          expect(() => UploadHasher.resume(randomBytes(good.length))).toThrow(HashStateError);
          expect(() => UploadHasher.resume(good)).not.toThrow();
          h.update(data.subarray(20_000));
          expect(await h.digest('sha256')).toBe(native('sha256', data));
          expect(await h.digest('sha512')).toBe(native('sha512', data));
        });
      });
    });
  }

  it('resumes a version 1 state (hash-wasm, before the engine byte) with hash-wasm', async () => {
    const data = randomBytes(70_001);
    const h = UploadHasher.start(undefined, { engine: 'wasm' });
    h.update(data.subarray(0, 30_000));
    const v2 = h.save();
    const v1 = Buffer.concat([v2.subarray(0, 12), v2.subarray(13)]);
    v1[2] = 1;
    const r = UploadHasher.resume(v1);
    expect(r.engineName).toBe('wasm');
    r.update(data.subarray(30_000));
    expect(await r.digest('sha256')).toBe(native('sha256', data));
    expect(await r.digest('sha512')).toBe(native('sha512', data));
  });
});

describe('OneShotHasher', () => {
  it.each<DigestAlgorithm>(['sha256', 'sha512'])('hashes %s natively and answers only for it', async (alg) => {
    const data = randomBytes(100_000);
    const h = new OneShotHasher(alg);
    h.update(data.subarray(0, 3));
    expect(await h.digest(alg)).toBe(native(alg, data.subarray(0, 3)));
    h.update(data.subarray(3));
    expect(h.byteCount).toBe(100_000);
    expect(await h.digest(alg)).toBe(native(alg, data));
    const other = alg === 'sha256' ? 'sha512' : 'sha256';
    expect(h.has(other)).toBe(false);
    expect(() => h.digest(other)).toThrow();
    expect(await new OneShotHasher('sha256').digest('sha256')).toBe(EMPTY_SHA256);
    expect(await new OneShotHasher('sha512').digest('sha512')).toBe(EMPTY_SHA512);
  });
});

describe('hasherForRequest', () => {
  const sha256 = parseDigest(`sha256:${HEX64}`)!;
  const sha512 = parseDigest(`sha512:${HEX128}`)!;
  const stateOf = async (h: UploadHasher, data?: Buffer) => {
    if (data) h.update(data);
    const s = h.save();
    h.dispose();
    return s;
  };

  it('uses the native one-shot hash when the request starts at byte 0 and completes the upload', async () => {
    const mono = hasherForRequest({ state: null, finalDigest: sha512 });
    expect(mono).toBeInstanceOf(OneShotHasher);
    expect(mono.has('sha512')).toBe(true);
    // POST stored a state to record a declared algorithm: still no byte, still native, any algorithm.
    const put = hasherForRequest({ state: initialHashState('sha256'), finalDigest: sha512 });
    expect(put).toBeInstanceOf(OneShotHasher);
    expect(put.has('sha512')).toBe(true);
    expect(hasherForRequest({ state: Buffer.alloc(0), finalDigest: sha256 })).toBeInstanceOf(OneShotHasher);
  });

  it('starts a resumable sha256 hash for a first PATCH, or one of the algorithm POST declared', async () => {
    expect(initialHashState()).toBeNull();
    const patch = hasherForRequest({ state: initialHashState() });
    expect(patch).toBeInstanceOf(UploadHasher);
    expect((patch as UploadHasher).algorithms).toEqual(['sha256']);
    const declared = hasherForRequest({ state: initialHashState('sha512') });
    expect(declared).toBeInstanceOf(UploadHasher);
    expect((declared as UploadHasher).algorithms).toEqual(['sha512']);
    expect(declared.byteCount).toBe(0);
    const data = randomBytes(3000);
    declared.update(data);
    const again = hasherForRequest({ state: (declared as UploadHasher).save(), finalDigest: sha512 });
    expect(again).toBeInstanceOf(UploadHasher);
    expect(await again.digest('sha512')).toBe(native('sha512', data));
  });

  it('resumes a later PATCH with every algorithm, and a final PUT with its digest’s only', async () => {
    const data = randomBytes(1000);
    const state = await stateOf(UploadHasher.start(), data);
    const patch = hasherForRequest({ state });
    expect((patch as UploadHasher).algorithms).toEqual(['sha256', 'sha512']);
    expect(patch.byteCount).toBe(1000);
    const put = hasherForRequest({ state, finalDigest: sha512 });
    expect(put).toBeInstanceOf(UploadHasher);
    expect((put as UploadHasher).algorithms).toEqual(['sha512']);
    put.update(data);
    expect(await put.digest('sha512')).toBe(native('sha512', Buffer.concat([data, data])));
  });

  it('says when an upload hashed with one algorithm is completed with the other (the caller reads it back)', async () => {
    const state = await stateOf(UploadHasher.start(['sha256']), randomBytes(10));
    const put = hasherForRequest({ state, finalDigest: sha512 });
    expect(put.has('sha512')).toBe(false);
  });
});

describe('digestOfStream', () => {
  it('hashes what an async iterable yields', async () => {
    const parts = [randomBytes(10), randomBytes(70_000), Buffer.alloc(0), randomBytes(3)];
    const all = Buffer.concat(parts);
    const gen = async function* () {
      yield* parts;
    };
    expect(await digestOfStream(gen(), 'sha512')).toBe(native('sha512', all));
    expect(await digestOfStream(gen(), 'sha256')).toBe(native('sha256', all));
    expect(await digestOfStream((async function* () {})(), 'sha256')).toBe(EMPTY_SHA256);
  });
});

describe('hashStream and hashBody', () => {
  async function collect(src: Readable, hasher: UploadHasher | OneShotHasher, slow = false) {
    const out: Buffer[] = [];
    await pipeline(
      src,
      hashStream(hasher),
      new Writable({
        highWaterMark: 1024,
        write(chunk: Buffer, _e, cb) {
          out.push(chunk);
          if (slow) setImmediate(cb);
          else cb();
        },
      }),
    );
    return { bytes: Buffer.concat(out) };
  }

  it('passes every byte through unchanged while hashing it', async () => {
    const data = randomBytes(2_000_000);
    const parts = split(data.length, prng(42)).reduce<Buffer[]>((acc, n) => {
      const at = acc.reduce((s, b) => s + b.length, 0);
      if (n > 0) acc.push(data.subarray(at, at + n));
      return acc;
    }, []);
    for (const h of [UploadHasher.start(), UploadHasher.start(undefined, { engine: 'wasm' }), new OneShotHasher('sha256')]) {
      const { bytes } = await collect(Readable.from(parts), h, true);
      expect(bytes.equals(data)).toBe(true);
      expect(h.byteCount).toBe(data.length);
      expect(await h.digest('sha256')).toBe(native('sha256', data));
      if (h.has('sha512')) expect(await h.digest('sha512')).toBe(native('sha512', data));
      h.dispose();
    }
  });

  it('hashBody errors when its source does, and leaves the source alone when the consumer fails', async () => {
    const src = new PassThrough();
    const body = hashBody(src, new OneShotHasher('sha256'));
    const failed = new Promise((resolve) => body.on('error', resolve));
    src.write(Buffer.from('abc'));
    src.destroy(new Error('client went away'));
    expect(((await failed) as Error).message).toBe('client went away');

    const src2 = new PassThrough();
    const body2 = hashBody(src2, new OneShotHasher('sha256'));
    body2.on('error', () => {});
    body2.destroy(new Error('driver failed'));
    await new Promise((r) => setImmediate(r));
    expect(src2.destroyed).toBe(false);
    expect(src2.write(Buffer.from('still writable'))).toBeTypeOf('boolean');
  });
});
