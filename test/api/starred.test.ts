import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Namespace } from '../../src/db/schema.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { anonymousSession, bearer, grant, makeOrg, makeRepo, makeUser, signIn, tokenFor, uniqueName, type TestUser } from '../helpers/factories.js';

let t: TestApp;
let alice: TestUser; // org admin
let bob: TestUser; // outsider
let org: Namespace;
let ha: Record<string, string>;
let hb: Record<string, string>;

beforeAll(async () => {
  t = await testApp();
  [alice, bob] = [await makeUser(t), await makeUser(t)];
  org = await makeOrg(t, [alice]);
  ha = bearer(await tokenFor(t, alice, 'user:admin repo:read'));
  hb = bearer(await tokenFor(t, bob, 'user:admin repo:read'));
});
afterAll(() => t?.close());

async function stars(userId: number) {
  return t.app.db.selectFrom('star').select('repository_id').where('user_id', '=', userId).orderBy('repository_id').execute();
}

async function logCount() {
  return (await t.app.db.selectFrom('log_entry').select('id').execute()).length;
}

const star = (headers: Record<string, string>, payload: Record<string, unknown>) =>
  t.inject({ method: 'POST', url: '/api/v1/user/starred', headers, payload });

describe('createStar', () => {
  it('stars a readable repository (201 {namespace, repository}), twice is a no-op, and writes no audit', async () => {
    const r = await makeRepo(t, org);
    const before = await logCount();
    for (let i = 0; i < 2; i++) {
      const res = await star(ha, { namespace: org.username, repository: r.name });
      expect(res.statusCode).toBe(201);
      expect(res.json()).toEqual({ namespace: org.username, repository: r.name });
    }
    expect((await stars(alice.id)).filter((s) => s.repository_id === r.id)).toHaveLength(1);
    expect(await logCount()).toBe(before);
  });

  it('stars public repositories of others and extended names', async () => {
    const pub = await makeRepo(t, org, { visibility: 'public', name: `${uniqueName('a')}/b` });
    const res = await star(hb, { namespace: org.username, repository: pub.name });
    expect(res.statusCode).toBe(201);
    expect((await stars(bob.id)).map((s) => s.repository_id)).toContain(pub.id);
  });

  it('answers 404 for private repositories the caller cannot read and for missing ones, writing nothing', async () => {
    const priv = await makeRepo(t, org);
    for (const payload of [{ namespace: org.username, repository: priv.name }, { namespace: org.username, repository: 'nope' }, { namespace: 'nobody', repository: 'x' }]) {
      const res = await star(hb, payload);
      expect(res.statusCode).toBe(404);
      expect(res.json().error_type).toBe('not_found');
    }
    expect((await stars(bob.id)).map((s) => s.repository_id)).not.toContain(priv.id);
    // A token that cannot read repositories cannot star private ones either.
    const res = await star(bearer(await tokenFor(t, alice, 'user:admin')), { namespace: org.username, repository: priv.name });
    expect(res.statusCode).toBe(404);
  });

  it('validates the body', async () => {
    const res = await star(ha, { namespace: org.username });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error_type: 'invalid_request', detail: "'repository' is a required property" });
  });

  it('needs UserAdmin (not repo:read, as the guide says)', async () => {
    const r = await makeRepo(t, org, { visibility: 'public' });
    const payload = { namespace: org.username, repository: r.name };
    expect((await star(bearer(await tokenFor(t, alice, 'repo:read repo:write repo:admin')), payload)).statusCode).toBe(403);
    expect((await star(bearer(await tokenFor(t, alice, 'user:read')), payload)).statusCode).toBe(403);
    expect((await star((await anonymousSession(t)).headers, payload)).statusCode).toBe(401);
    expect((await stars(alice.id)).map((s) => s.repository_id)).not.toContain(r.id);
    expect((await star((await signIn(t, alice)).headers, payload)).statusCode).toBe(201);
  });
});

