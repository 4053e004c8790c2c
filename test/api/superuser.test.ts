// The SUPERUSER section's users, organizations, logs, change log and builds (part2 §10, §10.15),
// and who is a superuser: SUPER_USERS, GLOBAL_READONLY_SUPER_USERS, FEATURE_SUPERUSERS_FULL_ACCESS
// and the super:user scope (part2 §2.2).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp, type TestApp } from '../helpers/app.js';
import { anonymousSession, auditRows, bearer, makeOrg, makeRepo, makeRobot, makeUser, signIn, tokenFor, uniqueName, type TestUser } from '../helpers/factories.js';
import { basicAuth, registryToken } from '../helpers/registry.js';

const ALL = 'repo:read repo:write repo:admin repo:create user:read user:admin org:admin super:user';

let t: TestApp;
let root: TestUser;
let viewer: TestUser;
let rootH: Record<string, string>;
let viewerH: Record<string, string>;
beforeAll(async () => {
  t = await testApp({ SUPER_USERS: 'suroot,suother', GLOBAL_READONLY_SUPER_USERS: 'suviewer' });
  root = await makeUser(t, { username: 'suroot' });
  viewer = await makeUser(t, { username: 'suviewer' });
  await makeUser(t, { username: 'suother' });
  rootH = bearer(await tokenFor(t, root, ALL));
  viewerH = bearer(await tokenFor(t, viewer, ALL));
});
afterAll(() => t?.close());

const get = (url: string, headers = rootH) => t.inject({ method: 'GET', url, headers });
const put = (url: string, payload: object, headers = rootH) => t.inject({ method: 'PUT', url, headers, payload });
const post = (url: string, payload: object = {}, headers = rootH) => t.inject({ method: 'POST', url, headers, payload });
const del = (url: string, headers = rootH) => t.inject({ method: 'DELETE', url, headers });
const row = (id: number) => t.app.db.selectFrom('namespace').selectAll().where('id', '=', id).executeTakeFirst();

