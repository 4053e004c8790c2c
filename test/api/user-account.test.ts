// A user's own account (src/api/user-account.ts): changeUserDetails, deleteCurrentUser,
// generateUserClientKey, convertUserToOrganization and the OAuth authorizations the user granted.
// Mail (e-mail change, recovery, "password changed") goes through a real SMTP server on 127.0.0.1.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INVALID_PASSWORD_MESSAGE } from '../../src/auth/passwords.js';
import { collectGarbage } from '../../src/jobs/gc.js';
import { blobKey } from '../../src/storage/index.js';
import { testApp, type TestApp } from '../helpers/app.js';
import {
  anonymousSession,
  auditRows,
  bearer,
  makeOrg,
  makeRepo,
  makeRobot,
  makeTeam,
  makeUser,
  signIn,
  tokenFor,
  uniqueName,
  type BrowserSession,
  type TestUser,
} from '../helpers/factories.js';
import { basicAuth, makeImage, repoScope, RegistryClient } from '../helpers/registry.js';
import { codeFromMail, startMailbox, type Mailbox } from '../helpers/smtp.js';

const FULL = 'repo:read repo:write repo:admin repo:create user:read user:admin org:admin';
const HOUR = 3600_000;

let t: TestApp; // FEATURE_USER_METADATA and FEATURE_USER_RENAME on, no mail
let plain: TestApp; // defaults (no metadata, no rename), FEATURE_CHANGE_TAG_EXPIRATION off
beforeAll(async () => {
  t = await testApp({ FEATURE_USER_METADATA: true, FEATURE_USER_RENAME: true, SUPER_USERS: 'accountroot' });
  plain = await testApp({ FEATURE_CHANGE_TAG_EXPIRATION: false });
});
afterAll(async () => {
  await t?.close();
  await plain?.close();
});

type Res = { statusCode: number; json(): any; body: string };

function expectApiError(res: Res, status: number, type: string, detail?: string) {
  expect(res.statusCode, res.body).toBe(status);
  const body = res.json();
  expect(body.title).toBe(type);
  expect(body.error_type).toBe(type);
  if (detail !== undefined) expect(body.detail).toBe(detail);
}

/** Quay's `{message}` errors; the API's error envelope keys come with them. */
function expectMessage(res: Res, status: number, text: string) {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.json()).toMatchObject({ message: text, status });
}

const full = async (app: TestApp, u: TestUser) => bearer(await tokenFor(app, u, FULL));
const put = (app: TestApp, headers: Record<string, string>, payload: object) => app.inject({ method: 'PUT', url: '/api/v1/user/', headers, payload });
const row = (app: TestApp, id: number) => app.app.db.selectFrom('namespace').selectAll().where('id', '=', id).executeTakeFirst();
const byName = (app: TestApp, name: string) => app.app.db.selectFrom('namespace').selectAll().where('username', '=', name).executeTakeFirst();
const audit = async (app: TestApp, kind: string, accountId: number) =>
  (await auditRows(app, kind)).filter((r) => r.account_id === accountId).map((r) => r.metadata);
const me = (app: TestApp, headers: Record<string, string>) => app.inject({ url: '/api/v1/user/', headers });
const signinStatus = async (app: TestApp, username: string, password: string) => {
  const s = await anonymousSession(app);
  return (await app.inject({ method: 'POST', url: '/api/v1/signin', headers: s.headers, payload: { username, password } })).statusCode;
};
const registryLogin = (app: TestApp, username: string, password: string) =>
  app.inject({ url: `/v2/auth?service=${app.config.SERVER_HOSTNAME}`, headers: { authorization: basicAuth({ username, password }) } });

/** Every account-change audit kind of the user, for "nothing was written" checks. */
const CHANGE_KINDS = ['account_change_password', 'user_change_email', 'user_change_name', 'user_change_tag_expiration', 'user_change_invoicing', 'user_change_metadata'];
async function changeAudits(app: TestApp, id: number) {
  return app.app.db.selectFrom('log_entry').select('kind').where('account_id', '=', id).where('kind', 'in', CHANGE_KINDS).execute();
}

