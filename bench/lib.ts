// What the benchmarks in bench/ share: option checks, our server in a child process (started,
// asked over IPC, stopped), load generation with autocannon, CPU and query accounting, the scratch
// Postgres database, and the cleanup every run needs however it ends; and the frame of the endpoint
// benchmarks (bench/namespaces.ts, bench/tags.ts). Each script keeps what it seeds, measures and
// reports.
//
// This module is loaded by the parent (the load generator) too, so the app's own modules are only
// imported inside startOurApp(), which only the server child calls.
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Kysely, KyselyPlugin } from 'kysely';
import type { DB } from '../src/db/schema.js';

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
 * Bearer token for `scope`, made the way test/helpers/factories.ts tokenFor() makes one; with
 * `superUser`, the benchmark user is listed in SUPER_USERS (its token still needs super:user).
 */
export async function startOurApp(o: { db: DbKind; url?: string; logLevel: string; plugin?: KyselyPlugin; scope: string; superUser?: boolean }) {
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
  const username = `benchuser${randomBytes(4).toString('hex')}`;
  const parsed = parseConfig({
    LOG_LEVEL: o.logLevel,
    HOST: '127.0.0.1',
    PORT: 0,
    SERVER_HOSTNAME: 'localhost:8080',
    GC_INTERVAL: '0',
    ...(o.superUser ? { SUPER_USERS: username } : {}),
  });
  const config = { ...parsed, DATABASE_SECRET_KEY: randomBytes(32).toString('base64url') };
  const app = await buildApp(config, { database });

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
  return (processCpuTicks(pid) * 1e6) / clockTicks;
}

/** The same in seconds, counted in USER_HZ (100 on Linux); undefined once the process is gone. */
export function processCpuS(pid: number): number | undefined {
  try {
    return processCpuTicks(pid) / 100;
  } catch {
    return undefined;
  }
}

function processCpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name, from field 3 (state): utime is field 14, stime 15.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
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

// ------------------------------------------------------------------------------------------------
// Endpoint benchmarks (bench/namespaces.ts, bench/tags.ts): our server in a child, seeded straight
// through Kysely and grown from a small to a large size, and REST endpoints measured one at a time
// at each size. Each benchmark keeps its options, seeding, endpoints and what its report has of its
// own; runEndpointBench() runs it.

