// Team invitations with real mail: the app sends through a real SMTP server on 127.0.0.1 and the
// tests follow the codes in the mails it received.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/auth/crypto.js';
import type { Namespace } from '../../src/db/schema.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { auditRows, bearer, makeOrg, makeRobot, makeTeam, makeUser, signIn, tokenFor, uniqueName, type TestUser } from '../helpers/factories.js';
import { codeFromMail, startMailbox, type Mailbox } from '../helpers/smtp.js';

let mail: Mailbox;
let t: TestApp;
let admin: TestUser;
let adminH: Record<string, string>;

beforeAll(async () => {
  mail = await startMailbox();
  t = await testApp(mail.config());
  admin = await makeUser(t);
  adminH = bearer(await tokenFor(t, admin, 'org:admin'));
});
afterAll(async () => {
  await t?.close();
  await mail?.close();
});

const memberUrl = (org: Namespace, team: string, member: string) => `/api/v1/organization/${org.username}/team/${team}/members/${member}`;
const emailUrl = (org: Namespace, team: string, email: string) => `/api/v1/organization/${org.username}/team/${team}/invite/${email}`;

async function orgWithTeam(): Promise<{ org: Namespace; team: string; teamId: number }> {
  const org = await makeOrg(t, [admin]);
  const team = uniqueName('team');
  const { id } = await makeTeam(t, org, 'member', [], team);
  return { org, team, teamId: id };
}

async function isMember(teamId: number, userId: number): Promise<boolean> {
  const row = await t.app.db.selectFrom('team_member').select('id').where('team_id', '=', teamId).where('user_id', '=', userId).executeTakeFirst();
  return !!row;
}

const invitesOf = (teamId: number) => t.app.db.selectFrom('team_member_invite').selectAll().where('team_id', '=', teamId).execute();

/** Invites `user` to the team by name and returns the code from the mail they received. */
async function inviteUser(org: Namespace, team: string, user: TestUser): Promise<string> {
  const before = mail.mails.length;
  const res = await t.inject({ method: 'PUT', url: memberUrl(org, team, user.username), headers: adminH });
  expect(res.statusCode, res.body).toBe(200);
  expect(res.json().invited).toBe(true);
  const m = await mail.waitFor(user.email!, (x) => mail.mails.indexOf(x) >= before && x.subject.includes(`${org.username}/${team}`));
  return codeFromMail(m, '/confirminvite');
}

