import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp, type TestApp } from '../helpers/app.js';
import { anonymousSession, bearer, makeUser, signIn, tokenFor } from '../helpers/factories.js';

let t: TestApp;
beforeAll(async () => {
  t = await testApp();
});
afterAll(() => t?.close());

interface Cookie { name: string; value: string; httpOnly?: boolean; sameSite?: string; path?: string; secure?: boolean; expires?: Date }
const cookieOf = (res: { cookies: Cookie[] }) => res.cookies.find((c) => c.name === '_csrf_token');

describe('GET /csrf_token', () => {
  it('returns a 64-character token and an HttpOnly, SameSite=Lax session cookie', async () => {
    const res = await t.inject('/csrf_token');
    expect(res.statusCode).toBe(200);
    expect(res.json().csrf_token).toMatch(/^[A-Za-z0-9_-]{64}$/);
    const c = cookieOf(res)!;
    expect(c.httpOnly).toBe(true);
    expect(c.sameSite).toBe('Lax');
    expect(c.path).toBe('/');
    expect(c.secure).toBeFalsy();
  });

  it('returns the same token for the same cookie and a new one without it', async () => {
    const s = await anonymousSession(t);
    const again = await t.inject({ url: '/csrf_token', headers: { cookie: `_csrf_token=${s.cookie}` } });
    expect(again.json().csrf_token).toBe(s.csrf);
    expect(cookieOf(again)).toBeUndefined();
    const other = await anonymousSession(t);
    expect(other.csrf).not.toBe(s.csrf);
  });

  it('marks the cookie Secure when the configured scheme is https', async () => {
    const https = await testApp({ PREFERRED_URL_SCHEME: 'https' });
    try {
      expect(cookieOf(await https.inject('/csrf_token'))!.secure).toBe(true);
    } finally {
      await https.close();
    }
  });
});

describe('POST /api/v1/signin', () => {
  it('signs in by username or e-mail, rotates the session and returns X-Next-CSRF-Token', async () => {
    const u = await makeUser(t);
    for (const login of [u.username, u.email!]) {
      const s = await anonymousSession(t);
      const res = await t.inject({ method: 'POST', url: '/api/v1/signin', headers: s.headers, payload: { username: login, password: u.password } });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ success: true });
      const next = String(res.headers['x-next-csrf-token']);
      expect(next).toMatch(/^[A-Za-z0-9_-]{64}$/);
      expect(next).not.toBe(s.csrf);
      const c = cookieOf(res)!;
      expect(c.value).not.toBe(s.cookie);
      expect(c.expires!.getTime()).toBeGreaterThan(Date.now() + 30 * 86400_000);
      // The pre-login session no longer exists (no fixation).
      const old = await t.inject({ url: '/api/v1/user/', headers: { cookie: `_csrf_token=${s.cookie}` } });
      expect(old.statusCode).toBe(401);
      const me = await t.inject({ url: '/api/v1/user/', headers: { cookie: `_csrf_token=${c.value}` } });
      expect(me.json().username).toBe(u.username);
    }
  });

  it('refuses a bad password with Quay’s 403 body and counts the failure for this address', async () => {
    const u = await makeUser(t);
    const s = await anonymousSession(t);
    const res = await t.inject({ method: 'POST', url: '/api/v1/signin', headers: s.headers, payload: { username: u.username, password: 'wrong-password' } });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ needsEmailVerification: false, invalidCredentials: true, message: 'Invalid Username or Password' });
    const rows = await t.app.db.selectFrom('auth_failure').selectAll().where('subject', '=', `user:${u.id}`).execute();
    expect(rows).toMatchObject([{ ip: '127.0.0.1', failures: 1 }]);
  });

  it('backs off after repeated failures with 429 and Retry-After, even for the right password', async () => {
    const u = await makeUser(t);
    await t.app.db.insertInto('auth_failure').values({ subject: `user:${u.id}`, ip: '127.0.0.1', failures: 6, last_failure: new Date() }).execute();
    const s = await anonymousSession(t);
    const res = await t.inject({ method: 'POST', url: '/api/v1/signin', headers: s.headers, payload: { username: u.username, password: u.password } });
    expect(res.statusCode).toBe(429);
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    expect(res.json()).toMatchObject({ status: 429, error_type: 'invalid_request', message: expect.stringContaining('Too many login attempts') });
  });

  it('refuses a disabled user and an unknown user', async () => {
    const u = await makeUser(t);
    await t.app.db.updateTable('namespace').set({ enabled: false }).where('id', '=', u.id).execute();
    const s = await anonymousSession(t);
    const disabled = await t.inject({ method: 'POST', url: '/api/v1/signin', headers: s.headers, payload: { username: u.username, password: u.password } });
    expect(disabled.statusCode).toBe(403);
    expect(disabled.json().message).toMatch(/disabled/);
    const unknown = await t.inject({ method: 'POST', url: '/api/v1/signin', headers: s.headers, payload: { username: 'nobody-here', password: 'whatever1' } });
    expect(unknown.statusCode).toBe(403);
    expect(unknown.json().invalidCredentials).toBe(true);
  });

  it('needs the CSRF token (an anonymous POST gets 403 CSRF, not 401)', async () => {
    const u = await makeUser(t);
    const none = await t.inject({ method: 'POST', url: '/api/v1/signin', payload: { username: u.username, password: u.password } });
    expect(none.statusCode).toBe(403);
    expect(none.json()).toMatchObject({ error: 'CSRF token was invalid or missing.' });
    const s = await anonymousSession(t);
    const wrong = await t.inject({ method: 'POST', url: '/api/v1/signin', headers: { ...s.headers, 'x-csrf-token': 'x'.repeat(64) }, payload: { username: u.username, password: u.password } });
    expect(wrong.statusCode).toBe(403);
    // A wrong query value is not rescued by a correct header.
    const q = await t.inject({ method: 'POST', url: '/api/v1/signin?_csrf_token=nope', headers: s.headers, payload: { username: u.username, password: u.password } });
    expect(q.statusCode).toBe(403);
  });

  it('validates the body', async () => {
    const s = await anonymousSession(t);
    const res = await t.inject({ method: 'POST', url: '/api/v1/signin', headers: s.headers, payload: { username: 'x' } });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ title: 'invalid_request', detail: "'password' is a required property" });
  });
});

