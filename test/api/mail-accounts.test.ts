// The account side of FEATURE_MAILING with real mail: sign-up confirmation, team-invite
// verification, account recovery. The app sends through a real SMTP server on 127.0.0.1 and the
// tests follow the links in the mails it received. Every request log line is kept, to check that
// no code ever reaches the log.
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { randomString } from '../../src/auth/crypto.js';
import type { Database } from '../../src/db/index.js';
import { replaceInvite } from '../../src/db/invites.js';
import { loggerOptions } from '../../src/lib/logger.js';
import { testApp, testConfig, type TestApp } from '../helpers/app.js';
import { freshDatabase } from '../helpers/database.js';
import { anonymousSession, auditRows, makeOrg, makeTeam, makeUser, uniqueName, type TestUser } from '../helpers/factories.js';
import { codeFromMail, startMailbox, type Mailbox, type ReceivedMail } from '../helpers/smtp.js';

let mail: Mailbox;
let t: TestApp;
let database: Database;
const logLines: string[] = [];
/** Every code the tests saw in a mail; none may appear in the log. */
const seenCodes: string[] = [];

beforeAll(async () => {
  mail = await startMailbox();
  database = await freshDatabase();
  const config = testConfig({ ...mail.config(), LOG_LEVEL: 'trace' });
  const stream = new Writable({
    write(chunk, _enc, cb) {
      logLines.push(String(chunk));
      cb();
    },
  });
  const logger = { ...(loggerOptions('trace') as object), stream };
  const app = await buildApp(config, { database, logger });
  await app.ready();
  t = { app, database, config, inject: (o) => app.inject(o), close: () => app.close() };
});
afterAll(async () => {
  await t?.close();
  await database?.close();
  await mail?.close();
});

const cookieOf = (res: { cookies: { name: string; value: string }[] }) => res.cookies.find((c) => c.name === '_csrf_token')?.value;
const userRow = (username: string) => t.app.db.selectFrom('namespace').selectAll().where('username', '=', username).executeTakeFirst();
const codesOf = (userId: number) => t.app.db.selectFrom('email_confirmation').selectAll().where('user_id', '=', userId).execute();

/** The first mail to `to` that arrived after `before` mails. */
function mailTo(to: string, before: number): Promise<ReceivedMail> {
  return mail.waitFor(to, (m) => mail.mails.indexOf(m) >= before);
}

function codeIn(m: ReceivedMail, path: '/confirm' | '/recovery'): string {
  const code = codeFromMail(m, path);
  seenCodes.push(code);
  return code;
}

async function post(url: string, payload: object, session?: Awaited<ReturnType<typeof anonymousSession>>) {
  const s = session ?? (await anonymousSession(t));
  return t.inject({ method: 'POST', url, headers: s.headers, payload });
}

/** Signs up through the API and returns the confirmation code from the mail. */
async function signUpAwaiting(username = uniqueName('new'), email = `${username}@example.com`) {
  const before = mail.mails.length;
  const res = await post('/api/v1/user/', { username, password: 'password123', email });
  expect(res.statusCode, res.body).toBe(200);
  expect(res.json()).toEqual({ awaiting_verification: true });
  const code = codeIn(await mailTo(email, before), '/confirm');
  return { username, email, code, res };
}

async function signin(username: string, extra: object = {}) {
  return post('/api/v1/signin', { username, password: 'password123', ...extra });
}

async function emailInvite(email: string): Promise<string> {
  const inviter = await makeUser(t);
  const org = await makeOrg(t, [inviter]);
  const team = await makeTeam(t, org, 'member', []);
  const code = randomString(48);
  await replaceInvite(t.app.db, { teamId: team.id, inviterId: inviter.id, email }, code);
  return `urn:teaminvite:${code}`;
}

