// Manifests on /v2 (OCI distribution spec "Pulling manifests", "Pushing Manifests", "Listing
// Referrers", "Deleting tags", "Deleting Manifests"): every type a client pushes (Docker v2, Docker
// list, OCI manifest, OCI index, artifacts with artifactType and subject), what is refused and with
// which code (schema 1, a Content-Type that contradicts mediaType, missing blobs or children, the
// size limit, a digest that does not match), PUT by digest with ?tag=, content negotiation,
// referrers and their filter, deletion by tag and by digest.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp, type TestApp } from '../helpers/app.js';
import { makeUser, uniqueName, type TestUser } from '../helpers/factories.js';
import {
  blobOf,
  digestOf,
  DOCKER_LIST,
  DOCKER_MANIFEST,
  expectError,
  makeImage,
  makeIndex,
  manifestOf,
  OCI_EMPTY,
  OCI_INDEX,
  OCI_MANIFEST,
  randomBlob,
  RegistryClient,
  repoScope,
  type Manifest,
  type RegistryResponse,
} from '../helpers/registry.js';

let t: TestApp;
let alice: TestUser;

beforeAll(async () => {
  t = await testApp();
  alice = await makeUser(t);
});
afterAll(() => t?.close());

async function newRepo(): Promise<{ name: string; c: RegistryClient }> {
  const name = `${alice.username}/${uniqueName('repo')}`;
  return { name, c: await RegistryClient.login(t, alice, repoScope(name)) };
}

function expectPushed(res: RegistryResponse, name: string, m: Manifest) {
  expect(res.statusCode, res.text).toBe(201);
  expect(res.header('location')).toBe(`/v2/${name}/manifests/${m.digest}`);
  expect(res.header('docker-content-digest')).toBe(m.digest);
}

/** GET and HEAD by `ref`: 200, the exact bytes, the stored type, digest and length. */
async function expectManifest(c: RegistryClient, name: string, ref: string, m: Manifest, accept?: string) {
  const headers = accept ? { accept } : undefined;
  const get = await c.request('GET', `/v2/${name}/manifests/${ref}`, { headers });
  expect(get.statusCode, get.text).toBe(200);
  expect(get.body.equals(m.bytes)).toBe(true);
  expect(get.header('content-type')).toBe(m.mediaType);
  expect(get.header('docker-content-digest')).toBe(m.digest);
  expect(get.header('content-length')).toBe(String(m.bytes.length));
  const head = await c.request('HEAD', `/v2/${name}/manifests/${ref}`, { headers });
  expect(head.statusCode).toBe(200);
  expect(head.body.length).toBe(0);
  expect(head.header('content-type')).toBe(m.mediaType);
  expect(head.header('docker-content-digest')).toBe(m.digest);
  expect(head.header('content-length')).toBe(String(m.bytes.length));
}

