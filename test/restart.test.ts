// Stop and start the server on the same data: users, tokens, sessions and the secret key survive.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { freshDatabase, usingPostgres } from './helpers/database.js';
import type { Database } from '../src/db/index.js';

describe('restart persistence', () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'quay-restart-'));
  let pg: Database | undefined;
  afterAll(async () => pg?.close());

  it('keeps the user, token, app-specific token and session across a restart', async () => {
    // On PGlite the data lives in DATA_DIR/db; on PostgreSQL in a database that outlives the app.
    const env = { DATA_DIR: dataDir, LOG_LEVEL: 'silent' };
    if (usingPostgres) pg = await freshDatabase();
    const start = () => buildApp(loadConfig(env), pg ? { database: pg } : {});

    const first = await start();
    const init = await first.inject({
      method: 'POST',
      url: '/api/v1/user/initialize',
      payload: { username: 'keeper', password: 'password123', email: 'k@example.com', access_token: true },
    });
    expect(init.statusCode).toBe(200);
    const token = init.json().access_token as string;
    const cookie = init.cookies.find((c) => c.name === '_csrf_token')!.value;
    const created = await first.inject({ method: 'POST', url: '/api/v1/user/apptoken', headers: { authorization: `Bearer ${token}` }, payload: { title: 'survivor' } });
    const code = created.json().token.token_code as string;
    await first.close();

    const second = await start();
    try {
      const me = await second.inject({ url: '/api/v1/user/', headers: { authorization: `Bearer ${token}` } });
      expect(me.statusCode).toBe(200);
      expect(me.json().username).toBe('keeper');
      const bySession = await second.inject({ url: '/api/v1/user/', headers: { cookie: `_csrf_token=${cookie}` } });
      expect(bySession.json().username).toBe('keeper');
      // The secret key was kept in DATA_DIR, so the encrypted token code still decrypts.
      const list = await second.inject({ url: '/api/v1/user/apptoken', headers: { authorization: `Bearer ${token}` } });
      const uuid = list.json().tokens[0].uuid;
      const again = await second.inject({ url: `/api/v1/user/apptoken/${uuid}`, headers: { authorization: `Bearer ${token}` } });
      expect(again.json().token.token_code).toBe(code);
      const init2 = await second.inject({ method: 'POST', url: '/api/v1/user/initialize', payload: { username: 'other', password: 'password123' } });
      expect(init2.statusCode).toBe(400);
    } finally {
      await second.close();
    }
  });
});
