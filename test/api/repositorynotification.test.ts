// REPOSITORYNOTIFICATION (part2 §5) end to end: the six endpoints, and deliveries through the job
// queue to a real webhook server and a real SMTP server on 127.0.0.1, after real pushes to /v2.
import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { confirmAuthorizedEmail, insertAuthorizedEmail } from '../../src/db/notifications.js';
import type { Namespace } from '../../src/db/schema.js';
import { claim } from '../../src/jobs/queue.js';
import { repoEmailRoutes } from '../../src/web/repo-email.js';
import { freshDatabase } from '../helpers/database.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { auditRows, bearer, makeOrg, makeRepo, makeTeam, makeUser, tokenFor, uniqueName, type TestUser } from '../helpers/factories.js';
import { makeImage, RegistryClient, repoScope } from '../helpers/registry.js';
import { codeFromMail, startMailbox, type Mailbox } from '../helpers/smtp.js';

const FULL = 'repo:read repo:write repo:admin repo:create user:read user:admin org:admin';

interface Hit {
  path: string;
  body: string;
  headers: http.IncomingHttpHeaders;
}

/** A webhook receiver: records every request; `status` per path (default 200); `/hang…` paths never answer the first time. */
class Receiver {
  hits: Hit[] = [];
  status = new Map<string, number>();
  hung = new Set<string>();
  port = 0;
  readonly server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const path = req.url!;
      this.hits.push({ path, body, headers: req.headers });
      if (path.startsWith('/hang') && !this.hung.has(path)) {
        this.hung.add(path);
        return; // never answers
      }
      res.writeHead(this.status.get(path) ?? 200).end('ok');
    });
  });
  url(path: string) {
    return `http://127.0.0.1:${this.port}${path}`;
  }
  at(path: string) {
    return this.hits.filter((h) => h.path === path);
  }
  async start() {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
  }
  async stop() {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

let t: TestApp;
let mailbox: Mailbox;
const hooks = new Receiver();
let alice: TestUser;
let org: Namespace;
let repo: { id: number; name: string };
let auth: Record<string, string>;

const path = () => `/api/v1/repository/${org.username}/${repo.name}/notification/`;
const create = (body: Record<string, unknown>, url = path()) => t.inject({ method: 'POST', url, headers: auth, payload: body });
const webhook = (p: string, extra: Record<string, unknown> = {}) => ({ event: 'repo_push', method: 'webhook', config: { url: hooks.url(p), ...extra }, eventConfig: {} });

async function push(repoName: string, tag = 'latest') {
  const client = await RegistryClient.login(t, { username: alice.username, password: alice.password }, repoScope(`${org.username}/${repoName}`));
  const image = makeImage();
  await client.pushImage(`${org.username}/${repoName}`, image, tag);
  return image.manifest.digest;
}

async function notificationRow(uuid: string) {
  return t.app.db.selectFrom('repository_notification').selectAll().where('uuid', '=', uuid).executeTakeFirstOrThrow();
}

async function notificationJobs() {
  return t.app.db.selectFrom('job').selectAll().where('queue', '=', 'notification').orderBy('id').execute();
}

/** Makes every waiting notification job due now (skips the retry backoff). */
async function dueNow() {
  await t.app.db.updateTable('job').set({ available_after: sql`now()` }).where('queue', '=', 'notification').execute();
}

beforeAll(async () => {
  await hooks.start();
  mailbox = await startMailbox();
  t = await testApp({ NOTIFICATION_ALLOWED_HOSTS: '127.0.0.1', ...mailbox.config() });
  alice = await makeUser(t);
  org = await makeOrg(t, [alice]);
  repo = await makeRepo(t, org);
  auth = bearer(await tokenFor(t, alice, FULL));
});
afterAll(async () => {
  await t?.close();
  await mailbox?.close();
  await hooks.stop();
});
beforeEach(async () => {
  // Leftover jobs of one test must not be delivered by the next one's runPending.
  await t.app.db.deleteFrom('job').where('queue', '=', 'notification').execute();
});

describe('createRepoNotification, listRepoNotifications, getRepoNotification', () => {
  it('creates a webhook notification (201), lists and gets it, and records add_repo_notification', async () => {
    const res = await create({ ...webhook('/created'), title: 'CI hook' });
    expect(res.statusCode, res.body).toBe(201);
    const view = res.json();
    expect(view).toEqual({
      uuid: expect.stringMatching(/^[0-9a-f-]{36}$/),
      title: 'CI hook',
      event: 'repo_push',
      method: 'webhook',
      config: { url: hooks.url('/created'), secret: expect.stringMatching(/^[A-Za-z0-9]{40}$/) },
      event_config: {},
      number_of_failures: 0,
    });
    const list = await t.inject({ url: path(), headers: auth });
    expect(list.statusCode).toBe(200);
    expect(list.json().notifications).toContainEqual(view);
    const got = await t.inject({ url: `${path()}${view.uuid}`, headers: auth });
    expect(got.statusCode).toBe(200);
    expect(got.json()).toEqual(view);
    const audit = (await auditRows(t, 'add_repo_notification')).find((r) => (r.metadata as Record<string, unknown>).notification_id === view.uuid);
    expect(audit).toMatchObject({
      account_id: org.id,
      repository_id: repo.id,
      performer_id: alice.id,
      metadata: { repo: repo.name, namespace: org.username, notification_id: view.uuid, event: 'repo_push', method: 'webhook' },
    });
  });

  it('keeps a chosen webhook secret and a null title when none is given', async () => {
    const res = await create(webhook('/chosen', { secret: 's3cret-s3cret-s3cret' }));
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({ title: null, config: { secret: 's3cret-s3cret-s3cret' } });
  });

  it('accepts every method and event Quay 3.6 has, each with its config', async () => {
    const other = await makeUser(t);
    const team = uniqueName('team');
    await makeTeam(t, org, 'member', [alice], team);
    const cases: Record<string, unknown>[] = [
      { event: 'build_success', method: 'slack', config: { url: hooks.url('/slack') }, eventConfig: { 'ref-regex': '^refs/heads/main$' } },
      { event: 'vulnerability_found', method: 'quay_notification', config: { target: { kind: 'user', name: other.username } }, eventConfig: { level: 1 } },
      { event: 'build_queued', method: 'quay_notification', config: { target: { kind: 'team', name: team } }, eventConfig: {} },
      { event: 'repo_mirror_sync_failed', method: 'quay_notification', config: { target: { kind: 'org', name: org.username } }, eventConfig: {} },
      { event: 'build_failure', method: 'flowdock', config: { flow_api_token: 'tok' }, eventConfig: {} },
      { event: 'build_cancelled', method: 'hipchat', config: { notification_token: 'tok', room_id: '42' }, eventConfig: {} },
      { event: 'build_start', method: 'webhook', config: { url: hooks.url('/b') }, eventConfig: {} },
      { event: 'repo_mirror_sync_started', method: 'webhook', config: { url: hooks.url('/m') }, eventConfig: {} },
      { event: 'repo_mirror_sync_success', method: 'webhook', config: { url: hooks.url('/m') }, eventConfig: {} },
    ];
    for (const c of cases) {
      const res = await create(c);
      expect(res.statusCode, `${c.event}/${c.method}: ${res.body}`).toBe(201);
      expect(res.json()).toMatchObject({ event: c.event, method: c.method, event_config: c.eventConfig });
    }
  });

  it('answers 400 with Quay’s messages for bad requests and method configs', async () => {
    const other = await makeOrg(t, [alice]);
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ ...webhook('/x'), method: 'carrier_pigeon' }, /^Unable to find method: carrier_pigeon$/],
      [{ ...webhook('/x'), event: 'repo_pull' }, /^Unable to find event: repo_pull$/],
      [{ ...webhook('/x'), event: 'quota_warning' }, /^Unable to find event: quota_warning$/],
      [{ event: 'repo_push', method: 'webhook', config: { url: hooks.url('/x') } }, /eventConfig/],
      [{ method: 'webhook', config: { url: hooks.url('/x') }, eventConfig: {} }, /event/],
      [{ event: 'repo_push', method: 'webhook', config: 'http://x', eventConfig: {} }, /config/],
      [{ event: 'repo_push', method: 'webhook', config: {}, eventConfig: {} }, /^Missing webhook URL$/],
      [{ event: 'repo_push', method: 'webhook', config: { url: 'ftp://example.com/x' }, eventConfig: {} }, /^Invalid webhook URL$/],
      [{ event: 'repo_push', method: 'webhook', config: { url: 'not a url' }, eventConfig: {} }, /^Invalid webhook URL$/],
      [{ event: 'repo_push', method: 'webhook', config: { url: 'http://10.1.2.3/hook' }, eventConfig: {} }, /^Invalid webhook URL: 10\.1\.2\.3, a private address/],
      [{ event: 'repo_push', method: 'webhook', config: { url: 'http://169.254.169.254/latest/meta-data/' }, eventConfig: {} }, /^Invalid webhook URL: .*link-local/],
      [{ event: 'repo_push', method: 'webhook', config: { url: 'http://[::1]:9/' }, eventConfig: {} }, /^Invalid webhook URL: .*loopback/],
      [webhook('/x', { template: '{not json' }), /^Could not parse template/],
      [webhook('/x', { template: '{"a": "${}"}' }), /^Empty expression found$/],
      [webhook('/x', { template: '{"a": "${foo bar}"}' }), /^For expression `foo bar`/],
      [webhook('/x', { secret: 'short' }), /^Invalid webhook secret/],
      [{ ...webhook('/x'), title: 'x'.repeat(256) }, /title/],
      [{ event: 'repo_push', method: 'slack', config: {}, eventConfig: {} }, /^Missing Slack Callback URL$/],
      [{ event: 'repo_push', method: 'slack', config: { url: 'http://192.168.0.10/hook' }, eventConfig: {} }, /^Invalid Slack Callback URL: .*private/],
      [{ event: 'repo_push', method: 'email', config: {}, eventConfig: {} }, /^Missing e-mail address$/],
      [{ event: 'repo_push', method: 'email', config: { email: 'nobody@example.com' }, eventConfig: {} }, /^The specified e-mail address is not authorized to receive notifications for this repository$/],
      [{ event: 'repo_push', method: 'quay_notification', config: {}, eventConfig: {} }, /^Missing target$/],
      [{ event: 'repo_push', method: 'quay_notification', config: { target: { kind: 'user', name: 'no-such-user-x' } }, eventConfig: {} }, /^Unknown user no-such-user-x$/],
      [{ event: 'repo_push', method: 'quay_notification', config: { target: { kind: 'user', name: org.username } }, eventConfig: {} }, /^Unknown user /],
      [{ event: 'repo_push', method: 'quay_notification', config: { target: { kind: 'org', name: other.username } }, eventConfig: {} }, /^Organization name must match repository namespace$/],
      [{ event: 'repo_push', method: 'quay_notification', config: { target: { kind: 'org', name: 'no-such-org-x' } }, eventConfig: {} }, /^Unknown organization no-such-org-x$/],
      [{ event: 'repo_push', method: 'quay_notification', config: { target: { kind: 'team', name: 'no-such-team' } }, eventConfig: {} }, /^Unknown team no-such-team$/],
      [{ event: 'repo_push', method: 'flowdock', config: {}, eventConfig: {} }, /^Missing Flowdock API Token$/],
      [{ event: 'repo_push', method: 'hipchat', config: { room_id: '1' }, eventConfig: {} }, /^Missing Hipchat Room Notification Token$/],
      [{ event: 'repo_push', method: 'hipchat', config: { notification_token: 't' }, eventConfig: {} }, /^Missing Hipchat Room ID$/],
      [{ ...webhook('/x'), event: 'vulnerability_found', eventConfig: { level: 9 } }, /level must be a severity index/],
      [{ ...webhook('/x'), event: 'build_success', eventConfig: { 'ref-regex': '([' } }, /^Invalid ref-regex/],
    ];
    for (const [body, detail] of cases) {
      const res = await create(body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json(), JSON.stringify(body)).toMatchObject({ error_type: 'invalid_request', status: 400 });
      expect(res.json().detail, JSON.stringify(body)).toMatch(detail);
    }
    // Nothing was stored by any of them.
    const names = (await t.inject({ url: path(), headers: auth })).json().notifications.map((n: { config: { url?: string } }) => n.config.url);
    expect(names).not.toContain(hooks.url('/x'));
  });

  it('accepts an e-mail address once it is authorized and confirmed for the repository', async () => {
    const email = `${uniqueName('ops')}@example.com`;
    await insertAuthorizedEmail(t.app.db, repo.id, email, 'pending-code-1');
    const pending = await create({ event: 'repo_push', method: 'email', config: { email }, eventConfig: {} });
    expect(pending.statusCode).toBe(400);
    expect(await confirmAuthorizedEmail(t.app.db, 'pending-code-1')).toMatchObject({ confirmed: true });
    const ok = await create({ event: 'repo_push', method: 'email', config: { email }, eventConfig: {} });
    expect(ok.statusCode, ok.body).toBe(201);
  });

  it('answers 404 for a repository that does not exist (to the namespace admin)', async () => {
    const res = await create(webhook('/x'), `/api/v1/repository/${org.username}/no-such-repo/notification/`);
    expect(res.statusCode).toBe(404);
  });
});

