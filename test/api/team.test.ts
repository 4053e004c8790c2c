import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Namespace } from '../../src/db/schema.js';
import { avatar } from '../../src/lib/avatar.js';
import { testApp, type TestApp } from '../helpers/app.js';
import {
  auditRows,
  bearer,
  grant,
  makeOrg,
  makeRepo,
  makeRobot,
  makeTeam,
  makeUser,
  signIn,
  tokenFor,
  uniqueName,
  type TestUser,
} from '../helpers/factories.js';

let t: TestApp;
let alice: TestUser; // admin of every org made by freshOrg()
let aliceH: Record<string, string>;
beforeAll(async () => {
  t = await testApp();
  alice = await makeUser(t);
  aliceH = bearer(await tokenFor(t, alice, 'org:admin'));
});
afterAll(() => t?.close());

const base = (org: { username: string }, team: string) => `/api/v1/organization/${org.username}/team/${team}`;

async function freshOrg(): Promise<Namespace> {
  return makeOrg(t, [alice]);
}

async function teamRow(org: Namespace, name: string) {
  return t.app.db.selectFrom('team').selectAll().where('organization_id', '=', org.id).where('name', '=', name).executeTakeFirst();
}

async function memberIds(teamId: number): Promise<number[]> {
  return (await t.app.db.selectFrom('team_member').select('user_id').where('team_id', '=', teamId).execute()).map((r) => r.user_id);
}

/** The audit rows of `kind` on `org`'s account, their metadata without the OAuth token keys. */
async function logsFor(kind: string, org: Namespace) {
  return (await auditRows(t, kind))
    .filter((r) => r.account_id === org.id)
    .map((r) => {
      const { oauth_token_id, oauth_token_application_id, oauth_token_application, ...metadata } = r.metadata as Record<string, unknown>;
      expect(oauth_token_application).toBe('automation'); // every call here uses a token
      expect(oauth_token_id).toEqual(expect.any(Number));
      expect(oauth_token_application_id).toEqual(expect.any(String));
      return { ...r, metadata };
    });
}

const teamAvatar = (name: string) => avatar(name, name, 'team');

