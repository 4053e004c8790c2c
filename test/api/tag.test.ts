// TAG section (part2 §11) after real pushes through /v2: the history with its lifetimes, creating
// and moving tags, expirations (clamped, as Quay), deleting and restoring (the time machine), the
// deprecated image list, the audit kinds with Quay's metadata, and what is refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditRows, bearer, makeUser, tokenFor, uniqueName, type TestUser } from '../helpers/factories.js';
import { collectGarbage } from '../../src/jobs/gc.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { expectError, makeImage, makeIndex, RegistryClient, repoScope, type Manifest } from '../helpers/registry.js';

let t: TestApp;
let alice: TestUser;
let h: Record<string, string>;

beforeAll(async () => {
  t = await testApp();
  alice = await makeUser(t);
  h = bearer(await tokenFor(t, alice, 'repo:read repo:write repo:admin repo:create'));
});
afterAll(() => t?.close());

interface Item {
  name: string;
  reversion: boolean;
  start_ts?: number;
  end_ts?: number;
  manifest_digest: string;
  is_manifest_list: boolean;
  size: number | null;
  last_modified?: string;
  expiration?: string;
}

async function newRepo() {
  const name = `${alice.username}/${uniqueName('tags')}`;
  const c = await RegistryClient.login(t, alice, repoScope(name));
  return { name, c, api: `/api/v1/repository/${name}` };
}