describe('POST /api/v1/signout', () => {
  it('logs out every session of the user, keeps this browser’s CSRF token, and leaves tokens alone', async () => {
    const u = await makeUser(t);
    const a = await signIn(t, u);
    const b = await signIn(t, u);
    const token = await tokenFor(t, u, 'user:read');
    const res = await t.inject({ method: 'POST', url: '/api/v1/signout', headers: a.headers });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ success: true });
    for (const s of [a, b]) {
      expect((await t.inject({ url: '/api/v1/user/', headers: { cookie: `_csrf_token=${s.cookie}` } })).statusCode).toBe(401);
    }
    const csrf = await t.inject({ url: '/csrf_token', headers: { cookie: `_csrf_token=${a.cookie}` } });
    expect(csrf.json().csrf_token).toBe(a.csrf);
    expect((await t.inject({ url: '/api/v1/user/', headers: bearer(token) })).statusCode).toBe(200);
  });

  it('answers success to an anonymous browser session and 403 without CSRF', async () => {
    const s = await anonymousSession(t);
    expect((await t.inject({ method: 'POST', url: '/api/v1/signout', headers: s.headers })).json()).toEqual({ success: true });
    expect((await t.inject({ method: 'POST', url: '/api/v1/signout' })).statusCode).toBe(403);
  });
});

describe('fresh login and POST /api/v1/signin/verify', () => {
  it('requires a fresh login for sensitive calls made with an old session, and verify refreshes it', async () => {
    const stale = await testApp({ FRESH_LOGIN_TIMEOUT: '1s' });
    try {
      const u = await makeUser(stale);
      const s = await signIn(stale, u);
      await stale.app.db.updateTable('session').set({ login_time: new Date(Date.now() - 60_000) }).where('user_id', '=', u.id).execute();
      const refused = await stale.inject({ method: 'POST', url: '/api/v1/user/apptoken', headers: s.headers, payload: { title: 'ci' } });
      expect(refused.statusCode).toBe(401);
      expect(refused.json()).toMatchObject({ title: 'fresh_login_required', detail: 'Requires fresh login', error_type: 'fresh_login_required' });
      expect(await stale.app.db.selectFrom('app_specific_token').select('id').where('user_id', '=', u.id).execute()).toHaveLength(0);

      const bad = await stale.inject({ method: 'POST', url: '/api/v1/signin/verify', headers: s.headers, payload: { password: 'wrong-password' } });
      expect(bad.statusCode).toBe(403);
      expect(bad.json()).toMatchObject({ message: 'Invalid Username or Password', invalidCredentials: true });

      // One failure means a 0.5 s backoff (Quay's), even for the right password.
      await new Promise((r) => setTimeout(r, 600));
      const ok = await stale.inject({ method: 'POST', url: '/api/v1/signin/verify', headers: s.headers, payload: { password: u.password } });
      expect(ok.statusCode).toBe(200);
      const cookie = cookieOf(ok)!.value;
      const csrf = String(ok.headers['x-next-csrf-token']);
      const created = await stale.inject({ method: 'POST', url: '/api/v1/user/apptoken', headers: { cookie: `_csrf_token=${cookie}`, 'x-csrf-token': csrf }, payload: { title: 'ci' } });
      expect(created.statusCode).toBe(200);
    } finally {
      await stale.close();
    }
  });

  it('lets OAuth tokens skip the fresh-login check', async () => {
    const stale = await testApp({ FRESH_LOGIN_TIMEOUT: '1s' });
    try {
      const u = await makeUser(stale);
      const res = await stale.inject({ method: 'POST', url: '/api/v1/user/apptoken', headers: bearer(await tokenFor(stale, u, 'user:admin')), payload: { title: 'ci' } });
      expect(res.statusCode).toBe(200);
    } finally {
      await stale.close();
    }
  });

  it('answers 401 to anonymous verify calls', async () => {
    const s = await anonymousSession(t);
    const res = await t.inject({ method: 'POST', url: '/api/v1/signin/verify', headers: s.headers, payload: { password: 'x' } });
    expect(res.statusCode).toBe(401);
    expect(res.json().title).toBe('invalid_token');
  });
});
