// Sign-in and credential endpoints under attack: failures are throttled per account and address
// without locking the owner out, unknown names cost what wrong passwords cost, every credential
// endpoint has a per-address request limit, and anonymous visitors write no session rows.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sweepExpired } from '../../src/lib/maintenance.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { anonymousSession, makeApplication, makeOrg, makeUser, uniqueName, type TestUser } from '../helpers/factories.js';

const FORM = 'application/x-www-form-urlencoded';

async function signin(t: TestApp, ip: string, username: string, password: string) {
  const s = await anonymousSession(t);
  return t.inject({ method: 'POST', url: '/api/v1/signin', remoteAddress: ip, headers: s.headers, payload: { username, password } });
}

function expectApiError(res: { statusCode: number; json(): any }, status: number) {
  expect(res.statusCode).toBe(status);
  const b = res.json();
  expect(b).toMatchObject({ status, title: expect.any(String), error_type: expect.any(String), detail: expect.any(String), error_message: expect.any(String) });
  expect(b.type).toMatch(/\/api\/v1\/error\/[a-z_]+$/);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

describe('failed sign-ins', () => {
  let t: TestApp;
  let owner: TestUser;
  beforeAll(async () => {
    t = await testApp({ ACCOUNT_FAILURE_LIMIT: 5, ACCOUNT_FAILURE_WINDOW: '15m' });
    owner = await makeUser(t);
  });
  afterAll(() => t?.close());

  it('back off the failing address only: the owner signs in from another one', async () => {
    const u = await makeUser(t);
    expect((await signin(t, '10.0.0.66', u.username, 'guess-one')).statusCode).toBe(403);
    // Within 0.5 s of its first failure the attacker is refused, even with the right password …
    const again = await signin(t, '10.0.0.66', u.username, u.password);
    expectApiError(again, 429);
    expect(Number(again.headers['retry-after'])).toBeGreaterThan(0);
    // … while the owner, from an address that has not been failing, goes straight in.
    expect((await signin(t, '10.0.0.1', u.username, u.password)).statusCode).toBe(200);
  });

  it('refuse addresses that failed once the account collects ACCOUNT_FAILURE_LIMIT failures, never clean ones', async () => {
    const u = await makeUser(t);
    for (let i = 1; i <= 5; i++) expect((await signin(t, `10.0.1.${i}`, u.username, 'wrong-password')).statusCode).toBe(403);
    // Past each address's own backoff, but inside the account window.
    await t.app.db.updateTable('auth_failure').set({ last_failure: new Date(Date.now() - 10_000) }).where('subject', '=', `user:${u.id}`).execute();
    const failing = await signin(t, '10.0.1.3', u.username, u.password);
    expectApiError(failing, 429);
    expect(Number(failing.headers['retry-after'])).toBeGreaterThan(800);
    expect((await signin(t, '10.0.2.1', u.username, u.password)).statusCode).toBe(200);
    // A success from an address clears that address's failures only.
    expect(await t.app.db.selectFrom('auth_failure').select('ip').where('subject', '=', `user:${u.id}`).execute()).toHaveLength(5);
  });

  it('answer an unknown name exactly as a wrong password, and throttle it the same way', async () => {
    const wrong = await signin(t, '10.0.3.1', owner.username, 'wrong-password');
    const unknown = await signin(t, '10.0.3.2', uniqueName('nobody'), 'wrong-password');
    expect(unknown.statusCode).toBe(wrong.statusCode);
    expect(unknown.json()).toEqual(wrong.json());
    const name = uniqueName('nobody');
    expect((await signin(t, '10.0.3.3', name, 'x-password')).statusCode).toBe(403);
    expectApiError(await signin(t, '10.0.3.3', name, 'x-password'), 429);
  });

  it('spend the password KDF on unknown names too (no timing shortcut)', async () => {
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 5; i++) {
      let start = performance.now();
      await signin(t, `10.0.4.${i}`, owner.username, 'wrong-password');
      known.push(performance.now() - start);
      start = performance.now();
      await signin(t, `10.0.5.${i}`, uniqueName('ghost'), 'wrong-password');
      unknown.push(performance.now() - start);
    }
    // Without the dummy KDF an unknown name answers about 50 times faster; the bounds are loose.
    const ratio = median(unknown) / median(known);
    expect(ratio, `unknown ${median(unknown).toFixed(1)} ms vs known ${median(known).toFixed(1)} ms`).toBeGreaterThan(0.33);
    expect(ratio).toBeLessThan(3);
  });

  it('throttle wrong client secrets per client and address on /oauth/access_token', async () => {
    const admin = await makeUser(t);
    const app = await makeApplication(t, await makeOrg(t, [admin]));
    const exchange = (ip: string, secret: string) =>
      t.inject({
        method: 'POST',
        url: '/oauth/access_token',
        remoteAddress: ip,
        headers: { 'content-type': FORM },
        payload: new URLSearchParams({ grant_type: 'authorization_code', client_id: app.client_id, client_secret: secret, redirect_uri: app.redirect_uri, code: 'x'.repeat(40), scope: 'user:read' }).toString(),
      });
    for (let i = 0; i < 5; i++) expect((await exchange('10.0.6.1', 'wrong')).json()).toEqual({ error: 'invalid_client' });
    const refused = await exchange('10.0.6.1', app.client_secret);
    expect(refused.statusCode).toBe(429);
    expect(refused.json()).toMatchObject({ error: 'slow_down' });
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    // The application itself, from its own address, is not blocked: its (bogus) code is judged.
    const own = await exchange('10.0.6.2', app.client_secret);
    expect(own.statusCode).toBe(400);
    expect(own.json()).toEqual({ error: 'invalid_grant' });
  });
});