async function history(api: string, query = ''): Promise<{ tags: Item[]; page: number; has_additional: boolean }> {
  const res = await t.inject({ method: 'GET', url: `${api}/tag/${query}`, headers: h });
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

const change = (api: string, tag: string, payload: object) => t.inject({ method: 'PUT', url: `${api}/tag/${tag}`, headers: h, payload });
const restore = (api: string, tag: string, payload: object) => t.inject({ method: 'POST', url: `${api}/tag/${tag}/restore`, headers: h, payload });
const remove = (api: string, tag: string) => t.inject({ method: 'DELETE', url: `${api}/tag/${tag}`, headers: h });
const layerBytes = (m: Manifest) => (JSON.parse(m.bytes.toString()) as { layers: { size: number }[] }).layers.reduce((s, l) => s + l.size, 0);

async function pulled(c: RegistryClient, name: string, tag: string): Promise<string | number> {
  const res = await c.request('GET', `/v2/${name}/manifests/${tag}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json' } });
  return res.statusCode === 200 ? res.header('docker-content-digest')! : res.statusCode;
}

describe('listRepoTags', () => {
  it('lists every visible lifetime, newest first, with Quay’s fields; never the hidden ones', async () => {
    const { name, c, api } = await newRepo();
    const one = makeImage({ layers: 2 });
    const two = makeImage();
    await c.pushImage(name, one, 'latest');
    await c.pushImage(name, two, 'latest'); // moves latest: the first lifetime ends
    await c.pushImage(name, one, 'stable');
    await c.pushImage(name, makeImage()); // by digest: held by a hidden tag, never listed
    const index = makeIndex([one.manifest.descriptor, two.manifest.descriptor]);
    await c.pushManifest(name, index, 'multi');

    const page = await history(api);
    expect(page.page).toBe(1);
    expect(page.has_additional).toBe(false);
    expect(page.tags.map((x) => [x.name, x.manifest_digest, x.end_ts === undefined])).toEqual([
      ['multi', index.digest, true],
      ['stable', one.manifest.digest, true],
      ['latest', two.manifest.digest, true],
      ['latest', one.manifest.digest, false],
    ]);
    const [multi, stable, , oldLatest] = page.tags;
    expect(multi).toMatchObject({ is_manifest_list: true, size: null, reversion: false });
    expect(stable).toMatchObject({ is_manifest_list: false, size: layerBytes(one.manifest), reversion: false });
    expect(Object.keys(stable)).toEqual(['name', 'reversion', 'start_ts', 'manifest_digest', 'is_manifest_list', 'size', 'last_modified']);
    expect(stable.start_ts).toBeGreaterThan(Date.now() / 1000 - 60);
    expect(stable.last_modified).toMatch(/^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} -0000$/);
    expect(oldLatest.expiration).toMatch(/ -0000$/);
    expect(oldLatest.end_ts).toBeGreaterThanOrEqual(oldLatest.start_ts!);

    expect((await history(api, '?onlyActiveTags=true')).tags.map((x) => x.name)).toEqual(['multi', 'stable', 'latest']);
    expect((await history(api, '?specificTag=latest')).tags.map((x) => x.manifest_digest)).toEqual([two.manifest.digest, one.manifest.digest]);
    expect((await history(api, '?specificTag=latest&onlyActiveTags=1')).tags).toHaveLength(1);
    expect((await history(api, '?specificTag=nope')).tags).toEqual([]);
  });

  it('pages with limit (1–100, clamped) and has_additional', async () => {
    const { name, c, api } = await newRepo();
    const img = makeImage();
    await c.pushImage(name, img, 't0');
    for (let i = 1; i < 5; i++) await c.pushManifest(name, img.manifest, `t${i}`);
    const first = await history(api, '?limit=2');
    expect(first.tags).toHaveLength(2);
    expect(first.has_additional).toBe(true);
    const third = await history(api, '?limit=2&page=3');
    expect(third).toMatchObject({ page: 3, has_additional: false });
    expect(third.tags).toHaveLength(1);
    const all = [...first.tags, ...(await history(api, '?limit=2&page=2')).tags, ...third.tags].map((x) => x.name);
    expect(new Set(all).size).toBe(5);
    expect((await history(api, '?limit=0')).tags).toHaveLength(1);
    expect((await history(api, '?limit=-5&page=-2')).page).toBe(1);
    expect((await history(api, '?limit=1000')).tags).toHaveLength(5);
    expect((await history(api, '?limit=5')).has_additional).toBe(false);
    expect((await history(api, '?page=1000000000')).tags).toEqual([]);
    expect((await t.inject({ method: 'GET', url: `${api}/tag/?page=99999999999999999999`, headers: h })).statusCode).toBe(400);
    for (const [q, field] of [['limit=abc', 'limit'], ['page=1.5', 'page']]) {
      const res = await t.inject({ method: 'GET', url: `${api}/tag/?${q}`, headers: h });
      expect(res.statusCode, res.body).toBe(400);
      expect(JSON.stringify(res.json())).toContain(field);
    }
  });

  it('answers for a public repository without credentials, and 404 for a missing one', async () => {
    const { name, c, api } = await newRepo();
    await c.pushImage(name, makeImage(), 'latest');
    expect((await t.inject({ method: 'GET', url: `${api}/tag/` })).statusCode).toBe(401);
    await t.inject({ method: 'POST', url: `${api}/changevisibility`, headers: h, payload: { visibility: 'public' } });
    const res = await t.inject({ method: 'GET', url: `${api}/tag/` });
    expect(res.statusCode).toBe(200);
    expect(res.json().tags).toHaveLength(1);
    expect((await t.inject({ method: 'GET', url: `/api/v1/repository/${alice.username}/missing${uniqueName('x')}/tag/`, headers: h })).statusCode).toBe(404);
  });
});

describe('changeTag', () => {
  it('creates and moves tags to manifests live tags hold (201 "Updated"), logging create_tag and move_tag', async () => {
    const { name, c, api } = await newRepo();
    const one = makeImage();
    const two = makeImage();
    await c.pushImage(name, one, 'a');
    await c.pushImage(name, two, 'b');

    let res = await change(api, 'new', { manifest_digest: one.manifest.digest });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toBe('Updated');
    expect(await pulled(c, name, 'new')).toBe(one.manifest.digest);
    const created = (await auditRows(t, 'create_tag')).at(-1)!;
    expect(created.metadata).toMatchObject({
      username: alice.username, repo: name.split('/')[1], tag: 'new', namespace: alice.username, image: null,
      manifest_digest: one.manifest.digest, original_manifest_digest: null,
    });

    res = await change(api, 'new', { manifest_digest: two.manifest.digest });
    expect(res.statusCode).toBe(201);
    expect(await pulled(c, name, 'new')).toBe(two.manifest.digest);
    expect((await auditRows(t, 'move_tag')).at(-1)!.metadata).toMatchObject({ tag: 'new', manifest_digest: two.manifest.digest, original_manifest_digest: one.manifest.digest });

    // The same manifest again: a new lifetime all the same, as Quay's retarget.
    expect((await change(api, 'new', { manifest_digest: two.manifest.digest })).statusCode).toBe(201);
    expect((await history(api, '?specificTag=new')).tags.map((x) => x.manifest_digest)).toEqual([two.manifest.digest, two.manifest.digest, one.manifest.digest]);

    // Nothing asked, nothing done: still 201.
    expect((await change(api, 'new', {})).statusCode).toBe(201);
  });

  it('refuses a bad name, an unknown digest and a manifest only dead tags hold, changing nothing', async () => {
    const { name, c, api } = await newRepo();
    const one = makeImage();
    const two = makeImage();
    await c.pushImage(name, one, 'a');
    await c.pushImage(name, two, 'a'); // one is now held by a dead lifetime only
    const before = await history(api);
    for (const bad of ['-x', '.x', 'a'.repeat(129), 'a%20b']) {
      const res = await change(api, bad, { manifest_digest: two.manifest.digest });
      expect(res.statusCode, bad).toBe(400);
      expect(res.json().message).toMatch(/^Invalid tag: must match/);
    }
    expect((await change(api, 'b', { manifest_digest: `sha256:${'1'.repeat(64)}` })).statusCode).toBe(404);
    expect((await change(api, 'b', { manifest_digest: 'garbage' })).statusCode).toBe(404);
    expect((await change(api, 'b', { manifest_digest: null })).statusCode).toBe(404);
    expect((await change(api, 'b', { image: 'abcdef' })).statusCode).toBe(404);
    expect((await change(api, 'b', { manifest_digest: one.manifest.digest })).statusCode).toBe(404);
    const wrongType = await change(api, 'b', { manifest_digest: 5 });
    expect(wrongType.statusCode).toBe(400);
    expect(wrongType.json().error_type).toBe('invalid_request');
    expect(await history(api)).toEqual(before);
  });

  it('sets and clears an expiration, clamped to 1 hour … 104 weeks after the tag’s start; refuses the past', async () => {
    const { name, c, api } = await newRepo();
    await c.pushImage(name, makeImage(), 'x');
    const start = (await history(api)).tags[0].start_ts!;
    const nowS = Math.floor(Date.now() / 1000);

    let res = await change(api, 'x', { expiration: nowS + 7200 });
    expect(res.statusCode, res.body).toBe(201);
    let item = (await history(api)).tags[0];
    expect(item.end_ts).toBe(start + (nowS + 7200 - start));
    expect(item.expiration).toMatch(/ -0000$/);
    expect((await auditRows(t, 'change_tag_expiration')).at(-1)!.metadata).toMatchObject({
      username: alice.username, repo: name.split('/')[1], tag: 'x', namespace: alice.username, expiration_date: nowS + 7200, old_expiration_date: null,
    });

    // Ten seconds from now: brought up to an hour after the start.
    expect((await change(api, 'x', { expiration: nowS + 10 })).statusCode).toBe(201);
    expect((await history(api)).tags[0].end_ts).toBe(start + 3600);
    expect((await auditRows(t, 'change_tag_expiration')).at(-1)!.metadata).toMatchObject({ expiration_date: nowS + 10, old_expiration_date: nowS + 7200 });
    // Five years: down to 104 weeks.
    expect((await change(api, 'x', { expiration: nowS + 5 * 365 * 86400 })).statusCode).toBe(201);
    expect((await history(api)).tags[0].end_ts).toBe(start + 104 * 7 * 86400);
    expect(await pulled(c, name, 'x')).not.toBe(404);

    for (const past of [nowS - 10, 0, -1]) {
      const r = await change(api, 'x', { expiration: past });
      expect(r.statusCode).toBe(400);
      expect(r.json()).toMatchObject({ message: 'The browser (or proxy) sent a request that this server could not understand.' });
    }
    expect((await change(api, 'x', { expiration: 1e300 })).statusCode).toBe(400);
    expect((await history(api)).tags[0].end_ts).toBe(start + 104 * 7 * 86400);

    res = await change(api, 'x', { expiration: null });
    expect(res.statusCode).toBe(201);
    item = (await history(api)).tags[0];
    expect(item.end_ts).toBeUndefined();
    expect(item.expiration).toBeUndefined();
    const logged = (await auditRows(t, 'change_tag_expiration')).length;
    // Clearing what is already clear logs nothing.
    expect((await change(api, 'x', { expiration: null })).statusCode).toBe(201);
    expect(await auditRows(t, 'change_tag_expiration')).toHaveLength(logged);
    // An expiration needs a live tag.
    expect((await change(api, 'nope', { expiration: nowS + 7200 })).statusCode).toBe(404);
  });

  it('with both fields, sets the expiration on the lifetime the move then ends (Quay’s order), logging both', async () => {
    const { name, c, api } = await newRepo();
    const one = makeImage();
    const two = makeImage();
    await c.pushImage(name, one, 'x');
    await c.pushImage(name, two, 'y');
    const kinds = async () => ({ exp: (await auditRows(t, 'change_tag_expiration')).length, move: (await auditRows(t, 'move_tag')).length });
    const before = await kinds();
    const res = await change(api, 'x', { manifest_digest: two.manifest.digest, expiration: Math.floor(Date.now() / 1000) + 7200 });
    expect(res.statusCode).toBe(201);
    const live = (await history(api, '?specificTag=x&onlyActiveTags=true')).tags;
    expect(live).toHaveLength(1);
    expect(live[0]).toMatchObject({ manifest_digest: two.manifest.digest });
    expect(live[0].end_ts).toBeUndefined();
    expect(await kinds()).toEqual({ exp: before.exp + 1, move: before.move + 1 });
    // With a digest that does not qualify, the whole request is undone: the expiration too.
    expect((await change(api, 'y', { manifest_digest: `sha256:${'2'.repeat(64)}`, expiration: Math.floor(Date.now() / 1000) + 7200 })).statusCode).toBe(404);
    expect((await history(api, '?specificTag=y')).tags[0].end_ts).toBeUndefined();
  });
});

describe('deleteFullTag and restoreTag: the time machine', () => {
  it('moves a tag three times, deletes it, and restores each earlier state', async () => {
    const { name, c, api } = await newRepo();
    const images = [makeImage(), makeImage(), makeImage()];
    for (const img of images) await c.pushImage(name, img, 'latest');
    await c.pushImage(name, images[0], 'other');
    expect((await change(api, 'latest', { manifest_digest: images[0].manifest.digest })).statusCode).toBe(201);

    const res = await remove(api, 'latest');
    expect(res.statusCode).toBe(204);
    expect(await pulled(c, name, 'latest')).toBe(404);
    expect((await auditRows(t, 'delete_tag')).at(-1)!.metadata).toMatchObject({ username: alice.username, repo: name.split('/')[1], namespace: alice.username, tag: 'latest' });
    expect((await history(api, '?specificTag=latest&onlyActiveTags=true')).tags).toEqual([]);

    for (const img of [images[2], images[1], images[0]]) {
      const r = await restore(api, 'latest', { manifest_digest: img.manifest.digest });
      expect(r.statusCode, r.body).toBe(200);
      expect(r.json()).toEqual({});
      expect(await pulled(c, name, 'latest')).toBe(img.manifest.digest);
      const [now] = (await history(api, '?specificTag=latest')).tags;
      expect(now).toMatchObject({ manifest_digest: img.manifest.digest, reversion: true });
      expect((await auditRows(t, 'revert_tag')).at(-1)!.metadata).toMatchObject({ username: alice.username, repo: name.split('/')[1], tag: 'latest', image: null, manifest_digest: img.manifest.digest });
    }
    // Every change is in the history: 3 pushes, 1 move, 3 restores.
    expect((await history(api, '?specificTag=latest')).tags).toHaveLength(7);
  });

  it('restores to a manifest only dead tags hold, which changeTag refuses; refuses what is not stored', async () => {
    const { name, c, api } = await newRepo();
    const one = makeImage();
    await c.pushImage(name, one, 'gone');
    expect((await remove(api, 'gone')).statusCode).toBe(204);
    expect((await change(api, 'back', { manifest_digest: one.manifest.digest })).statusCode).toBe(404);
    expect((await restore(api, 'back', { manifest_digest: one.manifest.digest })).statusCode).toBe(200);
    expect(await pulled(c, name, 'back')).toBe(one.manifest.digest);

    expect((await restore(api, 'back', { manifest_digest: `sha256:${'3'.repeat(64)}` })).statusCode).toBe(404);
    expect((await restore(api, 'back', { image: 'abc' })).statusCode).toBe(404);
    const missing = await restore(api, 'back', {});
    expect(missing.statusCode).toBe(400);
    expect(missing.json().detail).toBe('Missing manifest_digest');
    expect((await restore(api, 'back', { manifest_digest: null })).statusCode).toBe(400);
    expect((await restore(api, '.bad', { manifest_digest: one.manifest.digest })).statusCode).toBe(400);
    expect(await pulled(c, name, 'back')).toBe(one.manifest.digest);
  });

  it('deleting a tag that is not live answers 204 and logs nothing', async () => {
    const { api } = await newRepo();
    const logged = (await auditRows(t, 'delete_tag')).length;
    expect((await remove(api, 'never')).statusCode).toBe(204);
    expect(await auditRows(t, 'delete_tag')).toHaveLength(logged);
  });
});

describe('listTagImages (deprecated)', () => {
  it('lists the v1 chain of a live tag’s manifest, leaf first, with Deprecation: true; none when owned; 404 otherwise', async () => {
    const { name, c, api } = await newRepo();
    const img = makeImage({ layers: 3 });
    await c.pushImage(name, img, 'x');
    const res = await t.inject({ method: 'GET', url: `${api}/tag/x/images`, headers: h });
    expect(res.statusCode).toBe(200);
    expect(res.headers.deprecation).toBe('true');
    const images = res.json().images as { id: string; created: string; ancestors: string }[];
    expect(images).toHaveLength(3);
    expect(images[0]).toMatchObject({ comment: '', command: '', size: 0, uploading: false, sort_index: 0, ancestors: '' });
    expect(images[0].created).toBe((await history(api)).tags[0].last_modified);
    // The leaf is the manifest's root image, and each entry is a getImage id whose ancestors follow.
    expect((await t.inject({ method: 'GET', url: `${api}/manifest/${img.manifest.digest}`, headers: h })).json().image.id).toBe(images[0].id);
    const leaf = (await t.inject({ method: 'GET', url: `${api}/image/${images[0].id}`, headers: h })).json();
    expect(leaf.ancestors).toBe(`/${images[1].id}/${images[2].id}/`);
    expect((await t.inject({ method: 'GET', url: `${api}/tag/x/images?owned=true`, headers: h })).json()).toEqual({ images: [] });
    const missing = await t.inject({ method: 'GET', url: `${api}/tag/y/images`, headers: h });
    expect(missing.statusCode).toBe(404);
    expect(missing.headers.deprecation).toBeUndefined();
  });
});

describe('repository states and kinds', () => {
  it('refuses tag changes on a READ_ONLY or MIRROR repository (503), and every tag route on an application repository (501)', async () => {
    const { name, c, api } = await newRepo();
    const img = makeImage();
    await c.pushImage(name, img, 'x');
    const repoName = name.split('/')[1];
    for (const state of ['READ_ONLY', 'MIRROR'] as const) {
      await t.app.db.updateTable('repository').set({ state }).where('name', '=', repoName).execute();
      for (const res of [await change(api, 'x', { manifest_digest: img.manifest.digest }), await remove(api, 'x'), await restore(api, 'x', { manifest_digest: img.manifest.digest })]) {
        expect(res.statusCode).toBe(503);
        expect(res.json()).toMatchObject({ message: `Repository is in read only or mirror mode: RepositoryState.${state}` });
      }
      expect((await history(api)).tags).toHaveLength(1);
    }
    await t.app.db.updateTable('repository').set({ state: 'NORMAL', kind: 'application' }).where('name', '=', repoName).execute();
    for (const res of [await t.inject({ method: 'GET', url: `${api}/tag/`, headers: h }), await remove(api, 'x')]) {
      expect(res.statusCode).toBe(501);
    }
  });
});

describe('the repository views that tags fill', () => {
  it('getRepo: the live tags, newest first, with size, dates and digest; listRepos: last_modified (seconds) and popularity', async () => {
    const { name, c, api } = await newRepo();
    const one = makeImage({ layers: 3 });
    await c.pushImage(name, one, 'old');
    await c.pushManifest(name, one.manifest, 'new');
    await c.pushManifest(name, one.manifest, 'dead');
    await remove(api, 'dead');
    await change(api, 'new', { expiration: Math.floor(Date.now() / 1000) + 7200 });

    const repo = (await t.inject({ method: 'GET', url: api, headers: h })).json();
    expect(Object.keys(repo.tags)).toEqual(['new', 'old']);
    expect(repo.tags.old).toEqual({ name: 'old', size: layerBytes(one.manifest), last_modified: expect.stringMatching(/ -0000$/), manifest_digest: one.manifest.digest });
    expect(repo.tags.new.expiration).toMatch(/ -0000$/);
    expect(repo.tag_expiration_s).toBe(1209600);
    expect((await t.inject({ method: 'GET', url: `${api}?includeTags=false`, headers: h })).json().tags).toBeUndefined();

    const list = async () =>
      (await t.inject({ method: 'GET', url: `/api/v1/repository?namespace=${alice.username}&last_modified=true&popularity=true`, headers: h })).json()
        .repositories as { name: string; last_modified: number | null; popularity: number }[];
    const entry = (await list()).find((r) => `${alice.username}/${r.name}` === name)!;
    const newest = (await history(api, '?onlyActiveTags=true')).tags[0].start_ts!;
    expect(entry.last_modified).toBe(newest);
    expect(entry.popularity).toBeGreaterThan(0); // the pushes and tag changes of this test
    await remove(api, 'new');
    await remove(api, 'old');
    expect((await list()).find((r) => `${alice.username}/${r.name}` === name)!.last_modified).toBeNull();
    expect((await t.inject({ method: 'GET', url: api, headers: h })).json().tags).toEqual({});
  });
});

describe('expiry', () => {
  it('an expired tag is no longer live at its end, restorable through the window, and collected after it (time injected)', async () => {
    const { name, c, api } = await newRepo();
    const img = makeImage();
    await c.pushImage(name, img, 'x');
    const start = (await history(api)).tags[0].start_ts!;
    expect((await change(api, 'x', { expiration: Math.floor(Date.now() / 1000) + 7200 })).statusCode).toBe(201);
    const endMs = (start + (Math.floor(Date.now() / 1000) + 7200 - start)) * 1000;
    const windowMs = 1209600 * 1000;
    const sweep = (at: number) => collectGarbage({ db: t.app.db, storage: t.app.storage }, { graceS: 3600, now: at });
    const manifestRows = () => t.app.db.selectFrom('manifest').select('id').where('digest', '=', img.manifest.digest).execute();

    // Before its end, nothing is collected; after its end, within the window, still nothing.
    await sweep(endMs - 1000);
    await sweep(endMs + windowMs - 60_000);
    expect(await manifestRows()).toHaveLength(1);
    expect((await history(api, '?specificTag=x')).tags).toHaveLength(1);
    // After the window: the lifetime and then the manifest go.
    await sweep(endMs + windowMs + 60_000);
    await sweep(endMs + windowMs + 2 * 3600_000);
    expect((await history(api, '?specificTag=x')).tags).toEqual([]);
    expect(await manifestRows()).toEqual([]);
    expect((await restore(api, 'x', { manifest_digest: img.manifest.digest })).statusCode).toBe(404);
  });
});

describe('the /v2 view follows the tag API at once', () => {
  it('a pull after each change sees it (the embedded read cache included)', async () => {
    const { name, c, api } = await newRepo();
    const one = makeImage();
    const two = makeImage();
    await c.pushImage(name, one, 'x');
    await c.pushImage(name, two, 'y');
    expect(await pulled(c, name, 'x')).toBe(one.manifest.digest);
    await change(api, 'x', { manifest_digest: two.manifest.digest });
    expect(await pulled(c, name, 'x')).toBe(two.manifest.digest);
    await remove(api, 'x');
    expectError(await c.request('GET', `/v2/${name}/manifests/x`), 404, 'MANIFEST_UNKNOWN');
    await restore(api, 'x', { manifest_digest: one.manifest.digest });
    expect(await pulled(c, name, 'x')).toBe(one.manifest.digest);
    const tags = await c.request('GET', `/v2/${name}/tags/list`);
    expect(tags.json().tags).toEqual(['x', 'y']);
  });
});
