import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp, type TestApp } from '../helpers/app.js';
import { auditRows, bearer, makeOrg, makeTeam, makeUser, signIn, tokenFor, uniqueName, anonymousSession } from '../helpers/factories.js';

let t: TestApp;
beforeAll(async () => {
  t = await testApp({ SUPER_USERS: 'rootadmin' });
});
afterAll(() => t?.close());

describe('GET /api/v1/user/ (getLoggedInUser)', () => {
  it('returns the full user view for a user:admin token, with organizations and their roles', async () => {
    const u = await makeUser(t);
    const org = await makeOrg(t, [u]);
    const other = await makeOrg(t, []);
    await makeTeam(t, other, 'creator', [u]);
    const res = await t.inject({ url: '/api/v1/user/', headers: bearer(await tokenFor(t, u, 'user:admin')) });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({
      anonymous: false,
      username: u.username,
      can_create_repo: true,
      is_me: true,
      verified: true,
      email: u.email,
      logins: [],
      invoice_email: false,
      invoice_email_address: null,
      preferred_namespace: false,
      tag_expiration_s: 1209600,
      prompts: [],
      is_free_account: true,
      has_password_set: true,
    });
    expect(body.avatar).toMatchObject({ name: u.username, kind: 'user' });
    expect(body.avatar.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(body.organizations).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: org.username, is_org_admin: true, can_create_repo: true, public: false }),
        expect.objectContaining({ name: other.username, is_org_admin: false, can_create_repo: true }),
      ]),
    );
    expect(body).not.toHaveProperty('super_user');
  });

  it('shows only the public part and organizations to a user:read token', async () => {
    const u = await makeUser(t);
    await makeOrg(t, [u]);
    const body = (await t.inject({ url: '/api/v1/user/', headers: bearer(await tokenFor(t, u, 'user:read')) })).json();
    expect(body.username).toBe(u.username);
    expect(body).not.toHaveProperty('email');
    expect(body).not.toHaveProperty('is_me');
    expect(body.organizations[0]).not.toHaveProperty('is_org_admin');
  });

  it('adds super_user: true only for a superuser holding super:user', async () => {
    const root = await makeUser(t, { username: 'rootadmin' });
    const withScope = (await t.inject({ url: '/api/v1/user/', headers: bearer(await tokenFor(t, root, 'user:admin super:user')) })).json();
    expect(withScope.super_user).toBe(true);
    const without = (await t.inject({ url: '/api/v1/user/', headers: bearer(await tokenFor(t, root, 'user:admin')) })).json();
    expect(without).not.toHaveProperty('super_user');
  });

  it('works with a session cookie', async () => {
    const u = await makeUser(t);
    const s = await signIn(t, u);
    const res = await t.inject({ url: '/api/v1/user/', headers: { cookie: `_csrf_token=${s.cookie}` } });
    expect(res.statusCode).toBe(200);
    expect(res.json().email).toBe(u.email);
  });

  it.each([
    ['anonymous', undefined],
    ['a token without user scopes', 'repo:read'],
  ])('answers 401 invalid_token with session_required=false for %s', async (_name, scope) => {
    const u = await makeUser(t);
    const headers = scope ? bearer(await tokenFor(t, u, scope)) : {};
    const res = await t.inject({ url: '/api/v1/user/', headers });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toEqual({
      status: 401,
      error_message: 'Requires authentication',
      title: 'invalid_token',
      error_type: 'invalid_token',
      detail: 'Requires authentication',
      type: 'http://localhost:8080/api/v1/error/invalid_token',
      session_required: false,
    });
  });

  it('treats an expired, revoked, malformed or unknown token as anonymous', async () => {
    const u = await makeUser(t);
    const expired = await tokenFor(t, u, 'user:read', -10);
    const revoked = await tokenFor(t, u, 'user:read');
    await t.app.db.deleteFrom('oauth_access_token').where('token_name', '=', revoked.slice(0, 20)).execute();
    const good = await tokenFor(t, u, 'user:read');
    const tampered = good.slice(0, 20) + 'x'.repeat(20);
    for (const tok of [expired, revoked, tampered, 'short', good + 'extra']) {
      const res = await t.inject({ url: '/api/v1/user/', headers: bearer(tok) });
      expect(res.statusCode, tok).toBe(401);
    }
    expect((await t.inject({ url: '/api/v1/user/', headers: bearer(good) })).statusCode).toBe(200);
  });

  it('rejects a disabled user’s token', async () => {
    const u = await makeUser(t);
    const tok = await tokenFor(t, u, 'user:read');
    await t.app.db.updateTable('namespace').set({ enabled: false }).where('id', '=', u.id).execute();
    expect((await t.inject({ url: '/api/v1/user/', headers: bearer(tok) })).statusCode).toBe(401);
  });

  it('redirects the slash-less path with 308, as Quay’s routes do', async () => {
    const res = await t.inject({ url: '/api/v1/user?x=1' });
    expect(res.statusCode).toBe(308);
    expect(res.headers.location).toBe('/api/v1/user/?x=1');
  });
});