describe('updateOrganizationTeam (PUT /organization/{orgname}/team/{teamname})', () => {
  it('creates a team: 200 (not 201) with new_team true, and logs org_create_team', async () => {
    const org = await freshOrg();
    const res = await t.inject({ method: 'PUT', url: base(org, 'devs'), headers: aliceH, payload: { role: 'creator', description: 'The **devs**' } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      name: 'devs',
      description: 'The **devs**',
      can_view: true,
      role: 'creator',
      avatar: { ...teamAvatar('devs'), kind: 'team' },
      new_team: true,
    });
    expect(await teamRow(org, 'devs')).toMatchObject({ role: 'creator', description: 'The **devs**' });
    const logs = await logsFor('org_create_team', org);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatchObject({ performer_id: alice.id, metadata: expect.objectContaining({ team: 'devs' }) });
  });

  it('creates with an empty description when none is given', async () => {
    const org = await freshOrg();
    const res = await t.inject({ method: 'PUT', url: base(org, 'nodesc'), headers: aliceH, payload: { role: 'member' } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ description: '', role: 'member', new_team: true });
  });

  it('updates description and role of an existing team, logging each change once', async () => {
    const org = await freshOrg();
    await makeTeam(t, org, 'member', [], 'ops');
    const res = await t.inject({ method: 'PUT', url: base(org, 'ops'), headers: aliceH, payload: { role: 'admin', description: 'new' } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ name: 'ops', role: 'admin', description: 'new', new_team: false });
    expect((await logsFor('org_set_team_description', org)).map((l) => l.metadata)).toEqual([{ team: 'ops', description: 'new' }]);
    expect((await logsFor('org_set_team_role', org)).map((l) => l.metadata)).toEqual([{ team: 'ops', role: 'admin' }]);
    expect(await logsFor('org_create_team', org)).toHaveLength(0);

    // The same values again change nothing and log nothing.
    const again = await t.inject({ method: 'PUT', url: base(org, 'ops'), headers: aliceH, payload: { role: 'admin', description: 'new' } });
    expect(again.statusCode).toBe(200);
    expect(await logsFor('org_set_team_description', org)).toHaveLength(1);
    expect(await logsFor('org_set_team_role', org)).toHaveLength(1);
  });

  it('leaves the description alone when the body has none', async () => {
    const org = await freshOrg();
    await t.inject({ method: 'PUT', url: base(org, 'keep'), headers: aliceH, payload: { role: 'member', description: 'kept' } });
    const res = await t.inject({ method: 'PUT', url: base(org, 'keep'), headers: aliceH, payload: { role: 'creator' } });
    expect(res.json()).toMatchObject({ description: 'kept', role: 'creator' });
    expect(await logsFor('org_set_team_description', org)).toHaveLength(0);
  });

  it("refuses to demote the caller's only admin team (400 {message}), and writes nothing", async () => {
    const org = await freshOrg();
    const res = await t.inject({ method: 'PUT', url: base(org, 'owners'), headers: aliceH, payload: { role: 'member', description: 'changed' } });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({
      message: `Cannot remove admin from team 'owners' because calling user would no longer have admin on org '${org.username}'`,
    });
    expect(await teamRow(org, 'owners')).toMatchObject({ role: 'admin', description: '' });
    expect(await logsFor('org_set_team_role', org)).toHaveLength(0);
    expect(await logsFor('org_set_team_description', org)).toHaveLength(0);
  });

  it('lets the caller demote an admin team when another admin team keeps them admin', async () => {
    const org = await freshOrg();
    await makeTeam(t, org, 'admin', [alice], 'admins2');
    const res = await t.inject({ method: 'PUT', url: base(org, 'owners'), headers: aliceH, payload: { role: 'member' } });
    expect(res.statusCode).toBe(200);
    expect(res.json().role).toBe('member');
    // alice is still an org admin through admins2: the org keeps an admin.
    const again = await t.inject({ method: 'PUT', url: base(org, 'admins2'), headers: aliceH, payload: { role: 'creator' } });
    expect(again.statusCode).toBe(400);
  });

  it('lets an admin demote an admin team they are not in', async () => {
    const org = await freshOrg();
    const bob = await makeUser(t);
    await makeTeam(t, org, 'admin', [bob], 'bobadmins');
    const res = await t.inject({ method: 'PUT', url: base(org, 'bobadmins'), headers: aliceH, payload: { role: 'member' } });
    expect(res.statusCode).toBe(200);
  });

  it.each([
    ['Bad', 'Namespace must match expression ^([a-z0-9]+(?:[._-][a-z0-9]+)*)$'],
    ['a_', 'Namespace must match expression ^([a-z0-9]+(?:[._-][a-z0-9]+)*)$'],
    ['x', 'Team must be between 2 and 255 characters in length'],
    ['a'.repeat(256), 'Team must be between 2 and 255 characters in length'],
  ])('refuses the team name %s with 400 {message: "Invalid team name …"}', async (name, why) => {
    const org = await freshOrg();
    const res = await t.inject({ method: 'PUT', url: base(org, name), headers: aliceH, payload: { role: 'member' } });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ message: `Invalid team name ${name}: ${why}` });
    expect(await teamRow(org, name)).toBeUndefined();
    expect(await logsFor('org_create_team', org)).toHaveLength(0);
  });

  it.each([
    [{}, "'role' is a required property"],
    [{ role: 'owner' }, undefined],
    [{ role: 'member', description: 5 }, undefined],
  ])('refuses body %j with 400 invalid_request', async (payload, detail) => {
    const org = await freshOrg();
    const res = await t.inject({ method: 'PUT', url: base(org, 'newteam'), headers: aliceH, payload });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ status: 400, title: 'invalid_request', error_type: 'invalid_request' });
    if (detail) expect(res.json().detail).toBe(detail);
    expect(await teamRow(org, 'newteam')).toBeUndefined();
  });

  it('answers 404 for a user namespace the caller owns (teams exist only in organizations)', async () => {
    const res = await t.inject({ method: 'PUT', url: `/api/v1/organization/${alice.username}/team/devs`, headers: aliceH, payload: { role: 'member' } });
    expect(res.statusCode).toBe(404);
    expect(res.json().title).toBe('not_found');
    expect(await t.app.db.selectFrom('team').select('id').where('organization_id', '=', alice.id).execute()).toHaveLength(0);
  });

  it('refuses non-admins, and outsiders get 403 for an unknown organization, not 404', async () => {
    const org = await freshOrg();
    const carol = await makeUser(t);
    await makeTeam(t, org, 'creator', [carol], 'creators');
    const carolH = bearer(await tokenFor(t, carol, 'org:admin repo:create'));
    expect((await t.inject({ method: 'PUT', url: base(org, 'x1'), headers: carolH, payload: { role: 'member' } })).statusCode).toBe(403);
    expect((await t.inject({ method: 'PUT', url: `/api/v1/organization/${uniqueName('none')}/team/x1`, headers: carolH, payload: { role: 'member' } })).statusCode).toBe(403);
    // Anonymous writes meet the CSRF check first.
    expect((await t.inject({ method: 'PUT', url: base(org, 'x1'), payload: { role: 'member' } })).statusCode).toBe(403);
    // alice's token without org:admin cannot use her admin role.
    const weak = bearer(await tokenFor(t, alice, 'repo:admin repo:create user:admin'));
    expect((await t.inject({ method: 'PUT', url: base(org, 'x1'), headers: weak, payload: { role: 'member' } })).statusCode).toBe(403);
    expect(await teamRow(org, 'x1')).toBeUndefined();
  });

  it('works from a signed-in session with the CSRF token, and refuses it without', async () => {
    const org = await freshOrg();
    const s = await signIn(t, alice);
    const ok = await t.inject({ method: 'PUT', url: base(org, 'websess'), headers: s.headers, payload: { role: 'member' } });
    expect(ok.statusCode).toBe(200);
    const noCsrf = await t.inject({ method: 'PUT', url: base(org, 'websess2'), headers: { cookie: s.headers.cookie }, payload: { role: 'member' } });
    expect(noCsrf.statusCode).toBe(403);
    expect(await teamRow(org, 'websess2')).toBeUndefined();
  });

  it('gives a new team membership power once members are added (role creator → may create repos)', async () => {
    const org = await freshOrg();
    const dave = await makeUser(t);
    await t.inject({ method: 'PUT', url: base(org, 'builders'), headers: aliceH, payload: { role: 'member' } });
    await t.inject({ method: 'PUT', url: `${base(org, 'builders')}/members/${dave.username}`, headers: aliceH });
    const { effectiveOrgRole } = await import('../../src/auth/permissions.js');
    expect(await effectiveOrgRole(t.app.db, { user: dave, scopes: null }, org)).toBe('member');
    await t.inject({ method: 'PUT', url: base(org, 'builders'), headers: aliceH, payload: { role: 'creator' } });
    expect(await effectiveOrgRole(t.app.db, { user: dave, scopes: null }, org)).toBe('creator');
  });
});

