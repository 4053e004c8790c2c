import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Namespace, Repository } from '../../src/db/schema.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { auditRows, bearer, grant, makeOrg, makeRepo, makeRobot, makeTeam, makeUser, tokenFor, uniqueName, type TestUser } from '../helpers/factories.js';

let t: TestApp;
let alice: TestUser; // org admin
let bob: TestUser; // no relation
let carol: TestUser; // in the member team `readers`
let dan: TestUser; // owns a user namespace
let erin: TestUser; // direct admin grant on the org repository
let org: Namespace;
let otherOrg: Namespace;
let readers: { id: number };
let orgBot: Namespace;
let otherBot: Namespace;
let danBot: Namespace;
let H: Record<'alice' | 'bob' | 'carol' | 'dan' | 'erin' | 'aliceRead', Record<string, string>>;

const FULL = 'repo:read repo:write repo:admin repo:create user:read user:admin org:admin';

beforeAll(async () => {
  t = await testApp();
  [alice, bob, carol, dan, erin] = [await makeUser(t), await makeUser(t), await makeUser(t), await makeUser(t), await makeUser(t)];
  org = await makeOrg(t, [alice]);
  otherOrg = await makeOrg(t, [alice]);
  readers = await makeTeam(t, org, 'member', [carol], 'readers');
  await makeTeam(t, otherOrg, 'member', [], 'strangers');
  orgBot = await makeRobot(t, org, 'bot');
  otherBot = await makeRobot(t, otherOrg, 'bot');
  danBot = await makeRobot(t, dan, 'bot');
  H = {
    alice: bearer(await tokenFor(t, alice, FULL)),
    bob: bearer(await tokenFor(t, bob, FULL)),
    carol: bearer(await tokenFor(t, carol, FULL)),
    dan: bearer(await tokenFor(t, dan, FULL)),
    erin: bearer(await tokenFor(t, erin, FULL)),
    aliceRead: bearer(await tokenFor(t, alice, 'repo:read')),
  };
});
afterAll(() => t?.close());

const base = (ns: Namespace, repo: Repository) => `/api/v1/repository/${ns.username}/${repo.name}/permissions`;

async function orgRepo(name = uniqueName('repo')) {
  const repo = await makeRepo(t, org, { name });
  await grant(t, repo, { userId: erin.id }, 'admin');
  return repo;
}

async function rowsFor(repo: Repository) {
  return t.app.db.selectFrom('repository_permission').selectAll().where('repository_id', '=', repo.id).orderBy('id').execute();
}

async function auditFor(kind: string, repo: Repository) {
  return (await auditRows(t, kind)).filter((r) => r.repository_id === repo.id);
}

function apiError(res: { statusCode: number; json(): unknown }, detail: string) {
  expect(res.statusCode).toBe(400);
  expect(res.json()).toMatchObject({ status: 400, error_type: 'invalid_request', title: 'invalid_request', detail, error_message: detail });
}

