import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp, type TestApp } from '../helpers/app.js';
import { auditRows, bearer, makeUser, signIn, tokenFor, type TestUser } from '../helpers/factories.js';

let t: TestApp;
let alice: TestUser;
let admin: Record<string, string>;
beforeAll(async () => {
  t = await testApp();
  alice = await makeUser(t);
  admin = bearer(await tokenFor(t, alice, 'user:admin'));
});
afterAll(() => t?.close());

const RFC2822 = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} -0000$/;

async function create(headers: Record<string, string>, title = 'ci token') {
  return t.inject({ method: 'POST', url: '/api/v1/user/apptoken', headers, payload: { title } });
}

describe('app-specific tokens', () => {
  it('creates a token (200, not 201) with a 120-character code and records create_app_specific_token', async () => {
    const res = await create(admin, 'my token');
    expect(res.statusCode).toBe(200);
    const { token } = res.json();
    expect(token).toEqual({
      uuid: expect.stringMatching(/^[0-9a-f-]{36}$/),
      title: 'my token',
      last_accessed: null,
      created: expect.stringMatching(RFC2822),
      expiration: null,
      token_code: expect.stringMatching(/^[A-Z0-9]{120}$/),
    });
    const log = (await auditRows(t, 'create_app_specific_token')).find((l) => (l.metadata as Record<string, unknown>).app_specific_token === token.uuid);
    expect(log).toMatchObject({ account_id: alice.id, performer_id: alice.id });
    expect(log!.metadata).toMatchObject({ app_specific_token_title: 'my token', oauth_token_application: 'automation' });
  });

  it('stores the secret half encrypted, never in clear', async () => {
    const { token } = (await create(admin)).json();
    const row = await t.app.db.selectFrom('app_specific_token').selectAll().where('uuid', '=', token.uuid).executeTakeFirstOrThrow();
    expect(row.token_name).toBe(token.token_code.slice(0, 60));
    expect(row.token_secret_enc).not.toContain(token.token_code.slice(60));
    expect(t.app.secrets.decrypt(row.token_secret_enc)).toBe(token.token_code.slice(60));
  });

  it('lists tokens without their codes and gets one with its code', async () => {
    const { token } = (await create(admin, 'listed')).json();
    const list = await t.inject({ url: '/api/v1/user/apptoken', headers: admin });
    expect(list.statusCode).toBe(200);
    const body = list.json();
    expect(body.only_expiring).toBeNull();
    const item = body.tokens.find((x: { uuid: string }) => x.uuid === token.uuid);
    expect(item).toMatchObject({ title: 'listed' });
    expect(item).not.toHaveProperty('token_code');
    const one = await t.inject({ url: `/api/v1/user/apptoken/${token.uuid}`, headers: admin });
    expect(one.statusCode).toBe(200);
    expect(one.json().token.token_code).toBe(token.token_code);
  });

  it('filters with expiring=true using Quay’s boolean parsing', async () => {
    const exp = await testApp({ APP_SPECIFIC_TOKEN_EXPIRATION: '10d' });
    try {
      const u = await makeUser(exp);
      const h = bearer(await tokenFor(exp, u, 'user:admin'));
      const soon = (await exp.inject({ method: 'POST', url: '/api/v1/user/apptoken', headers: h, payload: { title: 'soon' } })).json().token;
      const later = (await exp.inject({ method: 'POST', url: '/api/v1/user/apptoken', headers: h, payload: { title: 'later' } })).json().token;
      expect(later.expiration).toMatch(RFC2822);
      // "Soon" is within 10 % of the lifetime (1 day here).
      await exp.app.db.updateTable('app_specific_token').set({ expiration: new Date(Date.now() + 3600_000) }).where('uuid', '=', soon.uuid).execute();
      for (const v of ['true', '1', 'no', 'yes']) {
        const r = (await exp.inject({ url: `/api/v1/user/apptoken?expiring=${v}`, headers: h })).json();
        expect(r.only_expiring).toBe(true);
        expect(r.tokens.map((x: { title: string }) => x.title)).toEqual(['soon']);
      }
      for (const v of ['false', 'False', '0', 'null', '']) {
        const r = (await exp.inject({ url: `/api/v1/user/apptoken?expiring=${v}`, headers: h })).json();
        expect(r.only_expiring).toBe(false);
        expect(r.tokens).toHaveLength(2);
      }
      // An expired token is still listed and revocable, but not readable.
      await exp.app.db.updateTable('app_specific_token').set({ expiration: new Date(Date.now() - 1000) }).where('uuid', '=', later.uuid).execute();
      expect((await exp.inject({ url: `/api/v1/user/apptoken/${later.uuid}`, headers: h })).statusCode).toBe(404);
      expect((await exp.inject({ url: '/api/v1/user/apptoken', headers: h })).json().tokens).toHaveLength(2);
      expect((await exp.inject({ method: 'DELETE', url: `/api/v1/user/apptoken/${later.uuid}`, headers: h })).statusCode).toBe(204);
    } finally {
      await exp.close();
    }
  });

  it('revokes a token (204), records revoke_app_specific_token, then 404s', async () => {
    const { token } = (await create(admin, 'gone')).json();
    const del = await t.inject({ method: 'DELETE', url: `/api/v1/user/apptoken/${token.uuid}`, headers: admin });
    expect(del.statusCode).toBe(204);
    expect(del.body).toBe('');
    expect((await t.inject({ url: `/api/v1/user/apptoken/${token.uuid}`, headers: admin })).statusCode).toBe(404);
    expect((await t.inject({ method: 'DELETE', url: `/api/v1/user/apptoken/${token.uuid}`, headers: admin })).statusCode).toBe(404);
    const logs = await auditRows(t, 'revoke_app_specific_token');
    expect(logs.some((l) => (l.metadata as Record<string, unknown>).app_specific_token === token.uuid)).toBe(true);
  });

  it('keeps each user to their own tokens', async () => {
    const { token } = (await create(admin, 'private')).json();
    const bob = await makeUser(t);
    const bobH = bearer(await tokenFor(t, bob, 'user:admin'));
    expect((await t.inject({ url: `/api/v1/user/apptoken/${token.uuid}`, headers: bobH })).statusCode).toBe(404);
    expect((await t.inject({ method: 'DELETE', url: `/api/v1/user/apptoken/${token.uuid}`, headers: bobH })).statusCode).toBe(404);
    const list = (await t.inject({ url: '/api/v1/user/apptoken', headers: bobH })).json();
    expect(list.tokens.find((x: { uuid: string }) => x.uuid === token.uuid)).toBeUndefined();
    expect((await t.inject({ url: `/api/v1/user/apptoken/${token.uuid}`, headers: admin })).statusCode).toBe(200);
  });

  it('refuses anonymous callers (401) and tokens without user:admin (403)', async () => {
    const { token } = (await create(admin)).json();
    const readOnly = bearer(await tokenFor(t, alice, 'user:read repo:admin org:admin'));
    const calls = [
      { method: 'GET' as const, url: '/api/v1/user/apptoken' },
      { method: 'GET' as const, url: `/api/v1/user/apptoken/${token.uuid}` },
      { method: 'DELETE' as const, url: `/api/v1/user/apptoken/${token.uuid}` },
      { method: 'POST' as const, url: '/api/v1/user/apptoken', payload: { title: 'x' } },
    ];
    for (const c of calls) {
      const anon = await t.inject(c);
      // Anonymous writes meet the CSRF check first (403), as in Quay; reads get 401.
      expect(anon.statusCode, `${c.method} ${c.url}`).toBe(c.method === 'GET' ? 401 : 403);
      const scoped = await t.inject({ ...c, headers: readOnly });
      expect(scoped.statusCode, `${c.method} ${c.url}`).toBe(403);
      expect(scoped.json()).toMatchObject({ title: 'insufficient_scope', detail: 'Unauthorized' });
    }
    expect((await t.inject({ url: `/api/v1/user/apptoken/${token.uuid}`, headers: admin })).statusCode).toBe(200);
  });

  it('works with a fresh session and CSRF token', async () => {
    const s = await signIn(t, alice);
    expect((await create(s.headers, 'from browser')).statusCode).toBe(200);
    const noCsrf = await t.inject({ method: 'POST', url: '/api/v1/user/apptoken', headers: { cookie: s.headers.cookie }, payload: { title: 'x' } });
    expect(noCsrf.statusCode).toBe(403);
    expect(noCsrf.json().error).toBe(`CSRF token was invalid or missing. (authorized: user ${alice.username})`);
  });

  it.each([
    [undefined, 'Missing JSON body'],
    [{}, "'title' is a required property"],
    [{ title: 42 }, 'expected string'],
    [{ title: 'x'.repeat(256) }, 'Too big'],
  ])('refuses body %j with 400 invalid_request and creates nothing', async (payload, detail) => {
    const u = await makeUser(t);
    const h = bearer(await tokenFor(t, u, 'user:admin'));
    const res = await t.inject({ method: 'POST', url: '/api/v1/user/apptoken', headers: { ...h, 'content-type': 'application/json' }, payload: payload === undefined ? '' : JSON.stringify(payload) });
    expect(res.statusCode).toBe(400);
    expect(res.json().title).toBe('invalid_request');
    expect(res.json().detail).toContain(detail);
    expect(await t.app.db.selectFrom('app_specific_token').select('id').where('user_id', '=', u.id).execute()).toHaveLength(0);
  });

  it('is absent when FEATURE_APP_SPECIFIC_TOKENS is off', async () => {
    const off = await testApp({ FEATURE_APP_SPECIFIC_TOKENS: 'false' });
    try {
      const u = await makeUser(off);
      const res = await off.inject({ url: '/api/v1/user/apptoken', headers: bearer(await tokenFor(off, u, 'user:admin')) });
      expect(res.statusCode).toBe(404);
    } finally {
      await off.close();
    }
  });
});