describe('deleteOrganizationTeam (DELETE /organization/{orgname}/team/{teamname})', () => {
  it('deletes the team with its memberships, grants, invites and prototypes (204), and logs org_delete_team', async () => {
    const org = await freshOrg();
    const bob = await makeUser(t);
    const invited = await makeUser(t);
    const team = await makeTeam(t, org, 'member', [bob], 'doomed');
    const repo = await makeRepo(t, org);
    await grant(t, repo, { teamId: team.id }, 'write');
    await t.app.db.insertInto('team_member_invite').values({ team_id: team.id, user_id: invited.id, email: null, inviter_id: alice.id, invite_token: uniqueName('tok') }).execute();
    await t.app.db.insertInto('permission_prototype').values({ uuid: uniqueName('p'), org_id: org.id, activating_user_id: null, delegate_user_id: null, delegate_team_id: team.id, role: 'read' }).execute();

    const res = await t.inject({ method: 'DELETE', url: base(org, 'doomed'), headers: aliceH });
    expect(res.statusCode).toBe(204);
    expect(res.body).toBe('');
    expect(await teamRow(org, 'doomed')).toBeUndefined();
    expect(await memberIds(team.id)).toEqual([]);
    const db = t.app.db;
    expect(await db.selectFrom('repository_permission').select('id').where('team_id', '=', team.id).execute()).toEqual([]);
    expect(await db.selectFrom('team_member_invite').select('id').where('team_id', '=', team.id).execute()).toEqual([]);
    expect(await db.selectFrom('permission_prototype').select('id').where('delegate_team_id', '=', team.id).execute()).toEqual([]);
    // bob lost the grant he had through the team.
    const { realRepoRole } = await import('../../src/auth/permissions.js');
    expect(await realRepoRole(db, bob.id, repo)).toBeNull();
    expect((await logsFor('org_delete_team', org)).map((l) => l.metadata)).toEqual([{ team: 'doomed' }]);
  });

  it("answers 400 {message} for a team that isn't in the org", async () => {
    const org = await freshOrg();
    const res = await t.inject({ method: 'DELETE', url: base(org, 'ghost'), headers: aliceH });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ message: `Team 'ghost' is not a team in org '${org.username}'` });
    expect(await logsFor('org_delete_team', org)).toHaveLength(0);
  });

  it("refuses to delete the caller's only admin team, but allows it when another admin team remains", async () => {
    const org = await freshOrg();
    const res = await t.inject({ method: 'DELETE', url: base(org, 'owners'), headers: aliceH });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({
      message: `Deleting team 'owners' would remove admin ability for user '${alice.username}' in organization '${org.username}'`,
    });
    expect(await teamRow(org, 'owners')).toBeDefined();

    await makeTeam(t, org, 'admin', [alice], 'backup');
    expect((await t.inject({ method: 'DELETE', url: base(org, 'owners'), headers: aliceH })).statusCode).toBe(204);
    expect((await t.inject({ method: 'DELETE', url: base(org, 'backup'), headers: aliceH })).statusCode).toBe(400);
  });

  it('lets an admin delete an admin team they are not in', async () => {
    const org = await freshOrg();
    await makeTeam(t, org, 'admin', [await makeUser(t)], 'others');
    expect((await t.inject({ method: 'DELETE', url: base(org, 'others'), headers: aliceH })).statusCode).toBe(204);
  });

  it('refuses non-admins (team members included) with 403 and deletes nothing', async () => {
    const org = await freshOrg();
    const carol = await makeUser(t);
    await makeTeam(t, org, 'member', [carol], 'mine');
    const carolH = bearer(await tokenFor(t, carol, 'org:admin'));
    expect((await t.inject({ method: 'DELETE', url: base(org, 'mine'), headers: carolH })).statusCode).toBe(403);
    expect((await t.inject({ method: 'DELETE', url: base(org, 'mine') })).statusCode).toBe(403);
    expect(await teamRow(org, 'mine')).toBeDefined();
  });

  it('answers 404 on a user namespace', async () => {
    expect((await t.inject({ method: 'DELETE', url: `/api/v1/organization/${alice.username}/team/owners`, headers: aliceH })).statusCode).toBe(404);
  });
});

