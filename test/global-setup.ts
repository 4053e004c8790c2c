// With TEST_DATABASE_URL, migrate a template database once; each test file clones it (see
// helpers/database.ts). Without it, every test file gets its own in-memory PGlite, loaded from an
// image of a migrated one made here once (about 1 s per file instead of an initdb's 4 to 5 s).
import type { TestProject } from 'vitest/node';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { migrateToLatest, openDatabase } from '../src/db/index.js';
import { TEMPLATE_DB, withDatabase } from './helpers/pg-url.js';

declare module 'vitest' {
  export interface ProvidedContext {
    pgTemplate: string | null;
    /** A file holding PGlite's dumpDataDir of a migrated cluster (PGlite runs only). */
    pgliteImage: string | null;
  }
}

export default async function setup(project: TestProject) {
  const url = process.env.TEST_DATABASE_URL;
  if (!url) {
    project.provide('pgTemplate', null);
    const database = await openDatabase({ pgliteDir: 'memory' });
    await migrateToLatest(database.db);
    const dir = mkdtempSync(path.join(tmpdir(), 'quay-compat-pglite-image-'));
    const file = path.join(dir, 'image.tar');
    writeFileSync(file, Buffer.from(await (await database.dump!()).arrayBuffer()));
    await database.close();
    project.provide('pgliteImage', file);
    return () => rmSync(dir, { recursive: true, force: true });
  }
  project.provide('pgliteImage', null);
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`drop database if exists ${TEMPLATE_DB} with (force)`);
  await admin.query(`create database ${TEMPLATE_DB}`);
  await admin.end();
  const db = new Kysely<any>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: withDatabase(url, TEMPLATE_DB), max: 1 }) }) });
  await migrateToLatest(db);
  await sql`select 1`.execute(db);
  await db.destroy();
  project.provide('pgTemplate', TEMPLATE_DB);
  return async () => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query(`drop database if exists ${TEMPLATE_DB} with (force)`);
    await c.end();
  };
}
