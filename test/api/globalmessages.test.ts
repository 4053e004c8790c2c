import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp, type TestApp } from '../helpers/app.js';
import { bearer, makeUser, signIn, tokenFor, type TestUser } from '../helpers/factories.js';

let t: TestApp;
let root: TestUser;
let rootH: Record<string, string>;
beforeAll(async () => {
  t = await testApp({ SUPER_USERS: 'root1,root2' });
  root = await makeUser(t, { username: 'root1' });
  rootH = bearer(await tokenFor(t, root, 'super:user'));
});
afterAll(() => t?.close());

const msg = (content: string, severity = 'info', media_type = 'text/plain') => ({ message: { content, severity, media_type } });
const FORBIDDEN = /^You don't have the permission/;

async function list() {
  return (await t.inject('/api/v1/messages')).json().messages as { uuid: string; content: string }[];
}

describe('global messages', () => {
  it('lets a superuser create a message (201, empty body) that anyone, anonymous included, can read', async () => {
    const res = await t.inject({ method: 'POST', url: '/api/v1/messages', headers: rootH, payload: msg('Maintenance tonight', 'warning', 'text/markdown') });
    expect(res.statusCode).toBe(201);
    expect(res.body).toBe('');
    const found = (await list()).find((m) => m.content === 'Maintenance tonight');
    expect(found).toEqual({ uuid: expect.stringMatching(/^[0-9a-f-]{36}$/), content: 'Maintenance tonight', severity: 'warning', media_type: 'text/markdown' });
  });

  it('deletes a message (204), and answers 204 for an unknown uuid too', async () => {
    await t.inject({ method: 'POST', url: '/api/v1/messages', headers: rootH, payload: msg('to delete') });
    const m = (await list()).find((x) => x.content === 'to delete')!;
    expect((await t.inject({ method: 'DELETE', url: `/api/v1/message/${m.uuid}`, headers: rootH })).statusCode).toBe(204);
    expect((await list()).find((x) => x.content === 'to delete')).toBeUndefined();
    expect((await t.inject({ method: 'DELETE', url: '/api/v1/message/no-such-uuid', headers: rootH })).statusCode).toBe(204);
  });

  it('refuses non-superusers with 403 {message} and writes nothing', async () => {
    const u = await makeUser(t);
    const before = (await list()).length;
    for (const h of [bearer(await tokenFor(t, u, 'super:user user:admin')), bearer(await tokenFor(t, root, 'user:admin repo:admin'))]) {
      const res = await t.inject({ method: 'POST', url: '/api/v1/messages', headers: h, payload: msg('nope') });
      expect(res.statusCode).toBe(403);
      expect(res.json().message).toMatch(FORBIDDEN);
    }
    expect(await list()).toHaveLength(before);
    const existing = await t.inject({ method: 'POST', url: '/api/v1/messages', headers: rootH, payload: msg('keep me') });
    expect(existing.statusCode).toBe(201);
    const keep = (await list()).find((x) => x.content === 'keep me')!;
    const del = await t.inject({ method: 'DELETE', url: `/api/v1/message/${keep.uuid}`, headers: bearer(await tokenFor(t, u, 'super:user')) });
    expect(del.statusCode).toBe(403);
    expect((await list()).find((x) => x.content === 'keep me')).toBeDefined();
  });

  it('refuses anonymous writes (CSRF first, 403) and anonymous sessions (401)', async () => {
    expect((await t.inject({ method: 'POST', url: '/api/v1/messages', payload: msg('x') })).statusCode).toBe(403);
    const anonBrowser = await t.inject('/csrf_token');
    const cookie = anonBrowser.cookies[0].value;
    const res = await t.inject({ method: 'POST', url: '/api/v1/messages', headers: { cookie: `_csrf_token=${cookie}`, 'x-csrf-token': anonBrowser.json().csrf_token }, payload: msg('x') });
    expect(res.statusCode).toBe(401);
    expect(res.json().title).toBe('invalid_token');
  });

  it('works for a superuser’s fresh session', async () => {
    const s = await signIn(t, root);
    expect((await t.inject({ method: 'POST', url: '/api/v1/messages', headers: s.headers, payload: msg('from session') })).statusCode).toBe(201);
  });

  it.each([
    [{}, "'message' is a required property"],
    [{ message: { content: 'x', severity: 'info' } }, "'media_type' is a required property"],
    [{ message: { content: 'x', severity: 'fatal', media_type: 'text/plain' } }, 'severity'],
    [{ message: { content: 'x', severity: 'info', media_type: 'text/html' } }, 'media_type'],
    [{ message: { content: '', severity: 'info', media_type: 'text/plain' } }, 'content'],
  ])('refuses %j with 400 invalid_request', async (payload, detail) => {
    const before = (await list()).length;
    const res = await t.inject({ method: 'POST', url: '/api/v1/messages', headers: rootH, payload });
    expect(res.statusCode).toBe(400);
    expect(res.json().title).toBe('invalid_request');
    expect(res.json().detail).toContain(detail);
    expect(await list()).toHaveLength(before);
  });

  it('hides DELETE and refuses POST with 404 when FEATURE_SUPER_USERS is off', async () => {
    const off = await testApp({ FEATURE_SUPER_USERS: 'false', SUPER_USERS: 'root1' });
    try {
      const r = await makeUser(off, { username: 'root1' });
      const h = bearer(await tokenFor(off, r, 'super:user'));
      expect((await off.inject({ method: 'POST', url: '/api/v1/messages', headers: h, payload: msg('x') })).statusCode).toBe(404);
      expect((await off.inject({ method: 'DELETE', url: '/api/v1/message/abc', headers: h })).statusCode).toBe(404);
    } finally {
      await off.close();
    }
  });
});
