// With TEST_DATABASE_URL, migrate a template database once; each test file clones it (see
// helpers/database.ts). Without it, every test file gets its own in-memory PGlite.
import type { TestProject } from 'vitest/node';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { migrateToLatest } from '../src/db/index.js';
import { TEMPLATE_DB, withDatabase } from './helpers/pg-url.js';

declare module 'vitest' {
  export interface ProvidedContext {
    pgTemplate: string | null;
  }
}

export default async function setup(project: TestProject) {
  const url = process.env.TEST_DATABASE_URL;
  if (!url) {
    project.provide('pgTemplate', null);
    return;
  }
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
