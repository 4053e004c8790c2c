// Benchmark: our /v2 side by side with Debian's docker-registry (CNCF distribution 2.8), both on
// 127.0.0.1 with filesystem storage in a temp dir, in one run. The load generator is this process
// (pinned to CPU 0); both servers are pinned to CPU 1. Ours is `serve` in a child process (embedded
// PGlite in a temp DATA_DIR, or --db postgres on a scratch database; storage DATA_DIR/storage), with
// a user made by /api/v1/user/initialize and a registry token from /v2/auth (push+pull);
// distribution runs without auth (test/helpers/docker-registry.ts). Both get the same requests:
//
//   push-monolithic  POST, then PUT ?digest= with the whole --size MiB blob (distribution 2.8 has
//                    no single-POST push, so both use POST+PUT)
//   push-patch       podman/skopeo: POST, one PATCH with the whole blob, PUT ?digest= without body
//   push-chunked     POST, PATCHes of --chunk MiB with Content-Range, PUT ?digest= without body
//   pull             GET of the blob, streamed and counted
//   manifest-get     GET /v2/<repo>/manifests/<tag>, --connections connections for --duration s
//   tags-list        GET /v2/<repo>/tags/list of a repository with --tags tags (no n)
//   tags-page        the same with n=100 (first page and pages after three `last` tags, in turn)
//   peak-rss         peak RSS of the server during a --peak-size MiB push (the PATCH flow)
//
// Every push sends a new blob (fresh random bytes at its start), so nothing is deduplicated. Per
// push: MB/s (10^6 bytes/s, first request to the 201) and the server's CPU time (all its threads,
// /proc/<pid>/stat) per GB; per load: req/s, p50/p99 and server CPU per request. RSS is sampled from
// /proc/<pid>/status every 20 ms, and VmHWM is reset (clear_refs) before each push. Fresh servers
// each round; the table shows the median of --rounds rounds and ours/distribution for every figure
// (the order of the two alternates between rounds).
//
//   npx tsx bench/registry.ts [--rounds 3] [--size 512] [--peak-size 2048] [--chunk 16]
//       [--duration 10] [--warmup 2] [--connections 16] [--tags 10000] [--only m1,m2]
//       [--db pglite|postgres] [--database-url URL] [--seed db|api] [--no-pin] [--cpu-prof DIR]
//       [--wait-quiet S] [--json FILE]
//
// Every request goes to 127.0.0.1 only; sizes, durations and counts are capped. Stops by itself
// and removes its servers, temp dirs and scratch databases however it ends.
import { createHash, randomBytes, randomFillSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freeLoopbackPort, haveDockerRegistry, startDockerRegistry } from '../test/helpers/docker-registry.js';
import {
  checkDatabase,
  childSpec,
  cpuTimes,
  DEFAULT_PG_URL,
  fmt as f,
  followParent,
  generateLoad,
  intOption,
  machineLine,
  median,
  parseCommandLine,
  pin,
  pinSelf,
  processCpuUs,
  processMemory,
  resetPeakRss,
  Run,
  runMain,
  sampleRss,
  ServerChild,
  summarizeProfile,
  table,
  UsageError,
  waitQuiet,
  WindowProfiler,
  type DbKind,
} from './lib.js';

const SELF = fileURLToPath(import.meta.url);
const MiB = 1024 * 1024;
const LIMITS = { rounds: 10, size: 2048, peakSize: 4096, chunk: 256, duration: 60, warmup: 30, connections: 256, tags: 50_000, waitQuiet: 600 };
const SERVER_CPU = 1;

const MEASURES = ['push-monolithic', 'push-patch', 'push-chunked', 'pull', 'manifest-get', 'tags-list', 'tags-page', 'peak-rss'] as const;
type Measure = (typeof MEASURES)[number];
const GROUPS: Record<string, readonly Measure[]> = { push: ['push-monolithic', 'push-patch', 'push-chunked'], tags: ['tags-list', 'tags-page'], all: MEASURES };
type TargetKind = 'distribution' | 'ours';

/** The namespace (our user) and repositories, the same on both servers. */
const NS = 'benchuser';
const BLOB_REPO = `${NS}/blobs`;
const TAGS_REPO = `${NS}/tags`;
const MANIFEST_TAG = 'latest';
const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

const USAGE = `Usage: npx tsx bench/registry.ts [options]

  --rounds N            rounds, fresh servers each; medians are reported (default 3, max ${LIMITS.rounds})
  --size MiB            blob size of the push and pull measures (default 512, 1 to ${LIMITS.size})
  --peak-size MiB       blob size of the peak-rss push (default 2048, 1 to ${LIMITS.peakSize})
  --chunk MiB           PATCH size of push-chunked (default 16, 1 to ${LIMITS.chunk})
  --duration S          measured seconds of each load measure (default 10, max ${LIMITS.duration})
  --warmup S            unmeasured seconds of load before each (default 2, max ${LIMITS.warmup})
  --connections N       connections of the load measures (default 16, max ${LIMITS.connections})
  --tags N              tags in the tags/list repository (default 10000, 200 to ${LIMITS.tags})
  --only LIST           measures to run, comma-separated: ${MEASURES.join(', ')},
                        or the groups push, tags, all (default all)
  --db pglite|postgres  our database (default pglite, on disk in the temp DATA_DIR)
  --database-url URL    Postgres server for --db postgres (default ${DEFAULT_PG_URL}); a scratch
                        database bench_<random> is created on it per round and dropped afterwards
  --seed db|api         how our repository gets its tags: db (default) inserts the rows directly
                        after one PUT through /v2; api PUTs the manifest under every tag, as on
                        distribution (which is always seeded through its API)
  --log-level L         our server's LOG_LEVEL (default silent; its output goes to /dev/null)
  --no-pin              do not pin the load generator to CPU 0 and the servers to CPU ${SERVER_CPU}
  --cpu-prof DIR        write a V8 CPU profile of our server (main thread) for each measure to DIR,
                        and print where its time went in the last round (profiling slows it down)
  --wait-quiet S        before each measurement, wait up to S seconds for the machine to be idle
                        (under 20% of a core for 3 s in a row); default 0 (do not wait)
  --json FILE           also write every figure as JSON
  -h, --help`;

