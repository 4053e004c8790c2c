// testApp(): the real app, built in-process on a fresh database; requests go through inject().
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { buildApp } from '../../src/app.js';
import { parseConfig, type Config, type ConfigInput } from '../../src/config.js';
import type { Database } from '../../src/db/index.js';
import { freshDatabase } from './database.js';

export const TEST_SECRET = 'test-secret-key-0123456789abcdef';

export function testConfig(overrides: Partial<ConfigInput> = {}): Config {
  // Tests sign in far more often than a person: per-address limits are off unless a test sets them.
  // No job worker runs unless a test asks (JOBS_IN_PROCESS: true); others run jobs with app.jobs.runPending().
  const parsed = parseConfig({ LOG_LEVEL: 'silent', SERVER_HOSTNAME: 'localhost:8080', RATE_LIMIT_PER_IP: 0, JOBS_IN_PROCESS: false, ...overrides });
  return { ...parsed, DATABASE_SECRET_KEY: TEST_SECRET };
}

export interface TestApp {
  app: FastifyInstance;
  database: Database;
  config: Config;
  inject(opts: InjectOptions | string): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

export async function testApp(overrides: Partial<ConfigInput> = {}, database?: Database): Promise<TestApp> {
  // Each app gets its own DATA_DIR (blobs go to DATA_DIR/storage), removed when it closes.
  const dataDir = overrides.DATA_DIR === undefined ? await mkdtemp(path.join(tmpdir(), 'quay-test-')) : undefined;
  const config = testConfig(dataDir ? { ...overrides, DATA_DIR: dataDir } : overrides);
  const db = database ?? (await freshDatabase());
  const app = await buildApp(config, { database: db });
  await app.ready();
  return {
    app,
    database: db,
    config,
    inject: (opts) => app.inject(opts),
    close: async () => {
      await app.close();
      if (!database) await db.close();
      if (dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}
