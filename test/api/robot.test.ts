import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp, type TestApp } from '../helpers/app.js';
import {
  auditRows,
  bearer,
  grant,
  makeOrg,
  makeRepo,
  makeRobot,
  makeTeam,
  makeUser,
  signIn,
  tokenFor,
  uniqueName,
  type TestUser,
} from '../helpers/factories.js';
import type { Namespace } from '../../src/db/schema.js';

const RFC2822 = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} -0000$/;
const TOKEN = /^[A-Z0-9]{64}$/;
const NOT_FOUND = { message: 'Could not find robot with specified username' };
const FORBIDDEN_TEXT =
  "You don't have the permission to access the requested resource. It is either read-protected or not readable by the server.";
const FULL = 'repo:read repo:write repo:admin repo:create user:read user:admin org:admin';

let t: TestApp;
let alice: TestUser; // owns her user robots; admin of `org`
let bob: TestUser; // member of org (member team)
let dave: TestUser; // creator team of org
let outsider: TestUser;
let org: Namespace;
let aliceFull: Record<string, string>;
let aliceUserAdmin: Record<string, string>;
let bobFull: Record<string, string>;
let daveFull: Record<string, string>;
let outsiderFull: Record<string, string>;

beforeAll(async () => {
  t = await testApp();
  [alice, bob, dave, outsider] = [await makeUser(t), await makeUser(t), await makeUser(t), await makeUser(t)];
  org = await makeOrg(t, [alice]);
  await makeTeam(t, org, 'member', [bob], 'members');
  await makeTeam(t, org, 'creator', [dave], 'creators');
  aliceFull = bearer(await tokenFor(t, alice, FULL));
  aliceUserAdmin = bearer(await tokenFor(t, alice, 'user:admin'));
  bobFull = bearer(await tokenFor(t, bob, FULL));
  daveFull = bearer(await tokenFor(t, dave, FULL));
  outsiderFull = bearer(await tokenFor(t, outsider, FULL));
});
afterAll(() => t?.close());

type Headers = Record<string, string>;
const put = (url: string, headers: Headers, payload?: unknown) =>
  t.inject({ method: 'PUT', url, headers, ...(payload === undefined ? {} : { payload: payload as object }) });

async function robotRow(name: string) {
  return t.app.db
    .selectFrom('namespace as n')
    .leftJoin('robot_account as r', 'r.robot_id', 'n.id')
    .select(['n.id', 'n.uuid', 'n.username', 'n.robot', 'n.robot_owner_id', 'r.token_enc', 'r.description', 'r.unstructured_metadata'])
    .where('n.username', '=', name)
    .executeTakeFirst();
}

async function auditFor(kind: string, accountId: number, robot: string) {
  return (await auditRows(t, kind)).filter((r) => r.account_id === accountId && (r.metadata as { robot?: string }).robot === robot);
}