describe('pushing and pulling every manifest type', () => {
  it('an OCI image manifest by tag: 201 with Location and Docker-Content-Digest; pulled by tag and by digest', async () => {
    const { name, c } = await newRepo();
    const image = makeImage({ layers: 2 });
    expectPushed(await c.pushImage(name, image, 'v1'), name, image.manifest);
    await expectManifest(c, name, 'v1', image.manifest);
    await expectManifest(c, name, image.manifest.digest, image.manifest);
  });

  it('a Docker v2 schema 2 manifest and a Docker manifest list', async () => {
    const { name, c } = await newRepo();
    const amd = makeImage({ format: 'docker' });
    const arm = makeImage({ format: 'docker', platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } });
    await c.pushImage(name, amd);
    await c.pushImage(name, arm);
    await expectManifest(c, name, amd.manifest.digest, amd.manifest);
    const list = makeIndex([amd.manifest.descriptor, arm.manifest.descriptor], { format: 'docker' });
    expect(list.mediaType).toBe(DOCKER_LIST);
    expectPushed(await c.pushManifest(name, list, 'latest'), name, list);
    await expectManifest(c, name, 'latest', list);
  });

  it('an OCI index over two platforms, its children pushed by digest first; a nested index', async () => {
    const { name, c } = await newRepo();
    const amd = makeImage();
    const arm = makeImage({ platform: { os: 'linux', architecture: 'arm64' } });
    await c.pushImage(name, amd);
    await c.pushImage(name, arm);
    const index = makeIndex([amd.manifest.descriptor, arm.manifest.descriptor]);
    expectPushed(await c.pushManifest(name, index, 'multi'), name, index);
    await expectManifest(c, name, 'multi', index);
    const outer = makeIndex([index.descriptor]);
    await c.pushManifest(name, outer, 'nested');
    await expectManifest(c, name, 'nested', outer);
  });

  it('an artifact: artifactType, the empty config, no layers; and an image with an empty layer list', async () => {
    const { name, c } = await newRepo();
    const empty = blobOf('{}', OCI_EMPTY);
    const artifact = makeImage({ config: empty, artifactType: 'application/vnd.example.sbom.v1', annotations: { 'org.example': 'x' } });
    await c.pushImage(name, artifact, 'sbom');
    await expectManifest(c, name, 'sbom', artifact.manifest);
    const noLayers = manifestOf({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: empty.descriptor, layers: [] });
    expectPushed(await c.pushManifest(name, noLayers, 'nolayers'), name, noLayers);
  });

  it('keeps fields beyond the spec and descriptors with embedded data, byte for byte', async () => {
    const { name, c } = await newRepo();
    const empty = blobOf('{}', OCI_EMPTY);
    const layer = blobOf(randomBlob(16));
    for (const b of [empty, layer]) await c.pushBlob(name, b.bytes);
    const m = manifestOf({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      'com.example.custom': { nested: [1, 2, 3] },
      config: { ...empty.descriptor, data: Buffer.from('{}').toString('base64') },
      layers: [{ ...layer.descriptor, annotations: { a: 'b' }, 'com.example.field': true }],
    });
    expectPushed(await c.putManifest(name, 'custom', m), name, m);
    await expectManifest(c, name, 'custom', m);
  });

  it('a non-distributable layer need not be in the registry', async () => {
    const { name, c } = await newRepo();
    const image = makeImage();
    const foreign = { mediaType: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip', digest: digestOf(randomBlob(10)), size: 10, urls: ['https://example.com/layer'] };
    const m = manifestOf({ ...image.manifest.doc, layers: [...image.layers.map((l) => l.descriptor), foreign] });
    for (const b of image.blobs) await c.pushBlob(name, b.bytes);
    expectPushed(await c.putManifest(name, 'foreign', m), name, m);
  });

  it('stores the exact bytes (whitespace, key order) and digests them as sent; sha512 by digest', async () => {
    const { name, c } = await newRepo();
    const image = makeImage();
    for (const b of image.blobs) await c.pushBlob(name, b.bytes);
    const odd = Buffer.from(`{\n  "layers": ${JSON.stringify(image.manifest.doc.layers)},\n\t"schemaVersion":2, "config": ${JSON.stringify(image.manifest.doc.config)} ,"mediaType":"${OCI_MANIFEST}"   }\n`);
    const m: Manifest = { bytes: odd, mediaType: OCI_MANIFEST, digest: digestOf(odd), doc: {}, descriptor: { mediaType: OCI_MANIFEST, digest: digestOf(odd), size: odd.length } };
    expectPushed(await c.putManifest(name, 'odd', m), name, m);
    await expectManifest(c, name, 'odd', m);

    const sha512: Manifest = { ...m, digest: digestOf(odd, 'sha512') };
    const res = await c.putManifest(name, sha512.digest, sha512);
    expectPushed(res, name, sha512);
    await expectManifest(c, name, sha512.digest, sha512);
  });

  it('takes parameters on Content-Type, and the document’s mediaType when Content-Type is generic', async () => {
    const { name, c } = await newRepo();
    const image = makeImage();
    for (const b of image.blobs) await c.pushBlob(name, b.bytes);
    expectPushed(await c.putManifest(name, 'params', image.manifest, `${OCI_MANIFEST}; charset=utf-8`), name, image.manifest);
    const other = makeImage({ config: image.config });
    for (const b of other.layers) await c.pushBlob(name, b.bytes);
    expectPushed(await c.putManifest(name, 'generic', other.manifest, 'application/json'), name, other.manifest);
    // Stored with the type from the document.
    expect((await c.request('HEAD', `/v2/${name}/manifests/generic`)).header('content-type')).toBe(OCI_MANIFEST);
  });
});

