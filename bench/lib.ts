// What the benchmarks in bench/ share: option checks, our server in a child process (started,
// asked over IPC, stopped), load generation with autocannon, CPU and query accounting, the scratch
// Postgres database, and the cleanup every run needs however it ends. Each script keeps what it
// seeds, measures and reports.
//
// This module is loaded by the parent (the load generator) too, so the app's own modules are only
// imported inside startOurApp(), which only the server child calls.
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { KyselyPlugin } from 'kysely';

export const DEFAULT_PG_URL = 'postgres://postgres@127.0.0.1:5432/test';
/** What `quay-compat create-token` grants by default: every scope but super:user. */
export const FULL_SCOPE = 'repo:read repo:write repo:admin repo:create user:read user:admin org:admin';

export type DbKind = 'pglite' | 'postgres';

// ------------------------------------------------------------------------------------------------
// Command line

export class UsageError extends Error {}

export function intOption(name: string, v: string | undefined, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max}`);
  return n;
}

/** `--db` must be pglite or postgres, and with postgres `--database-url` must name this machine. */
export function checkDatabase(db: string | undefined, databaseUrl: string): DbKind {
  if (db !== 'pglite' && db !== 'postgres') throw new UsageError('--db must be pglite or postgres');
  if (db === 'postgres') {
    let u: URL;
    try {
      u = new URL(databaseUrl);
    } catch {
      throw new UsageError('--database-url is not a URL');
    }
    if (!/^postgres(ql)?:$/.test(u.protocol)) throw new UsageError('--database-url must be a postgres:// URL');
    if (!['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname)) {
      throw new UsageError('--database-url must point at this machine (127.0.0.1, localhost or [::1])');
    }
  }
  return db;
}

/** The parsed options, or the exit code once help (0) or a usage error (2) has been printed. */
export function parseCommandLine<O>(parse: (argv: string[]) => O | 'help', usage: string): O | number {
  let o: O | 'help';
  try {
    o = parse(process.argv.slice(2));
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${usage}`);
    return 2;
  }
  if (o === 'help') {
    console.log(usage);
    return 0;
  }
  return o;
}

/** The spec the parent passed to a server child (`--child <json>`), or undefined in the parent. */
export function childSpec<S>(): S | undefined {
  const at = process.argv.indexOf('--child');
  return at >= 0 ? (JSON.parse(process.argv[at + 1]) as S) : undefined;
}

/** Runs the script's main and exits with its code; a negative code (a server child) keeps running. */
export function runMain(main: () => Promise<number>): void {
  main().then(
    (code) => {
      if (code >= 0) process.exit(code);
    },
    (err: Error) => {
      console.error(err);
      for (const c of children) c.kill('SIGKILL');
      process.exit(1);
    },
  );
}

// ------------------------------------------------------------------------------------------------
// The server child, driven over the IPC channel

type Message = { type: string };

const children = new Set<ChildProcess>();

export function pin(pid: number, cpu: number): void {
  execFileSync('taskset', ['-a', '-cp', String(cpu), String(pid)], { stdio: 'ignore' });
}

/** Pins this process (the load generator) to CPU 0; false when that cannot be done. */
export function pinSelf(): boolean {
  if (os.cpus().length < 2) return false;
  try {
    pin(process.pid, 0);
    return true;
  } catch {
    console.error('taskset is not available: running unpinned');
    return false;
  }
}

/** The parent's handle on one server child: `To` are the messages it takes, `From` those it sends. */
export class ServerChild<To extends Message, From extends Message> {
  private constructor(readonly child: ChildProcess) {}

  /** Forks `script --child <spec>` and waits for its `ready` message; `pinCpu` then pins it. */
  static async start<To extends Message, From extends Message>(
    script: string,
    spec: unknown,
    pinCpu: number | undefined,
  ): Promise<{ server: ServerChild<To, From>; ready: Extract<From, { type: 'ready' }> }> {
    const child = fork(script, ['--child', JSON.stringify(spec)], {
      // Our server's pino logs go nowhere; errors still reach the terminal.
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      execArgv: process.execArgv,
    });
    children.add(child);
    child.on('exit', () => children.delete(child));
    const server = new ServerChild<To, From>(child);
    const ready = await server.next('ready' as From['type'], 180_000);
    if (pinCpu !== undefined) pin(child.pid!, pinCpu);
    return { server, ready: ready as Extract<From, { type: 'ready' }> };
  }