describe('updateOrganizationTeamMember with FEATURE_MAILING', () => {
  it('invites a user who is in no team of the org: mail sent, no membership yet, code stored hashed', async () => {
    const { org, team, teamId } = await orgWithTeam();
    const bob = await makeUser(t);
    const code = await inviteUser(org, team, bob);
    expect(await isMember(teamId, bob.id)).toBe(false);
    const rows = await invitesOf(teamId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ user_id: bob.id, email: null, inviter_id: admin.id, invite_token: sha256Hex(code) });
    const log = (await auditRows(t, 'org_invite_team_member')).filter((r) => r.account_id === org.id);
    expect(log).toHaveLength(1);
    expect(log[0]!.metadata).toMatchObject({ user: bob.username, member: bob.username, team });
    expect(JSON.stringify(log[0]!.metadata)).not.toContain(code);

    const m = mail.mails.find((x) => x.text.includes(code))!;
    expect(m.from).toBe(t.config.MAIL_DEFAULT_SENDER);
    expect(m.text).toContain(`${admin.username} has invited you to join the team ${team} of the organization ${org.username}`);
    expect(m.html).toContain('/confirminvite?code=');

    const pending = await t.inject({ url: `${memberUrl(org, team, '').replace(/\/members\/$/, '/members')}?includePending=true`, headers: adminH });
    expect(pending.json().members).toEqual([expect.objectContaining({ name: bob.username, kind: 'user', invited: true })]);
  });

  it('adds directly a user already in a team of the org, and robots; no mail', async () => {
    const { org, team, teamId } = await orgWithTeam();
    const carol = await makeUser(t);
    await makeTeam(t, org, 'member', [carol]);
    const bot = await makeRobot(t, org);
    const sent = mail.mails.length;
    for (const m of [carol, bot]) {
      const res = await t.inject({ method: 'PUT', url: memberUrl(org, team, m.username), headers: adminH });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json().invited).toBe(false);
      expect(await isMember(teamId, m.id)).toBe(true);
    }
    expect(mail.mails.length).toBe(sent);
    expect(await invitesOf(teamId)).toEqual([]);
  });

  it('a repeated invitation replaces the code: the old one stops working', async () => {
    const { org, team, teamId } = await orgWithTeam();
    const dan = await makeUser(t);
    const first = await inviteUser(org, team, dan);
    const second = await inviteUser(org, team, dan);
    expect(second).not.toBe(first);
    expect(await invitesOf(teamId)).toHaveLength(1);
    const h = bearer(await tokenFor(t, dan, 'user:admin'));
    const old = await t.inject({ method: 'PUT', url: `/api/v1/teaminvite/${first}`, headers: h });
    expect(old.statusCode).toBe(400);
    expect(old.json()).toMatchObject({ message: 'Invalid confirmation code.' });
    const ok = await t.inject({ method: 'PUT', url: `/api/v1/teaminvite/${second}`, headers: h });
    expect(ok.statusCode).toBe(200);
  });

  it('when the mail server refuses, answers 520 downstream_issue and stores nothing', async () => {
    const { org, team, teamId } = await orgWithTeam();
    const erin = await makeUser(t);
    mail.refuse(true);
    try {
      const res = await t.inject({ method: 'PUT', url: memberUrl(org, team, erin.username), headers: adminH });
      expect(res.statusCode).toBe(520);
      expect(res.json()).toMatchObject({ error_type: 'downstream_issue', status: 520 });
    } finally {
      mail.refuse(false);
    }
    expect(await invitesOf(teamId)).toEqual([]);
    expect((await auditRows(t, 'org_invite_team_member')).filter((r) => r.account_id === org.id)).toEqual([]);
  });

  it('deleteOrganizationTeamMember withdraws a pending user invite', async () => {
    const { org, team, teamId } = await orgWithTeam();
    const fay = await makeUser(t);
    const code = await inviteUser(org, team, fay);
    const res = await t.inject({ method: 'DELETE', url: memberUrl(org, team, fay.username), headers: adminH });
    expect(res.statusCode).toBe(204);
    expect(await invitesOf(teamId)).toEqual([]);
    const h = bearer(await tokenFor(t, fay, 'user:admin'));
    expect((await t.inject({ method: 'PUT', url: `/api/v1/teaminvite/${code}`, headers: h })).statusCode).toBe(400);
  });
});

