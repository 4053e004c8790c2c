import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { effectiveRepoRole, repoRoleAtLeast } from '../../src/auth/permissions.js';
import { parseScopeString } from '../../src/auth/scopes.js';
import type { Namespace, Repository } from '../../src/db/schema.js';
import { encodePageToken } from '../../src/lib/pagination.js';
import { testApp, type TestApp } from '../helpers/app.js';
import {
  anonymousSession,
  auditRows,
  bearer,
  grant,
  makeOrg,
  makeRepo,
  makeTeam,
  makeUser,
  signIn,
  tokenFor,
  uniqueName,
  type TestUser,
} from '../helpers/factories.js';

const FULL = 'repo:read repo:write repo:admin repo:create user:read user:admin org:admin';

let t: TestApp;
let alice: TestUser; // org admin
let bob: TestUser; // outsider
let carol: TestUser; // member team, read on repo
let dave: TestUser; // creator team
let org: Namespace;
let repo: Repository;
let h: Record<'alice' | 'bob' | 'carol' | 'dave', Record<string, string>>;

beforeAll(async () => {
  t = await testApp();
  [alice, bob, carol, dave] = [await makeUser(t), await makeUser(t), await makeUser(t), await makeUser(t)];
  org = await makeOrg(t, [alice]);
  const readers = await makeTeam(t, org, 'member', [carol], 'readers');
  await makeTeam(t, org, 'creator', [dave], 'creators');
  repo = await makeRepo(t, org, { name: 'main', description: 'the main repo' });
  await grant(t, repo, { teamId: readers.id }, 'read');
  h = {
    alice: bearer(await tokenFor(t, alice, FULL)),
    bob: bearer(await tokenFor(t, bob, FULL)),
    carol: bearer(await tokenFor(t, carol, FULL)),
    dave: bearer(await tokenFor(t, dave, FULL)),
  };
});
afterAll(() => t?.close());

function create(headers: Record<string, string>, payload: Record<string, unknown>) {
  return t.inject({ method: 'POST', url: '/api/v1/repository', headers, payload });
}

async function repoRow(ns: Namespace, name: string) {
  return t.app.db.selectFrom('repository').selectAll().where('namespace_id', '=', ns.id).where('name', '=', name).executeTakeFirst();
}

async function permissions(repoId: number) {
  return t.app.db.selectFrom('repository_permission').select(['user_id', 'team_id', 'role']).where('repository_id', '=', repoId).orderBy('id').execute();
}

