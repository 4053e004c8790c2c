// The four workflows of the OCI distribution spec (pull, push, content discovery, content
// management), driven as a registry client drives them: a request without a token gets 401 and a
// Bearer challenge; the client asks the challenge's realm for a token for the challenge's scope
// (HTTP Basic), and retries. Then tags/list (n, last, Link, byte order) and _catalog paging over
// what the pushes created. The details of each endpoint are in uploads.test.ts and
// manifests.test.ts; this file checks that the pieces make a registry.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp, type TestApp } from '../helpers/app.js';
import { makeUser, uniqueName, type TestUser } from '../helpers/factories.js';
import {
  basicAuth,
  digestOf,
  expectError,
  injectSender,
  makeImage,
  makeIndex,
  randomBlob,
  RegistryClient,
  type Credentials,
  type RegistryResponse,
  type Send,
} from '../helpers/registry.js';

const HOST = 'localhost:8080';
const CHALLENGE = `Bearer realm="http://${HOST}/v2/auth",service="${HOST}"`;

let t: TestApp;
let alice: TestUser;
let bob: TestUser;

beforeAll(async () => {
  t = await testApp();
  alice = await makeUser(t);
  bob = await makeUser(t);
});
afterAll(() => t?.close());

/**
 * What docker, podman and skopeo do: send the request; on a 401, read `WWW-Authenticate`, get a
 * token for its scope from its realm (Basic credentials, or none), retry once with it. A client
 * that is pushing asks for `pull,push` on the repository whatever the first request was.
 */
class ChallengeClient {
  readonly tokens = new Map<string, string>();
  /** The scopes asked of /v2/auth, and its answers. */
  readonly exchanges: { scope: string | undefined; status: number }[] = [];
  constructor(
    readonly send: Send,
    readonly creds: Credentials | null,
    readonly o: { push?: boolean } = {},
  ) {}

  async request(method: string, url: string, o: { headers?: Record<string, string>; body?: Buffer | string } = {}): Promise<RegistryResponse> {
    const scopeKey = (s: string | undefined) => s ?? '';
    const attempt = (token?: string) => this.send({ method, url, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...o.headers }, body: o.body });
    const cached = [...this.tokens.values()].pop();
    let res = await attempt(cached);
    if (res.statusCode !== 401) return res;
    const challenge = parseChallenge(res.header('www-authenticate')!);
    expect(challenge.realm).toBe(`http://${HOST}/v2/auth`);
    expect(challenge.service).toBe(HOST);
    const realm = new URL(challenge.realm!);
    const q = new URLSearchParams({ service: challenge.service! });
    const scope = this.o.push && challenge.scope ? challenge.scope.replace(/:pull$/, ':pull,push') : challenge.scope;
    if (scope) q.set('scope', scope);
    const auth = await this.send({ method: 'GET', url: `${realm.pathname}?${q}`, headers: this.creds ? { authorization: basicAuth(this.creds) } : {} });
    this.exchanges.push({ scope, status: auth.statusCode });
    if (auth.statusCode !== 200) return res;
    const token = auth.json().token as string;
    this.tokens.set(scopeKey(scope), token);
    res = await attempt(token);
    return res;
  }
}

function parseChallenge(header: string): Record<string, string | undefined> {
  expect(header.startsWith('Bearer ')).toBe(true);
  const out: Record<string, string> = {};
  for (const m of header.slice(7).matchAll(/(\w+)="([^"]*)"/g)) out[m[1]] = m[2];
  return out;
}

