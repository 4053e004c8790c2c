// Opens the database: embedded PGlite (real Postgres in WASM) when no DATABASE_URL is given, a pg
// pool otherwise. One migration set serves both.
import { mkdirSync, readdirSync } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import type { Extension, PGliteOptions } from '@electric-sql/pglite';
import { Kysely, PGliteDialect, PostgresDialect, type Transaction } from 'kysely';
import { Migrator, type MigrationResultSet } from 'kysely/migration';
import pg from 'pg';
import { migrations } from '../../migrations/index.js';
import type { Config } from '../config.js';
import { lockDirectory } from './lock.js';
import { ReadCache } from './read-cache.js';
import type { DB } from './schema.js';

export type { DB } from './schema.js';
/** Any handle: the root or an open transaction. Functions that must run in a transaction take `Trx`. */
export type Db = Kysely<DB> | Transaction<DB>;
export type Trx = Transaction<DB>;

export interface Database {
  db: Kysely<DB>;
  kind: 'pglite' | 'postgres';
  /** True when this process holds the database alone (on-disk PGlite under its kernel lock). */
  exclusive?: boolean;
  /** In-memory PGlite only: an image of the cluster (PGlite's dumpDataDir), for pgliteImage. */
  dump?: () => Promise<Blob>;
  /**
   * PGlite only (no other process can write to it): the /v2 pull path's reads kept in memory until
   * the next write (src/db/read-cache.ts).
   */
  readCache?: ReadCache;
  close(): Promise<void>;
}

/**
 * How an on-disk PGlite reaches the disk (EMBEDDED_DB_SYNC).
 * - `full`: a commit is acknowledged after its WAL is fsynced, and checkpoints fsync the data
 *   files and directories: acknowledged writes survive an operating-system crash or power loss.
 * - `off`: PGlite's own default (`fsync` off). A commit is acknowledged once its WAL is written to
 *   the kernel: it survives the process being killed, not an operating-system crash, which can
 *   also leave the database unopenable.
 */
export type EmbeddedDbSync = 'full' | 'off';

export interface DatabaseOptions {
  /** postgres:// URL; when absent, PGlite is used. */
  url?: string;
  /**
   * PGlite data directory; 'memory' keeps everything in memory (tests). A directory is opened by
   * one process at a time: see src/db/lock.ts.
   */
  pgliteDir?: string | 'memory';
  /** 'memory' only: start from this dump (PGlite's dumpDataDir) instead of an empty cluster. */
  pgliteImage?: Blob;
  /** On-disk PGlite only; default 'full'. */
  sync?: EmbeddedDbSync;
  poolSize?: number;
}

/** The database the server and the CLI use: DATABASE_URL, or PGlite in DATA_DIR/db. */
export function databaseOptions(config: Pick<Config, 'DATABASE_URL' | 'DATA_DIR' | 'EMBEDDED_DB_SYNC'>): DatabaseOptions {
  if (config.DATABASE_URL) return { url: config.DATABASE_URL };
  return { pgliteDir: path.join(config.DATA_DIR, 'db'), sync: config.EMBEDDED_DB_SYNC };
}

// int8 (bigint) comes back as a number, as PGlite gives it (ids, sizes, millisecond times all stay
// below 2^53); pg's default is a string.
const INT8 = 20;
function pgTypeParser(oid: number, format?: string) {
  if (oid === INT8 && format !== 'binary') return (v: string) => (Number.isSafeInteger(Number(v)) ? Number(v) : BigInt(v));
  return pg.types.getTypeParser(oid, format as 'text');
}

