// LOGS (part1 §7): lists (20 a page, newest first, next_page until absent), aggregations, the
// window rules, the performer filter, and what each list covers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp, type TestApp } from '../helpers/app.js';
import { bearer, makeOrg, makeUser, tokenFor, type TestUser } from '../helpers/factories.js';
import { sql } from 'kysely';
import type { Namespace } from '../../src/db/schema.js';

let t: TestApp;
let alice: TestUser;
let bob: TestUser;
let org: Namespace;
let aliceH: Record<string, string>;
let bobH: Record<string, string>;

const ALL = 'repo:read repo:write repo:admin repo:create user:read user:admin org:admin';

beforeAll(async () => {
  t = await testApp();
  alice = await makeUser(t);
  bob = await makeUser(t);
  org = await makeOrg(t, [alice, bob]);
  aliceH = bearer(await tokenFor(t, alice, ALL));
  bobH = bearer(await tokenFor(t, bob, ALL));
});
afterAll(() => t?.close());

const get = (url: string, headers = aliceH) => t.inject({ method: 'GET', url, headers });

/** Every entry of a list, following next_page until it is absent. */
async function everything(url: string, headers = aliceH): Promise<{ kind: string; metadata: Record<string, unknown>; performer?: { name: string } }[]> {
  const out = [];
  let next: string | undefined;
  for (let i = 0; i < 100; i++) {
    const res = await get(next ? `${url}${url.includes('?') ? '&' : '?'}next_page=${encodeURIComponent(next)}` : url, headers);
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body.logs.length).toBeLessThanOrEqual(20);
    out.push(...body.logs);
    next = body.next_page;
    if (!next) return out;
  }
  throw new Error('next_page never ended');
}

async function createRepo(ns: string, name: string, headers = aliceH) {
  const res = await t.inject({ method: 'POST', url: '/api/v1/repository', headers, payload: { namespace: ns, repository: name, visibility: 'private', description: '' } });
  expect(res.statusCode, res.body).toBe(201);
}

