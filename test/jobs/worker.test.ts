// The job worker inside the real app (and the `worker` command as a real process), on the real
// database: PGlite, or PostgreSQL with TEST_DATABASE_URL.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import type { ConfigInput } from '../../src/config.js';
import { openDatabase, type Database } from '../../src/db/index.js';
import type { Job, JobContext, JobHandler } from '../../src/jobs/index.js';
import { claim, enqueue } from '../../src/jobs/queue.js';
import { LeaseLostError, Worker, WorkerStoppingError } from '../../src/jobs/worker.js';
import { testApp, testConfig } from '../helpers/app.js';
import { freshDatabase, usingPostgres } from '../helpers/database.js';
import { withDatabase } from '../helpers/pg-url.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}
let n = 0;
const q = (what: string) => `test-${what}-${++n}`;

interface LogLine {
  level: number;
  msg: string;
  component?: string;
  job?: number;
  err?: { message: string };
  [k: string]: unknown;
}

const dataDirs: string[] = [];
afterAll(() => dataDirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** The real app with its worker running and its log captured. */
async function workerApp(database: Database, overrides: Partial<ConfigInput> = {}) {
  const lines: LogLine[] = [];
  const DATA_DIR = mkdtempSync(path.join(tmpdir(), 'jobs-'));
  dataDirs.push(DATA_DIR);
  const app = await buildApp(testConfig({ JOBS_IN_PROCESS: true, JOB_POLL_INTERVAL: 1, DATA_DIR, ...overrides }), {
    database,
    logger: { level: 'info', stream: { write: (s: string) => void lines.push(JSON.parse(s)) } },
  });
  await app.ready();
  return { app, lines };
}

describe('job worker', () => {
  let database: Database;
  const apps: FastifyInstance[] = [];
  beforeAll(async () => {
    database = await freshDatabase();
  });
  afterAll(async () => {
    for (const app of apps) await app.close();
    await database?.close();
  });
  const started = async (overrides: Partial<ConfigInput> = {}, db = database) => {
    const w = await workerApp(db, overrides);
    apps.push(w.app);
    return w;
  };
  const row = (id: number) => database.db.selectFrom('job').selectAll().where('id', '=', id).executeTakeFirst();

  it('runs each of many jobs exactly once, never twice at the same time, across two app instances on one database', async () => {
    // On PostgreSQL the second app has its own connection pool, as a second replica would; on
    // PGlite (one connection) both claim through the same database.
    let second: Database | undefined;
    if (usingPostgres) {
      const { rows } = await sql<{ name: string }>`select current_database() as name`.execute(database.db);
      second = await openDatabase({ url: withDatabase(process.env.TEST_DATABASE_URL!, rows[0].name), poolSize: 4 });
    }
    const a = await started({ JOB_CONCURRENCY: 4 });
    const b = await started({ JOB_CONCURRENCY: 4 }, second ?? database);
    try {
      const queue = q('many');
      const runs = new Map<number, number>();
      const active = new Set<number>();
      const byApp = [0, 0];
      let overlaps = 0;
      const handler = (which: number): JobHandler<{ i: number }> => ({
        queue,
        async handle(job) {
          if (active.has(job.id)) overlaps++;
          active.add(job.id);
          runs.set(job.id, (runs.get(job.id) ?? 0) + 1);
          byApp[which]++;
          await sleep(Math.random() * 8);
          active.delete(job.id);
        },
      });
      a.app.jobs.register(handler(0));
      b.app.jobs.register(handler(1));
      const ids = await a.app.jobs.transaction(async (trx) => {
        const out: number[] = [];
        for (let i = 0; i < 300; i++) out.push(await a.app.jobs.enqueue(trx, queue, { i }));
        return out;
      });
      b.app.jobs.nudge();
      await waitFor('every job to run', () => runs.size === ids.length, 30_000);
      await waitFor('every job row to be deleted', async () => (await database.db.selectFrom('job').select('id').where('queue', '=', queue).execute()).length === 0);
      expect(overlaps).toBe(0);
      expect([...runs.values()].every((c) => c === 1)).toBe(true);
      expect(new Set(runs.keys())).toEqual(new Set(ids));
      expect(byApp[0]).toBeGreaterThan(0);
      expect(byApp[1]).toBeGreaterThan(0);
      expect(a.lines.filter((l) => l.level >= 40)).toEqual([]);
    } finally {
      await b.app.close();
      await second?.close();
    }
  });

  it('retries a failing job after its backoff, logs each failure once with the error, and keeps a dead row after the last attempt', async () => {
    const { app, lines } = await started();
    const queue = q('failing');
    const times: number[] = [];
    const attempts: number[] = [];
    const handlers = new Map<string, JobHandler>([
      [
        queue,
        {
          queue,
          retries: 3,
          backoff: (attempt) => 0.25 * attempt,
          async handle(_job, ctx) {
            times.push(Date.now());
            attempts.push(ctx.attempt);
            throw new Error(`broken on attempt ${ctx.attempt} (token=s3cr3t-value)`);
          },
        },
      ],
    ]);
    // A worker of its own with a fast poll, so the backoff, not the poll, sets the pace.
    const worker = new Worker({ db: app.db, log: app.log.child({ component: 'jobs' }), handlers, pollIntervalMs: 25, concurrency: 1, shutdownTimeoutMs: 1000 });
    const id = await enqueue(app.db, queue, { x: 1 }, { retries: 3 });
    worker.start();
    try {
      await waitFor('three attempts', () => times.length === 3);
      await sleep(800);
      expect(times.length).toBe(3); // dead: not claimed again
      expect(attempts).toEqual([1, 2, 3]);
      expect(times[1] - times[0]).toBeGreaterThanOrEqual(230);
      expect(times[2] - times[1]).toBeGreaterThanOrEqual(480); // 0.25 s × attempt 2
      const dead = (await row(id))!;
      expect(dead).toMatchObject({ retries_remaining: 0, processing_expires: null });
      expect(dead.last_error).toBe('Error: broken on attempt 3 (token=[redacted])');
      const failures = lines.filter((l) => l.job === id);
      expect(failures.map((l) => [l.level, l.msg, l.err?.message])).toEqual([
        [40, 'job failed; it will be retried', 'broken on attempt 1 (token=s3cr3t-value)'],
        [40, 'job failed; it will be retried', 'broken on attempt 2 (token=s3cr3t-value)'],
        [50, 'job failed for the last time; kept as a dead row', 'broken on attempt 3 (token=s3cr3t-value)'],
      ]);
      expect(failures.every((l) => l.component === 'jobs' && l.queue === queue)).toBe(true);
    } finally {
      await worker.stop();
    }
  });

  it('runs a job enqueued by this process as soon as its transaction commits, not at the next poll', async () => {
    const { app } = await started({ JOB_POLL_INTERVAL: 60 });
    const queue = q('nudge');
    const ran: number[] = [];
    app.jobs.register({ queue, handle: async (job) => void ran.push(job.id) });
    await sleep(100); // the worker has looked once and now sleeps for a minute

    // Enqueued outside app.jobs and never nudged: the worker does not know about it.
    const quiet = await app.db.transaction().execute((trx) => enqueue(trx, queue, {}));
    await sleep(500);
    expect(ran).toEqual([]);

    let committedAt = 0;
    const loud = await app.jobs.transaction(async (trx) => {
      const id = await app.jobs.enqueue(trx, queue, {});
      await sleep(200);
      expect(ran).toEqual([]); // not before the commit
      committedAt = Date.now();
      return id;
    });
    await waitFor('the nudged jobs to run', () => ran.length === 2, 2000);
    expect(Date.now() - committedAt).toBeLessThan(1000);
    expect(ran.sort()).toEqual([quiet, loud].sort());

    // A plain nudge after a transaction the caller opened itself.
    const third = await app.db.transaction().execute((trx) => app.jobs.enqueue(trx, queue, {}));
    app.jobs.nudge();
    await waitFor('the third job', () => ran.includes(third), 1000);
  });

  it('renews the lease of a long handler so no other worker takes the job over', async () => {
    const { app } = await started();
    const queue = q('long');
    let runs = 0;
    let finished = false;
    app.jobs.register({
      queue,
      leaseS: 0.3,
      async handle() {
        runs++;
        await sleep(1200);
        finished = true;
      },
    });
    const id = await app.jobs.transaction((trx) => app.jobs.enqueue(trx, queue, {}));
    await waitFor('the handler to start', () => runs === 1);
    while (!finished) {
      expect(await claim(database.db, [queue], 10)).toBeUndefined(); // a second worker finds nothing
      await sleep(100);
    }
    await waitFor('the job row to go', async () => (await row(id)) === undefined);
    expect(runs).toBe(1);
  });

  it('takes over the job of a worker that died once its lease expires, as a counted attempt', async () => {
    const { app } = await started();
    const queue = q('orphan');
    const seen: { job: Job; attempt: number }[] = [];
    const id = await enqueue(database.db, queue, { orphan: true }, { retries: 4 });
    const dead = await claim(database.db, [queue], 0.5); // a worker that claims and then dies
    expect(dead!.id).toBe(id);
    app.jobs.register({ queue, retries: 4, handle: async (job, ctx) => void seen.push({ job, attempt: ctx.attempt }) });
    app.jobs.nudge();
    await sleep(200);
    expect(seen).toEqual([]); // still leased
    await waitFor('the takeover', () => seen.length === 1, 3000);
    expect(seen[0].job).toMatchObject({ id, body: { orphan: true }, retriesRemaining: 2, lastError: expect.stringMatching(/lease expired/) });
    expect(seen[0].attempt).toBe(2);
    await waitFor('the job row to go', async () => (await row(id)) === undefined);
  });

  it('aborts the handler signal when the lease is lost, and leaves the job to its new holder', async () => {
    const { app, lines } = await started();
    const queue = q('stolen');
    let reason: unknown;
    app.jobs.register({
      queue,
      leaseS: 0.3,
      async handle(_job, ctx) {
        await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
        reason = ctx.signal.reason;
        throw ctx.signal.reason;
      },
    });
    const id = await app.jobs.transaction((trx) => app.jobs.enqueue(trx, queue, {}));
    await waitFor('the claim', async () => (await row(id))?.processing_expires !== null);
    // Another worker's claim (as after an expiry elsewhere): a new state_id and a long lease.
    await database.db.updateTable('job').set({ state_id: 'someone-else', processing_expires: sql`now() + interval '1 hour'` }).where('id', '=', id).execute();
    await waitFor('the abort', () => reason !== undefined, 3000);
    expect(reason).toBeInstanceOf(LeaseLostError);
    await waitFor('the outcome to be logged', () => lines.some((l) => l.job === id && /lease was lost/.test(l.msg) && l.err));
    const after = (await row(id))!;
    expect(after).toMatchObject({ state_id: 'someone-else', last_error: null }); // the stale attempt changed nothing
  });

  it('waits on close for a running job to finish and record its outcome', async () => {
    // Closing an app built on a database it was given leaves that database open.
    const own = database;
    {
      const { app } = await workerApp(own);
      const queue = q('close');
      let startedAt = 0;
      let finishedAt = 0;
      app.jobs.register({
        queue,
        async handle() {
          startedAt = Date.now();
          await sleep(600);
          finishedAt = Date.now();
        },
      });
      const id = await app.jobs.transaction((trx) => app.jobs.enqueue(trx, queue, {}));
      await waitFor('the handler to start', () => startedAt > 0);
      await app.close();
      expect(finishedAt).toBeGreaterThan(0);
      expect(await own.db.selectFrom('job').select('id').where('id', '=', id).executeTakeFirst()).toBeUndefined();
    }
  });

  it('bounds the wait on close: an interrupted handler gives its attempt back, a stuck one keeps its lease', async () => {
    const own = database;
    let unstick = () => {};
    try {
      const { app, lines } = await workerApp(own, { JOB_SHUTDOWN_TIMEOUT: 1, JOB_CONCURRENCY: 2 });
      const polite = q('polite');
      const stuck = q('stuck');
      const running = new Set<string>();
      let politeReason: unknown;
      app.jobs.register({
        queue: polite,
        async handle(_job, ctx: JobContext) {
          running.add(polite);
          await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
          politeReason = ctx.signal.reason;
          throw new Error('stopped early');
        },
      });
      app.jobs.register({
        queue: stuck,
        async handle() {
          running.add(stuck);
          await new Promise<void>((resolve) => (unstick = resolve));
        },
      });
      const [p, s] = await app.jobs.transaction(async (trx) => [await app.jobs.enqueue(trx, polite, {}, { retries: 2 }), await app.jobs.enqueue(trx, stuck, {})]);
      await waitFor('both handlers to start', () => running.size === 2);
      const t0 = Date.now();
      await app.close();
      const took = Date.now() - t0;
      expect(took).toBeGreaterThanOrEqual(950);
      expect(took).toBeLessThan(3500);
      expect(politeReason).toBeInstanceOf(WorkerStoppingError);
      const politeRow = (await own.db.selectFrom('job').selectAll().where('id', '=', p).executeTakeFirst())!;
      expect(politeRow).toMatchObject({ processing_expires: null, retries_remaining: 2 }); // the attempt given back
      const stuckRow = (await own.db.selectFrom('job').selectAll().where('id', '=', s).executeTakeFirst())!;
      expect(stuckRow.processing_expires!.getTime()).toBeGreaterThan(Date.now()); // still leased: runs again once it expires
      expect(lines.some((l) => /stopped with jobs still running/.test(l.msg) && JSON.stringify(l.jobs).includes(String(s)))).toBe(true);
    } finally {
      unstick();
      await sleep(50);
    }
  });

  it('starts no worker in an app built with the test defaults; runPending runs what is due; enqueue and register check their input', async () => {
    const t = await testApp({}, database);
    try {
      const { app } = t;
      expect(app.jobs.worker).toBeUndefined();
      const queue = q('pending');
      const ran: unknown[] = [];
      app.jobs.register({ queue, retries: 2, backoff: 0, handle: async (job) => void ran.push(job.body) });
      await app.jobs.transaction(async (trx) => {
        await app.jobs.enqueue(trx, queue, 'now');
        await app.jobs.enqueue(trx, queue, 'later', { availableAfter: 3600 });
      });
      await sleep(300);
      expect(ran).toEqual([]); // nothing runs by itself
      expect(await app.jobs.runPending()).toBe(1);
      expect(ran).toEqual(['now']);
      const row = await app.db.selectFrom('job').select(['retries_remaining']).where('queue', '=', queue).executeTakeFirst();
      expect(row).toEqual({ retries_remaining: 2 }); // the handler's retries
      await expect(app.jobs.enqueue(app.db, 'no-such-queue', {})).rejects.toThrow(/no job handler/);
      expect(() => app.jobs.register({ queue, handle: async () => {} })).toThrow(/already has a handler/);
      expect(() => app.jobs.register({ queue: q('bad'), leaseS: 0, handle: async () => {} })).toThrow(/leaseS/);
      expect(() => app.jobs.register({ queue: q('bad'), retries: 1.5, handle: async () => {} })).toThrow(/retries/);
    } finally {
      await t.close();
    }
  });
});

describe('the worker command', () => {
  it('runs the worker without an HTTP listener and stops cleanly on SIGTERM', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const dataDir = mkdtempSync(path.join(tmpdir(), 'worker-'));
    dataDirs.push(dataDir);
    const env = { PATH: process.env.PATH, DATA_DIR: dataDir, LOG_LEVEL: 'info', HOST: '127.0.0.1', PORT: String(port), EMBEDDED_DB_SYNC: 'off' };
    const child = spawn('node_modules/.bin/tsx', ['src/cli.ts', 'worker'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await waitFor('the worker to start', () => out.includes('job worker started'), 30_000);
      // Still running a moment later (nothing lets it exit on its own), and listening nowhere.
      await sleep(300);
      expect(child.exitCode).toBeNull();
      const refused = await fetch(`http://127.0.0.1:${port}/health/instance`).then(() => false, () => true);
      expect(refused).toBe(true);
      const t0 = Date.now();
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(out).toContain('SIGTERM received, stopping the job worker');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