export async function openDatabase(opts: DatabaseOptions): Promise<Database> {
  if (opts.url) {
    const pool = new pg.Pool({ connectionString: opts.url, max: opts.poolSize ?? 10, types: { getTypeParser: pgTypeParser } as pg.CustomTypesConfig });
    // Fail fast with a clear message when the server cannot be reached.
    const client = await pool.connect().catch(async (err: Error) => {
      await pool.end().catch(() => {});
      throw new Error(`Cannot connect to DATABASE_URL: ${err.message}`);
    });
    client.release();
    const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
    return { db, kind: 'postgres', close: () => db.destroy() };
  }
  const { PGlite } = await import('@electric-sql/pglite');
  if (!opts.pgliteDir || opts.pgliteDir === 'memory') {
    const pglite = new PGlite({ serializers: PGLITE_SERIALIZERS, ...(opts.pgliteImage ? { loadDataDir: opts.pgliteImage } : {}) });
    await pglite.waitReady;
    const readCache = new ReadCache();
    const db = new Kysely<DB>({ dialect: new PGliteDialect({ pglite }), plugins: [readCache.plugin] });
    const close = async () => {
      await db.destroy();
      if (!pglite.closed) await pglite.close();
    };
    return { db, kind: 'pglite', readCache, close, dump: async () => (await pglite.dumpDataDir('none')) as Blob };
  }

  const dataDir = path.resolve(opts.pgliteDir);
  const sync = opts.sync ?? 'full';
  mkdirSync(path.dirname(dataDir), { recursive: true, mode: 0o700 });
  const lock = lockDirectory(dataDir); // before PGlite reads or writes anything in dataDir
  let pglite: InstanceType<typeof PGlite> | undefined;
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    pglite = new PGlite(dataDir, { ...pgliteDurability(sync, PGlite.defaultStartParams), serializers: PGLITE_SERIALIZERS });
    await pglite.waitReady;
    if (sync === 'full' && !fsyncInstalled.has(pglite)) throw new Error('EMBEDDED_DB_SYNC=full: PGlite did not run the NODEFS fsync extension; set EMBEDDED_DB_SYNC=off');
    // PGlite copies a fresh cluster in with plain writes, and a previous run may have had sync
    // off: flush whatever is already there before the first write is acknowledged.
    if (sync === 'full') await fsyncTree(dataDir);
  } catch (err) {
    if (pglite?.ready) await pglite.close().catch(() => {});
    lock.release();
    throw err;
  }
  const opened = pglite;
  const readCache = new ReadCache();
  const db = new Kysely<DB>({ dialect: new PGliteDialect({ pglite: opened }), plugins: [readCache.plugin] });
  return {
    db,
    kind: 'pglite',
    exclusive: true,
    readCache,
    close: async () => {
      try {
        await db.destroy();
        if (!opened.closed) await opened.close();
      } finally {
        lock.release();
      }
    },
  };
}

// PGlite starts PostgreSQL with -F (fsync off), and on Node nothing else syncs: its NodeFS
// `syncToFs` is a no-op, so `relaxedDurability` changes nothing there. Turning fsync on is not
// enough either: Emscripten's NODEFS has no fsync, so PostgreSQL's fsync() (WASI fd_sync) answers
// success without touching the disk, and fdatasync() is a no-op in the syscall layer
// (bench/pglite-durability.ts counts the syscalls). `-c fsync=on` in postgresql.conf or ALTER
// SYSTEM does not even apply: the -F on the command line wins. For `full` we therefore (1) give
// NODEFS the missing fsync (nodefsFsync below), (2) drop -F and set wal_sync_method=fsync, which
// reaches it (the default fdatasync does not; open_sync aborts, its flag unknown to NODEFS; open_datasync works
// through O_SYNC but still needs (1) for checkpoints and measured no faster), and (3) pin the
// settings the guarantee rests on over postgresql.conf and ALTER SYSTEM. synchronous_commit stays
// on in both modes: single-user mode has no WAL writer, so an asynchronous commit stays in WAL
// buffers and dies with the process (measured: a kill -9 lost even the CREATE TABLE).
/**
 * A date or time parameter as PostgreSQL reads it. PGlite writes a Date with toISOString, whose
 * years past 9999 come as "+010000-01-01T…", which PostgreSQL refuses (a 500 for an expiration
 * in year 10000 or later); node-postgres writes "10000-01-01T…", which it takes. This writes
 * what node-postgres writes, so both databases accept the same values.
 */