describe('what a manifest PUT refuses', () => {
  it('Docker schema 1, signed or not: 400 MANIFEST_INVALID with a message that says so', async () => {
    const { name, c } = await newRepo();
    const schema1 = Buffer.from(JSON.stringify({ schemaVersion: 1, name, tag: 'old', architecture: 'amd64', fsLayers: [{ blobSum: digestOf('x') }], history: [{ v1Compatibility: '{}' }] }));
    for (const type of ['application/vnd.docker.distribution.manifest.v1+prettyjws', 'application/vnd.docker.distribution.manifest.v1+json', 'application/json']) {
      const e = expectError(await c.putManifest(name, 'old', { bytes: schema1, mediaType: type }), 400, 'MANIFEST_INVALID');
      expect(e.message).toMatch(/schema 1/i);
    }
    expectError(await c.request('GET', `/v2/${name}/manifests/old`), 404, 'MANIFEST_UNKNOWN');
  });

  it('a Content-Type that contradicts the document’s mediaType, or an unknown type: 400 MANIFEST_INVALID', async () => {
    const { name, c } = await newRepo();
    const image = makeImage();
    for (const b of image.blobs) await c.pushBlob(name, b.bytes);
    expect(expectError(await c.putManifest(name, 'x', image.manifest, DOCKER_MANIFEST), 400, 'MANIFEST_INVALID').message).toContain('does not match');
    expectError(await c.putManifest(name, 'x', image.manifest, OCI_INDEX), 400, 'MANIFEST_INVALID');
    expectError(await c.putManifest(name, 'x', image.manifest, 'application/vnd.example.unknown+json'), 400, 'MANIFEST_INVALID');
    // No type at all, in the header or the document.
    const untyped = manifestOf({ schemaVersion: 2, config: image.config.descriptor, layers: image.layers.map((l) => l.descriptor) }, '');
    expectError(await c.putManifest(name, 'x', untyped, null), 400, 'MANIFEST_INVALID');
    expect((await c.request('HEAD', `/v2/${name}/manifests/x`)).statusCode).toBe(404);
  });

  it('not JSON, not an object, a wrong schemaVersion, an index with layers: 400 MANIFEST_INVALID', async () => {
    const { name, c } = await newRepo();
    const bad = [
      Buffer.from('not json'),
      Buffer.from('[1,2]'),
      Buffer.from(JSON.stringify({ schemaVersion: 3, mediaType: OCI_MANIFEST })),
      Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'x', digest: 'sha256:1', size: 1 }, layers: [] })),
      Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [], layers: [] })),
      Buffer.from([0xff, 0xfe, 0x7b, 0x7d]),
    ];
    for (const bytes of bad) expectError(await c.putManifest(name, 'bad', { bytes, mediaType: OCI_MANIFEST }), 400, 'MANIFEST_INVALID');
  });

  it('a manifest referencing a blob the repository lacks: 400 MANIFEST_BLOB_UNKNOWN naming it; a wrong size: MANIFEST_INVALID', async () => {
    const { name, c } = await newRepo();
    const image = makeImage({ layers: 2 });
    await c.pushBlob(name, image.config.bytes);
    await c.pushBlob(name, image.layers[0].bytes);
    const e = expectError(await c.putManifest(name, 'v1', image.manifest), 400, 'MANIFEST_BLOB_UNKNOWN');
    expect(e.detail).toEqual({ digest: image.layers[1].descriptor.digest });
    // A blob of another repository does not count.
    const other = await newRepo();
    await other.c.pushBlob(other.name, image.layers[1].bytes);
    expectError(await c.putManifest(name, 'v1', image.manifest), 400, 'MANIFEST_BLOB_UNKNOWN');
    await c.pushBlob(name, image.layers[1].bytes);
    const lying = manifestOf({ ...image.manifest.doc, layers: [{ ...image.layers[0].descriptor, size: 1 }] });
    expectError(await c.putManifest(name, 'v1', lying), 400, 'MANIFEST_INVALID');
    expectError(await c.request('GET', `/v2/${name}/manifests/v1`), 404, 'MANIFEST_UNKNOWN');
    expectPushed(await c.putManifest(name, 'v1', image.manifest), name, image.manifest);
  });

  it('an index whose child is missing: 400 MANIFEST_BLOB_UNKNOWN', async () => {
    const { name, c } = await newRepo();
    const amd = makeImage();
    const missing = makeImage({ platform: { os: 'linux', architecture: 'arm64' } });
    await c.pushImage(name, amd);
    const index = makeIndex([amd.manifest.descriptor, missing.manifest.descriptor]);
    const e = expectError(await c.putManifest(name, 'multi', index), 400, 'MANIFEST_BLOB_UNKNOWN');
    expect(e.detail).toEqual({ digest: missing.manifest.digest });
  });

  it('a manifest over 4 MiB: 413; one of exactly 4 MiB is accepted', async () => {
    const { name, c } = await newRepo();
    const empty = blobOf('{}', OCI_EMPTY);
    await c.pushBlob(name, empty.bytes);
    const sized = (total: number) => {
      const base = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: empty.descriptor, layers: [], annotations: { pad: '' } });
      const doc = { schemaVersion: 2, mediaType: OCI_MANIFEST, config: empty.descriptor, layers: [], annotations: { pad: 'x'.repeat(total - base.length) } };
      const m = manifestOf(doc);
      expect(m.bytes.length).toBe(total);
      return m;
    };
    const limit = 4 * 1024 * 1024;
    const over = await c.putManifest(name, 'big', sized(limit + 1));
    expect(over.statusCode).toBe(413);
    expect(over.json().errors[0].code).toBe('MANIFEST_INVALID');
    const max = sized(limit);
    expectPushed(await c.putManifest(name, 'big', max), name, max);
  });

  it('a PUT by digest whose body has another digest: 400 DIGEST_INVALID; a malformed tag: 400', async () => {
    const { name, c } = await newRepo();
    const image = makeImage();
    for (const b of image.blobs) await c.pushBlob(name, b.bytes);
    expectError(await c.putManifest(name, digestOf('other'), image.manifest), 400, 'DIGEST_INVALID');
    expectError(await c.putManifest(name, 'sha256:short', image.manifest), 400, 'DIGEST_INVALID');
    expectError(await c.putManifest(name, '-bad', image.manifest), 400, 'MANIFEST_INVALID');
    expectError(await c.putManifest(name, 'x'.repeat(129), image.manifest), 400, 'MANIFEST_INVALID');
    expectError(await c.request('GET', `/v2/${name}/manifests/${image.manifest.digest}`), 404, 'MANIFEST_UNKNOWN');
  });

  it('a pull-only token cannot push (401 with the push challenge)', async () => {
    const { name, c } = await newRepo();
    const image = makeImage();
    for (const b of image.blobs) await c.pushBlob(name, b.bytes);
    const reader = await RegistryClient.login(t, alice, repoScope(name, 'pull'));
    const res = await reader.putManifest(name, 'v1', image.manifest);
    expectError(res, 401, 'UNAUTHORIZED');
    expect(res.header('www-authenticate')).toContain(`scope="repository:${name}:pull,push"`);
  });
});