  /** The child's next message of `type`; an `error` message, its exit or the timeout rejects. */
  next<T extends From['type']>(type: T, timeoutMs: number): Promise<Extract<From, { type: T }>> {
    const child = this.child;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(`server child did not answer '${type}' within ${timeoutMs / 1000} s`)), timeoutMs);
      const onMessage = (m: From) => {
        if (m.type === type) done(undefined, m as Extract<From, { type: T }>);
        else if (m.type === 'error') done(new Error(`server child: ${(m as unknown as { message: string }).message}`));
      };
      const onExit = (code: number | null) => done(new Error(`server child exited (code ${code}) before '${type}'`));
      function done(err?: Error, m?: Extract<From, { type: T }>) {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
        if (err) reject(err);
        else resolve(m!);
      }
      child.on('message', onMessage);
      child.on('exit', onExit);
    });
  }

  async ask<T extends From['type']>(msg: To, answer: T, timeoutMs = 60_000): Promise<Extract<From, { type: T }>> {
    const p = this.next(answer, timeoutMs);
    this.child.send(msg);
    return p;
  }

  /** Asks the child to stop (`{type: 'stop'}`), and kills it if it has not exited within 10 s. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.send({ type: 'stop' });
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

/** In a server child: the parent owns this process, so when its channel goes, so do we. */
export function followParent(): void {
  process.on('disconnect', () => process.exit(0));
  process.on('SIGTERM', () => process.exit(0));
}

/**
 * In a server child: our app on a freshly migrated database (the scratch Postgres database at
 * `url`, or PGlite in memory) whose queries pass through `plugin`, and a benchmark user with a
 * Bearer token for `scope`, made the way test/helpers/factories.ts tokenFor() makes one.
 */
export async function startOurApp(o: { db: DbKind; url?: string; logLevel: string; plugin?: KyselyPlugin; scope: string }) {
  const { buildApp } = await import('../src/app.js');
  const { parseConfig } = await import('../src/config.js');
  const { openDatabase, migrateToLatest } = await import('../src/db/index.js');
  const { createAccount } = await import('../src/services/accounts.js');
  const { insertApplication } = await import('../src/db/oauth.js');
  const { mintAccessToken } = await import('../src/auth/tokens.js');
  const { randomString, UPPER_DIGITS } = await import('../src/auth/crypto.js');

  const opened = o.db === 'postgres' ? await openDatabase({ url: o.url! }) : await openDatabase({ pgliteDir: 'memory' });
  await migrateToLatest(opened.db);
  const database = o.plugin ? { ...opened, db: opened.db.withPlugin(o.plugin) } : opened;
  // No garbage collection during a benchmark: its sweeps are noise, and seeded histories older
  // than the time-machine window (bench/tags.ts) would be collected under the load.
  const parsed = parseConfig({ LOG_LEVEL: o.logLevel, HOST: '127.0.0.1', PORT: 0, SERVER_HOSTNAME: 'localhost:8080', GC_INTERVAL: '0' });
  const config = { ...parsed, DATABASE_SECRET_KEY: randomBytes(32).toString('base64url') };
  const app = await buildApp(config, { database });

  const username = `benchuser${randomBytes(4).toString('hex')}`;
  const user = await createAccount(app.db, { username, password: randomBytes(12).toString('hex'), email: `${username}@example.com` });
  const application = await insertApplication(opened.db, {
    clientId: `automation-${user.username}`,
    clientSecretEnc: app.secrets.encrypt(randomString(40, UPPER_DIGITS)),
    organizationId: user.id,
    name: 'automation',
  });
  const { token } = await mintAccessToken(opened.db, { applicationId: application.id, userId: user.id, username: user.username, scope: o.scope });
  return { app, opened, user, token };
}

/** In a server child: its CPU and wall time, and the queries counted, since the last reset. */
export class ChildMeter {
  #cpu = process.cpuUsage();
  #wall = performance.now();
  constructor(readonly counter: QueryCounter) {}

  reset(): void {
    this.#cpu = process.cpuUsage();
    this.#wall = performance.now();
    this.counter.reset();
  }

