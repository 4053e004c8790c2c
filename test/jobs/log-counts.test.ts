// Counts of the audit table by day and hour (src/db/log-counts.ts): the aggregations answer the
// same from counted periods as from the entries, only settled periods are counted, rotation
// forgets what it touched, and the log-maintenance job does the counting.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countLogPeriods, countSettledLogPeriods, HOURS_KEPT_MS, periodCountCache, planCount, SETTLE_MS, settledBefore, uncountedLogPeriods, type Period } from '../../src/db/log-counts.js';
import { dropLogPartitionsBefore } from '../../src/db/log-partitions.js';
import { deleteUnverifiedUser } from '../../src/db/users.js';
import { aggregateLogEntries, type LogFilter } from '../../src/db/logs.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { bearer, makeOrg, makeUser, tokenFor } from '../helpers/factories.js';

const DAY = 86_400_000;
const KINDS = ['pull_repo', 'push_repo', 'create_tag', 'org_add_team_member', 'service_key_create'];
const ACCOUNTS = [7001, 7002, null];
const REPOS = [8001, 8002, 8003, null];
const PERFORMERS = [9001, 9002, 9003, null];

let t: TestApp;
const today = new Date(Math.floor(Date.now() / DAY) * DAY);

beforeAll(async () => {
  t = await testApp();
  // 2,000 entries over the last 12 days (today included) with a deterministic spread, and some
  // exactly on midnights, each combination of namespace, repository, performer and kind.
  let seed = 42;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const rows = [];
  for (let i = 0; i < 2000; i++) {
    const datetime = i % 50 === 0 ? new Date(today.getTime() - rand(12) * DAY) : new Date(today.getTime() - rand(12 * DAY) + (rand(2) ? 0 : DAY / 2));
    rows.push({
      kind: KINDS[rand(KINDS.length)],
      account_id: ACCOUNTS[rand(ACCOUNTS.length)],
      repository_id: REPOS[rand(REPOS.length)],
      performer_id: PERFORMERS[rand(PERFORMERS.length)],
      ip: null,
      datetime: datetime > new Date() ? new Date() : datetime,
      metadata: '{}',
    });
  }
  await t.app.db.insertInto('log_entry').values(rows).execute();
});
afterAll(() => t?.close());

const filters = (start: Date, end: Date): LogFilter[] => [
  { start, end, accountId: 7001 },
  { start, end, accountId: 7002, performerId: 9002 },
  { start, end, accountId: 7001, excludeKinds: ['service_key_create', 'pull_repo'] },
  { start, end, repositoryId: 8002 },
  { start, end },
  { start, end, performerId: 9003 },
  { start, end, excludeKinds: ['push_repo'] },
  // Filters the counts do not keep: read from the entries whatever is counted.
  { start, end, accountId: 7001, repositoryId: 8001 },
  { start, end, repositoryId: 8003, performerId: 9001 },
];
const windows = (): [Date, Date][] => [
  [new Date(today.getTime() - 12 * DAY), new Date(today.getTime() + DAY)], // whole days, today's included
  [new Date(today.getTime() - 9 * DAY - 3_600_000 * 5), new Date(Date.now() + 1000)], // starts mid-day
  [new Date(today.getTime() - 8 * DAY + 1), new Date(today.getTime() - 3 * DAY - 1)], // both ends inside a day
  [new Date(today.getTime() - 30 * DAY), new Date(today.getTime() - 5 * DAY)],
];

/** Every filter and window, answered now. */
async function answers() {
  const out = [];
  for (const [s, e] of windows()) for (const f of filters(s, e)) out.push(await aggregateLogEntries(t.app.db, f));
  return out;
}

