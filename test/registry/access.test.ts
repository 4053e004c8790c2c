// Registry JWTs on /v2 requests (registry-and-auth.md C.5, C.6) and repository access (D.1, E.4):
// every way a token can be wrong answers 401 UNAUTHORIZED with the challenge; the entity behind a
// token must still exist; repository access comes from the token's grants or a public repository;
// the (route, method) → action map; names with `/` routed through the URL rewrite.
import { createHmac, createPublicKey } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomString, UPPER_DIGITS } from '../../src/auth/crypto.js';
import { insertAppToken } from '../../src/db/app-tokens.js';
import type { Namespace } from '../../src/db/schema.js';
import {
  existingRepo,
  mayAccessRepo,
  requiredAction,
  requireRepoAccess,
  resolveContext,
  rewriteRegistryUrl,
  splitRepoName,
  verifyRegistryToken,
  type RegistryAuth,
  type RegistryClaims,
} from '../../src/registry/access.js';
import { bearerChallenge, RegistryError } from '../../src/registry/errors.js';
import { ServiceKeys } from '../../src/registry/service-keys.js';
import { buildClaims, signRegistryToken } from '../../src/registry/token.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { grant, makeOrg, makeRepo, makeRobot, makeUser, tokenFor, type TestUser } from '../helpers/factories.js';

const HOST = 'localhost:8080';
const CHALLENGE = `Bearer realm="http://${HOST}/v2/auth",service="${HOST}"`;

let t: TestApp;
let keys: ServiceKeys;
let alice: TestUser;

beforeAll(async () => {
  // No caching, so a deleted key or a disabled user is seen at once.
  t = await testApp({ AUTH_CACHE_SECONDS: 0 });
  keys = await ServiceKeys.load(t.app.db, t.app.secrets, 0);
  alice = await makeUser(t);
});
afterAll(() => t?.close());

const basic = (u: { username: string; password: string }) => ({ authorization: `Basic ${Buffer.from(`${u.username}:${u.password}`).toString('base64')}` });
const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** A token from /v2/auth, as clients get them. */
async function login(headers: Record<string, string>, scopes: string[] = []): Promise<string> {
  const q = [`service=${HOST}`, ...scopes.map((s) => `scope=${encodeURIComponent(s)}`)].join('&');
  const res = await t.inject({ url: `/v2/auth?${q}`, headers });
  expect(res.statusCode, res.body).toBe(200);
  return res.json().token;
}

/** Claims as /v2/auth would issue them for alice, with `over` applied. */
async function aliceClaims(over: Partial<Record<keyof RegistryClaims, unknown>> = {}): Promise<Record<string, unknown>> {
  const identity = { kind: 'user' as const, entity: alice as Namespace, scopes: null, oauth: null, appToken: null };
  return { ...buildClaims({ audience: HOST, identity, credentialsSent: true, access: [], roots: {} }), ...over };
}

async function signed(claims: Record<string, unknown>): Promise<string> {
  return signRegistryToken(keys, claims as unknown as RegistryClaims);
}

async function expect401(authorization: string, url = '/v2/') {
  const res = await t.inject({ url, headers: { authorization } });
  expect(res.statusCode, res.body).toBe(401);
  expect(res.headers['www-authenticate']).toBe(CHALLENGE);
  expect(res.headers['docker-distribution-api-version']).toBe('registry/2.0');
  const body = res.json();
  expect(body.errors).toHaveLength(1);
  expect(body.errors[0].code).toBe('UNAUTHORIZED');
  return body.errors[0].message as string;
}

