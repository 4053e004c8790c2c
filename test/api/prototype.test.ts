import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Namespace } from '../../src/db/schema.js';
import { avatar } from '../../src/lib/avatar.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { auditRows, bearer, makeOrg, makeRobot, makeTeam, makeUser, signIn, tokenFor, uniqueName, type TestUser } from '../helpers/factories.js';

let t: TestApp;
let alice: TestUser; // admin of every org made by freshOrg()
let aliceH: Record<string, string>;
beforeAll(async () => {
  t = await testApp();
  alice = await makeUser(t);
  aliceH = bearer(await tokenFor(t, alice, 'org:admin'));
});
afterAll(() => t?.close());

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const url = (org: { username: string }, id?: string) => `/api/v1/organization/${org.username}/prototypes${id ? `/${id}` : ''}`;

const freshOrg = () => makeOrg(t, [alice]);

async function create(org: Namespace, payload: unknown, headers = aliceH) {
  return t.inject({ method: 'POST', url: url(org), headers, payload: payload as object });
}

async function protoRows(org: Namespace) {
  return t.app.db.selectFrom('permission_prototype').selectAll().where('org_id', '=', org.id).orderBy('id').execute();
}

/** Audit rows of `kind` on the org's account; metadata without the OAuth token keys (checked present). */
async function logsFor(kind: string, org: Namespace) {
  return (await auditRows(t, kind))
    .filter((r) => r.account_id === org.id)
    .map((r) => {
      const { oauth_token_id, oauth_token_application_id, oauth_token_application, ...metadata } = r.metadata as Record<string, unknown>;
      expect([oauth_token_id, oauth_token_application_id, oauth_token_application]).toEqual([expect.any(Number), expect.any(String), 'automation']);
      return { ...r, metadata };
    });
}

const userView = (u: Namespace, isOrgMember: boolean) => ({
  name: u.username,
  is_robot: u.robot,
  kind: 'user',
  is_org_member: isOrgMember,
  avatar: avatar(u.username, u.email, u.robot ? 'robot' : 'user'),
});
const teamView = (name: string) => ({ name, kind: 'team', avatar: avatar(name, name, 'team') });

