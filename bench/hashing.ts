// Benchmark: the hashes a blob upload can use, and what src/registry/digest.ts makes of them.
//
//   1. throughput, 64 KiB chunks (what an HTTP request stream delivers) over --size MiB (512), of
//      Node's crypto (OpenSSL) and hash-wasm, sha256 and sha512, one thread each; a plain-JS
//      SHA-256 (whose chaining value one could export) for scale; both algorithms at once; and our
//      hashers: OneShotHasher (native, single-request flows) and UploadHasher (resumable, on each
//      engine: openssl through native/, and hash-wasm; both algorithms or one declared one);
//   2. the cost per request of resuming a saved state and saving it again (what every PATCH pays
//      besides hashing its bytes), and hash-wasm's own save()/load();
//   3. the stream path as the /v2 handlers use it: chunks → hashStream(hasher) → a file, for each
//      hasher, against the same copy without hashing.
// CPU is the process's user+system time.
//
// Each measurement runs --repeat times and the fastest run is reported (the machine is shared).
//
//   npx tsx bench/hashing.ts [--size 512] [--chunk 64] [--repeat 3] [--requests 5000] [--no-stream]
//
// Writes one scratch file under the OS temp dir (removed at the end); no network, no database.
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { createSHA256, createSHA512, type IHasher } from 'hash-wasm';
import { hashStream, OneShotHasher, UploadHasher, uploadHashEngine, type BlobHasher, type EngineName } from '../src/registry/digest.js';
import { fmt, intOption, machineLine, parseCommandLine, runMain, table, UsageError, waitQuiet } from './lib.js';

const USAGE = `usage: npx tsx bench/hashing.ts [--size MiB] [--chunk KiB] [--repeat N] [--requests N] [--no-stream]
  --size      bytes hashed per measurement, in MiB (default 512, 16 to 4096)
  --chunk     chunk size in KiB (default 64, 1 to 4096)
  --repeat    runs of each measurement; the fastest is reported (default 3, 1 to 10)
  --requests  resume+save cycles timed per hasher kind (default 5000, 100 to 100000)
  --no-stream skip the stream-to-file measurements`;

interface Options {
  size: number;
  chunk: number;
  repeat: number;
  requests: number;
  stream: boolean;
}

function parse(argv: string[]): Options | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      size: { type: 'string' },
      chunk: { type: 'string' },
      repeat: { type: 'string' },
      requests: { type: 'string' },
      'no-stream': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) return 'help';
  const o = {
    size: intOption('size', values.size, 512, 16, 4096) * 1024 * 1024,
    chunk: intOption('chunk', values.chunk, 64, 1, 4096) * 1024,
    repeat: intOption('repeat', values.repeat, 3, 1, 10),
    requests: intOption('requests', values.requests, 5000, 100, 100_000),
    stream: !values['no-stream'],
  };
  if (o.size % o.chunk !== 0) throw new UsageError('--size must be a multiple of --chunk');
  return o;
}

// ------------------------------------------------------------------------------------------------
// A plain-JS SHA-256 (FIPS 180-4), written for this comparison: its eight-word chaining value is
// ordinary JS state, the kind of hasher whose state could be exported without any WebAssembly.

const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
  0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
  0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

class JsSha256 {
  private readonly h = new Int32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
  private readonly w = new Int32Array(64);
  private readonly block = new Uint8Array(64);
  private fill = 0;
  private length = 0;

  update(data: Uint8Array): void {
    this.length += data.length;
    let i = 0;
    if (this.fill > 0) {
      const n = Math.min(64 - this.fill, data.length);
      this.block.set(data.subarray(0, n), this.fill);
      this.fill += n;
      i = n;
      if (this.fill < 64) return;
      this.compress(this.block, 0);
      this.fill = 0;
    }
    for (; i + 64 <= data.length; i += 64) this.compress(data, i);
    if (i < data.length) {
      this.block.set(data.subarray(i), 0);
      this.fill = data.length - i;
    }
  }

  digest(): string {
    const bits = this.length * 8;
    const pad = new Uint8Array(((this.fill < 56 ? 56 : 120) - this.fill) + 8);
    pad[0] = 0x80;
    const dv = new DataView(pad.buffer);
    dv.setUint32(pad.length - 8, Math.floor(bits / 2 ** 32));
    dv.setUint32(pad.length - 4, bits >>> 0);
    this.update(pad);
    return Array.from(this.h, (x) => (x >>> 0).toString(16).padStart(8, '0')).join('');
  }