// ------------------------------------------------------------------------------------------------
// Options

interface Options {
  rounds: number;
  size: number;
  peakSize: number;
  chunk: number;
  duration: number;
  warmup: number;
  connections: number;
  tags: number;
  measures: Measure[];
  db: DbKind;
  databaseUrl: string;
  seed: 'db' | 'api';
  logLevel: string;
  pin: boolean;
  cpuProf?: string;
  waitQuiet: number;
  json?: string;
}

function parseOptions(argv: string[]): Options | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      rounds: { type: 'string' },
      size: { type: 'string' },
      'peak-size': { type: 'string' },
      chunk: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      tags: { type: 'string' },
      only: { type: 'string', default: 'all' },
      db: { type: 'string', default: 'pglite' },
      'database-url': { type: 'string', default: DEFAULT_PG_URL },
      seed: { type: 'string', default: 'db' },
      'log-level': { type: 'string', default: 'silent' },
      'no-pin': { type: 'boolean', default: false },
      'cpu-prof': { type: 'string' },
      'wait-quiet': { type: 'string' },
      json: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) return 'help';
  const databaseUrl = values['database-url']!;
  const db = checkDatabase(values.db, databaseUrl);
  const measures = new Set<Measure>();
  for (const name of values.only!.split(',').map((s) => s.trim()).filter(Boolean)) {
    const group = GROUPS[name] ?? (MEASURES.includes(name as Measure) ? [name as Measure] : undefined);
    if (!group) throw new UsageError(`--only: unknown measure ${JSON.stringify(name)}`);
    for (const m of group) measures.add(m);
  }
  if (measures.size === 0) throw new UsageError('--only names no measure');
  if (values.seed !== 'db' && values.seed !== 'api') throw new UsageError('--seed must be db or api');
  return {
    rounds: intOption('rounds', values.rounds, 3, 1, LIMITS.rounds),
    size: intOption('size', values.size, 512, 1, LIMITS.size),
    peakSize: intOption('peak-size', values['peak-size'], 2048, 1, LIMITS.peakSize),
    chunk: intOption('chunk', values.chunk, 16, 1, LIMITS.chunk),
    duration: intOption('duration', values.duration, 10, 1, LIMITS.duration),
    warmup: intOption('warmup', values.warmup, 2, 0, LIMITS.warmup),
    connections: intOption('connections', values.connections, 16, 1, LIMITS.connections),
    tags: intOption('tags', values.tags, 10_000, 200, LIMITS.tags),
    measures: MEASURES.filter((m) => measures.has(m)),
    db,
    databaseUrl,
    seed: values.seed,
    logLevel: values['log-level']!,
    pin: !values['no-pin'],
    cpuProf: values['cpu-prof'] ? path.resolve(values['cpu-prof']) : undefined,
    waitQuiet: intOption('wait-quiet', values['wait-quiet'], 0, 0, LIMITS.waitQuiet),
    json: values.json,
  };
}

// ------------------------------------------------------------------------------------------------
// Child side: our server, as `serve` runs it, driven over the IPC channel.

interface ChildSpec {
  dataDir: string;
  port: number;
  /** Postgres URL of the scratch database (--db postgres); PGlite in dataDir otherwise. */
  url?: string;
  logLevel: string;
}

type ToChild =
  | { type: 'profile-start' }
  | { type: 'profile-stop'; file: string }
  | { type: 'seed-tags'; namespace: string; repository: string; digest: string; names: string[] }
  | { type: 'stop' };
type FromChild = { type: 'ready'; port: number } | { type: 'ack' } | { type: 'seeded'; count: number } | { type: 'profile'; file: string } | { type: 'error'; message: string };

async function runChild(spec: ChildSpec): Promise<void> {
  const send = (m: FromChild) => process.send!(m);
  followParent();
  const { loadConfig } = await import('../src/config.js');
  const { startServer } = await import('../src/server.js');
  process.umask(0o077);
  const env: NodeJS.ProcessEnv = {
    DATA_DIR: spec.dataDir,
    HOST: '127.0.0.1',
    PORT: String(spec.port),
    SERVER_HOSTNAME: `127.0.0.1:${spec.port}`,
    LOG_LEVEL: spec.logLevel,
  };
  if (spec.url) env.DATABASE_URL = spec.url;
  const config = loadConfig(env);
  // Create and migrate the database first: a first start of PGlite (initdb, fsync of the new
  // cluster, migrations) on a busy machine can exceed Fastify's 10 s plugin timeout.
  const { databaseOptions, migrateToLatest, openDatabase } = await import('../src/db/index.js');
  const prepared = await openDatabase(databaseOptions(config));
  await migrateToLatest(prepared.db);
  await prepared.close();
  const app = await startServer(config);
  const profiler = new WindowProfiler();

  process.on('message', (m: ToChild) => {
    void (async () => {
      switch (m.type) {
        case 'profile-start':
          await profiler.start(100);
          send({ type: 'ack' });
          break;
        case 'profile-stop':
          await profiler.stop(m.file);
          send({ type: 'profile', file: m.file });
          break;
        case 'seed-tags': {
          // "Or faster" than 10,000 PUTs: the rows setTag() would write for a tag pushed once.
          const db = app.db;
          const ns = await db.selectFrom('namespace').select('id').where('username', '=', m.namespace).executeTakeFirstOrThrow();
          const repo = await db.selectFrom('repository').select('id').where('namespace_id', '=', ns.id).where('name', '=', m.repository).executeTakeFirstOrThrow();
          const manifest = await db.selectFrom('manifest').select('id').where('repository_id', '=', repo.id).where('digest', '=', m.digest).executeTakeFirstOrThrow();
          const now = Date.now();
          await db.transaction().execute(async (trx) => {
            for (let i = 0; i < m.names.length; i += 1000) {
              const rows = m.names.slice(i, i + 1000).map((name) => ({ repository_id: repo.id, name, manifest_id: manifest.id, lifetime_start_ms: now, lifetime_end_ms: null, hidden: false }));
              await trx.insertInto('tag').values(rows).execute();
            }
          });
          send({ type: 'seeded', count: m.names.length });
          break;
        }
        case 'stop':
          await app.close();
          process.exit(0);
      }
    })().catch((err: Error) => send({ type: 'error', message: err.stack ?? err.message }));
  });
  send({ type: 'ready', port: spec.port });
}