/** parseArgs options every endpoint benchmark takes, besides its own. */
const ENDPOINT_ARGS = {
  db: { type: 'string', default: 'pglite' },
  'database-url': { type: 'string', default: DEFAULT_PG_URL },
  duration: { type: 'string' },
  warmup: { type: 'string' },
  connections: { type: 'string' },
  explain: { type: 'boolean', default: false },
  'keep-db': { type: 'boolean', default: false },
  'log-level': { type: 'string', default: 'silent' },
  'no-pin': { type: 'boolean', default: false },
  'no-count-queries': { type: 'boolean', default: false },
  'wait-quiet': { type: 'string' },
  retries: { type: 'string' },
  json: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

/** The values parseArgs gives for ENDPOINT_ARGS. */
interface EndpointArgValues {
  'database-url'?: string;
  duration?: string;
  warmup?: string;
  connections?: string;
  explain?: boolean;
  'keep-db'?: boolean;
  'log-level'?: string;
  'no-pin'?: boolean;
  'no-count-queries'?: boolean;
  'wait-quiet'?: string;
  retries?: string;
  json?: string;
}

/** The database and the load: the options before a benchmark's own. */
export interface LoadOptions {
  db: DbKind;
  databaseUrl: string;
  duration: number;
  warmup: number;
  connections: number;
}

/** How the run goes: the options after a benchmark's own. */
export interface RunOptions {
  explain: boolean;
  keepDb: boolean;
  logLevel: string;
  pin: boolean;
  countQueries: boolean;
  waitQuiet: number;
  retries: number;
  json?: string;
}

export type EndpointOptions = LoadOptions & RunOptions;

/**
 * The command line parsed (strictly, no positionals) for the common options and the benchmark's
 * `own`: 'help' for --help, else the values with `db` checked (checkDatabase()).
 */
export function parseEndpointArgs<T extends NonNullable<import('node:util').ParseArgsConfig['options']>>(argv: string[], own: T) {
  const { values } = parseArgs({ args: argv, options: { ...ENDPOINT_ARGS, ...own }, strict: true, allowPositionals: false });
  const common = values as EndpointArgValues & { db?: string; help?: boolean };
  if (common.help) return 'help';
  return { ...values, db: checkDatabase(common.db, common['database-url']!) } as typeof values & { db: DbKind };
}

/** LoadOptions from parseEndpointArgs()' values, capped by `limits`. */
export function parseLoadOptions(values: EndpointArgValues & { db: DbKind }, limits: { duration: number; warmup: number; connections: number }): LoadOptions {
  return {
    db: values.db,
    databaseUrl: values['database-url']!,
    duration: intOption('duration', values.duration, 5, 1, limits.duration),
    warmup: intOption('warmup', values.warmup, 2, 0, limits.warmup),
    connections: intOption('connections', values.connections, 10, 1, limits.connections),
  };
}

/** RunOptions from parseEndpointArgs()' values. */
export function parseRunOptions(values: EndpointArgValues): RunOptions {
  return {
    explain: values.explain!,
    keepDb: values['keep-db']!,
    logLevel: values['log-level']!,
    pin: !values['no-pin'],
    countQueries: !values['no-count-queries'],
    waitQuiet: intOption('wait-quiet', values['wait-quiet'], 0, 0, 600),
    retries: intOption('retries', values.retries, values['wait-quiet'] ? 2 : 0, 0, 5),
    json: values.json,
  };
}

/**
 * The usage text of `script`: the common options (LoadOptions' capped by `limits`), the benchmark's
 * `own` option lines, RunOptions', then `seeded` (what gets seeded) after a blank line.
 */
export function endpointUsage(script: string, limits: { duration: number; warmup: number; connections: number }, own: string, seeded: string): string {
  return `Usage: npx tsx ${script} [options]

  --db pglite|postgres     database behind our server (default pglite, in memory)
  --database-url URL       Postgres server for --db postgres (default ${DEFAULT_PG_URL});
                           a scratch database bench_<random> is created on it and dropped afterwards
  --duration S             measured seconds per endpoint (default 5, max ${limits.duration})
  --warmup S               unmeasured warm-up seconds per endpoint (default 2, max ${limits.warmup})
  --connections N          concurrent connections (default 10, max ${limits.connections})
${own}
  --explain                print EXPLAIN (ANALYZE, BUFFERS) of each endpoint's SELECTs at the large size
  --keep-db                with --db postgres, keep the seeded scratch database for manual EXPLAIN
                           (its name is printed; drop it yourself afterwards)
  --log-level L            our server's LOG_LEVEL (default silent)
  --no-pin                 do not pin the load generator to CPU 0 and the server to CPU 1
  --no-count-queries       do not count database queries
  --wait-quiet S           before each endpoint, wait up to S seconds for other processes to leave the
                           machine idle (under 20% of a core for 3 s in a row); default 0 (do not wait)
  --retries N              re-measure an endpoint up to N times when other processes (not our server,
                           the load generator or, with postgres, our database's backends) used more
                           than 25% of a core during it (default 2 with --wait-quiet, else 0)
  --json FILE              also write the results as JSON
  -h, --help

${seeded}`;
}

// --- The seeding server child

/** What the parent tells a seeding server child (a benchmark adds what its seeder needs). */
export interface SeedingChildSpec {
  db: DbKind;
  /** Postgres URL of the scratch database (--db postgres). */
  url?: string;
  logLevel: string;
  countQueries: boolean;
  /** List the benchmark user in SUPER_USERS (startOurApp()). */
  superUser?: boolean;
}

/** What a seeder answers to `seed`: at least the rows the tables now hold, by table. */
export interface SeedAnswer {
  rows: Record<string, number>;
}

/** The messages a seeding server child takes: `seed` (how far to grow, `Seed`) and these. */
type ToSeedingChild<Seed extends object> = ({ type: 'seed' } & Seed) | { type: 'reset' } | { type: 'stats' } | { type: 'capture' } | { type: 'explain' } | { type: 'stop' };

/** What it answers: `seeded` (its seeder's answer, and the ms seeding took), and these. */
type FromSeedingChild<Seeded extends SeedAnswer> =
  | ({ type: 'seeded'; ms: number } & Seeded)
  | { type: 'ready'; port: number; token: string; username: string }
  | { type: 'stats'; cpuUs: number; wallMs: number; queries: number; byQuery: Record<string, number> }
  | { type: 'explained'; items: ExplainItem[] }
  | { type: 'ack' }
  | { type: 'error'; message: string };

/** What a seeder works with: the database without the counting plugin, and the benchmark user. */
export interface SeedingContext {
  db: Kysely<DB>;
  user: Awaited<ReturnType<typeof startOurApp>>['user'];
}

/**
 * Seeds what every size shares (before the server listens), and returns the handler of the
 * parent's `seed` messages, which grows the data and answers what `seeded` carries.
 */
export type Seeder<Spec, Seed, Seeded> = (spec: Spec, ctx: SeedingContext) => Promise<(m: Seed) => Promise<Seeded>>;

/**
 * In a server child: our app with a benchmark user whose token has `scope` (startOurApp), its
 * queries counted (only captured, for EXPLAIN, without `spec.countQueries`), seeded by `seeder`;
 * then it listens on 127.0.0.1, says `ready`, and answers the parent until `stop`.
 */
async function serveSeededChild<Spec extends SeedingChildSpec, Seed extends object, Seeded extends SeedAnswer>(
  spec: Spec,
  scope: string,
  seeder: Seeder<Spec, Seed, Seeded>,
): Promise<void> {
  const send = (m: FromSeedingChild<Seeded>) => process.send!(m);
  followParent();

  const counter = new QueryCounter();
  const meter = new ChildMeter(counter);
  // Without counting, the counter still captures the queries that --explain replays.
  const plugin = spec.countQueries ? counter : counter.captureOnly();
  // The benchmark user and its token, as test/helpers/factories.ts tokenFor() makes them.
  const { app, opened, user, token } = await startOurApp({ db: spec.db, url: spec.url, logLevel: spec.logLevel, plugin, scope, superUser: spec.superUser });
  const seed = await seeder(spec, { db: opened.db, user });

  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as { port: number }).port;

  process.on('message', (m: ToSeedingChild<Seed>) => {
    void (async () => {
      switch (m.type) {
        case 'seed': {
          const t0 = performance.now();
          const answer = await seed(m as Seed);
          send({ type: 'seeded', ms: performance.now() - t0, ...answer });
          break;
        }
        case 'reset':
          meter.reset();
          send({ type: 'ack' });
          break;
        case 'stats':
          send(meter.stats());
          break;
        case 'capture':
          counter.startCapture();
          send({ type: 'ack' });
          break;
        case 'explain':
          send({ type: 'explained', items: await explainCaptured(opened.db, counter.stopCapture()) });
          break;
        case 'stop':
          await app.close();
          await opened.close();
          process.exit(0);
      }
    })().catch((err: Error) => send({ type: 'error', message: err.stack ?? err.message }));
  });
  send({ type: 'ready', port, token, username: user.username });
}

