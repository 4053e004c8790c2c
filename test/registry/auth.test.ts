// GET /v2/auth (registry-and-auth.md B, C.1–C.4): every credential kind, the scope grammar,
// downscoping, create-on-push, the JWT itself, and the instance service key behind it. Real logins
// with skopeo and podman at the end (skipped with a message when the tools are missing).
import { createPublicKey, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { importJWK, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomString, UPPER_DIGITS } from '../../src/auth/crypto.js';
import { insertAppToken } from '../../src/db/app-tokens.js';
import type { Namespace } from '../../src/db/schema.js';
import { ensureInstanceKey, INSTANCE_KEY_SERVICE, jwkThumbprint } from '../../src/registry/service-keys.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { freeLoopbackPort } from '../helpers/docker-registry.js';
import { auditRows, grant, makeOrg, makeRepo, makeRobot, makeTeam, makeUser, tokenFor, uniqueName, type TestUser } from '../helpers/factories.js';
import { ClientSession, describeWithTools } from '../helpers/registry-clients.js';

const HOST = 'localhost:8080';

let t: TestApp;
let alice: TestUser;
let bob: TestUser;

beforeAll(async () => {
  t = await testApp();
  alice = await makeUser(t);
  bob = await makeUser(t);
});
afterAll(() => t?.close());

const basic = (username: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}` });
const creds = (u: { username: string; password: string }) => basic(u.username, u.password);

function query(scopes: string[], service: string | null = HOST): string {
  const parts = [...(service === null ? [] : [`service=${encodeURIComponent(service)}`]), ...scopes.map((s) => `scope=${encodeURIComponent(s)}`)];
  return parts.length ? `?${parts.join('&')}` : '';
}

function authReq(scopes: string[], headers: Record<string, string> = {}, app: TestApp = t, service: string | null = HOST) {
  return app.inject({ url: `/v2/auth${query(scopes, service)}`, headers });
}

function decode(token: string): { header: Record<string, unknown>; claims: Record<string, any> } {
  const [h, p] = token.split('.');
  return { header: JSON.parse(Buffer.from(h, 'base64url').toString()), claims: JSON.parse(Buffer.from(p, 'base64url').toString()) };
}

/** The token's claims after a 200; fails the test otherwise. */
async function tokenClaims(scopes: string[], headers: Record<string, string> = {}, app: TestApp = t) {
  const res = await authReq(scopes, headers, app);
  expect(res.statusCode, res.body).toBe(200);
  return decode(res.json().token).claims;
}

/** The actions granted for each requested scope. */
async function granted(scopes: string[], headers: Record<string, string> = {}, app: TestApp = t): Promise<string[][]> {
  return (await tokenClaims(scopes, headers, app)).access.map((a: { actions: string[] }) => a.actions);
}

function expectUnauthorized(res: { statusCode: number; headers: Record<string, unknown>; json(): any }, message?: string) {
  expect(res.statusCode).toBe(401);
  expect(res.headers['www-authenticate']).toBe(`Bearer realm="http://${HOST}/v2/auth",service="${HOST}"`);
  const body = res.json();
  expect(body.errors).toHaveLength(1);
  expect(body.errors[0].code).toBe('UNAUTHORIZED');
  if (message) expect(body.errors[0].message).toBe(message);
}

async function appToken(app: TestApp, user: Namespace, o: { expiration?: Date | null } = {}): Promise<{ code: string; uuid: string }> {
  const code = randomString(120, UPPER_DIGITS);
  const row = await insertAppToken(app.app.db, {
    userId: user.id,
    title: 'registry',
    tokenName: code.slice(0, 60),
    secretEnc: app.app.secrets.encrypt(code.slice(60)),
    expiration: o.expiration ?? null,
  });
  return { code, uuid: row.uuid };
}

const setState = (repo: { id: number }, state: 'NORMAL' | 'READ_ONLY' | 'MIRROR') =>
  t.app.db.updateTable('repository').set({ state }).where('id', '=', repo.id).execute();

describe('credentials (B)', () => {
  it('a password login (no scope) gives a token for the user', async () => {
    const res = await authReq([], creds(alice));
    expect(res.statusCode).toBe(200);
    expect(Object.keys(res.json())).toEqual(['token']);
    const { claims } = decode(res.json().token);
    expect(claims.sub).toBe(alice.username);
    expect(claims.access).toEqual([]);
    expect(claims.context).toEqual({
      version: 2, entity_kind: 'user', entity_reference: alice.uuid, kind: 'user', user: alice.username,
      'com.apostille.roots': {}, 'com.apostille.root': '$disabled',
    });
  });

  it('accepts the e-mail address as the username; sub is still the username', async () => {
    const claims = await tokenClaims([], basic(alice.email!, alice.password));
    expect(claims.sub).toBe(alice.username);
    // An address with a `+` is not taken for a robot name.
    const tagged = await makeUser(t, { email: `${uniqueName('x')}+registry@example.com` });
    expect((await tokenClaims([], basic(tagged.email!, tagged.password))).sub).toBe(tagged.username);
  });

  it('refuses a wrong password, an unknown user and malformed Basic headers with 401 UNAUTHORIZED and the challenge', async () => {
    const u = await makeUser(t);
    expectUnauthorized(await authReq([], basic(u.username, 'wrong')), 'Invalid Username or Password');
    expectUnauthorized(await authReq([], basic(uniqueName('ghost'), 'whatever')), 'Invalid Username or Password');
    expectUnauthorized(await authReq([], { authorization: 'Basic !!!' }));
    expectUnauthorized(await authReq([], { authorization: `Basic ${Buffer.from('nocolon').toString('base64')}` }));
    expectUnauthorized(await authReq([], { authorization: `Basic ${Buffer.from('a\0b:c').toString('base64')}` }));
    expectUnauthorized(await authReq([], { authorization: `Basic ${Buffer.from([0x61, 0x3a, 0xff]).toString('base64')}` }));
  });

  it('throttles password guessing: a retry right after a failure gets 429 TOOMANYREQUESTS with Retry-After', async () => {
    const u = await makeUser(t);
    expectUnauthorized(await authReq([], basic(u.username, 'wrong')));
    const res = await authReq([], creds(u));
    expect(res.statusCode).toBe(429);
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    expect(res.json().errors[0].code).toBe('TOOMANYREQUESTS');
  });

  it('refuses a disabled user, with the right password', async () => {
    const u = await makeUser(t);
    await t.app.db.updateTable('namespace').set({ enabled: false }).where('id', '=', u.id).execute();
    expectUnauthorized(await authReq([], creds(u)), 'This user has been disabled. Please contact your administrator.');
  });

  it('accepts an app-specific token as `$app`: the user, uncapped, with context kind appspecifictoken', async () => {
    const { code, uuid } = await appToken(t, alice);
    const repo = await makeRepo(t, alice);
    const claims = await tokenClaims([`repository:${alice.username}/${repo.name}:push,pull,*`], basic('$app', code));
    expect(claims.sub).toBe(alice.username);
    expect(claims.access[0].actions).toEqual(['push', 'pull', '*']);
    expect(claims.context).toMatchObject({ entity_kind: 'appspecifictoken', entity_reference: uuid, kind: 'user', user: alice.username });
  });

  it('refuses a wrong, expired or disabled-owner app token with "Invalid token"', async () => {
    const { code } = await appToken(t, alice);
    expectUnauthorized(await authReq([], basic('$app', `${code.slice(0, 60)}${'X'.repeat(60)}`)), 'Invalid token');
    const expired = await appToken(t, alice, { expiration: new Date(Date.now() - 1000) });
    expectUnauthorized(await authReq([], basic('$app', expired.code)), 'Invalid token');
    const u = await makeUser(t);
    const own = await appToken(t, u);
    await t.app.db.updateTable('namespace').set({ enabled: false }).where('id', '=', u.id).execute();
    expectUnauthorized(await authReq([], basic('$app', own.code)), 'Invalid token');
  });

  it('accepts an OAuth token as `$oauthtoken` whatever its scopes, and caps what it grants by them', async () => {
    const repo = await makeRepo(t, alice);
    const scope = `repository:${alice.username}/${repo.name}:push,pull,*`;
    const none = await tokenFor(t, alice, 'user:read');
    const login = await tokenClaims([], basic('$oauthtoken', none));
    expect(login.sub).toBe(alice.username);
    const row = await t.app.db.selectFrom('oauth_access_token').select('uuid').where('authorized_user_id', '=', alice.id).orderBy('id', 'desc').executeTakeFirstOrThrow();
    expect(login.context).toMatchObject({ version: 2, entity_kind: 'oauthtoken', entity_reference: row.uuid, kind: 'oauth', oauth: row.uuid, user: alice.username });
    expect(await granted([scope], basic('$oauthtoken', none))).toEqual([[]]);
    expect(await granted([scope], basic('$oauthtoken', await tokenFor(t, alice, 'repo:read')))).toEqual([['pull']]);
    expect(await granted([scope], basic('$oauthtoken', await tokenFor(t, alice, 'repo:write')))).toEqual([['push', 'pull']]);
    expect(await granted([scope], basic('$oauthtoken', await tokenFor(t, alice, 'repo:admin')))).toEqual([['push', 'pull', '*']]);
  });

  it('refuses unknown, expired and disabled-user OAuth tokens with Quay’s messages', async () => {
    expectUnauthorized(await authReq([], basic('$oauthtoken', 'A'.repeat(40))), 'OAuth access token could not be validated');
    expectUnauthorized(await authReq([], basic('$oauthtoken', await tokenFor(t, alice, 'repo:read', -10))), 'OAuth access token has expired');
    const u = await makeUser(t);
    const tok = await tokenFor(t, u, 'repo:read');
    await t.app.db.updateTable('namespace').set({ enabled: false }).where('id', '=', u.id).execute();
    t.app.authCache.clear();
    expectUnauthorized(await authReq([], basic('$oauthtoken', tok)), 'Granter of the oauth access token is disabled');
  });

  it('accepts a robot `ns+short` with its token: the robot’s grants only', async () => {
    const org = await makeOrg(t, [alice]);
    const robot = await makeRobot(t, org);
    const readable = await makeRepo(t, org);
    const other = await makeRepo(t, org);
    await grant(t, readable, { userId: robot.id }, 'read');
    const res = await authReq([`repository:${org.username}/${readable.name}:pull,push`, `repository:${org.username}/${other.name}:pull`], basic(robot.username, robot.token));
    expect(res.statusCode).toBe(200);
    const { claims } = decode(res.json().token);
    expect(claims.sub).toBe(robot.username);
    expect(claims.access.map((a: { actions: string[] }) => a.actions)).toEqual([['pull'], []]);
    expect(claims.context).toMatchObject({ entity_kind: 'robot', entity_reference: robot.username, kind: 'user', user: robot.username });
  });

  it('refuses a robot with a wrong token, a deleted robot and a robot of a disabled owner', async () => {
    const org = await makeOrg(t, [alice]);
    const robot = await makeRobot(t, org);
    const invalid = `Could not find robot with username: ${robot.username} and supplied password.`;
    expectUnauthorized(await authReq([], basic(robot.username, 'X'.repeat(64))), invalid);
    expectUnauthorized(await authReq([], basic(robot.username, `${robot.token}é`)), invalid);
    const doomed = await makeRobot(t, org);
    expect((await authReq([], basic(doomed.username, doomed.token))).statusCode).toBe(200);
    await t.app.db.deleteFrom('namespace').where('id', '=', doomed.id).execute();
    expectUnauthorized(await authReq([], basic(doomed.username, doomed.token)));
    const owner = await makeUser(t);
    const own = await makeRobot(t, owner);
    await t.app.db.updateTable('namespace').set({ enabled: false }).where('id', '=', owner.id).execute();
    expectUnauthorized(await authReq([], basic(own.username, own.token)), 'This user has been disabled. Please contact your administrator.');
  });

  it('anonymous: no scope is 401; a scope gives pull on public repositories only', async () => {
    expectUnauthorized(await authReq([]), 'access to the requested resource is not authorized');
    expectUnauthorized(await authReq(['']));
    const pub = await makeRepo(t, alice, { visibility: 'public' });
    const priv = await makeRepo(t, alice);
    const res = await authReq([`repository:${alice.username}/${pub.name}:pull,push`, `repository:${alice.username}/${priv.name}:pull`]);
    expect(res.statusCode).toBe(200);
    const { claims } = decode(res.json().token);
    expect(claims.sub).toBe('(anonymous)');
    expect(claims.access.map((a: { actions: string[] }) => a.actions)).toEqual([['pull'], []]);
    // Without an Authorization header the context is only the apostille keys (C.4).
    expect(claims.context).toEqual({
      'com.apostille.roots': { [`${alice.username}/${pub.name}`]: '$disabled', [`${alice.username}/${priv.name}`]: '$disabled' },
      'com.apostille.root': '$disabled',
    });
  });

  it('a Bearer header is not a credential here', async () => {
    expectUnauthorized(await authReq([], { authorization: `Bearer ${await tokenFor(t, alice, 'repo:read')}` }), 'Specified credentials are invalid');
  });
});

describe('scope grammar (C.1)', () => {
  it('answers 400 INVALID_REQUEST for what the grammar does not allow', async () => {
    for (const scope of [
      'registry:catalog:*',
      `repository:${alice.username}/app:delete`,
      `repository:${alice.username}/app:pull push`,
      `repository:${alice.username}/app:pull,`,
      `repository:${alice.username}/app:`,
      `repository(plugin):${alice.username}/app:pull`,
      `repository:${alice.username}/app:pull repository:${alice.username}/b:pull`,
      'repository::pull',
      `repository:${alice.username}//app:pull`,
      'repository:other.host:5000/a/b:pull',
    ]) {
      const res = await authReq([scope], creds(alice));
      expect(res.statusCode, scope).toBe(400);
      expect(res.json().errors[0].code, scope).toBe('INVALID_REQUEST');
      expect(res.json().errors[0].message, scope).toMatch(/^Unable to decode repository and actions/);
      expect(res.headers['www-authenticate']).toBeUndefined();
    }
  });

  it('answers 400 NAME_INVALID for repository names that pass the grammar but not the naming rules', async () => {
    for (const scope of [`repository:${alice.username}/App:pull`, `repository:${alice.username}/-x:pull`, `repository:${alice.username}/${'a'.repeat(256)}:pull`]) {
      const res = await authReq([scope], creds(alice));
      expect(res.statusCode, scope).toBe(400);
      expect(res.json().errors[0].code, scope).toBe('NAME_INVALID');
    }
  });

  it('keeps the name as written (this host’s prefix included), in request order, duplicates kept', async () => {
    const repo = await makeRepo(t, alice);
    const name = `${alice.username}/${repo.name}`;
    const claims = await tokenClaims([`repository:${HOST}/${name}:pull`, `repository:${name}:pull`, `repository:${name}:pull`], creds(alice));
    expect(claims.access).toEqual([
      { type: 'repository', name: `${HOST}/${name}`, actions: ['pull'] },
      { type: 'repository', name, actions: ['pull'] },
      { type: 'repository', name, actions: ['pull'] },
    ]);
  });

  it('reads a one-segment name as library/<name>, and skips empty scopes when authenticated', async () => {
    const library = await makeOrg(t, [], 'library');
    const repo = await makeRepo(t, library, { visibility: 'public' });
    const claims = await tokenClaims([`repository:${repo.name}:pull`, ''], creds(bob));
    expect(claims.access).toEqual([{ type: 'repository', name: repo.name, actions: ['pull'] }]);
    expect(claims.context['com.apostille.roots']).toEqual({ [`library/${repo.name}`]: '$disabled' });
  });

  it('reads every scope before deciding any: a bad one after a push creates nothing', async () => {
    const name = uniqueName('never');
    const res = await authReq([`repository:${alice.username}/${name}:push`, 'registry:catalog:*'], creds(alice));
    expect(res.statusCode).toBe(400);
    expect(await t.app.db.selectFrom('repository').select('id').where('name', '=', name).executeTakeFirst()).toBeUndefined();
  });
});