describe('GET /api/v1/users/{username} (getUserInformation)', () => {
  it('shows another user only the public profile, anonymous callers too', async () => {
    const a = await makeUser(t);
    const b = await makeUser(t);
    for (const headers of [{}, bearer(await tokenFor(t, a, 'user:admin'))]) {
      const res = await t.inject({ url: `/api/v1/users/${b.username}`, headers });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ anonymous: false, username: b.username, avatar: expect.objectContaining({ kind: 'user' }) });
    }
  });

  it('is identical to getLoggedInUser for the caller’s own account', async () => {
    const a = await makeUser(t);
    const h = bearer(await tokenFor(t, a, 'user:admin'));
    const self = (await t.inject({ url: `/api/v1/users/${a.username}`, headers: h })).json();
    const me = (await t.inject({ url: '/api/v1/user/', headers: h })).json();
    expect(self).toEqual(me);
  });

  it('tells a superuser whether the target is a superuser', async () => {
    const root = (await t.app.db.selectFrom('namespace').selectAll().where('username', '=', 'rootadmin').executeTakeFirst()) ?? (await makeUser(t, { username: 'rootadmin' }));
    const b = await makeUser(t);
    const res = await t.inject({ url: `/api/v1/users/${b.username}`, headers: bearer(await tokenFor(t, root, 'super:user user:read')) });
    expect(res.json().super_user).toBe(false);
  });

  it('answers 404 {message} for unknown users and organizations', async () => {
    const a = await makeUser(t);
    const org = await makeOrg(t, [a]);
    for (const name of ['nosuchuser' + uniqueName(), org.username]) {
      const res = await t.inject({ url: `/api/v1/users/${name}` });
      expect(res.statusCode).toBe(404);
      expect(res.json()).toHaveProperty('message');
    }
  });
});