// ------------------------------------------------------------------------------------------------
// HTTP, on 127.0.0.1 only

const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The body, up to 4 MiB kept (none with `discard`). */
  body: Buffer;
  /** Body bytes received. */
  received: number;
}

/** One request. `body`: a Buffer, or pieces written with backpressure (set content-length yourself). */
function request(method: string, url: URL, o: { headers?: Record<string, string>; body?: Buffer | Iterable<Buffer>; discard?: boolean; agent?: http.Agent } = {}): Promise<Reply> {
  if (url.hostname !== '127.0.0.1') return Promise.reject(new Error(`refusing to contact ${url.host}: this benchmark stays on 127.0.0.1`));
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: url.port, path: url.pathname + url.search, method, headers: o.headers, agent: o.agent ?? agent }, (res) => {
      const chunks: Buffer[] = [];
      let received = 0;
      res.on('data', (c: Buffer) => {
        received += c.length;
        if (!o.discard && received <= 4 * MiB) chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), received }));
      res.on('error', reject);
    });
    req.on('error', reject);
    const body = o.body;
    if (body === undefined || Buffer.isBuffer(body)) {
      req.end(body);
      return;
    }
    void (async () => {
      for (const piece of body) {
        if (req.destroyed) return;
        if (!req.write(piece)) {
          await new Promise<void>((r) => {
            const done = () => {
              req.off('drain', done);
              req.off('close', done);
              r();
            };
            req.on('drain', done);
            req.on('close', done);
          });
        }
      }
      req.end();
    })();
  });
}

function expectStatus(r: Reply, status: number, what: string): void {
  if (r.status !== status) throw new Error(`${what}: expected ${status}, got ${r.status}: ${r.body.toString('utf8').slice(0, 500)}`);
}

/**
 * A blob to push: `size` bytes made of a random base buffer repeated (so a 2 GiB blob costs no
 * more memory here than the base). renew() makes it a new blob (new random bytes at the start of
 * the base) and computes its digest, outside any timed window.
 */
class BlobBody {
  digest = '';

  constructor(
    private readonly base: Buffer,
    readonly size: number,
  ) {}

  renew(): string {
    randomFillSync(this.base, 0, 64);
    const h = createHash('sha256');
    for (const p of this.pieces(0, this.size)) h.update(p);
    this.digest = `sha256:${h.digest('hex')}`;
    return this.digest;
  }

  /** Bytes [start, end) in pieces of at most `piece` bytes (views of the base, no copies). */
  *pieces(start: number, end: number, piece = 8 * MiB): Generator<Buffer> {
    for (let at = start; at < end; ) {
      const b = at % this.base.length;
      const n = Math.min(piece, this.base.length - b, end - at);
      yield this.base.subarray(b, b + n);
      at += n;
    }
  }
}

// ------------------------------------------------------------------------------------------------
// The two servers

interface Target {
  kind: TargetKind;
  label: string;
  base: string;
  port: number;
  pid: number;
  /** Headers of every request (ours: the registry token). */
  auth: Record<string, string>;
  child?: ServerChild<ToChild, FromChild>;
  stop(): Promise<void>;
}

const url = (t: Target, p: string) => new URL(p, t.base);

/** Runs `fn` with this process pinned to `cpu`, so that what it spawns inherits that affinity. */
async function onServerCpu<T>(o: Options, fn: () => Promise<T>): Promise<T> {
  if (!o.pin) return fn();
  pin(process.pid, SERVER_CPU);
  try {
    return await fn();
  } finally {
    pin(process.pid, 0);
  }
}

/** The pid of the docker-registry serving the config file under `root` (the helper does not expose it). */
function pidOfRegistry(root: string): number {
  const config = path.join(root, 'config.yml');
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (argv.includes('serve') && argv.includes(config)) return Number(entry);
    } catch {
      // gone, or not ours to read
    }
  }
  throw new Error(`no docker-registry process serves ${config}`);
}

async function startDistribution(o: Options, run: Run): Promise<Target> {
  // Started pinned (not only pinned afterwards), so that Go's GOMAXPROCS sees the one CPU it gets.
  const reg = await onServerCpu(o, () => startDockerRegistry());
  run.onCleanup(() => reg.stop());
  const pid = pidOfRegistry(reg.root);
  if (o.pin) pin(pid, SERVER_CPU);
  const port = Number(reg.directHost.split(':')[1]);
  return { kind: 'distribution', label: 'distribution', base: `http://${reg.directHost}`, port, pid, auth: {}, stop: () => reg.stop() };
}