describe('checkRepoEmailAuthorized / sendAuthorizeRepoEmail (Quay’s repoemail) and /authrepoemail', () => {
  const emailUrl = (email: string) => `/api/v1/repository/${org.username}/${repo.name}/authorizedemail/${encodeURIComponent(email)}`;

  it('mails a verification link; following it authorizes the address for e-mail notifications', async () => {
    const email = `${uniqueName('oncall')}@example.com`;
    expect((await t.inject({ url: emailUrl(email), headers: auth })).statusCode).toBe(404);
    const sent = await t.inject({ method: 'POST', url: emailUrl(email), headers: auth });
    expect(sent.statusCode, sent.body).toBe(200);
    expect(sent.json()).toEqual({ email, repository: repo.name, namespace: org.username, confirmed: false });
    const mail = await mailbox.waitFor(email);
    expect(mail.subject).toBe(`Please verify your e-mail address for repository ${org.username}/${repo.name}`);
    const code = codeFromMail(mail, '/authrepoemail');
    expect((await t.inject({ url: emailUrl(email), headers: auth })).json().confirmed).toBe(false);
    expect((await create({ event: 'repo_push', method: 'email', config: { email }, eventConfig: {} })).statusCode).toBe(400);
    // The stored value is the code's hash, never the code.
    const row = await t.app.db.selectFrom('repository_authorized_email').selectAll().where('email', '=', email).executeTakeFirstOrThrow();
    expect(row.code_hash).not.toContain(code);

    // The page of the link (src/web/repo-email.ts), on the same database and mailer.
    const web = Fastify();
    web.decorate('db', t.app.db);
    web.decorate('mailer', t.app.mailer);
    await web.register(repoEmailRoutes);
    try {
      const bad = await web.inject({ url: '/authrepoemail?code=nope' });
      expect(bad.statusCode).toBe(400);
      expect(bad.body).toContain('Invalid confirmation code.');
      const ok = await web.inject({ url: `/authrepoemail?code=${encodeURIComponent(code)}` });
      expect(ok.statusCode).toBe(200);
      expect(ok.body).toContain(`notifications for repository ${org.username}/${repo.name}`);
    } finally {
      await web.close();
    }

    expect((await t.inject({ url: emailUrl(email), headers: auth })).json()).toEqual({ email, repository: repo.name, namespace: org.username, confirmed: true });
    // Asking again for a confirmed address sends nothing.
    const before = mailbox.mails.length;
    expect((await t.inject({ method: 'POST', url: emailUrl(email), headers: auth })).json().confirmed).toBe(true);
    expect(mailbox.mails.length).toBe(before);
    expect((await create({ event: 'repo_push', method: 'email', config: { email }, eventConfig: {} })).statusCode).toBe(201);
  });

  it('refuses what is not an e-mail address, and leaves nothing when the mail server refuses the mail (520)', async () => {
    expect((await t.inject({ method: 'POST', url: emailUrl('not-an-address'), headers: auth })).statusCode).toBe(400);
    const email = `${uniqueName('refused')}@example.com`;
    mailbox.refuse(true);
    try {
      const res = await t.inject({ method: 'POST', url: emailUrl(email), headers: auth });
      expect(res.statusCode).toBe(520);
    } finally {
      mailbox.refuse(false);
    }
    expect((await t.inject({ url: emailUrl(email), headers: auth })).statusCode).toBe(404);
  });
});