describe('organization and repository logs', () => {
  it('lists the organization’s entries newest first, 20 a page, with performers and without a namespace block', async () => {
    for (let i = 0; i < 23; i++) await createRepo(org.username, `orgrepo${i}`, i % 2 ? bobH : aliceH);
    const first = (await get(`/api/v1/organization/${org.username}/logs`)).json();
    expect(first.logs).toHaveLength(20);
    expect(first.next_page).toEqual(expect.any(String));
    expect(first.logs[0]).toEqual({
      kind: 'create_repo', metadata: expect.objectContaining({ repo: 'orgrepo22', namespace: org.username }), ip: expect.any(String),
      datetime: expect.stringMatching(/ -0000$/),
      performer: { kind: 'user', name: alice.username, is_robot: false, avatar: expect.objectContaining({ name: alice.username, kind: 'user' }) },
    });
    const all = await everything(`/api/v1/organization/${org.username}/logs`);
    const repos = all.filter((l) => l.kind === 'create_repo').map((l) => l.metadata.repo);
    expect(repos).toEqual(Array.from({ length: 23 }, (_, i) => `orgrepo${22 - i}`));
  });

  it('filters by performer; an unknown performer lists nothing and is ignored by the aggregation', async () => {
    const bobs = await everything(`/api/v1/organization/${org.username}/logs?performer=${bob.username}`);
    expect(bobs.length).toBeGreaterThanOrEqual(11);
    expect(bobs.every((l) => l.performer?.name === bob.username)).toBe(true);
    const none = (await get(`/api/v1/organization/${org.username}/logs?performer=nosuchuser`)).json();
    expect(none.logs).toEqual([]);
    expect(none.next_page).toBeUndefined();
    const agg = (await get(`/api/v1/organization/${org.username}/aggregatelogs?performer=nosuchuser`)).json().aggregated;
    expect(agg.find((a: { kind: string }) => a.kind === 'create_repo').count).toBeGreaterThanOrEqual(23);
    const bobAgg = (await get(`/api/v1/organization/${org.username}/aggregatelogs?performer=${bob.username}`)).json().aggregated;
    expect(bobAgg.find((a: { kind: string }) => a.kind === 'create_repo').count).toBe(11);
  });

  it('lists a repository’s own entries; a missing repository is 404 for a namespace admin', async () => {
    await createRepo(org.username, 'repologs');
    await t.inject({ method: 'PUT', url: `/api/v1/repository/${org.username}/repologs`, headers: aliceH, payload: { description: 'described' } });
    const logs = (await get(`/api/v1/repository/${org.username}/repologs/logs`)).json().logs as { kind: string }[];
    expect(logs.map((l) => l.kind)).toEqual(['set_repo_description', 'create_repo']);
    const agg = (await get(`/api/v1/repository/${org.username}/repologs/aggregatelogs`)).json().aggregated as { kind: string; count: number }[];
    expect(agg.map((a) => [a.kind, a.count]).sort()).toEqual([['create_repo', 1], ['set_repo_description', 1]]);
    expect((await get(`/api/v1/repository/${org.username}/nosuchrepo/logs`)).statusCode).toBe(404);
    expect((await get(`/api/v1/repository/${org.username}/nosuchrepo/aggregatelogs`)).statusCode).toBe(404);
  });

  it('refuses outsiders: another user’s organization and repositories', async () => {
    const carol = await makeUser(t);
    const carolH = bearer(await tokenFor(t, carol, ALL));
    expect((await get(`/api/v1/organization/${org.username}/logs`, carolH)).statusCode).toBe(403);
    expect((await get(`/api/v1/repository/${org.username}/repologs/logs`, carolH)).statusCode).toBe(403);
    expect((await get('/api/v1/organization/nosuchorg/logs', carolH)).statusCode).toBe(403);
    // A page token of one list is not read by another: the org's token on the user list is the first page.
    const orgPage = (await get(`/api/v1/organization/${org.username}/logs`)).json();
    const mine = (await get(`/api/v1/user/logs?next_page=${encodeURIComponent(orgPage.next_page)}`)).json();
    const fresh = (await get('/api/v1/user/logs')).json();
    expect(mine.logs).toEqual(fresh.logs);
  });
});

describe('user logs', () => {
  it('lists the caller’s own namespace without the service-key kinds', async () => {
    const u = await makeUser(t);
    const uh = bearer(await tokenFor(t, u, ALL));
    await createRepo(u.username, 'own', uh);
    await t.app.db.insertInto('log_entry').values({ kind: 'service_key_create', account_id: u.id, performer_id: u.id, repository_id: null, ip: null, metadata: '{}' }).execute();
    const logs = (await get('/api/v1/user/logs', uh)).json().logs as { kind: string }[];
    expect(logs.map((l) => l.kind)).toContain('create_repo');
    expect(logs.map((l) => l.kind)).not.toContain('service_key_create');
    const agg = (await get('/api/v1/user/aggregatelogs', uh)).json().aggregated as { kind: string }[];
    expect(agg.map((a) => a.kind)).not.toContain('service_key_create');
  });
});