describe('createRepo', () => {
  it('creates a repository in the caller’s namespace (201), grants the creator admin and records create_repo', async () => {
    const name = uniqueName('r');
    const res = await create(h.bob, { repository: name, visibility: 'private', description: 'hello' });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toEqual({ namespace: bob.username, name, kind: 'image' });
    const row = (await repoRow(bob, name))!;
    expect(row).toMatchObject({ visibility: 'private', description: 'hello', kind: 'image', state: 'NORMAL' });
    expect(row.badge_token).toMatch(/^[0-9a-f-]{36}$/);
    expect(await permissions(row.id)).toEqual([{ user_id: bob.id, team_id: null, role: 'admin' }]);
    const log = (await auditRows(t, 'create_repo')).find((l) => l.repository_id === row.id);
    expect(log).toMatchObject({ account_id: bob.id, performer_id: bob.id });
    expect(log!.metadata).toMatchObject({ repo: name, namespace: bob.username, oauth_token_application: 'automation' });
  });

  it('accepts an explicit namespace, repo_kind null (image) and application, and a browser session', async () => {
    const s = await signIn(t, alice);
    const a = uniqueName('r');
    const res = await create(s.headers, { namespace: org.username, repository: a, visibility: 'public', description: '', repo_kind: null });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toEqual({ namespace: org.username, name: a, kind: 'image' });
    expect((await repoRow(org, a))!.visibility).toBe('public');
    const b = uniqueName('r');
    const app = await create(h.alice, { namespace: org.username, repository: b, visibility: 'private', description: 'x', repo_kind: 'application' });
    expect(app.json()).toEqual({ namespace: org.username, name: b, kind: 'application' });
    expect((await repoRow(org, b))!.kind).toBe('application');
  });

  it('accepts extended names with slashes, and they are reachable through the API', async () => {
    const name = `${uniqueName('team')}/sub.app/x_y-z`;
    expect((await create(h.bob, { repository: name, visibility: 'private', description: '' })).statusCode).toBe(201);
    const res = await t.inject({ url: `/api/v1/repository/${bob.username}/${name}`, headers: h.bob });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ namespace: bob.username, name });
  });

  it.each([['Upper'], ['-dash'], ['.dot'], ['a//b'], ['a/'], ['/a'], ['a/-b'], ['sp ace'], ['x'.repeat(256)], ['']])(
    'refuses the invalid name %j with 400 and writes nothing',
    async (name) => {
      const before = (await auditRows(t, 'create_repo')).length;
      const res = await create(h.bob, { repository: name, visibility: 'private', description: '' });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ error_type: 'invalid_request', detail: 'Invalid repository name' });
      expect(await repoRow(bob, name)).toBeUndefined();
      expect((await auditRows(t, 'create_repo')).length).toBe(before);
    },
  );

  it('ignores unknown body properties', async () => {
    const name = uniqueName('r');
    const res = await create(h.bob, { repository: name, visibility: 'private', description: '', trust_enabled: true, extra: { x: 1 } });
    expect(res.statusCode).toBe(201);
    expect(await repoRow(bob, name)).toBeDefined();
  });

  it('accepts a 255-character name', async () => {
    const name = `a${randomUUID().replace(/-/g, '')}`.padEnd(255, 'b');
    expect((await create(h.bob, { repository: name, visibility: 'private', description: '' })).statusCode).toBe(201);
  });

  it('refuses a duplicate with 400 "Repository already exists" (checked before the name)', async () => {
    const res = await create(h.alice, { namespace: org.username, repository: 'main', visibility: 'private', description: '' });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error_type: 'invalid_request', detail: 'Repository already exists' });
    const rows = await t.app.db.selectFrom('repository').select('id').where('namespace_id', '=', org.id).where('name', '=', 'main').execute();
    expect(rows).toHaveLength(1);
  });

  it.each<[Record<string, unknown>, string]>([
    [{ repository: 'n1', visibility: 'private' }, "'description' is a required property"],
    [{ repository: 'n2', description: '' }, "'visibility' is a required property"],
    [{ visibility: 'private', description: '' }, "'repository' is a required property"],
  ])('validates the body before anything else: %j', async (payload, detail) => {
    const res = await create(h.bob, payload);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error_type: 'invalid_request', detail });
    expect(await repoRow(bob, String(payload.repository))).toBeUndefined();
  });

  it('refuses an unknown visibility or repo_kind with 400', async () => {
    for (const extra of [{ visibility: 'secret' }, { visibility: 'public', repo_kind: 'helm' }]) {
      const name = uniqueName('r');
      const res = await create(h.bob, { repository: name, description: '', ...extra });
      expect(res.statusCode).toBe(400);
      expect(res.json().error_type).toBe('invalid_request');
      expect(await repoRow(bob, name)).toBeUndefined();
    }
  });

  it('validates the body even for callers who may not create there (Quay’s order)', async () => {
    const res = await create(h.bob, { namespace: org.username, repository: 'x' });
    expect(res.statusCode).toBe(400);
  });

  it('lets org admins and creator-team members create in the org, and nobody else', async () => {
    for (const [headers, status] of [[h.alice, 201], [h.dave, 201], [h.carol, 403], [h.bob, 403]] as const) {
      const name = uniqueName('r');
      const res = await create(headers, { namespace: org.username, repository: name, visibility: 'private', description: '' });
      expect(res.statusCode).toBe(status);
      if (status === 403) {
        expect(res.json()).toMatchObject({ error_type: 'insufficient_scope' });
        expect(await repoRow(org, name)).toBeUndefined();
      }
    }
  });

  it('needs repo:create (or org:admin): repo:write and repo:admin alone do not allow creation', async () => {
    const cases: [string, TestUser, Namespace, number][] = [
      ['repo:read repo:write repo:admin', bob, bob, 403],
      ['repo:admin user:admin', bob, bob, 403],
      ['repo:create', bob, bob, 201],
      ['org:admin', bob, bob, 201],
      ['repo:create', dave, org, 201],
      ['repo:admin', alice, org, 403],
      ['org:admin', alice, org, 201],
    ];
    for (const [scope, user, ns, status] of cases) {
      const name = uniqueName('r');
      const res = await create(bearer(await tokenFor(t, user, scope)), { namespace: ns.username, repository: name, visibility: 'private', description: '' });
      expect(res.statusCode, `${scope} as ${user.username} in ${ns.username}`).toBe(status);
      expect(!!(await repoRow(ns, name))).toBe(status === 201);
    }
  });

  it('refuses other users’ namespaces, robots and unknown namespaces with 403, anonymous callers with 401', async () => {
    for (const ns of [carol.username, `${org.username}+bot`, uniqueName('nobody')]) {
      const res = await create(h.bob, { namespace: ns, repository: 'x', visibility: 'private', description: '' });
      expect(res.statusCode).toBe(403);
    }
    const anon = await create((await anonymousSession(t)).headers, { namespace: org.username, repository: 'x', visibility: 'private', description: '' });
    expect(anon.statusCode).toBe(401);
    expect(anon.json().error_type).toBe('invalid_token');
    // No cookie and no token: Quay's CSRF check answers first.
    expect((await create({}, { repository: 'x', visibility: 'private', description: '' })).statusCode).toBe(403);
  });
});