describe('PUT by digest with ?tag=', () => {
  it('tags the manifest with each tag and says so in OCI-Tag', async () => {
    const { name, c } = await newRepo();
    const image = makeImage();
    for (const b of image.blobs) await c.pushBlob(name, b.bytes);
    const res = await c.putManifest(name, `${image.manifest.digest}?tag=1.2.3&tag=1.2&tag=latest`, image.manifest);
    expectPushed(res, name, image.manifest);
    expect(res.header('oci-tag')!.split(/,\s*/).sort()).toEqual(['1.2', '1.2.3', 'latest']);
    for (const tag of ['1.2.3', '1.2', 'latest']) await expectManifest(c, name, tag, image.manifest);
    // Without ?tag= the manifest is stored untagged (and not listed).
    const untagged = makeImage({ config: image.config, layers: 1 });
    for (const b of untagged.layers) await c.pushBlob(name, b.bytes);
    const plain = await c.putManifest(name, untagged.manifest.digest, untagged.manifest);
    expectPushed(plain, name, untagged.manifest);
    expect(plain.header('oci-tag')).toBeUndefined();
    const list = await c.request('GET', `/v2/${name}/tags/list`);
    expect(list.json().tags).toEqual(['1.2', '1.2.3', 'latest']);
  });

  it('refuses an invalid tag among them, and tags nothing', async () => {
    const { name, c } = await newRepo();
    const image = makeImage();
    for (const b of image.blobs) await c.pushBlob(name, b.bytes);
    expectError(await c.putManifest(name, `${image.manifest.digest}?tag=ok&tag=-bad`, image.manifest), 400, 'MANIFEST_INVALID');
    expectError(await c.request('GET', `/v2/${name}/manifests/ok`), 404, 'MANIFEST_UNKNOWN');
  });
});