/** A namespace row (a user, or an organization) as the seeders insert them, e-mail <name>@example.com. */
export function namespaceRow(name: string, organization: boolean) {
  return {
    uuid: randomUUID(),
    username: name,
    email: `${name}@example.com`,
    organization,
    verified: true,
    password_hash: null,
    last_invalid_login: null,
    given_name: null,
    family_name: null,
    company: null,
    location: null,
  };
}

/** One SELECT a request ran and its EXPLAIN (ANALYZE, BUFFERS), with the tables it scans sequentially and the indexes it uses. */
export interface ExplainItem {
  /** Kind and first table, as QueryCounter counts it. */
  key: string;
  sql: string;
  params: unknown[];
  plan: string;
  execMs: number;
  seqScans: string[];
  indexes: string[];
}

/** EXPLAIN ANALYZE on `db` of every captured SELECT (QueryCounter), compiled exactly as the server ran it. */
async function explainCaptured(db: Kysely<DB>, captured: { node: unknown; queryId: unknown; key: string }[]): Promise<ExplainItem[]> {
  const { CompiledQuery } = await import('kysely');
  const out: ExplainItem[] = [];
  const executor = db.getExecutor();
  for (const { node, queryId, key } of captured) {
    const compiled = executor.compileQuery(node as never, queryId as never);
    if (!/^\s*(select|with)\b/i.test(compiled.sql)) continue;
    const res = await db.executeQuery(CompiledQuery.raw(`explain (analyze, buffers, verbose off) ${compiled.sql}`, [...compiled.parameters]));
    const lines = (res.rows as Record<string, string>[]).map((r) => Object.values(r)[0]);
    const exec = lines.map((l) => /Execution Time: ([\d.]+) ms/.exec(l)).find(Boolean);
    const seqScans = lines.map((l) => /Seq Scan on (\w+)(?: (\w+))?/.exec(l)).filter((m): m is RegExpExecArray => !!m).map((m) => (m[2] && m[2] !== m[1] ? `${m[1]} ${m[2]}` : m[1]));
    const indexes = [...new Set(lines.map((l) => /(?:Index (?:Only )?Scan(?: Backward)? using|Bitmap Index Scan on) (\w+)/.exec(l)?.[1]).filter((x): x is string => !!x))];
    out.push({ key, sql: compiled.sql, params: [...compiled.parameters], plan: lines.join('\n'), execMs: exec ? Number(exec[1]) : NaN, seqScans, indexes });
  }
  return out;
}