describe('updateOrganizationTeamMember (PUT …/team/{teamname}/members/{membername})', () => {
  it('adds a user directly (no mail here): 200 member view, org_add_team_member', async () => {
    const org = await freshOrg();
    const team = await makeTeam(t, org, 'member', [], 'devs');
    const bob = await makeUser(t);
    const res = await t.inject({ method: 'PUT', url: `${base(org, 'devs')}/members/${bob.username}`, headers: aliceH });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ name: bob.username, kind: 'user', is_robot: false, avatar: avatar(bob.username, bob.email, 'user'), invited: false });
    expect(await memberIds(team.id)).toEqual([bob.id]);
    expect((await logsFor('org_add_team_member', org)).map((l) => l.metadata)).toEqual([{ member: bob.username, team: 'devs' }]);
    // The membership takes effect at once (auth cache cleared): bob can now list the team.
    const bobH = bearer(await tokenFor(t, bob, 'org:admin'));
    expect((await t.inject({ url: `${base(org, 'devs')}/members`, headers: bobH })).statusCode).toBe(200);
  });

  it("adds the org's own robot, with a robot avatar", async () => {
    const org = await freshOrg();
    const team = await makeTeam(t, org, 'member', [], 'bots');
    const robot = await makeRobot(t, org, 'builder');
    const res = await t.inject({ method: 'PUT', url: `${base(org, 'bots')}/members/${robot.username}`, headers: aliceH });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ name: robot.username, kind: 'user', is_robot: true, avatar: avatar(robot.username, null, 'robot'), invited: false });
    expect(await memberIds(team.id)).toEqual([robot.id]);
  });

  it("refuses another namespace's robot with 400 {message}", async () => {
    const org = await freshOrg();
    const team = await makeTeam(t, org, 'member', [], 'bots');
    const other = await freshOrg();
    for (const robot of [await makeRobot(t, other, 'x'), await makeRobot(t, alice, 'mine')]) {
      const res = await t.inject({ method: 'PUT', url: `${base(org, 'bots')}/members/${robot.username}`, headers: aliceH });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ message: 'Cannot add the specified robot to this team, as it is not a member of the organization' });
    }
    expect(await memberIds(team.id)).toEqual([]);
    expect(await logsFor('org_add_team_member', org)).toHaveLength(0);
  });

  it('refuses an unknown user (and an organization name) with 400 ApiError "Unknown user"', async () => {
    const org = await freshOrg();
    await makeTeam(t, org, 'member', [], 'devs');
    for (const name of [uniqueName('ghost'), (await freshOrg()).username]) {
      const res = await t.inject({ method: 'PUT', url: `${base(org, 'devs')}/members/${name}`, headers: aliceH });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ title: 'invalid_request', detail: 'Unknown user' });
    }
  });

  it('refuses a second add with 400 "User X is already a member of team Y"', async () => {
    const org = await freshOrg();
    const bob = await makeUser(t);
    const team = await makeTeam(t, org, 'member', [bob], 'devs');
    const res = await t.inject({ method: 'PUT', url: `${base(org, 'devs')}/members/${bob.username}`, headers: aliceH });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ message: `User ${bob.username} is already a member of team devs` });
    expect(await memberIds(team.id)).toEqual([bob.id]);
    expect(await logsFor('org_add_team_member', org)).toHaveLength(0);
  });

  it('answers 404 for an unknown team (admin), 403 for non-admins', async () => {
    const org = await freshOrg();
    const bob = await makeUser(t);
    expect((await t.inject({ method: 'PUT', url: `${base(org, 'ghost')}/members/${bob.username}`, headers: aliceH })).statusCode).toBe(404);
    const team = await makeTeam(t, org, 'member', [bob], 'devs');
    const bobH = bearer(await tokenFor(t, bob, 'org:admin'));
    const carol = await makeUser(t);
    expect((await t.inject({ method: 'PUT', url: `${base(org, 'devs')}/members/${carol.username}`, headers: bobH })).statusCode).toBe(403);
    expect((await t.inject({ method: 'PUT', url: `${base(org, 'ghost')}/members/${carol.username}`, headers: bobH })).statusCode).toBe(403);
    expect(await memberIds(team.id)).toEqual([bob.id]);
  });
});