describe('GET /v2/ (C.6)', () => {
  it('401 with the challenge without a token; 200 `true` with one, the challenge still sent', async () => {
    const none = await t.inject({ url: '/v2/' });
    expect(none.statusCode).toBe(401);
    expect(none.headers['www-authenticate']).toBe(CHALLENGE);
    expect(none.json()).toEqual({ errors: [{ code: 'UNAUTHORIZED', message: 'access to the requested resource is not authorized', detail: {} }] });
    const token = await login(basic(alice));
    for (const url of ['/v2/', '/v2']) {
      const ok = await t.inject({ url, headers: { authorization: `Bearer ${token}` } });
      expect(ok.statusCode).toBe(200);
      expect(ok.body).toBe('true');
      expect(ok.headers['www-authenticate']).toBe(CHALLENGE);
      expect(ok.headers['docker-distribution-api-version']).toBe('registry/2.0');
    }
    const head = await t.inject({ method: 'HEAD', url: '/v2/', headers: { authorization: `Bearer ${token}` } });
    expect(head.statusCode).toBe(200);
    expect(head.body).toBe('');
  });

  it('accepts an anonymous token', async () => {
    const pub = await makeRepo(t, alice, { visibility: 'public' });
    const token = await login({}, [`repository:${alice.username}/${pub.name}:pull`]);
    expect((await t.inject({ url: '/v2/', headers: { authorization: `Bearer ${token}` } })).statusCode).toBe(200);
  });

  it('refuses Basic credentials and an OAuth token sent as Bearer: exchange them at /v2/auth first', async () => {
    expect(await expect401(basic(alice).authorization)).toBe('Invalid bearer token format');
    expect(await expect401(`Bearer ${await tokenFor(t, alice, 'repo:read')}`)).toBe('Invalid bearer token format');
  });

  it('takes no session cookie: a signed-in browser is still anonymous on /v2', async () => {
    const first = await t.inject({ url: '/csrf_token' });
    const cookie = first.cookies.find((c) => c.name === '_csrf_token')!.value;
    const signin = await t.inject({
      method: 'POST', url: '/api/v1/signin',
      headers: { cookie: `_csrf_token=${cookie}`, 'x-csrf-token': first.json().csrf_token },
      payload: { username: alice.username, password: alice.password },
    });
    expect(signin.statusCode).toBe(200);
    const session = signin.cookies.find((c) => c.name === '_csrf_token')!.value;
    // A session due for sliding: any request that reads it would extend it and set the cookie again.
    const old = new Date(Date.now() + 3600_000);
    await t.app.db.updateTable('session').set({ expires_at: old }).where('user_id', '=', alice.id).execute();
    const res = await t.inject({ url: '/v2/', headers: { cookie: `_csrf_token=${session}` } });
    expect(res.statusCode).toBe(401);
    expect(res.headers['set-cookie']).toBeUndefined();
    const row = await t.app.db.selectFrom('session').select('expires_at').where('user_id', '=', alice.id).executeTakeFirstOrThrow();
    expect(row.expires_at.getTime()).toBe(old.getTime());
    // The same cookie on the API is read (and slid), so the check above can fail.
    const api = await t.inject({ url: '/api/v1/user/', headers: { cookie: `_csrf_token=${session}` } });
    expect(api.statusCode).toBe(200);
    expect(api.headers['set-cookie']).toBeDefined();
  });
});