// --- The parent: seeding, measuring, EXPLAIN

/** A GET to measure; `check` vets its first answer (undefined when right, else what is wrong). */
export interface Endpoint {
  label: string;
  /** What the size comparison matches across sizes, when the label alone does not. */
  key?: string;
  /** Page number for the pages of a list. */
  page?: number;
  url: string;
  check: (json: unknown) => string | undefined;
}

/** One endpoint measured at one size. */
export interface Measurement extends Load {
  size: number;
  label: string;
  key?: string;
  page?: number;
  url: string;
  bodyBytes: number;
  serverCpuPct: number;
  serverCpuUsPerReq: number;
  loadgenCpuPct: number;
  /** Our database's backends (postgres only), % of one core. */
  dbCpuPct: number;
  otherCpuPct: number;
  quiet: boolean;
  attempts: number;
  queriesPerReq?: number;
  byQuery?: Record<string, number>;
}

/** How a benchmark's EXPLAIN report notes each SELECT, and which full plans it prints besides the costliest one's. */
export interface ExplainNotes {
  notes: (it: ExplainItem) => string[];
  full: (it: ExplainItem) => boolean;
}

/**
 * The parent's handle on a seeding server child (`Seed`: how far a `seed` message grows the data,
 * `Seeded`: what the child answers): where it listens, the benchmark user's token, and with
 * postgres a connection to the scratch database, to find our backends' pids.
 */
export class BenchServer<Seed extends object = object, Seeded extends SeedAnswer = SeedAnswer> {
  pg?: import('pg').Client;

  constructor(
    readonly proc: ServerChild<ToSeedingChild<object>, FromSeedingChild<SeedAnswer>>,
    readonly port: number,
    readonly token: string,
    readonly username: string,
  ) {}

  /** Grows the child's data (`seed`); its answer, with the ms seeding took. */
  async seed(m: Seed): Promise<{ ms: number } & Seeded> {
    return (await this.proc.ask({ type: 'seed', ...m }, 'seeded', 600_000)) as { type: 'seeded'; ms: number } & Seeded;
  }

  /** GET `urlPath` as the benchmark user: the status, the body, and the body parsed (undefined when not JSON). */
  async getJson(urlPath: string): Promise<{ status: number; body: string; json: unknown }> {
    const res = await fetch(`http://127.0.0.1:${this.port}${urlPath}`, { headers: { authorization: `Bearer ${this.token}` } });
    const body = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch {
      json = undefined;
    }
    return { status: res.status, body, json };
  }

