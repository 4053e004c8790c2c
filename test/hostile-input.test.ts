// The hostile-input walk: every registered route (read from the route table, so a new route is
// covered by existing), every path parameter, query parameter and body field it declares, filled
// in turn with each value of a catalogue of hostile inputs while the rest of the request is valid.
// Fails on any 5xx (501 only where the route is not implemented) and on any /api/v1 error body that
// is not an ApiError (under /v2: not the OCI error envelope), and on any request that stores a string over the length cap. Each route gets a fresh organization world, so a DELETE that succeeds cannot
// starve the routes after it.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LightMyRequestResponse } from 'fastify';
import { z } from 'zod';
import type { RouteEntry } from '../src/app.js';
import { surfaceOf } from '../src/lib/error-handler.js';
import { MAX_STRING_LENGTH } from '../src/lib/input-guard.js';
import { FULL_SCOPES } from './api/matrix.js';
import { testApp, type TestApp } from './helpers/app.js';
import { bearer, makeApplication, makeOrg, makeRepo, makeRobot, makeTeam, makeUser, signIn, tokenFor, uniqueName, type TestUser } from './helpers/factories.js';
import { startMailbox, type Mailbox } from './helpers/smtp.js';

/** Raw (already URL-encoded) values for path segments and query values. */
const URL_VALUES: string[] = [
  '%00', 'a%00b', // NUL
  '%ED%A0%80', '%FF', '%C3%28', '%E2%82', // not UTF-8 (a surrogate's encoding, stray bytes, truncated)
  '%', '%zz', // malformed escapes
  'ü€😀', '%C3%BC%E2%82%AC%F0%9F%98%80', // non-Latin-1, raw and encoded
  '99999999999999999999', '-99999999999999999999', '1e400', '-1', '0', 'NaN', '1.5', // numbers
  '12%2F31%2F9999', '9999-12-31T23:59:59-12:00', // the last dates there are, and past them
  'a'.repeat(300), 'a'.repeat(600), 'a'.repeat(9000), // long
  '%0D%0ASet-Cookie:%20x=y', '%09', // header injection, control characters
  '..%2F..%2Fetc%2Fpasswd', "'%20or%201=1--", '%3Cscript%3E', '%2F%2Fevil.example', 'https:%2F%2Fevil.example%2F%2F', '',
];

/** Values for JSON body fields. */
const BODY_VALUES: unknown[] = [
  '\u0000', 'a\u0000b', '\ud800', 'x\udfff', 'ü€😀', 'a'.repeat(300), 'a'.repeat(70000), '\r\nX-Injected: 1', "' or 1=1--", '', ' ',
  'https://evil.example/', '//evil.example', 'not an email', 'a@b', '@', `${'a'.repeat(250)}@example.com`,
  99999999999999999999, -99999999999999999999, 2 ** 31, 1e12 /* seconds: year 33658 */, -1, 0, 1.5, 1e308, null, true, false, [], {}, [[[['x']]]], { $gt: '' }, ['\u0000'],
];

/** Whole bodies that are wrong as a whole. */
const RAW_BODIES: { name: string; type: string; payload: string | Buffer }[] = [
  { name: 'invalid UTF-8', type: 'application/json', payload: Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]) },
  { name: 'syntax error', type: 'application/json', payload: '{"a":' },
  { name: 'NUL key', type: 'application/json', payload: '{"a\\u0000":1}' },
  { name: 'deep nesting', type: 'application/json', payload: '['.repeat(5000) + ']'.repeat(5000) },
  { name: 'proto poisoning', type: 'application/json', payload: '{"__proto__":{"x":1}}' },
  { name: 'array body', type: 'application/json', payload: '[1,2]' },
  { name: 'string body', type: 'application/json', payload: '"x"' },
  { name: 'number body', type: 'application/json', payload: '99999999999999999999' },
  { name: 'form with NUL', type: 'application/x-www-form-urlencoded', payload: 'username=a%00&password=b' },
  { name: 'form not UTF-8', type: 'application/x-www-form-urlencoded', payload: 'username=%FF&password=b' },
  { name: 'form raw bytes', type: 'application/x-www-form-urlencoded', payload: Buffer.from([0x61, 0x3d, 0xff]) },
  { name: 'unknown media type', type: 'application/xml', payload: '<a/>' },
  { name: 'too large', type: 'application/json', payload: JSON.stringify({ a: 'a'.repeat(1024 * 1024 + 10) }) },
];

