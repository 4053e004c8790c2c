// Benchmark: throughput of the blob storage drivers (src/storage/) and the memory a large streamed
// write costs. For each driver, the median of --runs runs of:
//
//   write     write(key, body) of a --size-mib object streamed in 64 KiB pieces (as a request
//             body arrives), fsynced (filesystem) or completed (S3)
//   read      read(key) streamed to the end
//   upload    startUpload + one appendUpload of the whole body + completeUpload (a monolithic push)
//   chunked   the same in 16 MiB appends (a chunked push; S3 assembles it with UploadPartCopy)
//
// then, in a fresh child process, the peak RSS during a --peak-gib streamed write on each driver.
// The bodies are generated on the fly, so nothing but the driver holds memory. The S3 driver runs
// against a Ceph RADOS Gateway started on 127.0.0.1 (test/helpers/ceph-s3.sh; memstore: its data
// lives in RAM), skipped when Ceph is not installed.
//
//   npx tsx bench/storage.ts [--size-mib 512] [--runs 3] [--peak-gib 2] [--drivers filesystem,s3] [--dir DIR]
//
// DIR (default: a new directory under the system temp dir) is where the filesystem driver writes;
// put it on the disk to measure. Reads right after writes come from the page cache. Each
// filesystem run is preceded by the same transfer with plain fs calls (the disk's pace that run),
// and the driver's ratio to it is printed: disks, virtual ones especially, vary between runs.
import { fork } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { createReadStream, mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import type { BlobDriver } from '../src/storage/driver.js';
import { FilesystemDriver } from '../src/storage/filesystem.js';
import { blobKey } from '../src/storage/paths.js';
import { S3Driver } from '../src/storage/s3.js';
import { S3Credentials } from '../src/storage/settings.js';
import { missingCephBinaries, startCeph, type CephS3 } from '../test/helpers/ceph-s3.js';
import { intOption, parseCommandLine, UsageError } from './lib.js';

const MiB = 1024 * 1024;
const USAGE = 'npx tsx bench/storage.ts [--size-mib 512] [--runs 3] [--peak-gib 2] [--drivers filesystem,s3] [--dir DIR]';
const DRIVERS = ['filesystem', 's3'] as const;
type DriverName = (typeof DRIVERS)[number];

interface Options {
  sizeMiB: number;
  runs: number;
  peakGiB: number;
  drivers: DriverName[];
  dir?: string;
}

function parse(argv: string[]): Options | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      'size-mib': { type: 'string' },
      runs: { type: 'string' },
      'peak-gib': { type: 'string' },
      drivers: { type: 'string' },
      dir: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  const drivers = (values.drivers ?? DRIVERS.join(',')).split(',').map((s) => s.trim());
  for (const d of drivers) if (!(DRIVERS as readonly string[]).includes(d)) throw new UsageError(`--drivers: unknown driver ${d}`);
  return {
    sizeMiB: intOption('size-mib', values['size-mib'], 512, 16, 8192),
    runs: intOption('runs', values.runs, 3, 1, 20),
    peakGiB: intOption('peak-gib', values['peak-gib'], 2, 0, 16),
    drivers: drivers as DriverName[],
    dir: values.dir,
  };
}

const BLOCK = randomBytes(MiB);
/** `size` bytes in 64 KiB pieces, generated as they are read (each a fresh buffer, as from a socket). */
function body(size: number): Readable {
  let at = 0;
  const piece = 64 * 1024;
  return new Readable({
    highWaterMark: piece,
    read() {
      if (at >= size) return void this.push(null);
      const n = Math.min(piece, size - at);
      const out = Buffer.allocUnsafe(n);
      BLOCK.copy(out, 0, at % MiB, (at % MiB) + n);
      at += n;
      this.push(out);
    },
  });
}

async function drain(r: Readable): Promise<number> {
  let n = 0;
  for await (const c of r) n += (c as Buffer).length;
  return n;
}

const fakeDigest = () => `sha256:${randomBytes(32).toString('hex')}`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

interface Made {
  driver: BlobDriver;
  close(): Promise<void>;
  env: Record<string, string>;
}