  /**
   * The EXPLAIN report (explainReport()) of the SELECTs one GET of each of `endpoints` runs, under
   * `heading(e)`; to be called before any load, so that no queued request of a load run is captured.
   */
  async explain(endpoints: Endpoint[], heading: (e: Endpoint) => string, notes: ExplainNotes): Promise<string[]> {
    const out: string[] = [];
    for (const e of endpoints) {
      await this.proc.ask({ type: 'capture' }, 'ack');
      const r = await this.getJson(e.url);
      if (r.status !== 200) throw new Error(`GET ${e.url} answered ${r.status}`);
      const { items } = await this.proc.ask({ type: 'explain' }, 'explained', 120_000);
      out.push(explainReport(heading(e), items, notes));
    }
    return out;
  }

  /**
   * Measures `e` at `size` (`what` names it on the progress line): its first answer checked, a
   * warm-up, then the measured load with the CPU of our server, its database backends, the load
   * generator and the rest of the machine, and queries per request. Measured again, up to
   * `o.retries` times, while other processes used more than 25% of a core or the machine was not quiet.
   */
  async measure(o: EndpointOptions, size: number, e: Endpoint, what: string): Promise<Measurement> {
    let m: Measurement | undefined;
    for (let attempt = 1; attempt <= o.retries + 1; attempt++) {
      m = { ...(await this.measureOnce(o, size, e, what)), attempts: attempt };
      if (!(m.otherCpuPct > 25) && m.quiet) break;
      if (attempt <= o.retries) process.stderr.write(`  (other processes used ${fmt(m.otherCpuPct)}% of a core: measuring again)\n`);
    }
    return m!;
  }

  private async measureOnce(o: EndpointOptions, size: number, e: Endpoint, what: string): Promise<Omit<Measurement, 'attempts'>> {
    const runLoad = (seconds: number) => generateLoad({ port: this.port, path: e.url, token: this.token, connections: o.connections, seconds });
    const quiet = o.waitQuiet > 0 ? await waitQuiet(o.waitQuiet) : true;
    process.stderr.write(`${what}: `);
    const r = await this.getJson(e.url);
    if (r.status !== 200) throw new Error(`GET ${e.url} answered ${r.status}: ${r.body.slice(0, 300)}`);
    const bad = e.check(r.json);
    if (bad) throw new Error(`GET ${e.url}: ${bad}`);
    if (o.warmup > 0) {
      process.stderr.write(`warm-up ${o.warmup}s... `);
      await runLoad(o.warmup);
    }
    await this.proc.ask({ type: 'reset' }, 'ack');
    process.stderr.write(`measuring ${o.duration}s... `);
    const db0 = await this.dbBackends();
    const machine0 = cpuTimes();
    const self0 = process.cpuUsage();
    const load = await runLoad(o.duration);
    const self = process.cpuUsage(self0);
    const machine1 = cpuTimes();
    let dbCpuS = 0;
    for (const [pid, before] of db0) {
      const after = processCpuS(pid);
      if (after !== undefined) dbCpuS += after - before;
    }
    const dbCpuPct = (dbCpuS / load.seconds) * 100;
    const stats = await this.proc.ask({ type: 'stats' }, 'stats');
    const serverCpuPct = (stats.cpuUs / 1000 / stats.wallMs) * 100;
    const loadgenCpuPct = ((self.user + self.system) / 1000 / (load.seconds * 1000)) * 100;
    process.stderr.write(`${load.rps.toFixed(0)} req/s\n`);
    return {
      size,
      label: e.label,
      key: e.key,
      page: e.page,
      url: e.url,
      ...load,
      bodyBytes: Buffer.byteLength(r.body),
      serverCpuPct,
      serverCpuUsPerReq: stats.cpuUs / Math.max(1, load.requests),
      loadgenCpuPct,
      dbCpuPct,
      otherCpuPct:
        machine0 && machine1
          ? Math.max(0, ((machine1.busy - machine0.busy) / (machine1.total - machine0.total)) * os.cpus().length * 100 - serverCpuPct - loadgenCpuPct - dbCpuPct)
          : NaN,
      quiet,
      queriesPerReq: o.countQueries ? stats.queries / Math.max(1, load.requests) : undefined,
      byQuery: o.countQueries ? stats.byQuery : undefined,
    };
  }

