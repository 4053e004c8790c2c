// In-app notifications (part2 §14.6): listUserNotifications, getUserNotification,
// updateUserNotification, and the team invitations that leave one for an existing user.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertUserNotification } from '../../src/db/notifications.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { bearer, makeOrg, makeTeam, makeUser, tokenFor, uniqueName, type TestUser } from '../helpers/factories.js';
import { codeFromMail, startMailbox, type Mailbox } from '../helpers/smtp.js';

let t: TestApp;
let mail: Mailbox;

beforeAll(async () => {
  mail = await startMailbox();
  t = await testApp(mail.config());
});
afterAll(async () => {
  await t?.close();
  await mail?.close();
});

async function notify(target: { id: number }, kind: string, metadata: Record<string, unknown>) {
  await insertUserNotification(t.app.db, { kind, targetId: target.id, metadata });
  return t.app.db.selectFrom('notification').selectAll().where('target_id', '=', target.id).orderBy('id', 'desc').executeTakeFirstOrThrow();
}

async function headersFor(u: TestUser) {
  return bearer(await tokenFor(t, u, 'user:admin'));
}

describe('listUserNotifications', () => {
  it('lists the caller’s notifications newest first, 5 a page, with `additional`', async () => {
    const u = await makeUser(t);
    const h = await headersFor(u);
    for (let i = 0; i < 7; i++) await notify(u, 'repo_push', { n: i });
    const first = await t.inject({ url: '/api/v1/user/notifications', headers: h });
    expect(first.statusCode).toBe(200);
    const body = first.json();
    expect(body.additional).toBe(true);
    expect(body.notifications.map((n: { metadata: { n: number } }) => n.metadata.n)).toEqual([6, 5, 4, 3, 2]);
    expect(body.notifications[0]).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      organization: null,
      kind: 'repo_push',
      created: expect.stringMatching(/^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} -0000$/),
      metadata: { n: 6 },
      dismissed: false,
    });
    const second = (await t.inject({ url: '/api/v1/user/notifications?page=2', headers: h })).json();
    expect(second.notifications.map((n: { metadata: { n: number } }) => n.metadata.n)).toEqual([1, 0]);
    expect(second.additional).toBe(false);
    const small = (await t.inject({ url: '/api/v1/user/notifications?limit=2&page=3', headers: h })).json();
    expect(small.notifications.map((n: { metadata: { n: number } }) => n.metadata.n)).toEqual([2, 1]);
    expect((await t.inject({ url: '/api/v1/user/notifications?limit=abc', headers: h })).statusCode).toBe(400);
  });

  it('includes the notifications of organizations the caller administers, not of those they only belong to', async () => {
    const admin = await makeUser(t);
    const member = await makeUser(t);
    const org = await makeOrg(t, [admin]);
    await makeTeam(t, org, 'member', [member]);
    const note = await notify(org, 'repo_push', { repository: `${org.username}/r` });
    const seen = (await t.inject({ url: '/api/v1/user/notifications', headers: await headersFor(admin) })).json();
    expect(seen.notifications).toContainEqual(expect.objectContaining({ id: note.uuid, organization: org.username }));
    const notSeen = (await t.inject({ url: '/api/v1/user/notifications', headers: await headersFor(member) })).json();
    expect(notSeen.notifications).toEqual([]);
    expect((await t.inject({ url: `/api/v1/user/notifications/${note.uuid}`, headers: await headersFor(member) })).statusCode).toBe(404);
  });
});