describe('JWT verification (C.5): each failure is 401 with the challenge', () => {
  it('accepts a well-formed token and keeps its grants', async () => {
    const repo = await makeRepo(t, alice);
    const token = await login(basic(alice), [`repository:${alice.username}/${repo.name}:pull`, `repository:${HOST}/${alice.username}/${repo.name}:push`]);
    const v = await verifyRegistryToken(`Bearer ${token}`, keys, t.config);
    expect(v.ok).toBe(true);
    if (v.ok) expect([...v.token.grants]).toEqual([[`${alice.username}/${repo.name}`, 'write']]);
  });

  it('header format: scheme case, spacing, extra parts', async () => {
    const token = await login(basic(alice));
    for (const h of [`bearer ${token}`, `Bearer  ${token}`, `Bearer ${token} x`, 'Bearer abc', `Bearer ${token}.x`, 'Bearer ']) {
      expect(await expect401(h), h).toMatch(/Invalid bearer token format|Invalid token/);
    }
  });

  it('an unknown kid, a deleted key, an expired key, an unapproved key', async () => {
    const claims = await aliceClaims();
    const [h, p, s] = (await signed(claims)).split('.');
    const header = JSON.parse(Buffer.from(h, 'base64url').toString());
    expect(await expect401(`Bearer ${b64({ ...header, kid: 'no-such-kid' })}.${p}.${s}`)).toBe('Unknown service key');
    expect(await expect401(`Bearer ${b64({ typ: 'JWT', alg: 'RS256' })}.${p}.${s}`)).toBe('Missing kid header');

    // The instance key's row changes under a running server: expiry, approval, deletion.
    const token = `Bearer ${h}.${p}.${s}`;
    const row = await t.app.db.selectFrom('service_key').selectAll().where('kid', '=', header.kid).executeTakeFirstOrThrow();
    const res = await t.inject({ url: '/v2/', headers: { authorization: token } });
    expect(res.statusCode).toBe(200);
    await t.app.db.updateTable('service_key').set({ expiration_date: new Date(Date.now() - 1000) }).where('id', '=', row.id).execute();
    expect(await expect401(token)).toBe('Unknown service key');
    await t.app.db.updateTable('service_key').set({ expiration_date: null, approval_type: null }).where('id', '=', row.id).execute();
    expect(await expect401(token)).toBe('Unknown service key');
    await t.app.db.updateTable('service_key').set({ approval_type: 'Automatic' }).where('id', '=', row.id).execute();
    expect((await t.inject({ url: '/v2/', headers: { authorization: token } })).statusCode).toBe(200);
  });

  it('a tampered payload or signature', async () => {
    const [h, p, s] = (await signed(await aliceClaims())).split('.');
    const tampered = b64({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), sub: 'someone-else' });
    expect(await expect401(`Bearer ${h}.${tampered}.${s}`)).toBe('Invalid token signature');
    const flipped = Buffer.from(s, 'base64url');
    flipped[10] ^= 1;
    expect(await expect401(`Bearer ${h}.${p}.${flipped.toString('base64url')}`)).toBe('Invalid token signature');
  });

  it('alg none and HS256 (the public key used as an HMAC secret) are refused', async () => {
    const claims = await aliceClaims();
    const [h, p] = (await signed(claims)).split('.');
    const kid = JSON.parse(Buffer.from(h, 'base64url').toString()).kid;
    const none = b64({ typ: 'JWT', alg: 'none', kid });
    expect(await expect401(`Bearer ${none}.${p}.x`)).toBe('The token is not signed with RS256');
    const hs = b64({ typ: 'JWT', alg: 'HS256', kid });
    const row = await t.app.db.selectFrom('service_key').select('jwk').where('kid', '=', kid).executeTakeFirstOrThrow();
    const pem = createPublicKey({ key: row.jwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
    const mac = createHmac('sha256', pem).update(`${hs}.${p}`).digest('base64url');
    expect(await expect401(`Bearer ${hs}.${p}.${mac}`)).toBe('The token is not signed with RS256');
  });

  it('audience, issuer, subject and access claims', async () => {
    expect(await expect401(`Bearer ${await signed(await aliceClaims({ aud: 'other.example' }))}`)).toBe('Invalid audience');
    expect(await expect401(`Bearer ${await signed(await aliceClaims({ aud: null }))}`)).toBe('Invalid audience');
    expect((await t.inject({ url: '/v2/', headers: { authorization: `Bearer ${await signed(await aliceClaims({ aud: ['x', HOST] }))}` } })).statusCode).toBe(200);
    expect(await expect401(`Bearer ${await signed(await aliceClaims({ iss: 'someone' }))}`)).toBe('Invalid issuer');
    expect(await expect401(`Bearer ${await signed(await aliceClaims({ sub: undefined }))}`)).toBe('Missing sub field in JWT');
    for (const access of [
      [{ type: 'registry', name: 'catalog', actions: ['*'] }],
      [{ type: 'repository', name: 'a/b', actions: ['delete'] }],
      [{ type: 'repository', actions: ['pull'] }],
      { type: 'repository' },
    ]) {
      expect(await expect401(`Bearer ${await signed(await aliceClaims({ access }))}`)).toBe('Token contained invalid or malformed access grants');
    }
  });

  it('exp, nbf and iat: required, 30 s of leeway, iat not in the future, at most 3660 s apart', async () => {
    const now = Math.floor(Date.now() / 1000);
    for (const claim of ['exp', 'iat', 'nbf'] as const) {
      expect(await expect401(`Bearer ${await signed(await aliceClaims({ [claim]: undefined }))}`)).toBe(`Token is missing the "${claim}" claim`);
      expect(await expect401(`Bearer ${await signed(await aliceClaims({ [claim]: String(now) }))}`)).toBe(`Token is missing the "${claim}" claim`);
    }
    const at = (iat: number, exp: number, nbf = iat) => aliceClaims({ iat, nbf, exp });
    expect(await expect401(`Bearer ${await signed(await at(now - 3700, now - 100))}`)).toBe('Token has expired');
    const inLeeway = await signed(await at(now - 3610, now - 10));
    expect((await t.inject({ url: '/v2/', headers: { authorization: `Bearer ${inLeeway}` } })).statusCode).toBe(200);
    expect(await expect401(`Bearer ${await signed(await at(now + 120, now + 3700))}`)).toBe('Token is not yet valid');
    expect(await expect401(`Bearer ${await signed(await at(now + 120, now + 3700, now))}`)).toBe('Token was issued in the future');
    expect(await expect401(`Bearer ${await signed(await at(now, now + 3661))}`)).toBe('Token was signed for more than 3660 seconds');
    expect((await t.inject({ url: '/v2/', headers: { authorization: `Bearer ${await signed(await at(now, now + 3660))}` } })).statusCode).toBe(200);
  });

  it('a token whose expiry has passed is refused, and the same check runs on /v2/_catalog', async () => {
    const now = Math.floor(Date.now() / 1000);
    expect(await expect401(`Bearer ${await signed(await aliceClaims({ iat: now - 4000, nbf: now - 4000, exp: now - 400 }))}`, '/v2/_catalog')).toBe('Token has expired');
  });
});

describe('the entity behind a token must still be valid (stricter than Quay)', () => {
  it('a disabled user’s token stops working before it expires; enabling the user again restores it', async () => {
    const u = await makeUser(t);
    const token = `Bearer ${await login(basic(u))}`;
    expect((await t.inject({ url: '/v2/', headers: { authorization: token } })).statusCode).toBe(200);
    await t.app.db.updateTable('namespace').set({ enabled: false }).where('id', '=', u.id).execute();
    expect(await expect401(token)).toBe('The account or credential this token was issued to is no longer valid');
    await t.app.db.updateTable('namespace').set({ enabled: true }).where('id', '=', u.id).execute();
    expect((await t.inject({ url: '/v2/', headers: { authorization: token } })).statusCode).toBe(200);
  });

  it('a deleted robot’s token, a revoked OAuth token’s, a deleted app token’s', async () => {
    const org = await makeOrg(t, [alice]);
    const robot = await makeRobot(t, org);
    const robotToken = `Bearer ${await login({ authorization: `Basic ${Buffer.from(`${robot.username}:${robot.token}`).toString('base64')}` })}`;
    const oauth = await tokenFor(t, alice, 'repo:read');
    const oauthToken = `Bearer ${await login({ authorization: `Basic ${Buffer.from(`$oauthtoken:${oauth}`).toString('base64')}` })}`;
    const code = randomString(120, UPPER_DIGITS);
    await insertAppToken(t.app.db, { userId: alice.id, title: 't', tokenName: code.slice(0, 60), secretEnc: t.app.secrets.encrypt(code.slice(60)), expiration: null });
    const appToken = `Bearer ${await login({ authorization: `Basic ${Buffer.from(`$app:${code}`).toString('base64')}` })}`;
    const all = [robotToken, oauthToken, appToken];
    for (const token of all) expect((await t.inject({ url: '/v2/', headers: { authorization: token } })).statusCode).toBe(200);
    await t.app.db.deleteFrom('namespace').where('id', '=', robot.id).execute();
    await t.app.db.deleteFrom('oauth_access_token').where('token_name', '=', oauth.slice(0, 20)).execute();
    await t.app.db.deleteFrom('app_specific_token').where('token_name', '=', code.slice(0, 60)).execute();
    for (const token of all) await expect401(token);
  });

  it('resolveContext: anonymous only for the anonymous subject; unknown kinds and references are refused', async () => {
    const db = t.app.db;
    expect(await resolveContext(db, t.config, { sub: '(anonymous)', context: {} })).toBe('anonymous');
    expect(await resolveContext(db, t.config, { sub: alice.username, context: {} })).toBeNull();
    expect(await resolveContext(db, t.config, { sub: alice.username, context: { entity_kind: 'token', entity_reference: 'x' } })).toBeNull();
    expect(await resolveContext(db, t.config, { sub: alice.username, context: { entity_kind: 'user', entity_reference: '00000000-0000-0000-0000-000000000000' } })).toBeNull();
    const ok = await resolveContext(db, t.config, { sub: alice.username, context: { entity_kind: 'user', entity_reference: alice.uuid } });
    expect(ok).toMatchObject({ kind: 'user', entity: { id: alice.id } });
  });
});

describe('repository access (D.1, E.4)', () => {
  let owner: TestUser;
  let reader: TestUser;
  let priv: { id: number; name: string };
  let pub: { id: number; name: string };

  beforeAll(async () => {
    owner = await makeUser(t);
    reader = await makeUser(t);
    priv = await makeRepo(t, owner);
    pub = await makeRepo(t, owner, { visibility: 'public' });
    await grant(t, priv, { userId: reader.id }, 'read');
  });

  /** What the registry hook leaves on a request, for a token (or none), on the path name `name`. */
  async function request(token: string | null, name: string, app: TestApp = t): Promise<FastifyRequest> {
    const auth: RegistryAuth = { token: null, identity: null };
    if (token) {
      const v = await verifyRegistryToken(`Bearer ${token}`, keys, app.config);
      if (!v.ok) throw new Error(v.reason);
      const identity = await resolveContext(app.app.db, app.config, v.token.claims);
      auth.token = v.token;
      auth.identity = identity === 'anonymous' || identity === null ? null : identity;
    }
    return { server: app.app, params: { name }, registryAuth: auth, ip: '127.0.0.1' } as unknown as FastifyRequest;
  }

  async function refusal(p: Promise<unknown>): Promise<RegistryError> {
    const err = await p.then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    return err as RegistryError;
  }

  it('a public repository is readable without any token; writing it is not', async () => {
    const name = `${owner.username}/${pub.name}`;
    const access = await requireRepoAccess(await request(null, name), 'pull');
    expect(access).toMatchObject({ namespace: owner.username, repository: pub.name, full: name, via: 'public', action: 'pull' });
    expect(access.repo?.id).toBe(pub.id);
    const err = await refusal(requireRepoAccess(await request(null, name), 'push'));
    expect(err.statusCode).toBe(401);
    expect(err.code).toBe('UNAUTHORIZED');
    expect(err.scope).toEqual({ repository: name, actions: ['pull', 'push'] });
  });

  it('a private repository without a grant: 401 with the scoped challenge, never 403, for everyone', async () => {
    const name = `${owner.username}/${priv.name}`;
    const outsider = await login(basic(alice), [`repository:${name}:pull`]);
    for (const token of [null, outsider]) {
      const err = await refusal(requireRepoAccess(await request(token, name), 'pull'));
      expect(err.statusCode).toBe(401);
      expect(err.scope).toEqual({ repository: name, actions: ['pull'] });
    }
    // The error handler writes the scope into the challenge (bearerChallenge is what it calls).
    expect(bearerChallenge(`http://${HOST}`, HOST, { repository: name, actions: ['pull', 'push'] })).toBe(
      `${CHALLENGE},scope="repository:${name}:pull,push"`,
    );
  });

  it('grants what the token grants: read ≠ write; admin covers both; the live permissions are not consulted', async () => {
    const name = `${owner.username}/${priv.name}`;
    const readToken = await login(basic(reader), [`repository:${name}:pull,push`]);
    expect((await requireRepoAccess(await request(readToken, name), 'pull')).via).toBe('token');
    expect((await refusal(requireRepoAccess(await request(readToken, name), 'push'))).statusCode).toBe(401);
    const ownerToken = await login(basic(owner), [`repository:${name}:*`]);
    expect((await requireRepoAccess(await request(ownerToken, name), 'push')).via).toBe('token');
    expect((await requireRepoAccess(await request(ownerToken, name), '*')).via).toBe('token');
    // Revoking the reader's permission does not shorten the token's hour.
    await t.app.db.deleteFrom('repository_permission').where('repository_id', '=', priv.id).where('user_id', '=', reader.id).execute();
    expect((await requireRepoAccess(await request(readToken, name), 'pull')).via).toBe('token');
    await grant(t, priv, { userId: reader.id }, 'read');
  });

  it('a grant for a missing repository passes; the handler then answers NAME_UNKNOWN', async () => {
    const name = `${owner.username}/not-there-yet`;
    const token = await login(basic(owner), [`repository:${name}:pull`]);
    const req = await request(token, name);
    req.repoAccess = await requireRepoAccess(req, 'pull');
    expect(req.repoAccess.repo).toBeUndefined();
    const err = await refusal(Promise.resolve().then(() => existingRepo(req)));
    expect([err.statusCode, err.code]).toEqual([404, 'NAME_UNKNOWN']);
  });

  it('writes to a READ_ONLY repository are refused (405 DENIED) even with a push grant issued before the change', async () => {
    const repo = await makeRepo(t, owner);
    const name = `${owner.username}/${repo.name}`;
    const token = await login(basic(owner), [`repository:${name}:push,pull`]);
    await t.app.db.updateTable('repository').set({ state: 'READ_ONLY' }).where('id', '=', repo.id).execute();
    const err = await refusal(requireRepoAccess(await request(token, name), 'push'));
    expect([err.statusCode, err.code]).toEqual([405, 'DENIED']);
    expect((await requireRepoAccess(await request(token, name), 'pull')).via).toBe('token');
  });

  it('a repository that does not hold images answers 405 UNSUPPORTED', async () => {
    const repo = await makeRepo(t, owner, { visibility: 'public' });
    await t.app.db.updateTable('repository').set({ kind: 'application' }).where('id', '=', repo.id).execute();
    const err = await refusal(requireRepoAccess(await request(null, `${owner.username}/${repo.name}`), 'pull'));
    expect([err.statusCode, err.code]).toEqual([405, 'UNSUPPORTED']);
  });

  it('names: invalid ones are NAME_INVALID; one segment means library/<name>', async () => {
    for (const name of ['', 'UPPER/x', 'a/B', 'a//b', 'ns/-x', `ns/${'a'.repeat(256)}`]) {
      const err = await refusal(requireRepoAccess(await request(null, name), 'pull'));
      expect([err.statusCode, err.code], name).toEqual([400, 'NAME_INVALID']);
    }
    const library = await makeOrg(t, [], 'library');
    const repo = await makeRepo(t, library, { visibility: 'public' });
    expect(await requireRepoAccess(await request(null, repo.name), 'pull')).toMatchObject({ namespace: 'library', full: `library/${repo.name}` });
    expect(splitRepoName('ns/team/app', t.config)).toEqual({ namespace: 'ns', repository: 'team/app', full: 'ns/team/app' });
    expect(splitRepoName('x', { ...t.config, FEATURE_LIBRARY_SUPPORT: false })).toBeUndefined();
  });

  it('mayAccessRepo answers without throwing (a mount’s `from`)', async () => {
    expect(await mayAccessRepo(await request(null, 'x/y'), 'pull', `${owner.username}/${priv.name}`)).toBeUndefined();
    expect((await mayAccessRepo(await request(null, 'x/y'), 'pull', `${owner.username}/${pub.name}`))?.via).toBe('public');
  });

  it('FEATURE_ANONYMOUS_ACCESS=false: public repositories need a token too', async () => {
    const closed = await testApp({ FEATURE_ANONYMOUS_ACCESS: false }, t.database);
    try {
      const err = await refusal(requireRepoAccess(await request(null, `${owner.username}/${pub.name}`, closed), 'pull'));
      expect(err.statusCode).toBe(401);
      const catalog = await closed.inject({ url: '/v2/_catalog' });
      expect(catalog.statusCode).toBe(401);
    } finally {
      await closed.app.close();
    }
  });
});

describe('routes', () => {
  it('requiredAction: reads pull, writes push, everything on an upload session push, outside a repository nothing', () => {
    const table: [string, string, string | null][] = [
      ['GET', '/v2/:name/manifests/:reference', 'pull'],
      ['HEAD', '/v2/:name/manifests/:reference', 'pull'],
      ['PUT', '/v2/:name/manifests/:reference', 'push'],
      ['DELETE', '/v2/:name/manifests/:reference', 'push'],
      ['GET', '/v2/:name/blobs/:digest', 'pull'],
      ['HEAD', '/v2/:name/blobs/:digest', 'pull'],
      ['DELETE', '/v2/:name/blobs/:digest', 'push'],
      ['POST', '/v2/:name/blobs/uploads/', 'push'],
      ['GET', '/v2/:name/blobs/uploads/:uuid', 'push'],
      ['PATCH', '/v2/:name/blobs/uploads/:uuid', 'push'],
      ['PUT', '/v2/:name/blobs/uploads/:uuid', 'push'],
      ['DELETE', '/v2/:name/blobs/uploads/:uuid', 'push'],
      ['GET', '/v2/:name/tags/list', 'pull'],
      ['GET', '/v2/:name/referrers/:digest', 'pull'],
      ['GET', '/v2/', null],
      ['GET', '/v2/auth', null],
      ['GET', '/v2/_catalog', null],
    ];
    for (const [method, url, action] of table) expect(requiredAction(method, url), `${method} ${url}`).toBe(action);
  });

  it('rewriteRegistryUrl merges the segments of a name, and leaves everything else alone', () => {
    const cases: [string, string][] = [
      // `<name>` is namespace/repository: the whole of it becomes the one `:name` parameter.
      ['/v2/ns/repo/manifests/latest', '/v2/ns%2Frepo/manifests/latest'],
      ['/v2/ns/team/app/manifests/latest?x=1', '/v2/ns%2Fteam%2Fapp/manifests/latest?x=1'],
      ['/v2/ns/a/b/blobs/uploads/', '/v2/ns%2Fa%2Fb/blobs/uploads/'],
      ['/v2/ns/a/blobs/uploads/uuid-1', '/v2/ns%2Fa/blobs/uploads/uuid-1'],
      ['/v2/ns/a/blobs/sha256:abc', '/v2/ns%2Fa/blobs/sha256:abc'],
      ['/v2/ns/a/b/tags/list?n=2', '/v2/ns%2Fa%2Fb/tags/list?n=2'],
      ['/v2/ns/a/referrers/sha256:abc', '/v2/ns%2Fa/referrers/sha256:abc'],
      // A name may hold a segment named like a route keyword: the shortest name that leaves a
      // known route shape wins.
      ['/v2/ns/tags/list/manifests/v1', '/v2/ns%2Ftags%2Flist/manifests/v1'],
      ['/v2/ns/blobs/uploads/', '/v2/ns/blobs/uploads/'],
      // One segment (library/<name>) needs no rewrite.
      ['/v2/ubuntu/tags/list', '/v2/ubuntu/tags/list'],
      ['/v2/', '/v2/'],
      ['/v2/_catalog?n=1', '/v2/_catalog?n=1'],
      ['/v2/auth?scope=repository:a/b/c:pull', '/v2/auth?scope=repository:a/b/c:pull'],
      ['/v2/a/b/c/unknown', '/v2/a/b/c/unknown'],
      ['/api/v1/repository/a/b/c', '/api/v1/repository/a/b/c'],
    ];
    for (const [from, to] of cases) expect(rewriteRegistryUrl(from), from).toBe(to);
  });
});
