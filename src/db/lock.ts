// One process per embedded database.
//
// Invariant: a process opens an on-disk PGlite directory (DATA_DIR/db) only while it holds the
// exclusive lock on the file beside it (DATA_DIR/db.lock); it takes the lock before PGlite touches
// the directory and drops it after PGlite has closed. PGlite is PostgreSQL in single-user mode
// inside this process: it caches pages and WAL positions in memory and assumes no other process
// writes its files. Two processes on one directory each write their own view, so acknowledged
// writes are lost and the directory can be left unopenable. A PostgreSQL server (DATABASE_URL)
// needs no lock: replicas sharing DATA_DIR are fine there.
//
// The lock is the kernel's (fcntl F_OFD_SETLK on Linux, flock on macOS) through
// fs-native-extensions, so it dies with the process however the process dies (kill -9, OOM killer,
// power loss): a lock file left behind never blocks the next start, and there is no staleness
// timeout to wait for. The file is never deleted (deleting it would let two processes lock two
// different inodes of the same name); what it contains (pid, command line) only serves the message.
import { closeSync, ftruncateSync, openSync, readFileSync, writeSync, constants as fsc } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { sql } from 'kysely';
import type { Trx } from './index.js';

/** Another live process holds the database directory. The CLI exits with code 2 on it. */
export class DatabaseInUseError extends Error {
  override name = 'DatabaseInUseError';
}

export interface DirectoryLock {
  /** The lock file, `<dir>.lock`. */
  readonly file: string;
  /** Drops the lock (idempotent). Closing the descriptor is what releases it. */
  release(): void;
}

type LockFn = (fd: number) => boolean;
let tryLockFn: LockFn | undefined;

function nativeTryLock(): LockFn {
  if (!tryLockFn) {
    // A CommonJS addon with a prebuilt binary per platform (no node-gyp at install).
    const require = createRequire(import.meta.url);
    tryLockFn = (require('fs-native-extensions') as { tryLock: LockFn }).tryLock;
  }
  return tryLockFn;
}

/**
 * Locks `dir` (the PGlite directory) for this process by an exclusive lock on `<dir>.lock`, or
 * throws DatabaseInUseError naming the process that holds it. The lock file is created 0600.
 */
export function lockDirectory(dir: string): DirectoryLock {
  const abs = path.resolve(dir);
  const file = `${abs}.lock`;
  const fd = openSync(file, fsc.O_RDWR | fsc.O_CREAT, 0o600);
  let locked: boolean;
  try {
    locked = nativeTryLock()(fd);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  if (!locked) {
    closeSync(fd);
    throw new DatabaseInUseError(
      `The embedded database ${abs} is in use by another quay-compat process (${describeHolder(file)}); ` +
        'stop it first, or set DATA_DIR to another directory.',
    );
  }
  ftruncateSync(fd, 0);
  writeSync(fd, `${process.pid}\n${commandLine(process.pid) ?? process.argv.join(' ')}\n`, 0);
  let open = true;
  return {
    file,
    release() {
      if (!open) return;
      open = false;
      try {
        ftruncateSync(fd, 0);
      } finally {
        closeSync(fd);
      }
    },
  };
}

// "pid 1234: node …/tsx src/cli.ts serve", from what the holder wrote into the lock file and, where
// /proc is readable, the live command line of that pid. The holder may not have written yet.
function describeHolder(file: string): string {
  let pid: number | undefined;
  let written: string | undefined;
  try {
    const [first, ...rest] = readFileSync(file, 'utf8').split('\n');
    if (/^\d+$/.test(first)) pid = Number(first);
    written = rest.join(' ').trim() || undefined;
  } catch {
    // unreadable: say what we can
  }
  if (pid === undefined) return 'pid unknown';
  const cmd = commandLine(pid) ?? written;
  return cmd ? `pid ${pid}: ${cmd}` : `pid ${pid}`;
}

function commandLine(pid: number): string | undefined {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    const cmd = raw.split('\0').filter(Boolean).join(' ');
    return cmd.length > 200 ? `${cmd.slice(0, 199)}…` : cmd || undefined;
  } catch {
    return undefined;
  }
}

/**
 * A transaction-scoped advisory lock among every process on one database: held until `trx` ends.
 * `key` is a bigint each caller names once (its letters' bytes, by convention).
 */
export async function advisoryXactLock(trx: Trx, key: bigint): Promise<void> {
  await sql`select pg_advisory_xact_lock(${sql.raw(key.toString())})`.execute(trx);
}