describe('content negotiation (Accept)', () => {
  let name: string;
  let c: RegistryClient;
  let amd: ReturnType<typeof makeImage>;
  let arm: ReturnType<typeof makeImage>;
  let index: Manifest;
  beforeAll(async () => {
    ({ name, c } = await newRepo());
    arm = makeImage({ platform: { os: 'linux', architecture: 'arm64' } });
    amd = makeImage();
    await c.pushImage(name, arm);
    await c.pushImage(name, amd);
    // arm64 first, so "the first child" and "linux/amd64" differ.
    index = makeIndex([arm.manifest.descriptor, amd.manifest.descriptor]);
    await c.pushManifest(name, index, 'multi');
  });

  it('serves the index to a client that accepts it, or accepts anything, or sends no Accept', async () => {
    await expectManifest(c, name, 'multi', index, `${OCI_MANIFEST}, ${OCI_INDEX}`);
    await expectManifest(c, name, 'multi', index, '*/*');
    await expectManifest(c, name, 'multi', index);
    await expectManifest(c, name, 'multi', index, `${OCI_INDEX};q=0.5`);
  });

  it('serves the linux/amd64 child to a client that accepts only image manifests', async () => {
    await expectManifest(c, name, 'multi', amd.manifest, OCI_MANIFEST);
    await expectManifest(c, name, 'multi', amd.manifest, `${DOCKER_MANIFEST}, ${OCI_MANIFEST}`);
  });

  it('answers 404 MANIFEST_UNKNOWN when the client accepts nothing stored', async () => {
    expectError(await c.request('GET', `/v2/${name}/manifests/${amd.manifest.digest}`, { headers: { accept: DOCKER_MANIFEST } }), 404, 'MANIFEST_UNKNOWN');
    expectError(await c.request('GET', `/v2/${name}/manifests/multi`, { headers: { accept: 'application/vnd.example+json' } }), 404, 'MANIFEST_UNKNOWN');
  });
});