type Json = Record<string, any>;

function jsonSchema(schema: unknown): Json | undefined {
  if (!schema) return undefined;
  return z.toJSONSchema(schema as z.ZodType, { io: 'input', unrepresentable: 'any' }) as Json;
}

/** Follows $ref and picks the object variant of unions (nullable, optional bodies). */
function resolve(s: Json | undefined, root: Json): Json | undefined {
  if (!s) return undefined;
  if (s.$ref) return resolve(root.$defs?.[String(s.$ref).split('/').pop()!], root);
  for (const k of ['anyOf', 'oneOf', 'allOf']) {
    if (Array.isArray(s[k])) {
      const obj = s[k].map((x: Json) => resolve(x, root)).find((x: Json | undefined) => x && (x.type === 'object' || x.properties));
      if (obj) return obj;
      const first = s[k].map((x: Json) => resolve(x, root)).find((x: Json | undefined) => x && x.type !== 'null');
      if (first) return first;
    }
  }
  return s;
}

function properties(schema: unknown): { root: Json; props: Record<string, Json> } {
  const root = jsonSchema(schema);
  if (!root) return { root: {}, props: {} };
  const s = resolve(root, root);
  return { root, props: (s?.properties ?? {}) as Record<string, Json> };
}

interface World {
  org: string;
  team: string;
  repo: string;
  robot: string;
  userRobot: string;
  member: string;
  clientId: string;
  prototype: string;
  appToken: string;
  message: string;
  inviteEmail: string;
  /** For /v2 routes: a registry token with push and pull on org/repo, a blob, a tagged manifest, an open upload. */
  registry?: { token: string; blob: string; manifest: string; upload: string };
}

/** Query parameters the /v2 handlers read (their routes declare no query schema). */
const REGISTRY_QUERY = ['digest', 'mount', 'from', 'n', 'last', 'artifactType', 'tag', 'digest-algorithm', 'scope', 'service', 'next_page'];
/** Request headers the /v2 handlers read. */
const REGISTRY_HEADERS = ['content-range', 'range', 'content-type', 'accept', 'authorization'];
/** Header values (inject refuses control characters and characters above U+00FF in headers). */
const HEADER_VALUES = [
  '', ' ', 'bytes=0-', 'bytes=-0', 'bytes=99999999999999999999-', '0-99999999999999999999', '99999999999999999999-0', '5-2', '-1-5', 'bytes=0-1,2-3',
  'bytes */*', 'a'.repeat(6000), '%00', 'application/vnd.oci.image.manifest.v1+json; charset=ü', '*/*;q=abc', 'Bearer', 'Bearer a.b.c', 'Basic !!!',
  `Bearer ${'e30'}.${'e30'}.x`, 'Basic ' + Buffer.from('a\u0000:b').toString('base64'), 'Basic ' + Buffer.from([0xff, 0x3a, 0x61]).toString('base64'),
];

let t: TestApp;
let mailbox: Mailbox;
let root: TestUser;
let member: TestUser;
let headers: Record<string, string>;
let oauthToken: string;

function paramValue(w: World, name: string, route?: RouteEntry): string {
  if (route?.url.startsWith('/v2/') && w.registry) {
    const r: Record<string, string> = { name: `${w.org}/${w.repo}`, digest: w.registry.blob, reference: 'v1', uuid: w.registry.upload };
    if (name in r) return r[name];
  }
  const m: Record<string, string> = {
    orgname: w.org, namespace: w.org, name: w.org, repository: w.repo, teamname: w.team, membername: w.member, username: w.member,
    robot_shortname: w.robot, client_id: w.clientId, prototypeid: w.prototype, token_uuid: w.appToken, uuid: w.message,
    email: w.inviteEmail, prefix: 'hos', error_type: 'not_found', code: 'x', kid: 'x',
  };
  return m[name] ?? 'x';
}