describe('users', () => {
  it('lists users (not organizations or robots) with the panel view; disabled=false leaves out disabled ones', async () => {
    const u = await makeUser(t);
    const org = await makeOrg(t, [u]);
    await makeRobot(t, org, 'listbot');
    await t.app.db.updateTable('namespace').set({ enabled: false }).where('id', '=', u.id).execute();
    const res = await get('/api/v1/superuser/users/');
    expect(res.statusCode).toBe(200);
    const users = res.json().users as { username: string }[];
    expect(users.find((x) => x.username === u.username)).toEqual({
      kind: 'user', name: u.username, username: u.username, email: u.email, verified: true,
      avatar: { name: u.username, hash: expect.any(String), color: expect.any(String), kind: 'user' },
      super_user: false, global_readonly_super_user: false, enabled: false,
    });
    expect(users.find((x) => x.username === 'suroot')).toMatchObject({ super_user: true, global_readonly_super_user: false });
    expect(users.find((x) => x.username === 'suviewer')).toMatchObject({ super_user: false, global_readonly_super_user: true });
    expect(users.some((x) => x.username === org.username || x.username.includes('+'))).toBe(false);
    const enabledOnly = (await get('/api/v1/superuser/users/?disabled=false')).json().users as { username: string }[];
    expect(enabledOnly.some((x) => x.username === u.username)).toBe(false);
    expect(enabledOnly.some((x) => x.username === 'suroot')).toBe(true);
  });

  it('pages with limit and next_page, and refuses a limit above 100', async () => {
    const all = (await get('/api/v1/superuser/users/')).json().users as { username: string }[];
    const seen: string[] = [];
    let url = '/api/v1/superuser/users/?limit=2';
    for (;;) {
      const page = (await get(url)).json();
      expect(page.users.length).toBeLessThanOrEqual(2);
      seen.push(...page.users.map((x: { username: string }) => x.username));
      if (!page.next_page) break;
      url = `/api/v1/superuser/users/?limit=2&next_page=${encodeURIComponent(page.next_page)}`;
    }
    expect(seen).toEqual(all.map((x) => x.username));
    const big = await get('/api/v1/superuser/users/?limit=101');
    expect(big.statusCode).toBe(400);
    expect(big.json()).toMatchObject({ title: 'invalid_request', detail: 'Page limit cannot be above 100' });
  });

  it('creates a user with a generated password that signs in, and an encrypted one that logs in to /v2', async () => {
    const name = uniqueName('made');
    const res = await post('/api/v1/superuser/users/', { username: name, email: `${name}@example.com` });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toEqual({ username: name, email: `${name}@example.com`, password: expect.stringMatching(/^[A-Z0-9]{32}$/), encrypted_password: expect.any(String) });
    expect(body.encrypted_password).not.toContain(body.password);
    const signin = await signIn(t, { username: name, password: body.password });
    expect(signin.headers.cookie).toBeTruthy();
    const v2 = await t.inject({ url: '/v2/auth', headers: { authorization: basicAuth({ username: name, password: body.encrypted_password }) } });
    expect(v2.statusCode, v2.body).toBe(200);
    expect(v2.json().token).toEqual(expect.any(String));
    const wrong = await t.inject({ url: '/v2/auth', headers: { authorization: basicAuth({ username: 'suroot', password: body.encrypted_password }) } });
    expect(wrong.statusCode).toBe(401);
    const audit = (await auditRows(t, 'user_create')).find((r) => (r.metadata as { username?: string }).username === name);
    expect(audit?.metadata).toMatchObject({ email: `${name}@example.com`, username: name, superuser: 'suroot' });
    expect(audit?.performer_id).toBe(root.id);
  });

  it('refuses a taken or invalid username or a taken address, creating nothing', async () => {
    const before = (await get('/api/v1/superuser/users/')).json().users.length;
    for (const payload of [{ username: 'suroot' }, { username: 'Bad Name!' }, { username: uniqueName('x'), email: root.email! }, { username: uniqueName('x'), email: 'not-an-address' }]) {
      const res = await post('/api/v1/superuser/users/', payload);
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.json().title).toBe('invalid_request');
    }
    expect((await post('/api/v1/superuser/users/', { email: 'x@example.com' })).statusCode).toBe(400);
    expect((await get('/api/v1/superuser/users/')).json().users.length).toBe(before);
  });

  it('shows one user; organizations, robots and unknown names are 404', async () => {
    const u = await makeUser(t);
    expect((await get(`/api/v1/superuser/users/${u.username}`)).json()).toMatchObject({ username: u.username, enabled: true, super_user: false });
    const org = await makeOrg(t, [u]);
    const robot = await makeRobot(t, org, 'showbot');
    for (const name of [org.username, robot.username, 'nosuchuser']) {
      expect((await get(`/api/v1/superuser/users/${encodeURIComponent(name)}`)).statusCode).toBe(404);
    }
  });

  it('disables a user: no sign-in, no token, no /v2 login; enabling restores them', async () => {
    const u = await makeUser(t);
    const token = bearer(await tokenFor(t, u, 'user:read'));
    expect((await get('/api/v1/user/', token)).statusCode).toBe(200);
    const res = await put(`/api/v1/superuser/users/${u.username}`, { enabled: false });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ username: u.username, enabled: false });
    expect((await get('/api/v1/user/', token)).statusCode).toBe(401);
    const signin = await t.inject({ method: 'POST', url: '/api/v1/signin', headers: (await anonymousSession(t)).headers, payload: { username: u.username, password: u.password } });
    expect(signin.statusCode).toBe(403);
    expect(signin.json().message).toMatch(/disabled/);
    expect((await t.inject({ url: '/v2/auth', headers: { authorization: basicAuth(u) } })).statusCode).toBe(401);
    expect((await auditRows(t, 'user_disable')).some((r) => r.account_id === u.id && (r.metadata as { superuser?: string }).superuser === 'suroot')).toBe(true);
    expect((await put(`/api/v1/superuser/users/${u.username}`, { enabled: true })).json().enabled).toBe(true);
    expect((await get('/api/v1/user/', token)).statusCode).toBe(200);
    expect((await t.inject({ url: '/v2/auth', headers: { authorization: basicAuth(u) } })).statusCode).toBe(200);
    expect((await auditRows(t, 'user_enable')).some((r) => r.account_id === u.id)).toBe(true);
  });

  it('changes the password (ending the user’s sessions) and the address, with their log kinds', async () => {
    const u = await makeUser(t);
    const session = await signIn(t, u);
    expect((await get('/api/v1/user/', session.headers)).statusCode).toBe(200);
    const email = `${uniqueName('new')}@example.com`;
    const res = await put(`/api/v1/superuser/users/${u.username}`, { password: 'a-brand-new-password', email });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ username: u.username, email, verified: true, encrypted_password: expect.any(String) });
    expect((await get('/api/v1/user/', session.headers)).statusCode).toBe(401);
    expect((await t.inject({ url: '/v2/auth', headers: { authorization: basicAuth({ username: u.username, password: 'a-brand-new-password' }) } })).statusCode).toBe(200);
    expect((await t.inject({ url: '/v2/auth', headers: { authorization: basicAuth(u) } })).statusCode).toBe(401);
    expect((await auditRows(t, 'user_change_password')).some((r) => r.account_id === u.id)).toBe(true);
    expect((await auditRows(t, 'user_change_email')).find((r) => r.account_id === u.id)?.metadata).toMatchObject({ old_email: u.email, email, superuser: 'suroot' });
  });

  it('refuses to change a superuser, a bad password, a bad or taken address, or the superuser flag, changing nothing', async () => {
    const u = await makeUser(t);
    const cases: [string, object][] = [
      ['suother', { enabled: false }],
      [u.username, { enabled: false, password: 'short' }],
      [u.username, { enabled: false, email: 'nope' }],
      [u.username, { enabled: false, email: root.email! }],
      [u.username, { enabled: false, superuser: true }],
    ];
    for (const [name, body] of cases) {
      const res = await put(`/api/v1/superuser/users/${name}`, body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json().title).toBe('invalid_request');
    }
    expect((await row(u.id))).toMatchObject({ enabled: true, email: u.email, password_hash: u.password_hash });
    expect((await put('/api/v1/superuser/users/nosuchuser', { enabled: false })).statusCode).toBe(404);
    expect((await put(`/api/v1/superuser/users/${u.username}`, { enabled: 'no' })).statusCode).toBe(400);
  });

  it('deletes a user with what they own; refuses superusers; the name is free again', async () => {
    const u = await makeUser(t);
    const repo = await makeRepo(t, u);
    const robot = await makeRobot(t, u, 'delbot');
    expect((await del(`/api/v1/superuser/users/${u.username}`)).statusCode).toBe(204);
    expect(await row(u.id)).toBeUndefined();
    expect(await row(robot.id)).toBeUndefined();
    expect(await t.app.db.selectFrom('repository').select('id').where('id', '=', repo.id).executeTakeFirst()).toBeUndefined();
    expect((await auditRows(t, 'user_delete')).find((r) => r.account_id === u.id)?.metadata).toMatchObject({ username: u.username, superuser: 'suroot' });
    expect((await del(`/api/v1/superuser/users/${u.username}`)).statusCode).toBe(404);
    await makeUser(t, { username: u.username });
    const refused = await del('/api/v1/superuser/users/suother');
    expect(refused.statusCode).toBe(400);
    expect(refused.json().detail).toBe('Cannot delete a superuser');
    expect((await get('/api/v1/superuser/users/suother')).statusCode).toBe(200);
  });
});