describe('unknown and foreign uuids', () => {
  let foreign: string;
  let foreignRepo: { name: string };
  beforeAll(async () => {
    foreignRepo = await makeRepo(t, org);
    const res = await create(webhook('/foreign'), `/api/v1/repository/${org.username}/${foreignRepo.name}/notification/`);
    expect(res.statusCode).toBe(201);
    foreign = res.json().uuid;
  });

  it('getRepoNotification: 404 for an unknown uuid and for another repository’s', async () => {
    for (const uuid of ['00000000-0000-0000-0000-000000000000', foreign]) {
      const res = await t.inject({ url: `${path()}${uuid}`, headers: auth });
      expect(res.statusCode).toBe(404);
    }
  });

  it('deleteRepoNotification and testRepoNotification: 400 "No repository notification found for: …"', async () => {
    for (const uuid of ['nope', foreign]) {
      for (const req of [
        { method: 'DELETE' as const, url: `${path()}${uuid}` },
        { method: 'POST' as const, url: `${path()}${uuid}/test` },
      ]) {
        const res = await t.inject({ ...req, headers: auth });
        expect(res.statusCode, req.url).toBe(400);
        expect(res.json().detail).toBe(`No repository notification found for: ${org.username}, ${repo.name}, ${uuid}`);
      }
    }
    // The other repository's notification is untouched.
    expect((await t.inject({ url: `/api/v1/repository/${org.username}/${foreignRepo.name}/notification/${foreign}`, headers: auth })).statusCode).toBe(200);
    expect(await notificationJobs()).toEqual([]);
  });

  it('resetRepositoryNotificationFailures: 400 ApiError for an unknown uuid, 400 {message} for another repository’s', async () => {
    const unknown = await t.inject({ method: 'POST', url: `${path()}nope`, headers: auth });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().detail).toBe(`No repository notification found for: ${org.username}, ${repo.name}, nope`);
    const other = await t.inject({ method: 'POST', url: `${path()}${foreign}`, headers: auth });
    expect(other.statusCode).toBe(400);
    // This server's plain errors also carry the ApiError keys (src/lib/error-handler.ts).
    expect(other.json()).toMatchObject({ message: `No repository notification found with uuid: ${foreign}` });
  });
});