describe('changeUserDetails', () => {
  it('changes invoicing, tag expiration, metadata and (without mail) the address at once, with Quay\'s log kinds', async () => {
    const u = await makeUser(t);
    const h = await full(t, u);
    const email = `${uniqueName('new')}@example.com`;
    const res = await put(t, h, {
      invoice_email: true,
      invoice_email_address: 'billing@example.com',
      tag_expiration_s: 86400,
      email,
      given_name: 'Ada',
      family_name: null,
      company: 'ACME',
      unknown_key: 'ignored',
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({
      username: u.username, is_me: true, email, verified: true, invoice_email: true, invoice_email_address: 'billing@example.com',
      tag_expiration_s: 86400, given_name: 'Ada', family_name: null, company: 'ACME', location: null, organizations: [],
    });
    expect(await row(t, u.id)).toMatchObject({ email, invoice_email: true, tag_expiration_s: 86400, given_name: 'Ada', company: 'ACME' });
    const viaToken = (m: object) => expect.objectContaining({ ...m, oauth_token_application: 'automation' });
    expect(await audit(t, 'user_change_invoicing', u.id)).toEqual([viaToken({ invoice_email: true }), viaToken({ invoice_email_address: 'billing@example.com' })]);
    expect(await audit(t, 'user_change_tag_expiration', u.id)).toEqual([viaToken({ tag_expiration: 86400 })]);
    expect(await audit(t, 'user_change_email', u.id)).toEqual([viaToken({ email, old_email: u.email })]);
    expect(await audit(t, 'user_change_metadata', u.id)).toEqual([viaToken({ given_name: 'Ada', family_name: null, company: 'ACME' })]);
    expect((await auditRows(t, 'user_change_email')).find((r) => r.account_id === u.id)!.performer_id).toBe(u.id);

    // The same values again: the unchanged address and invoice address write nothing new.
    expect((await put(t, h, { email, invoice_email_address: 'billing@example.com' })).statusCode).toBe(200);
    expect(await audit(t, 'user_change_email', u.id)).toHaveLength(1);
    expect(await audit(t, 'user_change_invoicing', u.id)).toHaveLength(2);
    // An empty invoice address is stored as null.
    expect((await put(t, h, { invoice_email_address: '' })).json().invoice_email_address).toBeNull();
  });

  it('changes the password from a session: other sessions end, the caller is logged in again, tokens stay', async () => {
    const u = await makeUser(t);
    const caller = await signIn(t, u);
    const other = await signIn(t, u);
    const token = await full(t, u);
    // A failed login from elsewhere is forgotten with the change.
    await t.inject({ method: 'POST', url: '/api/v1/signin', headers: { ...(await anonymousSession(t)).headers }, payload: { username: u.username, password: 'wrong-password' }, remoteAddress: '10.9.8.7' });
    expect(await t.app.db.selectFrom('auth_failure').select('ip').where('subject', '=', `user:${u.id}`).execute()).toHaveLength(1);

    const res = await put(t, caller.headers, { password: 'new-password-123' });
    expect(res.statusCode, res.body).toBe(200);
    const next = res.headers['x-next-csrf-token'];
    const cookie = res.cookies.find((c) => c.name === '_csrf_token')?.value;
    expect(next).toBeTruthy();
    expect(cookie && cookie !== caller.cookie).toBe(true);
    const renewed = { cookie: `_csrf_token=${cookie}`, 'x-csrf-token': String(next) };
    expect((await me(t, renewed)).json().username).toBe(u.username);
    // The renewed session is fresh: another sensitive change goes through with it.
    expect((await put(t, renewed, { invoice_email: true })).statusCode).toBe(200);
    expect((await me(t, other.headers)).statusCode).toBe(401);
    expect((await me(t, caller.headers)).statusCode).toBe(401); // the old cookie was replaced
    expect((await me(t, token)).statusCode).toBe(200);
    expect(await t.app.db.selectFrom('auth_failure').select('ip').where('subject', '=', `user:${u.id}`).execute()).toEqual([]);
    expect(await signinStatus(t, u.username, 'new-password-123')).toBe(200);
    expect(await signinStatus(t, u.username, u.password)).toBe(403);
    expect(await audit(t, 'account_change_password', u.id)).toEqual([{}]);
  });

  it('refuses a bad password and changes nothing else sent with it', async () => {
    const u = await makeUser(t);
    const h = await full(t, u);
    for (const password of ['short', 'has white space']) {
      expectApiError(await put(t, h, { password, invoice_email: true, given_name: 'X' }), 400, 'invalid_request', INVALID_PASSWORD_MESSAGE);
    }
    expect(await row(t, u.id)).toMatchObject({ invoice_email: false, given_name: null, password_hash: u.password_hash });
    expect(await changeAudits(t, u.id)).toEqual([]);
  });

  it('refuses a tag expiration that is not one of TAG_EXPIRATION_OPTIONS, and negative ones', async () => {
    const u = await makeUser(t);
    const h = await full(t, u);
    expectMessage(await put(t, h, { tag_expiration_s: 12345, password: 'another-password', invoice_email: true }), 400, 'Invalid tag expiration option');
    expectApiError(await put(t, h, { tag_expiration_s: -1 }), 400, 'invalid_request');
    expectApiError(await put(t, h, { tag_expiration_s: 1.5 }), 400, 'invalid_request');
    expect(await row(t, u.id)).toMatchObject({ tag_expiration_s: u.tag_expiration_s, invoice_email: false, password_hash: u.password_hash });
    expect(await signinStatus(t, u.username, u.password)).toBe(200);
    expect(await changeAudits(t, u.id)).toEqual([]);
  });

  it('refuses an invalid or taken address, and nothing changes', async () => {
    const u = await makeUser(t);
    const other = await makeUser(t);
    const org = await makeOrg(t, [other]);
    const h = await full(t, u);
    expectMessage(await put(t, h, { email: 'not-an-address', company: 'X' }), 400, 'Invalid email address: not-an-address');
    expectApiError(await put(t, h, { email: other.email, password: 'another-password' }), 400, 'invalid_request', 'E-mail address already used');
    expectApiError(await put(t, h, { email: org.email, tag_expiration_s: 0 }), 400, 'invalid_request', 'E-mail address already used');
    expect(await row(t, u.id)).toMatchObject({ email: u.email, company: null, password_hash: u.password_hash, tag_expiration_s: u.tag_expiration_s });
    expect(await changeAudits(t, u.id)).toEqual([]);
  });

  it('renames with FEATURE_USER_RENAME: robots and repositories follow, credentials keep working', async () => {
    const u = await makeUser(t);
    const s = await signIn(t, u);
    const h = await full(t, u);
    const robot = await makeRobot(t, u, 'builder');
    const repo = await makeRepo(t, u, { name: 'app' });
    const newName = uniqueName('renamed');
    const res = await put(t, s.headers, { username: newName });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ username: newName, is_me: true });
    expect((await row(t, robot.id))!.username).toBe(`${newName}+builder`);
    expect((await t.inject({ url: `/api/v1/repository/${newName}/app`, headers: h })).json()).toMatchObject({ namespace: newName, name: repo.name });
    expect((await me(t, s.headers)).json().username).toBe(newName);
    expect((await me(t, h)).json().username).toBe(newName);
    expect(await signinStatus(t, newName, u.password)).toBe(200);
    expect(await audit(t, 'user_change_name', u.id)).toEqual([{ old_username: u.username }]);
    // The robot's token logs in under its new name; the old name is free again.
    expect((await registryLogin(t, `${newName}+builder`, robot.token)).statusCode).toBe(200);
    expect((await registryLogin(t, `${u.username}+builder`, robot.token)).statusCode).toBe(401);
    expect(await byName(t, u.username)).toBeUndefined();
    await makeUser(t, { username: u.username, email: `${uniqueName('again')}@example.com` });
  });

  it('refuses a taken or invalid name, and a superuser rename, changing nothing', async () => {
    const u = await makeUser(t);
    const h = await full(t, u);
    const org = await makeOrg(t, [u]);
    const taker = await makeUser(t);
    expectApiError(await put(t, h, { username: org.username, invoice_email: true }), 400, 'invalid_request', 'Username is already in use');
    expectApiError(await put(t, h, { username: taker.username, invoice_email: true }), 400, 'invalid_request', 'Username is already in use');
    expectMessage(await put(t, h, { username: 'Bad Name', invoice_email: true }), 400, 'Invalid username Bad Name: Namespace must match expression ^([a-z0-9]+(?:[._-][a-z0-9]+)*)$');
    expectMessage(await put(t, h, { username: 'x' }), 400, 'Invalid username x: Namespace must be between 2 and 255 characters in length');
    expectApiError(await put(t, h, { username: 'accountroot' }), 400, 'invalid_request', 'Username is already in use');
    expect(await row(t, u.id)).toMatchObject({ username: u.username, invoice_email: false });
    expect(await changeAudits(t, u.id)).toEqual([]);

    const root = await makeUser(t, { username: 'accountroot' });
    expectApiError(await put(t, await full(t, root), { username: uniqueName('root') }), 400, 'invalid_request', 'A superuser account cannot be renamed');
    expect((await row(t, root.id))!.username).toBe('accountroot');
  });

  it('ignores the name, metadata and tag expiration when their features are off', async () => {
    const u = await makeUser(plain);
    const res = await put(plain, await full(plain, u), { username: uniqueName('renamed'), given_name: 'Ada', location: 'Moon', tag_expiration_s: 86400, invoice_email: true });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ username: u.username, given_name: null, location: null, tag_expiration_s: u.tag_expiration_s, invoice_email: true });
    expect(await row(plain, u.id)).toMatchObject({ username: u.username, given_name: null, tag_expiration_s: u.tag_expiration_s });
    expect((await changeAudits(plain, u.id)).map((r) => r.kind)).toEqual(['user_change_invoicing']);
  });

  it('needs a fresh login for sessions (tokens pass) and user:admin; disabled users are refused', async () => {
    const u = await makeUser(t);
    const s = await signIn(t, u);
    await t.app.db.updateTable('session').set({ login_time: new Date(Date.now() - 2 * HOUR) }).where('user_id', '=', u.id).execute();
    expectApiError(await put(t, s.headers, { password: 'stale-session-pw', invoice_email: true }), 401, 'fresh_login_required', 'Requires fresh login');
    expectApiError(await t.inject({ method: 'DELETE', url: '/api/v1/user/', headers: s.headers }), 401, 'fresh_login_required');
    expect(await row(t, u.id)).toMatchObject({ invoice_email: false, password_hash: u.password_hash });
    // signin/verify refreshes it.
    expect((await t.inject({ method: 'POST', url: '/api/v1/signin/verify', headers: s.headers, payload: { password: u.password } })).statusCode).toBe(200);
    const fresh = await signIn(t, u);
    expect((await put(t, fresh.headers, { invoice_email: true })).statusCode).toBe(200);
    expectApiError(await put(t, bearer(await tokenFor(t, u, 'user:read repo:admin')), { invoice_email: false }), 403, 'insufficient_scope');

    const token = await full(t, u);
    await t.app.db.updateTable('namespace').set({ enabled: false }).where('id', '=', u.id).execute();
    t.app.authCache.clear();
    // The token no longer authenticates: the request goes on anonymously (a write meets the CSRF
    // check first, as in Quay); the session keeps its CSRF token but signs nobody in.
    expectApiError(await t.inject({ url: '/api/v1/user/authorizations', headers: token }), 401, 'invalid_token');
    expect((await put(t, token, { invoice_email: false })).statusCode).toBe(403);
    expectApiError(await put(t, fresh.headers, { invoice_email: false }), 401, 'invalid_token');
    expect((await t.inject({ method: 'POST', url: '/api/v1/user/clientkey', headers: token, payload: { password: u.password } })).statusCode).toBe(403);
    expect((await row(t, u.id))!.invoice_email).toBe(true);
  });
});

