// MANIFEST section (part1 §8) after real /v2 pushes: the 3.6 manifest view with layers from the
// image config's history, labels copied from the config at push (immutable) and added through the
// API (key rules, reserved prefixes, media types), their audit kinds, and quay.expires-after
// giving tags their end at push, on a move and on a restore.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp, type TestApp } from '../helpers/app.js';
import { auditRows, bearer, makeUser, tokenFor, uniqueName, type TestUser } from '../helpers/factories.js';
import { blobOf, DOCKER_CONFIG, makeImage, makeIndex, OCI_CONFIG, RegistryClient, repoScope } from '../helpers/registry.js';

let t: TestApp;
let alice: TestUser;
let h: Record<string, string>;

beforeAll(async () => {
  t = await testApp();
  alice = await makeUser(t);
  h = bearer(await tokenFor(t, alice, 'repo:read repo:write repo:admin repo:create'));
});
afterAll(() => t?.close());

const HISTORY = [
  { created: '2024-06-10T18:00:00Z', created_by: '/bin/sh -c #(nop) ADD file:abc in / ', comment: 'base' },
  { created: '2024-06-10T18:00:01Z', created_by: '/bin/sh -c #(nop)  CMD ["sh"]', empty_layer: true },
  { created: '2024-06-11T09:30:00Z', created_by: '["/bin/sh","-c","apk add curl"]', author: 'someone' },
];

function labelledImage(labels: Record<string, string>, o: { docker?: boolean } = {}) {
  const config = blobOf(
    JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Labels: labels }, history: HISTORY, rootfs: { type: 'layers', diff_ids: [] }, nonce: uniqueName('n') }),
    o.docker ? DOCKER_CONFIG : OCI_CONFIG,
  );
  return makeImage({ config, layers: 2, format: o.docker ? 'docker' : 'oci' });
}

async function newRepo() {
  const name = `${alice.username}/${uniqueName('mf')}`;
  return { name, c: await RegistryClient.login(t, alice, repoScope(name)), api: `/api/v1/repository/${name}` };
}

describe('getRepoManifest', () => {
  it('shows the manifest, its layers with the config history, and the placeholder image', async () => {
    const { name, c, api } = await newRepo();
    const img = labelledImage({ 'org.example.a': 'b' }, { docker: true });
    await c.pushImage(name, img, 'latest');
    const res = await t.inject({ method: 'GET', url: `${api}/manifest/${img.manifest.digest}`, headers: h });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ digest: img.manifest.digest, is_manifest_list: false, manifest_data: img.manifest.bytes.toString(), config_media_type: DOCKER_CONFIG });
    expect(body.layers).toEqual([
      {
        index: 0, compressed_size: img.layers[0].bytes.length, is_remote: false, urls: null, command: ['/bin/sh -c #(nop) ADD file:abc in / '],
        comment: 'base', author: null, blob_digest: img.layers[0].descriptor.digest, created_datetime: 'Mon, 10 Jun 2024 18:00:00 -0000',
      },
      {
        index: 1, compressed_size: img.layers[1].bytes.length, is_remote: false, urls: null, command: ['/bin/sh', '-c', 'apk add curl'],
        comment: null, author: 'someone', blob_digest: img.layers[1].descriptor.digest, created_datetime: 'Tue, 11 Jun 2024 09:30:00 -0000',
      },
    ]);
    expect(body.image).toMatchObject({ id: expect.stringMatching(/^[0-9a-f]{64}$/), comment: '', command: '', size: 0, uploading: false, sort_index: 0, ancestors: '' });
    // The same id every time: derived, not random.
    expect((await t.inject({ method: 'GET', url: `${api}/manifest/${img.manifest.digest}`, headers: h })).json().image.id).toBe(body.image.id);

    // An index: no layers, no config type.
    const index = makeIndex([img.manifest.descriptor]);
    await c.pushManifest(name, index, 'multi');
    const list = (await t.inject({ method: 'GET', url: `${api}/manifest/${index.digest}`, headers: h })).json();
    expect(list).toMatchObject({ is_manifest_list: true, layers: null, config_media_type: null });
    // The child of a live index is found too.
    expect((await t.inject({ method: 'DELETE', url: `${api}/tag/latest`, headers: h })).statusCode).toBe(204);
    expect((await t.inject({ method: 'GET', url: `${api}/manifest/${img.manifest.digest}`, headers: h })).statusCode).toBe(200);
  });

  it('answers 404 for a manifest no live tag holds, a tag name, a malformed or unknown digest', async () => {
    const { name, c, api } = await newRepo();
    const img = makeImage();
    await c.pushImage(name, img, 'x');
    await t.inject({ method: 'DELETE', url: `${api}/tag/x`, headers: h });
    for (const ref of [img.manifest.digest, 'x', 'sha256:zz', `sha256:${'0'.repeat(64)}`, 'sha256:']) {
      expect((await t.inject({ method: 'GET', url: `${api}/manifest/${ref}`, headers: h })).statusCode, ref).toBe(404);
    }
  });
});