describe('deleteRepoNotification', () => {
  it('deletes (204), records delete_repo_notification, and its queued deliveries end without a request', async () => {
    const created = (await create(webhook('/deleted'))).json();
    const tested = await t.inject({ method: 'POST', url: `${path()}${created.uuid}/test`, headers: auth });
    expect(tested.statusCode).toBe(200);
    const res = await t.inject({ method: 'DELETE', url: `${path()}${created.uuid}`, headers: auth });
    expect(res.statusCode).toBe(204);
    expect(res.body).toBe('');
    expect((await t.inject({ url: `${path()}${created.uuid}`, headers: auth })).statusCode).toBe(404);
    const audit = (await auditRows(t, 'delete_repo_notification')).find((r) => (r.metadata as Record<string, unknown>).notification_id === created.uuid);
    expect(audit?.metadata).toMatchObject({ repo: repo.name, namespace: org.username, event: 'repo_push', method: 'webhook' });
    expect(await t.app.jobs.runPending(['notification'])).toBe(1);
    expect(hooks.at('/deleted')).toEqual([]);
    expect(await notificationJobs()).toEqual([]);
  });
});

describe('delivery', () => {
  it('POSTs the repo_push event of a real push to the webhook, signed', async () => {
    const r = await makeRepo(t, org);
    const created = await create(webhook('/push'), `/api/v1/repository/${org.username}/${r.name}/notification/`);
    const { uuid, config } = created.json();
    await push(r.name, 'v1');
    // Queued with the push, delivered by the worker (never in the request).
    expect(hooks.at('/push')).toEqual([]);
    expect(await notificationJobs()).toHaveLength(1);
    expect(await t.app.jobs.runPending(['notification'])).toBe(1);
    const [hit] = hooks.at('/push');
    expect(hit).toBeDefined();
    expect(JSON.parse(hit!.body)).toEqual({
      repository: `${org.username}/${r.name}`,
      namespace: org.username,
      name: r.name,
      docker_url: `localhost:8080/${org.username}/${r.name}`,
      homepage: `http://localhost:8080/repository/${org.username}/${r.name}`,
      updated_tags: ['v1'],
    });
    expect(hit!.headers['content-type']).toBe('application/json');
    expect(hit!.headers['x-notification-event']).toBe('repo_push');
    expect(hit!.headers['x-notification-delivery']).toMatch(/^\d+$/);
    const expected = `sha256=${createHmac('sha256', config.secret).update(hit!.body).digest('hex')}`;
    expect(hit!.headers['x-notification-signature']).toBe(expected);
    expect((await notificationRow(uuid)).number_of_failures).toBe(0);
    expect(await notificationJobs()).toEqual([]);
  });

  it('queues nothing for a push to a repository without notifications', async () => {
    const r = await makeRepo(t, org);
    await push(r.name);
    expect(await notificationJobs()).toEqual([]);
  });

  it('applies a webhook template with Quay’s ${…} substitution', async () => {
    const r = await makeRepo(t, org);
    const template = JSON.stringify({ text: 'pushed ${repository}: ${updated_tags}', tags: '${updated_tags}', first: '${updated_tags[0]}', missing: 'x ${nothing}', n: 3 });
    const created = await create(webhook('/templated', { template }), `/api/v1/repository/${org.username}/${r.name}/notification/`);
    expect(created.statusCode, created.body).toBe(201);
    await push(r.name, 'stable');
    await t.app.jobs.runPending(['notification']);
    expect(JSON.parse(hooks.at('/templated')[0]!.body)).toEqual({
      text: `pushed ${org.username}/${r.name}: stable`,
      tags: ['stable'],
      first: 'stable',
      missing: 'x (none)',
      n: 3,
    });
  });

  it('testRepoNotification (200 {}) sends the event’s sample data', async () => {
    const { uuid } = (await create({ ...webhook('/sample'), title: 'sample' })).json();
    const res = await t.inject({ method: 'POST', url: `${path()}${uuid}/test`, headers: auth });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({});
    await t.app.jobs.runPending(['notification']);
    expect(JSON.parse(hooks.at('/sample')[0]!.body)).toEqual({
      repository: `${org.username}/${repo.name}`,
      namespace: org.username,
      name: repo.name,
      docker_url: `localhost:8080/${org.username}/${repo.name}`,
      homepage: `http://localhost:8080/repository/${org.username}/${repo.name}`,
      updated_tags: ['latest', 'foo'],
      pruned_image_count: 3,
    });
  });

  it('sends the build sample with its build page, and skips a build event whose ref does not match ref-regex', async () => {
    const matching = (await create({ event: 'build_success', method: 'webhook', config: { url: hooks.url('/build-ok') }, eventConfig: { 'ref-regex': 'refs/heads/some.*' } })).json();
    const other = (await create({ event: 'build_success', method: 'webhook', config: { url: hooks.url('/build-skip') }, eventConfig: { 'ref-regex': 'refs/tags/.*' } })).json();
    for (const n of [matching, other]) expect((await t.inject({ method: 'POST', url: `${path()}${n.uuid}/test`, headers: auth })).statusCode).toBe(200);
    await t.app.jobs.runPending(['notification']);
    expect(JSON.parse(hooks.at('/build-ok')[0]!.body)).toMatchObject({ build_id: 'fake-build-id', homepage: expect.stringMatching(/\/build\/fake-build-id$/) });
    expect(hooks.at('/build-skip')).toEqual([]);
  });

  it('mails the event to an authorized address', async () => {
    const r = await makeRepo(t, org);
    const email = `${uniqueName('team')}@example.com`;
    await insertAuthorizedEmail(t.app.db, r.id, email, `code-${email}`);
    await confirmAuthorizedEmail(t.app.db, `code-${email}`);
    const created = await create({ event: 'repo_push', method: 'email', config: { email }, eventConfig: {} }, `/api/v1/repository/${org.username}/${r.name}/notification/`);
    expect(created.statusCode, created.body).toBe(201);
    await push(r.name, 'mailed');
    await t.app.jobs.runPending(['notification']);
    const mail = await mailbox.waitFor(email);
    expect(mail.subject).toBe(`Repository ${org.username}/${r.name} updated`);
    expect(mail.text).toContain('Tags updated: mailed');
    expect(mail.text).toContain(`http://localhost:8080/repository/${org.username}/${r.name}`);
  });

  it('posts a Slack message to the callback URL', async () => {
    const { uuid } = (await create({ event: 'repo_push', method: 'slack', config: { url: hooks.url('/slack-hook') }, eventConfig: {} })).json();
    await t.inject({ method: 'POST', url: `${path()}${uuid}/test`, headers: auth });
    await t.app.jobs.runPending(['notification']);
    const body = JSON.parse(hooks.at('/slack-hook')[0]!.body);
    expect(body).toMatchObject({
      text: `Repository ${org.username}/${repo.name} updated`,
      username: 'quayiobot',
      attachments: [{ fallback: `Repository ${org.username}/${repo.name} updated`, color: 'good', mrkdwn_in: ['text'], text: expect.stringContaining('latest, foo') }],
    });
  });

  it('leaves in-app notifications for a user target, once even when the delivery runs twice', async () => {
    const bob = await makeUser(t);
    const { uuid } = (await create({ event: 'repo_push', method: 'quay_notification', config: { target: { kind: 'user', name: bob.username } }, eventConfig: {} })).json();
    await t.inject({ method: 'POST', url: `${path()}${uuid}/test`, headers: auth });
    // A worker that died after delivering, before deleting the job: the job runs again.
    const [job] = await notificationJobs();
    await t.app.jobs.runPending(['notification']);
    await t.app.db.insertInto('job').values({ ...job!, id: job!.id, body: JSON.stringify(job!.body), retries_remaining: 2 }).execute();
    await t.app.jobs.runPending(['notification']);
    const rows = await t.app.db.selectFrom('notification').selectAll().where('target_id', '=', bob.id).execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ kind: 'repo_push', dismissed: false, metadata: { repository: `${org.username}/${repo.name}`, updated_tags: ['latest', 'foo'] } });
  });

  it('leaves in-app notifications for every member of a team target and for an organization target', async () => {
    const m1 = await makeUser(t);
    const m2 = await makeUser(t);
    const team = uniqueName('team');
    await makeTeam(t, org, 'member', [m1, m2], team);
    const byTeam = (await create({ event: 'repo_push', method: 'quay_notification', config: { target: { kind: 'team', name: team } }, eventConfig: {} })).json();
    const byOrg = (await create({ event: 'repo_push', method: 'quay_notification', config: { target: { kind: 'org', name: org.username } }, eventConfig: {} })).json();
    for (const n of [byTeam, byOrg]) await t.inject({ method: 'POST', url: `${path()}${n.uuid}/test`, headers: auth });
    await t.app.jobs.runPending(['notification']);
    for (const target of [m1, m2, org]) {
      const rows = await t.app.db.selectFrom('notification').select(['kind', 'metadata']).where('target_id', '=', target.id).execute();
      expect(rows, target.username).toEqual([{ kind: 'repo_push', metadata: expect.objectContaining({ repository: `${org.username}/${repo.name}` }) }]);
    }
    // The organization's notification is listed to its admins.
    const listed = await t.inject({ url: '/api/v1/user/notifications', headers: auth });
    expect(listed.json().notifications).toContainEqual(expect.objectContaining({ organization: org.username, kind: 'repo_push' }));
  });

  it('counts failures: a webhook answering 500 three times is disabled, skipped until reset, then delivers again', async () => {
    hooks.status.set('/failing', 500);
    const r = await makeRepo(t, org);
    const p = `/api/v1/repository/${org.username}/${r.name}/notification/`;
    const { uuid } = (await create(webhook('/failing'), p)).json();
    await push(r.name, 'one');
    for (let attempt = 1; attempt <= 3; attempt++) {
      await dueNow();
      expect(await t.app.jobs.runPending(['notification'])).toBe(1);
      expect(hooks.at('/failing')).toHaveLength(attempt);
      expect((await notificationRow(uuid)).number_of_failures).toBe(attempt);
      const [job] = await notificationJobs();
      expect(job?.last_error).toMatch(/500 response for webhook/);
      // Retried later, not at once: the backoff is at least 24 s (30 s ± 20%).
      expect(new Date(job!.available_after).getTime()).toBeGreaterThan(Date.now() + 20_000);
    }
    // Disabled: the next claim ends the job without a request, and new events are not delivered.
    await dueNow();
    expect(await t.app.jobs.runPending(['notification'])).toBe(1);
    expect(await notificationJobs()).toEqual([]);
    await push(r.name, 'two');
    await t.app.jobs.runPending(['notification']);
    expect(hooks.at('/failing')).toHaveLength(3);
    const view = await t.inject({ url: `${p}${uuid}`, headers: auth });
    expect(view.json().number_of_failures).toBe(3);

    // Reset: 204, audited, and deliveries resume.
    hooks.status.set('/failing', 200);
    const reset = await t.inject({ method: 'POST', url: `${p}${uuid}`, headers: auth });
    expect(reset.statusCode).toBe(204);
    expect(reset.body).toBe('');
    expect((await notificationRow(uuid)).number_of_failures).toBe(0);
    const audit = (await auditRows(t, 'reset_repo_notification')).find((a) => (a.metadata as Record<string, unknown>).notification_id === uuid);
    expect(audit?.metadata).toMatchObject({ repo: r.name, namespace: org.username, event: 'repo_push', method: 'webhook' });
    await push(r.name, 'three');
    await t.app.jobs.runPending(['notification']);
    expect(hooks.at('/failing')).toHaveLength(4);
    expect(JSON.parse(hooks.at('/failing')[3]!.body).updated_tags).toEqual(['three']);
  });

  it('a success after failures starts the count again', async () => {
    hooks.status.set('/flaky', 503);
    const { uuid } = (await create(webhook('/flaky'))).json();
    await t.inject({ method: 'POST', url: `${path()}${uuid}/test`, headers: auth });
    await t.app.jobs.runPending(['notification']);
    expect((await notificationRow(uuid)).number_of_failures).toBe(1);
    hooks.status.set('/flaky', 204);
    await dueNow();
    await t.app.jobs.runPending(['notification']);
    expect(hooks.at('/flaky')).toHaveLength(2);
    expect((await notificationRow(uuid)).number_of_failures).toBe(0);
  });

  it('refuses a target that is no longer allowed at delivery time, as a failure', async () => {
    const { uuid } = (await create(webhook('/moved'))).json();
    // As if the stored host now resolved to a private address (or the allow-list changed).
    const row = await notificationRow(uuid);
    await t.app.db
      .updateTable('repository_notification')
      .set({ config: JSON.stringify({ ...(row.config as object), url: 'http://10.255.255.1:9/hook' }) })
      .where('id', '=', row.id)
      .execute();
    await t.inject({ method: 'POST', url: `${path()}${uuid}/test`, headers: auth });
    await t.app.jobs.runPending(['notification']);
    const [job] = await notificationJobs();
    expect(job?.last_error).toMatch(/refused .*10\.255\.255\.1.*private/);
    expect((await notificationRow(uuid)).number_of_failures).toBe(1);
  });

  it('records a clear failure for Flowdock and HipChat, whose services are gone', async () => {
    const { uuid } = (await create({ event: 'repo_push', method: 'hipchat', config: { notification_token: 't', room_id: '1' }, eventConfig: {} })).json();
    await t.inject({ method: 'POST', url: `${path()}${uuid}/test`, headers: auth });
    await t.app.jobs.runPending(['notification']);
    const [job] = await notificationJobs();
    expect(job?.last_error).toMatch(/HipChat has shut down/);
    expect((await notificationRow(uuid)).number_of_failures).toBe(1);
  });
});