describe('createRepo applies the org’s default permissions', () => {
  it('follows the selection rules, skips the creator, writes no audit for the grants', async () => {
    const creator = await makeUser(t);
    const other = await makeUser(t);
    const u1 = await makeUser(t);
    const u2 = await makeUser(t);
    const o = await makeOrg(t, [alice]);
    await makeTeam(t, o, 'creator', [creator], 'makers');
    const t1 = await makeTeam(t, o, 'member', [], 'teamone');
    const t2 = await makeTeam(t, o, 'member', [], 'teamtwo');
    const t3 = await makeTeam(t, o, 'member', [], 'teamthree');
    const proto = (p: { activating?: number; user?: number; team?: number; role: 'read' | 'write' | 'admin' }) =>
      t.app.db
        .insertInto('permission_prototype')
        .values({ uuid: randomUUID(), org_id: o.id, activating_user_id: p.activating ?? null, delegate_user_id: p.user ?? null, delegate_team_id: p.team ?? null, role: p.role })
        .execute();
    await proto({ team: t1.id, role: 'read' }); // generic: first found wins …
    await proto({ team: t1.id, role: 'write' }); // … over this one
    await proto({ team: t2.id, role: 'admin' }); // generic, beaten by the specific rule below
    await proto({ activating: creator.id, team: t2.id, role: 'read' });
    await proto({ activating: creator.id, user: u1.id, role: 'read' }); // specific: last found wins …
    await proto({ activating: creator.id, user: u1.id, role: 'write' }); // … this one
    await proto({ user: creator.id, role: 'read' }); // the creator is skipped (already admin)
    await proto({ activating: other.id, team: t3.id, role: 'admin' }); // someone else's rule
    await proto({ user: u2.id, role: 'read' });
    const grantsBefore = (await auditRows(t, 'add_repo_permission')).length + (await auditRows(t, 'change_repo_permission')).length;

    const name = uniqueName('r');
    const res = await create(bearer(await tokenFor(t, creator, 'repo:create')), { namespace: o.username, repository: name, visibility: 'private', description: '' });
    expect(res.statusCode).toBe(201);
    const row = (await repoRow(o, name))!;
    const perms = await permissions(row.id);
    expect(perms).toHaveLength(5);
    expect(perms).toEqual(
      expect.arrayContaining([
        { user_id: creator.id, team_id: null, role: 'admin' },
        { user_id: null, team_id: t1.id, role: 'read' },
        { user_id: null, team_id: t2.id, role: 'read' },
        { user_id: u1.id, team_id: null, role: 'write' },
        { user_id: u2.id, team_id: null, role: 'read' },
      ]),
    );
    expect((await auditRows(t, 'add_repo_permission')).length + (await auditRows(t, 'change_repo_permission')).length).toBe(grantsBefore);
    expect((await auditRows(t, 'create_repo')).filter((l) => l.repository_id === row.id)).toHaveLength(1);

    // Applied at creation only: another creator in the same org gets the generic rules, not the specific ones.
    const second = uniqueName('r');
    expect((await create(h.alice, { namespace: o.username, repository: second, visibility: 'private', description: '' })).statusCode).toBe(201);
    const perms2 = await permissions((await repoRow(o, second))!.id);
    expect(perms2).toEqual(
      expect.arrayContaining([
        { user_id: alice.id, team_id: null, role: 'admin' },
        { user_id: null, team_id: t1.id, role: 'read' },
        { user_id: null, team_id: t2.id, role: 'admin' },
        { user_id: creator.id, team_id: null, role: 'read' },
        { user_id: u2.id, team_id: null, role: 'read' },
      ]),
    );
    expect(perms2).toHaveLength(5);
  });

  it('applies no prototypes in a user namespace', async () => {
    const name = uniqueName('r');
    await create(h.carol, { repository: name, visibility: 'private', description: '' });
    expect(await permissions((await repoRow(carol, name))!.id)).toEqual([{ user_id: carol.id, team_id: null, role: 'admin' }]);
  });
});

