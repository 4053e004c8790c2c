// The per-process auth cache: repeated requests skip the database; a change made elsewhere (another
// replica) is seen within AUTH_CACHE_SECONDS; a local clear() is seen at once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp, type TestApp } from '../helpers/app.js';
import { bearer, makeOrg, makeUser, tokenFor } from '../helpers/factories.js';

let t: TestApp;
beforeAll(async () => {
  t = await testApp({ AUTH_CACHE_SECONDS: '1' });
});
afterAll(() => t?.close());

describe('auth cache', () => {
  it('sees a revocation made by another replica within the TTL', async () => {
    const u = await makeUser(t);
    const tok = await tokenFor(t, u, 'user:read');
    expect((await t.inject({ url: '/api/v1/user/', headers: bearer(tok) })).statusCode).toBe(200);
    await t.app.db.deleteFrom('oauth_access_token').where('token_name', '=', tok.slice(0, 20)).execute();
    // Still cached: the database is not asked again within the TTL.
    expect((await t.inject({ url: '/api/v1/user/', headers: bearer(tok) })).statusCode).toBe(200);
    await new Promise((r) => setTimeout(r, 1100));
    expect((await t.inject({ url: '/api/v1/user/', headers: bearer(tok) })).statusCode).toBe(401);
  });

  it('never lets a cached token outlive its expiry', async () => {
    const u = await makeUser(t);
    const tok = await tokenFor(t, u, 'user:read', 1);
    expect((await t.inject({ url: '/api/v1/user/', headers: bearer(tok) })).statusCode).toBe(200);
    await new Promise((r) => setTimeout(r, 1100));
    expect((await t.inject({ url: '/api/v1/user/', headers: bearer(tok) })).statusCode).toBe(401);
  });

  it('shows a membership change at once after a local clear()', async () => {
    const u = await makeUser(t);
    const h = bearer(await tokenFor(t, u, 'user:read'));
    expect((await t.inject({ url: '/api/v1/user/', headers: h })).json().organizations).toEqual([]);
    const org = await makeOrg(t, [u]); // clears the cache, as the membership endpoints do
    expect((await t.inject({ url: '/api/v1/user/', headers: h })).json().organizations.map((o: { name: string }) => o.name)).toEqual([org.username]);
  });

  it('can be disabled', async () => {
    const off = await testApp({ AUTH_CACHE_SECONDS: '0' });
    try {
      const u = await makeUser(off);
      const tok = await tokenFor(off, u, 'user:read');
      expect((await off.inject({ url: '/api/v1/user/', headers: bearer(tok) })).statusCode).toBe(200);
      await off.app.db.deleteFrom('oauth_access_token').where('token_name', '=', tok.slice(0, 20)).execute();
      expect((await off.inject({ url: '/api/v1/user/', headers: bearer(tok) })).statusCode).toBe(401);
    } finally {
      await off.close();
    }
  });
});
