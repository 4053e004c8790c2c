// A real client's push fires repo_push: skopeo pushes to our /v2 on 127.0.0.1, the in-process job
// worker delivers the event to a webhook receiver on 127.0.0.1. Skips locally without skopeo.
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { testApp, type TestApp } from '../helpers/app.js';
import { freeLoopbackPort } from '../helpers/docker-registry.js';
import { bearer, makeRepo, makeUser, tokenFor, type TestUser } from '../helpers/factories.js';
import { singleArchImage } from '../helpers/oci-images.js';
import { clientSession, describeWithTools, type ClientSession } from '../helpers/registry-clients.js';

describeWithTools('skopeo push → repo_push webhook', ['skopeo'], () => {
  let t: TestApp;
  let host: string;
  let s: ClientSession;
  let user: TestUser;
  let work: string;
  const hits: { body: string; headers: http.IncomingHttpHeaders }[] = [];
  let waiting: (() => void) | undefined;
  const receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      hits.push({ body, headers: req.headers });
      res.writeHead(200).end();
      waiting?.();
    });
  });

  beforeAll(async () => {
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const port = await freeLoopbackPort();
    host = `127.0.0.1:${port}`;
    t = await testApp({ SERVER_HOSTNAME: host, JOBS_IN_PROCESS: true, NOTIFICATION_ALLOWED_HOSTS: '127.0.0.1' });
    await t.app.listen({ port, host: '127.0.0.1' });
    user = await makeUser(t);
    s = clientSession();
    s.addSecret(user.password);
    await s.skopeo.login(host, { username: user.username, password: user.password });
    work = mkdtempSync(path.join(tmpdir(), 'notify-push-'));
  }, 60_000);
  afterAll(async () => {
    s?.close();
    await t?.close();
    receiver.closeAllConnections();
    await new Promise<void>((r) => receiver.close(() => r()));
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('delivers the repo_push of a skopeo push, signed, without anyone running the queue by hand', async () => {
    const repo = await makeRepo(t, user, { name: 'hooked' });
    const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    const created = await t.inject({
      method: 'POST',
      url: `/api/v1/repository/${user.username}/${repo.name}/notification/`,
      headers: bearer(await tokenFor(t, user, 'repo:admin')),
      payload: { event: 'repo_push', method: 'webhook', config: { url: hookUrl }, eventConfig: {} },
    });
    expect(created.statusCode, created.body).toBe(201);
    const secret = created.json().config.secret as string;

    const arrived = new Promise<void>((resolve) => (waiting = resolve));
    const img = singleArchImage({ dir: path.join(work, 'img') });
    expect(await s.skopeo.push(img.source, `${host}/${user.username}/hooked:v7`)).toBe(img.digest);
    await Promise.race([arrived, new Promise((_, reject) => setTimeout(() => reject(new Error('no webhook within 10 s')), 10_000))]);

    expect(hits).toHaveLength(1);
    expect(JSON.parse(hits[0]!.body)).toEqual({
      repository: `${user.username}/hooked`,
      namespace: user.username,
      name: 'hooked',
      docker_url: `${host}/${user.username}/hooked`,
      homepage: `http://${host}/repository/${user.username}/hooked`,
      updated_tags: ['v7'],
    });
    expect(hits[0]!.headers['x-notification-signature']).toBe(`sha256=${createHmac('sha256', secret).update(hits[0]!.body).digest('hex')}`);
  }, 60_000);
});