describe('deleteCurrentUser', () => {
  it('refuses the only admin of organizations with Quay\'s message, and deletes nothing', async () => {
    const u = await makeUser(t);
    const h = await full(t, u);
    const a = await makeOrg(t, [u], uniqueName('zorg'));
    const b = await makeOrg(t, [u], uniqueName('aorg'));
    // A robot in the admin team is no second admin; a disabled user is none either.
    const disabled = await makeUser(t);
    await t.app.db.updateTable('namespace').set({ enabled: false }).where('id', '=', disabled.id).execute();
    await makeTeam(t, a, 'admin', [await makeRobot(t, a), disabled]);
    // An org where u is only a member, and one with a second admin, do not count.
    await makeOrg(t, [u, await makeUser(t)]);
    await makeTeam(t, await makeOrg(t, [await makeUser(t)]), 'member', [u]);
    const res = await t.inject({ method: 'DELETE', url: '/api/v1/user/', headers: h });
    expectMessage(res, 400, `Cannot delete ${u.username} as you are the only admin for organizations: ${b.username}, ${a.username}`);
    expect(await row(t, u.id)).toBeDefined();
    expect((await me(t, h)).statusCode).toBe(200);
    expect(await audit(t, 'user_delete', u.id)).toEqual([]);

    // With a second admin in each, the account goes.
    const second = await makeUser(t);
    await makeTeam(t, a, 'admin', [second]);
    await makeTeam(t, b, 'admin', [second]);
    expect((await t.inject({ method: 'DELETE', url: '/api/v1/user/', headers: h })).statusCode).toBe(204);
    expect(await row(t, u.id)).toBeUndefined();
    expect((await byName(t, a.username))!.organization).toBe(true);
  });

  it('deletes the account with what it owns; the session ends; blobs go after the GC grace period', async () => {
    const u = await makeUser(t);
    const s = await signIn(t, u);
    const token = await full(t, u);
    const robot = await makeRobot(t, u, 'ci');
    const name = `${u.username}/${uniqueName('repo')}`;
    const c = await RegistryClient.login(t, u, [repoScope(name)]);
    const image = makeImage();
    expect((await c.pushImage(name, image, 'latest')).statusCode).toBe(201);
    const digests = image.blobs.map((b) => b.descriptor.digest);
    const inStorage = async (d: string) => (await t.app.storage.stat(blobKey(d))) !== undefined;
    for (const d of digests) expect(await inStorage(d)).toBe(true);

    const res = await t.inject({ method: 'DELETE', url: '/api/v1/user/', headers: s.headers });
    expect(res.statusCode, res.body).toBe(204);
    expect(res.body).toBe('');
    expect((await me(t, s.headers)).statusCode).toBe(401);
    expect((await me(t, token)).statusCode).toBe(401);
    expect(await row(t, u.id)).toBeUndefined();
    expect(await row(t, robot.id)).toBeUndefined();
    expect(await t.app.db.selectFrom('repository').select('id').where('namespace_id', '=', u.id).execute()).toEqual([]);
    expect(await t.app.db.selectFrom('session').select('id').where('user_id', '=', u.id).execute()).toEqual([]);
    expect((await auditRows(t, 'user_delete')).filter((r) => r.account_id === u.id).map((r) => [r.performer_id, r.metadata])).toEqual([
      [u.id, { username: u.username }],
    ]);
    expect((await registryLogin(t, u.username, u.password)).statusCode).toBe(401);

    // The queued jobs run now: the blobs were pushed moments ago, within the grace period, so they stay.
    await t.app.jobs.runPending();
    for (const d of digests) expect(await inStorage(d), d).toBe(true);
    // Seen from two hours later (GC_GRACE_PERIOD is 1h), nothing references them: gone, bytes and all.
    await collectGarbage({ db: t.app.db, storage: t.app.storage }, { graceS: t.config.GC_GRACE_PERIOD, now: Date.now() + 2 * HOUR });
    for (const d of digests) {
      expect(await inStorage(d), d).toBe(false);
      expect(await t.app.db.selectFrom('blob').select('id').where('digest', '=', d).executeTakeFirst()).toBeUndefined();
    }
    // The name and the address are free again.
    await makeUser(t, { username: u.username, email: u.email! });
  });
});

