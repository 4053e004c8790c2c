// A team invitation followed the way a person follows it: the org admin invites a user through the
// API, the invitation arrives at a real SMTP server, and Debian's chromium opens the link, signs in
// on this server's page, comes back to /confirminvite and joins the team.
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestApp } from '../helpers/app.js';
import { haveChromium, launchChromium, listeningApp } from '../helpers/browser.js';
import { bearer, makeOrg, makeTeam, makeUser, tokenFor } from '../helpers/factories.js';
import { startMailbox, type Mailbox } from '../helpers/smtp.js';

describe.skipIf(!haveChromium)('team invitation by mail (chromium)', () => {
  let mail: Mailbox;
  let t: TestApp;
  let browser: Browser;

  beforeAll(async () => {
    mail = await startMailbox();
    ({ t } = await listeningApp(mail.config()));
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await mail?.close();
  });

  it('invite mail → link → sign in → join the team', async () => {
    const admin = await makeUser(t);
    const invitee = await makeUser(t);
    const org = await makeOrg(t, [admin]);
    const team = await makeTeam(t, org, 'member', [], 'devs');
    const res = await t.inject({
      method: 'PUT',
      url: `/api/v1/organization/${org.username}/team/devs/members/${invitee.username}`,
      headers: bearer(await tokenFor(t, admin, 'org:admin')),
    });
    expect(res.json()).toMatchObject({ name: invitee.username, invited: true });

    const invitation = await mail.waitFor(invitee.email!);
    const link = /(http:\/\/\S+\/confirminvite\?code=\S+)/.exec(invitation.text)![1]!;

    const context = await browser.newContext();
    context.setDefaultTimeout(15_000);
    const page = await context.newPage();
    await page.goto(link);
    await page.waitForURL((u) => u.pathname === '/signin');
    await page.fill('#username', invitee.username);
    await page.fill('#password', invitee.password);
    await page.click('#signin');

    await page.waitForURL((u) => u.pathname === '/confirminvite');
    expect(await page.locator('main').innerText()).toContain(`${admin.username} has invited you to join the team devs of the organization ${org.username}`);
    await page.click('#accept');
    await page.locator('[role=status]').waitFor();
    expect(await page.locator('[role=status]').innerText()).toBe(`You are now a member of the team devs of the organization ${org.username}.`);
    await context.close();

    const member = await t.app.db.selectFrom('team_member').select('id').where('team_id', '=', team.id).where('user_id', '=', invitee.id).executeTakeFirst();
    expect(member).toBeDefined();
  });
});