/** A plausible valid value for a body or query field, so the other fields get past validation. */
function sample(name: string, s: Json | undefined, root: Json, w: World): unknown {
  const r = resolve(s, root) ?? {};
  if (r.const !== undefined) return r.const;
  if (Array.isArray(r.enum)) return r.enum[0];
  const byName: Record<string, unknown> = {
    name: uniqueName('hos'), username: uniqueName('hos'), email: `${uniqueName('m')}@example.com`, password: 'correct-horse-battery',
    role: 'read', kind: 'image', visibility: 'private', namespace: w.org, repository: w.repo, redirect_uri: 'https://client.example.com/cb',
    application_uri: 'https://client.example.com', avatar_email: 'a@example.com', invoice_email_address: 'i@example.com',
    delegate: { name: w.member, kind: 'user' }, activating_user: { name: w.member }, severity: 'info', media_type: 'text/plain',
    content: 'hello', title: 'title', description: 'desc', tag_expiration_s: 0, state: 'NORMAL',
  };
  if (name in byName) return byName[name];
  switch (r.type) {
    case 'boolean': return true;
    case 'integer': case 'number': return r.minimum ?? 1;
    case 'array': return [];
    case 'object': {
      const out: Json = {};
      for (const [k, v] of Object.entries((r.properties ?? {}) as Record<string, Json>)) out[k] = sample(k, v, root, w);
      return out;
    }
    default: return 'x';
  }
}

async function makeWorld(withRegistry = false): Promise<World> {
  const org = await makeOrg(t, [root], uniqueName('hosorg'));
  const team = uniqueName('team');
  const teamRow = await makeTeam(t, org, 'member', [member], team);
  void teamRow;
  const repo = await makeRepo(t, org, { name: uniqueName('repo') });
  const robot = uniqueName('bot');
  await makeRobot(t, org, robot);
  const userRobot = uniqueName('ubot');
  await makeRobot(t, root, userRobot);
  const app = await makeApplication(t, org);
  const proto = await t.inject({
    method: 'POST', url: `/api/v1/organization/${org.username}/prototypes`, headers,
    payload: { role: 'read', delegate: { name: member.username, kind: 'user' } },
  });
  const token = await t.inject({ method: 'POST', url: '/api/v1/user/apptoken', headers, payload: { title: 'hostile' } });
  const message = await t.inject({ method: 'POST', url: '/api/v1/messages', headers, payload: { message: { content: 'hi', media_type: 'text/plain', severity: 'info' } } });
  const messages = await t.inject({ method: 'GET', url: '/api/v1/messages', headers });
  void message;
  const inviteEmail = `${uniqueName('inv')}@example.com`;
  await t.inject({ method: 'PUT', url: `/api/v1/organization/${org.username}/team/${team}/invite/${inviteEmail}`, headers });
  const world: World = {
    org: org.username, team, repo: repo.name, robot, userRobot, member: member.username, clientId: app.client_id,
    prototype: proto.json().id ?? 'x', appToken: token.json().token?.uuid ?? 'x', message: messages.json().messages?.[0]?.uuid ?? 'x', inviteEmail,
  };
  if (withRegistry) world.registry = await registryWorld(world);
  return world;
}