describe('generateUserClientKey', () => {
  it('returns an encrypted password that /v2/auth accepts in place of the password, until the password changes', async () => {
    const u = await makeUser(t);
    const h = await full(t, u);
    const res = await t.inject({ method: 'POST', url: '/api/v1/user/clientkey', headers: h, payload: { password: u.password } });
    expect(res.statusCode, res.body).toBe(200);
    const { key } = res.json();
    expect(Object.keys(res.json())).toEqual(['key']);
    expect(key).not.toContain(u.password);
    expect(await audit(t, 'user_generate_client_key', u.id)).toEqual([expect.objectContaining({ oauth_token_application: 'automation' })]);

    const name = `${u.username}/keyed`;
    const login = await t.inject({
      url: `/v2/auth?service=${t.config.SERVER_HOSTNAME}&scope=${encodeURIComponent(repoScope(name))}`,
      headers: { authorization: basicAuth({ username: u.username, password: key }) },
    });
    expect(login.statusCode, login.body).toBe(200);
    const claims = JSON.parse(Buffer.from(login.json().token.split('.')[1], 'base64url').toString());
    expect(claims.sub).toBe(u.username);
    expect(claims.access).toEqual([{ type: 'repository', name, actions: expect.arrayContaining(['push', 'pull']) }]);
    // It stands for the password only: another user (with another password) cannot use it.
    expect((await registryLogin(t, (await makeUser(t, { password: 'another-password-9' })).username, key)).statusCode).toBe(401);

    expect((await put(t, h, { password: 'changed-password-1' })).statusCode).toBe(200);
    expect((await registryLogin(t, u.username, key)).statusCode).toBe(401);
  });

  it('refuses a wrong password with Quay\'s error and writes nothing', async () => {
    const u = await makeUser(t);
    const res = await t.inject({ method: 'POST', url: '/api/v1/user/clientkey', headers: await full(t, u), payload: { password: 'wrong-password' } });
    expectApiError(res, 400, 'invalid_request', 'Invalid Username or Password');
    expect(await audit(t, 'user_generate_client_key', u.id)).toEqual([]);
    expectApiError(await t.inject({ method: 'POST', url: '/api/v1/user/clientkey', headers: await full(t, u), payload: {} }), 400, 'invalid_request');
  });
});

