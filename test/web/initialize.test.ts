import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp, type TestApp } from '../helpers/app.js';

const count = async (t: TestApp, table: 'namespace' | 'oauth_access_token' | 'oauth_application') =>
  Number((await t.app.db.selectFrom(table).select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow()).n);

describe('POST /api/v1/user/initialize on an empty database', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp();
  });
  afterAll(() => t?.close());

  it.each([
    [{ password: 'password123' }, 'Failed to initialize user: username is required'],
    [{ username: 'admin' }, 'Failed to initialize user: password is required'],
    [{ username: 'admin', password: 'short' }, 'Failed to initialize user: Invalid password'],
    [{ username: 'Admin!', password: 'password123' }, 'Failed to initialize user: Invalid namespace Admin!'],
    [{ username: 'admin', password: 'password123', email: 42 }, 'Failed to initialize user: email must be a string'],
  ])('refuses %j with 400 {message} and writes nothing', async (payload, text) => {
    const res = await t.inject({ method: 'POST', url: '/api/v1/user/initialize', payload });
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toContain(text);
    expect(await count(t, 'namespace')).toBe(0);
  });

  it('creates the first user, logs in, and returns a 9000-second token with all eight scopes', async () => {
    const before = Date.now();
    const res = await t.inject({
      method: 'POST',
      url: '/api/v1/user/initialize',
      payload: { username: 'admin', password: 'password123', email: 'a@example.com', access_token: true },
    });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toEqual({
      username: 'admin',
      email: 'a@example.com',
      encrypted_password: expect.any(String),
      access_token: expect.stringMatching(/^[A-Z0-9]{40}$/),
    });
    expect(body.encrypted_password).not.toContain('password123');
    expect(res.headers['x-next-csrf-token']).toEqual(expect.any(String));
    expect(res.cookies.find((c) => c.name === '_csrf_token')).toBeDefined();

    const me = await t.inject({ url: '/api/v1/user/', headers: { authorization: `Bearer ${body.access_token}` } });
    expect(me.statusCode).toBe(200);
    expect(me.json()).toMatchObject({ username: 'admin', verified: true, email: 'a@example.com' });

    const tok = await t.app.db.selectFrom('oauth_access_token').selectAll().executeTakeFirstOrThrow();
    expect(tok.scope).toBe('org:admin repo:admin repo:create repo:read repo:write super:user user:admin user:read');
    const lifetime = (tok.expires_at.getTime() - before) / 1000;
    expect(lifetime).toBeGreaterThan(8990);
    expect(lifetime).toBeLessThan(9010);
    // Only a prefix and a hash are stored, never the token.
    expect(tok.token_name).toBe(body.access_token.slice(0, 20));
    expect(tok.token_hash).not.toContain(body.access_token.slice(20));
    const app = await t.app.db.selectFrom('oauth_application').selectAll().where('client_id', '=', 'admin').executeTakeFirstOrThrow();
    expect(app.name).toBe('automation');
  });

  it('refuses a second call once the database holds a user', async () => {
    const res = await t.inject({ method: 'POST', url: '/api/v1/user/initialize', payload: { username: 'second', password: 'password123' } });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ message: 'Cannot initialize user in a non-empty database' });
    expect(await count(t, 'namespace')).toBe(1);
  });
});

describe('POST /api/v1/user/initialize edge cases', () => {
  it('lets only one of two concurrent calls succeed, and returns no token unless asked', async () => {
    const t = await testApp();
    try {
      const calls = await Promise.all(
        ['first', 'second', 'third'].map((username) =>
          t.inject({ method: 'POST', url: '/api/v1/user/initialize', payload: { username, password: 'password123' } }),
        ),
      );
      expect(calls.map((c) => c.statusCode).sort()).toEqual([200, 400, 400]);
      expect(await count(t, 'namespace')).toBe(1);
      const ok = calls.find((c) => c.statusCode === 200)!.json();
      expect(ok).not.toHaveProperty('access_token');
      expect(ok.email).toMatch(/^[0-9a-f-]{36}$/);
      expect(await count(t, 'oauth_access_token')).toBe(0);
    } finally {
      await t.close();
    }
  });

  it('is 404 when FEATURE_USER_INITIALIZE is off', async () => {
    const t = await testApp({ FEATURE_USER_INITIALIZE: 'false' });
    try {
      const res = await t.inject({ method: 'POST', url: '/api/v1/user/initialize', payload: { username: 'admin', password: 'password123' } });
      expect(res.statusCode).toBe(404);
      expect(await count(t, 'namespace')).toBe(0);
    } finally {
      await t.close();
    }
  });
});