const avatarOf = (kind: string) => ({ name: expect.any(String), hash: expect.stringMatching(/^[0-9a-f]{64}$/), color: expect.stringMatching(/^#/), kind });

describe('changeUserPermissions', () => {
  it('adds a direct grant, returns the user entry and records change_repo_permission', async () => {
    const repo = await orgRepo();
    const res = await t.inject({ method: 'PUT', url: `${base(org, repo)}/user/${bob.username}`, headers: H.alice, payload: { role: 'write' } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ role: 'write', name: bob.username, is_robot: false, avatar: avatarOf('user'), is_org_member: false });
    const rows = await rowsFor(repo);
    expect(rows.filter((r) => r.user_id === bob.id)).toEqual([expect.objectContaining({ role: 'write', team_id: null })]);
    const logs = await auditFor('change_repo_permission', repo);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatchObject({ account_id: org.id, performer_id: alice.id, repository_id: repo.id });
    expect(logs[0].metadata).toMatchObject({ username: bob.username, repo: repo.name, namespace: org.username, role: 'write' });
    expect(await auditFor('add_repo_permission', repo)).toEqual([]);
  });

  it('replaces an existing grant (upsert) and logs change_repo_permission again', async () => {
    const repo = await orgRepo();
    await t.inject({ method: 'PUT', url: `${base(org, repo)}/user/${bob.username}`, headers: H.alice, payload: { role: 'read' } });
    const res = await t.inject({ method: 'PUT', url: `${base(org, repo)}/user/${bob.username}`, headers: H.alice, payload: { role: 'admin' } });
    expect(res.statusCode).toBe(200);
    expect(res.json().role).toBe('admin');
    const bobRows = (await rowsFor(repo)).filter((r) => r.user_id === bob.id);
    expect(bobRows).toHaveLength(1);
    expect(bobRows[0].role).toBe('admin');
    expect((await auditFor('change_repo_permission', repo)).map((l) => (l.metadata as { role: string }).role)).toEqual(['read', 'admin']);
  });

  it('reports is_org_member true for users in a team of the org and for robots of the org', async () => {
    const repo = await orgRepo();
    const c = await t.inject({ method: 'PUT', url: `${base(org, repo)}/user/${carol.username}`, headers: H.alice, payload: { role: 'read' } });
    expect(c.json()).toMatchObject({ name: carol.username, is_org_member: true, is_robot: false });
    const r = await t.inject({ method: 'PUT', url: `${base(org, repo)}/user/${orgBot.username}`, headers: H.alice, payload: { role: 'read' } });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ role: 'read', name: orgBot.username, is_robot: true, avatar: avatarOf('robot'), is_org_member: true });
  });

  it('omits is_org_member on a user-owned repository and accepts the owner’s own robots', async () => {
    const repo = await makeRepo(t, dan);
    const res = await t.inject({ method: 'PUT', url: `${base(dan, repo)}/user/${bob.username}`, headers: H.dan, payload: { role: 'read' } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ role: 'read', name: bob.username, is_robot: false, avatar: avatarOf('user') });
    const robot = await t.inject({ method: 'PUT', url: `${base(dan, repo)}/user/${danBot.username}`, headers: H.dan, payload: { role: 'write' } });
    expect(robot.statusCode).toBe(200);
    expect(robot.json()).not.toHaveProperty('is_org_member');
  });

  it('refuses unknown users, organizations, foreign robots and the namespace owner, writing nothing', async () => {
    const repo = await orgRepo();
    const userRepo = await makeRepo(t, dan);
    const put = (url: string, headers = H.alice) => t.inject({ method: 'PUT', url, headers, payload: { role: 'read' } });
    apiError(await put(`${base(org, repo)}/user/nosuchuser${uniqueName()}`), expect.stringMatching(/^Invalid username: nosuchuser/) as unknown as string);
    apiError(await put(`${base(org, repo)}/user/${otherOrg.username}`), `Invalid username: ${otherOrg.username}`);
    apiError(await put(`${base(org, repo)}/user/${otherBot.username}`), `Cannot add robot ${otherBot.username} under namespace ${org.username}`);
    apiError(await put(`${base(dan, userRepo)}/user/${orgBot.username}`, H.dan), `Cannot add robot ${orgBot.username} under namespace ${dan.username}`);
    apiError(await put(`${base(dan, userRepo)}/user/${dan.username}`, H.dan), 'Namespace owner must always be admin.');
    expect((await rowsFor(repo)).map((r) => r.user_id)).toEqual([erin.id]);
    expect(await rowsFor(userRepo)).toEqual([]);
    expect(await auditFor('change_repo_permission', repo)).toEqual([]);
    expect(await auditFor('change_repo_permission', userRepo)).toEqual([]);
  });

  it('validates the body: a missing or unknown role is a 400 and nothing is written', async () => {
    const repo = await orgRepo();
    const url = `${base(org, repo)}/user/${bob.username}`;
    for (const payload of [{}, { role: 'owner' }, { role: 3 }]) {
      const res = await t.inject({ method: 'PUT', url, headers: H.alice, payload });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ error_type: 'invalid_request' });
    }
    const missing = await t.inject({ method: 'PUT', url, headers: { ...H.alice, 'content-type': 'application/json' } });
    expect(missing.statusCode).toBe(400);
    expect((await rowsFor(repo)).some((r) => r.user_id === bob.id)).toBe(false);
    expect(await auditFor('change_repo_permission', repo)).toEqual([]);
  });

  it('answers 404 for a missing repository to an admin of the namespace, 403 to others', async () => {
    const url = `/api/v1/repository/${org.username}/nosuchrepo/permissions/user/${bob.username}`;
    expect((await t.inject({ method: 'PUT', url, headers: H.alice, payload: { role: 'read' } })).statusCode).toBe(404);
    expect((await t.inject({ method: 'PUT', url, headers: H.bob, payload: { role: 'read' } })).statusCode).toBe(403);
  });

  it('changes what the grantee may do at once (no stale cache)', async () => {
    const repo = await orgRepo();
    const list = () => t.inject({ url: `${base(org, repo)}/user/`, headers: H.bob });
    expect((await list()).statusCode).toBe(403);
    await t.inject({ method: 'PUT', url: `${base(org, repo)}/user/${bob.username}`, headers: H.alice, payload: { role: 'admin' } });
    expect((await list()).statusCode).toBe(200);
    const del = await t.inject({ method: 'DELETE', url: `${base(org, repo)}/user/${bob.username}`, headers: H.alice });
    expect(del.statusCode).toBe(204);
    expect((await list()).statusCode).toBe(403);
  });
});