describe('per-address request limits (RATE_LIMIT_PER_IP)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp({ RATE_LIMIT_PER_IP: 3, RATE_LIMIT_WINDOW: '1m' });
  });
  afterAll(() => t?.close());

  it('answer the request over the limit 429 with Retry-After in each surface format, per address and per group', async () => {
    const u = await makeUser(t);
    for (let i = 0; i < 3; i++) expect((await signin(t, '10.1.0.1', u.username, u.password)).statusCode).toBe(200);
    const over = await signin(t, '10.1.0.1', u.username, u.password);
    expectApiError(over, 429);
    expect(Number(over.headers['retry-after'])).toBeGreaterThan(0);
    // The sign-in page is in the same group.
    const s = await anonymousSession(t);
    const page = await t.inject({ method: 'POST', url: '/signin', remoteAddress: '10.1.0.1', headers: { cookie: s.headers.cookie, 'content-type': FORM }, payload: `username=${u.username}&password=x&_csrf_token=${s.csrf}` });
    expect(page.statusCode).toBe(429);
    // Another address is not affected; another group on the same address is not either.
    expect((await signin(t, '10.1.0.2', u.username, u.password)).statusCode).toBe(200);
    const token = () => t.inject({ method: 'POST', url: '/oauth/access_token', remoteAddress: '10.1.0.1', headers: { 'content-type': FORM }, payload: 'grant_type=authorization_code' });
    for (let i = 0; i < 3; i++) expect((await token()).statusCode).toBe(400);
    const tokenOver = await token();
    expect(tokenOver.statusCode).toBe(429);
    expect(tokenOver.json()).toMatchObject({ error: expect.any(String), error_description: expect.any(String) });
    expect(tokenOver.headers['retry-after']).toBeDefined();
  });

  it('limit sign-up too', async () => {
    const create = () => t.inject({ method: 'POST', url: '/api/v1/user/', remoteAddress: '10.1.1.1', payload: { username: uniqueName('new'), password: 'correct-horse', email: `${uniqueName('e')}@example.com` } });
    for (let i = 0; i < 3; i++) expect((await create()).statusCode).not.toBe(429);
    expectApiError(await create(), 429);
  });
});