describe('acceptOrganizationTeamInvite / declineOrganizationTeamInvite (/api/v1/teaminvite/{code})', () => {
  it('accepting joins every team of that org the user is invited to and logs the acceptance', async () => {
    const { org, team, teamId } = await orgWithTeam();
    const other = uniqueName('team');
    const { id: otherId } = await makeTeam(t, org, 'member', [], other);
    const gus = await makeUser(t);
    const code = await inviteUser(org, team, gus);
    await inviteUser(org, other, gus);
    const res = await t.inject({ method: 'PUT', url: `/api/v1/teaminvite/${code}`, headers: bearer(await tokenFor(t, gus, 'user:admin')) });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ org: org.username, team });
    expect(await isMember(teamId, gus.id)).toBe(true);
    expect(await isMember(otherId, gus.id)).toBe(true);
    expect(await invitesOf(teamId)).toEqual([]);
    expect(await invitesOf(otherId)).toEqual([]);
    const log = (await auditRows(t, 'org_team_member_invite_accepted')).filter((r) => r.account_id === org.id);
    expect(log.map((r) => r.metadata)).toEqual([expect.objectContaining({ member: gus.username, team, inviter: admin.username })]);
    expect(log[0]!.performer_id).toBe(gus.id);
    // Used once.
    const again = await t.inject({ method: 'PUT', url: `/api/v1/teaminvite/${code}`, headers: bearer(await tokenFor(t, gus, 'user:admin')) });
    expect(again.statusCode).toBe(400);
  });

  it("refuses somebody else's user invite with Quay's message, and leaves it pending", async () => {
    const { org, team, teamId } = await orgWithTeam();
    const hal = await makeUser(t);
    const ivy = await makeUser(t);
    const code = await inviteUser(org, team, hal);
    const h = bearer(await tokenFor(t, ivy, 'user:admin'));
    const res = await t.inject({ method: 'PUT', url: `/api/v1/teaminvite/${code}`, headers: h });
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toBe(`This invite is intended for user "${hal.username}". Please login to that account and try again.`);
    expect((await t.inject({ method: 'DELETE', url: `/api/v1/teaminvite/${code}`, headers: h })).statusCode).toBe(400);
    expect(await invitesOf(teamId)).toHaveLength(1);
    expect(await isMember(teamId, ivy.id)).toBe(false);
  });

  it('declining deletes the invite and logs it; unknown codes are 400', async () => {
    const { org, team, teamId } = await orgWithTeam();
    const jo = await makeUser(t);
    const code = await inviteUser(org, team, jo);
    const h = bearer(await tokenFor(t, jo, 'user:admin'));
    const res = await t.inject({ method: 'DELETE', url: `/api/v1/teaminvite/${code}`, headers: h });
    expect(res.statusCode).toBe(204);
    expect(await invitesOf(teamId)).toEqual([]);
    expect(await isMember(teamId, jo.id)).toBe(false);
    const log = (await auditRows(t, 'org_team_member_invite_declined')).filter((r) => r.account_id === org.id);
    expect(log.map((r) => r.metadata)).toEqual([expect.objectContaining({ member: jo.username, team, inviter: admin.username })]);
    expect((await t.inject({ method: 'DELETE', url: `/api/v1/teaminvite/${code}`, headers: h })).json()).toMatchObject({ message: 'Invalid confirmation code.' });
  });

  it('needs user:admin: an org:admin token is refused before the code is looked at', async () => {
    const { org, team } = await orgWithTeam();
    const kim = await makeUser(t);
    const code = await inviteUser(org, team, kim);
    const res = await t.inject({ method: 'PUT', url: `/api/v1/teaminvite/${code}`, headers: bearer(await tokenFor(t, kim, 'org:admin user:read')) });
    expect(res.statusCode).toBe(403);
    // Anonymous: Quay's order puts the CSRF check (403) before the anonymous one.
    const anon = await t.inject({ method: 'PUT', url: `/api/v1/teaminvite/${code}` });
    expect(anon.statusCode).toBe(403);
    expect(anon.json().error).toContain('CSRF token was invalid or missing.');
  });
});

describe('inviteTeamMemberEmail / deleteTeamMemberEmailInvite', () => {
  it('invites an address: invite view, mail, audit; the owner of that verified address can accept', async () => {
    const { org, team, teamId } = await orgWithTeam();
    const address = `${uniqueName('guest')}@example.org`;
    const res = await t.inject({ method: 'PUT', url: emailUrl(org, team, address), headers: adminH });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ email: address, kind: 'invite', avatar: expect.objectContaining({ kind: 'user' }), invited: true });
    const code = codeFromMail(await mail.waitFor(address), '/confirminvite');
    expect((await invitesOf(teamId))[0]).toMatchObject({ email: address, user_id: null, invite_token: sha256Hex(code) });
    const log = (await auditRows(t, 'org_invite_team_member')).filter((r) => r.account_id === org.id);
    expect(log[0]!.metadata).toMatchObject({ email: address, member: address, team });

    // The same address, unverified: not yet; verified: joins.
    const lee = await makeUser(t, { email: address });
    await t.app.db.updateTable('namespace').set({ verified: false }).where('id', '=', lee.id).execute();
    const h = bearer(await tokenFor(t, lee, 'user:admin'));
    const early = await t.inject({ method: 'PUT', url: `/api/v1/teaminvite/${code}`, headers: h });
    expect(early.statusCode).toBe(400);
    expect(early.json().message).toContain(`This invite is intended for email "${address}"`);
    await t.app.db.updateTable('namespace').set({ verified: true }).where('id', '=', lee.id).execute();
    const ok = await t.inject({ method: 'PUT', url: `/api/v1/teaminvite/${code}`, headers: h });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(await isMember(teamId, lee.id)).toBe(true);
  });

  it('withdraws an e-mail invite (204, audit), then 404; unknown team 404; bad address 400', async () => {
    const { org, team, teamId } = await orgWithTeam();
    const address = `${uniqueName('guest')}@example.org`;
    expect((await t.inject({ method: 'PUT', url: emailUrl(org, team, address), headers: adminH })).statusCode).toBe(200);
    const del = await t.inject({ method: 'DELETE', url: emailUrl(org, team, address), headers: adminH });
    expect(del.statusCode).toBe(204);
    expect(await invitesOf(teamId)).toEqual([]);
    const log = (await auditRows(t, 'org_delete_team_member_invite')).filter((r) => r.account_id === org.id);
    expect(log[0]!.metadata).toMatchObject({ email: address, member: address, team });
    expect((await t.inject({ method: 'DELETE', url: emailUrl(org, team, address), headers: adminH })).statusCode).toBe(404);
    expect((await t.inject({ method: 'PUT', url: emailUrl(org, 'nosuchteam', address), headers: adminH })).statusCode).toBe(404);
    const bad = await t.inject({ method: 'PUT', url: emailUrl(org, team, 'not-an-address'), headers: adminH });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ error_type: 'invalid_request', detail: 'Invalid email address: not-an-address' });
  });
});