describe('take ownership', () => {
  it('adds the superuser to an organization’s admin team', async () => {
    const admin = await makeUser(t);
    const org = await makeOrg(t, [admin]);
    const res = await post(`/api/v1/superuser/takeownership/${org.username}`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ namespace: org.username });
    const members = await get(`/api/v1/organization/${org.username}/members`);
    expect(members.statusCode).toBe(200);
    expect((members.json().members as { name: string }[]).map((m) => m.name).sort()).toEqual([admin.username, 'suroot'].sort());
    expect((await post(`/api/v1/superuser/takeownership/${org.username}`)).statusCode).toBe(200); // already admin: no duplicate
    expect((await auditRows(t, 'take_ownership')).find((r) => (r.metadata as { namespace?: string }).namespace === org.username)?.metadata).toMatchObject({
      entity_id: org.id, namespace: org.username, was_user: false, superuser: 'suroot',
    });
  });

  it('turns a user into an organization the superuser administers; their credentials stop working', async () => {
    const u = await makeUser(t);
    const token = bearer(await tokenFor(t, u, 'user:read'));
    const repo = await makeRepo(t, u);
    expect((await post(`/api/v1/superuser/takeownership/${u.username}`)).statusCode).toBe(200);
    expect(await row(u.id)).toMatchObject({ organization: true, password_hash: null });
    expect((await get('/api/v1/user/', token)).statusCode).toBe(401);
    expect((await get(`/api/v1/repository/${u.username}/${repo.name}`)).statusCode).toBe(200);
    expect((await auditRows(t, 'take_ownership')).find((r) => (r.metadata as { namespace?: string }).namespace === u.username)?.metadata).toMatchObject({ was_user: true });
  });

  it('refuses superusers (400), unknown names and robots (404)', async () => {
    expect((await post('/api/v1/superuser/takeownership/suother')).statusCode).toBe(400);
    expect(await row((await t.app.db.selectFrom('namespace').select('id').where('username', '=', 'suother').executeTakeFirstOrThrow()).id)).toMatchObject({ organization: false });
    expect((await post('/api/v1/superuser/takeownership/nosuchns')).statusCode).toBe(404);
    const org = await makeOrg(t, [root]);
    const robot = await makeRobot(t, org, 'ownbot');
    expect((await post(`/api/v1/superuser/takeownership/${encodeURIComponent(robot.username)}`)).statusCode).toBe(404);
  });
});