async function makeDriver(name: DriverName, dir: string, ceph?: CephS3, bucket?: string): Promise<Made> {
  if (name === 'filesystem') {
    const root = path.join(dir, 'storage');
    return { driver: new FilesystemDriver(root), close: async () => undefined, env: { BENCH_FS_ROOT: root } };
  }
  const d = new S3Driver({
    bucket: bucket!,
    prefix: '',
    endpoint: ceph!.endpoint,
    region: ceph!.region,
    forcePathStyle: true,
    credentials: new S3Credentials(ceph!.accessKey, ceph!.secretKey),
    redirectGets: false,
  });
  return { driver: d, close: () => d.close(), env: { BENCH_S3_ENDPOINT: ceph!.endpoint, BENCH_S3_BUCKET: bucket! } };
}

/**
 * The disk's own pace, run just before each filesystem run: the same bytes written with plain 1 MiB
 * positional writes and one fdatasync, then read back with a 1 MiB-buffer stream. Disks here vary
 * from run to run, so the driver is reported against this.
 */
async function diskBaseline(dir: string, size: number): Promise<Record<string, number>> {
  const file = path.join(dir, `baseline-${randomUUID()}`);
  const w = await timed(async () => {
    const fh = await open(file, 'w', 0o600);
    try {
      const buf = Buffer.allocUnsafe(MiB);
      for (let at = 0; at < size; at += MiB) {
        BLOCK.copy(buf);
        await fh.write(buf, 0, Math.min(MiB, size - at), at);
      }
      await fh.datasync();
    } finally {
      await fh.close();
    }
  });
  const r = await timed(() => drain(createReadStream(file, { highWaterMark: MiB })));
  rmSync(file);
  return { write: size / 1e6 / w, read: size / 1e6 / r };
}

async function throughput(d: BlobDriver, size: number): Promise<Record<string, number>> {
  const key = blobKey(fakeDigest());
  const w = await timed(() => d.write(key, body(size), size));
  const r = await timed(async () => {
    if ((await drain(await d.read(key))) !== size) throw new Error('short read');
  });
  await d.delete(key);
  const key2 = blobKey(fakeDigest());
  const u = await timed(async () => {
    const s = await d.startUpload(randomUUID());
    const { state } = await d.appendUpload(s, 0, body(size));
    await d.completeUpload(state, key2);
  });
  await d.delete(key2);
  const key3 = blobKey(fakeDigest());
  const chunk = 16 * MiB;
  const c = await timed(async () => {
    let s = await d.startUpload(randomUUID());
    for (let at = 0; at < size; at += chunk) s = (await d.appendUpload(s, at, body(Math.min(chunk, size - at)))).state;
    await d.completeUpload(s, key3);
  });
  await d.delete(key3);
  const mbs = (t: number) => size / 1e6 / t;
  return { write: mbs(w), read: mbs(r), upload: mbs(u), chunked: mbs(c) };
}

// ------------------------------------------------------------------------------------------------
// Child: one streamed write of BENCH_PEAK_BYTES, RSS sampled every 5 ms.

async function peakChild(): Promise<void> {
  const size = Number(process.env.BENCH_PEAK_BYTES);
  const d: BlobDriver = process.env.BENCH_FS_ROOT
    ? new FilesystemDriver(process.env.BENCH_FS_ROOT)
    : new S3Driver({
        bucket: process.env.BENCH_S3_BUCKET!,
        prefix: '',
        endpoint: process.env.BENCH_S3_ENDPOINT!,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: new S3Credentials(process.env.BENCH_S3_ACCESS_KEY!, process.env.BENCH_S3_SECRET_KEY!),
        redirectGets: false,
      });
  // Warm up (module code, SDK clients, first allocations) before the baseline.
  const warm = blobKey(fakeDigest());
  await d.write(warm, body(16 * MiB));
  await d.delete(warm);
  const base = process.memoryUsage().rss;
  let peak = base;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
  const key = blobKey(fakeDigest());
  const t = await timed(() => d.write(key, body(size), size));
  clearInterval(timer);
  peak = Math.max(peak, process.memoryUsage().rss);
  await d.delete(key);
  await d.close();
  process.send!({ base, peak, seconds: t });
}