export function pgDateParam(v: unknown): string {
  if (typeof v === 'string') return v;
  const d = typeof v === 'number' ? new Date(v) : v;
  if (!(d instanceof Date) || Number.isNaN(d.getTime())) throw new TypeError('Invalid input for a date or time');
  const iso = d.toISOString();
  if (iso[0] !== '+') return iso;
  return `${d.getUTCFullYear()}${iso.slice(iso.indexOf('-'))}`;
}

/** date, timestamp and timestamptz (their type oids). */
const PGLITE_SERIALIZERS = { 1082: pgDateParam, 1114: pgDateParam, 1184: pgDateParam };

export function pgliteDurability(sync: EmbeddedDbSync, defaultStartParams: readonly string[]): PGliteOptions {
  const always = ['-c', 'synchronous_commit=on'];
  if (sync === 'off') return { startParams: [...defaultStartParams, ...always] };
  return {
    startParams: [
      ...defaultStartParams.filter((p) => p !== '-F'),
      ...always,
      ...['-c', 'fsync=on', '-c', 'wal_sync_method=fsync', '-c', 'full_page_writes=on'],
    ],
    extensions: { nodefsFsync },
  };
}

// The NODEFS stream operation Emscripten leaves out: fd_sync on a file fsyncs its Node
// descriptor, on a directory (PostgreSQL fsyncs directories after creating and renaming files)
// the directory. A failure becomes an errno, so PostgreSQL treats a failed fsync as it does
// anywhere (PANIC, no retry). It is an extension rather than a custom `fs` because PGlite hands
// `fs` (not extensions) to its in-memory initdb helper as well. openDatabase checks that it was
// installed, so a PGlite upgrade that stops running it fails at start instead of silently.
const fsyncInstalled = new WeakSet<object>();
interface NodefsInternals {
  stream_ops: Record<string, unknown> & { fsync?: (stream: { nfd?: number; node: unknown }) => number };
  realPath(node: unknown): string;
  tryFSOperation<T>(f: () => T): T;
}
const nodefsFsync: Extension = {
  name: 'nodefs-fsync',
  setup: async (pg, emscriptenOpts: { preRun?: unknown[] }) => {
    const fs = await import('node:fs');
    const install = (mod: { FS: { filesystems: { NODEFS?: NodefsInternals } } }) => {
      const nodefs = mod.FS.filesystems.NODEFS;
      if (!nodefs?.stream_ops || typeof nodefs.realPath !== 'function' || typeof nodefs.tryFSOperation !== 'function') {
        throw new Error('EMBEDDED_DB_SYNC=full: this PGlite build has no NODEFS to add fsync to; set EMBEDDED_DB_SYNC=off');
      }
      fsyncInstalled.add(pg);
      if (nodefs.stream_ops.fsync) return; // Emscripten implements it itself now
      nodefs.stream_ops.fsync = (stream) => {
        nodefs.tryFSOperation(() => {
          if (stream.nfd !== undefined) return fs.fsyncSync(stream.nfd);
          const fd = fs.openSync(nodefs.realPath(stream.node), 'r');
          try {
            fs.fsyncSync(fd);
          } finally {
            fs.closeSync(fd);
          }
        });
        return 0;
      };
    };
    return { emscriptenOpts: { ...emscriptenOpts, preRun: [...(emscriptenOpts.preRun ?? []), install] } };
  },
};

/** fsyncs every file and directory under `dir`, and the directory holding it, a few at a time. */
async function fsyncTree(dir: string): Promise<void> {
  const paths: string[] = [path.dirname(dir)];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(d, e.name));
      else if (e.isFile()) paths.push(path.join(d, e.name));
    }
    paths.push(d);
  };
  walk(dir);
  let next = 0;
  const worker = async () => {
    while (next < paths.length) {
      const handle = await open(paths[next++], 'r');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
  };
  // In parallel the kernel batches the journal commits: ~1,000 files take 0.1 s instead of 1 s.
  await Promise.all(Array.from({ length: 16 }, worker));
}

export function migrator(db: Kysely<any>): Migrator {
  return new Migrator({ db, provider: { getMigrations: async () => migrations } });
}

export async function migrateToLatest(db: Kysely<any>): Promise<MigrationResultSet> {
  const result = await migrator(db).migrateToLatest();
  if (result.error) throw result.error;
  return result;
}