describe('convertUserToOrganization', () => {
  const convert = (headers: Record<string, string>, payload: object) => t.inject({ method: 'POST', url: '/api/v1/user/convert', headers, payload });

  it('refuses bad input with Quay\'s messages, and the account stays a user', async () => {
    const u = await makeUser(t);
    const admin = await makeUser(t);
    const guessed = await makeUser(t); // a failed password check makes the next one wait: its own admin
    const h = await full(t, u);
    const invalidUser = (res: Res, detail: string) => {
      expectApiError(res, 400, 'invalid_request', detail);
      expect(res.json().reason).toBe('invaliduser');
    };
    expectApiError(await convert(h, { adminUser: admin.username }), 400, 'invalid_request', "'adminPassword' is a required property");
    invalidUser(await convert(h, { adminUser: uniqueName('nobody'), adminPassword: 'whatever-pw' }), 'The admin user credentials are not valid');
    invalidUser(await convert(h, { adminUser: guessed.username, adminPassword: 'wrong-password' }), 'The admin user credentials are not valid');
    invalidUser(await convert(h, { adminUser: u.username, adminPassword: u.password }), 'The admin user is not valid');
    const org = await makeOrg(t, [admin]);
    await makeTeam(t, org, 'member', [u]);
    invalidUser(
      await convert(h, { adminUser: admin.username, adminPassword: admin.password }),
      `This account cannot be converted into an organization, as it is a member of other organizations: ${org.username}`,
    );
    expect(await row(t, u.id)).toMatchObject({ organization: false, password_hash: u.password_hash });
    expect(await audit(t, 'account_convert', u.id)).toEqual([]);
    expect((await me(t, h)).statusCode).toBe(200);
  });

  it('turns the account into an organization administered by the admin user, and signs the browser in as the admin', async () => {
    const u = await makeUser(t);
    const admin = await makeUser(t);
    const s = await signIn(t, u);
    const token = await full(t, u);
    const repo = await makeRepo(t, u);
    const res = await convert(s.headers, { adminUser: admin.username, adminPassword: admin.password, plan: 'free' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ success: true });
    const cookie = res.cookies.find((c) => c.name === '_csrf_token')!.value;
    expect((await me(t, { cookie: `_csrf_token=${cookie}` })).json().username).toBe(admin.username);
    expect((await me(t, s.headers)).statusCode).toBe(401);
    expect((await me(t, token)).statusCode).toBe(401);
    expect(await row(t, u.id)).toMatchObject({ organization: true, password_hash: null });
    expect(await signinStatus(t, u.username, u.password)).toBe(403);
    const adminH = await full(t, admin);
    const org = await t.inject({ url: `/api/v1/organization/${u.username}`, headers: adminH });
    expect(org.json()).toMatchObject({ name: u.username, is_admin: true });
    expect((await t.inject({ url: `/api/v1/repository/${u.username}/${repo.name}`, headers: adminH })).statusCode).toBe(200);
    expect((await auditRows(t, 'account_convert')).filter((r) => r.account_id === u.id).map((r) => r.performer_id)).toEqual([u.id]);
  });
});