  stats() {
    const d = process.cpuUsage(this.#cpu);
    const c = this.counter;
    return { type: 'stats' as const, cpuUs: d.user + d.system, wallMs: performance.now() - this.#wall, queries: c.total, byQuery: Object.fromEntries(c.counts) };
  }
}

/** Counts queries by kind and first table (and can keep the nodes for EXPLAIN): changes nothing. */
export class QueryCounter implements KyselyPlugin {
  counts = new Map<string, number>();
  total = 0;
  private counting = true;
  private captured: { node: unknown; queryId: unknown; key: string }[] | undefined;
  /** Keeps captured nodes but counts nothing (--no-count-queries with EXPLAIN still wanted). */
  captureOnly(): this {
    this.counting = false;
    return this;
  }
  reset() {
    this.counts.clear();
    this.total = 0;
  }
  startCapture() {
    this.captured = [];
  }
  stopCapture() {
    const c = this.captured ?? [];
    this.captured = undefined;
    return c;
  }
  transformQuery(args: { node: { kind: string }; queryId: unknown }) {
    const key = `${args.node.kind.replace(/QueryNode$|Node$/, '').toLowerCase()} ${firstTable(args.node) ?? '?'}`;
    if (this.counting) {
      this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
      this.total++;
    }
    this.captured?.push({ node: args.node, queryId: args.queryId, key });
    return args.node as never;
  }
  async transformResult(args: { result: unknown }) {
    return args.result as never;
  }
}

function firstTable(node: unknown, depth = 0): string | undefined {
  if (!node || typeof node !== 'object' || depth > 6) return undefined;
  const n = node as Record<string, unknown>;
  if (n.kind === 'TableNode') {
    const t = n.table as { identifier?: { name?: string } } | undefined;
    return t?.identifier?.name;
  }
  if (n.kind === 'RawNode') {
    // sql`...` templates: the first table named after from/into/update.
    const text = ((n.sqlFragments as string[] | undefined) ?? []).join(' ');
    return /\b(?:from|into|update)\s+("?)(\w+)\1/i.exec(text)?.[2];
  }
  for (const key of ['from', 'froms', 'table', 'into', 'node']) {
    const v = n[key];
    const list = Array.isArray(v) ? v : [v];
    for (const item of list) {
      const found = firstTable(item, depth + 1);
      if (found) return found;
    }
  }
  return undefined;
}

// ------------------------------------------------------------------------------------------------
// Load and CPU

export interface Load {
  requests: number;
  seconds: number;
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
  timeouts: number;
}

/**
 * GET 127.0.0.1:`port``path` for `seconds` with autocannon, as `token` when given, with `headers`
 * added. With `paths`, each connection cycles through those paths instead of `path`.
 */
export async function generateLoad(o: {
  port: number;
  path: string;
  token?: string;
  headers?: Record<string, string>;
  paths?: string[];
  connections: number;
  pipelining?: number;
  seconds: number;
}): Promise<Load> {
  const { default: autocannon } = await import('autocannon');
  const latencies: number[] = [];
  // `requests` (a sequence each connection cycles through) is autocannon's, left out of bench/autocannon.d.ts.
  const options: import('autocannon').Options & { requests?: { path: string }[] } = {
    url: `http://127.0.0.1:${o.port}${o.path}`,
    connections: o.connections,
    pipelining: o.pipelining ?? 1,
    duration: o.seconds,
    timeout: 10,
    headers: { ...o.headers, ...(o.token ? { authorization: `Bearer ${o.token}` } : {}) },
    renderProgressBar: false,
    renderResultsTable: false,
    renderLatencyTable: false,
  };
  if (o.paths?.length) options.requests = o.paths.map((path) => ({ path }));
  const result = await new Promise<import('autocannon').Result>((resolve, reject) => {
    const inst = autocannon(options, (err, r) => (err ? reject(err) : resolve(r)));
    // autocannon's own histogram has 1 ms resolution; keep every response time (ms, float) instead.
    inst.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
      if (status >= 200 && status < 300) latencies.push(ms);
    });
  });
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] : NaN);
  const requests = result.requests.total;
  return { requests, seconds: result.duration, rps: requests / result.duration, p50: pct(50), p99: pct(99), non2xx: result.non2xx, errors: result.errors, timeouts: result.timeouts };
}