describe('createOrganizationPrototypePermission (POST /organization/{orgname}/prototypes)', () => {
  it('creates a rule for everyone with a team delegate: 200 (not 201), and logs create_prototype_permission', async () => {
    const org = await freshOrg();
    await makeTeam(t, org, 'member', [], 'devs');
    const res = await create(org, { role: 'write', delegate: { name: 'devs', kind: 'team' } });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toEqual({ id: expect.stringMatching(UUID), role: 'write', activating_user: null, delegate: teamView('devs') });
    const rows = await protoRows(org);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ uuid: body.id, role: 'write', activating_user_id: null, delegate_user_id: null });
    const logs = await logsFor('create_prototype_permission', org);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatchObject({ performer_id: alice.id });
    expect(logs[0].metadata).toEqual({ prototypeid: body.id, username: alice.username, activating_username: null, role: 'write', delegate_team: 'devs' });
  });

  it('creates a rule for one activating user with a user delegate; is_org_member reflects team membership', async () => {
    const org = await freshOrg();
    const member = await makeUser(t);
    const outsider = await makeUser(t);
    await makeTeam(t, org, 'member', [member], 'devs');
    const res = await create(org, { role: 'admin', activating_user: { name: outsider.username }, delegate: { name: member.username, kind: 'user' } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      id: expect.stringMatching(UUID),
      role: 'admin',
      activating_user: userView(outsider, false),
      delegate: userView(member, true),
    });
    const [log] = await logsFor('create_prototype_permission', org);
    expect(log.metadata).toEqual({
      prototypeid: res.json().id,
      username: alice.username,
      activating_username: outsider.username,
      role: 'admin',
      delegate_user: member.username,
    });
  });

  it('accepts robots (of any namespace) as delegate and activating user; robots count as org members', async () => {
    const org = await freshOrg();
    const own = await makeRobot(t, org, 'ci');
    const foreign = await makeRobot(t, alice, 'mine');
    const res = await create(org, { role: 'read', activating_user: { name: foreign.username }, delegate: { name: own.username, kind: 'user' } });
    expect(res.statusCode).toBe(200);
    expect(res.json().activating_user).toEqual(userView(foreign, true));
    expect(res.json().delegate).toEqual(userView(own, true));
    expect(res.json().delegate.avatar.kind).toBe('robot');
  });

  it('treats activating_user null, or with an empty name, as everyone', async () => {
    const org = await freshOrg();
    const u = await makeUser(t);
    for (const activating_user of [null, { name: '' }]) {
      const res = await create(org, { role: 'read', activating_user, delegate: { name: u.username, kind: 'user' } });
      expect(res.statusCode).toBe(200);
      expect(res.json().activating_user).toBeNull();
    }
    expect((await protoRows(org)).map((r) => r.activating_user_id)).toEqual([null, null]);
  });

  it('allows identical rules to coexist (no duplicate check)', async () => {
    const org = await freshOrg();
    await makeTeam(t, org, 'member', [], 'devs');
    const a = await create(org, { role: 'read', delegate: { name: 'devs', kind: 'team' } });
    const b = await create(org, { role: 'read', delegate: { name: 'devs', kind: 'team' } });
    expect([a.statusCode, b.statusCode]).toEqual([200, 200]);
    expect(a.json().id).not.toBe(b.json().id);
    expect(await protoRows(org)).toHaveLength(2);
  });

  it('refuses an unknown activating user with 400 ApiError "Unknown activating user"', async () => {
    const org = await freshOrg();
    const u = await makeUser(t);
    const res = await create(org, { role: 'read', activating_user: { name: uniqueName('ghost') }, delegate: { name: u.username, kind: 'user' } });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ title: 'invalid_request', detail: 'Unknown activating user' });
    expect(await protoRows(org)).toHaveLength(0);
    expect(await logsFor('create_prototype_permission', org)).toHaveLength(0);
  });

  it('refuses an unknown user delegate (or an organization) with 400 ApiError "Missing delegate user or team"', async () => {
    const org = await freshOrg();
    for (const name of [uniqueName('ghost'), (await freshOrg()).username, '']) {
      const res = await create(org, { role: 'read', delegate: { name, kind: 'user' } });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ title: 'invalid_request', detail: 'Missing delegate user or team' });
    }
    expect(await protoRows(org)).toHaveLength(0);
  });

  it("refuses an unknown team, or another org's team, with 400 {message}, before checking the activating user", async () => {
    const org = await freshOrg();
    const other = await freshOrg();
    await makeTeam(t, other, 'member', [], 'theirs');
    for (const body of [
      { role: 'read', delegate: { name: 'theirs', kind: 'team' } },
      { role: 'read', activating_user: { name: uniqueName('ghost') }, delegate: { name: 'theirs', kind: 'team' } },
    ]) {
      const res = await create(org, body);
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ message: `Team does not exist: ${org.username}/theirs` });
    }
    expect(await protoRows(org)).toHaveLength(0);
  });

  it.each([
    [{ delegate: { name: 'x', kind: 'team' } }, "'role' is a required property"],
    [{ role: 'read' }, "'delegate' is a required property"],
    [{ role: 'owner', delegate: { name: 'x', kind: 'team' } }, undefined],
    [{ role: 'read', delegate: { name: 'x', kind: 'org' } }, undefined],
    [{ role: 'read', delegate: { kind: 'user' } }, "'name' is a required property"],
    [{ role: 'read', activating_user: {}, delegate: { name: 'x', kind: 'user' } }, "'name' is a required property"],
  ])('refuses body %j with 400 invalid_request', async (payload, detail) => {
    const org = await freshOrg();
    const res = await create(org, payload);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ status: 400, title: 'invalid_request' });
    if (detail) expect(res.json().detail).toBe(detail);
    expect(await protoRows(org)).toHaveLength(0);
  });

  it('refuses non-admins with 403, and answers 404 on the caller’s own user namespace', async () => {
    const org = await freshOrg();
    const carol = await makeUser(t);
    await makeTeam(t, org, 'creator', [carol], 'devs');
    const body = { role: 'read', delegate: { name: 'devs', kind: 'team' } };
    expect((await create(org, body, bearer(await tokenFor(t, carol, 'org:admin repo:create')))).statusCode).toBe(403);
    expect((await create(org, body, bearer(await tokenFor(t, alice, 'repo:admin user:admin repo:create')))).statusCode).toBe(403);
    expect((await t.inject({ method: 'POST', url: url({ username: uniqueName('none') }), headers: bearer(await tokenFor(t, carol, 'org:admin')), payload: body })).statusCode).toBe(403);
    expect(await protoRows(org)).toHaveLength(0);
    const own = await t.inject({ method: 'POST', url: url(alice), headers: aliceH, payload: body });
    expect(own.statusCode).toBe(404);
    expect(own.json().title).toBe('not_found');
  });

  it('works from a signed-in session (with CSRF token)', async () => {
    const org = await freshOrg();
    await makeTeam(t, org, 'member', [], 'devs');
    const s = await signIn(t, alice);
    const res = await t.inject({ method: 'POST', url: url(org), headers: s.headers, payload: { role: 'read', delegate: { name: 'devs', kind: 'team' } } });
    expect(res.statusCode).toBe(200);
    const [log] = (await auditRows(t, 'create_prototype_permission')).filter((r) => r.account_id === org.id);
    expect(log.metadata).toEqual({ prototypeid: res.json().id, username: alice.username, activating_username: null, role: 'read', delegate_team: 'devs' });
  });
});