describe('downscoping (C.3)', () => {
  let org: Namespace;
  let repo: { id: number; name: string };
  let reader: TestUser;
  let writer: TestUser;
  let creator: TestUser;
  let scope: (actions: string) => string;

  beforeAll(async () => {
    reader = await makeUser(t);
    writer = await makeUser(t);
    creator = await makeUser(t);
    org = await makeOrg(t, [alice]);
    await makeTeam(t, org, 'creator', [creator]);
    repo = await makeRepo(t, org);
    await grant(t, repo, { userId: reader.id }, 'read');
    await grant(t, repo, { userId: writer.id }, 'write');
    scope = (actions) => `repository:${org.username}/${repo.name}:${actions}`;
  });

  it('grants what the role allows, always in the order push, pull, *', async () => {
    expect(await granted([scope('pull,push,*')], creds(reader))).toEqual([['pull']]);
    expect(await granted([scope('pull,push,*')], creds(writer))).toEqual([['push', 'pull']]);
    expect(await granted([scope('*,pull,push')], creds(alice))).toEqual([['push', 'pull', '*']]);
    expect(await granted([scope('pull,push')], creds(alice))).toEqual([['push', 'pull']]);
    expect(await granted([scope('push')], creds(writer))).toEqual([['push']]);
    expect(await granted([scope('*')], creds(writer))).toEqual([[]]);
  });

  it('gives nothing (200, empty actions) to an org creator who is not on the repository, to outsiders and to anonymous callers', async () => {
    expect(await granted([scope('pull,push,*')], creds(creator))).toEqual([[]]);
    expect(await granted([scope('pull,push,*')], creds(bob))).toEqual([[]]);
    expect(await granted([scope('pull')])).toEqual([[]]);
  });

  it('READ_ONLY and MIRROR repositories never grant push or *', async () => {
    const ro = await makeRepo(t, org);
    const mirror = await makeRepo(t, org);
    await setState(ro, 'READ_ONLY');
    await setState(mirror, 'MIRROR');
    expect(await granted([`repository:${org.username}/${ro.name}:push,pull,*`, `repository:${org.username}/${mirror.name}:push,pull,*`], creds(alice))).toEqual([['pull'], ['pull']]);
  });

  it('public repositories give pull to everyone, push to no outsider', async () => {
    const pub = await makeRepo(t, org, { visibility: 'public' });
    expect(await granted([`repository:${org.username}/${pub.name}:push,pull`], creds(bob))).toEqual([['pull']]);
    expect(await granted([`repository:${org.username}/${pub.name}:push,pull`], basic('$oauthtoken', await tokenFor(t, bob, 'user:read')))).toEqual([['pull']]);
  });

  it('answers 405 UNSUPPORTED for a repository that does not hold images, when access would be granted', async () => {
    const app = await makeRepo(t, org);
    await t.app.db.updateTable('repository').set({ kind: 'application' }).where('id', '=', app.id).execute();
    const res = await authReq([`repository:${org.username}/${app.name}:pull`], creds(alice));
    expect(res.statusCode).toBe(405);
    expect(res.json().errors[0].code).toBe('UNSUPPORTED');
    expect(await granted([`repository:${org.username}/${app.name}:pull`], creds(bob))).toEqual([[]]);
  });

  it('answers 405 DENIED for a disabled namespace, whoever asks', async () => {
    const u = await makeUser(t);
    const r = await makeRepo(t, u, { visibility: 'public' });
    await t.app.db.updateTable('namespace').set({ enabled: false }).where('id', '=', u.id).execute();
    for (const headers of [{}, creds(alice)]) {
      const res = await authReq([`repository:${u.username}/${r.name}:pull`], headers);
      expect(res.statusCode).toBe(405);
      expect(res.json().errors[0]).toMatchObject({ code: 'DENIED', message: `Namespace ${u.username} has been disabled. Please contact a system administrator.` });
    }
  });

  it('grants pull on a missing repository in a namespace the caller administers, and nothing elsewhere', async () => {
    const name = uniqueName('missing');
    expect(await granted([`repository:${alice.username}/${name}:pull,*`], creds(alice))).toEqual([['pull']]);
    expect(await granted([`repository:${org.username}/${name}:pull`], creds(alice))).toEqual([['pull']]);
    expect(await granted([`repository:${alice.username}/${name}:pull`], creds(bob))).toEqual([[]]);
    expect(await granted([`repository:${uniqueName('nons')}/${name}:pull,push`], creds(alice))).toEqual([[]]);
    expect(await t.app.db.selectFrom('repository').select('id').where('name', '=', name).executeTakeFirst()).toBeUndefined();
  });
});