describe('anonymous sessions', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp();
  });
  afterAll(() => t?.close());
  const sessionRows = async () => Number((await t.app.db.selectFrom('session').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);

  it('write no row for /csrf_token or the sign-in page; the row is made at sign-in', async () => {
    const before = await sessionRows();
    for (let i = 0; i < 25; i++) {
      expect((await t.inject({ url: '/csrf_token' })).statusCode).toBe(200);
      expect((await t.inject({ url: '/signin', headers: { accept: 'text/html' } })).statusCode).toBe(200);
    }
    expect(await sessionRows()).toBe(before);
    const u = await makeUser(t);
    const s = await anonymousSession(t);
    // The token is tied to its cookie: the same cookie gives the same token, and it passes CSRF.
    const again = await t.inject({ url: '/csrf_token', headers: { cookie: s.headers.cookie } });
    expect(again.json().csrf_token).toBe(s.csrf);
    const res = await t.inject({ method: 'POST', url: '/api/v1/signin', headers: s.headers, payload: { username: u.username, password: u.password } });
    expect(res.statusCode).toBe(200);
    expect(await sessionRows()).toBe(before + 1);
  });

  it('refuse a token that belongs to another cookie, or a forged cookie', async () => {
    const a = await anonymousSession(t);
    const b = await anonymousSession(t);
    const u = await makeUser(t);
    const crossed = await t.inject({ method: 'POST', url: '/api/v1/signin', headers: { cookie: a.headers.cookie, 'x-csrf-token': b.csrf }, payload: { username: u.username, password: u.password } });
    expect(crossed.statusCode).toBe(403);
    const forged = `a.${Math.floor(Date.now() / 1000).toString(36)}.${'A'.repeat(32)}`;
    const csrf = await t.inject({ url: '/csrf_token', headers: { cookie: `_csrf_token=${forged}` } });
    // A well-formed cookie the server never issued still gets a token, but only for itself.
    const withOther = await t.inject({ method: 'POST', url: '/api/v1/signin', headers: { cookie: `_csrf_token=${forged}`, 'x-csrf-token': a.csrf }, payload: { username: u.username, password: u.password } });
    expect(withOther.statusCode).toBe(403);
    expect(csrf.json().csrf_token).not.toBe(a.csrf);
    const old = `a.${Math.floor(Date.now() / 1000 - 2 * 86400).toString(36)}.${'B'.repeat(32)}`;
    const stale = await t.inject({ url: '/csrf_token', headers: { cookie: `_csrf_token=${old}` } });
    expect(stale.cookies.find((c) => c.name === '_csrf_token')?.value).not.toBe(old);
  });

  it('are swept with the expired session rows and stale throttle rows', async () => {
    const u = await makeUser(t);
    await t.app.db
      .insertInto('session')
      .values({ id: 'x'.repeat(64), user_id: u.id, csrf_token: 'c', login_time: new Date(), expires_at: new Date(Date.now() - 1000) })
      .execute();
    await t.app.db.insertInto('auth_failure').values({ subject: 'login:old', ip: '10.9.9.9', failures: 3, last_failure: new Date(Date.now() - 2 * 86400_000) }).execute();
    const swept = await sweepExpired(t.app.db);
    expect(swept.sessions).toBeGreaterThanOrEqual(1);
    expect(swept.failures).toBeGreaterThanOrEqual(1);
    expect(await t.app.db.selectFrom('session').select('id').where('id', '=', 'x'.repeat(64)).execute()).toEqual([]);
  });
});

describe('/oauth/authorize with an unknown client_id', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp();
  });
  afterAll(() => t?.close());

  it('answers its error page at once, without sending the browser to sign in', async () => {
    const res = await t.inject({ url: '/oauth/authorize?client_id=NOSUCHCLIENT&redirect_uri=https://x.example/cb&scope=user:read&response_type=token', headers: { accept: 'text/html' } });
    expect(res.statusCode).toBe(404);
    expect(res.headers.location).toBeUndefined();
    expect(res.headers['content-type']).toContain('text/html');
    const api = await t.inject({ url: '/oauth/authorize?client_id=NOSUCHCLIENT&redirect_uri=https://x.example/cb&scope=user:read' });
    expect(api.statusCode).toBe(404);
    expect(api.json()).toEqual({ error: 'Unknown client_id' });
  });
});