/** Pushes an image the way containers/image does: POST, PATCH (no Content-Range), PUT; the manifest by tag. */
async function clientPush(c: ChallengeClient, name: string, image: ReturnType<typeof makeImage>, tag: string) {
  for (const blob of image.blobs) {
    const d = blob.descriptor.digest;
    const head = await c.request('HEAD', `/v2/${name}/blobs/${d}`);
    if (head.statusCode === 200) continue;
    expect(head.statusCode).toBe(404);
    const post = await c.request('POST', `/v2/${name}/blobs/uploads/`, { headers: { 'content-length': '0' } });
    expect(post.statusCode, post.text).toBe(202);
    const patch = await c.request('PATCH', post.header('location')!, { headers: { 'content-type': 'application/octet-stream' }, body: blob.bytes });
    expect(patch.statusCode).toBe(202);
    expect(patch.header('range')).toBe(`0-${blob.bytes.length - 1}`);
    const put = await c.request('PUT', `${patch.header('location')}?digest=${d}`, { headers: { 'content-length': '0' } });
    expect(put.statusCode).toBe(201);
    expect(put.header('docker-content-digest')).toBe(d);
  }
  const res = await c.request('PUT', `/v2/${name}/manifests/${tag}`, { headers: { 'content-type': image.manifest.mediaType }, body: image.manifest.bytes });
  expect(res.statusCode, res.text).toBe(201);
  expect(res.header('docker-content-digest')).toBe(image.manifest.digest);
}

/** Pulls by tag as a client does: the manifest (accepting every type), then each blob, verifying digests. */
async function clientPull(c: ChallengeClient, name: string, tag: string): Promise<{ manifest: Buffer; blobs: Buffer[] }> {
  const accept = [
    'application/vnd.oci.image.index.v1+json',
    'application/vnd.oci.image.manifest.v1+json',
    'application/vnd.docker.distribution.manifest.list.v2+json',
    'application/vnd.docker.distribution.manifest.v2+json',
  ].join(', ');
  const res = await c.request('GET', `/v2/${name}/manifests/${tag}`, { headers: { accept } });
  expect(res.statusCode, res.text).toBe(200);
  expect(digestOf(res.body)).toBe(res.header('docker-content-digest'));
  const doc = res.json();
  const blobs: Buffer[] = [];
  for (const d of [doc.config, ...doc.layers]) {
    const b = await c.request('GET', `/v2/${name}/blobs/${d.digest}`);
    expect(b.statusCode).toBe(200);
    expect(digestOf(b.body)).toBe(d.digest);
    expect(b.body.length).toBe(d.size);
    blobs.push(b.body);
  }
  return { manifest: res.body, blobs };
}

describe('the API version check (GET /v2/)', () => {
  it('401 with the challenge and the API version header without a token; 200 `true` with one', async () => {
    const res = await t.inject({ url: '/v2/' });
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toBe(CHALLENGE);
    expect(res.headers['docker-distribution-api-version']).toBe('registry/2.0');
    const c = new ChallengeClient(injectSender(t), alice);
    const ok = await c.request('GET', '/v2/');
    expect(ok.statusCode).toBe(200);
    expect(ok.text).toBe('true');
    expect(ok.header('docker-distribution-api-version')).toBe('registry/2.0');
    expect(c.exchanges).toEqual([{ scope: undefined, status: 200 }]);
  });
});

