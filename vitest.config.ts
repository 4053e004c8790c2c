import { defineConfig } from 'vitest/config';

// The suite runs on embedded PGlite by default; with TEST_DATABASE_URL set it runs on that
// PostgreSQL server instead (one database per test file, cloned from a migrated template).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
