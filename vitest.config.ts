import { configDefaults, defineConfig } from 'vitest/config';

// A PostgreSQL run (TEST_DATABASE_URL, CI's second pass) leaves to the PGlite run, which runs
// everything, the files whose outcome cannot depend on the database server: those that use no
// database (storage drivers, the client harness), those that test the embedded database itself
// through server processes of their own (test/db), and the hostile-input walk, which exercises
// input handling (PGlite is the same PostgreSQL engine, so a value reaching SQL fails the same way).
const SAME_ON_EVERY_DATABASE = ['test/storage/**', 'test/registry-clients/harness.test.ts', 'test/db/**', 'test/hostile-input.test.ts'];

// The suite runs on embedded PGlite by default; with TEST_DATABASE_URL set it runs on that
// PostgreSQL server instead (one database per test file, cloned from a migrated template).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: process.env.TEST_DATABASE_URL ? [...configDefaults.exclude, ...SAME_ON_EVERY_DATABASE] : configDefaults.exclude,
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    // One worker process runs file after file instead of a fresh process per file: on the 2-core CI
    // machine (one worker) that saves ~4 s a file of spawning and importing, about a third of the
    // run (PostgreSQL pass: 382 s → 237 s). Files share module state, so a test that fakes timers,
    // stubs a global or changes process state must undo it in an after hook (key-rotation.test.ts).
    isolate: false,
    // Memory checks (test/storage/driver-suite.ts withRss) collect garbage before their baseline.
    execArgv: ['--expose-gc'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