describe('create on push (C.3, D.7)', () => {
  const findRepo = (ns: Namespace, name: string) =>
    t.app.db.selectFrom('repository').selectAll().where('namespace_id', '=', ns.id).where('name', '=', name).executeTakeFirst();
  const permissions = (repoId: number) =>
    t.app.db.selectFrom('repository_permission').select(['user_id', 'team_id', 'role']).where('repository_id', '=', repoId).orderBy('id').execute();

  it('creates a missing repository in the user’s own namespace: private, admin grant, no create_repo entry', async () => {
    const u = await makeUser(t);
    const before = (await auditRows(t, 'create_repo')).length;
    const name = `${uniqueName('new')}/nested`;
    expect(await granted([`repository:${u.username}/${name}:pull,push`], creds(u))).toEqual([['push', 'pull']]);
    const repo = await findRepo(u, name);
    expect(repo).toMatchObject({ visibility: 'private', kind: 'image', state: 'NORMAL', description: '' });
    expect(await permissions(repo!.id)).toEqual([{ user_id: u.id, team_id: null, role: 'admin' }]);
    expect((await auditRows(t, 'create_repo')).length).toBe(before);
  });

  it('applies the organization’s default permissions, and gives the creator (a user or a robot) an admin grant', async () => {
    const org = await makeOrg(t, [alice]);
    const member = await makeUser(t);
    const robot = await makeRobot(t, org);
    const readers = await makeTeam(t, org, 'member', []);
    await makeTeam(t, org, 'creator', [member, robot]);
    await t.app.db.insertInto('permission_prototype').values({ uuid: randomUUID(), org_id: org.id, activating_user_id: null, delegate_user_id: null, delegate_team_id: readers.id, role: 'read' }).execute();
    await t.app.db.insertInto('permission_prototype').values({ uuid: randomUUID(), org_id: org.id, activating_user_id: robot.id, delegate_user_id: bob.id, delegate_team_id: null, role: 'write' }).execute();

    const byMember = uniqueName('m');
    expect(await granted([`repository:${org.username}/${byMember}:push`], creds(member))).toEqual([['push']]);
    const m = (await findRepo(org, byMember))!;
    expect(await permissions(m.id)).toEqual([
      { user_id: member.id, team_id: null, role: 'admin' },
      { user_id: null, team_id: readers.id, role: 'read' },
    ]);

    const byRobot = uniqueName('r');
    expect(await granted([`repository:${org.username}/${byRobot}:push,pull`], basic(robot.username, robot.token))).toEqual([['push', 'pull']]);
    const r = (await findRepo(org, byRobot))!;
    expect(await permissions(r.id)).toEqual([
      { user_id: robot.id, team_id: null, role: 'admin' },
      { user_id: null, team_id: readers.id, role: 'read' },
      { user_id: bob.id, team_id: null, role: 'write' },
    ]);
  });

  it('creates nothing for a member without the creator role, an outsider, or a missing namespace', async () => {
    const org = await makeOrg(t, [alice]);
    const member = await makeUser(t);
    await makeTeam(t, org, 'member', [member]);
    const name = uniqueName('no');
    expect(await granted([`repository:${org.username}/${name}:push`], creds(member))).toEqual([[]]);
    expect(await granted([`repository:${alice.username}/${name}:push`], creds(bob))).toEqual([[]]);
    expect(await granted([`repository:${uniqueName('nons')}/${name}:push`], creds(alice))).toEqual([[]]);
    expect(await granted([`repository:${org.username}/${name}:push`])).toEqual([[]]);
    expect(await t.app.db.selectFrom('repository').select('id').where('name', '=', name).executeTakeFirst()).toBeUndefined();
  });

  it('needs repo:create (or org:admin) for an OAuth token, whose push is then granted even without repo:write', async () => {
    const u = await makeUser(t);
    const name = uniqueName('oauth');
    // Without repo:create: no repository, and only the pull any namespace admin gets on a missing one.
    expect(await granted([`repository:${u.username}/${name}:push,pull`], basic('$oauthtoken', await tokenFor(t, u, 'repo:write repo:read')))).toEqual([['pull']]);
    expect(await findRepo(u, name)).toBeUndefined();
    // Created, push granted; pull is capped by the token's scopes (none for repositories here).
    expect(await granted([`repository:${u.username}/${name}:push,pull`], basic('$oauthtoken', await tokenFor(t, u, 'repo:create')))).toEqual([['push']]);
    expect(await findRepo(u, name)).toBeDefined();
  });

  it('two concurrent pushes of the same new name create one repository, and both get push', async () => {
    const u = await makeUser(t);
    const name = uniqueName('race');
    const results = await Promise.all([0, 1, 2].map(() => granted([`repository:${u.username}/${name}:push`], creds(u))));
    expect(results).toEqual([[['push']], [['push']], [['push']]]);
    const rows = await t.app.db.selectFrom('repository').select('id').where('namespace_id', '=', u.id).where('name', '=', name).execute();
    expect(rows).toHaveLength(1);
  });
});

