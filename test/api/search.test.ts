import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Namespace } from '../../src/db/schema.js';
import { similarity } from '../../src/api/search.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { bearer, grant, makeOrg, makeRepo, makeRobot, makeTeam, makeUser, tokenFor, uniqueName, type TestUser } from '../helpers/factories.js';

const FULL = 'repo:read repo:write repo:admin repo:create user:read user:admin org:admin';

let t: TestApp;
let alice: TestUser; // admin of `org`
let bob: TestUser; // no relation
let carol: TestUser; // member team of `org`, read on the private repository
let erin: TestUser; // direct read grant on the private repository
let dan: TestUser; // owns a private repository in his namespace
let org: Namespace;
let H: Record<string, Record<string, string>>;
/** A word unique to this file's repositories, so results never depend on other rows. */
let w: string;

beforeAll(async () => {
  t = await testApp();
  w = uniqueName('zq');
  [alice, bob, carol, erin, dan] = [await makeUser(t), await makeUser(t), await makeUser(t), await makeUser(t), await makeUser(t)];
  org = await makeOrg(t, [alice], `${w}org`);
  const readers = await makeTeam(t, org, 'member', [carol], `${w}readers`);
  await makeRepo(t, org, { name: `${w}pub`, visibility: 'public', description: 'the public one' });
  const priv = await makeRepo(t, org, { name: `${w}priv` });
  await grant(t, priv, { teamId: readers.id }, 'read');
  await grant(t, priv, { userId: erin.id }, 'read');
  await makeRepo(t, dan, { name: `${w}dans` });
  H = {
    alice: bearer(await tokenFor(t, alice, FULL)),
    aliceUserRead: bearer(await tokenFor(t, alice, 'user:read')),
    aliceRepoRead: bearer(await tokenFor(t, alice, 'repo:read')),
    bob: bearer(await tokenFor(t, bob, FULL)),
    carol: bearer(await tokenFor(t, carol, FULL)),
    erin: bearer(await tokenFor(t, erin, FULL)),
    dan: bearer(await tokenFor(t, dan, FULL)),
  };
});
afterAll(() => t?.close());

