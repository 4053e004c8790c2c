// The real-client harness proved against a real registry: Debian's docker-registry (CNCF
// distribution 2.8) on 127.0.0.1, with skopeo and podman as the clients, before the same harness is
// pointed at our own /v2. A recording proxy in front shows what the clients sent.
// Skips locally without skopeo/podman/docker-registry; CI=true (.ci/run) makes them required.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatExchanges, startDockerRegistry, type DockerRegistry } from '../helpers/docker-registry.js';
import {
  artifactLayout,
  MediaType,
  missingLayoutBlobs,
  multiArchImage,
  readLayoutManifest,
  schema1Manifest,
  sha256,
  singleArchImage,
} from '../helpers/oci-images.js';
import { ClientError, clientSession, describeWithTools, type ClientSession } from '../helpers/registry-clients.js';

describeWithTools('registry clients (skopeo, podman) against docker-registry', ['skopeo', 'podman', 'docker-registry'], () => {
  let reg: DockerRegistry;
  let s: ClientSession;
  let work: string;

  beforeAll(async () => {
    work = mkdtempSync(path.join(tmpdir(), 'harness-'));
    reg = await startDockerRegistry({ record: true });
    s = clientSession();
  });

  afterAll(async () => {
    s?.close();
    await reg?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const dirFor = (name: string) => path.join(work, name);

  it('pushes an OCI image with skopeo and copies it back out with identical digests and labels', async () => {
    const img = singleArchImage({ dir: dirFor('single'), labels: { 'quay.expires-after': '2w', 'org.example.run': String(Date.now()) } });
    const image = `${reg.host}/ns/single:v1`;
    const start = reg.exchanges.length;

    expect(await s.skopeo.push(img.source, image)).toBe(img.digest);
    const raw = await s.skopeo.inspectRaw(image);
    expect(raw.equals(img.image.manifest.bytes)).toBe(true);
    expect(await s.skopeo.listTags(`${reg.host}/ns/single`)).toContain('v1');

    const out = dirFor('single-out');
    expect(await s.skopeo.pull(image, out, 'copy')).toBe(img.digest);
    const copied = readLayoutManifest(out, 'copy');
    expect(copied.descriptor.digest).toBe(img.digest);
    expect(sha256(copied.bytes)).toBe(img.digest);
    expect(missingLayoutBlobs(out, img.digests)).toEqual([]);

    const config = await s.skopeo.inspectConfig(image);
    expect(sha256(Buffer.from(JSON.stringify(config)))).toBe(img.image.config.descriptor.digest);
    expect((config.config as { Labels: Record<string, string> }).Labels).toEqual(img.image.labels);
    expect((config.history as unknown[]).length).toBe(img.image.layers.length + 1);

    // What skopeo sent for each new blob: HEAD (404), POST, one PATCH with the whole body, PUT ?digest=.
    const sent = reg.exchanges.slice(start).filter((e) => e.path.startsWith('/v2/ns/single/blobs/'));
    const layer = img.image.layers[0].descriptor;
    const upload = sent.filter((e) => e.method !== 'HEAD' && e.method !== 'GET');
    expect(upload.slice(0, 3).map((e) => `${e.method} ${e.status}`)).toEqual(['POST 202', 'PATCH 202', 'PUT 201']);
    expect(upload[1].requestBytes).toBe(layer.size);
    expect(upload[2].path).toContain(`digest=${encodeURIComponent(layer.digest)}`);
  });

  it('pushes a multi-arch OCI index with --all and copies every platform back', async () => {
    const multi = multiArchImage({ dir: dirFor('multi') });
    const image = `${reg.host}/ns/multi:v1`;
    expect(await s.skopeo.push(multi.source, image, { all: true })).toBe(multi.digest);
    expect((await s.skopeo.inspectRaw(image)).equals(multi.index.bytes)).toBe(true);
    for (const child of multi.images) {
      expect(await s.skopeo.manifestDigest(`${reg.host}/ns/multi@${child.digest}`)).toBe(child.digest);
    }
    const out = dirFor('multi-out');
    expect(await s.skopeo.pull(image, out, 'copy', { all: true })).toBe(multi.digest);
    expect(readLayoutManifest(out, 'copy').descriptor.digest).toBe(multi.digest);
    expect(missingLayoutBlobs(out, multi.digests)).toEqual([]);
  });

  it('keeps Docker v2 schema 2 images and manifest lists as built, and converts OCI to v2s2 keeping config and layers', async () => {
    const docker = singleArchImage({ dir: dirFor('docker'), format: 'docker' });
    expect(await s.skopeo.push(docker.source, `${reg.host}/ns/docker:v1`)).toBe(docker.digest);
    const raw = JSON.parse((await s.skopeo.inspectRaw(`${reg.host}/ns/docker:v1`)).toString()) as { mediaType: string };
    expect(raw.mediaType).toBe(MediaType.dockerManifest);

    const list = multiArchImage({ dir: dirFor('docker-list'), format: 'docker' });
    expect(await s.skopeo.push(list.source, `${reg.host}/ns/docker:list`, { all: true })).toBe(list.digest);
    expect(await s.skopeo.manifestDigest(`${reg.host}/ns/docker:list`)).toBe(list.digest);

    const oci = singleArchImage({ dir: dirFor('to-v2s2') });
    const converted = await s.skopeo.push(oci.source, `${reg.host}/ns/docker:converted`, { format: 'v2s2' });
    expect(converted).not.toBe(oci.digest);
    const manifest = JSON.parse((await s.skopeo.inspectRaw(`${reg.host}/ns/docker:converted`)).toString()) as {
      mediaType: string;
      config: { mediaType: string; digest: string };
      layers: { mediaType: string; digest: string }[];
    };
    expect(manifest.mediaType).toBe(MediaType.dockerManifest);
    expect(manifest.config).toMatchObject({ mediaType: MediaType.dockerConfig, digest: oci.image.config.descriptor.digest });
    expect(manifest.layers.map((l) => [l.mediaType, l.digest])).toEqual(oci.image.layers.map((l) => [MediaType.dockerLayerGzip, l.descriptor.digest]));
    expect((await s.skopeo.inspect(`${reg.host}/ns/docker:converted`)).Labels).toEqual(oci.image.labels);
  });

  it('pushes OCI 1.1 artifacts (artifactType, subject, empty config) with their digests kept', async () => {
    const a = artifactLayout({ dir: dirFor('artifacts') });
    const repo = `${reg.host}/ns/artifacts`;
    expect(await s.skopeo.push(a.source.subject, `${repo}:image`)).toBe(a.subject.digest);
    expect(await s.skopeo.push(a.source.artifact, `${repo}:signature`)).toBe(a.artifact.digest);
    expect(await s.skopeo.push(a.source.emptyArtifact, `${repo}:sbom`)).toBe(a.emptyArtifact.digest);

    const served = JSON.parse((await s.skopeo.inspectRaw(`${repo}@${a.artifact.digest}`)).toString()) as Record<string, unknown>;
    expect(served.artifactType).toBe(a.artifact.artifactType);
    expect(served.subject).toEqual({ mediaType: MediaType.ociManifest, digest: a.subject.digest, size: a.subject.manifest.bytes.length });
    const empty = JSON.parse((await s.skopeo.inspectRaw(`${repo}:sbom`)).toString()) as { config: { mediaType: string; digest: string } };
    expect(empty.config).toMatchObject({ mediaType: MediaType.ociEmpty, digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a' });

    const out = dirFor('artifacts-out');
    expect(await s.skopeo.pull(`${repo}:signature`, out, 'sig')).toBe(a.artifact.digest);
    expect(missingLayoutBlobs(out, a.artifact.digests)).toEqual([]);
    // distribution 2.8 has no referrers API (OCI 1.1): nothing more to check here against it.
  });

  it('cannot push Docker schema 1 to a registry that refuses it (distribution 2.8 answers 500; ours must say MANIFEST_INVALID)', async () => {
    const img = singleArchImage({ dir: dirFor('schema1'), layers: 1 });
    const s1 = JSON.parse((await s.skopeo.schema1Manifest(img.source)).toString()) as { schemaVersion: number; fsLayers: unknown[] };
    expect(s1.schemaVersion).toBe(1);
    expect(s1.fsLayers.length).toBeGreaterThan(0);
    const start = reg.exchanges.length;
    await expect(s.skopeo.push(img.source, `${reg.host}/ns/schema1:v1`, { format: 'v2s1' })).rejects.toThrow(ClientError);
    const put = reg.exchanges.slice(start).find((e) => e.method === 'PUT' && e.path.includes('/manifests/'));
    expect(put?.request['content-type']).toBe(MediaType.dockerSchema1Signed);
    expect(put?.status).toBeGreaterThanOrEqual(400);

    // The hand-built unsigned form, PUT as is: refused too.
    const handmade = schema1Manifest('ns/schema1', 'v2', img.image.layers.map((l) => l.descriptor.digest));
    expect(JSON.parse(handmade.toString())).toMatchObject({ schemaVersion: 1, name: 'ns/schema1', tag: 'v2' });
    const res = await fetch(`http://${reg.directHost}/v2/ns/schema1/manifests/v2`, { method: 'PUT', headers: { 'content-type': MediaType.dockerSchema1 }, body: new Uint8Array(handmade) });
    await res.arrayBuffer();
    expect(res.status).toBeGreaterThanOrEqual(400);
  });

  it('deletes a manifest by digest: the tag no longer resolves', async () => {
    const img = singleArchImage({ dir: dirFor('delete'), layers: 1 });
    const image = `${reg.host}/ns/delete:v1`;
    await s.skopeo.push(img.source, image);
    await s.skopeo.delete(`${reg.host}/ns/delete@${img.digest}`);
    const err = await s.skopeo.inspectRaw(image).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClientError);
    expect((err as ClientError).message).toMatch(/manifest unknown/i);
  });

  it('podman loads an OCI layout, pushes it, and pulls it into fresh storage with the same digest and labels', async () => {
    const img = singleArchImage({ dir: dirFor('podman'), layers: 2 });
    const image = `${reg.host}/ns/podman:v1`;
    const id = await s.podman.load(img.source, 'localhost/podman-test:v1');
    expect(`sha256:${id}`).toBe(img.image.config.descriptor.digest);
    // podman recompresses from its storage unless it can reuse the pulled blobs: the manifest
    // digest may differ from the layout's, the config (image ID) may not.
    const pushed = await s.podman.push('localhost/podman-test:v1', image);
    expect(await s.skopeo.manifestDigest(image)).toBe(pushed);

    const other = clientSession();
    try {
      const pulledId = await other.podman.pull(image);
      expect(pulledId).toBe(id);
      expect(await other.podman.imageDigest(image)).toBe(pushed);
      expect(await other.podman.imageLabels(image)).toEqual(img.image.labels);
    } finally {
      other.close();
    }
  });

  it('reports a failed command with its stderr, and a hung one as a time-out', async () => {
    const closed = await s.skopeo.inspectRaw('127.0.0.1:1/ns/none:v1').catch((e: unknown) => e);
    expect(closed).toBeInstanceOf(ClientError);
    expect((closed as ClientError).message).toMatch(/^skopeo .*inspect .*exited 1 after \d+ ms:\n.*(connection refused|connect)/s);

    // A server that accepts and never answers.
    const sockets: Socket[] = [];
    const hang: Server = createServer((sock) => sockets.push(sock));
    await new Promise<void>((resolve) => hang.listen(0, '127.0.0.1', resolve));
    const port = (hang.address() as { port: number }).port;
    const quick = clientSession({ timeoutMs: 500 });
    try {
      const err = await quick.skopeo.inspectRaw(`127.0.0.1:${port}/ns/none:v1`).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ClientError);
      expect((err as ClientError).message).toContain('timed out after 500 ms');
    } finally {
      quick.close();
      for (const sock of sockets) sock.destroy();
      hang.close();
    }
  });

  describe('behind a Bearer token flow like Quay’s (/v2/auth with HTTP Basic)', () => {
    const users = [
      { username: '$oauthtoken', password: 'oauth-TOKEN-abc123xyz' },
      { username: '$app', password: 'app-specific-token-987654' },
      { username: 'org+robot', password: 'ROBOT0TOKEN0ABCDEFGHIJKLMNOP' },
    ];
    let authReg: DockerRegistry;

    beforeAll(async () => {
      authReg = await startDockerRegistry({ auth: { scheme: 'bearer', users, anonymous: true } });
    });
    afterAll(async () => {
      await authReg?.stop();
    });

    it('logs in with $oauthtoken, $app and org+robot usernames verbatim (skopeo and podman)', async () => {
      for (const cred of users) {
        for (const tool of ['skopeo', 'podman'] as const) {
          const session = clientSession();
          try {
            const start = authReg.exchanges.length;
            await session[tool].login(authReg.host, cred);
            expect(session.loggedInTo()).toEqual([authReg.host]);
            const seen = authReg.exchanges.slice(start).filter((e) => e.path.startsWith('/v2/auth'));
            expect(seen.map((e) => `${e.auth} ${e.status}`), `${tool} login as ${cred.username}`).toContain(`basic:${cred.username} 200`);
          } finally {
            session.close();
          }
        }
      }
    });

    it('refuses a wrong password without printing it', async () => {
      const session = clientSession();
      try {
        const secret = 'wrong-PASSWORD-do-not-print';
        const err = await session.skopeo.login(authReg.host, { username: '$oauthtoken', password: secret }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ClientError);
        const e = err as ClientError;
        expect(e.message).toMatch(/401|unauthorized|invalid username\/password/i);
        for (const text of [e.message, e.stderr, e.stdout, e.command]) expect(text).not.toContain(secret);
      } finally {
        session.close();
      }
    });

    it('pushes with skopeo and pulls with podman through tokens from /v2/auth, with credentials and anonymously', async () => {
      const [robot] = users.slice(2);
      const img = singleArchImage({ dir: dirFor('bearer'), layers: 1 });
      const image = `${authReg.host}/org/app:v1`;
      const pusher = clientSession();
      const puller = clientSession();
      try {
        await pusher.skopeo.login(authReg.host, robot);
        expect(await pusher.skopeo.push(img.source, image)).toBe(img.digest);
        await puller.podman.login(authReg.host, robot);
        await puller.podman.pull(image);
        expect(await puller.podman.imageDigest(image)).toBe(img.digest);
      } finally {
        pusher.close();
        puller.close();
      }
      const tokenRequests = authReg.exchanges.filter((e) => e.path.startsWith('/v2/auth?') && e.path.includes('scope=repository%3Aorg%2Fapp'));
      expect(tokenRequests.length, formatExchanges(authReg.exchanges)).toBeGreaterThan(0);
      expect(authReg.exchanges.some((e) => e.auth === 'bearer:org+robot' && e.method === 'PUT' && e.path === '/v2/org/app/manifests/v1' && e.status === 201)).toBe(true);

      // Without a login, both clients ask /v2/auth for a pull token with no credentials and no `account`.
      const anonymous = clientSession();
      try {
        const start = authReg.exchanges.length;
        expect(await anonymous.skopeo.manifestDigest(image)).toBe(img.digest);
        await anonymous.podman.pull(image);
        const asked = authReg.exchanges.slice(start).filter((e) => e.path.startsWith('/v2/auth?'));
        expect(asked.map((e) => `${e.auth} ${e.status}`)).toEqual(['none 200', 'none 200']);
        for (const e of asked) expect(e.path).not.toContain('account=');
        expect(authReg.exchanges.slice(start).filter((e) => e.path === '/v2/org/app/manifests/v1').map((e) => e.auth)).toEqual(['bearer:anonymous', 'bearer:anonymous']);
      } finally {
        anonymous.close();
      }
    });
  });
});