/** Busy and total jiffies over all CPUs, from /proc/stat. */
export function cpuTimes(): { busy: number; total: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    const total = f.reduce((a, b) => a + b, 0);
    const idle = f[3] + (f[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

/**
 * Waits until the whole machine is under 20% of one core busy for 3 s in a row, or `maxS` passed;
 * true when it got quiet.
 */
export async function waitQuiet(maxS: number): Promise<boolean> {
  const deadline = Date.now() + maxS * 1000;
  let quietFor = 0;
  let prev = cpuTimes();
  if (!prev) return true;
  let said = false;
  while (Date.now() < deadline && quietFor < 3) {
    await new Promise((r) => setTimeout(r, 1000));
    const cur = cpuTimes()!;
    const cores = ((cur.busy - prev.busy) / Math.max(1, cur.total - prev.total)) * os.cpus().length;
    prev = cur;
    quietFor = cores < 0.2 ? quietFor + 1 : 0;
    if (quietFor === 0 && !said) {
      process.stderr.write(`waiting for a quiet machine (other load ${(cores * 100).toFixed(0)}% of a core)... `);
      said = true;
    }
  }
  if (quietFor < 3) process.stderr.write('still busy, going on... ');
  return quietFor >= 3;
}

// ------------------------------------------------------------------------------------------------
// Any process by pid (a server child of ours, or a peer such as docker-registry), from /proc

let clockTicks: number | undefined;

/** User + system CPU time of the process and all its threads (exited ones included), in µs; 10 ms steps. */
export function processCpuUs(pid: number): number {
  clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name, from field 3 (state): utime is field 14, stime 15.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1e6) / clockTicks;
}

/** The process's resident set now (VmRSS) and its peak (VmHWM, since start or resetPeakRss), in bytes. */
export function processMemory(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kib('VmRSS'), hwm: kib('VmHWM') };
}

/** Resets the process's VmHWM to its current RSS (Linux clear_refs 5); false when refused. */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** Samples the process's VmRSS every `everyMs` until stop(), which returns the largest seen (bytes). */
export function sampleRss(pid: number, everyMs = 20): { stop(): { max: number; samples: number } } {
  let max = 0;
  let samples = 0;
  const take = () => {
    try {
      max = Math.max(max, processMemory(pid).rss);
      samples++;
    } catch {
      // the process is gone: keep what was seen
    }
  };
  take();
  const timer = setInterval(take, everyMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      return { max, samples };
    },
  };
}

// ------------------------------------------------------------------------------------------------
// CPU profiles

/** In a server child: a V8 CPU profile of this process's main thread over a window, to a file. */
export class WindowProfiler {
  private session: import('node:inspector/promises').Session | undefined;

  async start(intervalUs = 100): Promise<void> {
    const inspector = await import('node:inspector/promises');
    this.session = new inspector.Session();
    this.session.connect();
    await this.session.post('Profiler.enable');
    await this.session.post('Profiler.setSamplingInterval', { interval: intervalUs });
    await this.session.post('Profiler.start');
  }

  async stop(file: string): Promise<void> {
    const session = this.session;
    if (!session) throw new Error('the profiler was not started');
    this.session = undefined;
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    writeFileSync(file, JSON.stringify(profile));
  }
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

function profileBucket(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native/builtin)';
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1];
  if (url.startsWith('node:')) return 'node internals';
  const src = /\/(src|bench|migrations)\/(.*)$/.exec(url);
  if (src) return `${src[1]}/${src[2]}`;
  return url;
}

/** Where a .cpuprofile's busy time went: self time by package/file and by function, top `top` of each. */
export function summarizeProfile(file: string, top = 15): string {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, profile.timeDeltas[i] ?? 0)));
  let total = 0;
  for (const v of selfUs.values()) total += v;
  const idle = [...selfUs].filter(([id]) => byId.get(id)?.callFrame.functionName === '(idle)').reduce((a, [, v]) => a + v, 0);
  const busy = total - idle;
  const byBucket = new Map<string, number>();
  const byFn = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const cf = byId.get(id)!.callFrame;
    if (cf.functionName === '(idle)') continue;
    const b = profileBucket(cf.url, cf.functionName);
    byBucket.set(b, (byBucket.get(b) ?? 0) + us);
    const fnKey = `${cf.functionName || '(anonymous)'} ${cf.url ? `${profileBucket(cf.url, '')}:${cf.lineNumber + 1}` : ''}`.trim();
    byFn.set(fnKey, (byFn.get(fnKey) ?? 0) + us);
  }
  const pct = (us: number) => `${((us / Math.max(1, busy)) * 100).toFixed(1).padStart(5)}%`;
  const lines = [`  ${path.basename(file)}: busy ${(busy / 1e6).toFixed(2)} s of ${(total / 1e6).toFixed(2)} s sampled (self time, % of busy)`];
  lines.push('  by package/file:');
  for (const [b, us] of [...byBucket].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`    ${pct(us)}  ${b}`);
  lines.push('  by function:');
  for (const [f, us] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`    ${pct(us)}  ${f}`);
  return lines.join('\n');
}