const avatarOf = (kind: string) => ({ name: expect.any(String), hash: expect.stringMatching(/^[0-9a-f]{64}$/), color: expect.stringMatching(/^#/), kind });

async function repoSearch(query: string, headers: Record<string, string> = {}, extra = '') {
  return t.inject({ url: `/api/v1/find/repositories?query=${encodeURIComponent(query)}${extra}`, headers });
}
const names = (res: { json(): { results: { name: string }[] } }) => res.json().results.map((r) => r.name).sort();

describe('conductRepoSearch', () => {
  it('shows anonymous callers public repositories only, in Quay’s result shape', async () => {
    const res = await repoSearch(w);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      results: [
        {
          kind: 'repository',
          title: 'repo',
          namespace: { title: 'org', kind: 'organization', avatar: avatarOf('org'), name: org.username, score: 1, href: `/organization/${org.username}` },
          name: `${w}pub`,
          description: 'the public one',
          is_public: true,
          score: 4,
          href: `/repository/${org.username}/${w}pub`,
        },
      ],
      has_additional: false,
      page: 1,
      page_size: 10,
      start_index: 0,
    });
  });

  it('adds the private repositories each caller can read, and no others', async () => {
    expect(names(await repoSearch(w, H.bob))).toEqual([`${w}pub`]);
    expect(names(await repoSearch(w, H.carol))).toEqual([`${w}priv`, `${w}pub`]); // team grant
    expect(names(await repoSearch(w, H.erin))).toEqual([`${w}priv`, `${w}pub`]); // direct grant
    expect(names(await repoSearch(w, H.alice))).toEqual([`${w}priv`, `${w}pub`]); // org admin
    expect(names(await repoSearch(w, H.dan))).toEqual([`${w}dans`, `${w}pub`]); // own namespace
    const dans = (await repoSearch(`${w}dans`, H.dan)).json().results[0];
    expect(dans).toMatchObject({ is_public: false, namespace: { kind: 'user', title: 'user', href: `/user/${dan.username}`, avatar: avatarOf('user') } });
  });

  it('caps visibility by the token’s scopes: without repo:* only public repositories', async () => {
    expect(names(await repoSearch(w, H.aliceUserRead))).toEqual([`${w}pub`]);
    expect(names(await repoSearch(w, H.aliceRepoRead))).toEqual([`${w}priv`, `${w}pub`]);
  });

  it('matches descriptions too, ranking name matches first, and restricts to a namespace with ns/query', async () => {
    const word = uniqueName('desc');
    await makeRepo(t, org, { name: `b${word}`, visibility: 'public' });
    await makeRepo(t, org, { name: uniqueName('a'), visibility: 'public', description: `about ${word.toUpperCase()} things` });
    await makeRepo(t, dan, { name: `a${word}`, visibility: 'public' });
    const res = (await repoSearch(word)).json().results as { name: string; namespace: { name: string } }[];
    expect(res).toHaveLength(3);
    expect(res[2].name).not.toContain(word); // the description-only match comes last
    const scoped = (await repoSearch(`${org.username}/${word}`)).json().results as { name: string; namespace: { name: string } }[];
    expect(scoped.map((r) => r.namespace.name)).toEqual([org.username, org.username]);
    const wholeNs = (await repoSearch(`${dan.username}/`, H.dan)).json().results as { name: string }[];
    expect(wholeNs.map((r) => r.name).sort()).toEqual([`${w}dans`, `a${word}`].sort());
  });

  it('lists every visible repository for an empty query', async () => {
    const res = await repoSearch('', H.dan, '&page=1');
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.results.length).toBeGreaterThan(0);
    expect(body.results.every((r: { is_public: boolean; namespace: { name: string } }) => r.is_public || r.namespace.name === dan.username)).toBe(true);
    const anon = (await t.inject('/api/v1/find/repositories')).json();
    expect(anon.results.every((r: { is_public: boolean }) => r.is_public)).toBe(true);
  });

  it('treats LIKE wildcards in the query literally', async () => {
    expect((await repoSearch(`${w}_ub`)).json().results).toEqual([]);
    expect((await repoSearch(`${w}%`)).json().results).toEqual([]);
  });

  it('pages by 10 with has_additional, clamps page to 1…10 and rejects a non-integer page', async () => {
    const word = uniqueName('pg');
    for (let i = 0; i < 12; i++) await makeRepo(t, org, { name: `${word}-${String(i).padStart(2, '0')}`, visibility: 'public' });
    const p1 = (await repoSearch(word, {}, '&page=1')).json();
    expect(p1).toMatchObject({ has_additional: true, page: 1, page_size: 10, start_index: 0 });
    expect(p1.results).toHaveLength(10);
    const p2 = (await repoSearch(word, {}, '&page=2')).json();
    expect(p2).toMatchObject({ has_additional: false, page: 2, start_index: 10 });
    expect(p2.results).toHaveLength(2);
    const all = [...p1.results, ...p2.results].map((r: { name: string }) => r.name);
    expect(new Set(all).size).toBe(12);
    expect((await repoSearch(word, {}, '&page=0')).json()).toMatchObject({ page: 1, start_index: 0 });
    expect((await repoSearch(word, {}, '&page=99')).json()).toMatchObject({ page: 10, start_index: 90, results: [] });
    const bad = await repoSearch(word, {}, '&page=abc');
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ message: { page: expect.stringContaining('The page.') } });
  });

  it('adds stars and popularity only with includeUsage', async () => {
    const repo = await makeRepo(t, org, { name: uniqueName('starry'), visibility: 'public' });
    await t.app.db.insertInto('star').values([{ user_id: bob.id, repository_id: repo.id }, { user_id: carol.id, repository_id: repo.id }]).execute();
    const plain = (await repoSearch(repo.name)).json().results[0];
    expect(plain).not.toHaveProperty('stars');
    expect(plain).not.toHaveProperty('popularity');
    const usage = (await repoSearch(repo.name, {}, '&includeUsage=true')).json().results[0];
    expect(usage).toMatchObject({ name: repo.name, stars: 2, popularity: 0 });
  });

  it('shows application repositories with Quay’s application kind', async () => {
    const repo = await makeRepo(t, org, { name: uniqueName('app'), visibility: 'public' });
    await t.app.db.updateTable('repository').set({ kind: 'application' }).where('id', '=', repo.id).execute();
    expect((await repoSearch(repo.name)).json().results[0]).toMatchObject({ kind: 'application', title: 'app', href: `/application/${org.username}/${repo.name}` });
  });
});