describe('deleteOrganizationTeamMember (DELETE …/team/{teamname}/members/{membername})', () => {
  it('removes a member (204) and logs org_remove_team_member', async () => {
    const org = await freshOrg();
    const bob = await makeUser(t);
    const team = await makeTeam(t, org, 'admin', [bob], 'ops');
    const bobH = bearer(await tokenFor(t, bob, 'org:admin'));
    // bob administers the org until he is removed (auth cache cleared afterwards).
    expect((await t.inject({ url: `/api/v1/organization/${org.username}/prototypes`, headers: bobH })).statusCode).toBe(200);
    const res = await t.inject({ method: 'DELETE', url: `${base(org, 'ops')}/members/${bob.username}`, headers: aliceH });
    expect(res.statusCode).toBe(204);
    expect(await memberIds(team.id)).toEqual([]);
    expect((await logsFor('org_remove_team_member', org)).map((l) => l.metadata)).toEqual([{ member: bob.username, team: 'ops' }]);
    expect((await t.inject({ url: `/api/v1/organization/${org.username}/prototypes`, headers: bobH })).statusCode).toBe(403);
  });

  it('withdraws a pending user invite instead when there is one (org_delete_team_member_invite)', async () => {
    const org = await freshOrg();
    const bob = await makeUser(t);
    const team = await makeTeam(t, org, 'member', [bob], 'devs');
    await t.app.db.insertInto('team_member_invite').values({ team_id: team.id, user_id: bob.id, email: null, inviter_id: alice.id, invite_token: uniqueName('tok') }).execute();
    const res = await t.inject({ method: 'DELETE', url: `${base(org, 'devs')}/members/${bob.username}`, headers: aliceH });
    expect(res.statusCode).toBe(204);
    expect(await t.app.db.selectFrom('team_member_invite').select('id').where('team_id', '=', team.id).execute()).toEqual([]);
    // The membership stays: only the invite was removed.
    expect(await memberIds(team.id)).toEqual([bob.id]);
    expect((await logsFor('org_delete_team_member_invite', org)).map((l) => l.metadata)).toEqual([{ user: bob.username, team: 'devs', member: bob.username }]);
    expect(await logsFor('org_remove_team_member', org)).toHaveLength(0);
  });

  it('removes a robot member', async () => {
    const org = await freshOrg();
    const robot = await makeRobot(t, org, 'r');
    const team = await makeTeam(t, org, 'member', [robot], 'bots');
    expect((await t.inject({ method: 'DELETE', url: `${base(org, 'bots')}/members/${robot.username}`, headers: aliceH })).statusCode).toBe(204);
    expect(await memberIds(team.id)).toEqual([]);
  });

  it('answers 400 {message} for a user who is not in the team', async () => {
    const org = await freshOrg();
    const bob = await makeUser(t);
    await makeTeam(t, org, 'member', [], 'devs');
    const res = await t.inject({ method: 'DELETE', url: `${base(org, 'devs')}/members/${bob.username}`, headers: aliceH });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ message: `User ${bob.username} does not belong to team devs` });
  });

  it('answers 404 for an unknown team or user', async () => {
    const org = await freshOrg();
    const bob = await makeUser(t);
    await makeTeam(t, org, 'member', [bob], 'devs');
    expect((await t.inject({ method: 'DELETE', url: `${base(org, 'ghost')}/members/${bob.username}`, headers: aliceH })).statusCode).toBe(404);
    expect((await t.inject({ method: 'DELETE', url: `${base(org, 'devs')}/members/${uniqueName('nobody')}`, headers: aliceH })).statusCode).toBe(404);
  });

  it('refuses to let the caller leave their only admin team; allows it with another admin team', async () => {
    const org = await freshOrg();
    const owners = await teamRow(org, 'owners');
    const res = await t.inject({ method: 'DELETE', url: `${base(org, 'owners')}/members/${alice.username}`, headers: aliceH });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ message: 'User cannot remove themselves from their only admin team.' });
    expect(await memberIds(owners!.id)).toEqual([alice.id]);
    expect(await logsFor('org_remove_team_member', org)).toHaveLength(0);

    await makeTeam(t, org, 'admin', [alice], 'backup');
    expect((await t.inject({ method: 'DELETE', url: `${base(org, 'owners')}/members/${alice.username}`, headers: aliceH })).statusCode).toBe(204);
    expect(await memberIds(owners!.id)).toEqual([]);
  });

  it('lets an admin remove another admin from the owners team', async () => {
    const bob = await makeUser(t);
    const org = await makeOrg(t, [alice, bob]);
    expect((await t.inject({ method: 'DELETE', url: `${base(org, 'owners')}/members/${bob.username}`, headers: aliceH })).statusCode).toBe(204);
  });

  it('refuses non-admins with 403', async () => {
    const org = await freshOrg();
    const bob = await makeUser(t);
    const team = await makeTeam(t, org, 'creator', [bob], 'devs');
    const bobH = bearer(await tokenFor(t, bob, 'org:admin'));
    expect((await t.inject({ method: 'DELETE', url: `${base(org, 'devs')}/members/${bob.username}`, headers: bobH })).statusCode).toBe(403);
    expect(await memberIds(team.id)).toEqual([bob.id]);
  });
});