describe('getUserPermissions and listRepoUserPermissions', () => {
  it('gets one direct grant and answers 400 {message} when there is none', async () => {
    const repo = await orgRepo();
    await grant(t, repo, { userId: bob.id }, 'read');
    const ok = await t.inject({ url: `${base(org, repo)}/user/${bob.username}`, headers: H.alice });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ role: 'read', name: bob.username, is_robot: false, avatar: avatarOf('user'), is_org_member: false });
    // carol reads through her team only: no direct grant.
    await grant(t, repo, { teamId: readers.id }, 'read');
    for (const name of [carol.username, `ghost${uniqueName()}`, alice.username]) {
      const res = await t.inject({ url: `${base(org, repo)}/user/${name}`, headers: H.alice });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ message: 'User does not have permission for repo.' });
    }
    const missingRepo = await t.inject({ url: `/api/v1/repository/${org.username}/nosuchrepo/permissions/user/${bob.username}`, headers: H.alice });
    expect(missingRepo.json()).toMatchObject({ message: 'User does not have permission for repo.' });
  });

  it('lists direct grants (robots included) keyed by username, without team grants', async () => {
    const repo = await orgRepo();
    await grant(t, repo, { userId: bob.id }, 'write');
    await grant(t, repo, { userId: orgBot.id }, 'read');
    await grant(t, repo, { teamId: readers.id }, 'read');
    const res = await t.inject({ url: `${base(org, repo)}/user/`, headers: H.erin });
    expect(res.statusCode).toBe(200);
    const { permissions } = res.json();
    expect(Object.keys(permissions).sort()).toEqual([bob.username, erin.username, orgBot.username].sort());
    expect(permissions[orgBot.username]).toEqual({ role: 'read', name: orgBot.username, is_robot: true, avatar: avatarOf('robot'), is_org_member: true });
    expect(permissions[erin.username]).toMatchObject({ role: 'admin', is_org_member: false });
  });

  it('lists {} for a missing repository in a namespace the caller administers', async () => {
    const res = await t.inject({ url: `/api/v1/repository/${org.username}/nosuchrepo/permissions/user/`, headers: H.alice });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ permissions: {} });
    const teams = await t.inject({ url: `/api/v1/repository/${org.username}/nosuchrepo/permissions/team/`, headers: H.alice });
    expect(teams.json()).toEqual({ permissions: {} });
  });

  it('serves repositories with extended (slashed) names', async () => {
    const repo = await orgRepo(`${uniqueName('a')}/nested`);
    const res = await t.inject({ method: 'PUT', url: `${base(org, repo)}/user/${bob.username}`, headers: H.alice, payload: { role: 'read' } });
    expect(res.statusCode).toBe(200);
    expect((await auditFor('change_repo_permission', repo))[0].metadata).toMatchObject({ repo: repo.name });
    const list = await t.inject({ url: `${base(org, repo)}/user/`, headers: H.alice });
    expect(Object.keys(list.json().permissions)).toContain(bob.username);
  });
});