async function startOurs(o: Options, run: Run, dbUrl: string | undefined): Promise<Target> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'bench-registry-'));
  const removeDir = () => rmSync(dataDir, { recursive: true, force: true });
  run.onCleanup(removeDir);
  const port = await freeLoopbackPort();
  const spec: ChildSpec = { dataDir, port, url: dbUrl, logLevel: o.logLevel };
  // Pinned once ready (a start pinned to one busy CPU can exceed Fastify's 10 s plugin timeout).
  const { server } = await ServerChild.start<ToChild, FromChild>(SELF, spec, o.pin ? SERVER_CPU : undefined);
  const t: Target = {
    kind: 'ours',
    label: `ours (${o.db})`,
    base: `http://127.0.0.1:${port}`,
    port,
    pid: server.child.pid!,
    auth: {},
    child: server,
    stop: async () => {
      await server.stop();
      removeDir();
    },
  };
  // The first user, then a registry token for both repositories (created by the token's push scope).
  const password = randomBytes(12).toString('hex');
  const init = await request('POST', url(t, '/api/v1/user/initialize'), {
    headers: { 'content-type': 'application/json' },
    body: Buffer.from(JSON.stringify({ username: NS, password, email: `${NS}@example.com` })),
  });
  expectStatus(init, 200, 'POST /api/v1/user/initialize');
  const q = new URLSearchParams([['service', `127.0.0.1:${port}`], ['scope', `repository:${BLOB_REPO}:pull,push`], ['scope', `repository:${TAGS_REPO}:pull,push`]]);
  const auth = await request('GET', url(t, `/v2/auth?${q}`), { headers: { authorization: `Basic ${Buffer.from(`${NS}:${password}`).toString('base64')}` } });
  expectStatus(auth, 200, 'GET /v2/auth');
  const token = (JSON.parse(auth.body.toString('utf8')) as { token: string }).token;
  t.auth = { authorization: `Bearer ${token}` };
  return t;
}

// ------------------------------------------------------------------------------------------------
// Registry operations, the same requests to both

async function openUpload(t: Target, repo: string): Promise<URL> {
  const r = await request('POST', url(t, `/v2/${repo}/blobs/uploads/`), { headers: { ...t.auth, 'content-length': '0' } });
  expectStatus(r, 202, `${t.label}: POST /v2/${repo}/blobs/uploads/`);
  return nextLocation(t, r);
}

function nextLocation(t: Target, r: Reply): URL {
  const loc = r.headers.location;
  if (!loc) throw new Error(`${t.label}: no Location in a ${r.status} answer`);
  return url(t, loc);
}

/** The upload URL with `digest` added (distribution's Location already carries a `_state` query). */
function withDigest(loc: URL, digest: string): URL {
  return new URL(`${loc.pathname}${loc.search ? `${loc.search}&` : '?'}digest=${encodeURIComponent(digest)}`, loc);
}

function expectCreated(t: Target, r: Reply, digest: string, what: string): void {
  expectStatus(r, 201, `${t.label}: ${what}`);
  const got = r.headers['docker-content-digest'];
  if (got !== undefined && got !== digest) throw new Error(`${t.label}: ${what} answered digest ${got}, expected ${digest}`);
}

type Flow = 'monolithic' | 'patch' | 'chunked';

/** `fn` with a keep-alive agent of its own: one connection for the flow, never a stale idle one. */
async function withConnection<T>(fn: (agent: http.Agent) => Promise<T>): Promise<T> {
  const a = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    return await fn(a);
  } finally {
    a.destroy();
  }
}

async function pushBlob(t: Target, repo: string, flow: Flow, blob: BlobBody, chunk: number): Promise<void> {
  await withConnection(async (agent) => {
    const octets = { ...t.auth, 'content-type': 'application/octet-stream' };
    const post = await request('POST', url(t, `/v2/${repo}/blobs/uploads/`), { headers: { ...t.auth, 'content-length': '0' }, agent });
    expectStatus(post, 202, `${t.label}: POST /v2/${repo}/blobs/uploads/`);
    let loc = nextLocation(t, post);
    if (flow === 'monolithic') {
      const r = await request('PUT', withDigest(loc, blob.digest), { headers: { ...octets, 'content-length': String(blob.size) }, body: blob.pieces(0, blob.size), agent });
      expectCreated(t, r, blob.digest, 'PUT with the blob');
      return;
    }
    const step = flow === 'patch' ? blob.size : chunk;
    for (let start = 0; start < blob.size; start += step) {
      const end = Math.min(blob.size, start + step);
      const headers: Record<string, string> = { ...octets, 'content-length': String(end - start) };
      if (flow === 'chunked') headers['content-range'] = `${start}-${end - 1}`;
      const r = await request('PATCH', loc, { headers, body: blob.pieces(start, end), agent });
      expectStatus(r, 202, `${t.label}: PATCH ${start}-${end - 1}`);
      loc = nextLocation(t, r);
    }
    const r = await request('PUT', withDigest(loc, blob.digest), { headers: { ...t.auth, 'content-length': '0' }, agent });
    expectCreated(t, r, blob.digest, 'PUT ?digest= without body');
  });
}

async function pullBlob(t: Target, repo: string, digest: string, size: number): Promise<void> {
  const r = await withConnection((agent) => request('GET', url(t, `/v2/${repo}/blobs/${digest}`), { headers: t.auth, discard: true, agent }));
  expectStatus(r, 200, `${t.label}: GET blob`);
  if (r.received !== size) throw new Error(`${t.label}: GET blob gave ${r.received} bytes, expected ${size}`);
}