describe('getOrganizationTeamMembers (GET …/team/{teamname}/members)', () => {
  it('lists members (users and robots) for an org admin, with can_edit true', async () => {
    const org = await freshOrg();
    const bob = await makeUser(t, { username: `a${uniqueName('bob')}` });
    const robot = await makeRobot(t, org, 'zz');
    await makeTeam(t, org, 'member', [bob, robot], 'devs');
    const res = await t.inject({ url: `${base(org, 'devs')}/members`, headers: aliceH });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      name: 'devs',
      can_edit: true,
      members: [
        { name: bob.username, kind: 'user', is_robot: false, avatar: avatar(bob.username, bob.email, 'user'), invited: false },
        { name: robot.username, kind: 'user', is_robot: true, avatar: avatar(robot.username, null, 'robot'), invited: false },
      ].sort((a, b) => a.name.localeCompare(b.name)),
    });
  });

  it('lets a member of the team view it (can_edit false), but not other teams', async () => {
    const org = await freshOrg();
    const carol = await makeUser(t);
    await makeTeam(t, org, 'member', [carol], 'devs');
    await makeTeam(t, org, 'member', [], 'other');
    // repo:create caps carol's team role at creator, which still lets her view her team.
    for (const scope of ['org:admin', 'repo:create']) {
      const h = bearer(await tokenFor(t, carol, scope));
      const res = await t.inject({ url: `${base(org, 'devs')}/members`, headers: h });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({ name: 'devs', can_edit: false });
      expect(res.json().members.map((m: { name: string }) => m.name)).toEqual([carol.username]);
      expect((await t.inject({ url: `${base(org, 'other')}/members`, headers: h })).statusCode).toBe(403);
      expect((await t.inject({ url: `${base(org, 'owners')}/members`, headers: h })).statusCode).toBe(403);
    }
    // Scopes that carry no org role do not let her view it.
    for (const scope of ['repo:admin', 'user:admin']) {
      const h = bearer(await tokenFor(t, carol, scope));
      expect((await t.inject({ url: `${base(org, 'devs')}/members`, headers: h })).statusCode).toBe(403);
    }
  });

  it('includes pending invites only with includePending and only for admins', async () => {
    const org = await freshOrg();
    const carol = await makeUser(t);
    const dora = await makeUser(t);
    const team = await makeTeam(t, org, 'member', [carol], 'devs');
    await t.app.db
      .insertInto('team_member_invite')
      .values([
        { team_id: team.id, user_id: dora.id, email: null, inviter_id: alice.id, invite_token: uniqueName('tok') },
        { team_id: team.id, user_id: null, email: 'someone@example.com', inviter_id: alice.id, invite_token: uniqueName('tok') },
      ])
      .execute();
    const plain = await t.inject({ url: `${base(org, 'devs')}/members`, headers: aliceH });
    expect(plain.json().members).toHaveLength(1);
    for (const v of ['false', '0', '']) {
      expect((await t.inject({ url: `${base(org, 'devs')}/members?includePending=${v}`, headers: aliceH })).json().members).toHaveLength(1);
    }
    const res = await t.inject({ url: `${base(org, 'devs')}/members?includePending=true`, headers: aliceH });
    expect(res.json().members).toEqual([
      expect.objectContaining({ name: carol.username, invited: false }),
      { name: dora.username, kind: 'user', is_robot: false, avatar: avatar(dora.username, dora.email, 'user'), invited: true },
      { email: 'someone@example.com', kind: 'invite', avatar: avatar('someone@example.com', 'someone@example.com', 'user'), invited: true },
    ]);
    const carolH = bearer(await tokenFor(t, carol, 'org:admin'));
    expect((await t.inject({ url: `${base(org, 'devs')}/members?includePending=true`, headers: carolH })).json().members).toHaveLength(1);
  });

  it('answers 404 for an unknown team to admins, 403 to everyone else (even team members elsewhere)', async () => {
    const org = await freshOrg();
    const carol = await makeUser(t);
    await makeTeam(t, org, 'member', [carol], 'devs');
    const carolH = bearer(await tokenFor(t, carol, 'org:admin'));
    expect((await t.inject({ url: `${base(org, 'ghost')}/members`, headers: aliceH })).statusCode).toBe(404);
    expect((await t.inject({ url: `${base(org, 'ghost')}/members`, headers: carolH })).statusCode).toBe(403);
    expect((await t.inject({ url: `/api/v1/organization/${uniqueName('none')}/team/devs/members`, headers: carolH })).statusCode).toBe(403);
    expect((await t.inject({ url: `${base(org, 'devs')}/members` })).statusCode).toBe(401);
    expect((await t.inject({ url: `/api/v1/organization/${alice.username}/team/devs/members`, headers: aliceH })).statusCode).toBe(404);
  });
});

