// GET /v2/_catalog (registry-and-auth.md D.4): only what the caller may read (private repositories
// of others are invisible), image repositories only, anonymous callers nothing unless
// FEATURE_PUBLIC_CATALOG; n defaults to and is capped at 100, minimum 1; an opaque next_page token
// announced in a Link header whose URL is a path.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Namespace } from '../../src/db/schema.js';
import { catalogLimit } from '../../src/registry/catalog.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { grant, makeOrg, makeRepo, makeRobot, makeTeam, makeUser, tokenFor, type TestUser } from '../helpers/factories.js';

const HOST = 'localhost:8080';

let t: TestApp;
let owner: TestUser;
let reader: TestUser;
let outsider: TestUser;
let org: Namespace;
let names: Record<string, string>;

const basicOf = (username: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}` });

async function loginToken(app: TestApp, headers: Record<string, string>): Promise<string> {
  const res = await app.inject({ url: `/v2/auth?service=${HOST}`, headers });
  expect(res.statusCode, res.body).toBe(200);
  return res.json().token;
}

async function catalog(app: TestApp, token: string | null, q = '') {
  const res = await app.inject({ url: `/v2/_catalog${q}`, headers: token ? { authorization: `Bearer ${token}` } : {} });
  expect(res.statusCode, res.body).toBe(200);
  return { names: res.json().repositories as string[], link: res.headers.link as string | undefined };
}

/** Every page, following the Link headers. */
async function allPages(app: TestApp, token: string | null, n: number): Promise<string[][]> {
  const pages: string[][] = [];
  let q = `?n=${n}`;
  for (let i = 0; i < 100; i++) {
    const page = await catalog(app, token, q);
    pages.push(page.names);
    if (!page.link) break;
    const m = /^<(\/v2\/_catalog\?[^>]+)>; rel="next"$/.exec(page.link);
    expect(m, page.link).not.toBeNull();
    q = m![1].slice('/v2/_catalog'.length);
  }
  return pages;
}

beforeAll(async () => {
  t = await testApp();
  owner = await makeUser(t);
  reader = await makeUser(t);
  outsider = await makeUser(t);
  org = await makeOrg(t, [owner]);
  const own = await makeRepo(t, owner, { name: 'own-private' });
  const pub = await makeRepo(t, owner, { name: 'own-public', visibility: 'public' });
  const direct = await makeRepo(t, org, { name: 'direct' });
  const viaTeam = await makeRepo(t, org, { name: 'via-team' });
  const hidden = await makeRepo(t, org, { name: 'hidden' });
  const app = await makeRepo(t, owner, { name: 'app-kind' });
  await t.app.db.updateTable('repository').set({ kind: 'application' }).where('id', '=', app.id).execute();
  await grant(t, direct, { userId: reader.id }, 'read');
  const team = await makeTeam(t, org, 'member', [reader]);
  await grant(t, viaTeam, { teamId: team.id }, 'write');
  names = {
    own: `${owner.username}/${own.name}`, pub: `${owner.username}/${pub.name}`, direct: `${org.username}/${direct.name}`,
    viaTeam: `${org.username}/${viaTeam.name}`, hidden: `${org.username}/${hidden.name}`, app: `${owner.username}/${app.name}`,
  };
});
afterAll(() => t?.close());

describe('what the caller sees', () => {
  it('a user: their own repositories and those granted directly or through a team; no application repositories', async () => {
    const mine = await catalog(t, await loginToken(t, basicOf(owner.username, owner.password)));
    expect(mine.names).toEqual([names.own, names.pub, names.direct, names.viaTeam, names.hidden]);
    const theirs = await catalog(t, await loginToken(t, basicOf(reader.username, reader.password)));
    expect(theirs.names).toEqual([names.direct, names.viaTeam]);
    expect(mine.link).toBeUndefined();
  });

  it('an outsider and anonymous callers see none of them (public ones neither, without FEATURE_PUBLIC_CATALOG)', async () => {
    expect((await catalog(t, await loginToken(t, basicOf(outsider.username, outsider.password)))).names).toEqual([]);
    expect((await catalog(t, null)).names).toEqual([]);
    const anon = await t.inject({ url: `/v2/auth?service=${HOST}&scope=repository:${names.pub}:pull` });
    expect((await catalog(t, anon.json().token)).names).toEqual([]);
  });

  it('a robot: what it is granted', async () => {
    const robot = await makeRobot(t, org);
    await grant(t, { id: (await t.app.db.selectFrom('repository').select('id').where('namespace_id', '=', org.id).where('name', '=', 'hidden').executeTakeFirstOrThrow()).id }, { userId: robot.id }, 'read');
    expect((await catalog(t, await loginToken(t, basicOf(robot.username, robot.token)))).names).toEqual([names.hidden]);
  });

  it('an OAuth login: capped by the token’s scopes (no repo:* scope, nothing private)', async () => {
    const none = await loginToken(t, basicOf('$oauthtoken', await tokenFor(t, reader, 'user:read')));
    expect((await catalog(t, none)).names).toEqual([]);
    const read = await loginToken(t, basicOf('$oauthtoken', await tokenFor(t, reader, 'repo:read')));
    expect((await catalog(t, read)).names).toEqual([names.direct, names.viaTeam]);
  });

  it('a token that does not verify is 401, not an empty list', async () => {
    const res = await t.inject({ url: '/v2/_catalog', headers: { authorization: 'Bearer a.b.c' } });
    expect(res.statusCode).toBe(401);
    expect(res.json().errors[0].code).toBe('UNAUTHORIZED');
  });

  it('FEATURE_PUBLIC_CATALOG adds public repositories, for anonymous callers too', async () => {
    const pc = await testApp({ FEATURE_PUBLIC_CATALOG: true }, t.database);
    try {
      expect((await catalog(pc, null)).names).toEqual([names.pub]);
      expect((await catalog(pc, await loginToken(pc, basicOf(reader.username, reader.password)))).names).toEqual([names.pub, names.direct, names.viaTeam]);
    } finally {
      await pc.app.close();
    }
  });
});

describe('pagination', () => {
  it('pages through everything with opaque next_page tokens in a path-only Link header', async () => {
    const token = await loginToken(t, basicOf(owner.username, owner.password));
    const first = await catalog(t, token, '?n=2');
    expect(first.names).toEqual([names.own, names.pub]);
    expect(first.link).toMatch(/^<\/v2\/_catalog\?n=2&next_page=[^>&]+>; rel="next"$/);
    expect(first.link).not.toContain(names.pub);
    expect(await allPages(t, token, 2)).toEqual([[names.own, names.pub], [names.direct, names.viaTeam], [names.hidden]]);
    expect(await allPages(t, token, 5)).toEqual([[names.own, names.pub, names.direct, names.viaTeam, names.hidden]]);
    // `last` is read as an alias of next_page; a token that is not one means the first page.
    const next = decodeURIComponent(/next_page=([^>&]+)/.exec(first.link!)![1]);
    expect((await catalog(t, token, `?n=2&last=${encodeURIComponent(next)}`)).names).toEqual([names.direct, names.viaTeam]);
    expect((await catalog(t, token, `?n=2&next_page=${names.own}`)).names).toEqual([names.own, names.pub]);
  });

  it('a next_page token of another list or another caller shows nothing it should not', async () => {
    const ownerToken = await loginToken(t, basicOf(owner.username, owner.password));
    const first = await catalog(t, ownerToken, '?n=1');
    const q = first.link!.slice('</v2/_catalog'.length, first.link!.indexOf('>'));
    const asOutsider = await catalog(t, await loginToken(t, basicOf(outsider.username, outsider.password)), q);
    expect(asOutsider.names).toEqual([]);
  });

  it('n: default and cap 100, minimum 1, unreadable means 1', async () => {
    expect(catalogLimit(undefined)).toBe(100);
    expect(catalogLimit('1000')).toBe(100);
    expect(catalogLimit('99999999999999999999')).toBe(100);
    expect(catalogLimit('0')).toBe(1);
    expect(catalogLimit('-5')).toBe(1);
    expect(catalogLimit('abc')).toBe(1);
    expect(catalogLimit('2.5')).toBe(1);
    expect(catalogLimit(' 7 ')).toBe(7);
    const u = await makeUser(t);
    for (let i = 0; i < 101; i++) await makeRepo(t, u, { name: `r${String(i).padStart(3, '0')}` });
    const token = await loginToken(t, basicOf(u.username, u.password));
    const full = await catalog(t, token);
    expect(full.names).toHaveLength(100);
    expect(full.link).toMatch(/^<\/v2\/_catalog\?n=100&next_page=/);
    expect((await catalog(t, token, '?n=1000')).names).toHaveLength(100);
    expect((await catalog(t, token, '?n=0')).names).toEqual([`${u.username}/r000`]);
    expect((await catalog(t, token, '?n=x')).names).toEqual([`${u.username}/r000`]);
    expect((await allPages(t, token, 100)).map((p) => p.length)).toEqual([100, 1]);
  });
});
