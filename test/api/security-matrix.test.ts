import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp, type TestApp } from '../helpers/app.js';
import { anonymousSession, bearer, makeUser, signIn, tokenFor } from '../helpers/factories.js';
import { rows as foundationRows } from './foundation.security.js';
import { IDENTITIES, type Ctx, type Identity, type Row } from './matrix.js';

const ROWS: Row[] = [...foundationRows];

let t: TestApp;
let ctx: Ctx;
beforeAll(async () => {
  t = await testApp({ SUPER_USERS: 'matrixroot' });
  const alice = await makeUser(t);
  const bob = await makeUser(t);
  const root = await makeUser(t, { username: 'matrixroot' });
  const anon = await anonymousSession(t);
  const headers = {
    anonymous: {},
    anonymousSession: anon.headers,
    basicCredentials: { authorization: `Basic ${Buffer.from(`${alice.username}+robot:SECRETTOKEN`).toString('base64')}` },
    noScopeToken: bearer(await tokenFor(t, alice, 'repo:read')),
    userReadToken: bearer(await tokenFor(t, alice, 'user:read')),
    userAdminToken: bearer(await tokenFor(t, alice, 'user:admin')),
    session: (await signIn(t, alice)).headers,
    superuserToken: bearer(await tokenFor(t, root, 'super:user')),
    superuserWithoutScope: bearer(await tokenFor(t, root, 'user:admin')),
    outsiderAdminToken: bearer(await tokenFor(t, bob, 'user:admin')),
  } satisfies Record<Identity, Record<string, string>>;
  ctx = { t, alice, bob, root, headers };
});
afterAll(() => t?.close());

describe('security matrix', () => {
  it('has rows for every registered /api/v1 route that is served', () => {
    const served = t.app.apiRoutes.filter((r) => !r.notImplemented && r.method !== 'OPTIONS' && r.method !== 'HEAD');
    const covered = new Set(ROWS.map((r) => `${r.method} ${r.route}`));
    const missing = served.map((r) => `${r.method} ${r.url}`).filter((k) => !covered.has(k));
    expect(missing, 'routes without security-matrix rows').toEqual([]);
  });

  for (const row of ROWS) {
    it.each(IDENTITIES.map((id) => [id, row.expect[id]] as const))(`${row.method} ${row.route} as %s → %i`, async (identity, status) => {
      // Browser sessions are fresh for every row: earlier rows sign in, sign out or rotate them.
      if (identity === 'session') ctx.headers.session = (await signIn(t, ctx.alice)).headers;
      if (identity === 'anonymousSession') ctx.headers.anonymousSession = (await anonymousSession(t)).headers;
      const url = await row.path(ctx);
      const res = await t.inject({ method: row.method, url, headers: ctx.headers[identity], ...(row.body ? { payload: row.body(ctx) as object } : {}) });
      expect(res.statusCode, res.body.slice(0, 300)).toBe(status);
      if (status === 401 && String(res.headers['content-type'] ?? '').includes('json') && 'title' in res.json()) expect(res.json().title).toBe('invalid_token');
      if (status === 403 && String(res.headers['content-type'] ?? '').includes('json') && 'title' in res.json()) expect(res.json().title).toBe('insufficient_scope');
    });
  }
});
