// Benchmark: what each durability mode of the embedded database (EMBEDDED_DB_SYNC) costs and what
// it actually does, on PGlite in a directory on this machine's disk. Three modes, side by side:
//
//   off          EMBEDDED_DB_SYNC=off: PGlite's own default (-F, fsync off)
//   fsync=on     fsync on without our NODEFS fsync (what `-c fsync=on` alone gives; not offered)
//   full         EMBEDDED_DB_SYNC=full, the default: fsync on, wal_sync_method=fsync, NODEFS fsync
//
// For each: single-row autocommit INSERTs per second and 3-statement transactions (INSERT, UPDATE,
// INSERT) per second through Kysely, the median of --runs runs of --seconds each, modes
// interleaved, and the ratio to `off`. With strace installed (apt-get install strace), it also
// counts the fsync/fdatasync syscalls the process makes per commit in each mode, in a child
// process run under `strace -f` (the evidence that `fsync=on` alone never reaches the disk).
//
//   npx tsx bench/pglite-durability.ts [--runs 5] [--seconds 2] [--dir DIR] [--no-strace]
//
// DIR (default: a new directory under the system temp dir) must be on the disk to measure; the
// databases created there are removed at the end.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, PGliteDialect, sql } from 'kysely';
import { openDatabase, pgliteDurability } from '../src/db/index.js';

const MODES = ['off', 'fsync=on', 'full'] as const;
type Mode = (typeof MODES)[number];

const USAGE = 'npx tsx bench/pglite-durability.ts [--runs 5] [--seconds 2] [--dir DIR] [--no-strace]';

interface Handle {
  db: Kysely<any>;
  close(): Promise<void>;
}

async function openMode(mode: Mode, dir: string): Promise<Handle> {
  if (mode === 'fsync=on') {
    const { startParams } = pgliteDurability('off', PGlite.defaultStartParams);
    const pglite = new PGlite(dir, { startParams: [...startParams!.filter((p) => p !== '-F'), '-c', 'fsync=on'] });
    await pglite.waitReady;
    const db = new Kysely<any>({ dialect: new PGliteDialect({ pglite }) });
    return { db, close: async () => { await db.destroy(); if (!pglite.closed) await pglite.close(); } };
  }
  const database = await openDatabase({ pgliteDir: dir, sync: mode });
  return { db: database.db as Kysely<any>, close: () => database.close() };
}

async function prepare(db: Kysely<any>) {
  await sql`CREATE TABLE IF NOT EXISTS bench (id serial PRIMARY KEY, v text NOT NULL, n int NOT NULL DEFAULT 0)`.execute(db);
}

async function insertOne(db: Kysely<any>, i: number) {
  await db.insertInto('bench').values({ v: `row ${i}` }).execute();
}

async function transaction3(db: Kysely<any>, i: number) {
  await db.transaction().execute(async (trx) => {
    const { id } = await trx.insertInto('bench').values({ v: `a ${i}` }).returning('id').executeTakeFirstOrThrow();
    await trx.updateTable('bench').set({ n: 1 }).where('id', '=', id).execute();
    await trx.insertInto('bench').values({ v: `b ${i}` }).execute();
  });
}