describe('manifest labels', () => {
  it('copies the image config’s labels at push (immutable), lists them with a prefix filter, adds and deletes API labels', async () => {
    const { name, c, api } = await newRepo();
    const img = labelledImage({ 'org.opencontainers.image.url': 'https://example.com', 'com.example.Data': '{"a": [1]}' });
    await c.pushImage(name, img, 'latest');
    const base = `${api}/manifest/${img.manifest.digest}/labels`;

    let list = (await t.inject({ method: 'GET', url: base, headers: h })).json().labels as { id: string; key: string; value: string; source_type: string; media_type: string }[];
    expect(list.map((l) => [l.key, l.source_type, l.media_type]).sort()).toEqual([
      ['com.example.Data', 'manifest', 'application/json'],
      ['org.opencontainers.image.url', 'manifest', 'text/plain'],
    ]);
    const fromConfig = list.find((l) => l.key === 'org.opencontainers.image.url')!;
    expect(fromConfig.id).toMatch(/^[0-9a-f-]{36}$/);
    expect((await t.inject({ method: 'GET', url: `${base}?filter=ORG.open`, headers: h })).json().labels).toHaveLength(1);
    const one = await t.inject({ method: 'GET', url: `${base}/${fromConfig.id}`, headers: h });
    expect(one.json()).toEqual(fromConfig);
    const immutable = await t.inject({ method: 'DELETE', url: `${base}/${fromConfig.id}`, headers: h });
    expect(immutable.statusCode).toBe(400);
    expect(immutable.json().message).toBe('Cannot delete immutable label');

    const added = await t.inject({ method: 'POST', url: base, headers: h, payload: { key: 'my.label', value: '[1,2]', media_type: null } });
    expect(added.statusCode, added.body).toBe(201);
    const label = added.json().label;
    expect(label).toMatchObject({ key: 'my.label', value: '[1,2]', source_type: 'api', media_type: 'application/json' });
    expect(added.headers.location).toBe(`/api/v1/repository/${name}/manifest/${img.manifest.digest}/labels/${label.id}`);
    expect((await auditRows(t, 'manifest_label_add')).at(-1)!.metadata).toMatchObject({
      id: label.id, key: 'my.label', value: '[1,2]', manifest_digest: img.manifest.digest, media_type: 'application/json', namespace: alice.username, repo: name.split('/')[1],
    });
    // The same key twice: two labels.
    expect((await t.inject({ method: 'POST', url: base, headers: h, payload: { key: 'my.label', value: 'x', media_type: 'text/plain' } })).statusCode).toBe(201);
    list = (await t.inject({ method: 'GET', url: `${base}?filter=my.`, headers: h })).json().labels;
    expect(list).toHaveLength(2);

    expect((await t.inject({ method: 'DELETE', url: `${base}/${label.id}`, headers: h })).statusCode).toBe(204);
    expect((await auditRows(t, 'manifest_label_delete')).at(-1)!.metadata).toMatchObject({ id: label.id, key: 'my.label', value: '[1,2]', manifest_digest: img.manifest.digest });
    expect((await t.inject({ method: 'GET', url: `${base}/${label.id}`, headers: h })).statusCode).toBe(404);
    expect((await t.inject({ method: 'DELETE', url: `${base}/${label.id}`, headers: h })).statusCode).toBe(404);
  });

  it('refuses reserved prefixes, malformed keys and unknown media types, in Quay’s order, adding nothing', async () => {
    const { name, c, api } = await newRepo();
    const img = makeImage();
    await c.pushImage(name, img, 'latest');
    const base = `${api}/manifest/${img.manifest.digest}/labels`;
    const post = (payload: object, url = base) => t.inject({ method: 'POST', url, headers: h, payload });
    for (const key of ['quay.expires-after', 'io.quay.x', 'com.docker.x', 'org.opencontainers.image.url', 'internal.x', 'QUAY.x']) {
      const r = await post({ key, value: 'v', media_type: null });
      expect(r.statusCode, key).toBe(400);
      expect(r.json().message).toBe('Label has a reserved prefix');
    }
    // The prefix is checked before the manifest is looked up.
    expect((await post({ key: 'quay.x', value: 'v', media_type: null }, `${api}/manifest/sha256:${'0'.repeat(64)}/labels`)).statusCode).toBe(400);
    expect((await post({ key: 'ok', value: 'v', media_type: null }, `${api}/manifest/sha256:${'0'.repeat(64)}/labels`)).statusCode).toBe(404);
    for (const key of ['', 'Upper', 'a..b', 'a.-b', '-a', 'a-', 'a b', 'ü', 'a'.repeat(256)]) {
      const r = await post({ key, value: 'v', media_type: null });
      expect(r.statusCode, key).toBe(400);
      expect(r.json().message).toMatch(/^Label is of an invalid format or missing please use/);
    }
    const badType = await post({ key: 'fine', value: 'v', media_type: 'text/html' });
    expect(badType.statusCode).toBe(400);
    expect(badType.json().message).toBe('Media type is invalid please use a valid media type: text/plain, application/json');
    for (const payload of [{ key: 'fine', value: 'v' }, { value: 'v', media_type: null }, { key: 'fine', media_type: null }, { key: 1, value: 'v', media_type: null }]) {
      const r = await post(payload);
      expect(r.statusCode).toBe(400);
      expect(r.json().error_type).toBe('invalid_request');
    }
    expect((await t.inject({ method: 'GET', url: base, headers: h })).json().labels).toEqual([]);
  });

  it('honours LABEL_KEY_RESERVED_PREFIXES', async () => {
    const t2 = await testApp({ LABEL_KEY_RESERVED_PREFIXES: 'acme.,corp' });
    try {
      const bob = await makeUser(t2);
      const name = `${bob.username}/${uniqueName('mf')}`;
      const c = await RegistryClient.login(t2, bob, repoScope(name));
      const img = makeImage();
      await c.pushImage(name, img, 'latest');
      const hb = bearer(await tokenFor(t2, bob, 'repo:write'));
      const url = `/api/v1/repository/${name}/manifest/${img.manifest.digest}/labels`;
      expect((await t2.inject({ method: 'POST', url, headers: hb, payload: { key: 'acme.x', value: 'v', media_type: null } })).statusCode).toBe(400);
      expect((await t2.inject({ method: 'POST', url, headers: hb, payload: { key: 'corporate', value: 'v', media_type: null } })).statusCode).toBe(400);
      expect((await t2.inject({ method: 'POST', url, headers: hb, payload: { key: 'other', value: 'v', media_type: null } })).statusCode).toBe(201);
    } finally {
      await t2.close();
    }
  });
});