/** A small image (config + one layer + OCI manifest), the same bytes on both servers. */
function smallImage() {
  const layer = randomBytes(2048);
  const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(layer)] }, config: {} }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(layer), size: layer.length }],
    }),
  );
  return { blobs: [config, layer].map((bytes) => ({ bytes, digest: sha(bytes) })), manifest, digest: sha(manifest) };
}
type SmallImage = ReturnType<typeof smallImage>;

async function putManifest(t: Target, repo: string, tag: string, img: SmallImage): Promise<void> {
  const r = await request('PUT', url(t, `/v2/${repo}/manifests/${tag}`), {
    headers: { ...t.auth, 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'content-length': String(img.manifest.length) },
    body: img.manifest,
  });
  expectCreated(t, r, img.digest, `PUT manifest ${repo}:${tag}`);
}

async function pushSmallImage(t: Target, repo: string, img: SmallImage): Promise<void> {
  for (const b of img.blobs) {
    const loc = await openUpload(t, repo);
    const r = await request('PUT', withDigest(loc, b.digest), { headers: { ...t.auth, 'content-type': 'application/octet-stream', 'content-length': String(b.bytes.length) }, body: b.bytes });
    expectCreated(t, r, b.digest, 'PUT small blob');
  }
}

const tagName = (i: number) => `t${String(i).padStart(5, '0')}`;

/** Gives TAGS_REPO `count` tags t00000… (all on one manifest); returns the seconds it took. */
async function seedTags(t: Target, o: Options, img: SmallImage): Promise<number> {
  const t0 = performance.now();
  await pushSmallImage(t, TAGS_REPO, img);
  await putManifest(t, TAGS_REPO, tagName(0), img);
  const rest = Array.from({ length: o.tags - 1 }, (_, i) => tagName(i + 1));
  if (t.kind === 'ours' && o.seed === 'db') {
    await t.child!.ask({ type: 'seed-tags', namespace: NS, repository: TAGS_REPO.split('/')[1], digest: img.digest, names: rest }, 'seeded', 120_000);
  } else {
    let next = 0;
    const worker = async () => {
      while (next < rest.length) await putManifest(t, TAGS_REPO, rest[next++], img);
    };
    await Promise.all(Array.from({ length: 8 }, worker));
  }
  const r = await request('GET', url(t, `/v2/${TAGS_REPO}/tags/list`), { headers: t.auth });
  expectStatus(r, 200, `${t.label}: tags/list`);
  const n = (JSON.parse(r.body.toString('utf8')) as { tags: string[] }).tags.length;
  if (n !== o.tags) throw new Error(`${t.label}: tags/list has ${n} tags after seeding, expected ${o.tags}`);
  return (performance.now() - t0) / 1000;
}

// ------------------------------------------------------------------------------------------------
// Measuring

interface Figure {
  measure: Measure;
  target: TargetKind;
  round: number;
  seconds: number;
  /** Server CPU over the window, % of one core (all its threads). */
  serverCpuPct: number;
  /** Everything else on the machine but this process and the server, % of one core. */
  otherCpuPct: number;
  // pushes and pulls
  bytes?: number;
  mbps?: number;
  cpuSPerGB?: number;
  rssBaseMiB?: number;
  rssPeakMiB?: number;
  rssGrowthMiB?: number;
  // loads
  rps?: number;
  p50?: number;
  p99?: number;
  cpuUsPerReq?: number;
  non2xx?: number;
  errors?: number;
  responseBytes?: number;
  tagsPerResponse?: number;
  profile?: string;
}

/** Runs `fn` as the measured window on `t`: CPU of the server, this process and the machine, RSS, profile. */
async function measured(t: Target, o: Options, measure: Measure, round: number, fn: () => Promise<void>): Promise<Figure> {
  if (o.cpuProf && t.child) await t.child.ask({ type: 'profile-start' }, 'ack');
  const rssBase = processMemory(t.pid).rss;
  resetPeakRss(t.pid);
  const sampler = sampleRss(t.pid, 20);
  const machine0 = cpuTimes();
  const self0 = process.cpuUsage();
  const cpu0 = processCpuUs(t.pid);
  const t0 = performance.now();
  await fn();
  const seconds = (performance.now() - t0) / 1000;
  const cpuUs = processCpuUs(t.pid) - cpu0;
  const self = process.cpuUsage(self0);
  const machine1 = cpuTimes();
  const peak = Math.max(sampler.stop().max, processMemory(t.pid).hwm);
  let profile: string | undefined;
  if (o.cpuProf && t.child) {
    mkdirSync(o.cpuProf, { recursive: true });
    profile = (await t.child.ask({ type: 'profile-stop', file: path.join(o.cpuProf, `${measure}-r${round}.cpuprofile`) }, 'profile')).file;
  }
  const serverCpuPct = (cpuUs / 1e6 / seconds) * 100;
  const selfPct = ((self.user + self.system) / 1e6 / seconds) * 100;
  const machinePct = machine0 && machine1 ? ((machine1.busy - machine0.busy) / Math.max(1, machine1.total - machine0.total)) * os.cpus().length * 100 : NaN;
  return {
    measure,
    target: t.kind,
    round,
    seconds,
    serverCpuPct,
    otherCpuPct: Math.max(0, machinePct - serverCpuPct - selfPct),
    rssBaseMiB: rssBase / MiB,
    rssPeakMiB: peak / MiB,
    rssGrowthMiB: (peak - rssBase) / MiB,
    profile,
  };
}

function transfer(fig: Figure, bytes: number): Figure {
  const cpuS = (fig.serverCpuPct / 100) * fig.seconds;
  return { ...fig, bytes, mbps: bytes / 1e6 / fig.seconds, cpuSPerGB: cpuS / (bytes / 1e9) };
}

/** Per round: what a target still holds for the next measures. */
interface RoundState {
  t: Target;
  pulled?: { digest: string; size: number };
}