function runPeak(env: Record<string, string>): Promise<{ base: number; peak: number; seconds: number }> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ['--peak-child'], { env: { ...process.env, ...env }, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let got: { base: number; peak: number; seconds: number } | undefined;
    child.on('message', (m) => (got = m as typeof got));
    child.on('error', reject);
    child.on('exit', (code) => (got ? resolve(got) : reject(new Error(`peak child exited with ${code}`))));
  });
}

// ------------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  if (process.argv.includes('--peak-child')) {
    await peakChild();
    return 0;
  }
  const parsed = parseCommandLine(parse, USAGE);
  if (typeof parsed === 'number') return parsed;
  const o = parsed;
  const dir = o.dir ? mkdtempSync(path.join(o.dir, 'bench-storage-')) : mkdtempSync(path.join(os.tmpdir(), 'bench-storage-'));
  let ceph: CephS3 | undefined;
  const bucket = `bench-${Date.now()}`;
  const size = o.sizeMiB * MiB;
  console.log(`storage bench: ${o.sizeMiB} MiB objects, median of ${o.runs} runs; node ${process.version}, ${os.cpus().length} cores; filesystem root under ${dir}`);
  try {
    const results: { name: string; r: Record<string, number>; peak?: { base: number; peak: number; seconds: number } }[] = [];
    for (const name of o.drivers) {
      if (name === 's3') {
        const missing = missingCephBinaries();
        if (missing.length) {
          console.log(`s3: skipped (${missing.join(', ')} not installed: apt-get install -y --no-install-recommends radosgw ceph-mon ceph-osd)`);
          continue;
        }
        ceph = await startCeph({ memstoreBytes: 8 * 1024 * MiB });
        const d = new S3Driver({ bucket, prefix: '', endpoint: ceph.endpoint, region: ceph.region, forcePathStyle: true, credentials: new S3Credentials(ceph.accessKey, ceph.secretKey), redirectGets: false });
        await d.client.send(new CreateBucketCommand({ Bucket: bucket }));
        await d.close();
      }
      const made = await makeDriver(name, dir, ceph, bucket);
      const runs: Record<string, number>[] = [];
      const disk: Record<string, number>[] = [];
      for (let i = 0; i < o.runs; i++) {
        if (name === 'filesystem') disk.push(await diskBaseline(dir, size));
        runs.push(await throughput(made.driver, size));
      }
      await made.close();
      const r = Object.fromEntries(Object.keys(runs[0]).map((k) => [k, median(runs.map((x) => x[k]))]));
      if (disk.length) {
        const b = { write: median(disk.map((x) => x.write)), read: median(disk.map((x) => x.read)) };
        console.log(`disk       plain 1 MiB writes + fdatasync ${b.write.toFixed(0)} MB/s, plain read ${b.read.toFixed(0)} MB/s (driver/plain: write ${(r.write / b.write).toFixed(2)}, read ${(r.read / b.read).toFixed(2)})`);
      }
      const env = { ...made.env, BENCH_PEAK_BYTES: String(o.peakGiB * 1024 * MiB), BENCH_S3_ACCESS_KEY: ceph?.accessKey ?? '', BENCH_S3_SECRET_KEY: ceph?.secretKey ?? '' };
      const peak = o.peakGiB > 0 ? await runPeak(env) : undefined;
      results.push({ name, r, peak });
      console.log(
        `${name.padEnd(10)} write ${r.write.toFixed(0)} MB/s, read ${r.read.toFixed(0)} MB/s, upload ${r.upload.toFixed(0)} MB/s, chunked (16 MiB) ${r.chunked.toFixed(0)} MB/s` +
          (peak ? `; ${o.peakGiB} GiB streamed write: RSS ${(peak.base / MiB).toFixed(0)} → peak ${(peak.peak / MiB).toFixed(0)} MiB (+${((peak.peak - peak.base) / MiB).toFixed(1)} MiB), ${((o.peakGiB * 1024 * MiB) / 1e6 / peak.seconds).toFixed(0)} MB/s` : ''),
      );
    }
    return 0;
  } finally {
    await ceph?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
