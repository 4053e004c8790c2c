// A fresh database for one test file: in-memory PGlite, or (with TEST_DATABASE_URL) a PostgreSQL
// database cloned from the migrated template and dropped afterwards.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { inject } from 'vitest';
import { openDatabase, type Database } from '../../src/db/index.js';
import { withDatabase } from './pg-url.js';

export const usingPostgres = !!process.env.TEST_DATABASE_URL;

export async function freshDatabase(): Promise<Database> {
  const url = process.env.TEST_DATABASE_URL;
  const template = inject('pgTemplate');
  if (!url || !template) {
    const image = inject('pgliteImage');
    return openDatabase({ pgliteDir: 'memory', pgliteImage: image ? new Blob([readFileSync(image)]) : undefined });
  }
  const name = `quay_compat_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    // Two clones of one template at the same moment can fail with "source database is being
    // accessed by other users" (55006): retry briefly.
    for (let attempt = 0; ; attempt++) {
      try {
        await admin.query(`create database ${name} template ${template}`);
        break;
      } catch (err) {
        if ((err as { code?: string }).code !== '55006' || attempt >= 20) throw err;
        await new Promise((r) => setTimeout(r, 100 + Math.random() * 200));
      }
    }
  } finally {
    await admin.end();
  }
  const database = await openDatabase({ url: withDatabase(url, name), poolSize: 4 });
  return {
    ...database,
    close: async () => {
      await database.close();
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        // The pool's end() returns before its clients' sockets have closed; terminating a client
        // that is still closing makes it emit an error nobody listens to any more. So wait (briefly)
        // for the backends to go, and force only what is left after that.
        for (let i = 0; i < 50; i++) {
          const { rows } = await c.query('select count(*)::int as n from pg_stat_activity where datname = $1', [name]);
          if (rows[0].n === 0) break;
          await new Promise((r) => setTimeout(r, 20));
        }
        await c.query(`drop database if exists ${name} with (force)`);
      } finally {
        await c.end();
      }
    },
  };
}
