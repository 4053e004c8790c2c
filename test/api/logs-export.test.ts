// Log exports (part1 §7.0 "Export flow"): queued as a job that writes the window's entries to
// storage, POSTs the signed link to a real callback server on 127.0.0.1 and mails it to a real
// SMTP server; bad input is a 400 ApiError with nothing queued.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportSignature } from '../../src/jobs/log-export.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { auditRows, bearer, makeOrg, makeUser, tokenFor, type TestUser } from '../helpers/factories.js';
import { startMailbox, type Mailbox } from '../helpers/smtp.js';
import type { Namespace } from '../../src/db/schema.js';

let t: TestApp;
let mailbox: Mailbox;
let callbacks: Server;
let callbackUrl: string;
const received: Record<string, unknown>[] = [];
let alice: TestUser;
let org: Namespace;
let h: Record<string, string>;

beforeAll(async () => {
  mailbox = await startMailbox();
  callbacks = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received.push(JSON.parse(body));
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => callbacks.listen(0, '127.0.0.1', r));
  callbackUrl = `http://127.0.0.1:${(callbacks.address() as AddressInfo).port}/hook`;
  t = await testApp({ ...mailbox.config(), NOTIFICATION_ALLOWED_HOSTS: '127.0.0.1' });
  alice = await makeUser(t);
  org = await makeOrg(t, [alice]);
  h = bearer(await tokenFor(t, alice, 'repo:read repo:write repo:admin repo:create user:admin org:admin'));
  for (let i = 0; i < 3; i++) {
    const res = await t.inject({ method: 'POST', url: '/api/v1/repository', headers: h, payload: { namespace: org.username, repository: `exp${i}`, visibility: 'private', description: '' } });
    expect(res.statusCode).toBe(201);
  }
});
afterAll(async () => {
  await t?.close();
  await mailbox?.close();
  await new Promise((r) => callbacks?.close(r));
});

const jobCount = async () => Number((await t.app.db.selectFrom('job').select((eb) => eb.fn.countAll<string>().as('n')).where('queue', 'like', 'log-export%').executeTakeFirstOrThrow()).n);

describe('log export', () => {
  it('writes the entries to storage, posts the signed link to the callback and mails it', async () => {
    const email = `${alice.username}-export@example.com`;
    const res = await t.inject({ method: 'POST', url: `/api/v1/organization/${org.username}/exportlogs`, headers: h, payload: { callback_url: callbackUrl, callback_email: email } });
    expect(res.statusCode, res.body).toBe(200);
    const { export_id } = res.json();
    expect(export_id).toMatch(/^[0-9a-f-]{36}$/);
    await t.app.jobs.runPending();
    await t.app.jobs.runPending();
    const cb = received.find((r) => r.export_id === export_id)!;
    expect(cb).toMatchObject({ export_id, namespace: org.username, repository: null, status: 'success', exported_data_url: expect.stringContaining(`/exportedlogs/${export_id}?`) });
    const mail = await mailbox.waitFor(email);
    expect(mail.text).toContain(String(cb.exported_data_url));

    const link = new URL(String(cb.exported_data_url));
    const doc = await t.inject({ method: 'GET', url: `${link.pathname}${link.search}` });
    expect(doc.statusCode).toBe(200);
    expect(doc.headers['content-type']).toContain('application/json');
    const body = doc.json();
    expect(body).toMatchObject({ export_id, details: { namespace: org.username, repository: null, start_time: expect.any(String), end_time: expect.any(String) } });
    const logs = body.logs as { kind?: string; metadata?: { repo?: string }; terminator?: boolean }[];
    expect(logs.at(-1)).toEqual({ terminator: true });
    expect(logs.filter((l) => l.kind === 'create_repo').map((l) => l.metadata!.repo).sort()).toEqual(['exp0', 'exp1', 'exp2']);

    // The link is the credential: a changed signature, or an expired link, is refused.
    const bad = new URLSearchParams(link.search);
    bad.set('signature', 'x'.repeat(64));
    expect((await t.inject({ method: 'GET', url: `${link.pathname}?${bad}` })).statusCode).toBe(403);
    const past = Math.floor(Date.now() / 1000) - 10;
    expect((await t.inject({ method: 'GET', url: `${link.pathname}?expires=${past}&signature=${exportSignature(t.app, export_id, past)}` })).statusCode).toBe(403);

    const audit = (await auditRows(t, 'export_logs_success')).find((r) => (r.metadata as { export_id?: string }).export_id === export_id);
    expect(audit?.metadata).toMatchObject({ message: 'queued for export', url: callbackUrl, email });
  });

  it('exports a repository’s entries and the caller’s own', async () => {
    const repoRes = await t.inject({ method: 'POST', url: `/api/v1/repository/${org.username}/exp1/exportlogs`, headers: h, payload: { callback_url: callbackUrl } });
    expect(repoRes.statusCode).toBe(200);
    const userRes = await t.inject({ method: 'POST', url: '/api/v1/user/exportlogs', headers: h, payload: {} });
    expect(userRes.statusCode).toBe(200);
    await t.app.jobs.runPending();
    await t.app.jobs.runPending();
    const cb = received.find((r) => r.export_id === repoRes.json().export_id)!;
    expect(cb).toMatchObject({ namespace: org.username, repository: 'exp1' });
    const link = new URL(String(cb.exported_data_url));
    const logs = (await t.inject({ method: 'GET', url: `${link.pathname}${link.search}` })).json().logs as { kind?: string; metadata?: { repo?: string } }[];
    // Only exp1's entries: its creation and this export's own audit entry.
    expect(logs.filter((l) => l.kind).map((l) => [l.kind, l.metadata!.repo])).toEqual([['export_logs_success', 'exp1'], ['create_repo', 'exp1']]);
  });

  it('refuses bad callbacks, a bad address and a reversed window with a 400 ApiError, queueing nothing', async () => {
    const before = await jobCount();
    const cases: [string, object, string][] = [
      ['', { callback_url: 'ftp://127.0.0.1/x' }, 'Invalid callback URL'],
      ['', { callback_url: 'http://10.1.2.3/hook' }, 'Invalid callback URL'],
      ['', { callback_url: 'not a url' }, 'Invalid callback URL'],
      ['', { callback_email: 'nobody' }, 'Invalid callback e-mail'],
      ['?starttime=02/10/2026&endtime=02/01/2026', {}, 'Invalid time span selected'],
    ];
    for (const [q, payload, detail] of cases) {
      const res = await t.inject({ method: 'POST', url: `/api/v1/organization/${org.username}/exportlogs${q}`, headers: h, payload });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.json()).toMatchObject({ title: 'invalid_request', detail });
    }
    expect(await jobCount()).toBe(before);
    expect((await t.inject({ method: 'POST', url: `/api/v1/repository/${org.username}/nosuchrepo/exportlogs`, headers: h, payload: {} })).statusCode).toBe(404);
    const outsider = bearer(await tokenFor(t, await makeUser(t), 'org:admin repo:admin'));
    expect((await t.inject({ method: 'POST', url: `/api/v1/organization/${org.username}/exportlogs`, headers: outsider, payload: {} })).statusCode).toBe(403);
  });
});