describe('user robots', () => {
  it('creates a robot (201) with a 64-character token and records create_robot', async () => {
    const short = uniqueName('bot');
    const res = await put(`/api/v1/user/robots/${short}`, aliceFull, { description: 'CI pusher', unstructured_metadata: { team: 'ci' } });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toEqual({
      name: `${alice.username}+${short}`,
      created: expect.stringMatching(RFC2822),
      last_accessed: null,
      description: 'CI pusher',
      token: expect.stringMatching(TOKEN),
      unstructured_metadata: { team: 'ci' },
    });
    const row = await robotRow(`${alice.username}+${short}`);
    expect(row).toMatchObject({ robot: true, robot_owner_id: alice.id, description: 'CI pusher', unstructured_metadata: { team: 'ci' } });
    const logs = await auditFor('create_robot', alice.id, short);
    expect(logs).toHaveLength(1);
    expect(logs[0].performer_id).toBe(alice.id);
    expect(logs[0].metadata).toMatchObject({ robot: short, description: 'CI pusher', unstructured_metadata: { team: 'ci' } });
  });

  it('stores the token encrypted, never in clear', async () => {
    const short = uniqueName('bot');
    const { token } = (await put(`/api/v1/user/robots/${short}`, aliceFull, {})).json();
    const row = await robotRow(`${alice.username}+${short}`);
    expect(row!.token_enc).toBeTruthy();
    expect(row!.token_enc).not.toContain(token);
    expect(JSON.stringify(row)).not.toContain(token);
    expect(t.app.secrets.decrypt(row!.token_enc!)).toBe(token);
  });

  it('accepts no body, an empty JSON body and {}: metadata echoes null, a later GET shows {}', async () => {
    const variants: { headers?: Headers; payload?: string }[] = [
      {},
      { headers: { 'content-type': 'application/json' }, payload: '' },
      { headers: { 'content-type': 'application/json' }, payload: '{}' },
      { headers: { 'content-type': 'application/json' }, payload: 'null' },
    ];
    for (const v of variants) {
      const short = uniqueName('bot');
      const res = await t.inject({ method: 'PUT', url: `/api/v1/user/robots/${short}`, headers: { ...aliceFull, ...v.headers }, payload: v.payload });
      expect(res.statusCode, res.body).toBe(201);
      expect(res.json()).toMatchObject({ description: '', unstructured_metadata: null, token: expect.stringMatching(TOKEN) });
      const got = await t.inject({ url: `/api/v1/user/robots/${short}`, headers: aliceFull });
      expect(got.json()).toMatchObject({ description: '', unstructured_metadata: {} });
      const [log] = await auditFor('create_robot', alice.id, short);
      expect(log.metadata).toMatchObject({ robot: short, description: null, unstructured_metadata: null });
    }
  });

  it('is not idempotent: a second PUT answers 400 Existing robot and writes nothing', async () => {
    const short = uniqueName('bot');
    const first = await put(`/api/v1/user/robots/${short}`, aliceFull, { description: 'one' });
    const again = await put(`/api/v1/user/robots/${short}`, aliceFull, { description: 'two' });
    expect(again.statusCode).toBe(400);
    expect(again.json()).toMatchObject({ message: `Existing robot with name: ${alice.username}+${short}` });
    const row = await robotRow(`${alice.username}+${short}`);
    expect(row!.description).toBe('one');
    expect(t.app.secrets.decrypt(row!.token_enc!)).toBe(first.json().token);
    expect(await auditFor('create_robot', alice.id, short)).toHaveLength(1);
  });

  it('refuses invalid short names with Quay message and writes nothing', async () => {
    const cases: [string, string][] = [
      ['Bad', 'Namespace must match expression ^([a-z0-9]+(?:[._-][a-z0-9]+)*)$'],
      ['a--b', 'Namespace must match expression ^([a-z0-9]+(?:[._-][a-z0-9]+)*)$'],
      ['a', 'Namespace must be between 2 and 255 characters in length'],
      ['x'.repeat(256), 'Namespace must be between 2 and 255 characters in length'],
    ];
    for (const [short, issue] of cases) {
      const res = await put(`/api/v1/user/robots/${short}`, aliceFull, {});
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ message: `The name for the robot '${short}' is invalid: ${issue}` });
      expect(await robotRow(`${alice.username}+${short}`)).toBeUndefined();
      expect(await auditFor('create_robot', alice.id, short)).toHaveLength(0);
    }
  });

  it('validates the body: description over 255 characters or non-object metadata → 400 invalid_request', async () => {
    for (const body of [{ description: 'd'.repeat(256) }, { unstructured_metadata: 'x' }, { unstructured_metadata: [1] }, [1, 2]]) {
      const short = uniqueName('bot');
      const res = await put(`/api/v1/user/robots/${short}`, aliceFull, body);
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ status: 400, error_type: 'invalid_request', title: 'invalid_request' });
      expect(await robotRow(`${alice.username}+${short}`)).toBeUndefined();
    }
    const ok = await put(`/api/v1/user/robots/${uniqueName('bot')}`, aliceFull, { description: 'd'.repeat(255) });
    expect(ok.statusCode).toBe(201);
  });

  it('refuses bodies over 1 MiB with 400 invalid_request and writes nothing', async () => {
    const short = uniqueName('bot');
    const big = JSON.stringify({ unstructured_metadata: { blob: 'x'.repeat(1024 * 1024) } });
    const res = await t.inject({ method: 'PUT', url: `/api/v1/user/robots/${short}`, headers: { ...aliceFull, 'content-type': 'application/json' }, payload: big });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ status: 400, error_type: 'invalid_request' });
    expect(await robotRow(`${alice.username}+${short}`)).toBeUndefined();
    // Just under the limit is fine.
    const near = JSON.stringify({ unstructured_metadata: { blob: 'x'.repeat(1024 * 1024 - 100) } });
    const ok = await t.inject({ method: 'PUT', url: `/api/v1/user/robots/${uniqueName('bot')}`, headers: { ...aliceFull, 'content-type': 'application/json' }, payload: near });
    expect(ok.statusCode).toBe(201);
  });

  it('answers other oversized robot requests with Fastify\'s 413 as an ApiError: only creation follows max_json_size', async () => {
    const short = uniqueName('bot');
    await put(`/api/v1/user/robots/${short}`, aliceFull);
    const before = (await robotRow(`${alice.username}+${short}`))!.token_enc;
    const big = JSON.stringify({ blob: 'x'.repeat(1024 * 1024) });
    const res = await t.inject({ method: 'POST', url: `/api/v1/user/robots/${short}/regenerate`, headers: { ...aliceFull, 'content-type': 'application/json' }, payload: big });
    expect(res.statusCode).toBe(413);
    expect(res.json()).toMatchObject({ status: 413, error_type: 'invalid_request', title: 'invalid_request', detail: 'Request body is too large' });
    expect((await robotRow(`${alice.username}+${short}`))!.token_enc).toBe(before);
  });

  it('gets a robot with its token and metadata; an unknown one is a 400 data error', async () => {
    const short = uniqueName('bot');
    const created = (await put(`/api/v1/user/robots/${short}`, aliceFull, { description: 'd', unstructured_metadata: { a: 1 } })).json();
    const res = await t.inject({ url: `/api/v1/user/robots/${short}`, headers: aliceUserAdmin });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ ...created, unstructured_metadata: { a: 1 } });
    const missing = await t.inject({ url: `/api/v1/user/robots/${uniqueName('none')}`, headers: aliceFull });
    expect(missing.statusCode).toBe(400);
    expect(missing.json()).toMatchObject(NOT_FOUND);
    // Another user's robot of the same short name is not reachable through /user/robots.
    const other = await t.inject({ url: `/api/v1/user/robots/${short}`, headers: outsiderFull });
    expect(other.statusCode).toBe(400);
  });

  it('lists only the caller robots, most recently used first, with tokens by default', async () => {
    const u = await makeUser(t);
    const h = bearer(await tokenFor(t, u, 'user:admin'));
    const old = await makeRobot(t, u, 'old');
    const recent = await makeRobot(t, u, 'recent');
    await makeRobot(t, alice, 'notmine');
    await t.app.db.updateTable('robot_account').set({ last_accessed: new Date('2024-01-01T00:00:00Z') }).where('robot_id', '=', old.id).execute();
    await t.app.db.updateTable('robot_account').set({ last_accessed: new Date('2025-06-01T12:00:00Z') }).where('robot_id', '=', recent.id).execute();
    const res = await t.inject({ url: '/api/v1/user/robots', headers: h });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      robots: [
        { name: recent.username, created: expect.stringMatching(RFC2822), last_accessed: 'Sun, 01 Jun 2025 12:00:00 -0000', description: '', token: recent.token },
        { name: old.username, created: expect.stringMatching(RFC2822), last_accessed: 'Mon, 01 Jan 2024 00:00:00 -0000', description: '', token: old.token },
      ],
    });
    const noToken = (await t.inject({ url: '/api/v1/user/robots?token=false', headers: h })).json();
    expect(noToken.robots.map((r: object) => Object.keys(r).sort())).toEqual([
      ['created', 'description', 'last_accessed', 'name'],
      ['created', 'description', 'last_accessed', 'name'],
    ]);
    const limited = (await t.inject({ url: '/api/v1/user/robots?limit=1', headers: h })).json();
    expect(limited.robots.map((r: { name: string }) => r.name)).toEqual([recent.username]);
    const bad = await t.inject({ url: '/api/v1/user/robots?limit=abc', headers: h });
    expect(bad.statusCode).toBe(400);
    expect(Object.keys(bad.json().message)).toEqual(['limit']);
  });

  it('lists teams and direct repository permissions with permissions=true', async () => {
    const u = await makeUser(t);
    const h = bearer(await tokenFor(t, u, 'user:admin'));
    const bot = await makeRobot(t, u, 'perm');
    const idle = await makeRobot(t, u, 'idle');
    const repoA = await makeRepo(t, u, { name: 'web' });
    const repoB = await makeRepo(t, u, { name: 'api' });
    await grant(t, repoA, { userId: bot.id }, 'write');
    await grant(t, repoB, { userId: bot.id }, 'read');
    // A team membership (in some org) shows under teams; the team's grants are not the robot's own.
    const o = await makeOrg(t, [u]);
    const team = await makeTeam(t, o, 'member', [bot], 'builders');
    await grant(t, await makeRepo(t, o, { name: 'viateam' }), { teamId: team.id }, 'read');
    const res = await t.inject({ url: '/api/v1/user/robots?permissions=true&token=false', headers: h });
    expect(res.statusCode).toBe(200);
    const byName = Object.fromEntries(res.json().robots.map((r: { name: string }) => [r.name, r]));
    expect(byName[bot.username]).toEqual({
      name: bot.username,
      created: expect.stringMatching(RFC2822),
      last_accessed: null,
      description: '',
      teams: [{ name: 'builders', avatar: { name: 'builders', hash: expect.stringMatching(/^[0-9a-f]{64}$/), color: expect.any(String), kind: 'team' } }],
      repositories: ['api', 'web'],
    });
    expect(byName[idle.username]).toMatchObject({ teams: [], repositories: [] });
  });

  it('regenerates the token (200): the old one stops decrypting from the row, regenerate_robot_token is logged', async () => {
    const short = uniqueName('bot');
    const created = (await put(`/api/v1/user/robots/${short}`, aliceFull, { description: 'x', unstructured_metadata: { k: 'v' } })).json();
    const before = await robotRow(created.name);
    const res = await t.inject({ method: 'POST', url: `/api/v1/user/robots/${short}/regenerate`, headers: aliceFull });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toEqual({ name: created.name, created: created.created, last_accessed: null, description: 'x', token: expect.stringMatching(TOKEN) });
    expect(body.token).not.toBe(created.token);
    const after = await robotRow(created.name);
    expect(t.app.secrets.decrypt(after!.token_enc!)).toBe(body.token);
    expect(after!.token_enc).not.toContain(body.token);
    expect(after!.uuid).not.toBe(before!.uuid);
    const got = (await t.inject({ url: `/api/v1/user/robots/${short}`, headers: aliceFull })).json();
    expect(got.token).toBe(body.token);
    expect(got.unstructured_metadata).toEqual({ k: 'v' });
    const logs = await auditFor('regenerate_robot_token', alice.id, short);
    expect(logs).toHaveLength(1);
    expect(logs[0].metadata).toMatchObject({ robot: short });
    const missing = await t.inject({ method: 'POST', url: `/api/v1/user/robots/${uniqueName('none')}/regenerate`, headers: aliceFull });
    expect(missing.statusCode).toBe(400);
    expect(missing.json()).toMatchObject(NOT_FOUND);
  });

  it('lists only direct repository permissions of the robot', async () => {
    const u = await makeUser(t);
    const h = bearer(await tokenFor(t, u, 'user:admin'));
    const bot = await makeRobot(t, u, 'lister');
    await grant(t, await makeRepo(t, u, { name: 'web', visibility: 'public' }), { userId: bot.id }, 'write');
    await grant(t, await makeRepo(t, u, { name: 'db' }), { userId: bot.id }, 'admin');
    const o = await makeOrg(t, [u]);
    const team = await makeTeam(t, o, 'member', [bot]);
    await grant(t, await makeRepo(t, o, { name: 'teamrepo' }), { teamId: team.id }, 'read');
    const res = await t.inject({ url: '/api/v1/user/robots/lister/permissions', headers: h });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      permissions: [
        { repository: { name: 'db', is_public: false }, role: 'admin' },
        { repository: { name: 'web', is_public: true }, role: 'write' },
      ],
    });
    const missing = await t.inject({ url: '/api/v1/user/robots/nothere/permissions', headers: h });
    expect(missing.statusCode).toBe(400);
    expect(missing.json()).toMatchObject(NOT_FOUND);
  });

  it('deletes a robot (204) with its token, permissions and team memberships, and records delete_robot', async () => {
    const u = await makeUser(t);
    const h = bearer(await tokenFor(t, u, 'user:admin'));
    const bot = await makeRobot(t, u, 'doomed');
    const repo = await makeRepo(t, u);
    await grant(t, repo, { userId: bot.id }, 'write');
    const o = await makeOrg(t, [u]);
    await makeTeam(t, o, 'member', [bot]);
    const res = await t.inject({ method: 'DELETE', url: '/api/v1/user/robots/doomed', headers: h });
    expect(res.statusCode).toBe(204);
    expect(res.body).toBe('');
    const db = t.app.db;
    expect(await db.selectFrom('namespace').select('id').where('id', '=', bot.id).execute()).toEqual([]);
    expect(await db.selectFrom('robot_account').select('robot_id').where('robot_id', '=', bot.id).execute()).toEqual([]);
    expect(await db.selectFrom('repository_permission').select('id').where('user_id', '=', bot.id).execute()).toEqual([]);
    expect(await db.selectFrom('team_member').select('id').where('user_id', '=', bot.id).execute()).toEqual([]);
    // The repository itself stays.
    expect(await db.selectFrom('repository').select('id').where('id', '=', repo.id).execute()).toHaveLength(1);
    const logs = await auditFor('delete_robot', u.id, 'doomed');
    expect(logs).toHaveLength(1);
    expect(logs[0].performer_id).toBe(u.id);
    const again = await t.inject({ method: 'DELETE', url: '/api/v1/user/robots/doomed', headers: h });
    expect(again.statusCode).toBe(400);
    expect(again.json()).toMatchObject(NOT_FOUND);
  });

  it('requires user:admin: anonymous 401, user:read and org:admin-only tokens 403, nothing written', async () => {
    const short = uniqueName('bot');
    const readOnly = bearer(await tokenFor(t, alice, 'user:read'));
    const orgOnly = bearer(await tokenFor(t, alice, 'org:admin'));
    expect((await t.inject({ url: '/api/v1/user/robots' })).statusCode).toBe(401);
    expect((await t.inject({ url: '/api/v1/user/robots', headers: readOnly })).statusCode).toBe(403);
    for (const h of [readOnly, orgOnly]) {
      const res = await put(`/api/v1/user/robots/${short}`, h, {});
      expect(res.statusCode).toBe(403);
      expect(res.json()).toMatchObject({ title: 'insufficient_scope' });
    }
    expect(await robotRow(`${alice.username}+${short}`)).toBeUndefined();
  });

  it('works from a signed-in session (with CSRF)', async () => {
    const s = await signIn(t, alice);
    const short = uniqueName('bot');
    const res = await put(`/api/v1/user/robots/${short}`, s.headers);
    expect(res.statusCode).toBe(201);
    const noCsrf = await put(`/api/v1/user/robots/${uniqueName('bot')}`, { cookie: s.headers.cookie });
    expect(noCsrf.statusCode).toBe(403);
  });
});