describe('organizations', () => {
  it('lists organizations with name, email and avatar, paged on request', async () => {
    const org = await makeOrg(t, [root]);
    const res = await get('/api/v1/superuser/organizations/');
    expect(res.statusCode).toBe(200);
    expect((res.json().organizations as { name: string }[]).find((o) => o.name === org.username)).toEqual({
      name: org.username, email: org.email, avatar: { name: org.username, hash: expect.any(String), color: expect.any(String), kind: 'org' },
    });
    const page = (await get('/api/v1/superuser/organizations/?limit=1')).json();
    expect(page.organizations).toHaveLength(1);
    expect(page.next_page).toEqual(expect.any(String));
    expect((await get('/api/v1/superuser/organizations/?limit=500')).statusCode).toBe(400);
  });

  it('renames an organization: robots and repositories follow, the old name is free', async () => {
    const org = await makeOrg(t, [root]);
    const robot = await makeRobot(t, org, 'renbot');
    const repo = await makeRepo(t, org);
    const newName = uniqueName('renamed');
    const res = await put(`/api/v1/superuser/organizations/${org.username}`, { name: newName });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ name: newName, email: org.email });
    expect((await row(robot.id))?.username).toBe(`${newName}+renbot`);
    expect((await get(`/api/v1/repository/${newName}/${repo.name}`)).statusCode).toBe(200);
    expect((await get(`/api/v1/organization/${org.username}`)).statusCode).toBe(404);
    expect((await auditRows(t, 'org_change_name')).find((r) => r.account_id === org.id)?.metadata).toMatchObject({ old_name: org.username, new_name: newName, superuser: 'suroot' });
    const same = await put(`/api/v1/superuser/organizations/${newName}`, {});
    expect(same.json().name).toBe(newName);
  });

  it('refuses a taken or invalid new name and an unknown organization, renaming nothing', async () => {
    const org = await makeOrg(t, [root]);
    for (const name of ['suroot', 'Not Valid', 'x']) {
      const res = await put(`/api/v1/superuser/organizations/${org.username}`, { name });
      expect(res.statusCode, name).toBe(400);
      expect(res.json().message).toEqual(expect.any(String));
    }
    expect((await row(org.id))?.username).toBe(org.username);
    const unknown = await put('/api/v1/superuser/organizations/nosuchorg', { name: uniqueName('x') });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().message).toBe('Organization does not exist: nosuchorg');
    // A user is not an organization.
    expect((await put('/api/v1/superuser/organizations/suother', { name: uniqueName('x') })).statusCode).toBe(400);
  });

  it('deletes an organization (204, audited); unknown ones are 404', async () => {
    const org = await makeOrg(t, [root]);
    await makeRepo(t, org);
    expect((await del(`/api/v1/superuser/organizations/${org.username}`)).statusCode).toBe(204);
    expect(await row(org.id)).toBeUndefined();
    expect((await auditRows(t, 'org_delete')).some((r) => r.account_id === org.id)).toBe(true);
    expect((await del(`/api/v1/superuser/organizations/${org.username}`)).statusCode).toBe(404);
    expect((await del('/api/v1/superuser/organizations/suother')).statusCode).toBe(404);
  });
});