describe('/confirminvite (the page the mail links to)', () => {
  it('sends a browser without a session to sign in and back', async () => {
    const res = await t.inject({ url: '/confirminvite?code=abc' });
    expect(res.statusCode).toBe(302);
    expect(res.headers.location).toBe(`/signin?next=${encodeURIComponent('/confirminvite?code=abc')}`);
  });

  it('shows the invitation to the signed-in invitee; the CSRF-checked form accepts it', async () => {
    const { org, team, teamId } = await orgWithTeam();
    const max = await makeUser(t);
    const code = await inviteUser(org, team, max);
    const s = await signIn(t, max);
    const view = await t.inject({ url: `/confirminvite?code=${code}`, headers: { cookie: s.headers.cookie! } });
    expect(view.statusCode).toBe(200);
    expect(view.body).toContain(`has invited you to join the team <strong>${team}</strong>`);
    const csrf = /name="_csrf_token" value="([^"]+)"/.exec(view.body)![1]!;

    const form = (fields: Record<string, string>) => ({
      method: 'POST' as const,
      url: '/confirminvite',
      headers: { cookie: s.headers.cookie!, 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams(fields).toString(),
    });
    const forged = await t.inject(form({ code, action: 'accept' }));
    expect(forged.statusCode).toBe(403);
    expect(await isMember(teamId, max.id)).toBe(false);

    const res = await t.inject(form({ code, action: 'accept', _csrf_token: csrf }));
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain(`You are now a member of the team ${team} of the organization ${org.username}.`);
    expect(await isMember(teamId, max.id)).toBe(true);

    const gone = await t.inject({ url: `/confirminvite?code=${code}`, headers: { cookie: s.headers.cookie! } });
    expect(gone.statusCode).toBe(400);
    expect(gone.body).toContain('This invitation is no longer valid.');
  });
});

describe('without FEATURE_MAILING', () => {
  it('the invite routes and page do not exist, and members are added directly', async () => {
    const t2 = await testApp();
    try {
      const a = await makeUser(t2);
      const h = bearer(await tokenFor(t2, a, 'org:admin user:admin'));
      const org = await makeOrg(t2, [a]);
      await makeTeam(t2, org, 'member', [], 'devs');
      expect((await t2.inject({ method: 'PUT', url: `/api/v1/organization/${org.username}/team/devs/invite/x@example.org`, headers: h })).statusCode).toBe(404);
      expect((await t2.inject({ method: 'PUT', url: '/api/v1/teaminvite/abc', headers: h })).statusCode).toBe(404);
      expect((await t2.inject({ url: '/confirminvite?code=abc' })).statusCode).toBe(404);
      const b = await makeUser(t2);
      const add = await t2.inject({ method: 'PUT', url: `/api/v1/organization/${org.username}/team/devs/members/${b.username}`, headers: h });
      expect(add.json().invited).toBe(false);
    } finally {
      await t2.close();
    }
  });

  it('FEATURE_REQUIRE_TEAM_INVITE false adds directly even with mail on', async () => {
    const t3 = await testApp({ ...mail.config(), FEATURE_REQUIRE_TEAM_INVITE: false });
    try {
      const a = await makeUser(t3);
      const org = await makeOrg(t3, [a]);
      await makeTeam(t3, org, 'member', [], 'devs');
      const b = await makeUser(t3);
      const add = await t3.inject({ method: 'PUT', url: `/api/v1/organization/${org.username}/team/devs/members/${b.username}`, headers: bearer(await tokenFor(t3, a, 'org:admin')) });
      expect(add.json().invited).toBe(false);
    } finally {
      await t3.close();
    }
  });
});
