import { configDefaults, defineConfig } from 'vitest/config';

// Files that use no database: a PostgreSQL run (TEST_DATABASE_URL, CI's second pass) leaves them to
// the PGlite run, which runs everything.
const NO_DATABASE = ['test/storage/**', 'test/registry-clients/harness.test.ts'];

// The suite runs on embedded PGlite by default; with TEST_DATABASE_URL set it runs on that
// PostgreSQL server instead (one database per test file, cloned from a migrated template).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: process.env.TEST_DATABASE_URL ? [...configDefaults.exclude, ...NO_DATABASE] : configDefaults.exclude,
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    // Memory checks (test/storage/driver-suite.ts withRss) collect garbage before their baseline.
    execArgv: ['--expose-gc'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