describe('the token (C.4)', () => {
  it('is an RS256 JWT with the instance key’s kid and exactly Quay’s claims', async () => {
    const repo = await makeRepo(t, alice);
    const before = Math.floor(Date.now() / 1000);
    const res = await authReq([`repository:${alice.username}/${repo.name}:pull`], creds(alice));
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-cache, no-store, must-revalidate');
    expect(res.headers['docker-distribution-api-version']).toBe('registry/2.0');
    const token = res.json().token as string;
    const { header, claims } = decode(token);
    const keyRow = await t.app.db.selectFrom('service_key').selectAll().where('service', '=', INSTANCE_KEY_SERVICE).executeTakeFirstOrThrow();
    expect(header).toEqual({ typ: 'JWT', alg: 'RS256', kid: keyRow.kid });
    expect(Object.keys(claims).sort()).toEqual(['access', 'aud', 'context', 'exp', 'iat', 'iss', 'nbf', 'sub']);
    expect(claims).toMatchObject({ iss: 'quay', aud: HOST, sub: alice.username });
    expect(claims.iat).toBe(claims.nbf);
    expect(claims.exp).toBe(claims.iat + 3600);
    expect(claims.iat).toBeGreaterThanOrEqual(before);
    expect(claims.iat).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
    // An independent implementation (jose) verifies it with the public JWK stored in the row.
    const key = await importJWK(keyRow.jwk as Record<string, string>, 'RS256');
    const verified = await jwtVerify(token, key, { issuer: 'quay', audience: HOST, algorithms: ['RS256'] });
    expect(verified.payload.sub).toBe(alice.username);
  });

  it('copies `service` into aud as sent; without it the token cannot be used', async () => {
    const other = await authReq([], creds(alice), t, 'other.example');
    expect(decode(other.json().token).claims.aud).toBe('other.example');
    const none = await authReq([], creds(alice), t, null);
    const { claims } = decode(none.json().token);
    expect(claims.aud).toBeNull();
    const use = await t.inject({ url: '/v2/', headers: { authorization: `Bearer ${none.json().token}` } });
    expect(use.statusCode).toBe(401);
  });

  it('only answers GET', async () => {
    const res = await t.inject({ method: 'POST', url: '/v2/auth', headers: creds(alice), payload: 'grant_type=password' });
    expect(res.statusCode).toBe(404);
    expect(res.json().errors[0].code).toBe('UNSUPPORTED');
  });
});