/** The same counts straight from the entries, by kind and day of the month (the definition). */
async function fromEntries(f: LogFilter) {
  let q = t.app.db
    .selectFrom('log_entry')
    .select(['kind', sql<number>`extract(day from datetime at time zone 'UTC')::int`.as('day'), sql<string>`count(*)`.as('count')])
    .where('datetime', '>=', f.start)
    .where('datetime', '<', f.end);
  if (f.accountId !== undefined) q = q.where('account_id', '=', f.accountId);
  if (f.repositoryId !== undefined) q = q.where('repository_id', '=', f.repositoryId);
  if (f.performerId !== undefined) q = q.where('performer_id', '=', f.performerId);
  if (f.excludeKinds) q = q.where('kind', 'not in', f.excludeKinds);
  const rows = await q.groupBy(['kind', sql`2`]).execute();
  return rows.map((r) => ({ kind: r.kind, day: Number(r.day), count: Number(r.count) })).sort((a, b) => (a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : a.day - b.day));
}

const HOUR = 3_600_000;
const day = (ms: number): Period => ({ start: new Date(ms), hours: 24 });
const hour = (ms: number): Period => ({ start: new Date(ms), hours: 1 });

describe('audit log counts by day and hour', () => {
  let before: Awaited<ReturnType<typeof answers>>;
  let settled: Date;

  it('aggregates from the entries while nothing is counted', async () => {
    expect(await t.app.db.selectFrom('log_counted').selectAll().execute()).toEqual([]);
    before = await answers();
    let i = 0;
    for (const [s, e] of windows()) for (const f of filters(s, e)) expect(before[i++]).toEqual(await fromEntries(f));
    expect(before.some((a) => a.length > 0)).toBe(true);
  });

  it('counts the days from the oldest entry’s and the last 48 hours, once each is over and settled', async () => {
    settled = await settledBefore(t.app.db);
    // Two minutes ago: no other transaction is open on this database.
    expect(Date.now() - settled.getTime()).toBeGreaterThanOrEqual(SETTLE_MS - 1000);
    expect(Date.now() - settled.getTime()).toBeLessThan(SETTLE_MS + 60_000);
    const oldest = await t.app.db.selectFrom('log_entry').select('datetime').orderBy('datetime').limit(1).executeTakeFirstOrThrow();
    const firstDay = Math.floor(new Date(oldest.datetime).getTime() / DAY) * DAY;
    expect(firstDay).toBe(today.getTime() - 12 * DAY);
    const days: Period[] = [];
    for (let d = firstDay; d + DAY <= settled.getTime(); d += DAY) days.push(day(d));
    const hours: Period[] = [];
    for (let h = Math.floor((settled.getTime() - HOURS_KEPT_MS) / HOUR) * HOUR; h + HOUR <= settled.getTime(); h += HOUR) hours.push(hour(h));
    const periods = await uncountedLogPeriods(t.app.db, settled);
    expect(periods).toEqual([...days, ...hours]);
    expect(periods.every((p) => p.start.getTime() + p.hours * HOUR <= settled.getTime())).toBe(true);
    expect(await countSettledLogPeriods(t.app.db, { limit: 4, settledAt: settled })).toEqual(periods.slice(0, 4)); // a bounded run
    expect(await uncountedLogPeriods(t.app.db, settled)).toEqual(periods.slice(4));
    expect(await countSettledLogPeriods(t.app.db, { limit: 1000, settledAt: settled })).toEqual(periods.slice(4));
    expect(await uncountedLogPeriods(t.app.db, settled)).toEqual([]);
  });

  it('keeps, for a counted period, exactly what its entries say, per namespace, repository, performer and instance', async () => {
    for (const p of [day(today.getTime() - 4 * DAY), hour(today.getTime() - 14 * HOUR)]) {
      const counts = await t.app.db.selectFrom('log_count').selectAll().where('hours', '=', p.hours).where('period', '=', p.start).execute();
      const start = p.start;
      const end = new Date(start.getTime() + p.hours * HOUR);
      const sum = (scope: number, target: number, performer: number, kind: string) =>
        counts.filter((c) => c.scope === scope && c.target_id === target && c.performer_id === performer && c.kind === kind).reduce((n, c) => n + c.count, 0);
      for (const kind of KINDS) {
        const entries = async (f: Omit<LogFilter, 'start' | 'end'>) => (await fromEntries({ start, end, ...f })).filter((r) => r.kind === kind).reduce((n, r) => n + r.count, 0);
        expect(sum(1, 7001, 0, kind)).toBe(await entries({ accountId: 7001 }));
        expect(sum(1, 7002, 9003, kind)).toBe(await entries({ accountId: 7002, performerId: 9003 }));
        expect(sum(2, 8003, 0, kind)).toBe(await entries({ repositoryId: 8003 }));
        expect(sum(3, 0, 0, kind)).toBe(await entries({}));
        expect(sum(3, 0, 9001, kind)).toBe(0); // no aggregation of the instance filters by performer
      }
      expect(counts.length).toBeGreaterThan(p.hours === 24 ? 20 : 3);
    }
  });

  it('answers every filter and window as before, now reading the counted days and hours', async () => {
    expect(await answers()).toEqual(before);
    const target = { scope: 1, targetId: 7001, performerId: 0 } as const;
    // A window from 19:00 ten days ago: the first day's evening is older than the hours kept.
    const plan = await planCount(t.app.db, new Date(today.getTime() - 9 * DAY - 5 * HOUR), new Date(today.getTime() + DAY), target);
    expect(plan.counted[0]).toMatchObject(day(today.getTime() - 9 * DAY));
    expect(plan.live[0]).toEqual({ from: new Date(today.getTime() - 9 * DAY - 5 * HOUR), to: new Date(today.getTime() - 9 * DAY) });
    expect(plan.live[plan.live.length - 1].to).toEqual(new Date(today.getTime() + DAY));
    // The default window (the last day and the next): only its first minutes and the hour in
    // progress are read from the entries; whole days where it can, hours elsewhere.
    const now = Date.now();
    const d = await planCount(t.app.db, new Date(now - DAY), new Date(now + DAY), target);
    const liveMs = d.live.reduce((n, r) => n + (Math.min(r.to.getTime(), now) - r.from.getTime()), 0);
    expect(liveMs).toBeLessThan(2 * HOUR + SETTLE_MS);
    expect(d.counted.filter((p) => p.hours === 1).length).toBeGreaterThanOrEqual(22);
    for (let i = 1; i < d.counted.length; i++) expect(d.counted[i].start.getTime()).toBeGreaterThanOrEqual(d.counted[i - 1].start.getTime() + d.counted[i - 1].hours * HOUR);
    const f: LogFilter = { start: new Date(now - DAY), end: new Date(now + DAY), accountId: 7001 };
    expect(await aggregateLogEntries(t.app.db, f)).toEqual(await fromEntries(f));
  });

  it('reads a counted period from its counts, and counting it again takes in what changed', async () => {
    const at = new Date(today.getTime() - 6 * DAY + HOUR);
    const f: LogFilter = { start: new Date(today.getTime() - 7 * DAY), end: new Date(today.getTime() - 5 * DAY), accountId: 7002 };
    const was = await aggregateLogEntries(t.app.db, f);
    // Entries are never written into a counted period (audit rows carry their transaction's
    // time); one written straight into the table shows that the period's counts are what is read.
    await t.app.db.insertInto('log_entry').values({ kind: 'delete_tag', account_id: 7002, performer_id: null, repository_id: null, ip: null, datetime: at, metadata: '{}' }).execute();
    expect(await aggregateLogEntries(t.app.db, f)).toEqual(was);
    await countLogPeriods(t.app.db, [day(today.getTime() - 6 * DAY)]);
    expect(await aggregateLogEntries(t.app.db, f)).toEqual(await fromEntries(f));
    expect((await aggregateLogEntries(t.app.db, f)).find((r) => r.kind === 'delete_tag')).toEqual({ kind: 'delete_tag', day: at.getUTCDate(), count: 1 });
  });

  it('reads the counts of each counted period once per process, and again when it is counted again', async () => {
    const f: LogFilter = { start: new Date(today.getTime() - 6 * DAY), end: new Date(today.getTime() - 4 * DAY), repositoryId: 8001 };
    const was = await aggregateLogEntries(t.app.db, f);
    expect(was.length).toBeGreaterThan(0);
    // A count changed behind the job's back (nothing does this) is not seen: the version was read.
    await t.app.db.updateTable('log_count').set({ count: 1000 }).where('scope', '=', 2).where('target_id', '=', 8001).where('hours', '=', 24).execute();
    expect(await aggregateLogEntries(t.app.db, f)).toEqual(was);
    expect(periodCountCache(t.app.db).size).toBeGreaterThan(0);
    await countLogPeriods(t.app.db, [day(today.getTime() - 6 * DAY), day(today.getTime() - 5 * DAY)]);
    expect(await aggregateLogEntries(t.app.db, f)).toEqual(await fromEntries(f));
    expect(await aggregateLogEntries(t.app.db, f)).toEqual(was);
  });

  it('uses the counts of the periods it has when some are missing in the middle', async () => {
    const gap = new Date(today.getTime() - 7 * DAY);
    await t.app.db.deleteFrom('log_counted').where('hours', '=', 24).where('period', '=', gap).execute();
    await t.app.db.deleteFrom('log_count').where('hours', '=', 24).where('period', '=', gap).execute();
    const s = new Date(today.getTime() - 10 * DAY);
    const e = new Date(today.getTime() - 2 * DAY);
    const plan = await planCount(t.app.db, s, e, { scope: 3, targetId: 0, performerId: 0 });
    expect(plan.counted.map((p) => p.start)).not.toContainEqual(gap);
    expect(plan.counted).toHaveLength(7);
    expect(plan.live).toEqual([{ from: gap, to: new Date(gap.getTime() + DAY) }]);
    for (const f of filters(s, e)) expect(await aggregateLogEntries(t.app.db, f)).toEqual(await fromEntries(f));
    expect(await uncountedLogPeriods(t.app.db, settled)).toEqual([day(gap.getTime())]);
  });

  it('forgets hours older than 48 hours, which their days cover', async () => {
    const later = new Date(settled.getTime() + 5 * HOUR);
    await countSettledLogPeriods(t.app.db, { limit: 1000, settledAt: later });
    const hours = await t.app.db.selectFrom('log_counted').select('period').where('hours', '=', 1).orderBy('period').execute();
    expect(new Date(hours[0].period).getTime()).toBe(Math.floor((later.getTime() - HOURS_KEPT_MS) / HOUR) * HOUR);
    const rows = await t.app.db.selectFrom('log_count').select('period').where('hours', '=', 1).where('period', '<', hours[0].period).execute();
    expect(rows).toEqual([]);
    const s = new Date(today.getTime() - 12 * DAY);
    const e = new Date(today.getTime() + DAY);
    for (const f of filters(s, e)) expect(await aggregateLogEntries(t.app.db, f)).toEqual(await fromEntries(f));
  });

  it('rotation forgets the counts of the periods it touched, and what is left is counted again', async () => {
    const cutoff = new Date(today.getTime() - 8 * DAY + 6 * HOUR);
    await dropLogPartitionsBefore(t.app.db, cutoff);
    const left = await t.app.db.selectFrom('log_counted').select('period').orderBy('period').execute();
    expect(new Date(left[0].period).getTime()).toBe(today.getTime() - 7 * DAY);
    const s = new Date(today.getTime() - 12 * DAY);
    const e = new Date(today.getTime() + DAY);
    for (const f of filters(s, e)) expect(await aggregateLogEntries(t.app.db, f)).toEqual(await fromEntries(f));
    const again = await countSettledLogPeriods(t.app.db, { limit: 1000, settledAt: settled });
    expect(again).toContainEqual(day(today.getTime() - 8 * DAY));
    for (const f of filters(s, e)) expect(await aggregateLogEntries(t.app.db, f)).toEqual(await fromEntries(f));
  });

  it('a sign-up undone after its period was counted takes its entries out of the counts', async () => {
    const u = await makeUser(t);
    const at = new Date(today.getTime() - DAY + 5 * HOUR);
    await t.app.db.updateTable('namespace').set({ verified: false }).where('id', '=', u.id).execute();
    await t.app.db.insertInto('log_entry').values({ kind: 'user_create', account_id: u.id, performer_id: u.id, repository_id: null, ip: null, datetime: at, metadata: '{}' }).execute();
    await countLogPeriods(t.app.db, [day(today.getTime() - DAY), hour(at.getTime())]);
    const f: LogFilter = { start: new Date(today.getTime() - 3 * DAY), end: new Date(today.getTime() + DAY), accountId: u.id };
    const g: LogFilter = { start: f.start, end: f.end };
    expect((await aggregateLogEntries(t.app.db, f)).filter((r) => r.day === at.getUTCDate())).toEqual([{ kind: 'user_create', day: at.getUTCDate(), count: 1 }]);
    await deleteUnverifiedUser(t.app.db, u.id);
    expect(await aggregateLogEntries(t.app.db, f)).toEqual([]);
    expect(await aggregateLogEntries(t.app.db, g)).toEqual(await fromEntries(g));
    // Yesterday is listed once it is settled (it is, but for two minutes after midnight).
    expect(await uncountedLogPeriods(t.app.db, settled)).toEqual([...(today <= settled ? [day(today.getTime() - DAY)] : []), hour(at.getTime())]);
    await countSettledLogPeriods(t.app.db, { limit: 1000, settledAt: settled });
    expect(await aggregateLogEntries(t.app.db, g)).toEqual(await fromEntries(g));
  });

  it('refuses a period that is not a whole UTC day or hour', async () => {
    await expect(countLogPeriods(t.app.db, [{ start: new Date(today.getTime() + 60_000), hours: 1 }])).rejects.toThrow(TypeError);
    await expect(countLogPeriods(t.app.db, [{ start: new Date(today.getTime() + HOUR), hours: 24 }])).rejects.toThrow(TypeError);
  });

  it('stops between two periods when the job is told to (its lease lost, a shutdown)', async () => {
    const p = day(today.getTime() - 3 * DAY);
    const marked = async () => (await t.app.db.selectFrom('log_counted').select('counted').where('hours', '=', 24).where('period', '=', p.start).executeTakeFirstOrThrow()).counted;
    const was = await marked();
    await expect(countLogPeriods(t.app.db, [p], AbortSignal.abort())).rejects.toThrow();
    expect(await marked()).toEqual(was);
  });
});