async function runMeasure(m: Measure, s: RoundState, o: Options, round: number, blob: BlobBody, peakBlob: BlobBody, img: SmallImage): Promise<Figure> {
  const t = s.t;
  const push = async (flow: Flow, body: BlobBody) => {
    body.renew();
    const fig = await measured(t, o, m, round, () => pushBlob(t, BLOB_REPO, flow, body, o.chunk * MiB));
    if (flow === 'monolithic' && body === blob) s.pulled = { digest: body.digest, size: body.size };
    return transfer(fig, body.size);
  };
  switch (m) {
    case 'push-monolithic':
      return push('monolithic', blob);
    case 'push-patch':
      return push('patch', blob);
    case 'push-chunked':
      return push('chunked', blob);
    case 'peak-rss':
      return push('patch', peakBlob);
    case 'pull': {
      if (!s.pulled) {
        blob.renew();
        await pushBlob(t, BLOB_REPO, 'monolithic', blob, o.chunk * MiB);
        s.pulled = { digest: blob.digest, size: blob.size };
      }
      const { digest, size } = s.pulled;
      return transfer(await measured(t, o, m, round, () => pullBlob(t, BLOB_REPO, digest, size)), size);
    }
    case 'manifest-get':
    case 'tags-list':
    case 'tags-page': {
      const headers = { ...t.auth, accept: MANIFEST_ACCEPT };
      let paths: string[];
      if (m === 'manifest-get') paths = [`/v2/${BLOB_REPO}/manifests/${MANIFEST_TAG}`];
      else if (m === 'tags-list') paths = [`/v2/${TAGS_REPO}/tags/list`];
      else paths = [`/v2/${TAGS_REPO}/tags/list?n=100`, ...[0.25, 0.5, 0.75].map((q) => `/v2/${TAGS_REPO}/tags/list?n=100&last=${tagName(Math.floor(o.tags * q) - 1)}`)];
      // Every path must answer 200 (and what it answers is recorded), or the rate means nothing.
      let responseBytes = 0;
      let tagsPerResponse = 0;
      for (const p of paths) {
        const r = await request('GET', url(t, p), { headers });
        expectStatus(r, 200, `${t.label}: GET ${p}`);
        responseBytes += r.received / paths.length;
        if (m !== 'manifest-get') tagsPerResponse += (JSON.parse(r.body.toString('utf8')) as { tags: string[] }).tags.length / paths.length;
        else if (!r.body.equals(img.manifest)) throw new Error(`${t.label}: GET ${p} did not answer the manifest pushed`);
      }
      const load = (seconds: number) => generateLoad({ port: t.port, path: paths[0], paths: paths.length > 1 ? paths : undefined, headers, connections: o.connections, seconds });
      if (o.warmup > 0) await load(o.warmup);
      let result: Awaited<ReturnType<typeof load>> | undefined;
      const fig = await measured(t, o, m, round, async () => {
        result = await load(o.duration);
      });
      const l = result!;
      return {
        ...fig,
        rps: l.rps,
        p50: l.p50,
        p99: l.p99,
        cpuUsPerReq: ((fig.serverCpuPct / 100) * fig.seconds * 1e6) / Math.max(1, l.requests),
        non2xx: l.non2xx,
        errors: l.errors + l.timeouts,
        responseBytes,
        tagsPerResponse: m === 'manifest-get' ? undefined : tagsPerResponse,
      };
    }
  }
}

// ------------------------------------------------------------------------------------------------
// Report

interface Row {
  measure: Measure;
  label: (o: Options) => string;
  key: keyof Figure;
  unit: string;
  digits: number;
  /** Throughput figures the issue's aim (>= 1.0x distribution) applies to. */
  aim?: boolean;
  lowerIsBetter?: boolean;
}