describe('deleteUserPermissions', () => {
  it('deletes the grant, answers 204 and records delete_repo_permission', async () => {
    const repo = await orgRepo();
    await grant(t, repo, { userId: bob.id }, 'write');
    const res = await t.inject({ method: 'DELETE', url: `${base(org, repo)}/user/${bob.username}`, headers: H.alice });
    expect(res.statusCode).toBe(204);
    expect(res.body).toBe('');
    expect((await rowsFor(repo)).some((r) => r.user_id === bob.id)).toBe(false);
    const logs = await auditFor('delete_repo_permission', repo);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatchObject({ account_id: org.id, performer_id: alice.id });
    expect(logs[0].metadata).toMatchObject({ username: bob.username, repo: repo.name, namespace: org.username });
  });

  it('refuses a missing grant and the namespace owner, logging nothing', async () => {
    const repo = await orgRepo();
    apiError(await t.inject({ method: 'DELETE', url: `${base(org, repo)}/user/${bob.username}`, headers: H.alice }), 'User does not have permission for repo.');
    apiError(await t.inject({ method: 'DELETE', url: `${base(org, repo)}/user/ghost${uniqueName()}`, headers: H.alice }), 'User does not have permission for repo.');
    const userRepo = await makeRepo(t, dan);
    await grant(t, userRepo, { userId: dan.id }, 'admin');
    apiError(await t.inject({ method: 'DELETE', url: `${base(dan, userRepo)}/user/${dan.username}`, headers: H.dan }), 'Namespace owner must always be admin.');
    expect((await rowsFor(userRepo)).map((r) => r.user_id)).toEqual([dan.id]);
    expect(await auditFor('delete_repo_permission', repo)).toEqual([]);
    expect(await auditFor('delete_repo_permission', userRepo)).toEqual([]);
  });
});

describe('team permissions', () => {
  it('adds a team grant, returns the team entry and records change_repo_permission', async () => {
    const repo = await orgRepo();
    const res = await t.inject({ method: 'PUT', url: `${base(org, repo)}/team/readers`, headers: H.alice, payload: { role: 'write' } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ role: 'write', name: 'readers', avatar: avatarOf('team') });
    expect((await rowsFor(repo)).filter((r) => r.team_id === readers.id)).toEqual([expect.objectContaining({ role: 'write', user_id: null })]);
    const again = await t.inject({ method: 'PUT', url: `${base(org, repo)}/team/readers`, headers: H.alice, payload: { role: 'read' } });
    expect(again.json().role).toBe('read');
    expect((await rowsFor(repo)).filter((r) => r.team_id === readers.id)).toHaveLength(1);
    const logs = await auditFor('change_repo_permission', repo);
    expect(logs.map((l) => l.metadata)).toEqual([
      expect.objectContaining({ team: 'readers', repo: repo.name, role: 'write' }),
      expect.objectContaining({ team: 'readers', repo: repo.name, role: 'read' }),
    ]);
    expect(logs[0]).toMatchObject({ account_id: org.id, performer_id: alice.id });
  });

  it('gets only the role, and lists team grants keyed by team name', async () => {
    const repo = await orgRepo();
    await grant(t, repo, { teamId: readers.id }, 'read');
    const one = await t.inject({ url: `${base(org, repo)}/team/readers`, headers: H.alice });
    expect(one.statusCode).toBe(200);
    expect(one.json()).toEqual({ role: 'read' });
    const list = await t.inject({ url: `${base(org, repo)}/team/`, headers: H.alice });
    expect(list.json()).toEqual({ permissions: { readers: { role: 'read', name: 'readers', avatar: avatarOf('team') } } });
    const none = await t.inject({ url: `${base(org, repo)}/team/owners`, headers: H.alice });
    expect(none.statusCode).toBe(400);
    expect(none.json()).toMatchObject({ message: 'Team does not have permission for repo.' });
  });

  it('refuses a team of another organization and any team on a user repository', async () => {
    const repo = await orgRepo();
    apiError(
      await t.inject({ method: 'PUT', url: `${base(org, repo)}/team/strangers`, headers: H.alice, payload: { role: 'read' } }),
      `No team strangers in organization ${org.username}`,
    );
    const userRepo = await makeRepo(t, dan);
    apiError(
      await t.inject({ method: 'PUT', url: `${base(dan, userRepo)}/team/readers`, headers: H.dan, payload: { role: 'read' } }),
      `No team readers in organization ${dan.username}`,
    );
    expect((await rowsFor(repo)).some((r) => r.team_id !== null)).toBe(false);
    expect(await rowsFor(userRepo)).toEqual([]);
    expect(await auditFor('change_repo_permission', repo)).toEqual([]);
    const bad = await t.inject({ method: 'PUT', url: `${base(org, repo)}/team/readers`, headers: H.alice, payload: { role: 'superuser' } });
    expect(bad.statusCode).toBe(400);
    expect((await rowsFor(repo)).some((r) => r.team_id !== null)).toBe(false);
  });

  it('deletes a team grant (204, delete_repo_permission) and refuses a missing one', async () => {
    const repo = await orgRepo();
    await grant(t, repo, { teamId: readers.id }, 'write');
    const res = await t.inject({ method: 'DELETE', url: `${base(org, repo)}/team/readers`, headers: H.alice });
    expect(res.statusCode).toBe(204);
    expect((await rowsFor(repo)).some((r) => r.team_id === readers.id)).toBe(false);
    const logs = await auditFor('delete_repo_permission', repo);
    expect(logs).toHaveLength(1);
    expect(logs[0].metadata).toMatchObject({ team: 'readers', repo: repo.name });
    apiError(await t.inject({ method: 'DELETE', url: `${base(org, repo)}/team/readers`, headers: H.alice }), 'Team does not have permission for repo.');
    apiError(await t.inject({ method: 'DELETE', url: `${base(org, repo)}/team/nosuchteam`, headers: H.alice }), 'Team does not have permission for repo.');
    expect(await auditFor('delete_repo_permission', repo)).toHaveLength(1);
  });

  it('team grants give the team’s members access, removed with the grant', async () => {
    const repo = await orgRepo();
    const list = () => t.inject({ url: `${base(org, repo)}/team/`, headers: H.carol });
    expect((await list()).statusCode).toBe(403);
    await t.inject({ method: 'PUT', url: `${base(org, repo)}/team/readers`, headers: H.alice, payload: { role: 'admin' } });
    expect((await list()).statusCode).toBe(200);
    await t.inject({ method: 'DELETE', url: `${base(org, repo)}/team/readers`, headers: H.alice });
    expect((await list()).statusCode).toBe(403);
  });
});