describe('logs, change log, builds', () => {
  it('lists every namespace’s entries newest first, 20 a page, with performer and namespace', async () => {
    const u = await makeUser(t);
    const org = await makeOrg(t, [u]);
    const uh = bearer(await tokenFor(t, u, 'repo:create repo:admin'));
    for (let i = 0; i < 22; i++) {
      const r = await post('/api/v1/repository', { namespace: org.username, repository: `logs${i}`, visibility: 'private', description: '' }, uh);
      expect(r.statusCode).toBe(201);
    }
    const first = (await get('/api/v1/superuser/logs')).json();
    expect(first.logs).toHaveLength(20);
    expect(first.next_page).toEqual(expect.any(String));
    expect(first.start_time).toMatch(/^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} -0000$/);
    const newest = first.logs[0];
    expect(newest).toMatchObject({
      kind: 'create_repo', metadata: { repo: 'logs21', namespace: org.username }, datetime: expect.any(String),
      performer: { kind: 'user', name: u.username, is_robot: false, avatar: expect.objectContaining({ kind: 'user' }) },
      namespace: { kind: 'org', name: org.username, avatar: expect.objectContaining({ kind: 'org' }) },
    });
    const second = (await get(`/api/v1/superuser/logs?next_page=${encodeURIComponent(first.next_page)}`)).json();
    expect(second.logs[0].metadata).toMatchObject({ repo: 'logs1' });
    const aggregated = (await get('/api/v1/superuser/aggregatelogs')).json().aggregated as { kind: string; count: number; datetime: string }[];
    const creates = aggregated.filter((a) => a.kind === 'create_repo').reduce((n, a) => n + a.count, 0);
    expect(creates).toBeGreaterThanOrEqual(22);
    expect(aggregated[0].datetime).toMatch(/ 00:00:00 -0000$/);
  });

  it('keeps to the window: old windows are empty, an end before the start or a window over 31 days is 400', async () => {
    expect((await get('/api/v1/superuser/logs?starttime=01/01/2001&endtime=01/02/2001')).json().logs).toEqual([]);
    const back = await get('/api/v1/superuser/logs?starttime=01/10/2001&endtime=01/01/2001');
    expect(back.statusCode).toBe(400);
    const long = await get('/api/v1/superuser/aggregatelogs?starttime=01/01/2001&endtime=03/01/2001');
    expect(long.statusCode).toBe(400);
    expect(long.json().message).toBe('Invalid date range for logs');
    // An unreadable date is ignored, as Quay does: the default window.
    expect((await get('/api/v1/superuser/logs?starttime=2001-01-01')).json().logs.length).toBeGreaterThan(0);
  });

  it('serves the change log', async () => {
    const res = await get('/api/v1/superuser/changelog/');
    expect(res.statusCode).toBe(200);
    expect(res.json().log).toMatch(/^# Changelog/);
  });

  it('answers unknown builds as Quay: 400 invalid_response for status and logs, 404 for the build', async () => {
    const status = await get('/api/v1/superuser/deadbeef/status');
    expect(status.statusCode).toBe(400);
    expect(status.json()).toMatchObject({ title: 'invalid_response', detail: 'Unable to locate a build by id: deadbeef' });
    expect((await get('/api/v1/superuser/deadbeef/build')).statusCode).toBe(404);
    expect((await get('/api/v1/superuser/deadbeef/logs')).json().title).toBe('invalid_response');
  });
});

