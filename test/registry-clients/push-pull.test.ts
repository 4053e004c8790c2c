// Real clients against our own /v2: skopeo and podman log in with each credential kind, push
// images of every format into a repository that the push creates, and pull them back with digests
// identical. Skips locally without the tools; CI=true (.ci/run) makes them required.
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freeLoopbackPort } from '../helpers/docker-registry.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { bearer, grant, makeOrg, makeRepo, makeRobot, makeUser, tokenFor, type TestUser } from '../helpers/factories.js';
import { artifactLayout, missingLayoutBlobs, multiArchImage, readLayoutManifest, sha256, singleArchImage } from '../helpers/oci-images.js';
import { clientSession, describeWithTools, type ClientSession } from '../helpers/registry-clients.js';

describeWithTools('skopeo and podman against our /v2', ['skopeo', 'podman'], () => {
  let t: TestApp;
  let host: string;
  let s: ClientSession;
  let user: TestUser;
  let work: string;

  beforeAll(async () => {
    const port = await freeLoopbackPort();
    host = `127.0.0.1:${port}`;
    t = await testApp({ SERVER_HOSTNAME: host });
    await t.app.listen({ port, host: '127.0.0.1' });
    expect((t.app.server.address() as AddressInfo).port).toBe(port);
    user = await makeUser(t);
    s = clientSession();
    s.addSecret(user.password);
    await s.skopeo.login(host, { username: user.username, password: user.password });
    await s.podman.login(host, { username: user.username, password: user.password });
    work = mkdtempSync(path.join(tmpdir(), 'push-pull-'));
  }, 60_000);
  afterAll(async () => {
    s?.close();
    await t?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });
  const dir = (name: string) => path.join(work, name);

  it('pushes an OCI image into a new repository and pulls it back byte for byte', async () => {
    const img = singleArchImage({ dir: dir('single'), labels: { 'org.example.run': String(Date.now()) } });
    const image = `${host}/${user.username}/single:v1`;
    expect(await s.skopeo.push(img.source, image)).toBe(img.digest);
    expect((await s.skopeo.inspectRaw(image)).equals(img.image.manifest.bytes)).toBe(true);
    expect(await s.skopeo.listTags(`${host}/${user.username}/single`)).toEqual(['v1']);
    const out = dir('single-out');
    expect(await s.skopeo.pull(image, out, 'copy')).toBe(img.digest);
    expect(sha256(readLayoutManifest(out, 'copy').bytes)).toBe(img.digest);
    expect(missingLayoutBlobs(out, img.digests)).toEqual([]);
    // The push created the repository, private, owned by the pusher's namespace.
    const repo = await t.app.db.selectFrom('repository').selectAll().where('name', '=', 'single').executeTakeFirstOrThrow();
    expect(repo.visibility).toBe('private');

    // The REST view of that push: the tag's history, the manifest, the config's labels.
    const h = bearer(await tokenFor(t, user, 'repo:read'));
    const api = `/api/v1/repository/${user.username}/single`;
    const tags = (await t.inject({ method: 'GET', url: `${api}/tag/`, headers: h })).json();
    expect(tags).toMatchObject({ page: 1, has_additional: false, tags: [{ name: 'v1', reversion: false, manifest_digest: img.digest, is_manifest_list: false }] });
    const layers = (JSON.parse(img.image.manifest.bytes.toString()) as { layers: { size: number }[] }).layers;
    expect(tags.tags[0].size).toBe(layers.reduce((n, l) => n + l.size, 0));
    const manifest = (await t.inject({ method: 'GET', url: `${api}/manifest/${img.digest}`, headers: h })).json();
    expect(manifest).toMatchObject({ digest: img.digest, is_manifest_list: false, manifest_data: img.image.manifest.bytes.toString() });
    expect(manifest.layers).toHaveLength(layers.length);
    const labels = (await t.inject({ method: 'GET', url: `${api}/manifest/${img.digest}/labels?filter=org.example`, headers: h })).json().labels;
    expect(labels).toEqual([expect.objectContaining({ key: 'org.example.run', source_type: 'manifest', media_type: 'text/plain' })]);
  }, 60_000);

  it('pushes a multi-arch index with --all, and Docker schema 2 images', async () => {
    const multi = multiArchImage({ dir: dir('multi') });
    const image = `${host}/${user.username}/multi:v1`;
    expect(await s.skopeo.push(multi.source, image, { all: true })).toBe(multi.digest);
    expect((await s.skopeo.inspectRaw(image)).equals(multi.index.bytes)).toBe(true);
    for (const child of multi.images) expect(await s.skopeo.manifestDigest(`${host}/${user.username}/multi@${child.digest}`)).toBe(child.digest);
    const docker = singleArchImage({ dir: dir('docker'), format: 'docker' });
    expect(await s.skopeo.push(docker.source, `${host}/${user.username}/docker:v1`)).toBe(docker.digest);
    const out = dir('multi-out');
    expect(await s.skopeo.pull(image, out, 'copy', { all: true })).toBe(multi.digest);
  }, 90_000);

  it('stores artifacts with artifactType and subject, and lists them as referrers', async () => {
    const a = artifactLayout({ dir: dir('artifact') });
    const base = `${host}/${user.username}/art`;
    expect(await s.skopeo.push(a.source.subject, `${base}:subject`)).toBe(a.subject.digest);
    expect(await s.skopeo.push(a.source.artifact, `${base}:sbom`)).toBe(a.artifact.digest);
    const token = await tokenFor(t, user, 'repo:read');
    const jwt = await t.inject({ url: `/v2/auth?service=${host}&scope=repository:${user.username}/art:pull`, headers: { authorization: `Basic ${Buffer.from(`$oauthtoken:${token}`).toString('base64')}` } });
    const res = await t.inject({ url: `/v2/${user.username}/art/referrers/${a.subject.digest}`, headers: { authorization: `Bearer ${jwt.json().token}` } });
    expect(res.statusCode).toBe(200);
    expect(res.json().manifests.map((m: { digest: string }) => m.digest)).toContain(a.artifact.digest);
  }, 60_000);

  it('pushes with an app-specific token ($app), pulls with the password, and anonymously once the repository is public', async () => {
    // The app token as a user makes it: through the API, with a session-free OAuth token.
    const admin = await tokenFor(t, user, 'user:admin repo:admin');
    const created = await t.inject({ method: 'POST', url: '/api/v1/user/apptoken', headers: { authorization: `Bearer ${admin}` }, payload: { title: 'ci' } });
    expect(created.statusCode, created.body).toBe(200);
    const code = created.json().token.token_code as string;
    const app = clientSession();
    const pw = clientSession();
    const anon = clientSession();
    try {
      app.addSecret(code);
      await app.skopeo.login(host, { username: '$app', password: code });
      const img = singleArchImage({ dir: dir('apptoken') });
      expect(await app.skopeo.push(img.source, `${host}/${user.username}/viaapp:v1`)).toBe(img.digest);

      pw.addSecret(user.password);
      await pw.podman.login(host, { username: user.username, password: user.password });
      const id = await pw.podman.pull(`${host}/${user.username}/viaapp:v1`);
      expect(id).toMatch(/^[0-9a-f]{64}$/);

      // Private: an anonymous pull is refused; public: it works with no login at all.
      await expect(anon.skopeo.manifestDigest(`${host}/${user.username}/viaapp:v1`)).rejects.toThrow();
      const vis = await t.inject({
        method: 'POST',
        url: `/api/v1/repository/${user.username}/viaapp/changevisibility`,
        headers: { authorization: `Bearer ${admin}` },
        payload: { visibility: 'public' },
      });
      expect(vis.statusCode, vis.body).toBe(200);
      expect(await anon.skopeo.manifestDigest(`${host}/${user.username}/viaapp:v1`)).toBe(img.digest);
    } finally {
      app.close();
      pw.close();
      anon.close();
    }
  }, 90_000);

  it('pushes and pulls with a robot and $oauthtoken; a repo:read token cannot push', async () => {
    const org = await makeOrg(t, [user]);
    const repo = await makeRepo(t, org, { name: 'shared' });
    const robot = await makeRobot(t, org);
    await grant(t, repo, { userId: robot.id }, 'write');
    const bot = clientSession();
    try {
      bot.addSecret(robot.token);
      await bot.skopeo.login(host, { username: robot.username, password: robot.token });
      const img = singleArchImage({ dir: dir('robot') });
      expect(await bot.skopeo.push(img.source, `${host}/${org.username}/shared:ci`)).toBe(img.digest);
      const readOnly = await tokenFor(t, user, 'repo:read');
      const reader = clientSession();
      try {
        reader.addSecret(readOnly);
        await reader.skopeo.login(host, { username: '$oauthtoken', password: readOnly });
        expect(await reader.skopeo.manifestDigest(`${host}/${org.username}/shared:ci`)).toBe(img.digest);
        const other = singleArchImage({ dir: dir('denied') });
        await expect(reader.skopeo.push(other.source, `${host}/${org.username}/shared:nope`)).rejects.toThrow();
      } finally {
        reader.close();
      }
    } finally {
      bot.close();
    }
  }, 90_000);

  it('pushes with podman and pulls into fresh storage', async () => {
    const img = singleArchImage({ dir: dir('podman') });
    const id = await s.podman.load(img.source, 'localhost/podman-test:v1');
    const digest = await s.podman.push('localhost/podman-test:v1', `${host}/${user.username}/podman:v1`);
    expect(digest).toMatch(/^sha256:/);
    expect(await s.podman.pull(`${host}/${user.username}/podman:v1`)).toBe(id);
  }, 90_000);
});
