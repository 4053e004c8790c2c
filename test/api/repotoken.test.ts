import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Namespace, Repository } from '../../src/db/schema.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { anonymousSession, bearer, grant, makeOrg, makeRepo, makeUser, tokenFor, type TestUser } from '../helpers/factories.js';

let t: TestApp;
let alice: TestUser; // org admin
let carol: TestUser; // write on the repo
let org: Namespace;
let repo: Repository;
let admin: Record<string, string>;
let writer: Record<string, string>;

const HANDLING = { message: 'Handling of access tokens is no longer supported' };
const CREATION = { message: 'Creation of access tokens is no longer supported' };

beforeAll(async () => {
  t = await testApp();
  [alice, carol] = [await makeUser(t), await makeUser(t)];
  org = await makeOrg(t, [alice]);
  repo = await makeRepo(t, org);
  await grant(t, repo, { userId: carol.id }, 'write');
  admin = bearer(await tokenFor(t, alice, 'repo:admin'));
  writer = bearer(await tokenFor(t, carol, 'repo:admin'));
});
afterAll(() => t?.close());

const base = () => `/api/v1/repository/${org.username}/${repo.name}/tokens/`;

const CALLS = () => [
  { name: 'listRepoTokens', method: 'GET' as const, url: base(), body: undefined, gone: HANDLING, bad: undefined },
  { name: 'createToken', method: 'POST' as const, url: base(), body: { friendlyName: 'ci' }, gone: CREATION, bad: {} },
  { name: 'getTokens', method: 'GET' as const, url: `${base()}abc`, body: undefined, gone: HANDLING, bad: undefined },
  { name: 'changeToken', method: 'PUT' as const, url: `${base()}abc`, body: { role: 'write' }, gone: HANDLING, bad: { role: 'owner' } },
  { name: 'deleteToken', method: 'DELETE' as const, url: `${base()}abc`, body: undefined, gone: HANDLING, bad: undefined },
];

describe('repository tokens (gone since Quay 3.6)', () => {
  it('answer 410 with Quay’s message to repository admins', async () => {
    for (const c of CALLS()) {
      const res = await t.inject({ method: c.method, url: c.url, headers: admin, ...(c.body ? { payload: c.body } : {}) });
      expect(res.statusCode, c.name).toBe(410);
      expect(res.json(), c.name).toMatchObject(c.gone);
    }
  });

  it('validate the body before answering 410', async () => {
    for (const c of CALLS().filter((x) => x.bad)) {
      const res = await t.inject({ method: c.method, url: c.url, headers: admin, payload: c.bad! });
      expect(res.statusCode, c.name).toBe(400);
      expect(res.json().error_type).toBe('invalid_request');
    }
  });

  it('check AdminRepo first: 401 anonymous, 403 for writers and for a token without repo:admin, even with a bad body', async () => {
    const session = (await anonymousSession(t)).headers;
    const readOnly = bearer(await tokenFor(t, alice, 'repo:write'));
    for (const c of CALLS()) {
      const payload = c.bad ?? c.body;
      const opts = payload ? { payload } : {};
      expect((await t.inject({ method: c.method, url: c.url, headers: session, ...opts })).statusCode, c.name).toBe(401);
      expect((await t.inject({ method: c.method, url: c.url, headers: writer, ...opts })).statusCode, c.name).toBe(403);
      expect((await t.inject({ method: c.method, url: c.url, headers: readOnly, ...opts })).statusCode, c.name).toBe(403);
    }
  });

  it('answer 410 to namespace admins for a missing repository, 403 to others (no existence leak)', async () => {
    const url = `/api/v1/repository/${org.username}/nope/tokens/`;
    expect((await t.inject({ url, headers: admin })).statusCode).toBe(410);
    expect((await t.inject({ url, headers: writer })).statusCode).toBe(403);
  });
});