describe('who is a superuser', () => {
  it('a read-only superuser reads the panel and every namespace, and changes nothing', async () => {
    const owner = await makeUser(t);
    const org = await makeOrg(t, [owner]);
    const repo = await makeRepo(t, org);
    expect((await get('/api/v1/superuser/users/', viewerH)).statusCode).toBe(200);
    expect((await get('/api/v1/user/', viewerH)).json()).toMatchObject({ username: 'suviewer', global_readonly_super_user: true });
    expect((await get('/api/v1/user/', viewerH)).json().super_user).toBeUndefined();
    expect((await get('/api/v1/user/')).json().global_readonly_super_user).toBeUndefined();
    expect((await get(`/api/v1/repository/${org.username}/${repo.name}`, viewerH)).statusCode).toBe(200);
    expect((await get(`/api/v1/organization/${org.username}/members`, viewerH)).statusCode).toBe(200);
    expect((await put(`/api/v1/repository/${org.username}/${repo.name}`, { description: 'x' }, viewerH)).statusCode).toBe(403);
    expect((await post('/api/v1/superuser/users/', { username: uniqueName('x') }, viewerH)).statusCode).toBe(403);
    expect((await del(`/api/v1/superuser/organizations/${org.username}`, viewerH)).statusCode).toBe(403);
    // Without super:user the powers are gone, reads included.
    const noScope = bearer(await tokenFor(t, viewer, 'repo:read user:read org:admin'));
    expect((await get(`/api/v1/repository/${org.username}/${repo.name}`, noScope)).statusCode).toBe(403);
    expect((await get('/api/v1/superuser/users/', noScope)).statusCode).toBe(403);
  });

  it('a full superuser acts on other namespaces only with FEATURE_SUPERUSERS_FULL_ACCESS', async () => {
    const owner = await makeUser(t);
    const org = await makeOrg(t, [owner]);
    const repo = await makeRepo(t, org);
    expect((await put(`/api/v1/repository/${org.username}/${repo.name}`, { description: 'x' })).statusCode).toBe(403);
    const full = await testApp({ SUPER_USERS: 'fullroot', FEATURE_SUPERUSERS_FULL_ACCESS: true });
    try {
      const fr = await makeUser(full, { username: 'fullroot' });
      const o2 = await makeOrg(full, [await makeUser(full)]);
      const r2 = await makeRepo(full, o2);
      const h = bearer(await tokenFor(full, fr, ALL));
      const res = await full.inject({ method: 'PUT', url: `/api/v1/repository/${o2.username}/${r2.name}`, headers: h, payload: { description: 'set by root' } });
      expect(res.statusCode, res.body).toBe(200);
      const team = await full.inject({ method: 'PUT', url: `/api/v1/organization/${o2.username}/team/ops`, headers: h, payload: { role: 'member' } });
      expect(team.statusCode, team.body).toBe(200);
      // The token's scopes still cap the role.
      const readOnly = bearer(await tokenFor(full, fr, 'repo:read super:user'));
      expect((await full.inject({ method: 'PUT', url: `/api/v1/repository/${o2.username}/${r2.name}`, headers: readOnly, payload: { description: 'no' } })).statusCode).toBe(403);
      expect((await full.inject({ method: 'GET', url: `/api/v1/repository/${o2.username}/${r2.name}`, headers: readOnly })).statusCode).toBe(200);
    } finally {
      await full.close();
    }
  });

  it('at /v2/auth: a read-only superuser pulls any repository, a full one pushes with FULL_ACCESS only', async () => {
    const actions = (token: string) => (JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).access as { actions: string[] }[])[0]?.actions ?? [];
    const org = await makeOrg(t, [await makeUser(t)]);
    const repo = await makeRepo(t, org);
    const scope = `repository:${org.username}/${repo.name}:push,pull`;
    expect(actions(await registryToken(t, viewer, scope))).toEqual(['pull']);
    expect(actions(await registryToken(t, root, scope))).toEqual([]);
    const full = await testApp({ SUPER_USERS: 'fullroot', FEATURE_SUPERUSERS_FULL_ACCESS: true });
    try {
      const fr = await makeUser(full, { username: 'fullroot' });
      const o2 = await makeOrg(full, [await makeUser(full)]);
      const r2 = await makeRepo(full, o2);
      expect(actions(await registryToken(full, fr, `repository:${o2.username}/${r2.name}:push,pull`))).toEqual(['push', 'pull']);
      // Pushing creates a repository in another namespace, as its admin could.
      expect(actions(await registryToken(full, fr, `repository:${o2.username}/made-by-root:push,pull`))).toEqual(['push', 'pull']);
      // An OAuth token without super:user carries no powers.
      const tok = await tokenFor(full, fr, 'repo:read repo:write');
      expect(actions(await registryToken(full, { username: '$oauthtoken', password: tok }, `repository:${o2.username}/${r2.name}:push,pull`))).toEqual([]);
    } finally {
      await full.close();
    }
  });

  it('sessions must be fresh for the panel; OAuth tokens are exempt', async () => {
    const s = await signIn(t, root);
    expect((await get('/api/v1/superuser/users/', s.headers)).statusCode).toBe(200);
    await t.app.db.updateTable('session').set({ login_time: new Date(Date.now() - 3600_000) }).where('user_id', '=', root.id).execute();
    const stale = await get('/api/v1/superuser/users/', s.headers);
    expect(stale.statusCode).toBe(401);
    expect(stale.json().title).toBe('fresh_login_required');
  });
});