describe('getUserNotification / updateUserNotification', () => {
  it('gets one, dismisses it (gone from the list, still readable), and restores it', async () => {
    const u = await makeUser(t);
    const h = await headersFor(u);
    const note = await notify(u, 'build_success', { build_id: 'b1' });
    const got = await t.inject({ url: `/api/v1/user/notifications/${note.uuid}`, headers: h });
    expect(got.statusCode).toBe(200);
    expect(got.json()).toMatchObject({ id: note.uuid, kind: 'build_success', dismissed: false, metadata: { build_id: 'b1' } });

    const put = await t.inject({ method: 'PUT', url: `/api/v1/user/notifications/${note.uuid}`, headers: h, payload: { dismissed: true } });
    expect(put.statusCode).toBe(200);
    expect(put.json()).toMatchObject({ id: note.uuid, dismissed: true });
    expect((await t.inject({ url: '/api/v1/user/notifications', headers: h })).json().notifications).toEqual([]);
    expect((await t.inject({ url: `/api/v1/user/notifications/${note.uuid}`, headers: h })).json().dismissed).toBe(true);

    // Quay: a body without `dismissed` restores it.
    const restored = await t.inject({ method: 'PUT', url: `/api/v1/user/notifications/${note.uuid}`, headers: h, payload: {} });
    expect(restored.json().dismissed).toBe(false);
    expect((await t.inject({ method: 'PUT', url: `/api/v1/user/notifications/${note.uuid}`, headers: h, payload: { dismissed: 'yes' } })).statusCode).toBe(400);
  });

  it('answers 404 for an unknown uuid and for somebody else’s notification', async () => {
    const u = await makeUser(t);
    const other = await makeUser(t);
    const theirs = await notify(other, 'repo_push', {});
    const h = await headersFor(u);
    for (const uuid of ['nope', theirs.uuid]) {
      expect((await t.inject({ url: `/api/v1/user/notifications/${uuid}`, headers: h })).statusCode).toBe(404);
      expect((await t.inject({ method: 'PUT', url: `/api/v1/user/notifications/${uuid}`, headers: h, payload: { dismissed: true } })).statusCode).toBe(404);
    }
    expect((await t.app.db.selectFrom('notification').select('dismissed').where('id', '=', theirs.id).executeTakeFirstOrThrow()).dismissed).toBe(false);
  });
});

describe('team invitations', () => {
  it('leave an org_team_invite notification for an existing user, removed when the invite is accepted', async () => {
    const admin = await makeUser(t);
    const org = await makeOrg(t, [admin]);
    const team = uniqueName('team');
    await makeTeam(t, org, 'member', [], team);
    const bob = await makeUser(t);
    const res = await t.inject({ method: 'PUT', url: `/api/v1/organization/${org.username}/team/${team}/members/${bob.username}`, headers: bearer(await tokenFor(t, admin, 'org:admin')) });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().invited).toBe(true);
    const code = codeFromMail(await mail.waitFor(bob.email!), '/confirminvite');
    const h = await headersFor(bob);
    const list = (await t.inject({ url: '/api/v1/user/notifications', headers: h })).json();
    expect(list.notifications).toEqual([
      expect.objectContaining({ kind: 'org_team_invite', organization: null, metadata: { code, inviter: admin.username, org: org.username, team } }),
    ]);
    const accepted = await t.inject({ method: 'PUT', url: `/api/v1/teaminvite/${code}`, headers: h });
    expect(accepted.statusCode, accepted.body).toBe(200);
    expect((await t.inject({ url: '/api/v1/user/notifications', headers: h })).json().notifications).toEqual([]);
  });

  it('removes the notification when the invite is declined', async () => {
    const admin = await makeUser(t);
    const org = await makeOrg(t, [admin]);
    const team = uniqueName('team');
    await makeTeam(t, org, 'member', [], team);
    const carl = await makeUser(t);
    await t.inject({ method: 'PUT', url: `/api/v1/organization/${org.username}/team/${team}/members/${carl.username}`, headers: bearer(await tokenFor(t, admin, 'org:admin')) });
    const code = codeFromMail(await mail.waitFor(carl.email!), '/confirminvite');
    const h = await headersFor(carl);
    expect((await t.inject({ url: '/api/v1/user/notifications', headers: h })).json().notifications).toHaveLength(1);
    const declined = await t.inject({ method: 'DELETE', url: `/api/v1/teaminvite/${code}`, headers: h });
    expect(declined.statusCode, declined.body).toBe(204);
    expect((await t.inject({ url: '/api/v1/user/notifications', headers: h })).json().notifications).toEqual([]);
  });
});