/** A registry token for the world's repository, and a blob, a manifest tagged v1 and an open upload in it. */
async function registryWorld(w: World): Promise<NonNullable<World['registry']>> {
  const name = `${w.org}/${w.repo}`;
  const auth = await t.inject({
    url: `/v2/auth?service=localhost:8080&scope=repository:${name}:pull,push,*`,
    headers: { authorization: `Basic ${Buffer.from(`$oauthtoken:${oauthToken}`).toString('base64')}` },
  });
  const token = auth.json().token as string;
  const h = { authorization: `Bearer ${token}` };
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
  const blob = `sha256:${createHash('sha256').update(config).digest('hex')}`;
  const pushed = await t.inject({ method: 'POST', url: `/v2/${name}/blobs/uploads/?digest=${blob}`, headers: { ...h, 'content-type': 'application/octet-stream' }, payload: config });
  if (pushed.statusCode !== 201) throw new Error(`blob push failed: ${pushed.body}`);
  const manifest = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: blob, size: config.length }, layers: [] });
  const put = await t.inject({ method: 'PUT', url: `/v2/${name}/manifests/v1`, headers: { ...h, 'content-type': 'application/vnd.oci.image.manifest.v1+json' }, payload: manifest });
  if (put.statusCode !== 201) throw new Error(`manifest push failed: ${put.body}`);
  const session = await t.inject({ method: 'POST', url: `/v2/${name}/blobs/uploads/`, headers: h });
  const upload = String(session.headers['docker-upload-uuid']);
  return { token, blob, manifest: String(put.headers['docker-content-digest']), upload };
}

function problemWith(route: RouteEntry, res: LightMyRequestResponse, url: string): string | undefined {
  const notImplemented = !!(route.schema as Json | undefined)?.['x-not-implemented'];
  if (res.statusCode >= 500 && !(res.statusCode === 501 && notImplemented)) return `answered ${res.statusCode}: ${res.body.slice(0, 200)}`;
  if (res.statusCode < 400) return undefined;
  const surface = surfaceOf(url);
  let body: Json | undefined;
  try {
    body = res.json();
  } catch {
    body = undefined;
  }
  if (surface === 'api') {
    if (!body) return `error body is not JSON: ${res.body.slice(0, 200)}`;
    const ok =
      body.status === res.statusCode && typeof body.title === 'string' && body.title === body.error_type && typeof body.detail === 'string' &&
      body.detail === body.error_message && typeof body.type === 'string' && body.type.endsWith(`/api/v1/error/${body.error_type}`);
    if (!ok) return `error body is not an ApiError: ${res.body.slice(0, 200)}`;
    if (url.length > 40 && res.body.includes(url)) return 'error body echoes the URL';
  } else if (surface === 'registry') {
    const errors = body?.errors;
    const ok = Array.isArray(errors) && errors.length > 0 &&
      errors.every((e: Json) => typeof e?.code === 'string' && /^[A-Z_]+$/.test(e.code) && typeof e.message === 'string' && 'detail' in e);
    if (!ok) return `error body is not the OCI error envelope: ${res.body.slice(0, 200)}`;
    if (url.length > 40 && res.body.includes(url)) return 'error body echoes the URL';
  } else if (surface === 'oauth') {
    const html = String(res.headers['content-type'] ?? '').startsWith('text/html');
    if (!html && typeof body?.error !== 'string') return `OAuth error without {error}: ${res.body.slice(0, 200)}`;
  }
  return undefined;
}

beforeAll(async () => {
  mailbox = await startMailbox();
  t = await testApp({ ...mailbox.config(), SUPER_USERS: 'hostileroot', FEATURE_REPO_MIRROR: true });
  root = await makeUser(t, { username: 'hostileroot' });
  member = await makeUser(t);
  const session = await signIn(t, root);
  // Both credentials: Bearer for /api/v1, the session (and its CSRF token) for the web routes.
  oauthToken = await tokenFor(t, root, `${FULL_SCOPES} super:user`);
  headers = { ...bearer(oauthToken), cookie: session.headers.cookie, 'x-csrf-token': session.csrf };
}, 60_000);
afterAll(async () => {
  await t?.close();
  await mailbox?.close();
});