describe('OAuth authorizations the user granted', () => {
  it('lists, shows and revokes them; revocation is effective at once; other users\' tokens are not found', async () => {
    const u = await makeUser(t);
    const other = await makeUser(t);
    const owner = await makeOrg(t, [other]);
    const h = await full(t, u);
    const appRow = await t.app.db
      .insertInto('oauth_application')
      .values({ client_id: uniqueName('CLIENT'), client_secret_enc: 'x', redirect_uri: 'https://ci.example/cb', application_uri: 'https://ci.example', organization_id: owner.id, name: 'ci', description: 'CI system', avatar_email: null })
      .returningAll()
      .executeTakeFirstOrThrow();
    const { mintAccessToken } = await import('../../src/auth/tokens.js');
    const granted = await mintAccessToken(t.app.db, { applicationId: appRow.id, userId: u.id, username: u.username, scope: 'repo:read user:read' });
    const grantedH = bearer(granted.token);
    expect((await me(t, grantedH)).statusCode).toBe(200);
    const uuidOf = async () =>
      (await t.app.db.selectFrom('oauth_access_token').select('uuid').where('authorized_user_id', '=', u.id).where('application_id', '=', appRow.id).executeTakeFirstOrThrow()).uuid;
    const uuid = await uuidOf();

    const list = await t.inject({ url: '/api/v1/user/authorizations', headers: h });
    expect(list.statusCode, list.body).toBe(200);
    const view = list.json().authorizations.find((a: { uuid: string }) => a.uuid === uuid);
    expect(view).toEqual({
      uuid,
      application: {
        name: 'ci', description: 'CI system', url: 'https://ci.example',
        avatar: expect.objectContaining({ name: 'ci', kind: 'app' }),
        organization: { name: owner.username, avatar: expect.objectContaining({ name: owner.username, kind: 'org' }) },
      },
      scopes: [
        { scope: 'repo:read', title: 'View all visible repositories', description: expect.any(String), icon: 'fa-hdd-o', dangerous: false },
        { scope: 'user:read', title: 'Read User Information', description: expect.any(String), icon: 'fa-user', dangerous: false },
      ],
    });
    // The caller's own automation token is listed too.
    expect(list.json().authorizations).toHaveLength(2);
    expect((await t.inject({ url: `/api/v1/user/authorizations/${uuid}`, headers: h })).json()).toEqual(view);

    // Another user sees neither it in the list nor by uuid, and cannot revoke it.
    const oh = await full(t, other);
    expect((await t.inject({ url: '/api/v1/user/authorizations', headers: oh })).json().authorizations.map((a: { uuid: string }) => a.uuid)).not.toContain(uuid);
    expectApiError(await t.inject({ url: `/api/v1/user/authorizations/${uuid}`, headers: oh }), 404, 'not_found');
    expectApiError(await t.inject({ method: 'DELETE', url: `/api/v1/user/authorizations/${uuid}`, headers: oh }), 404, 'not_found');
    expect((await me(t, grantedH)).statusCode).toBe(200);

    const del = await t.inject({ method: 'DELETE', url: `/api/v1/user/authorizations/${uuid}`, headers: h });
    expect(del.statusCode, del.body).toBe(204);
    expect((await me(t, grantedH)).statusCode).toBe(401);
    expectApiError(await t.inject({ url: `/api/v1/user/authorizations/${uuid}`, headers: h }), 404, 'not_found');
    expectApiError(await t.inject({ method: 'DELETE', url: `/api/v1/user/authorizations/${uuid}`, headers: h }), 404, 'not_found');
    expectApiError(await t.inject({ url: '/api/v1/user/authorizations/not-a-uuid', headers: h }), 404, 'not_found');
  });
});