describe('the log-maintenance job and the aggregation endpoints', () => {
  it('counts the settled days, and the organization aggregation reads the same before and after', async () => {
    const u = await testApp();
    try {
      const alice = await makeUser(u);
      const org = await makeOrg(u, [alice]);
      const h = bearer(await tokenFor(u, alice, 'org:admin'));
      await u.app.db
        .insertInto('log_entry')
        .values(
          Array.from({ length: 60 }, (_, i) => ({
            kind: i % 3 ? 'pull_repo' : 'push_repo',
            account_id: org.id,
            performer_id: i % 2 ? alice.id : null,
            repository_id: null,
            ip: null,
            datetime: new Date(today.getTime() - (1 + (i % 6)) * DAY - i * 60_000),
            metadata: '{}',
          })),
        )
        .execute();
      const mmdd = (d: Date) => `${String(d.getUTCMonth() + 1).padStart(2, '0')}/${String(d.getUTCDate()).padStart(2, '0')}/${d.getUTCFullYear()}`;
      const url = `/api/v1/organization/${org.username}/aggregatelogs?starttime=${mmdd(new Date(today.getTime() - 10 * DAY))}&endtime=${mmdd(today)}`;
      const was = await u.inject({ method: 'GET', url, headers: h });
      expect(was.statusCode, was.body).toBe(200);
      const pulls = was.json().aggregated.filter((a: { kind: string }) => a.kind === 'pull_repo');
      expect(pulls.reduce((n: number, a: { count: number }) => n + a.count, 0)).toBe(40);

      await u.app.jobs.enqueue(u.app.db, 'log-maintenance', {});
      expect(await u.app.jobs.runPending(['log-maintenance'])).toBe(1);
      const counted = await u.app.db.selectFrom('log_counted').select('hours').where('hours', '=', 24).execute();
      expect(counted.length).toBeGreaterThanOrEqual(6);
      const now = await u.inject({ method: 'GET', url, headers: h });
      expect(now.json()).toEqual(was.json());
      const byPerformer = await u.inject({ method: 'GET', url: `${url}&performer=${alice.username}`, headers: h });
      expect(byPerformer.json().aggregated.reduce((n: number, a: { count: number }) => n + a.count, 0)).toBe(30);
    } finally {
      await u.close();
    }
  });
});
