// The CLI as a user runs it: a real process on a fresh DATA_DIR (embedded PGlite).
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { usingPostgres } from './helpers/database.js';

const run = promisify(execFile);
const CLI = ['node_modules/.bin/tsx', 'src/cli.ts'];

async function cli(args: string[], env: Record<string, string>) {
  try {
    const r = await run(CLI[0], [CLI[1], ...args], { env: { PATH: process.env.PATH, ...env }, timeout: 60_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('command line', () => {
  it('refuses bad configuration with a message naming the key and a non-zero exit', async () => {
    const r = await cli(['migrate'], { DATA_DIR: mkdtempSync(path.join(tmpdir(), 'cli-')), PORT: 'eighty' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Invalid configuration');
    expect(r.stderr).toContain('- PORT:');
  });

  it.skipIf(usingPostgres)('creates a user and mints a token that the server accepts', async () => {
    const env = { DATA_DIR: mkdtempSync(path.join(tmpdir(), 'cli-')), LOG_LEVEL: 'silent' };
    expect((await cli(['migrate'], env)).code).toBe(0);
    const created = await cli(['create-user', 'cliuser', '--password', 'password123', '--email', 'c@example.com'], env);
    expect(created.code, created.stderr).toBe(0);
    expect((await cli(['create-user', 'cliuser', '--password', 'password123'], env)).code).toBe(2);
    expect((await cli(['create-token', 'cliuser', '--scopes', 'repo:read, bogus'], env)).code).toBe(2);
    const minted = await cli(['create-token', 'cliuser', '--scopes', 'user:read'], env);
    expect(minted.code, minted.stderr).toBe(0);
    const token = minted.stdout.trim();
    expect(token).toMatch(/^[A-Za-z0-9]{40}$/);

    const app = await buildApp(loadConfig(env));
    try {
      const me = await app.inject({ url: '/api/v1/user/', headers: { authorization: `Bearer ${token}` } });
      expect(me.statusCode).toBe(200);
      expect(me.json().username).toBe('cliuser');
      // user:read only: the e-mail (a user:admin field) is not shown.
      expect(me.json()).not.toHaveProperty('email');
    } finally {
      await app.close();
    }
  }, 90_000); // seven CLI processes, each starting the embedded database: ~15 s quiet, more under load
});