describe('with mail (FEATURE_MAILING)', () => {
  let mail: Mailbox;
  let m: TestApp;
  beforeAll(async () => {
    mail = await startMailbox();
    m = await testApp(mail.config());
  });
  afterAll(async () => {
    await m?.close();
    await mail?.close();
  });
  const mailTo = (to: string, before: number) => mail.waitFor(to, (x) => mail.mails.indexOf(x) >= before);
  const cookieOf = (res: { cookies: { name: string; value: string }[] }) => res.cookies.find((c) => c.name === '_csrf_token')?.value;

  it('changes the address when the link mailed to the new one is followed, and tells the old one', async () => {
    const u = await makeUser(m);
    const h = await full(m, u);
    const newEmail = `${uniqueName('moved')}@example.com`;
    const before = mail.mails.length;
    const res = await put(m, h, { email: newEmail });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().email).toBe(u.email); // not yet
    expect(await audit(m, 'user_change_email', u.id)).toEqual([]);
    const code = codeFromMail(await mailTo(newEmail, before), '/confirm');

    const after = mail.mails.length;
    const confirm = await m.inject({ url: `/confirm?code=${encodeURIComponent(code)}` });
    expect(confirm.statusCode, confirm.body).toBe(302);
    expect((await me(m, { cookie: `_csrf_token=${cookieOf(confirm)}` })).json()).toMatchObject({ username: u.username, email: newEmail, verified: true });
    expect(await row(m, u.id)).toMatchObject({ email: newEmail, verified: true });
    expect(await audit(m, 'user_change_email', u.id)).toEqual([{ email: newEmail, old_email: u.email }]);
    const told = await mailTo(u.email!, after);
    expect(told.text).toContain(newEmail);
    expect((await m.inject({ url: `/confirm?code=${encodeURIComponent(code)}` })).statusCode).toBe(400);
  });

  it('refuses the link when the address was taken meanwhile, and keeps the newest request only', async () => {
    const u = await makeUser(m);
    const h = await full(m, u);
    const first = `${uniqueName('first')}@example.com`;
    const second = `${uniqueName('second')}@example.com`;
    let before = mail.mails.length;
    await put(m, h, { email: first });
    const firstCode = codeFromMail(await mailTo(first, before), '/confirm');
    before = mail.mails.length;
    await put(m, h, { email: second });
    const secondCode = codeFromMail(await mailTo(second, before), '/confirm');
    expect((await m.inject({ url: `/confirm?code=${encodeURIComponent(firstCode)}` })).statusCode).toBe(400);
    await makeUser(m, { email: second });
    const taken = await m.inject({ url: `/confirm?code=${encodeURIComponent(secondCode)}` });
    expect(taken.statusCode).toBe(400);
    expect(taken.body).toContain('E-mail address already used');
    expect(cookieOf(taken)).toBeUndefined();
    expect((await row(m, u.id))!.email).toBe(u.email);
  });

  it('does not apply a pending change to an account disabled meanwhile', async () => {
    const u = await makeUser(m);
    const newEmail = `${uniqueName('late')}@example.com`;
    const before = mail.mails.length;
    expect((await put(m, await full(m, u), { email: newEmail })).statusCode).toBe(200);
    const code = codeFromMail(await mailTo(newEmail, before), '/confirm');
    await m.app.db.updateTable('namespace').set({ enabled: false }).where('id', '=', u.id).execute();
    const res = await m.inject({ url: `/confirm?code=${encodeURIComponent(code)}` });
    expect(res.statusCode).toBe(400);
    expect(cookieOf(res)).toBeUndefined();
    expect((await row(m, u.id))!.email).toBe(u.email);
    expect(await audit(m, 'user_change_email', u.id)).toEqual([]);
  });

  it('answers 520 and keeps no code when the mail server refuses the confirmation mail', async () => {
    const u = await makeUser(m);
    mail.refuse(true);
    try {
      const res = await put(m, await full(m, u), { email: `${uniqueName('lost')}@example.com` });
      expectApiError(res, 520, 'downstream_issue');
    } finally {
      mail.refuse(false);
    }
    expect(await m.app.db.selectFrom('email_confirmation').select('id').where('user_id', '=', u.id).execute()).toEqual([]);
  });

  it('completes a recovery: the link signs in, the fresh session sets a new password, and the owner is told', async () => {
    const u = await makeUser(m);
    const elsewhere = await signIn(m, u); // e.g. whoever knew the old password
    const anon = await anonymousSession(m);
    let before = mail.mails.length;
    const asked = await m.inject({ method: 'POST', url: '/api/v1/recovery', headers: anon.headers, payload: { email: u.email } });
    expect(asked.json()).toEqual({ status: 'sent' });
    const code = codeFromMail(await mailTo(u.email!, before), '/recovery');
    const link = await m.inject({ url: `/recovery?code=${encodeURIComponent(code)}` });
    expect(link.statusCode).toBe(200);
    const cookie = `_csrf_token=${cookieOf(link)}`;
    const csrf = (await m.inject({ url: '/csrf_token', headers: { cookie } })).json().csrf_token;
    const session: BrowserSession['headers'] = { cookie, 'x-csrf-token': csrf };

    before = mail.mails.length;
    const res = await put(m, session, { password: 'recovered-password-1' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().username).toBe(u.username);
    const renewed = { cookie: `_csrf_token=${cookieOf(res)}`, 'x-csrf-token': String(res.headers['x-next-csrf-token']) };
    expect((await me(m, renewed)).json().username).toBe(u.username);
    expect((await me(m, elsewhere.headers)).statusCode).toBe(401);
    expect(await signinStatus(m, u.username, 'recovered-password-1')).toBe(200);
    expect(await signinStatus(m, u.username, u.password)).toBe(403);
    expect(await audit(m, 'account_change_password', u.id)).toEqual([{}]);
    expect((await mailTo(u.email!, before)).subject).toContain('password changed');
  });
});

describe('discovery', () => {
  it('lists the account operations as internal ones, with user:admin', async () => {
    const ops = (doc: any) =>
      Object.values(doc.paths as Record<string, Record<string, any>>).flatMap((p) => Object.values(p)).filter((o) => o && o.operationId);
    const internal = ops((await t.inject('/api/v1/discovery?internal=true')).json());
    const ids = ['changeUserDetails', 'deleteCurrentUser', 'generateUserClientKey', 'convertUserToOrganization', 'listUserAuthorizations', 'getUserAuthorization', 'deleteUserAuthorization'];
    for (const id of ids) {
      const op = internal.find((o) => o.operationId === id);
      expect(op, id).toBeDefined();
      expect(op.security).toEqual([{ oauth2_implicit: ['user:admin'] }]);
    }
    const publicIds = ops((await t.inject('/api/v1/discovery')).json()).map((o) => o.operationId);
    for (const id of ids) expect(publicIds).not.toContain(id);
  });
});