describe('the instance service key (C.4)', () => {
  it('is one approved row of service quay: kid = RFC 7638 thumbprint, private half encrypted at rest', async () => {
    const rows = await t.app.db.selectFrom('service_key').selectAll().where('service', '=', INSTANCE_KEY_SERVICE).execute();
    expect(rows).toHaveLength(1);
    const row = rows[0];
    const jwk = row.jwk as { kty: string; n: string; e: string; kid: string };
    expect(jwk.kty).toBe('RSA');
    expect(jwk.kid).toBe(row.kid);
    expect(jwkThumbprint(jwk)).toBe(row.kid);
    expect(Buffer.from(jwk.n, 'base64url').length).toBe(256); // 2048 bits
    expect(row).toMatchObject({ approval_type: 'Automatic' });
    // INSTANCE_SERVICE_KEY_EXPIRATION: 120 minutes by default (rotation: test/registry/key-rotation.test.ts).
    expect(row.expiration_date!.getTime() - row.created_date.getTime()).toBe(120 * 60_000);
    expect(row.approved_date).toBeInstanceOf(Date);
    expect(row.private_key_enc).toMatch(/^v1\./);
    expect(row.private_key_enc).not.toContain('PRIVATE KEY');
    const pem = t.app.secrets.decrypt(row.private_key_enc!)!;
    expect(pem).toContain('BEGIN PRIVATE KEY');
    // The RFC 7638 example key (appendix 3.1) gives the RFC's thumbprint.
    expect(
      jwkThumbprint({
        kty: 'RSA',
        e: 'AQAB',
        n: '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
      }),
    ).toBe('NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
  });

  it('is reused by the next start on the same database, and by a process racing this one', async () => {
    const first = await t.app.db.selectFrom('service_key').select('kid').executeTakeFirstOrThrow();
    const again = await testApp({}, t.database);
    try {
      const res = await authReq([], creds(alice), again);
      expect(decode(res.json().token).header.kid).toBe(first.kid);
    } finally {
      await again.app.close();
    }
    const raced = await Promise.all([0, 1, 2].map(() => ensureInstanceKey(t.app.db, t.app.secrets)));
    expect(new Set(raced.map((k) => k.kid))).toEqual(new Set([first.kid]));
    expect(await t.app.db.selectFrom('service_key').select('id').execute()).toHaveLength(1);
  });

  it('is made once when two servers start at the same moment on a database without one', async () => {
    const other = await testApp();
    try {
      await other.app.db.deleteFrom('service_key').execute();
      // Both look, find nothing, generate a key (tens of ms, asynchronously), then insert under the
      // advisory lock: the second sees the first one's key there and takes it.
      const [a, b] = await Promise.all([testApp({}, other.database), testApp({}, other.database)]);
      try {
        const rows = await other.app.db.selectFrom('service_key').select('kid').execute();
        expect(rows).toHaveLength(1);
        const u = await makeUser(a);
        for (const app of [a, b]) expect(decode((await authReq([], creds(u), app)).json().token).header.kid).toBe(rows[0].kid);
      } finally {
        await a.app.close();
        await b.app.close();
      }
    } finally {
      await other.close();
    }
  });

  it('is replaced when this server cannot read the stored private half (another DATABASE_SECRET_KEY)', async () => {
    const other = await testApp({}, undefined);
    try {
      // Encrypt the stored key under a different secret: the row stays, but is not usable here.
      const row = await other.app.db.selectFrom('service_key').selectAll().executeTakeFirstOrThrow();
      await other.app.db.updateTable('service_key').set({ private_key_enc: 'v1.AAAA.BBBB' }).where('id', '=', row.id).execute();
      const fresh = await ensureInstanceKey(other.app.db, other.app.secrets);
      expect(fresh.created).toBe(true);
      expect(fresh.kid).not.toBe(row.kid);
      const pub = createPublicKey(fresh.privateKey).export({ format: 'jwk' }) as { kty: string; n: string; e: string };
      expect(jwkThumbprint(pub)).toBe(fresh.kid);
    } finally {
      await other.close();
    }
  });

  it('follows INSTANCE_SERVICE_KEY_EXPIRATION: 0 makes a key that never expires, 90 one of 90 minutes', async () => {
    for (const [minutes, lifetime] of [[0, null], [90, 90 * 60_000]] as const) {
      const other = await testApp({ INSTANCE_SERVICE_KEY_EXPIRATION: minutes });
      try {
        const row = await other.app.db.selectFrom('service_key').selectAll().where('service', '=', INSTANCE_KEY_SERVICE).executeTakeFirstOrThrow();
        expect(row.expiration_date === null ? null : row.expiration_date.getTime() - row.created_date.getTime()).toBe(lifetime);
      } finally {
        await other.close();
      }
    }
  });
});

describe('feature switches', () => {
  let off: TestApp;
  let user: TestUser;
  beforeAll(async () => {
    off = await testApp({ FEATURE_ANONYMOUS_ACCESS: false, FEATURE_APP_SPECIFIC_TOKENS: false, FEATURE_LIBRARY_SUPPORT: false });
    user = await makeUser(off);
  });
  afterAll(() => off?.close());

  it('FEATURE_ANONYMOUS_ACCESS=false: anonymous and invalid credentials get 401 "Anonymous access is not allowed"', async () => {
    const pub = await makeRepo(off, user, { visibility: 'public' });
    expectUnauthorized(await authReq([`repository:${user.username}/${pub.name}:pull`], {}, off), 'Anonymous access is not allowed');
    const guesser = await makeUser(off);
    expectUnauthorized(await authReq([], basic(guesser.username, 'wrong'), off), 'Anonymous access is not allowed');
    expect((await authReq([`repository:${user.username}/${pub.name}:pull`], creds(user), off)).statusCode).toBe(200);
  });

  it('FEATURE_APP_SPECIFIC_TOKENS=false: `$app` is just an unknown user', async () => {
    const { code } = await appToken(off, user);
    expectUnauthorized(await authReq([], basic('$app', code), off));
  });

  it('FEATURE_LIBRARY_SUPPORT=false: a one-segment name is NAME_INVALID', async () => {
    const res = await authReq(['repository:ubuntu:pull'], creds(user), off);
    expect(res.statusCode).toBe(400);
    expect(res.json().errors[0]).toMatchObject({ code: 'NAME_INVALID', message: 'A namespace must be specified explicitly' });
  });
});

describeWithTools('real clients log in', ['skopeo', 'podman'], () => {
  let live: TestApp;
  let host: string;
  let session: ClientSession;
  let user: TestUser;
  beforeAll(async () => {
    const port = await freeLoopbackPort();
    host = `127.0.0.1:${port}`;
    live = await testApp({ SERVER_HOSTNAME: host });
    await live.app.listen({ port, host: '127.0.0.1' });
    expect((live.app.server.address() as AddressInfo).port).toBe(port);
    user = await makeUser(live);
    session = new ClientSession();
  }, 60_000);
  afterAll(async () => {
    session?.close();
    await live?.close();
  });

  it('skopeo and podman log in with a password, `$oauthtoken`, `$app` and a robot', async () => {
    const org = await makeOrg(live, [user]);
    const robot = await makeRobot(live, org);
    const oauth = await tokenFor(live, user, 'repo:read');
    const { code } = await appToken(live, user);
    for (const cred of [
      { username: user.username, password: user.password },
      { username: '$oauthtoken', password: oauth },
      { username: '$app', password: code },
      { username: robot.username, password: robot.token },
    ]) {
      session.addSecret(cred.password);
      await session.skopeo.login(host, cred);
      await session.podman.login(host, cred);
    }
    session.addSecret('wrong-password');
    await expect(session.skopeo.login(host, { username: user.username, password: 'wrong-password' })).rejects.toThrow();
  }, 120_000);
});