const ROWS: Row[] = [
  { measure: 'push-monolithic', label: (o) => `push ${o.size} MiB monolithic (POST, PUT+body)`, key: 'mbps', unit: 'MB/s', digits: 0, aim: true },
  { measure: 'push-monolithic', label: () => '  server CPU', key: 'cpuSPerGB', unit: 's/GB', digits: 2, lowerIsBetter: true },
  { measure: 'push-monolithic', label: () => '  server RSS growth', key: 'rssGrowthMiB', unit: 'MiB', digits: 1, lowerIsBetter: true },
  { measure: 'push-patch', label: (o) => `push ${o.size} MiB podman/skopeo (POST, PATCH, PUT)`, key: 'mbps', unit: 'MB/s', digits: 0, aim: true },
  { measure: 'push-patch', label: () => '  server CPU', key: 'cpuSPerGB', unit: 's/GB', digits: 2, lowerIsBetter: true },
  { measure: 'push-patch', label: () => '  server RSS growth', key: 'rssGrowthMiB', unit: 'MiB', digits: 1, lowerIsBetter: true },
  { measure: 'push-chunked', label: (o) => `push ${o.size} MiB chunked (PATCH ${o.chunk} MiB x ${Math.ceil(o.size / o.chunk)})`, key: 'mbps', unit: 'MB/s', digits: 0, aim: true },
  { measure: 'push-chunked', label: () => '  server CPU', key: 'cpuSPerGB', unit: 's/GB', digits: 2, lowerIsBetter: true },
  { measure: 'push-chunked', label: () => '  server RSS growth', key: 'rssGrowthMiB', unit: 'MiB', digits: 1, lowerIsBetter: true },
  { measure: 'pull', label: (o) => `pull ${o.size} MiB (GET, streamed)`, key: 'mbps', unit: 'MB/s', digits: 0, aim: true },
  { measure: 'pull', label: () => '  server CPU', key: 'cpuSPerGB', unit: 's/GB', digits: 2, lowerIsBetter: true },
  { measure: 'manifest-get', label: (o) => `manifest GET by tag (${o.connections} conn.)`, key: 'rps', unit: 'req/s', digits: 0, aim: true },
  { measure: 'manifest-get', label: () => '  p50', key: 'p50', unit: 'ms', digits: 2, lowerIsBetter: true },
  { measure: 'manifest-get', label: () => '  p99', key: 'p99', unit: 'ms', digits: 2, lowerIsBetter: true },
  { measure: 'manifest-get', label: () => '  server CPU', key: 'cpuUsPerReq', unit: 'µs/req', digits: 0, lowerIsBetter: true },
  { measure: 'tags-list', label: (o) => `tags/list, ${o.tags} tags, no n (${o.connections} conn.)`, key: 'rps', unit: 'req/s', digits: 0, aim: true },
  { measure: 'tags-list', label: () => '  p50', key: 'p50', unit: 'ms', digits: 2, lowerIsBetter: true },
  { measure: 'tags-list', label: () => '  p99', key: 'p99', unit: 'ms', digits: 2, lowerIsBetter: true },
  { measure: 'tags-list', label: () => '  server CPU', key: 'cpuUsPerReq', unit: 'µs/req', digits: 0, lowerIsBetter: true },
  { measure: 'tags-list', label: () => '  tags per response', key: 'tagsPerResponse', unit: '', digits: 0 },
  { measure: 'tags-page', label: (o) => `tags/list?n=100 pages (${o.connections} conn.)`, key: 'rps', unit: 'req/s', digits: 0, aim: true },
  { measure: 'tags-page', label: () => '  p50', key: 'p50', unit: 'ms', digits: 2, lowerIsBetter: true },
  { measure: 'tags-page', label: () => '  p99', key: 'p99', unit: 'ms', digits: 2, lowerIsBetter: true },
  { measure: 'tags-page', label: () => '  server CPU', key: 'cpuUsPerReq', unit: 'µs/req', digits: 0, lowerIsBetter: true },
  { measure: 'tags-page', label: () => '  tags per response', key: 'tagsPerResponse', unit: '', digits: 0 },
  { measure: 'peak-rss', label: (o) => `peak RSS, ${o.peakSize} MiB push (POST, PATCH, PUT)`, key: 'rssPeakMiB', unit: 'MiB', digits: 1, lowerIsBetter: true },
  { measure: 'peak-rss', label: () => '  growth during the push', key: 'rssGrowthMiB', unit: 'MiB', digits: 1, lowerIsBetter: true },
  { measure: 'peak-rss', label: () => '  RSS before the push', key: 'rssBaseMiB', unit: 'MiB', digits: 1, lowerIsBetter: true },
  { measure: 'peak-rss', label: () => '  push rate', key: 'mbps', unit: 'MB/s', digits: 0 },
];

interface SummaryRow {
  measure: Measure;
  label: string;
  unit: string;
  distribution: number;
  ours: number;
  ratio: number;
  aim?: boolean;
  lowerIsBetter?: boolean;
}

function summarize(o: Options, figs: Figure[]): SummaryRow[] {
  const out: SummaryRow[] = [];
  for (const row of ROWS) {
    if (!o.measures.includes(row.measure)) continue;
    const med = (k: TargetKind) => median(figs.filter((x) => x.measure === row.measure && x.target === k).map((x) => x[row.key] as number).filter((v) => typeof v === 'number'));
    const d = med('distribution');
    const ours = med('ours');
    out.push({ measure: row.measure, label: row.label(o), unit: row.unit, distribution: d, ours, ratio: ours / d, aim: row.aim, lowerIsBetter: row.lowerIsBetter });
  }
  return out;
}

function report(o: Options, figs: Figure[], summary: SummaryRow[]): string {
  const lines: string[] = [];
  const rows = [['', 'unit', 'distribution', `ours (${o.db})`, 'ours/dist', '']];
  for (const s of summary) {
    const row = ROWS.find((r) => r.label(o) === s.label)!;
    const verdict = s.aim ? (s.ratio >= 1 ? 'meets 1.0x' : 'BELOW 1.0x') : s.lowerIsBetter ? '(lower is better)' : '';
    rows.push([s.label, s.unit, f(s.distribution, row.digits), f(s.ours, row.digits), f(s.ratio, 2), verdict]);
  }
  lines.push(`medians of ${o.rounds} round(s); MB = 10^6 bytes; server CPU counts all the server's threads`);
  lines.push(table(rows));

  lines.push('', 'per round (main figure; server CPU % of one core; other = the rest of the machine, % of one core):');
  const detail = [['measure', 'target', 'round', 'figure', 'seconds', 'srv CPU%', 'other CPU%']];
  for (const x of figs) {
    const main = x.rps !== undefined ? `${f(x.rps)} req/s` : x.measure === 'peak-rss' ? `${f(x.rssPeakMiB, 1)} MiB peak, ${f(x.mbps)} MB/s` : `${f(x.mbps)} MB/s`;
    detail.push([x.measure, x.target, String(x.round), main, f(x.seconds, 2), f(x.serverCpuPct), f(x.otherCpuPct)]);
  }
  lines.push(table(detail, 2));

  const warnings: string[] = [];
  for (const x of figs) {
    if (x.non2xx || x.errors) warnings.push(`${x.measure} ${x.target} round ${x.round}: ${x.non2xx} non-2xx answers, ${x.errors} errors/timeouts`);
    if (x.otherCpuPct > 25) warnings.push(`${x.measure} ${x.target} round ${x.round}: other processes used ${f(x.otherCpuPct)}% of a core: disturbed, repeat it`);
  }
  if (o.measures.includes('tags-page')) {
    const d = summary.find((s) => s.measure === 'tags-page' && s.unit === '');
    if (d && d.distribution > 100) warnings.push(`tags-page: distribution answered ${f(d.distribution)} tags per n=100 request (2.8 ignores n), so its rate is for whole lists`);
  }
  if (warnings.length) lines.push('', ...warnings.map((w) => `WARNING: ${w}`));
  return lines.join('\n');
}