describe('getRepo', () => {
  it('returns Quay’s ImageRepository view of a private repository', async () => {
    const res = await t.inject({ url: `/api/v1/repository/${org.username}/main`, headers: h.alice });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      namespace: org.username,
      name: 'main',
      kind: 'image',
      description: 'the main repo',
      is_public: false,
      is_organization: true,
      is_starred: false,
      status_token: repo.badge_token,
      trust_enabled: false,
      tag_expiration_s: 1209600,
      is_free_account: true,
      state: 'NORMAL',
      can_write: true,
      can_admin: true,
      tags: {},
    });
  });

  it('honours includeTags and includeStats with Quay’s booleans', async () => {
    const base = `/api/v1/repository/${org.username}/main`;
    for (const v of ['false', '0', 'False']) {
      expect((await t.inject({ url: `${base}?includeTags=${v}`, headers: h.alice })).json()).not.toHaveProperty('tags');
    }
    const res = (await t.inject({ url: `${base}?includeStats=true`, headers: h.alice })).json();
    expect(res.tags).toEqual({});
    expect(res.stats).toHaveLength(91);
    expect(res.stats.every((s: { date: string; count: number }) => /^\d{4}-\d{2}-\d{2}$/.test(s.date) && s.count === 0)).toBe(true);
    expect(new Set(res.stats.map((s: { date: string }) => s.date)).size).toBe(91);
    expect((await t.inject({ url: base, headers: h.alice })).json()).not.toHaveProperty('stats');
  });

  it('shows a public repository to anonymous callers with an empty status_token', async () => {
    const pub = await makeRepo(t, org, { visibility: 'public', description: 'open' });
    const res = await t.inject(`/api/v1/repository/${org.username}/${pub.name}`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ is_public: true, status_token: '', is_starred: false, can_write: false, can_admin: false, description: 'open' });
  });

  it('computes can_write / can_admin from the caller’s effective role and the repository state', async () => {
    const r = await makeRepo(t, org);
    const writer = await makeUser(t);
    await grant(t, r, { userId: writer.id }, 'write');
    await grant(t, r, { userId: carol.id }, 'read');
    const url = `/api/v1/repository/${org.username}/${r.name}`;
    expect((await t.inject({ url, headers: h.carol })).json()).toMatchObject({ can_write: false, can_admin: false });
    expect((await t.inject({ url, headers: bearer(await tokenFor(t, writer, 'repo:write')) })).json()).toMatchObject({ can_write: true, can_admin: false });
    // The token's scope caps the org admin's role.
    expect((await t.inject({ url, headers: bearer(await tokenFor(t, alice, 'repo:read')) })).json()).toMatchObject({ can_write: false, can_admin: false });
    expect((await t.inject({ url, headers: bearer(await tokenFor(t, alice, 'repo:write')) })).json()).toMatchObject({ can_write: true, can_admin: false });
    await t.app.db.updateTable('repository').set({ state: 'READ_ONLY' }).where('id', '=', r.id).execute();
    expect((await t.inject({ url, headers: h.alice })).json()).toMatchObject({ state: 'READ_ONLY', can_write: false, can_admin: true });
  });

  it('reports is_starred for the caller', async () => {
    const r = await makeRepo(t, org, { visibility: 'public' });
    await t.app.db.insertInto('star').values({ user_id: bob.id, repository_id: r.id }).execute();
    const url = `/api/v1/repository/${org.username}/${r.name}`;
    expect((await t.inject({ url, headers: h.bob })).json().is_starred).toBe(true);
    expect((await t.inject({ url, headers: h.alice })).json().is_starred).toBe(false);
  });

  it('shows a user namespace as is_organization false, with its tag expiration', async () => {
    await t.app.db.updateTable('namespace').set({ tag_expiration_s: 3600 }).where('id', '=', bob.id).execute();
    const r = await makeRepo(t, bob);
    const res = (await t.inject({ url: `/api/v1/repository/${bob.username}/${r.name}`, headers: h.bob })).json();
    expect(res).toMatchObject({ is_organization: false, tag_expiration_s: 3600, can_admin: true });
  });

  it('gives application repositories channels and releases instead of tags', async () => {
    const name = uniqueName('r');
    await create(h.alice, { namespace: org.username, repository: name, visibility: 'private', description: 'app', repo_kind: 'application' });
    const res = (await t.inject({ url: `/api/v1/repository/${org.username}/${name}`, headers: h.alice })).json();
    expect(res).toEqual({
      namespace: org.username, name, kind: 'application', description: 'app', is_public: false, is_organization: true,
      is_starred: false, channels: [], releases: [], state: 'NORMAL', is_free_account: true, can_write: true, can_admin: true,
    });
  });

  it('checks permission before existence: 401/403 for private or missing repositories, 404 only for namespace admins', async () => {
    const url = `/api/v1/repository/${org.username}/main`;
    expect((await t.inject(url)).statusCode).toBe(401);
    expect((await t.inject({ url, headers: h.bob })).statusCode).toBe(403);
    expect((await t.inject({ url, headers: h.dave })).statusCode).toBe(403);
    expect((await t.inject({ url, headers: bearer(await tokenFor(t, alice, 'user:read')) })).statusCode).toBe(403);
    const missing = `/api/v1/repository/${org.username}/nope`;
    expect((await t.inject(missing)).statusCode).toBe(401);
    expect((await t.inject({ url: missing, headers: h.bob })).statusCode).toBe(403);
    expect((await t.inject({ url: missing, headers: h.carol })).statusCode).toBe(403);
    const res = await t.inject({ url: missing, headers: h.alice });
    expect(res.statusCode).toBe(404);
    expect(res.json().error_type).toBe('not_found');
  });
});