describe('hostile input on every route', () => {
  it('walks a route table that includes the API, OAuth and page routes', () => {
    const urls = new Set(t.app.routeTable.map((r) => r.url));
    for (const u of ['/api/v1/user/', '/oauth/authorize', '/oauth/access_token', '/signin', '/csrf_token', '/confirm']) expect(urls, u).toContain(u);
  });

  it('answers every hostile value with a 4xx in the surface format', async () => {
    const problems: string[] = [];
    const routes = t.app.routeTable.filter((r) => r.method !== 'HEAD');
    for (const route of routes) {
      const registry = route.url.startsWith('/v2/') && route.url !== '/v2/auth';
      const w = await makeWorld(registry);
      // /v2 requests carry the registry token, the rest the OAuth token and session.
      const routeHeaders = registry ? { authorization: `Bearer ${w.registry!.token}` } : headers;
      // Named parameters, and a wildcard (`/api/docs/*`, `/api/v1/*` for OPTIONS) as the parameter `*`.
      const names = [...route.url.matchAll(/:([A-Za-z0-9_]+)|\*/g)].map((m) => m[1] ?? '*');
      const path = (over: Record<string, string> = {}) =>
        route.url.replace(/:([A-Za-z0-9_]+)|\*/g, (_, p: string | undefined) => over[p ?? '*'] ?? encodeURIComponent(paramValue(w, p ?? '*', route)));
      const query = properties(route.schema?.querystring);
      const body = properties(route.schema?.body);
      const hasBody = route.method !== 'GET' && route.method !== 'DELETE';
      const validBody = () => {
        const out: Json = {};
        for (const [k, v] of Object.entries(body.props)) out[k] = sample(k, v, body.root, w);
        return out;
      };
      const send = async (what: string, url: string, extra: { payload?: unknown; headers?: Record<string, string>; overCap?: boolean } = {}, anonymous = false) => {
        const h = anonymous ? {} : routeHeaders;
        const payload = extra.payload ?? (hasBody ? validBody() : undefined);
        const res = await t.inject({ method: route.method as 'GET', url, headers: { ...h, ...extra.headers }, ...(payload === undefined ? {} : { payload: payload as string }) });
        const p = problemWith(route, res, url) ?? (extra.overCap && res.statusCode < 400 ? `accepted a string over ${MAX_STRING_LENGTH} characters (${res.statusCode})` : undefined);
        if (p) problems.push(`${route.method} ${route.url} ${what}${anonymous ? ' (anonymous)' : ''}: ${p}`);
      };
      for (const name of names) {
        for (const v of URL_VALUES) {
          await send(`path ${name}=${JSON.stringify(v.slice(0, 40))}`, path({ [name]: v }));
          await send(`path ${name}=${JSON.stringify(v.slice(0, 40))}`, path({ [name]: v }), {}, true);
        }
      }
      for (const name of Object.keys(query.props)) {
        for (const v of URL_VALUES) await send(`query ${name}=${JSON.stringify(v.slice(0, 40))}`, `${path()}?${name}=${v}`);
        await send(`query ${name} repeated`, `${path()}?${name}=a&${name}=%00`);
      }
      await send('query with a hostile unknown key', `${path()}?%00=1&x=%FF`);
      if (route.url.startsWith('/v2/')) {
        for (const name of REGISTRY_QUERY) for (const v of URL_VALUES) await send(`query ${name}=${JSON.stringify(v.slice(0, 40))}`, `${path()}?${name}=${v}`);
        for (const name of REGISTRY_HEADERS) for (const v of HEADER_VALUES) await send(`header ${name}=${JSON.stringify(v.slice(0, 40))}`, path(), { headers: { [name]: v } });
      }
      if (hasBody) {
        for (const name of Object.keys(body.props)) {
          for (const v of BODY_VALUES) {
            const overCap = typeof v === 'string' && v.length > MAX_STRING_LENGTH && !route.config?.maxStringLength;
            await send(`body ${name}=${JSON.stringify(v)?.slice(0, 40)}`, path(), { payload: { ...validBody(), [name]: v }, overCap });
          }
        }
        for (const raw of RAW_BODIES) await send(`body ${raw.name}`, path(), { payload: raw.payload, headers: { 'content-type': raw.type } });
      }
    }
    expect(problems.slice(0, 100), `${problems.length} problems`).toEqual([]);
  }, 900_000);
});