describe('referrers', () => {
  it('lists the manifests whose subject is a digest, filters by artifactType, and answers an empty index for an unknown subject', async () => {
    const { name, c } = await newRepo();
    const subject = makeImage();
    await c.pushImage(name, subject, 'app');
    const empty = blobOf('{}', OCI_EMPTY);
    const sbom = makeImage({ config: empty, artifactType: 'application/vnd.example.sbom.v1', subject: subject.manifest.descriptor, annotations: { 'org.opencontainers.image.created': '2026-01-01T00:00:00Z' } });
    const sig = makeImage({ config: empty, artifactType: 'application/vnd.example.sig.v1', subject: subject.manifest.descriptor });
    // No artifactType: the config's media type stands in for it.
    const legacy = makeImage({ config: blobOf('{"x":1}', 'application/vnd.example.legacy.config.v1+json'), subject: subject.manifest.descriptor });
    const listed = makeIndex([], { artifactType: 'application/vnd.example.list.v1', subject: subject.manifest.descriptor });
    for (const a of [sbom, sig, legacy]) {
      const res = await c.pushImage(name, a);
      expect(res.header('oci-subject')).toBe(subject.manifest.digest);
    }
    expect((await c.pushManifest(name, listed)).header('oci-subject')).toBe(subject.manifest.digest);

    const res = await c.request('GET', `/v2/${name}/referrers/${subject.manifest.digest}`);
    expect(res.statusCode).toBe(200);
    expect(res.header('content-type')).toBe(OCI_INDEX);
    expect(res.header('oci-filters-applied')).toBeUndefined();
    const body = res.json();
    expect(body.schemaVersion).toBe(2);
    expect(body.mediaType).toBe(OCI_INDEX);
    const byDigest = new Map<string, any>(body.manifests.map((d: any) => [d.digest, d]));
    expect(byDigest.size).toBe(4);
    expect(byDigest.get(sbom.manifest.digest)).toEqual({
      mediaType: OCI_MANIFEST,
      digest: sbom.manifest.digest,
      size: sbom.manifest.bytes.length,
      artifactType: 'application/vnd.example.sbom.v1',
      annotations: { 'org.opencontainers.image.created': '2026-01-01T00:00:00Z' },
    });
    expect(byDigest.get(legacy.manifest.digest).artifactType).toBe('application/vnd.example.legacy.config.v1+json');
    expect(byDigest.get(listed.digest)).toMatchObject({ mediaType: OCI_INDEX, artifactType: 'application/vnd.example.list.v1' });

    const filtered = await c.request('GET', `/v2/${name}/referrers/${subject.manifest.digest}?artifactType=${encodeURIComponent('application/vnd.example.sig.v1')}`);
    expect(filtered.statusCode).toBe(200);
    expect(filtered.header('oci-filters-applied')).toBe('artifactType');
    expect(filtered.json().manifests.map((d: any) => d.digest)).toEqual([sig.manifest.digest]);

    const none = await c.request('GET', `/v2/${name}/referrers/${digestOf('nothing')}`);
    expect(none.statusCode).toBe(200);
    expect(none.header('content-type')).toBe(OCI_INDEX);
    expect(none.json()).toEqual({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] });
    expectError(await c.request('GET', `/v2/${name}/referrers/sha256:bad`), 400, 'DIGEST_INVALID');
  });

  it('accepts a referrer pushed before its subject, and forgets a deleted referrer', async () => {
    const { name, c } = await newRepo();
    const subject = makeImage();
    const empty = blobOf('{}', OCI_EMPTY);
    const early = makeImage({ config: empty, artifactType: 'application/vnd.example.early', subject: subject.manifest.descriptor });
    expect((await c.pushImage(name, early)).header('oci-subject')).toBe(subject.manifest.digest);
    const list = async () => (await c.request('GET', `/v2/${name}/referrers/${subject.manifest.digest}`)).json().manifests.map((d: any) => d.digest);
    expect(await list()).toEqual([early.manifest.digest]);
    await c.pushImage(name, subject, 'app');
    expect(await list()).toEqual([early.manifest.digest]);
    expect((await c.request('DELETE', `/v2/${name}/manifests/${early.manifest.digest}`)).statusCode).toBe(202);
    expect(await list()).toEqual([]);
  });
});