  /** The backends serving the scratch database (not our probe connection), with their CPU seconds so far. */
  private async dbBackends(): Promise<Map<number, number>> {
    const out = new Map<number, number>();
    if (!this.pg) return out;
    const r = await this.pg.query<{ pid: number }>('select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()');
    for (const { pid } of r.rows) {
      const cpu = processCpuS(pid);
      if (cpu !== undefined) out.set(pid, cpu);
    }
    return out;
  }
}

/**
 * One endpoint's EXPLAINs under `heading`: a line per SELECT (execution time, key, its notes),
 * then the SQL, parameters and full plan of the costliest one and of those `o.full` picks.
 */
function explainReport(heading: string, items: ExplainItem[], o: ExplainNotes): string {
  const out = [`--- EXPLAIN ${heading}: ${items.length} SELECT(s)`];
  for (const it of items) {
    const notes = o.notes(it);
    out.push(`  ${fmt(it.execMs, 3).padStart(8)} ms  ${it.key}${notes.length ? `  [${notes.join('; ')}]` : ''}`);
  }
  const costliest = [...items].sort((a, b) => b.execMs - a.execMs)[0];
  for (const it of items) {
    if (it !== costliest && !o.full(it)) continue;
    out.push('', `  SQL: ${it.sql.replace(/\s+/g, ' ')}`, `  params: ${JSON.stringify(it.params)}`, it.plan.replace(/^/gm, '    '));
  }
  return out.join('\n');
}

// --- The report

/** What an endpoint benchmark's report has of its own. */
export interface ReportSpec {
  /** What the sizes count: heads the first column. */
  sizeColumn: string;
  /**
   * Flat cost: each endpoint at the small and the large size, matched by `key`, named `endpoint`,
   * under a heading saying what grew (`what`, counted in `unit`); `p99` adds the p99 columns.
   */
  comparison: { what: string; unit: string; key: (m: Measurement) => string | undefined; endpoint: (m: Measurement) => string; p99?: boolean };
  /** Lines comparing the pages of a list measured at one size (pageCosts()). */
  pageLines: (size: number, list: Measurement[]) => string[];
  /** The width labels are padded to in the queries-per-request lines. */
  labelWidth: number;
}

/** The p50 of each of `pages` (pages of one list at one size, page 1 first) against page 1's. */
export function pageCosts(pages: Measurement[]): string {
  const p1 = pages[0];
  return pages.map((m) => `page ${m.page} p50 ${fmt(m.p50, 2)} ms (${fmt(m.p50 / p1.p50, 2)}x)`).join(', ');
}

/**
 * The report: every measurement, the size comparison (with two sizes), the page comparisons,
 * queries per request by kind and first table, and warnings about errors and a busy machine.
 */
function endpointReport(ms: Measurement[], db: DbKind, spec: ReportSpec): string {
  const out = [measurementTable(ms, spec.sizeColumn, db), ...sizeComparison(ms, db, spec.comparison)];
  const bySize = new Map<number, Measurement[]>();
  for (const m of ms) bySize.set(m.size, [...(bySize.get(m.size) ?? []), m]);
  for (const [size, list] of bySize) out.push(...spec.pageLines(size, list));

  out.push('', 'queries per request, by kind and first table:');
  for (const m of ms) {
    if (!m.byQuery) continue;
    const perReq = Object.entries(m.byQuery)
      .sort((a, b) => b[1] - a[1])
      .map(([k, n]) => `${k} ${(n / Math.max(1, m.requests)).toFixed(2)}`)
      .join(', ');
    out.push(`  ${String(m.size).padStart(6)} ${m.label.padEnd(spec.labelWidth)}: ${perReq || 'none'}`);
  }
  for (const m of ms) {
    if (m.non2xx || m.errors || m.timeouts) out.push(`WARNING: ${m.size} ${m.label} had ${m.non2xx} non-2xx, ${m.errors} errors, ${m.timeouts} timeouts`);
    if (!m.quiet || m.otherCpuPct > 25) {
      out.push(`WARNING: the machine was not quiet during ${m.size} ${m.label} (other CPU ${fmt(m.otherCpuPct)}% of a core): numbers are noisy`);
    }
  }
  return out.join('\n');
}

