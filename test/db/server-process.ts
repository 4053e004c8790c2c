// Real server processes on a real DATA_DIR (embedded PGlite on disk), for the tests of what only a
// process shows: the data-directory lock, kill -9, file modes. Each runs `node bin/quay-compat.js`
// (tsx registered in-process), so the child's pid is the pid that opens the database. The
// environment is built from scratch: a DATABASE_URL (or TEST_DATABASE_URL) of the suite never
// reaches the child, so these tests run on PGlite whatever the suite runs on.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

const ENTRY = path.resolve('bin/quay-compat.js');
const children = new Set<ChildProcess>();
const tempDirs: string[] = [];

/** A DATA_DIR path in a new temporary directory; the directory itself is not created. */
export function tempDataDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), `${prefix}-`));
  tempDirs.push(dir);
  return path.join(dir, 'data');
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Proc {
  child: ChildProcess;
  pid: number;
  /** stdout and stderr so far. */
  output(): string;
  exited: Promise<Exit>;
}

export function spawnCli(args: string[], env: Record<string, string>): Proc {
  const child = spawn(process.execPath, [ENTRY, ...args], {
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<Exit>((resolve) =>
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    }),
  );
  return { child, pid: child.pid!, output: () => out, exited };
}

/** Runs a command to completion. */
export async function runCli(args: string[], env: Record<string, string>, timeoutMs = 60_000): Promise<Exit & { output: string }> {
  const p = spawnCli(args, env);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs);
  const exit = await p.exited;
  clearTimeout(timer);
  return { ...exit, output: p.output() };
}

export interface Server extends Proc {
  url: string;
}

/** Starts `serve` on a free port and resolves once /health/instance answers 200. */
export async function startServer(dataDir: string, env: Record<string, string> = {}, timeoutMs = 45_000): Promise<Server> {
  const port = await freePort();
  const p = spawnCli(['serve'], { DATA_DIR: dataDir, PORT: String(port), ...env });
  const url = `http://127.0.0.1:${port}`;
  let exit: Exit | undefined;
  void p.exited.then((e) => (exit = e));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exit) throw new Error(`server exited (${exit.code ?? exit.signal}) before it was ready:\n${p.output()}`);
    try {
      const r = await fetch(`${url}/health/instance`);
      if (r.status === 200) return { ...p, url };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  p.child.kill('SIGKILL');
  throw new Error(`server not ready after ${timeoutMs} ms:\n${p.output()}`);
}

/** SIGTERM (graceful close) or SIGKILL, and wait for the exit. */
export async function stop(p: Proc, signal: NodeJS.Signals = 'SIGTERM'): Promise<Exit> {
  if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill(signal);
  return p.exited;
}

/** After the file: kills what its tests left running (their own children only), removes their DATA_DIRs. */
export async function cleanUp(): Promise<void> {
  await Promise.all(
    [...children].map((c) => new Promise((resolve) => {
      c.once('exit', resolve);
      c.kill('SIGKILL');
    })),
  );
  for (const d of tempDirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

export async function initialize(url: string, username = 'admin'): Promise<string> {
  const r = await fetch(`${url}/api/v1/user/initialize`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password: 'password123', email: `${username}@example.com`, access_token: true }),
  });
  if (r.status !== 200) throw new Error(`initialize: ${r.status} ${await r.text()}`);
  return ((await r.json()) as { access_token: string }).access_token;
}