describe('the window', () => {
  it('reads MM/DD/YYYY and ISO dates, ignores what it cannot read, and adds a day to the end', async () => {
    const u = await makeUser(t);
    const uh = bearer(await tokenFor(t, u, ALL));
    const old = new Date(Date.UTC(2026, 0, 15, 12));
    await t.app.db.insertInto('log_entry').values({ kind: 'create_repo', account_id: u.id, performer_id: u.id, repository_id: null, ip: null, datetime: old, metadata: JSON.stringify({ repo: 'jan' }) }).execute();
    for (const q of ['starttime=01/15/2026&endtime=01/15/2026', 'starttime=1/15/2026&endtime=1/15/2026', 'starttime=2026-01-15&endtime=2026-01-15', 'starttime=2026-01-15T00:00:00Z&endtime=2026-01-15T00:00:00Z']) {
      const body = (await get(`/api/v1/user/logs?${q}`, uh)).json();
      expect(body.logs.map((l: { metadata: { repo: string } }) => l.metadata.repo), q).toEqual(['jan']);
      expect(body.start_time).toBe('Thu, 15 Jan 2026 00:00:00 -0000');
      expect(body.end_time).toBe('Fri, 16 Jan 2026 00:00:00 -0000');
    }
    // Unreadable dates fall back to the default window (the last day), which misses January.
    const ignored = (await get('/api/v1/user/logs?starttime=15.01.2026&endtime=junk', uh)).json().logs as { metadata: { repo?: string } }[];
    expect(ignored.length).toBeGreaterThan(0); // this user's creation, today
    expect(ignored.some((l) => l.metadata.repo === 'jan')).toBe(false);
    const agg = (await get('/api/v1/user/aggregatelogs?starttime=01/01/2026&endtime=01/31/2026', uh)).json().aggregated;
    expect(agg).toEqual([{ kind: 'create_repo', count: 1, datetime: 'Thu, 15 Jan 2026 00:00:00 -0000' }]);
  });

  it('refuses an end before the start (400) and an aggregation over more than 31 days', async () => {
    const back = await get('/api/v1/user/logs?starttime=02/10/2026&endtime=02/01/2026');
    expect(back.statusCode).toBe(400);
    expect(back.json().message).toEqual(expect.any(String));
    const long = await get('/api/v1/user/aggregatelogs?starttime=01/01/2026&endtime=03/01/2026');
    expect(long.statusCode).toBe(400);
    expect(long.json().message).toBe('Invalid date range for logs');
  });

  it('takes the last dates there are: an end of 12/31/9999 ends at its last instant, a start past it is ignored', async () => {
    const all = await get('/api/v1/user/logs?starttime=01/01/1900&endtime=12/31/9999');
    expect(all.statusCode, all.body).toBe(200);
    expect(all.json()).toMatchObject({ start_time: 'Mon, 01 Jan 1900 00:00:00 -0000', end_time: 'Fri, 31 Dec 9999 23:59:59 -0000' });
    expect(all.json().logs.length).toBeGreaterThan(0);
    const dec = await get('/api/v1/user/aggregatelogs?starttime=12/01/9999&endtime=12/31/9999');
    expect(dec.statusCode, dec.body).toBe(200);
    expect(dec.json()).toEqual({ aggregated: [] });
    // 9999-12-31T23:59:59-12:00 is in year 10000: ignored, as any date that cannot be read.
    const past = await get('/api/v1/user/logs?starttime=9999-12-31T23:59:59-12:00');
    expect(past.statusCode, past.body).toBe(200);
    expect(Date.now() - Date.parse(past.json().start_time)).toBeLessThan(86_400_000 + 60_000);
    const edge = await get('/api/v1/user/aggregatelogs?starttime=9999-12-31T23:59:59.999999Z&endtime=9999-12-31T23:59:59Z');
    expect(edge.statusCode, edge.body).toBe(200);
  });

  it('pages through entries a microsecond apart without losing or repeating one', async () => {
    const u = await makeUser(t);
    const uh = bearer(await tokenFor(t, u, ALL));
    // 45 entries within one millisecond, a microsecond apart (which a JavaScript Date cannot
    // express), inserted in random order so that ids do not follow time.
    await sql`insert into log_entry (kind, account_id, performer_id, metadata, datetime)
      select 'create_repo', ${u.id}, ${u.id}, jsonb_build_object('repo', 'r' || g),
             timestamptz '2026-02-03 10:00:00.123+00' + make_interval(secs => g / 1000000.0)
      from generate_series(0, 44) g order by random()`.execute(t.app.db);
    const repos = (await everything('/api/v1/user/logs?starttime=02/03/2026&endtime=02/03/2026', uh)).map((l) => l.metadata.repo);
    expect(repos).toEqual(Array.from({ length: 45 }, (_, i) => `r${44 - i}`));
  });
});