describe('getOrganizationPrototypePermissions (GET /organization/{orgname}/prototypes)', () => {
  it('lists the org’s prototypes in creation order, and only this org’s', async () => {
    const org = await freshOrg();
    const other = await freshOrg();
    const u = await makeUser(t);
    await makeTeam(t, org, 'member', [], 'devs');
    await makeTeam(t, other, 'member', [], 'devs');
    expect((await t.inject({ url: url(org), headers: aliceH })).json()).toEqual({ prototypes: [] });
    const a = (await create(org, { role: 'read', delegate: { name: 'devs', kind: 'team' } })).json();
    const b = (await create(org, { role: 'write', activating_user: { name: alice.username }, delegate: { name: u.username, kind: 'user' } })).json();
    await create(other, { role: 'admin', delegate: { name: 'devs', kind: 'team' } });
    const res = await t.inject({ url: url(org), headers: aliceH });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      prototypes: [
        { id: a.id, role: 'read', activating_user: null, delegate: teamView('devs') },
        { id: b.id, role: 'write', activating_user: userView(alice, true), delegate: userView(u, false) },
      ],
    });
  });

  it('refuses members and anonymous callers; outsiders get 403 for unknown orgs', async () => {
    const org = await freshOrg();
    const carol = await makeUser(t);
    await makeTeam(t, org, 'member', [carol], 'devs');
    expect((await t.inject({ url: url(org), headers: bearer(await tokenFor(t, carol, 'org:admin')) })).statusCode).toBe(403);
    expect((await t.inject({ url: url(org) })).statusCode).toBe(401);
    expect((await t.inject({ url: url({ username: uniqueName('none') }), headers: bearer(await tokenFor(t, carol, 'org:admin')) })).statusCode).toBe(403);
    expect((await t.inject({ url: url(alice), headers: aliceH })).statusCode).toBe(404);
  });
});

