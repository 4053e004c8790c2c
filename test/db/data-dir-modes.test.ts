// DATA_DIR is its owner's only (src/lib/data-dir.ts): what a server writes there is 0700/0600, and a
// DATA_DIR left readable by an older version is fixed at the next start.
import { chmodSync, lstatSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { restrictDataDir } from '../../src/lib/data-dir.js';
import { cleanUp, initialize, startServer, stop, tempDataDir } from './server-process.js';

afterAll(cleanUp);

/** Every path under `dir` (and `dir`) whose permission bits are not 0700 (directories) or 0600 (files). */
function wrongModes(dir: string): string[] {
  const wrong: string[] = [];
  const check = (p: string) => {
    const st = lstatSync(p);
    const mode = st.mode & 0o7777;
    if (st.isDirectory()) {
      if (mode !== 0o700) wrong.push(`${p} ${mode.toString(8)}`);
      for (const e of readdirSync(p)) check(path.join(p, e));
    } else if (st.isFile() && mode !== 0o600) {
      wrong.push(`${p} ${mode.toString(8)}`);
    }
  };
  check(dir);
  return wrong;
}

function loosen(dir: string): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      chmodSync(p, 0o755);
      loosen(p);
    } else if (e.isFile()) chmodSync(p, 0o644);
  }
  chmodSync(dir, 0o755);
}

describe('DATA_DIR file modes', () => {
  it('keeps everything a server writes owner-only, and fixes a DATA_DIR an older version left open', async () => {
    const dataDir = tempDataDir('modes');
    const server = await startServer(dataDir);
    await initialize(server.url);
    expect(await stop(server)).toEqual({ code: 0, signal: null });
    const files = readdirSync(dataDir).sort();
    expect(files).toEqual(['db', 'db.lock', 'secret_key']);
    expect(readdirSync(path.join(dataDir, 'db')).length).toBeGreaterThan(10);
    expect(wrongModes(dataDir)).toEqual([]);

    // What an older version (umask 022) left behind: 0755 directories, 0644 files.
    loosen(dataDir);
    expect(wrongModes(dataDir).length).toBeGreaterThan(100);
    const again = await startServer(dataDir);
    try {
      expect(wrongModes(dataDir)).toEqual([]);
      expect(again.output()).toMatch(/Restricted \d+ files and directories in DATA_DIR/);
    } finally {
      expect(await stop(again)).toEqual({ code: 0, signal: null });
    }
  });

  it('with DATABASE_URL, restricts DATA_DIR itself and the secret key only', () => {
    const dataDir = tempDataDir('modes-url');
    mkdirSync(path.join(dataDir, 'storage'), { recursive: true, mode: 0o755 });
    chmodSync(dataDir, 0o755);
    chmodSync(path.join(dataDir, 'storage'), 0o755);
    writeFileSync(path.join(dataDir, 'secret_key'), 'k\n', { mode: 0o644 });
    writeFileSync(path.join(dataDir, 'storage', 'blob'), 'b', { mode: 0o644 });
    chmodSync(path.join(dataDir, 'secret_key'), 0o644);
    chmodSync(path.join(dataDir, 'storage', 'blob'), 0o644);

    expect(restrictDataDir(dataDir, { embedded: false })).toBe(2);
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
    expect(statSync(path.join(dataDir, 'secret_key')).mode & 0o777).toBe(0o600);
    expect(statSync(path.join(dataDir, 'storage')).mode & 0o777).toBe(0o755);
    expect(statSync(path.join(dataDir, 'storage', 'blob')).mode & 0o777).toBe(0o644);
    // Once DATA_DIR is 0700 nothing is walked again, and a missing DATA_DIR is left alone.
    expect(restrictDataDir(dataDir, { embedded: true })).toBe(0);
    expect(restrictDataDir(path.join(dataDir, 'nope'), { embedded: true })).toBe(0);
  });
});