describe('updateRepo', () => {
  it('sets the description (200 {success}) and records set_repo_description', async () => {
    const r = await makeRepo(t, org);
    await grant(t, r, { userId: carol.id }, 'write');
    const res = await t.inject({ method: 'PUT', url: `/api/v1/repository/${org.username}/${r.name}`, headers: h.carol, payload: { description: '# New' } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ success: true });
    expect((await repoRow(org, r.name))!.description).toBe('# New');
    const log = (await auditRows(t, 'set_repo_description')).find((l) => l.repository_id === r.id);
    expect(log).toMatchObject({ account_id: org.id, performer_id: carol.id });
    expect(log!.metadata).toMatchObject({ repo: r.name, namespace: org.username, description: '# New' });
  });

  it('refuses readers and outsiders, validates the body, and answers 404 for admins of a missing repo', async () => {
    const url = `/api/v1/repository/${org.username}/main`;
    expect((await t.inject({ method: 'PUT', url, headers: h.carol, payload: { description: 'x' } })).statusCode).toBe(403);
    expect((await t.inject({ method: 'PUT', url, headers: h.bob, payload: { description: 'x' } })).statusCode).toBe(403);
    expect((await t.inject({ method: 'PUT', url, headers: bearer(await tokenFor(t, alice, 'repo:read')), payload: { description: 'x' } })).statusCode).toBe(403);
    const bad = await t.inject({ method: 'PUT', url, headers: h.alice, payload: { title: 'x' } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().detail).toBe("'description' is a required property");
    expect((await repoRow(org, 'main'))!.description).toBe('the main repo');
    expect((await t.inject({ method: 'PUT', url: `/api/v1/repository/${org.username}/nope`, headers: h.alice, payload: { description: 'x' } })).statusCode).toBe(404);
  });
});

describe('changeRepoVisibility', () => {
  it('changes the visibility (200 {success}) and records change_repo_visibility', async () => {
    const r = await makeRepo(t, org);
    const url = `/api/v1/repository/${org.username}/${r.name}/changevisibility`;
    const res = await t.inject({ method: 'POST', url, headers: h.alice, payload: { visibility: 'public' } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ success: true });
    expect((await repoRow(org, r.name))!.visibility).toBe('public');
    expect((await t.inject(`/api/v1/repository/${org.username}/${r.name}`)).statusCode).toBe(200);
    const log = (await auditRows(t, 'change_repo_visibility')).find((l) => l.repository_id === r.id);
    expect(log).toMatchObject({ account_id: org.id, performer_id: alice.id });
    expect(log!.metadata).toMatchObject({ repo: r.name, namespace: org.username, visibility: 'public' });
    await t.inject({ method: 'POST', url, headers: h.alice, payload: { visibility: 'private' } });
    expect((await repoRow(org, r.name))!.visibility).toBe('private');
  });

  it('needs AdminRepo, validates the body, and answers 404 for a missing repository', async () => {
    const r = await makeRepo(t, org);
    await grant(t, r, { userId: carol.id }, 'write');
    const url = `/api/v1/repository/${org.username}/${r.name}/changevisibility`;
    expect((await t.inject({ method: 'POST', url, headers: h.carol, payload: { visibility: 'public' } })).statusCode).toBe(403);
    expect((await t.inject({ method: 'POST', url, headers: bearer(await tokenFor(t, alice, 'repo:write')), payload: { visibility: 'public' } })).statusCode).toBe(403);
    for (const payload of [{}, { visibility: 'internal' }]) {
      const res = await t.inject({ method: 'POST', url, headers: h.alice, payload });
      expect(res.statusCode).toBe(400);
      expect(res.json().error_type).toBe('invalid_request');
    }
    expect((await repoRow(org, r.name))!.visibility).toBe('private');
    expect((await auditRows(t, 'change_repo_visibility')).some((l) => l.repository_id === r.id)).toBe(false);
    expect((await t.inject({ method: 'POST', url: `/api/v1/repository/${org.username}/nope/changevisibility`, headers: h.alice, payload: { visibility: 'public' } })).statusCode).toBe(404);
  });
});

describe('changeRepoState (FEATURE_REPO_MIRROR)', () => {
  // The shared app runs with the default configuration (flag off); this one turns the flag on.
  let m: TestApp;
  let owner: TestUser;
  let writer: TestUser;
  let mirrorOrg: Namespace;
  beforeAll(async () => {
    m = await testApp({ FEATURE_REPO_MIRROR: 'true' });
    [owner, writer] = [await makeUser(m), await makeUser(m)];
    mirrorOrg = await makeOrg(m, [owner]);
  });
  afterAll(() => m?.close());

  const stateUrl = (ns: string, name: string) => `/api/v1/repository/${ns}/${name}/changestate`;
  const stateOf = async (id: number) => (await m.app.db.selectFrom('repository').select('state').where('id', '=', id).executeTakeFirstOrThrow()).state;

  it('sets each state (200 {success}), records change_repo_state, and getRepo follows it', async () => {
    const r = await makeRepo(m, mirrorOrg);
    const h = bearer(await tokenFor(m, owner, FULL));
    const view = `/api/v1/repository/${mirrorOrg.username}/${r.name}`;
    for (const state of ['READ_ONLY', 'MIRROR', 'NORMAL'] as const) {
      const res = await m.inject({ method: 'PUT', url: stateUrl(mirrorOrg.username, r.name), headers: h, payload: { state } });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ success: true });
      expect(await stateOf(r.id)).toBe(state);
      // Writes are refused outside NORMAL, so can_write follows the state; can_admin does not.
      expect((await m.inject({ url: view, headers: h })).json()).toMatchObject({ state, can_write: state === 'NORMAL', can_admin: true });
    }
    const logs = (await auditRows(m, 'change_repo_state')).filter((l) => l.repository_id === r.id);
    expect(logs.map((l) => l.metadata)).toEqual(
      ['READ_ONLY', 'MIRROR', 'NORMAL'].map((state_changed) => expect.objectContaining({ repo: r.name, namespace: mirrorOrg.username, state_changed })),
    );
    expect(logs[0]).toMatchObject({ account_id: mirrorOrg.id, performer_id: owner.id });
  });

  it('needs AdminRepo, validates the state, and answers 404 to namespace admins for a missing repository', async () => {
    const r = await makeRepo(m, mirrorOrg);
    await grant(m, r, { userId: writer.id }, 'write');
    const url = stateUrl(mirrorOrg.username, r.name);
    const payload = { state: 'READ_ONLY' };
    expect((await m.inject({ method: 'PUT', url, headers: (await anonymousSession(m)).headers, payload })).statusCode).toBe(401);
    expect((await m.inject({ method: 'PUT', url, headers: bearer(await tokenFor(m, writer, FULL)), payload })).statusCode).toBe(403);
    // The token's scope caps the org admin at write.
    expect((await m.inject({ method: 'PUT', url, headers: bearer(await tokenFor(m, owner, 'repo:write')), payload })).statusCode).toBe(403);
    const h = bearer(await tokenFor(m, owner, 'repo:admin'));
    for (const body of [{}, { state: 'ARCHIVED' }, { state: 'read_only' }, { state: 'MARKED_FOR_DELETION' }]) {
      const res = await m.inject({ method: 'PUT', url, headers: h, payload: body });
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json().error_type).toBe('invalid_request');
    }
    expect(await stateOf(r.id)).toBe('NORMAL');
    expect((await auditRows(m, 'change_repo_state')).some((l) => l.repository_id === r.id)).toBe(false);
    const missing = await m.inject({ method: 'PUT', url: stateUrl(mirrorOrg.username, 'nope'), headers: h, payload });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error_type).toBe('not_found');
    // A direct admin grant suffices; a browser session needs its CSRF token like any write.
    const repoAdmin = await makeUser(m);
    await grant(m, r, { userId: repoAdmin.id }, 'admin');
    const session = await signIn(m, repoAdmin);
    expect((await m.inject({ method: 'PUT', url, headers: session.headers, payload })).statusCode).toBe(200);
    expect(await stateOf(r.id)).toBe('READ_ONLY');
  });

  it('is listed in discovery with repo:admin only when the flag is on', async () => {
    const on = (await m.inject('/api/v1/discovery')).json();
    expect(on.paths['/api/v1/repository/{repository}/changestate'].put).toMatchObject({
      operationId: 'changeRepoState',
      security: [{ oauth2_implicit: ['repo:admin'] }],
    });
    expect(on.definitions.ChangeRepoState.properties.state.enum).toEqual(['NORMAL', 'READ_ONLY', 'MIRROR']);
    expect((await t.inject('/api/v1/discovery')).json().paths).not.toHaveProperty(['/api/v1/repository/{repository}/changestate']);
  });

  it('is not registered without the flag: never 501, the path is just a repository name, and nothing changes', async () => {
    const r = await makeRepo(t, org);
    const url = `/api/v1/repository/${org.username}/${r.name}/changestate`;
    // As in Quay (extended names): with no changestate route, `<name>/changestate` is read as a
    // repository name, so the request reaches updateRepo for a repository that does not exist.
    const asAdmin = await t.inject({ method: 'PUT', url, headers: h.alice, payload: { state: 'READ_ONLY' } });
    expect(asAdmin.statusCode).toBe(400);
    expect(asAdmin.json().detail).toBe("'description' is a required property");
    const notFound = await t.inject({ method: 'PUT', url, headers: h.alice, payload: { description: 'x' } });
    expect(notFound.statusCode).toBe(404);
    expect(notFound.json()).toMatchObject({ status: 404, error_type: 'not_found' });
    expect((await t.inject({ method: 'PUT', url, headers: h.carol, payload: { state: 'READ_ONLY' } })).statusCode).toBe(403);
    expect((await repoRow(org, r.name))!).toMatchObject({ state: 'NORMAL', description: '' });
  });
});