describe('createNewUser with FEATURE_MAILING', () => {
  it('creates the user unverified, mails a confirmation link and does not log in', async () => {
    const { username, email, res } = await signUpAwaiting();
    expect(res.headers['x-next-csrf-token']).toBeUndefined();
    const row = (await userRow(username))!;
    expect(row).toMatchObject({ email, verified: false });
    expect((await auditRows(t, 'user_create')).some((l) => l.account_id === row.id)).toBe(true);
    const m = mail.mails.find((x) => x.to.includes(email))!;
    expect(m.subject).toContain(t.config.REGISTRY_TITLE);
    expect(m.text).toContain(`http://localhost:8080/confirm?code=`);
    // Only the SHA-256 of the code is stored.
    const [stored] = await codesOf(row.id);
    expect(stored).toMatchObject({ kind: 'confirm', new_email: null });
    expect(stored!.code_hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('confirms with the link: logs the browser in, redirects to / and the code works once', async () => {
    const { username, code } = await signUpAwaiting();
    const before = await signin(username);
    expect(before.statusCode).toBe(403);
    expect(before.json()).toMatchObject({ needsEmailVerification: true, invalidCredentials: false, message: null });

    const confirm = await t.inject({ url: `/confirm?code=${encodeURIComponent(code)}` });
    expect(confirm.statusCode).toBe(302);
    expect(confirm.headers.location).toBe('/');
    const cookie = cookieOf(confirm)!;
    const me = await t.inject({ url: '/api/v1/user/', headers: { cookie: `_csrf_token=${cookie}` } });
    expect(me.statusCode).toBe(200);
    expect(me.json()).toMatchObject({ username, verified: true });
    expect(await codesOf((await userRow(username))!.id)).toEqual([]);
    expect((await signin(username)).statusCode).toBe(200);

    const again = await t.inject({ url: `/confirm?code=${encodeURIComponent(code)}` });
    expect(again.statusCode).toBe(400);
    expect(again.headers['content-type']).toContain('text/html');
    expect(again.body).toContain('Invalid email confirmation code');
    expect(cookieOf(again)).toBeUndefined();
  });

  it('refuses unknown, missing and week-old confirmation codes', async () => {
    const { username, code } = await signUpAwaiting();
    for (const url of ['/confirm?code=nope', '/confirm', `/confirm?code=${'x'.repeat(5000)}`]) {
      const res = await t.inject({ url });
      expect(res.statusCode, url).toBe(400);
      expect(cookieOf(res)).toBeUndefined();
    }
    const row = (await userRow(username))!;
    await t.app.db.updateTable('email_confirmation').set({ created: new Date(Date.now() - 8 * 86400_000) }).where('user_id', '=', row.id).execute();
    expect((await t.inject({ url: `/confirm?code=${encodeURIComponent(code)}` })).statusCode).toBe(400);
    expect((await userRow(username))!.verified).toBe(false);
  });

  it('requires a valid e-mail address, after the username check', async () => {
    const taken = await makeUser(t);
    const noMail = await post('/api/v1/user/', { username: uniqueName(), password: 'password123' });
    expect(noMail.statusCode).toBe(400);
    expect(noMail.json()).toMatchObject({ title: 'invalid_request', detail: 'Email address is required' });
    const dup = await post('/api/v1/user/', { username: taken.username, password: 'password123' });
    expect(dup.json().detail).toBe('The username already exists');
    const bad = await post('/api/v1/user/', { username: uniqueName(), password: 'password123', email: 'not-an-address' });
    expect(bad.json().detail).toBe('Invalid email address: not-an-address');
    const used = await post('/api/v1/user/', { username: uniqueName(), password: 'password123', email: taken.email });
    expect(used.statusCode).toBe(400);
    expect(used.json().detail).toBe(`Email has already been used: ${taken.email}`);
  });

  it('verifies and logs in a user whose invite_code is a team invite mailed to that address', async () => {
    const username = uniqueName('inv');
    const email = `${username}@example.com`;
    const before = mail.mails.length;
    const res = await post('/api/v1/user/', { username, password: 'password123', email, invite_code: await emailInvite(email) });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ username, verified: true, is_me: true });
    expect(res.headers['x-next-csrf-token']).toEqual(expect.any(String));
    expect(mail.mails.slice(before).some((m) => m.to.includes(email))).toBe(false);
  });

  it('ignores an invite_code mailed to another address, or not a team invite', async () => {
    const other = await emailInvite(`${uniqueName()}@example.com`);
    for (const invite_code of [other, other.replace('urn:teaminvite:', 'urn:other:'), 'garbage']) {
      const username = uniqueName('y');
      const before = mail.mails.length;
      const res = await post('/api/v1/user/', { username, password: 'password123', email: `${username}@example.com`, invite_code });
      expect(res.json()).toEqual({ awaiting_verification: true });
      codeIn(await mailTo(`${username}@example.com`, before), '/confirm');
    }
  });

  it('leaves no user and no code when the mail server refuses the mail (520)', async () => {
    const username = uniqueName('refused');
    const auditBefore = (await auditRows(t, 'user_create')).length;
    mail.refuse(true);
    try {
      const res = await post('/api/v1/user/', { username, password: 'password123', email: `${username}@example.com` });
      expect(res.statusCode).toBe(520);
      expect(res.json()).toMatchObject({ status: 520, title: 'downstream_issue', error_type: 'downstream_issue' });
    } finally {
      mail.refuse(false);
    }
    expect(await userRow(username)).toBeUndefined();
    // No audit row of an account that never existed either.
    expect((await auditRows(t, 'user_create')).length).toBe(auditBefore);
    const orphans = await t.app.db
      .selectFrom('email_confirmation')
      .leftJoin('namespace', 'namespace.id', 'email_confirmation.user_id')
      .select('email_confirmation.id')
      .where('namespace.id', 'is', null)
      .execute();
    expect(orphans).toEqual([]);
    // The name is free again.
    await signUpAwaiting(username);
  });
});

describe('signinUser with invite_code', () => {
  it('verifies an unverified user before the login when the invite was mailed to their address', async () => {
    const { username, email } = await signUpAwaiting();
    const wrong = await signin(username, { invite_code: await emailInvite(`${uniqueName()}@example.com`) });
    expect(wrong.statusCode).toBe(403);
    expect(wrong.json().needsEmailVerification).toBe(true);
    const right = await signin(username, { invite_code: await emailInvite(email) });
    expect(right.statusCode, right.body).toBe(200);
    expect((await userRow(username))!.verified).toBe(true);
  });

  it('does not verify on a wrong password', async () => {
    const { username, email } = await signUpAwaiting();
    const res = await post('/api/v1/signin', { username, password: 'wrong-password', invite_code: await emailInvite(email) });
    expect(res.statusCode).toBe(403);
    expect(res.json().invalidCredentials).toBe(true);
    expect((await userRow(username))!.verified).toBe(false);
  });
});

describe('requestRecoveryEmail and GET /recovery', () => {
  async function recover(email: string) {
    const before = mail.mails.length;
    const res = await post('/api/v1/recovery', { email });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ status: 'sent' });
    return codeIn(await mailTo(email, before), '/recovery');
  }

  it('mails a link that logs the browser in once', async () => {
    const u: TestUser = await makeUser(t);
    const code = await recover(u.email!);
    const res = await t.inject({ url: `/recovery?code=${encodeURIComponent(code)}` });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain(u.username);
    const me = await t.inject({ url: '/api/v1/user/', headers: { cookie: `_csrf_token=${cookieOf(res)}` } });
    expect(me.json().username).toBe(u.username);

    const again = await t.inject({ url: `/recovery?code=${encodeURIComponent(code)}` });
    expect(again.statusCode).toBe(400);
    expect(again.body).toContain('Invalid recovery code');
    expect(cookieOf(again)).toBeUndefined();
  });

  it('verifies an unverified user (the link proves the address)', async () => {
    const { username, email } = await signUpAwaiting();
    const code = await recover(email);
    expect((await t.inject({ url: `/recovery?code=${encodeURIComponent(code)}` })).statusCode).toBe(200);
    expect((await userRow(username))!.verified).toBe(true);
  });

  it('refuses a code older than 30 minutes', async () => {
    const u = await makeUser(t);
    const code = await recover(u.email!);
    await t.app.db.updateTable('email_confirmation').set({ created: new Date(Date.now() - 31 * 60_000) }).where('user_id', '=', u.id).execute();
    const res = await t.inject({ url: `/recovery?code=${encodeURIComponent(code)}` });
    expect(res.statusCode).toBe(400);
    expect(await codesOf(u.id)).toEqual([]);
  });

  it('answers the same for an unknown address and sends nothing', async () => {
    const email = `${uniqueName('nobody')}@example.com`;
    const res = await post('/api/v1/recovery', { email });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'sent' });
    await expect(mail.waitFor(email, () => true, 300)).rejects.toThrow();
  });

  it('answers Quay’s org status with a masked name for an organization’s address, and mails it its admins', async () => {
    const admin = await makeUser(t);
    const org = await makeOrg(t, [admin], 'recoveryorganization');
    const res = await post('/api/v1/recovery', { email: org.email! });
    expect(res.json()).toEqual({ status: 'org', orgemail: org.email, orgname: 'recove•••••••••ation' });
    const m = await mail.waitFor(org.email!);
    expect(m.subject).toContain('organization recoveryorganization');
    expect(m.text).toContain(`they are managed by their administrators, ${admin.username}.`);
  });

  it('sends at most one recovery mail a minute to an account, with the same answer', async () => {
    const u = await makeUser(t);
    await recover(u.email!);
    const before = mail.mails.length;
    const res = await post('/api/v1/recovery', { email: u.email! });
    expect(res.json()).toEqual({ status: 'sent' });
    await expect(mail.waitFor(u.email!, (m) => mail.mails.indexOf(m) >= before, 300)).rejects.toThrow();
    expect(await codesOf(u.id)).toHaveLength(1);
  });

  it('needs the CSRF token and an email', async () => {
    const anon = await t.inject({ method: 'POST', url: '/api/v1/recovery', payload: { email: 'a@example.com' } });
    expect(anon.statusCode).toBe(403);
    const noBody = await post('/api/v1/recovery', {});
    expect(noBody.statusCode).toBe(400);
    expect(noBody.json().detail).toBe("'email' is a required property");
  });

  it('answers a refused mail like any other, after the fact: no code is kept and the failure is logged', async () => {
    const u = await makeUser(t);
    const linesBefore = logLines.length;
    mail.refuse(true);
    let res;
    try {
      res = await post('/api/v1/recovery', { email: u.email! });
      await t.app.background.drain();
    } finally {
      mail.refuse(false);
    }
    // The same answer as for a delivered mail or an unknown address: the mail goes out after it.
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'sent' });
    expect(await codesOf(u.id)).toEqual([]);
    const warned = logLines.slice(linesBefore).map((l) => JSON.parse(l)).find((l) => l.msg === 'recovery mail failed');
    expect(warned?.level).toBe(40);
  });
});