  private compress(d: Uint8Array, o: number): void {
    const w = this.w;
    for (let t = 0; t < 16; t++, o += 4) w[t] = (d[o] << 24) | (d[o + 1] << 16) | (d[o + 2] << 8) | d[o + 3];
    for (let t = 16; t < 64; t++) {
      const a = w[t - 15];
      const b = w[t - 2];
      const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
      const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
      w[t] = (w[t - 16] + s0 + w[t - 7] + s1) | 0;
    }
    const h = this.h;
    let a = h[0], b = h[1], c = h[2], e = h[4], f = h[5], g = h[6], hh = h[7], dd = h[3]; // prettier-ignore
    for (let t = 0; t < 64; t++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const t1 = (hh + S1 + ((e & f) ^ (~e & g)) + K[t] + w[t]) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      hh = g;
      g = f;
      f = e;
      e = (dd + t1) | 0;
      dd = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    h[0] = (h[0] + a) | 0;
    h[1] = (h[1] + b) | 0;
    h[2] = (h[2] + c) | 0;
    h[3] = (h[3] + dd) | 0;
    h[4] = (h[4] + e) | 0;
    h[5] = (h[5] + f) | 0;
    h[6] = (h[6] + g) | 0;
    h[7] = (h[7] + hh) | 0;
  }
}

// ------------------------------------------------------------------------------------------------
// Measuring

interface Result {
  name: string;
  seconds: number;
  cpu: number;
  bytes: number;
  note?: string;
}

/** The resumable engines this build has: openssl (native/, when it built) and hash-wasm. */
const ENGINES: EngineName[] = uploadHashEngine.name === 'openssl' ? ['openssl', 'wasm'] : ['wasm'];

const results: Result[] = [];
let pool: Buffer[] = [];
let repeat = 1;

function chunks(total: number, chunk: number): Iterable<Buffer> {
  return {
    *[Symbol.iterator]() {
      for (let i = 0, n = total / chunk; i < n; i++) yield pool[i % pool.length];
    },
  };
}

/** The fastest of `repeat` runs of fn, with its wall time and CPU time. */
async function measure(name: string, bytes: number, fn: () => void | Promise<void>, note?: string): Promise<Result> {
  let best: Result | undefined;
  for (let i = 0; i < repeat; i++) {
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    await fn();
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const c = process.cpuUsage(cpu0);
    if (!best || seconds < best.seconds) best = { name, seconds, cpu: (c.user + c.system) / 1e6, bytes, note };
    process.stderr.write(`  ${name}: ${fmt(bytes / seconds / 1e6)} MB/s\n`);
  }
  return best!;
}

/** Feeds `total` bytes to `h` in chunks, then asks for `digests`. */
async function feed(h: BlobHasher, total: number, chunk: number, digests: ('sha256' | 'sha512')[]): Promise<void> {
  for (const c of chunks(total, chunk)) {
    h.update(c);
  }
  for (const d of digests) await h.digest(d);
  h.dispose();
}

function wasmFeed(w: IHasher, total: number, chunk: number): void {
  w.init();
  for (const c of chunks(total, chunk)) w.update(c);
  w.digest();
}

async function main(): Promise<number> {
  const o = parseCommandLine(parse, USAGE);
  if (typeof o === 'number') return o;
  const { size, chunk } = o;
  repeat = o.repeat;
  // 16 MiB of distinct random chunks, reused: more than the L2 cache, like bytes fresh off a socket.
  pool = Array.from({ length: Math.max(1, Math.floor((16 * 1024 * 1024) / chunk)) }, () => randomBytes(chunk));
  const hwVersion = (JSON.parse(readFileSync(new URL('../node_modules/hash-wasm/package.json', import.meta.url), 'utf8')) as { version: string }).version;
  await waitQuiet(120);
  console.log(machineLine());
  const sha = /\bsha_ni\b/.test(readFileSync('/proc/cpuinfo', 'utf8')) ? 'SHA-NI present' : 'no SHA-NI';
  console.log(`${sha}; OpenSSL ${process.versions.openssl}; hash-wasm ${hwVersion}; ${size / 1048576} MiB in ${chunk / 1024} KiB chunks\n`);

  const w256 = await createSHA256();
  const w512 = await createSHA512();
  // Warm-up: JIT and WebAssembly tier-up.
  const warm = 32 * 1024 * 1024;
  wasmFeed(w256, warm, chunk);
  wasmFeed(w512, warm, chunk);
  for (const engine of ENGINES) await feed(UploadHasher.start(undefined, { engine }), warm, chunk, ['sha256', 'sha512']);
  {
    const j = new JsSha256();
    for (const c of chunks(8 * 1024 * 1024, chunk)) j.update(c);
  }

  console.error('throughput:');
  const native = (alg: string) => () => {
    const h = createHash(alg);
    for (const c of chunks(size, chunk)) h.update(c);
    h.digest();
  };
  results.push(await measure('node sha256', size, native('sha256')));
  results.push(await measure('node sha512', size, native('sha512')));
  results.push(
    await measure('node sha256 + sha512', size, () => {
      const a = createHash('sha256');
      const b = createHash('sha512');
      for (const c of chunks(size, chunk)) {
        a.update(c);
        b.update(c);
      }
      a.digest();
      b.digest();
    }),
  );
  results.push(await measure('hash-wasm sha256', size, () => wasmFeed(w256, size, chunk)));
  results.push(await measure('hash-wasm sha512', size, () => wasmFeed(w512, size, chunk)));
  const jsSize = Math.min(size, 128 * 1024 * 1024);
  results.push(
    await measure('plain-JS sha256', jsSize, () => {
      const j = new JsSha256();
      for (const c of chunks(jsSize, chunk)) j.update(c);
      j.digest();
    }, jsSize < size ? `over ${jsSize / 1048576} MiB` : undefined),
  );
  results.push(await measure('OneShotHasher sha256', size, () => feed(new OneShotHasher('sha256'), size, chunk, ['sha256']), 'monolithic, POST+PUT'));
  results.push(await measure('OneShotHasher sha512', size, () => feed(new OneShotHasher('sha512'), size, chunk, ['sha512'])));
  for (const engine of ENGINES) {
    const e = { engine };
    const def = engine === uploadHashEngine.name ? ' (default)' : '';
    results.push(await measure(`UploadHasher ${engine} both`, size, () => feed(UploadHasher.start(undefined, e), size, chunk, ['sha256', 'sha512']), `PATCH${def}`));
    results.push(await measure(`UploadHasher ${engine} sha256 only`, size, () => feed(UploadHasher.start(['sha256'], e), size, chunk, ['sha256']), 'PATCH, declared / final PUT'));
    results.push(await measure(`UploadHasher ${engine} sha512 only`, size, () => feed(UploadHasher.start(['sha512'], e), size, chunk, ['sha512'])));
  }

  // Sanity: the plain-JS hash is SHA-256.
  {
    const j = new JsSha256();
    j.update(pool[0]);
    if (j.digest() !== createHash('sha256').update(pool[0]).digest('hex')) throw new Error('plain-JS sha256 is wrong');
  }

  const base = results[0].bytes / results[0].seconds;
  console.log(
    table(
      [
        ['hasher', 'MB/s', '× node sha256', 'CPU s/GB', 'note'],
        ...results.map((r) => [r.name, fmt(r.bytes / r.seconds / 1e6), fmt(r.bytes / r.seconds / base, 2), fmt((r.cpu / r.bytes) * 1e9, 2), r.note ?? '']),
      ],
      1,
    ),
  );

  // ---- per-request cost of resume + save -------------------------------------------------------
  console.error('resume + save:');
  const perRequest: string[][] = [['per request (no bytes hashed)', 'µs', 'state bytes']];
  const cycles = async (name: string, start: () => UploadHasher) => {
    const h0 = start();
    h0.update(pool[0].subarray(0, 1000));
    let state = h0.save();
    h0.dispose();
    let us = Infinity;
    for (let r = 0; r < repeat; r++) {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < o.requests; i++) {
        const h = UploadHasher.resume(state);
        state = h.save();
        h.dispose();
      }
      us = Math.min(us, Number(process.hrtime.bigint() - t0) / 1e3 / o.requests);
    }
    perRequest.push([name, fmt(us, 1), String(state.length)]);
  };
  for (const engine of ENGINES) {
    await cycles(`resume + save, ${engine}, both`, () => UploadHasher.start(undefined, { engine }));
    await cycles(`resume + save, ${engine}, sha256 only`, () => UploadHasher.start(['sha256'], { engine }));
  }
  {
    w256.init();
    const s = w256.save();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < o.requests * 10; i++) w256.load(w256.save());
    perRequest.push(['hash-wasm sha256 save() + load()', fmt(Number(process.hrtime.bigint() - t0) / 1e3 / (o.requests * 10), 2), String(s.length)]);
  }
  console.log(`\n${table(perRequest, 1)}`);

  // ---- the stream path ------------------------------------------------------------------------------
  if (o.stream) {
    console.error('stream to a file:');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-hashing-'));
    const file = path.join(dir, 'blob');
    const streamRows: string[][] = [['chunks → hashStream → file', 'MB/s', 'CPU s/GB', 'flow']];
    try {
      const run = async (name: string, hasher: () => BlobHasher | undefined, flow: string, digests: ('sha256' | 'sha512')[]) => {
        const r = await measure(name, size, async () => {
          const h = hasher();
          const src = Readable.from(chunks(size, chunk), { objectMode: false });
          if (h) {
            await pipeline(src, hashStream(h), createWriteStream(file));
            for (const d of digests) await h.digest(d);
            if (h instanceof UploadHasher) h.save();
            h.dispose();
          } else {
            await pipeline(src, createWriteStream(file));
          }
        });
        rmSync(file, { force: true });
        streamRows.push([name, fmt(r.bytes / r.seconds / 1e6), fmt((r.cpu / r.bytes) * 1e9, 2), flow]);
      };
      await run('no hashing (copy only)', () => undefined, 'the I/O ceiling', []);
      await run('OneShotHasher sha256', () => new OneShotHasher('sha256'), 'monolithic POST; POST + PUT', ['sha256']);
      for (const engine of ENGINES) {
        await run(`UploadHasher ${engine} both`, () => UploadHasher.start(undefined, { engine }), 'PATCH (podman/skopeo)', ['sha256', 'sha512']);
        await run(`UploadHasher ${engine} sha256 only`, () => UploadHasher.start(['sha256'], { engine }), 'PATCH after digest-algorithm', ['sha256']);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    console.log(`\n${table(streamRows, 1)}`);
  }
  return 0;
}

runMain(main);