describe('push and pull workflows', () => {
  it('a client pushes an image into a new repository (created by the push) and another session pulls it back, bytes identical', async () => {
    const name = `${alice.username}/${uniqueName('app')}`;
    const pusher = new ChallengeClient(injectSender(t), alice, { push: true });
    const image = makeImage({ layers: 3 });
    await clientPush(pusher, name, image, 'v1');
    // One login: the first request was challenged, and the token asked for covered the whole push.
    expect(pusher.exchanges).toEqual([{ scope: `repository:${name}:pull,push`, status: 200 }]);

    const puller = new ChallengeClient(injectSender(t), alice);
    const pulled = await clientPull(puller, name, 'v1');
    expect(pulled.manifest.equals(image.manifest.bytes)).toBe(true);
    expect(pulled.blobs.map((b) => digestOf(b))).toEqual(image.blobs.map((b) => b.descriptor.digest));
    expect(puller.exchanges).toEqual([{ scope: `repository:${name}:pull`, status: 200 }]);
  });

  it('repository names with several components work end to end', async () => {
    const name = `${alice.username}/team/${uniqueName('svc')}`;
    const c = new ChallengeClient(injectSender(t), alice, { push: true });
    const image = makeImage();
    await clientPush(c, name, image, 'latest');
    const pulled = await clientPull(c, name, 'latest');
    expect(pulled.manifest.equals(image.manifest.bytes)).toBe(true);
    const tags = await c.request('GET', `/v2/${name}/tags/list`);
    expect(tags.json()).toEqual({ name, tags: ['latest'] });
  });

  it('a multi-platform push: children by digest, then the index by tag; a pull of each platform', async () => {
    const name = `${alice.username}/${uniqueName('multi')}`;
    const c = new ChallengeClient(injectSender(t), alice, { push: true });
    const amd = makeImage();
    const arm = makeImage({ platform: { os: 'linux', architecture: 'arm64' } });
    await clientPush(c, name, amd, amd.manifest.digest);
    await clientPush(c, name, arm, arm.manifest.digest);
    const index = makeIndex([amd.manifest.descriptor, arm.manifest.descriptor]);
    const put = await c.request('PUT', `/v2/${name}/manifests/latest`, { headers: { 'content-type': index.mediaType }, body: index.bytes });
    expect(put.statusCode).toBe(201);
    const got = await c.request('GET', `/v2/${name}/manifests/latest`, { headers: { accept: index.mediaType } });
    expect(got.body.equals(index.bytes)).toBe(true);
    for (const child of [amd, arm]) {
      const pulled = await clientPull(c, name, child.manifest.digest);
      expect(pulled.manifest.equals(child.manifest.bytes)).toBe(true);
    }
  });

  it('a stranger is challenged and refused: downscoped token, then 401 again (never 403); anonymous pull of a public repository needs no login', async () => {
    const name = `${alice.username}/${uniqueName('priv')}`;
    const owner = new ChallengeClient(injectSender(t), alice, { push: true });
    const image = makeImage();
    await clientPush(owner, name, image, 'v1');
    const stranger = new ChallengeClient(injectSender(t), bob, { push: true });
    const res = await stranger.request('GET', `/v2/${name}/manifests/v1`);
    expectError(res, 401, 'UNAUTHORIZED');
    expect(res.header('www-authenticate')).toBe(`${CHALLENGE},scope="repository:${name}:pull"`);
    const anon = new ChallengeClient(injectSender(t), null);
    expectError(await anon.request('GET', `/v2/${name}/manifests/v1`), 401, 'UNAUTHORIZED');

    await t.app.db.updateTable('repository').set({ visibility: 'public' }).where('name', '=', name.split('/')[1]).execute();
    const pulled = await clientPull(new ChallengeClient(injectSender(t), null), name, 'v1');
    expect(pulled.manifest.equals(image.manifest.bytes)).toBe(true);
    // Still no pushing for strangers.
    const push = await stranger.request('PUT', `/v2/${name}/manifests/v2`, { headers: { 'content-type': image.manifest.mediaType }, body: image.manifest.bytes });
    expectError(push, 401, 'UNAUTHORIZED');
  });
});