describe('deleteRepository', () => {
  it('deletes the repository with its permissions and stars (204), frees the name, and logs delete_repo on the namespace', async () => {
    const r = await makeRepo(t, org);
    await grant(t, r, { userId: carol.id }, 'read');
    await t.app.db.insertInto('star').values({ user_id: carol.id, repository_id: r.id }).execute();
    const res = await t.inject({ method: 'DELETE', url: `/api/v1/repository/${org.username}/${r.name}`, headers: h.alice });
    expect(res.statusCode).toBe(204);
    expect(res.body).toBe('');
    expect(await repoRow(org, r.name)).toBeUndefined();
    expect(await t.app.db.selectFrom('repository_permission').select('id').where('repository_id', '=', r.id).execute()).toEqual([]);
    expect(await t.app.db.selectFrom('star').select('id').where('repository_id', '=', r.id).execute()).toEqual([]);
    const log = (await auditRows(t, 'delete_repo')).find((l) => (l.metadata as Record<string, unknown>).repo === r.name);
    expect(log).toMatchObject({ account_id: org.id, performer_id: alice.id, repository_id: null });
    expect(log!.metadata).toMatchObject({ namespace: org.username });
    // The name can be used again at once.
    expect((await create(h.alice, { namespace: org.username, repository: r.name, visibility: 'private', description: '' })).statusCode).toBe(201);
  });

  it('needs AdminRepo and answers 404 only to namespace admins for a missing repository', async () => {
    const r = await makeRepo(t, org);
    await grant(t, r, { userId: carol.id }, 'write');
    await grant(t, r, { userId: bob.id }, 'admin');
    const url = `/api/v1/repository/${org.username}/${r.name}`;
    expect((await t.inject({ method: 'DELETE', url, headers: h.carol })).statusCode).toBe(403);
    expect((await t.inject({ method: 'DELETE', url, headers: bearer(await tokenFor(t, alice, 'repo:write')) })).statusCode).toBe(403);
    expect((await t.inject({ method: 'DELETE', url, headers: (await anonymousSession(t)).headers })).statusCode).toBe(401);
    expect(await repoRow(org, r.name)).toBeDefined();
    // A direct admin grant suffices.
    expect((await t.inject({ method: 'DELETE', url, headers: h.bob })).statusCode).toBe(204);
    expect((await t.inject({ method: 'DELETE', url, headers: h.bob })).statusCode).toBe(403);
    expect((await t.inject({ method: 'DELETE', url, headers: h.alice })).statusCode).toBe(404);
  });

  it('deletes an extended-name repository', async () => {
    const name = `${uniqueName('a')}/b/c`;
    await create(h.bob, { repository: name, visibility: 'private', description: '' });
    expect((await t.inject({ method: 'DELETE', url: `/api/v1/repository/${bob.username}/${name}`, headers: h.bob })).statusCode).toBe(204);
    expect(await repoRow(bob, name)).toBeUndefined();
  });
});