describe('quay.expires-after', () => {
  it('ends tags pointed at the manifest that long after they start: at push, on a move, on a restore', async () => {
    const { name, c, api } = await newRepo();
    const img = labelledImage({ 'quay.expires-after': '2d' });
    await c.pushImage(name, img, 'temp');
    const hist = async (tag: string) => (await t.inject({ method: 'GET', url: `${api}/tag/?specificTag=${tag}&onlyActiveTags=true`, headers: h })).json().tags[0];
    let x = await hist('temp');
    expect(x.end_ts - x.start_ts).toBe(2 * 86400);

    expect((await t.inject({ method: 'PUT', url: `${api}/tag/moved`, headers: h, payload: { manifest_digest: img.manifest.digest } })).statusCode).toBe(201);
    x = await hist('moved');
    expect(x.end_ts - x.start_ts).toBe(2 * 86400);
    expect((await t.inject({ method: 'POST', url: `${api}/tag/again/restore`, headers: h, payload: { manifest_digest: img.manifest.digest } })).statusCode).toBe(200);
    x = await hist('again');
    expect(x.end_ts - x.start_ts).toBe(2 * 86400);

    // Not a duration: ignored.
    const plain = labelledImage({ 'quay.expires-after': 'soon' });
    await c.pushImage(name, plain, 'kept');
    expect((await hist('kept')).end_ts).toBeUndefined();
    // Below the minimum (1 hour): brought up to it.
    const short = labelledImage({ 'quay.expires-after': '30s' });
    await c.pushImage(name, short, 'short');
    x = await hist('short');
    expect(x.end_ts - x.start_ts).toBe(3600);
  });
});