function measurementTable(ms: Measurement[], sizeColumn: string, db: DbKind): string {
  const header = [sizeColumn, 'endpoint', 'page', 'req/s', 'p50 ms', 'p99 ms', 'body B', 'non2xx/err', 'srv CPU%', 'srv µs/req', 'db CPU%', 'db µs/req', 'gen CPU%', 'other CPU%', 'queries/req'];
  const rows = [header];
  for (const m of ms) {
    rows.push([
      String(m.size),
      m.label,
      m.page ? String(m.page) : '',
      fmt(m.rps),
      fmt(m.p50, 2),
      fmt(m.p99, 2),
      String(m.bodyBytes),
      `${m.non2xx}/${m.errors + m.timeouts}`,
      fmt(m.serverCpuPct),
      fmt(m.serverCpuUsPerReq),
      db === 'postgres' ? fmt(m.dbCpuPct) : '-',
      db === 'postgres' ? fmt((m.dbCpuPct / 100 / m.rps) * 1e6) : '-',
      fmt(m.loadgenCpuPct),
      fmt(m.otherCpuPct),
      fmt(m.queriesPerReq, 2),
    ]);
  }
  return table(rows, 2);
}

/** ReportSpec.comparison's lines (a blank one, the heading, the table); none unless there were exactly two sizes. */
function sizeComparison(ms: Measurement[], db: DbKind, o: ReportSpec['comparison']): string[] {
  const sizes = [...new Set(ms.map((m) => m.size))].sort((a, b) => a - b);
  if (sizes.length !== 2) return [];
  const [small, large] = sizes;
  const heading = `cost as the ${o.what} grows (${small} -> ${large} ${o.unit}; ratio large/small, 1.00 = flat; CPU = server${db === 'postgres' ? ' + database backends' : ''} per request):`;
  const p99 = (cells: string[]) => (o.p99 ? cells : []);
  const rows = [['endpoint', 'page', `p50 @${small}`, `p50 @${large}`, 'p50 ratio', ...p99([`p99 @${small}`, `p99 @${large}`]), `CPU µs @${small}`, `CPU µs @${large}`, 'CPU ratio', `req/s @${small}`, `req/s @${large}`]];
  const totalUs = (m: Measurement) => m.serverCpuUsPerReq + (m.dbCpuPct / 100 / Math.max(1e-9, m.rps)) * 1e6;
  for (const a of ms.filter((m) => m.size === small)) {
    const b = ms.find((m) => m.size === large && o.key(m) === o.key(a));
    if (!b) continue;
    rows.push([
      o.endpoint(a),
      a.page ? String(a.page) : '',
      fmt(a.p50, 2),
      fmt(b.p50, 2),
      fmt(b.p50 / a.p50, 2),
      ...p99([fmt(a.p99, 2), fmt(b.p99, 2)]),
      fmt(totalUs(a)),
      fmt(totalUs(b)),
      fmt(totalUs(b) / totalUs(a), 2),
      fmt(a.rps),
      fmt(b.rps),
    ]);
  }
  return ['', heading, table(rows, 2)];
}

// --- The run