describe('listRepos', () => {
  const list = (query: string, headers: Record<string, string> = {}) => t.inject({ url: `/api/v1/repository?${query}`, headers });

  it('requires namespace, starred or public (400 ApiError)', async () => {
    for (const q of ['', 'namespace=', 'starred=false&public=0', 'last_modified=true']) {
      const res = await list(q, h.alice);
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ error_type: 'invalid_request', detail: 'namespace, starred or public are required for this API call' });
    }
  });

  it('refuses starred=true for anonymous callers with a plain 400', async () => {
    const res = await list('starred=true');
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ message: expect.any(String) });
  });

  it('refuses an unknown repo_kind', async () => {
    const res = await list(`namespace=${org.username}&repo_kind=helm`, h.alice);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ message: 'Unknown repository kind' });
  });

  it('lists a namespace’s repositories visible to the caller, in Quay’s item shape', async () => {
    const res = await list(`namespace=${org.username}`, h.carol);
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).not.toHaveProperty('next_page');
    const main = body.repositories.find((r: { name: string }) => r.name === 'main');
    expect(main).toEqual({ namespace: org.username, name: 'main', description: 'the main repo', is_public: false, kind: 'image', state: 'NORMAL', is_starred: false });
    // carol reads only what her team or grants give her.
    for (const r of body.repositories) {
      const row = (await repoRow(org, r.name))!;
      expect(repoRoleAtLeast(await effectiveRepoRole(t.app.db, { user: carol, scopes: null }, row), 'read')).toBe(true);
    }
  });

  it('lists exactly the repositories effectiveRepoRole lets the caller read (one SQL union)', async () => {
    const o = await makeOrg(t, [alice]);
    const viewer = await makeUser(t);
    const team = await makeTeam(t, o, 'member', [viewer]);
    const own = await makeRepo(t, viewer);
    const direct = await makeRepo(t, o);
    await grant(t, direct, { userId: viewer.id }, 'read');
    const viaTeam = await makeRepo(t, o);
    await grant(t, viaTeam, { teamId: team.id }, 'write');
    const hidden = await makeRepo(t, o);
    const pub = await makeRepo(t, o, { visibility: 'public' });
    const adminOrg = await makeOrg(t, [viewer]);
    const administered = await makeRepo(t, adminOrg);
    const all = [own, direct, viaTeam, hidden, pub, administered, repo];
    const headers = bearer(await tokenFor(t, viewer, 'repo:read'));
    const names = async (q: string) => new Set(((await list(q, headers)).json().repositories as { namespace: string; name: string }[]).map((r) => `${r.namespace}/${r.name}`));
    const withPublic = await names('public=true');
    const nsOf = new Map([[viewer.id, viewer.username], [o.id, o.username], [adminOrg.id, adminOrg.username], [org.id, org.username]]);
    for (const r of all) {
      const readable = repoRoleAtLeast(await effectiveRepoRole(t.app.db, { user: viewer, scopes: parseScopeString('repo:read')! }, r), 'read');
      expect(withPublic.has(`${nsOf.get(r.namespace_id)}/${r.name}`), r.name).toBe(readable);
    }
    // Without public=true the public repository of an org the viewer has no grant in is left out.
    const mine = await names(`namespace=${o.username}`);
    expect(mine).toEqual(new Set([`${o.username}/${direct.name}`, `${o.username}/${viaTeam.name}`]));
    expect(await names(`namespace=${o.username}&public=true`)).toEqual(new Set([...mine, `${o.username}/${pub.name}`]));
    expect(await names(`namespace=${viewer.username}`)).toEqual(new Set([`${viewer.username}/${own.name}`]));
    expect(await names(`namespace=${adminOrg.username}`)).toEqual(new Set([`${adminOrg.username}/${administered.name}`]));
  });

  it('shows tokens that cannot read repositories only public ones, and anonymous callers no is_starred', async () => {
    const o = await makeOrg(t, [alice]);
    const priv = await makeRepo(t, o);
    const pub = await makeRepo(t, o, { visibility: 'public' });
    const userOnly = (await list(`namespace=${o.username}&public=true`, bearer(await tokenFor(t, alice, 'user:read')))).json();
    expect(userOnly.repositories.map((r: { name: string }) => r.name)).toEqual([pub.name]);
    expect(userOnly.repositories[0]).toHaveProperty('is_starred', false);
    const anon = (await list(`namespace=${o.username}&public=true`)).json();
    expect(anon.repositories).toEqual([{ namespace: o.username, name: pub.name, description: '', is_public: true, kind: 'image', state: 'NORMAL' }]);
    expect((await list(`namespace=${o.username}`)).json().repositories).toEqual([]);
    const full = (await list(`namespace=${o.username}`, h.alice)).json();
    expect(full.repositories.map((r: { name: string }) => r.name)).toEqual([priv.name, pub.name]);
  });

  it('adds last_modified and popularity only when asked', async () => {
    const plain = (await list(`namespace=${org.username}`, h.alice)).json().repositories[0];
    expect(plain).not.toHaveProperty('last_modified');
    expect(plain).not.toHaveProperty('popularity');
    const rich = (await list(`namespace=${org.username}&last_modified=true&popularity=1`, h.alice)).json().repositories[0];
    expect(rich.last_modified).toBeNull();
    expect(rich.popularity).toBe(0);
  });

  it('filters by repo_kind and echoes it in kind', async () => {
    const o = await makeOrg(t, [alice]);
    await makeRepo(t, o);
    const name = uniqueName('r');
    await create(h.alice, { namespace: o.username, repository: name, visibility: 'private', description: '', repo_kind: 'application' });
    const apps = (await list(`namespace=${o.username}&repo_kind=application`, h.alice)).json().repositories;
    expect(apps.map((r: { name: string; kind: string }) => [r.name, r.kind])).toEqual([[name, 'application']]);
    expect((await list(`namespace=${o.username}`, h.alice)).json().repositories.every((r: { kind: string }) => r.kind === 'image')).toBe(true);
  });

  it('lists the caller’s readable starred repositories (starred=true), public ones included', async () => {
    const viewer = await makeUser(t);
    const headers = bearer(await tokenFor(t, viewer, FULL));
    const o = await makeOrg(t, [alice]);
    const readable = await makeRepo(t, o);
    await grant(t, readable, { userId: viewer.id }, 'read');
    const pub = await makeRepo(t, o, { visibility: 'public' });
    const lost = await makeRepo(t, o); // starred, no longer readable
    const notStarred = await makeRepo(t, o, { visibility: 'public' });
    for (const r of [readable, pub, lost]) await t.app.db.insertInto('star').values({ user_id: viewer.id, repository_id: r.id }).execute();
    const body = (await list('starred=true', headers)).json();
    expect(body.repositories.map((r: { name: string }) => r.name)).toEqual([readable.name, pub.name]);
    expect(body.repositories.every((r: { is_starred: boolean }) => r.is_starred)).toBe(true);
    expect(body.repositories.map((r: { name: string }) => r.name)).not.toContain(notStarred.name);
  });

  it('pages by 100 with an opaque next_page token, in id order, without duplicates', async () => {
    const o = await makeOrg(t, [alice]);
    const values = Array.from({ length: 230 }, (_, i) => ({ namespace_id: o.id, name: `p${String(i).padStart(3, '0')}`, visibility: 'private' as const, badge_token: randomUUID() }));
    const inserted = await t.app.db.insertInto('repository').values(values).returning('id').execute();
    const ids = inserted.map((r) => r.id).sort((a, b) => a - b);
    const seen: string[] = [];
    let url = `namespace=${o.username}`;
    const sizes: number[] = [];
    for (;;) {
      const body = (await list(url, h.alice)).json();
      sizes.push(body.repositories.length);
      seen.push(...body.repositories.map((r: { name: string }) => r.name));
      if (!body.next_page) break;
      expect(body.next_page).toMatch(/^[A-Za-z0-9._-]+$/);
      url = `namespace=${o.username}&next_page=${body.next_page}`;
    }
    expect(sizes).toEqual([100, 100, 30]);
    expect(seen).toEqual(values.map((v) => v.name));
    expect(new Set(seen).size).toBe(230);
    expect(ids).toHaveLength(230);
  });

  it('restarts at page one for a tampered, expired or foreign token', async () => {
    const o = await makeOrg(t, [alice]);
    const values = Array.from({ length: 105 }, (_, i) => ({ namespace_id: o.id, name: `q${String(i).padStart(3, '0')}`, visibility: 'private' as const, badge_token: randomUUID() }));
    await t.app.db.insertInto('repository').values(values).execute();
    const first = (await list(`namespace=${o.username}`, h.alice)).json();
    const token: string = first.next_page;
    const second = (await list(`namespace=${o.username}&next_page=${token}`, h.alice)).json();
    expect(second.repositories[0].name).toBe('q100');
    const tampered = token.slice(0, -2) + (token.endsWith('AA') ? 'BB' : 'AA');
    const lastId = (await repoRow(o, 'q099'))!.id;
    const bad = [
      tampered,
      'garbage',
      encodePageToken(t.app.secrets, 'repository', lastId, Date.now() - 3 * 86400_000),
      encodePageToken(t.app.secrets, 'starred', lastId),
      t.app.secrets.encrypt(JSON.stringify({ k: 'repository', after: 'x', exp: Date.now() + 1e6 })),
    ];
    for (const b of bad) {
      const res = (await list(`namespace=${o.username}&next_page=${encodeURIComponent(b)}`, h.alice)).json();
      expect(res.repositories[0].name).toBe('q000');
      expect(res.repositories).toHaveLength(100);
    }
    // A fresh token for the same key works.
    expect((await list(`namespace=${o.username}&next_page=${encodePageToken(t.app.secrets, 'repository', lastId)}`, h.alice)).json().repositories[0].name).toBe('q100');
  });
});