describe('logs', () => {
  it('never contain a mailed code', () => {
    expect(seenCodes.length).toBeGreaterThan(5);
    const log = logLines.join('');
    expect(log).toContain('incoming request');
    for (const code of seenCodes) expect(log).not.toContain(code);
  });
});

describe('with anonymous access off', () => {
  it('still serves sign-up, recovery and both links', async () => {
    const t2 = await testApp({ ...mail.config(), FEATURE_ANONYMOUS_ACCESS: false });
    try {
      const s = await anonymousSession(t2);
      const username = uniqueName('closed');
      const email = `${username}@example.com`;
      // createNewUser is not anonymous-allowed in Quay (web-endpoints.md §3.6 quirk).
      const signup = await t2.inject({ method: 'POST', url: '/api/v1/user/', headers: s.headers, payload: { username, password: 'password123', email } });
      expect(signup.statusCode).toBe(401);
      const u = await makeUser(t2);
      const before = mail.mails.length;
      const rec = await t2.inject({ method: 'POST', url: '/api/v1/recovery', headers: s.headers, payload: { email: u.email } });
      expect(rec.json()).toEqual({ status: 'sent' });
      const code = codeIn(await mailTo(u.email!, before), '/recovery');
      expect((await t2.inject({ url: `/recovery?code=${encodeURIComponent(code)}` })).statusCode).toBe(200);
      expect((await t2.inject({ url: '/confirm?code=unknown' })).statusCode).toBe(400);
    } finally {
      await t2.close();
    }
  });
});

describe('without FEATURE_MAILING', () => {
  it('has no recovery endpoint and no link pages', async () => {
    const off = await testApp();
    try {
      const s = await anonymousSession(off);
      expect((await off.inject({ method: 'POST', url: '/api/v1/recovery', headers: s.headers, payload: { email: 'a@example.com' } })).statusCode).toBe(404);
      expect((await off.inject({ url: '/confirm?code=x' })).statusCode).toBe(404);
      expect((await off.inject({ url: '/recovery?code=x' })).statusCode).toBe(404);
    } finally {
      await off.close();
    }
  });
});