describe('getOrganizationTeamPermissions (GET …/team/{teamname}/permissions)', () => {
  it("lists the team's direct repository grants (names without namespace)", async () => {
    const org = await freshOrg();
    const team = await makeTeam(t, org, 'member', [], 'devs');
    const web = await makeRepo(t, org, { name: 'web', visibility: 'public' });
    const api = await makeRepo(t, org, { name: 'api' });
    await makeRepo(t, org, { name: 'other' });
    await grant(t, web, { teamId: team.id }, 'read');
    await grant(t, api, { teamId: team.id }, 'admin');
    await grant(t, api, { userId: alice.id }, 'write'); // a user grant, not the team's
    const res = await t.inject({ url: `${base(org, 'devs')}/permissions`, headers: aliceH });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      permissions: [
        { repository: { name: 'api', is_public: false }, role: 'admin' },
        { repository: { name: 'web', is_public: true }, role: 'read' },
      ],
    });
  });

  it('is empty for a team without grants; 404 for an unknown team; 403 for members', async () => {
    const org = await freshOrg();
    const carol = await makeUser(t);
    await makeTeam(t, org, 'member', [carol], 'devs');
    expect((await t.inject({ url: `${base(org, 'devs')}/permissions`, headers: aliceH })).json()).toEqual({ permissions: [] });
    expect((await t.inject({ url: `${base(org, 'ghost')}/permissions`, headers: aliceH })).statusCode).toBe(404);
    const carolH = bearer(await tokenFor(t, carol, 'org:admin'));
    expect((await t.inject({ url: `${base(org, 'devs')}/permissions`, headers: carolH })).statusCode).toBe(403);
  });
});