describe('getUserTransitivePermission', () => {
  it('lists the direct grant and each team grant that applies', async () => {
    const repo = await orgRepo();
    await grant(t, repo, { userId: carol.id }, 'write');
    await grant(t, repo, { teamId: readers.id }, 'read');
    const res = await t.inject({ url: `${base(org, repo)}/user/${carol.username}/transitive`, headers: H.alice });
    expect(res.statusCode).toBe(200);
    expect(res.json().permissions).toHaveLength(2);
    expect(res.json().permissions).toEqual(expect.arrayContaining([{ role: 'write' }, { role: 'read' }]));
  });

  it('answers 404 when nothing applies (implicit access is not listed), for unknown users and orgs', async () => {
    const repo = await orgRepo();
    await grant(t, repo, { userId: orgBot.id }, 'read');
    const get = (name: string) => t.inject({ url: `${base(org, repo)}/user/${name}/transitive`, headers: H.alice });
    expect((await get(orgBot.username)).json()).toEqual({ permissions: [{ role: 'read' }] });
    expect((await get(alice.username)).statusCode).toBe(404); // org admin, but no row
    expect((await get(bob.username)).statusCode).toBe(404);
    expect((await get(`ghost${uniqueName()}`)).statusCode).toBe(404);
    expect((await get(org.username)).statusCode).toBe(404);
    const missing = await t.inject({ url: `/api/v1/repository/${org.username}/nosuchrepo/permissions/user/${bob.username}/transitive`, headers: H.alice });
    expect(missing.statusCode).toBe(404);
  });
});

describe('who may manage permissions', () => {
  it('needs repository admin with repo:admin: 401 anonymous reads, 403 outsiders, readers and weaker tokens', async () => {
    const repo = await orgRepo();
    await grant(t, repo, { teamId: readers.id }, 'read');
    const url = `${base(org, repo)}/user/${bob.username}`;
    const put = (headers: Record<string, string>) => t.inject({ method: 'PUT', url, headers, payload: { role: 'admin' } });
    const anon = await t.inject({ url, headers: {} });
    expect(anon.statusCode).toBe(401);
    expect(anon.json()).toMatchObject({ error_type: 'invalid_token' });
    // An anonymous write meets the CSRF guard first, as in Quay.
    expect((await put({})).statusCode).toBe(403);
    for (const h of [H.bob, H.carol, H.aliceRead, H.dan]) {
      const res = await put(h);
      expect(res.statusCode).toBe(403);
      expect(res.json()).toMatchObject({ error_type: 'insufficient_scope' });
    }
    expect((await rowsFor(repo)).some((r) => r.user_id === bob.id)).toBe(false);
    expect((await put(H.erin)).statusCode).toBe(200);
  });

  it('refuses a private repository’s unknown name the same way for non-admins (no existence leak)', async () => {
    const res = await t.inject({ url: `/api/v1/repository/${org.username}/nosuchrepo/permissions/team/`, headers: H.carol });
    expect(res.statusCode).toBe(403);
  });
});