async function rate(seconds: number, op: (i: number) => Promise<void>): Promise<number> {
  for (let i = 0; i < 20; i++) await op(-i); // warm up
  let n = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  while (performance.now() < end) await op(n++);
  return n / ((performance.now() - t0) / 1000);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

// ------------------------------------------------------------------------------------------------
// Syscall counting: the child opens the database, marks the start and the end of its commits by
// failing to open two marker paths (visible in the openat trace), and closes.

const MARK = '/nonexistent-pglite-durability-mark';

async function child(mode: Mode, dir: string, workload: 'insert' | 'tx3', commits: number) {
  const h = await openMode(mode, dir);
  await prepare(h.db);
  const op = workload === 'insert' ? insertOne : transaction3;
  for (let i = 0; i < 5; i++) await op(h.db, -i);
  try { openSync(`${MARK}-start`, 'r'); } catch { /* the marker */ }
  for (let i = 0; i < commits; i++) await op(h.db, i);
  try { openSync(`${MARK}-end`, 'r'); } catch { /* the marker */ }
  await h.close();
}

interface SyscallCount { fsync: number; fdatasync: number; osyncOpens: number; closeFsyncs: number }

function countSyscalls(mode: Mode, dir: string, workload: 'insert' | 'tx3', commits: number): SyscallCount {
  const trace = `${dir}-strace-${workload}.txt`;
  const self = fileURLToPath(import.meta.url);
  const r = spawnSync('strace', ['-f', '-qq', '-e', 'trace=fsync,fdatasync,openat', '-o', trace,
    process.execPath, '--import', 'tsx', self, '--child', mode, '--dir', dir, '--workload', workload, '--commits', String(commits)], { stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`strace child failed: ${r.stderr.toString().slice(-2000)}`);
  const lines = readFileSync(trace, 'utf8').split('\n');
  const start = lines.findIndex((l) => l.includes(`${MARK}-start`));
  const end = lines.findIndex((l) => l.includes(`${MARK}-end`));
  const during = lines.slice(start, end);
  return {
    fsync: during.filter((l) => /\bfsync\(/.test(l)).length / commits,
    fdatasync: during.filter((l) => /\bfdatasync\(/.test(l)).length / commits,
    osyncOpens: during.filter((l) => /openat\(.*O_(D)?SYNC/.test(l)).length,
    closeFsyncs: lines.slice(end).filter((l) => /\bf(data)?sync\(/.test(l)).length,
  };
}

function pgliteVersion(): string {
  const entry = createRequire(import.meta.url).resolve('@electric-sql/pglite');
  return (JSON.parse(readFileSync(path.join(path.dirname(entry), '..', 'package.json'), 'utf8')) as { version: string }).version;
}

function hasStrace(): boolean {
  try {
    execFileSync('strace', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

// ------------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        runs: { type: 'string', default: '5' },
        seconds: { type: 'string', default: '2' },
        dir: { type: 'string' },
        'no-strace': { type: 'boolean', default: false },
        child: { type: 'string' },
        workload: { type: 'string', default: 'insert' },
        commits: { type: 'string', default: '200' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.child) {
    await child(values.child as Mode, values.dir!, values.workload as 'insert' | 'tx3', Number(values.commits));
    return 0;
  }
  const runs = Number(values.runs);
  const seconds = Number(values.seconds);
  if (!Number.isInteger(runs) || runs < 1 || runs > 50) return usage('--runs must be an integer from 1 to 50');
  if (!(seconds > 0 && seconds <= 60)) return usage('--seconds must be more than 0 and at most 60');

  const root = mkdtempSync(path.join(values.dir ?? os.tmpdir(), 'pglite-durability-'));
  const cleanup = () => rmSync(root, { recursive: true, force: true });
  process.on('SIGINT', () => { cleanup(); process.exit(130); });
  try {
    const dirOf = (m: Mode) => path.join(root, m.replace('=', '-'));
    console.log(`PGlite ${pgliteVersion()} on Node ${process.version}, ${os.cpus().length} CPUs; databases in ${root}`);

    const syscalls = new Map<Mode, { insert: SyscallCount; tx3: SyscallCount }>();
    if (!values['no-strace'] && hasStrace()) {
      for (const m of MODES) {
        syscalls.set(m, { insert: countSyscalls(m, dirOf(m), 'insert', 200), tx3: countSyscalls(m, dirOf(m), 'tx3', 100) });
      }
    } else {
      console.log('(strace not found or --no-strace: syscall counts skipped)');
    }

    const results = new Map<Mode, { insert: number[]; tx3: number[] }>(MODES.map((m) => [m, { insert: [], tx3: [] }]));
    for (let r = 0; r < runs; r++) {
      for (const m of MODES) {
        const h = await openMode(m, dirOf(m));
        try {
          await prepare(h.db);
          results.get(m)!.insert.push(await rate(seconds, (i) => insertOne(h.db, i)));
          results.get(m)!.tx3.push(await rate(seconds, (i) => transaction3(h.db, i)));
        } finally {
          await h.close();
        }
      }
      process.stdout.write(`run ${r + 1}/${runs} done\n`);
    }

    const base = { insert: median(results.get('off')!.insert), tx3: median(results.get('off')!.tx3) };
    const rows = MODES.map((m) => {
      const ins = median(results.get(m)!.insert);
      const tx = median(results.get(m)!.tx3);
      const s = syscalls.get(m);
      const per = (c?: SyscallCount) => (c ? `${(c.fsync + c.fdatasync).toFixed(2)}` : 'n/a');
      return [m, per(s?.insert), per(s?.tx3), s ? String(s.insert.osyncOpens + s.tx3.osyncOpens) : 'n/a', s ? String(s.insert.closeFsyncs) : 'n/a',
        ins.toFixed(0), (ins / base.insert).toFixed(2), tx.toFixed(0), (tx / base.tx3).toFixed(2)];
    });
    const head = ['mode', 'fsyncs/INSERT', 'fsyncs/tx', 'O_SYNC opens', 'fsyncs at close', 'INSERT/s', 'ratio', 'tx(3 stmts)/s', 'ratio'];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
    console.log(`\nmedian of ${runs} runs of ${seconds} s each; ratios are to \`off\`\n`);
    console.log(line(head));
    console.log(`|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`);
    for (const r of rows) console.log(line(r));
    console.log(`\nall runs (INSERT/s; tx/s):`);
    for (const m of MODES) console.log(`  ${m.padEnd(9)} ${results.get(m)!.insert.map((x) => x.toFixed(0)).join(' ')}; ${results.get(m)!.tx3.map((x) => x.toFixed(0)).join(' ')}`);
    return 0;
  } finally {
    cleanup();
  }
}

function usage(msg: string): number {
  console.error(`${msg}\n\n${USAGE}`);
  return 2;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