describe('updateOrganizationPrototypePermission (PUT …/prototypes/{prototypeid})', () => {
  it('changes the role only: 200 prototype, modify_prototype_permission with original_role', async () => {
    const org = await freshOrg();
    const u = await makeUser(t);
    const p = (await create(org, { role: 'read', activating_user: { name: alice.username }, delegate: { name: u.username, kind: 'user' } })).json();
    const res = await t.inject({ method: 'PUT', url: url(org, p.id), headers: aliceH, payload: { role: 'admin', delegate: { name: 'x', kind: 'team' } } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ ...p, role: 'admin' });
    expect((await protoRows(org)).map((r) => r.role)).toEqual(['admin']);
    expect((await logsFor('modify_prototype_permission', org)).map((l) => l.metadata)).toEqual([
      { prototypeid: p.id, username: alice.username, activating_username: alice.username, role: 'admin', original_role: 'read', delegate_user: u.username },
    ]);
  });

  it('answers 404 for an unknown id or another org’s prototype, 400 for a bad role, writing nothing', async () => {
    const org = await freshOrg();
    const other = await freshOrg();
    await makeTeam(t, other, 'member', [], 'devs');
    await makeTeam(t, org, 'member', [], 'devs');
    const theirs = (await create(other, { role: 'read', delegate: { name: 'devs', kind: 'team' } })).json();
    const mine = (await create(org, { role: 'read', delegate: { name: 'devs', kind: 'team' } })).json();
    expect((await t.inject({ method: 'PUT', url: url(org, theirs.id), headers: aliceH, payload: { role: 'admin' } })).statusCode).toBe(404);
    expect((await t.inject({ method: 'PUT', url: url(org, 'nope'), headers: aliceH, payload: { role: 'admin' } })).statusCode).toBe(404);
    const bad = await t.inject({ method: 'PUT', url: url(org, mine.id), headers: aliceH, payload: { role: 'owner' } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().title).toBe('invalid_request');
    const missing = await t.inject({ method: 'PUT', url: url(org, mine.id), headers: aliceH, payload: {} });
    expect(missing.json().detail).toBe("'role' is a required property");
    expect((await protoRows(other)).map((r) => r.role)).toEqual(['read']);
    expect((await protoRows(org)).map((r) => r.role)).toEqual(['read']);
    expect(await logsFor('modify_prototype_permission', org)).toHaveLength(0);
  });

  it('refuses non-admins with 403', async () => {
    const org = await freshOrg();
    const carol = await makeUser(t);
    await makeTeam(t, org, 'member', [carol], 'devs');
    const p = (await create(org, { role: 'read', delegate: { name: 'devs', kind: 'team' } })).json();
    const res = await t.inject({ method: 'PUT', url: url(org, p.id), headers: bearer(await tokenFor(t, carol, 'org:admin')), payload: { role: 'admin' } });
    expect(res.statusCode).toBe(403);
    expect((await protoRows(org)).map((r) => r.role)).toEqual(['read']);
  });
});

describe('deleteOrganizationPrototypePermission (DELETE …/prototypes/{prototypeid})', () => {
  it('deletes (204) and logs delete_prototype_permission; a second delete is 404', async () => {
    const org = await freshOrg();
    await makeTeam(t, org, 'member', [], 'devs');
    const p = (await create(org, { role: 'write', delegate: { name: 'devs', kind: 'team' } })).json();
    const res = await t.inject({ method: 'DELETE', url: url(org, p.id), headers: aliceH });
    expect(res.statusCode).toBe(204);
    expect(res.body).toBe('');
    expect(await protoRows(org)).toHaveLength(0);
    expect((await logsFor('delete_prototype_permission', org)).map((l) => l.metadata)).toEqual([
      { prototypeid: p.id, username: alice.username, activating_username: null, role: 'write', delegate_team: 'devs' },
    ]);
    expect((await t.inject({ method: 'DELETE', url: url(org, p.id), headers: aliceH })).statusCode).toBe(404);
    expect(await logsFor('delete_prototype_permission', org)).toHaveLength(1);
  });

  it('answers 404 for another org’s prototype and 403 for non-admins, deleting nothing', async () => {
    const org = await freshOrg();
    const other = await freshOrg();
    const carol = await makeUser(t);
    await makeTeam(t, other, 'member', [carol], 'devs');
    const theirs = (await create(other, { role: 'read', delegate: { name: 'devs', kind: 'team' } })).json();
    expect((await t.inject({ method: 'DELETE', url: url(org, theirs.id), headers: aliceH })).statusCode).toBe(404);
    expect((await t.inject({ method: 'DELETE', url: url(other, theirs.id), headers: bearer(await tokenFor(t, carol, 'org:admin')) })).statusCode).toBe(403);
    expect(await protoRows(other)).toHaveLength(1);
  });

  it('goes away with its delegate user (FK cascade)', async () => {
    const org = await freshOrg();
    const u = await makeUser(t);
    await create(org, { role: 'read', delegate: { name: u.username, kind: 'user' } });
    await t.app.db.deleteFrom('namespace').where('id', '=', u.id).execute();
    expect((await t.inject({ url: url(org), headers: aliceH })).json()).toEqual({ prototypes: [] });
  });
});