describe('listStarredRepos', () => {
  it('lists the caller’s starred, readable repositories in id order with Quay’s shape', async () => {
    const viewer = await makeUser(t);
    const h = bearer(await tokenFor(t, viewer, 'user:admin repo:read'));
    const a = await makeRepo(t, org, { description: 'first' });
    await grant(t, a, { userId: viewer.id }, 'read');
    const b = await makeRepo(t, org, { visibility: 'public', description: 'second' });
    const lost = await makeRepo(t, org); // starred but not readable
    const c = await makeRepo(t, viewer);
    for (const r of [c, lost, b, a]) await t.app.db.insertInto('star').values({ user_id: viewer.id, repository_id: r.id }).execute();
    await makeRepo(t, org, { visibility: 'public' }); // not starred
    const res = await t.inject({ url: '/api/v1/user/starred', headers: h });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      repositories: [
        { namespace: org.username, name: a.name, description: 'first', is_public: false },
        { namespace: org.username, name: b.name, description: 'second', is_public: true },
        { namespace: viewer.username, name: c.name, description: '', is_public: false },
      ],
    });
    // A user:admin token without repo scopes sees only the public ones.
    const userOnly = (await t.inject({ url: '/api/v1/user/starred', headers: bearer(await tokenFor(t, viewer, 'user:admin')) })).json();
    expect(userOnly.repositories.map((r: { name: string }) => r.name)).toEqual([b.name]);
  });

  it('leaves out application repositories', async () => {
    const viewer = await makeUser(t);
    const app = await t.app.db
      .insertInto('repository')
      .values({ namespace_id: viewer.id, name: uniqueName('r'), visibility: 'private', kind: 'application', badge_token: randomUUID() })
      .returning('id')
      .executeTakeFirstOrThrow();
    await t.app.db.insertInto('star').values({ user_id: viewer.id, repository_id: app.id }).execute();
    const res = await t.inject({ url: '/api/v1/user/starred', headers: bearer(await tokenFor(t, viewer, 'user:admin repo:read')) });
    expect(res.json()).toEqual({ repositories: [] });
  });

  it('pages by 100 with next_page', async () => {
    const viewer = await makeUser(t);
    const h = bearer(await tokenFor(t, viewer, 'user:admin repo:read'));
    const rows = await t.app.db
      .insertInto('repository')
      .values(Array.from({ length: 130 }, (_, i) => ({ namespace_id: viewer.id, name: `s${String(i).padStart(3, '0')}`, visibility: 'private' as const, badge_token: randomUUID() })))
      .returning('id')
      .execute();
    await t.app.db.insertInto('star').values(rows.map((r) => ({ user_id: viewer.id, repository_id: r.id }))).execute();
    const first = (await t.inject({ url: '/api/v1/user/starred', headers: h })).json();
    expect(first.repositories).toHaveLength(100);
    expect(first.next_page).toEqual(expect.any(String));
    const second = (await t.inject({ url: `/api/v1/user/starred?next_page=${first.next_page}`, headers: h })).json();
    expect(second.repositories).toHaveLength(30);
    expect(second).not.toHaveProperty('next_page');
    expect([...first.repositories, ...second.repositories].map((r: { name: string }) => r.name)).toEqual(Array.from({ length: 130 }, (_, i) => `s${String(i).padStart(3, '0')}`));
    // An invalid token restarts at the first page.
    expect((await t.inject({ url: '/api/v1/user/starred?next_page=bogus', headers: h })).json().repositories[0].name).toBe('s000');
  });

  it('needs UserAdmin', async () => {
    expect((await t.inject('/api/v1/user/starred')).statusCode).toBe(401);
    expect((await t.inject({ url: '/api/v1/user/starred', headers: bearer(await tokenFor(t, alice, 'user:read repo:read')) })).statusCode).toBe(403);
  });
});

describe('deleteStar', () => {
  const unstar = (headers: Record<string, string>, path: string) => t.inject({ method: 'DELETE', url: `/api/v1/user/starred/${path}`, headers });

  it('removes the star (204) and is idempotent on a readable repository', async () => {
    const r = await makeRepo(t, org);
    await t.app.db.insertInto('star').values({ user_id: alice.id, repository_id: r.id }).execute();
    const res = await unstar(ha, `${org.username}/${r.name}`);
    expect(res.statusCode).toBe(204);
    expect(res.body).toBe('');
    expect((await stars(alice.id)).map((s) => s.repository_id)).not.toContain(r.id);
    expect((await unstar(ha, `${org.username}/${r.name}`)).statusCode).toBe(204);
  });

  it('removes a star the caller holds even after losing access', async () => {
    const r = await makeRepo(t, org);
    await t.app.db.insertInto('star').values({ user_id: bob.id, repository_id: r.id }).execute();
    expect((await unstar(hb, `${org.username}/${r.name}`)).statusCode).toBe(204);
    expect((await stars(bob.id)).map((s) => s.repository_id)).not.toContain(r.id);
    // Without a star, the unreadable repository looks missing.
    expect((await unstar(hb, `${org.username}/${r.name}`)).statusCode).toBe(404);
  });

  it('answers 404 for a missing repository and handles extended names', async () => {
    expect((await unstar(ha, `${org.username}/nope`)).statusCode).toBe(404);
    const r = await makeRepo(t, org, { visibility: 'public', name: `${uniqueName('x')}/y/z` });
    await t.app.db.insertInto('star').values({ user_id: bob.id, repository_id: r.id }).execute();
    expect((await unstar(hb, `${org.username}/${r.name}`)).statusCode).toBe(204);
    expect((await stars(bob.id)).map((s) => s.repository_id)).not.toContain(r.id);
  });

  it('needs UserAdmin and leaves the star in place otherwise', async () => {
    const r = await makeRepo(t, org, { visibility: 'public' });
    await t.app.db.insertInto('star').values({ user_id: alice.id, repository_id: r.id }).execute();
    expect((await unstar(bearer(await tokenFor(t, alice, 'repo:admin user:read')), `${org.username}/${r.name}`)).statusCode).toBe(403);
    expect((await unstar((await anonymousSession(t)).headers, `${org.username}/${r.name}`)).statusCode).toBe(401);
    expect((await stars(alice.id)).map((s) => s.repository_id)).toContain(r.id);
  });
});