// ------------------------------------------------------------------------------------------------
// Report

/** The median of `xs` (NaN when empty). */
export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** A number with `d` decimals, or '-' when unknown. */
export const fmt = (n: number | undefined, d = 0) => (n === undefined || Number.isNaN(n) ? '-' : n.toFixed(d));

/** Aligned columns: the first `left` columns padded on the right, the others on the left. */
export function table(rows: string[][], left = 1): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i < left ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')).join('\n');
}

/** Node version, CPUs and load average: the first line of every report. */
export function machineLine(): string {
  const cpus = os.cpus();
  return `node ${process.version}, ${cpus.length} CPU(s): ${cpus[0]?.model ?? '?'}, load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`;
}

// ------------------------------------------------------------------------------------------------
// The run's lifecycle

/**
 * What a run must undo however it ends (at the end of main, on SIGINT/SIGTERM, or when the
 * watchdog fires after `budgetS`): the server children are killed, what was registered with
 * onCleanup() runs (latest first), and the scratch databases this run created are dropped (kept
 * with `keepDb`). Nothing here may outlive the work it was asked for.
 */
export class Run {
  #scratch: { admin: string; name: string }[] = [];
  #undo: (() => unknown)[] = [];
  #cleaning: Promise<void> | undefined;

  constructor(budgetS: number, private readonly keepDb = false) {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      process.once(sig, () => {
        console.error(`\n${sig}: stopping`);
        void this.cleanup().finally(() => process.exit(130));
      });
    }
    const watchdog = setTimeout(() => {
      console.error(`benchmark exceeded its ${budgetS} s budget: stopping`);
      void this.cleanup().finally(() => process.exit(1));
    }, budgetS * 1000);
    watchdog.unref();
  }

  /** Creates bench_<random> on the server of `adminUrl`; returns the URL of the new database. */
  async createScratchDatabase(adminUrl: string): Promise<string> {
    const { default: pg } = await import('pg');
    const name = `bench_${randomBytes(6).toString('hex')}`;
    const c = new pg.Client({ connectionString: adminUrl });
    await c.connect();
    try {
      await c.query(`create database ${name}`);
    } finally {
      await c.end();
    }
    this.#scratch.push({ admin: adminUrl, name });
    const u = new URL(adminUrl);
    u.pathname = `/${name}`;
    process.stderr.write(`scratch database ${name} created on ${u.host}\n`);
    return u.toString();
  }

  /** Registers something to undo at cleanup (stopping a server, removing a temp dir); errors are reported, not thrown. */
  onCleanup(fn: () => unknown): void {
    this.#undo.push(fn);
  }

  cleanup(): Promise<void> {
    return (this.#cleaning ??= (async () => {
      for (const c of children) c.kill('SIGKILL');
      for (const fn of this.#undo.reverse()) {
        try {
          await fn();
        } catch (err) {
          console.error(`cleanup: ${(err as Error).message}`);
        }
      }
      for (const scratch of this.#scratch) await dropScratch(scratch, this.keepDb);
    })());
  }
}

async function dropScratch(scratch: { admin: string; name: string }, keep: boolean): Promise<void> {
  if (keep) {
    process.stderr.write(`scratch database ${scratch.name} KEPT (--keep-db): drop database ${scratch.name}\n`);
    return;
  }
  const { default: pg } = await import('pg');
  const c = new pg.Client({ connectionString: scratch.admin });
  try {
    await c.connect();
    // Only ever the database this run created.
    await c.query(`drop database if exists ${scratch.name} with (force)`);
    process.stderr.write(`scratch database ${scratch.name} dropped\n`);
  } catch (err) {
    console.error(`could not drop scratch database ${scratch.name}: ${(err as Error).message}`);
  } finally {
    await c.end().catch(() => {});
  }
}