describe('restarts', () => {
  it('delivers an event whose worker died mid-delivery, once the lease expires, from a new server on the same database', async () => {
    const database = await freshDatabase();
    const hook = '/after-crash';
    let first: TestApp | undefined = await testApp({ NOTIFICATION_ALLOWED_HOSTS: '127.0.0.1' }, database);
    let second: TestApp | undefined;
    try {
      const u = await makeUser(first);
      const o = await makeOrg(first, [u]);
      const r = await makeRepo(first, o);
      const h = bearer(await tokenFor(first, u, FULL));
      const made = await first.inject({ method: 'POST', url: `/api/v1/repository/${o.username}/${r.name}/notification/`, headers: h, payload: webhook(hook) });
      expect(made.statusCode).toBe(201);
      const client = await RegistryClient.login(first, { username: u.username, password: u.password }, repoScope(`${o.username}/${r.name}`));
      await client.pushImage(`${o.username}/${r.name}`, makeImage(), 'latest');
      // A worker claims the delivery and dies before finishing it (its lease is never renewed).
      const claimed = await claim(first.app.db, ['notification'], 60);
      expect(claimed).toBeDefined();
      await first.close();
      first = undefined;

      second = await testApp({ NOTIFICATION_ALLOWED_HOSTS: '127.0.0.1' }, database);
      expect(await second.app.jobs.runPending(['notification'])).toBe(0); // still leased
      // The lease runs out (as 60 s later).
      await second.app.db.updateTable('job').set({ processing_expires: sql`now() - interval '1 second'` }).where('id', '=', claimed!.id).execute();
      expect(await second.app.jobs.runPending(['notification'])).toBe(1);
      expect(hooks.at(hook)).toHaveLength(1);
      expect(JSON.parse(hooks.at(hook)[0]!.body)).toMatchObject({ repository: `${o.username}/${r.name}`, updated_tags: ['latest'] });
      expect(hooks.at(hook)[0]!.headers['x-notification-delivery']).toBe(String(claimed!.id));
    } finally {
      await first?.close();
      await second?.close();
      await database.close();
    }
  });

  it('gives back a delivery interrupted by a shutdown, uncounted, and the next server delivers it', async () => {
    const database = await freshDatabase();
    const hook = '/hang-on-shutdown';
    let first: TestApp | undefined = await testApp({ NOTIFICATION_ALLOWED_HOSTS: '127.0.0.1', JOBS_IN_PROCESS: true, JOB_SHUTDOWN_TIMEOUT: 0 }, database);
    let second: TestApp | undefined;
    try {
      const u = await makeUser(first);
      const o = await makeOrg(first, [u]);
      const r = await makeRepo(first, o);
      const h = bearer(await tokenFor(first, u, FULL));
      const { uuid } = (await first.inject({ method: 'POST', url: `/api/v1/repository/${o.username}/${r.name}/notification/`, headers: h, payload: webhook(hook) })).json();
      const client = await RegistryClient.login(first, { username: u.username, password: u.password }, repoScope(`${o.username}/${r.name}`));
      await client.pushImage(`${o.username}/${r.name}`, makeImage(), 'latest');
      // The worker of this process picks the job up at once (nudged after the push commits); the receiver holds the request.
      for (let i = 0; i < 250 && hooks.at(hook).length === 0; i++) await new Promise((res) => setTimeout(res, 20));
      expect(hooks.at(hook)).toHaveLength(1);
      await first.close();
      first = undefined;

      second = await testApp({ NOTIFICATION_ALLOWED_HOSTS: '127.0.0.1' }, database);
      const row = await second.app.db.selectFrom('repository_notification').select('number_of_failures').where('uuid', '=', uuid).executeTakeFirstOrThrow();
      expect(row.number_of_failures).toBe(0);
      expect(await second.app.jobs.runPending(['notification'])).toBe(1);
      expect(hooks.at(hook)).toHaveLength(2);
      expect(hooks.at(hook)[1]!.body).toBe(hooks.at(hook)[0]!.body);
    } finally {
      await first?.close();
      await second?.close();
      await database.close();
    }
  });
});