describe('POST /api/v1/user/ (createNewUser)', () => {
  it('creates a verified user, logs the calling session in and records user_create', async () => {
    const s = await anonymousSession(t);
    const username = uniqueName('new');
    const res = await t.inject({
      method: 'POST',
      url: '/api/v1/user/',
      headers: s.headers,
      payload: { username, password: 'password123', email: `${username}@example.com` },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ username, verified: true, email: `${username}@example.com`, is_me: true });
    const next = res.headers['x-next-csrf-token'];
    expect(next).toEqual(expect.any(String));
    const cookie = res.cookies.find((c) => c.name === '_csrf_token')!;
    const me = await t.inject({ url: '/api/v1/user/', headers: { cookie: `_csrf_token=${cookie.value}` } });
    expect(me.json().username).toBe(username);
    const logs = await auditRows(t, 'user_create');
    expect(logs.some((l) => (l.metadata as { username?: string }).username === username)).toBe(true);
  });

  it('stores a random UUID as the e-mail when none is given (no mail server)', async () => {
    const s = await anonymousSession(t);
    const username = uniqueName('noemail');
    const res = await t.inject({ method: 'POST', url: '/api/v1/user/', headers: s.headers, payload: { username, password: 'password123' } });
    expect(res.statusCode).toBe(200);
    expect(res.json().email).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('requires the CSRF token', async () => {
    const username = uniqueName();
    const res = await t.inject({ method: 'POST', url: '/api/v1/user/', payload: { username, password: 'password123' } });
    expect(res.statusCode).toBe(403);
    expect(res.json().error).toMatch(/^CSRF token was invalid or missing\./);
    expect(await t.app.db.selectFrom('namespace').select('id').where('username', '=', username).executeTakeFirst()).toBeUndefined();
  });

  it.each([
    [{ password: 'password123' }, "'username' is a required property"],
    [{ username: 'x' + uniqueName() }, "'password' is a required property"],
    [{ username: 'Bad Name', password: 'password123' }, 'Invalid namespace Bad Name: Namespace must match expression'],
    [{ username: 'a', password: 'password123' }, 'Invalid namespace a: Namespace must be between 2 and 255 characters'],
    [{ username: uniqueName(), password: 'short' }, 'Invalid password, password must be at least 8 characters and contain no whitespace.'],
    [{ username: uniqueName(), password: 'has white space' }, 'Invalid password'],
  ])('refuses %j with 400 invalid_request and writes nothing', async (payload, detail) => {
    const s = await anonymousSession(t);
    const before = await t.app.db.selectFrom('namespace').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
    const res = await t.inject({ method: 'POST', url: '/api/v1/user/', headers: s.headers, payload });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ status: 400, title: 'invalid_request', error_type: 'invalid_request' });
    expect(res.json().detail).toContain(detail);
    const after = await t.app.db.selectFrom('namespace').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
    expect(after.n).toBe(before.n);
  });

  it('refuses a taken username or e-mail with Quay’s texts', async () => {
    const u = await makeUser(t);
    const org = await makeOrg(t, [u]);
    const s = await anonymousSession(t);
    const dupUser = await t.inject({ method: 'POST', url: '/api/v1/user/', headers: s.headers, payload: { username: u.username, password: 'password123' } });
    expect(dupUser.json().detail).toBe('The username already exists');
    const dupOrg = await t.inject({ method: 'POST', url: '/api/v1/user/', headers: s.headers, payload: { username: org.username, password: 'password123' } });
    expect(dupOrg.json().detail).toContain('already been taken by an organization');
    const dupMail = await t.inject({ method: 'POST', url: '/api/v1/user/', headers: s.headers, payload: { username: uniqueName(), password: 'password123', email: u.email } });
    expect(dupMail.statusCode).toBe(400);
    expect(dupMail.json().detail).toBe(`Email has already been used: ${u.email}`);
  });

  it('answers 400 Missing JSON body when there is no body', async () => {
    const s = await anonymousSession(t);
    const res = await t.inject({ method: 'POST', url: '/api/v1/user/', headers: { ...s.headers, 'content-type': 'application/json' }, payload: '' });
    expect(res.statusCode).toBe(400);
    expect(res.json().detail).toBe('Missing JSON body');
    const bad = await t.inject({ method: 'POST', url: '/api/v1/user/', headers: { ...s.headers, 'content-type': 'application/json' }, payload: '{not json' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().title).toBe('invalid_request');
  });

  it('is absent when FEATURE_USER_CREATION is off', async () => {
    const off = await testApp({ FEATURE_USER_CREATION: 'false' });
    try {
      const s = await anonymousSession(off);
      const res = await off.inject({ method: 'POST', url: '/api/v1/user/', headers: s.headers, payload: { username: uniqueName(), password: 'password123' } });
      expect(res.statusCode).toBe(404);
    } finally {
      await off.close();
    }
  });
});