describe('conductSearch', () => {
  let sorg: Namespace;
  let hidden: Namespace;
  let s: string;
  beforeAll(async () => {
    s = uniqueName('ys');
    sorg = await makeOrg(t, [alice], `${s}org`);
    await makeRepo(t, sorg, { name: `${s}repo`, visibility: 'public' });
    hidden = await makeOrg(t, [alice], `${s}hidden`);
    await makeRepo(t, hidden, { name: uniqueName('secret') });
    await makeTeam(t, sorg, 'member', [alice], `${s}mine`);
    await makeTeam(t, sorg, 'member', [], `${s}other`);
    await makeRobot(t, sorg, `${s}bot`);
    await makeRobot(t, alice, `${s}own`);
  });

  const find = (query: string, headers: Record<string, string> = {}) => t.inject({ url: `/api/v1/find/all?query=${encodeURIComponent(query)}`, headers });

  it('answers an empty list for an empty query', async () => {
    const res = await find('');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ results: [] });
  });

  it('gives anonymous callers public repositories and the namespaces owning them', async () => {
    const res = (await find(s)).json().results as { kind: string; name: string }[];
    expect(res.map((r) => `${r.kind}:${r.name}`).sort()).toEqual([`organization:${sorg.username}`, `repository:${s}repo`]);
    expect(res.find((r) => r.kind === 'organization')).toEqual({
      title: 'org', kind: 'organization', avatar: avatarOf('org'), name: sorg.username, score: expect.any(Number), href: `/organization/${sorg.username}`,
    });
  });

  it('gives an org admin the org’s teams and robots, their own robots and the org with only private repositories', async () => {
    const res = (await find(s, H.alice)).json().results as { kind: string; name: string; score: number }[];
    expect(res.map((r) => `${r.kind}:${r.name}`).sort()).toEqual(
      [
        `organization:${hidden.username}`,
        `organization:${sorg.username}`,
        `repository:${s}repo`,
        `robot:${alice.username}+${s}own`,
        `robot:${sorg.username}+${s}bot`,
        `team:${s}mine`,
        `team:${s}other`,
      ].sort(),
    );
    const team = res.find((r) => r.name === `${s}mine`);
    expect(team).toEqual({
      kind: 'team',
      name: `${s}mine`,
      organization: { title: 'org', kind: 'organization', avatar: avatarOf('org'), name: sorg.username, score: 1, href: `/organization/${sorg.username}` },
      avatar: avatarOf('team'),
      score: expect.any(Number),
      href: `/organization/${sorg.username}/teams/${s}mine`,
    });
    expect(res.find((r) => r.name === `${sorg.username}+${s}bot`)).toEqual({
      title: 'robot', kind: 'robot', avatar: null, name: `${sorg.username}+${s}bot`, short_name: `${s}bot`, score: expect.any(Number),
      href: `/organization/${sorg.username}?tab=robots&showRobot=${sorg.username}+${s}bot`,
    });
    expect(res.find((r) => r.name === `${alice.username}+${s}own`)).toMatchObject({ href: `/user/${alice.username}?tab=robots&showRobot=${alice.username}+${s}own` });
    // Sorted by score, each a base score times a similarity in (0, 1].
    const scores = res.map((r) => r.score);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
    for (const r of res) expect(r.score).toBeLessThanOrEqual(r.kind === 'repository' ? 4 : r.kind === 'team' ? 2 : 1);
  });

  it('matches namespace, robot and team names case-insensitively', async () => {
    const kinds = async (query: string) => ((await find(query, H.alice)).json().results as { kind: string; name: string }[]).map((r) => `${r.kind}:${r.name}`).sort();
    const lower = await kinds(s);
    expect(lower).toEqual(expect.arrayContaining([`organization:${sorg.username}`, `robot:${sorg.username}+${s}bot`, `robot:${alice.username}+${s}own`, `team:${s}mine`]));
    const mixed = s.slice(0, 1).toUpperCase() + s.slice(1, 3) + s.slice(3).toUpperCase();
    expect(await kinds(mixed)).toEqual(lower);
  });

  it('treats LIKE wildcards in the query literally for namespaces and robots', async () => {
    const q = uniqueName('wq');
    // `_` would match the `x` of the second name, and `%` anything, if they were wildcards.
    const under = await makeOrg(t, [alice], `${q}a_b`);
    await makeRepo(t, under, { name: uniqueName('r'), visibility: 'public' });
    const other = await makeOrg(t, [alice], `${q}axb`);
    await makeRepo(t, other, { name: uniqueName('r'), visibility: 'public' });
    await makeRobot(t, alice, `${q}_bot`);
    await makeRobot(t, alice, `${q}xbot`);
    const kinds = async (query: string) => ((await find(query, H.alice)).json().results as { kind: string; name: string }[]).map((r) => `${r.kind}:${r.name}`);
    expect(await kinds(`${q}a_`)).toEqual([`organization:${under.username}`]);
    expect(await kinds(`${q}_`)).toEqual([`robot:${alice.username}+${q}_bot`]);
    expect(await kinds(`${q}%`)).toEqual([]);
    expect(await kinds(`${q}\\`)).toEqual([]);
  });

  it('shows outsiders no teams, robots or private namespaces, and caps by scopes', async () => {
    const bobRes = (await find(s, H.bob)).json().results as { kind: string }[];
    expect(bobRes.map((r) => r.kind).sort()).toEqual(['organization', 'repository']);
    // user:read only: no repository scope (public only) and no org role (no teams or org robots).
    const capped = (await find(s, H.aliceUserRead)).json().results as { kind: string; name: string }[];
    expect(capped.map((r) => `${r.kind}:${r.name}`).sort()).toEqual([`organization:${sorg.username}`, `repository:${s}repo`]);
  });

  it('lists a namespace of private repositories to whoever may read one (own, org admin, team or direct grant), and none that owns nothing readable', async () => {
    const p = uniqueName('xp');
    const me = await makeUser(t, { username: `${p}me` });
    await makeRepo(t, me);
    const bare = await makeUser(t, { username: `${p}bare` }); // owns nothing
    const other = await makeUser(t);
    await makeRepo(t, await makeOrg(t, [me], `${p}admin`));
    await makeOrg(t, [me], `${p}adminempty`);
    const viaTeam = await makeOrg(t, [other], `${p}team`);
    await grant(t, await makeRepo(t, viaTeam), { teamId: (await makeTeam(t, viaTeam, 'member', [me])).id }, 'read');
    // A team without grants gives nothing, even where another team holds one.
    const teamless = await makeOrg(t, [other], `${p}teamless`);
    await makeTeam(t, teamless, 'member', [me]);
    await grant(t, await makeRepo(t, teamless), { teamId: (await makeTeam(t, teamless, 'member', [other])).id }, 'read');
    const direct = await makeOrg(t, [other], `${p}direct`);
    await grant(t, await makeRepo(t, direct), { userId: me.id }, 'read');
    await makeRepo(t, await makeOrg(t, [other], `${p}closed`));
    const namespaces = async (headers: Record<string, string>) =>
      ((await find(p, headers)).json().results as { kind: string; name: string }[]).filter((r) => r.kind !== 'team').map((r) => r.name).sort();
    expect(await namespaces(bearer(await tokenFor(t, me, FULL)))).toEqual([`${p}admin`, `${p}direct`, `${p}me`, `${p}team`]);
    expect(await namespaces(bearer(await tokenFor(t, bare, FULL)))).toEqual([]);
    expect(await namespaces({})).toEqual([]);
  });
});