/** What runEndpointBench() needs of an endpoint benchmark. */
export interface EndpointBench<O extends EndpointOptions, Spec extends SeedingChildSpec, Seed extends object, Seeded extends SeedAnswer> {
  /** The script itself, forked as the server child. */
  script: string;
  /** The scopes of the benchmark user's token. */
  scope: string;
  seeder: Seeder<Spec, Seed, Seeded>;
  /** The server child's spec; `url` is the scratch database's with --db postgres. */
  spec: (o: O, url: string | undefined) => Spec;
  usage: string;
  parse: (argv: string[]) => O | 'help';
  /** The run's time budget: at most `runs` endpoint runs (warm-up, measurement, retries) and `rows` rows seeded. */
  budget: (o: O) => { runs: number; rows: number };
  /** What is seeded: the last line of the notes printed first. */
  seeded: (o: O) => string;
  /** Seeds each size and measures its endpoints (and, with --explain, EXPLAINs them). */
  measure: (s: BenchServer<Seed, Seeded>, o: O) => Promise<{ measurements: Measurement[]; explains: string[] }>;
  report: ReportSpec;
}

/**
 * Runs an endpoint benchmark: as its server child, until stopped; otherwise the options parsed,
 * the load generator pinned, the scratch database created with postgres, the notes printed, the
 * server child started, `measure` run, and the report, the EXPLAINs and (--json) the JSON written.
 * A Run cleans up however it ends.
 */
export function runEndpointBench<O extends EndpointOptions, Spec extends SeedingChildSpec, Seed extends object, Seeded extends SeedAnswer>(
  b: EndpointBench<O, Spec, Seed, Seeded>,
): void {
  runMain(async () => {
    const spec = childSpec<Spec>();
    if (spec) {
      await serveSeededChild(spec, b.scope, b.seeder);
      return -1; // keep running; the parent stops us
    }
    const opts = parseCommandLine(b.parse, b.usage);
    if (typeof opts === 'number') return opts;
    if (opts.pin) opts.pin = pinSelf();

    const { runs, rows } = b.budget(opts);
    const run = new Run(runs * (opts.retries + 1) * (opts.warmup + opts.duration + (opts.waitQuiet || 0) + 30) + Math.ceil(rows / 50) + 300, opts.keepDb);
    try {
      const dbUrl = opts.db === 'postgres' ? await run.createScratchDatabase(opts.databaseUrl) : undefined;
      console.log(runNotes(opts, b.seeded(opts)));
      process.stderr.write('starting server... ');
      const { server, ready } = await ServerChild.start<ToSeedingChild<object>, FromSeedingChild<SeedAnswer>>(b.script, b.spec(opts, dbUrl), opts.pin ? 1 : undefined);
      const s = new BenchServer<Seed, Seeded>(server, ready.port, ready.token, ready.username);
      if (dbUrl) {
        const { default: pg } = await import('pg');
        s.pg = new pg.Client({ connectionString: dbUrl });
        // Dropping the scratch database on SIGINT ends this connection; that must not crash the run.
        s.pg.on('error', () => {});
        await s.pg.connect();
      }
      process.stderr.write('ready\n');
      let results: { measurements: Measurement[]; explains: string[] };
      try {
        results = await b.measure(s, opts);
      } finally {
        await s.pg?.end().catch(() => {});
        await s.proc.stop();
      }
      console.log('');
      console.log(endpointReport(results.measurements, opts.db, b.report));
      if (results.explains.length) console.log(`\n${results.explains.join('\n\n')}`);
      if (opts.json) {
        writeFileSync(opts.json, JSON.stringify({ options: opts, machine: { node: process.version, cpus: os.cpus().map((c) => c.model) }, measurements: results.measurements }, null, 2));
      }
      return 0;
    } catch (err) {
      console.error(`\n${(err as Error).stack ?? err}`);
      return 1;
    } finally {
      await run.cleanup();
    }
  });
}

/** The first lines printed: the machine, the database and the load, pinning, then `seeded`. */
function runNotes(o: EndpointOptions, seeded: string): string {
  return [
    machineLine(),
    `db ${o.db}; ${o.connections} connections, warm-up ${o.warmup}s, measured ${o.duration}s per endpoint`,
    o.pin ? 'pinned: load generator on CPU 0, server on CPU 1' + (o.db === 'postgres' ? ' (Postgres backends unpinned; their CPU is the db CPU% column)' : '') : 'not pinned',
    seeded,
  ].join('\n');
}