describe('content discovery: tags/list', () => {
  let name: string;
  let c: RegistryClient;
  // Byte order: digits, upper case, `_`, lower case; `-` (0x2d) before `.` (0x2e).
  const TAGS = ['latest', 'a.b', 'Z', '_x', '0', 'B', 'a-b', 'a', 'v1.0', 'V1'];
  const SORTED = ['0', 'B', 'V1', 'Z', '_x', 'a', 'a-b', 'a.b', 'latest', 'v1.0'];

  beforeAll(async () => {
    name = `${alice.username}/${uniqueName('tags')}`;
    c = await RegistryClient.login(t, alice, `repository:${name}:pull,push`);
    const image = makeImage();
    await c.pushImage(name, image, TAGS[0]);
    for (const tag of TAGS.slice(1)) await c.pushManifest(name, image.manifest, tag);
    // Neither an untagged push (hidden temporary tag) nor a deleted tag is listed.
    const untagged = makeImage();
    await c.pushImage(name, untagged);
    await c.pushManifest(name, untagged.manifest, 'gone');
    expect((await c.request('DELETE', `/v2/${name}/manifests/gone`)).statusCode).toBe(202);
  });

  const list = (q = '') => c.request('GET', `/v2/${name}/tags/list${q}`);

  it('lists the live tags in byte order, with the repository name', async () => {
    const res = await list();
    expect(res.statusCode).toBe(200);
    expect(res.header('content-type')).toContain('application/json');
    expect(res.json()).toEqual({ name, tags: SORTED });
    expect(res.header('link')).toBeUndefined();
  });

  it('pages with n and a path-only Link to the next page (last = the last tag given)', async () => {
    const seen: string[] = [];
    let url: string | undefined = `/v2/${name}/tags/list?n=3`;
    let pages = 0;
    while (url) {
      const res = await c.request('GET', url);
      expect(res.statusCode).toBe(200);
      const tags = res.json().tags as string[];
      expect(tags.length).toBeLessThanOrEqual(3);
      seen.push(...tags);
      pages++;
      const link = res.header('link');
      if (!link) break;
      const m = /^<(\/v2\/[^>]+)>; rel="next"$/.exec(link);
      expect(m, link).not.toBeNull();
      expect(m![1]).toBe(`/v2/${name}/tags/list?n=3&last=${encodeURIComponent(tags[tags.length - 1])}`);
      url = m![1];
    }
    expect(seen).toEqual(SORTED);
    expect(pages).toBe(4);
  });

  it('last: only tags after it in byte order, a page at a time; an exact last page has no Link', async () => {
    expect((await list('?last=_x')).json().tags).toEqual(['a', 'a-b', 'a.b', 'latest', 'v1.0']);
    expect((await list('?n=2&last=Z')).json().tags).toEqual(['_x', 'a']);
    expect((await list('?last=zzz')).json().tags).toEqual([]);
    const tail = await list('?n=2&last=latest');
    expect(tail.json().tags).toEqual(['v1.0']);
    expect(tail.header('link')).toBeUndefined();
    const exact = await list(`?n=${SORTED.length}`);
    expect(exact.json().tags).toEqual(SORTED);
    expect(exact.header('link')).toBeUndefined();
  });

  it('n=0 gives an empty list; an unreadable n is ignored', async () => {
    const zero = await list('?n=0');
    expect(zero.json()).toEqual({ name, tags: [] });
    expect(zero.header('link')).toBeUndefined();
    expect((await list('?n=abc')).json().tags).toEqual(SORTED);
  });

  it('an empty repository lists no tags', async () => {
    const empty = `${alice.username}/${uniqueName('empty')}`;
    const ec = await RegistryClient.login(t, alice, `repository:${empty}:pull,push`);
    const res = await ec.request('GET', `/v2/${empty}/tags/list`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ name: empty, tags: [] });
    // Nor referrers.
    const refs = await ec.request('GET', `/v2/${empty}/referrers/${digestOf('x')}`);
    expect(refs.statusCode).toBe(200);
    expect(refs.json().manifests).toEqual([]);
  });
});