describe('organization robots', () => {
  const base = () => `/api/v1/organization/${org.username}/robots`;

  it('creates an org robot (201) owned by the org and records create_robot on the org', async () => {
    const short = uniqueName('bot');
    const res = await put(`${base()}/${short}`, aliceFull, { description: 'builder' });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toEqual({
      name: `${org.username}+${short}`,
      created: expect.stringMatching(RFC2822),
      last_accessed: null,
      description: 'builder',
      token: expect.stringMatching(TOKEN),
      unstructured_metadata: null,
    });
    const row = await robotRow(`${org.username}+${short}`);
    expect(row).toMatchObject({ robot: true, robot_owner_id: org.id });
    expect(row!.token_enc).not.toContain(res.json().token);
    const logs = await auditFor('create_robot', org.id, short);
    expect(logs).toHaveLength(1);
    expect(logs[0].performer_id).toBe(alice.id);
    const dup = await put(`${base()}/${short}`, aliceFull);
    expect(dup.statusCode).toBe(400);
    expect(dup.json()).toMatchObject({ message: `Existing robot with name: ${org.username}+${short}` });
  });

  it('refuses org robot bodies over 1 MiB with 400 invalid_request, as for user robots', async () => {
    const short = uniqueName('bot');
    const big = JSON.stringify({ unstructured_metadata: { blob: 'x'.repeat(1024 * 1024) } });
    const res = await t.inject({ method: 'PUT', url: `${base()}/${short}`, headers: { ...aliceFull, 'content-type': 'application/json' }, payload: big });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ status: 400, error_type: 'invalid_request', detail: 'The request body exceeds the maximum size of 1048576 bytes' });
    expect(await robotRow(`${org.username}+${short}`)).toBeUndefined();
  });

  it('refuses non-admins (member, creator, outsider) with 403 and writes nothing', async () => {
    for (const h of [bobFull, daveFull, outsiderFull, bearer(await tokenFor(t, alice, 'user:admin repo:create'))]) {
      const short = uniqueName('bot');
      const res = await put(`${base()}/${short}`, h, {});
      expect(res.statusCode).toBe(403);
      expect(await robotRow(`${org.username}+${short}`)).toBeUndefined();
    }
    expect((await put(`${base()}/${uniqueName('bot')}`, {}, {})).statusCode).toBe(403); // CSRF before auth for anonymous writes
  });

  it('gets an org robot with its token; an unknown one → 400; another org robot is not reachable', async () => {
    const bot = await makeRobot(t, org, uniqueName('bot'));
    const short = bot.username.split('+')[1];
    const res = await t.inject({ url: `${base()}/${short}`, headers: aliceFull });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ name: bot.username, created: expect.stringMatching(RFC2822), last_accessed: null, description: '', token: bot.token, unstructured_metadata: {} });
    const other = await makeOrg(t, [outsider]);
    const foreign = await makeRobot(t, other, 'foreign');
    expect(foreign.username).toBe(`${other.username}+foreign`);
    const miss = await t.inject({ url: `${base()}/foreign`, headers: aliceFull });
    expect(miss.statusCode).toBe(400);
    expect(miss.json()).toMatchObject(NOT_FOUND);
    expect((await t.inject({ url: `${base()}/${short}`, headers: bobFull })).statusCode).toBe(403);
  });

  it('lists org robots to members without tokens or permissions; admins get both', async () => {
    const o = await makeOrg(t, [alice]);
    await makeTeam(t, o, 'member', [bob]);
    const bot = await makeRobot(t, o, 'lister');
    const team = await makeTeam(t, o, 'member', [bot], 'ci');
    await grant(t, await makeRepo(t, o, { name: 'web' }), { userId: bot.id }, 'read');
    await grant(t, await makeRepo(t, o, { name: 'teamonly' }), { teamId: team.id }, 'write');
    const url = `/api/v1/organization/${o.username}/robots?permissions=true`;
    const asMember = await t.inject({ url, headers: bobFull });
    expect(asMember.statusCode).toBe(200);
    expect(asMember.json()).toEqual({ robots: [{ name: bot.username, created: expect.stringMatching(RFC2822), last_accessed: null, description: '' }] });
    const asAdmin = await t.inject({ url, headers: aliceFull });
    expect(asAdmin.json()).toEqual({
      robots: [
        {
          name: bot.username,
          created: expect.stringMatching(RFC2822),
          last_accessed: null,
          description: '',
          token: bot.token,
          teams: [{ name: 'ci', avatar: expect.objectContaining({ name: 'ci', kind: 'team' }) }],
          repositories: ['web'],
        },
      ],
    });
    const plain = (await t.inject({ url: `/api/v1/organization/${o.username}/robots`, headers: aliceFull })).json();
    expect(Object.keys(plain.robots[0]).sort()).toEqual(['created', 'description', 'last_accessed', 'name', 'token']);
    const noToken = (await t.inject({ url: `/api/v1/organization/${o.username}/robots?token=0`, headers: aliceFull })).json();
    expect(noToken.robots[0]).not.toHaveProperty('token');
    expect((await t.inject({ url: `/api/v1/organization/${o.username}/robots`, headers: outsiderFull })).statusCode).toBe(403);
    expect((await t.inject({ url: `/api/v1/organization/${o.username}/robots` })).statusCode).toBe(401);
  });

  it('regenerates an org robot token (200) and records regenerate_robot_token on the org', async () => {
    const bot = await makeRobot(t, org, uniqueName('bot'));
    const short = bot.username.split('+')[1];
    const res = await t.inject({ method: 'POST', url: `${base()}/${short}/regenerate`, headers: aliceFull });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(Object.keys(body).sort()).toEqual(['created', 'description', 'last_accessed', 'name', 'token']);
    expect(body.token).toMatch(TOKEN);
    expect(body.token).not.toBe(bot.token);
    const row = await robotRow(bot.username);
    expect(t.app.secrets.decrypt(row!.token_enc!)).toBe(body.token);
    expect(t.app.secrets.decrypt(row!.token_enc!)).not.toBe(bot.token);
    expect(await auditFor('regenerate_robot_token', org.id, short)).toHaveLength(1);
    const denied = await t.inject({ method: 'POST', url: `${base()}/${short}/regenerate`, headers: bobFull });
    expect(denied.statusCode).toBe(403);
    expect(t.app.secrets.decrypt((await robotRow(bot.username))!.token_enc!)).toBe(body.token);
  });

  it('deletes an org robot (204): permissions and team memberships go, delete_robot is logged on the org', async () => {
    const bot = await makeRobot(t, org, uniqueName('bot'));
    const short = bot.username.split('+')[1];
    await grant(t, await makeRepo(t, org), { userId: bot.id }, 'admin');
    await makeTeam(t, org, 'member', [bot]);
    const denied = await t.inject({ method: 'DELETE', url: `${base()}/${short}`, headers: daveFull });
    expect(denied.statusCode).toBe(403);
    expect(await robotRow(bot.username)).toBeDefined();
    const res = await t.inject({ method: 'DELETE', url: `${base()}/${short}`, headers: aliceFull });
    expect(res.statusCode).toBe(204);
    expect(await robotRow(bot.username)).toBeUndefined();
    expect(await t.app.db.selectFrom('repository_permission').select('id').where('user_id', '=', bot.id).execute()).toEqual([]);
    expect(await t.app.db.selectFrom('team_member').select('id').where('user_id', '=', bot.id).execute()).toEqual([]);
    expect(await auditFor('delete_robot', org.id, short)).toHaveLength(1);
    const again = await t.inject({ method: 'DELETE', url: `${base()}/${short}`, headers: aliceFull });
    expect(again.statusCode).toBe(400);
    expect(again.json()).toMatchObject(NOT_FOUND);
  });

  it('getOrgRobotPermissions needs user:admin and OrgAdmin; org:admin alone is refused', async () => {
    const bot = await makeRobot(t, org, uniqueName('bot'));
    const short = bot.username.split('+')[1];
    await grant(t, await makeRepo(t, org, { name: uniqueName('r') }), { userId: bot.id }, 'read');
    const url = `${base()}/${short}/permissions`;
    const ok = await t.inject({ url, headers: aliceFull });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ permissions: [{ repository: { name: expect.any(String), is_public: false }, role: 'read' }] });
    const session = await signIn(t, alice);
    expect((await t.inject({ url, headers: session.headers })).statusCode).toBe(200);
    // org:admin without user:admin fails require_user_admin (ApiError 403).
    const orgOnly = await t.inject({ url, headers: bearer(await tokenFor(t, alice, 'org:admin')) });
    expect(orgOnly.statusCode).toBe(403);
    expect(orgOnly.json()).toMatchObject({ title: 'insufficient_scope' });
    // user:admin without org:admin, or a non-admin: Quay's bare abort(403).
    for (const h of [aliceUserAdmin, bobFull]) {
      const res = await t.inject({ url, headers: h });
      expect(res.statusCode).toBe(403);
      expect(res.json()).toMatchObject({ message: FORBIDDEN_TEXT });
    }
    expect((await t.inject({ url })).statusCode).toBe(401);
    const missing = await t.inject({ url: `${base()}/nothere/permissions`, headers: aliceFull });
    expect(missing.statusCode).toBe(400);
    expect(missing.json()).toMatchObject(NOT_FOUND);
  });

  it('answers 404 when {orgname} is the caller own user namespace, 403 for another user or a missing org', async () => {
    const bot = await makeRobot(t, alice, uniqueName('bot'));
    const short = bot.username.split('+')[1];
    const mine = `/api/v1/organization/${alice.username}/robots`;
    const cases: [string, string][] = [
      ['GET', mine],
      ['GET', `${mine}/${short}`],
      ['PUT', `${mine}/${uniqueName('bot')}`],
      ['DELETE', `${mine}/${short}`],
      ['POST', `${mine}/${short}/regenerate`],
      ['GET', `${mine}/${short}/permissions`],
    ];
    for (const [method, url] of cases) {
      const res = await t.inject({ method: method as 'GET', url, headers: aliceFull });
      expect(res.statusCode, `${method} ${url}`).toBe(404);
      const other = await t.inject({ method: method as 'GET', url: url.replace(alice.username, outsider.username), headers: aliceFull });
      expect(other.statusCode, `${method} ${url} (other user)`).toBe(403);
      const none = await t.inject({ method: method as 'GET', url: url.replace(alice.username, uniqueName('nope')), headers: aliceFull });
      expect(none.statusCode, `${method} ${url} (missing)`).toBe(403);
    }
    // The user's robot is untouched.
    expect(t.app.secrets.decrypt((await robotRow(bot.username))!.token_enc!)).toBe(bot.token);
  });
});