describe('getMatchingEntities', () => {
  let e: string;
  let eorg: Namespace;
  let member: TestUser;
  let exact: TestUser;
  beforeAll(async () => {
    e = uniqueName('xe');
    exact = await makeUser(t, { username: e });
    for (let i = 0; i < 11; i++) await makeUser(t, { username: `${e}u${String(i).padStart(2, '0')}` });
    member = await makeUser(t, { username: `${e}member` });
    eorg = await makeOrg(t, [alice], `${e}org`);
    await makeTeam(t, eorg, 'member', [member], `${e}team`);
    await makeRobot(t, eorg, `${e}bot`);
    await makeRobot(t, alice, `${e}mybot`);
  });

  const entities = (prefix: string, qs = '', headers: Record<string, string> = {}) =>
    t.inject({ url: `/api/v1/entities/${encodeURIComponent(prefix)}${qs}`, headers });
  const resultNames = (res: { json(): { results: { name: string }[] } }) => res.json().results.map((r) => r.name);

  it('matches users by prefix (at most 10, the exact match first), never orgs or robots, for anyone', async () => {
    const res = await entities(e);
    expect(res.statusCode).toBe(200);
    const results = res.json().results as { name: string }[];
    expect(results).toHaveLength(10);
    expect(results[0]).toEqual({ name: exact.username, kind: 'user', is_robot: false, avatar: avatarOf('user') });
    for (const r of results) expect(r).toMatchObject({ kind: 'user', is_robot: false });
    expect(results.map((r) => r.name)).not.toContain(eorg.username);
  });

  it('normalizes the prefix: lower case, no spaces', async () => {
    expect(resultNames(await entities(` ${e.toUpperCase()}MEM ber`))).toEqual([member.username]);
  });

  it('treats LIKE wildcards in the prefix literally, for users and for robots of an owner whose name has one', async () => {
    const q = uniqueName('wc');
    const under = await makeUser(t, { username: `${q}_u` });
    await makeUser(t, { username: `${q}xu` });
    expect(resultNames(await entities(`${q}_`))).toEqual([under.username]);
    expect(resultNames(await entities(`${q}%`))).toEqual([]);
    const worg = await makeOrg(t, [alice], `${q}_org`);
    await makeRobot(t, worg, `${q}_r`);
    await makeRobot(t, worg, `${q}xr`);
    // Robots first, then users; the org itself is never a user.
    expect(resultNames(await entities(`${q}_`, `?namespace=${worg.username}`, H.alice))).toEqual([`${worg.username}+${q}_r`, under.username]);
    expect(resultNames(await entities(`${q}x`, `?namespace=${worg.username}`, H.alice))).toEqual([`${worg.username}+${q}xr`, `${q}xu`]);
  });

  it('adds the org’s robots, teams (includeTeams) and the org itself (includeOrgs) for its members', async () => {
    const memberH = bearer(await tokenFor(t, member, FULL));
    const res = await entities(e, `?namespace=${eorg.username}&includeTeams=true&includeOrgs=true`, memberH);
    const results = res.json().results as { name: string; kind: string; is_org_member?: boolean; is_robot?: boolean }[];
    expect(results[0]).toEqual({ name: `${e}team`, kind: 'team', is_org_member: true, avatar: avatarOf('team') });
    expect(results[results.length - 1]).toEqual({ name: eorg.username, kind: 'org', is_org_member: true, avatar: avatarOf('org') });
    const users = results.filter((r) => r.kind === 'user');
    expect(users[0]).toMatchObject({ name: exact.username, is_org_member: false });
    expect(users.find((r) => r.is_robot)).toEqual({ name: `${eorg.username}+${e}bot`, kind: 'user', is_robot: true, avatar: avatarOf('robot'), is_org_member: true });
    const m = await entities(`${e}mem`, `?namespace=${eorg.username}`, memberH);
    expect(m.json().results).toEqual([{ name: member.username, kind: 'user', is_robot: false, avatar: avatarOf('user'), is_org_member: true }]);
    // Without the flags: no team, no org.
    const plain = (await entities(e, `?namespace=${eorg.username}`, memberH)).json().results as { kind: string }[];
    expect(plain.every((r) => r.kind === 'user')).toBe(true);
  });

  it('gives non-members no robots, teams or org, but still says who is a member', async () => {
    for (const headers of [H.bob, {}]) {
      const res = await entities(e, `?namespace=${eorg.username}&includeTeams=true&includeOrgs=true`, headers);
      const results = res.json().results as { kind: string; is_robot?: boolean }[];
      expect(results.every((r) => r.kind === 'user' && r.is_robot === false)).toBe(true);
      expect(results[0]).toHaveProperty('is_org_member', false);
    }
  });

  it('adds the caller’s own robots for their own namespace with user:admin only', async () => {
    const mine = `${alice.username}+${e}mybot`;
    const own = await entities(`${e}my`, `?namespace=${alice.username}`, H.alice);
    expect(own.json().results).toEqual([{ name: mine, kind: 'user', is_robot: true, avatar: avatarOf('robot') }]);
    expect(resultNames(await entities(`${e}my`, `?namespace=${alice.username}`, H.aliceUserRead))).toEqual([]);
    expect(resultNames(await entities(`${e}my`, `?namespace=${alice.username}`, H.bob))).toEqual([]);
  });
});

describe('similarity (LiquidMetal-style scoring)', () => {
  it('scores exact names 1, prefixes above scattered matches, and misses 0', () => {
    expect(similarity('alice', 'alice')).toBe(1);
    expect(similarity('alice', 'ali')).toBeGreaterThan(similarity('malice', 'ali'));
    expect(similarity('alice', 'ali')).toBeGreaterThan(similarity('xxalice', 'ali'));
    expect(similarity('alice', 'bob')).toBe(0);
    expect(similarity('al', 'alice')).toBe(0);
  });
});

describe('with FEATURE_ANONYMOUS_ACCESS off', () => {
  it('refuses anonymous searches (401) and still serves signed-in callers', async () => {
    const closed = await testApp({ FEATURE_ANONYMOUS_ACCESS: false });
    try {
      const u = await makeUser(closed);
      const h = bearer(await tokenFor(closed, u, 'repo:read'));
      for (const url of ['/api/v1/find/repositories?query=x', '/api/v1/find/all?query=x', '/api/v1/entities/x']) {
        const anon = await closed.inject(url);
        expect(anon.statusCode).toBe(401);
        expect((await closed.inject({ url, headers: h })).statusCode).toBe(200);
      }
    } finally {
      await closed.close();
    }
  });
});
