// DATA_DIR is readable by its owner only (directories 0700, files 0600), as PostgreSQL requires of
// its data directory: it holds the database, the generated secret key and, later, blobs.
//
// New files get those modes from the process umask: the CLI (the entry of `serve` and of every
// command) sets 0077 before anything is written, whatever PGlite, Node or a library asks for.
// What an older version left behind is fixed here, once: the walk runs only while DATA_DIR itself
// is not 0700, and DATA_DIR is chmodded last, so its mode records that the walk completed (an
// interrupted walk runs again at the next start). Nothing under a 0700 directory is reachable by
// another user whatever its own mode, so a start costs one stat.
//
// With DATABASE_URL only DATA_DIR itself and the secret key are changed: replicas may share a
// DATA_DIR, and the embedded database is not in use.
import { chmodSync, lstatSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

export const OWNER_ONLY_UMASK = 0o077;
const DIR_MODE = 0o700;
const FILE_MODE = 0o600;

/**
 * Restricts DATA_DIR (if it exists) and the secret key to the owner; with `embedded`, also every
 * directory and file below, the first time. Returns how many modes were changed.
 */
export function restrictDataDir(dataDir: string, opts: { embedded: boolean }): number {
  let top;
  try {
    top = statSync(dataDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
  if (!top.isDirectory()) return 0;
  let changed = 0;
  const fix = (p: string, want: number, mode: number) => {
    if ((mode & 0o7777) === want) return;
    chmodSync(p, want);
    changed++;
  };
  try {
    const key = lstatSync(path.join(dataDir, 'secret_key'));
    if (key.isFile()) fix(path.join(dataDir, 'secret_key'), FILE_MODE, key.mode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (opts.embedded && (top.mode & 0o7777) !== DIR_MODE) {
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        // Symbolic links are left alone: chmod would follow them out of DATA_DIR.
        if (e.isDirectory()) {
          fix(p, DIR_MODE, lstatSync(p).mode);
          walk(p);
        } else if (e.isFile()) {
          fix(p, FILE_MODE, lstatSync(p).mode);
        }
      }
    };
    walk(dataDir);
  }
  fix(dataDir, DIR_MODE, top.mode);
  return changed;
}