// ------------------------------------------------------------------------------------------------
// Main

async function main(): Promise<number> {
  const spec = childSpec<ChildSpec>();
  if (spec) {
    await runChild(spec);
    return -1; // keep running; the parent stops us
  }
  const opts = parseCommandLine(parseOptions, USAGE);
  if (typeof opts === 'number') return opts;
  const o = opts;
  if (!haveDockerRegistry()) {
    console.error("Debian's docker-registry is not installed (apt-get install docker-registry): nothing to compare with");
    return 2;
  }
  if (o.pin) o.pin = pinSelf();

  const perRound = 180 + o.measures.length * 2 * (o.waitQuiet + o.warmup + o.duration + 60) + (o.tags / 100);
  const run = new Run(o.rounds * perRound + 120);
  try {
    const version = (await import('node:child_process')).execFileSync('docker-registry', ['--version'], { encoding: 'utf8' }).trim();
    console.log(machineLine());
    console.log(`peer: ${version}; ours: serve with ${o.db === 'pglite' ? 'embedded PGlite in a temp DATA_DIR' : 'PostgreSQL (scratch database)'}, filesystem storage`);
    console.log(o.pin ? `pinned: load generator on CPU 0, servers on CPU ${SERVER_CPU}${o.db === 'postgres' ? ' (Postgres backends unpinned)' : ''}` : 'not pinned');
    console.log(`measures: ${o.measures.join(', ')}; blobs ${o.size} MiB (peak-rss ${o.peakSize} MiB), chunks ${o.chunk} MiB; loads ${o.connections} conn., warm-up ${o.warmup} s, ${o.duration} s measured; ${o.tags} tags (ours seeded via ${o.seed})`);
    console.log(`temp dir: ${os.tmpdir()} (${statfsLine(os.tmpdir())})`);

    const maxBlob = Math.max(o.measures.some((m) => m !== 'peak-rss') ? o.size : 0, o.measures.includes('peak-rss') ? Math.min(o.peakSize, 512) : 0);
    const base = randomBytes(Math.max(1, maxBlob) * MiB);
    const blob = new BlobBody(base.subarray(0, Math.min(base.length, o.size * MiB)), o.size * MiB);
    const peakBlob = new BlobBody(base, o.peakSize * MiB);
    const img = smallImage();
    const needsImage = o.measures.includes('manifest-get');
    const needsTags = o.measures.some((m) => m === 'tags-list' || m === 'tags-page');

    const figs: Figure[] = [];
    for (let round = 1; round <= o.rounds; round++) {
      const dbUrl = o.db === 'postgres' ? await run.createScratchDatabase(o.databaseUrl) : undefined;
      process.stderr.write(`[round ${round}] starting servers... `);
      const dist = await startDistribution(o, run);
      const ours = await startOurs(o, run, dbUrl);
      try {
        const targets = round % 2 === 1 ? [dist, ours] : [ours, dist];
        const states = new Map(targets.map((t) => [t.kind, { t } as RoundState]));
        for (const t of targets) {
          if (needsImage) {
            await pushSmallImage(t, BLOB_REPO, img);
            await putManifest(t, BLOB_REPO, MANIFEST_TAG, img);
          }
          if (needsTags) process.stderr.write(`seeding ${o.tags} tags on ${t.label}: ${(await seedTags(t, o, img)).toFixed(1)} s... `);
        }
        process.stderr.write('\n');
        for (const m of o.measures) {
          for (const t of targets) {
            if (o.waitQuiet > 0) await waitQuiet(o.waitQuiet);
            process.stderr.write(`[round ${round}] ${m} ${t.label}... `);
            const fig = await runMeasure(m, states.get(t.kind)!, o, round, blob, peakBlob, img);
            figs.push(fig);
            const main = fig.rps !== undefined ? `${f(fig.rps)} req/s` : fig.measure === 'peak-rss' ? `${f(fig.rssPeakMiB, 1)} MiB peak` : `${f(fig.mbps)} MB/s`;
            process.stderr.write(`${main} (server CPU ${f(fig.serverCpuPct)}%, other ${f(fig.otherCpuPct)}%)\n`);
          }
        }
      } finally {
        await ours.stop();
        await dist.stop();
      }
    }

    const summary = summarize(o, figs);
    console.log('');
    console.log(report(o, summary.length ? figs : [], summary));
    if (o.cpuProf) {
      console.log(`\nCPU profiles of our server's main thread (round ${o.rounds}; files in ${o.cpuProf}):`);
      for (const x of figs) if (x.profile && x.round === o.rounds) console.log(`${x.measure}:\n${summarizeProfile(x.profile, 12)}`);
    }
    if (o.json) {
      writeFileSync(o.json, JSON.stringify({ options: o, machine: { node: process.version, cpus: os.cpus().map((c) => c.model), peer: version }, summary, figures: figs }, null, 2));
    }
    return 0;
  } catch (err) {
    console.error(`\n${(err as Error).stack ?? err}`);
    return 1;
  } finally {
    await run.cleanup();
  }
}

function statfsLine(dir: string): string {
  try {
    const mounts = readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')).filter((p) => p.length > 2 && dir.startsWith(p[1]));
    const m = mounts.sort((a, b) => b[1].length - a[1].length)[0];
    return m ? `${m[2]} on ${m[0]}` : 'unknown filesystem';
  } catch {
    return 'unknown filesystem';
  }
}

runMain(main);