describe('deleting tags and manifests', () => {
  it('DELETE by tag (202): the tag answers MANIFEST_UNKNOWN with Quay’s message; the manifest stays by digest', async () => {
    const { name, c } = await newRepo();
    const image = makeImage();
    await c.pushImage(name, image, 'v1');
    await c.pushManifest(name, image.manifest, 'v2');
    const del = await c.request('DELETE', `/v2/${name}/manifests/v1`);
    expect(del.statusCode).toBe(202);
    const e = expectError(await c.request('GET', `/v2/${name}/manifests/v1`), 404, 'MANIFEST_UNKNOWN');
    expect(e.message).toBe('Tag v1 was deleted or has expired. To pull, revive via time machine');
    expect((await c.request('HEAD', `/v2/${name}/manifests/v1`)).statusCode).toBe(404);
    await expectManifest(c, name, image.manifest.digest, image.manifest);
    await expectManifest(c, name, 'v2', image.manifest);
    expect((await c.request('GET', `/v2/${name}/tags/list`)).json().tags).toEqual(['v2']);
    // Deleting it again, or a tag that never was: 404; only the first says it was deleted.
    expectError(await c.request('DELETE', `/v2/${name}/manifests/v1`), 404, 'MANIFEST_UNKNOWN');
    const never = expectError(await c.request('GET', `/v2/${name}/manifests/never`), 404, 'MANIFEST_UNKNOWN');
    expect(never.message).not.toContain('deleted');
    // Pushing the tag again brings it back.
    await c.pushManifest(name, image.manifest, 'v1');
    await expectManifest(c, name, 'v1', image.manifest);
  });

  it('DELETE by digest (202) removes the manifest and every tag pointing at it', async () => {
    const { name, c } = await newRepo();
    const image = makeImage();
    await c.pushImage(name, image, 'a');
    await c.pushManifest(name, image.manifest, 'b');
    expect((await c.request('DELETE', `/v2/${name}/manifests/${image.manifest.digest}`)).statusCode).toBe(202);
    expectError(await c.request('GET', `/v2/${name}/manifests/${image.manifest.digest}`), 404, 'MANIFEST_UNKNOWN');
    expectError(await c.request('GET', `/v2/${name}/manifests/a`), 404, 'MANIFEST_UNKNOWN');
    expectError(await c.request('GET', `/v2/${name}/manifests/b`), 404, 'MANIFEST_UNKNOWN');
    expect((await c.request('GET', `/v2/${name}/tags/list`)).json().tags).toEqual([]);
    expectError(await c.request('DELETE', `/v2/${name}/manifests/${image.manifest.digest}`), 404, 'MANIFEST_UNKNOWN');
    // The blobs remain until the garbage collector decides.
    expect((await c.request('HEAD', `/v2/${name}/blobs/${image.config.descriptor.digest}`)).statusCode).toBe(200);
  });

  it('a manifest an index lists cannot be deleted before the index', async () => {
    const { name, c } = await newRepo();
    const child = makeImage();
    await c.pushImage(name, child);
    const index = makeIndex([child.manifest.descriptor]);
    await c.pushManifest(name, index, 'multi');
    const refused = await c.request('DELETE', `/v2/${name}/manifests/${child.manifest.digest}`);
    expect(refused.statusCode).toBe(409);
    expect(refused.json().errors[0].code).toBe('DENIED');
    await expectManifest(c, name, child.manifest.digest, child.manifest);
    expect((await c.request('DELETE', `/v2/${name}/manifests/${index.digest}`)).statusCode).toBe(202);
    expect((await c.request('DELETE', `/v2/${name}/manifests/${child.manifest.digest}`)).statusCode).toBe(202);
  });

  it('a reference that is neither a tag nor a digest is unknown (404) on GET and DELETE', async () => {
    const { name, c } = await newRepo();
    for (const ref of ['-x', 'a'.repeat(200), 'sha256:zz']) {
      expectError(await c.request('GET', `/v2/${name}/manifests/${encodeURIComponent(ref)}`), 404, 'MANIFEST_UNKNOWN');
      expectError(await c.request('DELETE', `/v2/${name}/manifests/${encodeURIComponent(ref)}`), 404, 'MANIFEST_UNKNOWN');
    }
  });
});