describe('content management', () => {
  it('deletes a tag, then the manifest, then the blobs; each step visible to the next request', async () => {
    const name = `${alice.username}/${uniqueName('mgmt')}`;
    const c = await RegistryClient.login(t, alice, `repository:${name}:pull,push`);
    const image = makeImage();
    await c.pushImage(name, image, 'v1');
    expect((await c.request('DELETE', `/v2/${name}/manifests/v1`)).statusCode).toBe(202);
    expect((await c.request('HEAD', `/v2/${name}/manifests/v1`)).statusCode).toBe(404);
    expect((await c.request('GET', `/v2/${name}/tags/list`)).json().tags).toEqual([]);
    expect((await c.request('DELETE', `/v2/${name}/manifests/${image.manifest.digest}`)).statusCode).toBe(202);
    expect((await c.request('HEAD', `/v2/${name}/manifests/${image.manifest.digest}`)).statusCode).toBe(404);
    for (const b of image.blobs) {
      expect((await c.request('DELETE', `/v2/${name}/blobs/${b.descriptor.digest}`)).statusCode).toBe(202);
      expect((await c.request('HEAD', `/v2/${name}/blobs/${b.descriptor.digest}`)).statusCode).toBe(404);
    }
  });

  it('a pull-only token cannot delete anything (401)', async () => {
    const name = `${alice.username}/${uniqueName('ro')}`;
    const c = await RegistryClient.login(t, alice, `repository:${name}:pull,push`);
    const image = makeImage();
    await c.pushImage(name, image, 'v1');
    const reader = await RegistryClient.login(t, alice, `repository:${name}:pull`);
    for (const url of [`/v2/${name}/manifests/v1`, `/v2/${name}/manifests/${image.manifest.digest}`, `/v2/${name}/blobs/${image.config.descriptor.digest}`]) {
      expectError(await reader.request('DELETE', url), 401, 'UNAUTHORIZED');
    }
    expect((await c.request('HEAD', `/v2/${name}/manifests/v1`)).statusCode).toBe(200);
  });

  it('a repository name that does not exist: 404 NAME_UNKNOWN on every route', async () => {
    const name = `${alice.username}/${uniqueName('gone')}`;
    const c = await RegistryClient.login(t, alice, `repository:${name}:pull,push`);
    await c.pushBlob(name, randomBlob(10));
    // The repository goes away while the token lives.
    const [ns, repo] = name.split('/');
    const nsRow = await t.app.db.selectFrom('namespace').select('id').where('username', '=', ns).executeTakeFirstOrThrow();
    await t.app.db.deleteFrom('repository').where('namespace_id', '=', nsRow.id).where('name', '=', repo).execute();
    const d = digestOf('x');
    for (const [method, url] of [
      ['GET', `/v2/${name}/tags/list`],
      ['GET', `/v2/${name}/manifests/v1`],
      ['GET', `/v2/${name}/blobs/${d}`],
      ['POST', `/v2/${name}/blobs/uploads/`],
      ['DELETE', `/v2/${name}/manifests/v1`],
    ] as const) {
      expectError(await c.request(method, url), 404, 'NAME_UNKNOWN');
    }
  });
});

describe('_catalog', () => {
  it('pages through the repositories the pushes created, with a path-only Link; others’ private repositories are absent', async () => {
    const carol = await makeUser(t);
    const names: string[] = [];
    for (let i = 0; i < 3; i++) {
      const name = `${carol.username}/${uniqueName('cat')}`;
      const c = await RegistryClient.login(t, carol, `repository:${name}:pull,push`);
      await c.pushImage(name, makeImage(), 'v1');
      names.push(name);
    }
    const bobs = `${bob.username}/${uniqueName('hidden')}`;
    await (await RegistryClient.login(t, bob, `repository:${bobs}:pull,push`)).pushBlob(bobs, randomBlob(5));

    const token = (await t.inject({ url: `/v2/auth?service=${HOST}`, headers: { authorization: basicAuth(carol) } })).json().token;
    const c = RegistryClient.inject(t, token);
    const seen: string[] = [];
    let url: string | undefined = '/v2/_catalog?n=1';
    while (url) {
      const res = await c.request('GET', url);
      expect(res.statusCode).toBe(200);
      const repos = res.json().repositories as string[];
      expect(repos.length).toBeLessThanOrEqual(1);
      seen.push(...repos);
      const link = res.header('link');
      url = link ? /^<(\/v2\/_catalog\?[^>]+)>; rel="next"$/.exec(link)![1] : undefined;
      expect(seen.length).toBeLessThan(10);
    }
    expect(seen).toEqual(names);
    expect(seen).not.toContain(bobs);
  });
});