describe('IMAGE (the 3.6 legacy views)', () => {
  it('lists one image per manifest live tags hold, and shows each layer with its ancestors', async () => {
    const { name, c, api } = await newRepo();
    const img = labelledImage({});
    const other = makeImage();
    await c.pushImage(name, img, 'a');
    await c.pushManifest(name, img.manifest, 'b');
    await c.pushImage(name, other, 'c');
    await t.inject({ method: 'DELETE', url: `${api}/tag/c`, headers: h });

    const res = await t.inject({ method: 'GET', url: `${api}/image/`, headers: h });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers.deprecation).toBe('true');
    const images = res.json().images as { id: string; tags: string[]; created: string; ancestors: string; size: number }[];
    expect(images).toHaveLength(1);
    expect(images[0]).toMatchObject({ tags: ['a', 'b'], comment: '', command: '', size: 0, uploading: false, sort_index: 0, ancestors: '' });
    const rootId = images[0].id;
    expect((await t.inject({ method: 'GET', url: `${api}/manifest/${img.manifest.digest}`, headers: h })).json().image.id).toBe(rootId);

    // The root id names the top layer; its ancestor is the base layer, whose ancestors are "//".
    const leaf = await t.inject({ method: 'GET', url: `${api}/image/${rootId}`, headers: h });
    expect(leaf.statusCode, leaf.body).toBe(200);
    expect(leaf.headers.deprecation).toBe('true');
    const top = leaf.json();
    expect(top).toMatchObject({ id: rootId, command: ['/bin/sh', '-c', 'apk add curl'], size: img.layers[1].bytes.length, created: 'Tue, 11 Jun 2024 09:30:00 -0000' });
    expect(top.ancestors).toMatch(/^\/[0-9a-f]{64}\/$/);
    const parentId = top.ancestors.slice(1, -1);
    const base = (await t.inject({ method: 'GET', url: `${api}/image/${parentId}`, headers: h })).json();
    expect(base).toMatchObject({ id: parentId, command: ['/bin/sh -c #(nop) ADD file:abc in / '], comment: 'base', size: img.layers[0].bytes.length, ancestors: '//' });

    // Ids that are not this install's, or of another repository's manifest: 404.
    const elsewhere = await newRepo();
    for (const [url, why] of [
      [`${elsewhere.api}/image/${rootId}`, 'another repository'],
      [`${api}/image/${'0'.repeat(64)}`, 'forged'],
      [`${api}/image/${rootId.slice(0, 63)}x`, 'malformed'],
      [`${api}/image/${rootId.toUpperCase()}`, 'upper case'],
    ]) {
      expect((await t.inject({ method: 'GET', url, headers: h })).statusCode, why).toBe(404);
    }
  });
});
