import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GUIDE_OPERATIONS } from '../../src/api/operations.js';
import { SERVED_OPERATIONS } from '../../src/api/index.js';
import { toRoutePath } from '../../src/api/not-implemented.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { bearer, makeUser, tokenFor } from '../helpers/factories.js';

let t: TestApp;
beforeAll(async () => {
  t = await testApp();
});
afterAll(() => t?.close());

describe('GET /api/v1/error/{error_type}', () => {
  it.each([
    ['not_found', 'The resource was not found.'],
    ['invalid_token', 'The access token provided was invalid.'],
    ['fresh_login_required', 'The action requires a fresh login to succeed.'],
    ['insufficient_scope', 'The access token did not have sufficient scope to access the requested resource.'],
  ])('describes %s', async (type, description) => {
    const res = await t.inject(`/api/v1/error/${type}`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ type: `http://localhost:8080/api/v1/error/${type}`, title: type, description });
  });

  it('answers 404 ApiError for an unknown type, including prototype keys', async () => {
    for (const type of ['nope', 'constructor', '__proto__', 'toString']) {
      const res = await t.inject(`/api/v1/error/${type}`);
      expect(res.statusCode).toBe(404);
      expect(res.json().title).toBe('not_found');
    }
  });
});

describe('ApiError bodies', () => {
  it('answers unknown /api/v1 paths with a full ApiError 404', async () => {
    const res = await t.inject('/api/v1/no/such/thing');
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({
      status: 404,
      error_message: 'Not Found',
      title: 'not_found',
      error_type: 'not_found',
      detail: 'Not Found',
      type: 'http://localhost:8080/api/v1/error/not_found',
    });
  });

  it('answers 501 not_implemented for every guide operation not served yet', async () => {
    const stubs = GUIDE_OPERATIONS.filter((o) => !SERVED_OPERATIONS.has(o.operationId));
    expect(stubs.length).toBeGreaterThan(0);
    for (const op of stubs) {
      const url = '/api/v1' + toRoutePath(op.path).replace(/:([a-z_]+)/g, 'x$1');
      const res = await t.inject({ method: op.method, url });
      expect(res.statusCode, `${op.method} ${url}`).toBe(501);
      expect(res.json()).toMatchObject({ status: 501, title: 'not_implemented', type: 'http://localhost:8080/api/v1/error/not_implemented' });
      expect(res.json().detail).toContain(op.operationId);
    }
    expect((await t.inject('/api/v1/error/not_implemented')).statusCode).toBe(200);
  });
});

describe('GET /api/v1/discovery', () => {
  it('is Swagger 2.0 in Quay’s form, generated from the routes', async () => {
    const res = await t.inject('/api/v1/discovery');
    expect(res.statusCode).toBe(200);
    const d = res.json();
    expect(d).toMatchObject({ swagger: '2.0', host: 'localhost:8080', basePath: '/', schemes: ['http'] });
    expect(d.info).toMatchObject({ version: 'v1', title: 'Quay Frontend' });
    expect(d.securityDefinitions.oauth2_implicit).toMatchObject({
      type: 'oauth2',
      flow: 'implicit',
      authorizationUrl: 'http://localhost:8080/oauth/authorize',
    });
    expect(Object.keys(d.securityDefinitions.oauth2_implicit.scopes).sort()).toEqual(
      ['org:admin', 'repo:admin', 'repo:create', 'repo:read', 'repo:write', 'super:user', 'user:admin', 'user:read'],
    );
    expect(d.definitions.ApiError.required).toEqual(['status', 'type', 'title']);
    const apptoken = d.paths['/api/v1/user/apptoken'];
    expect(apptoken).toMatchObject({ 'x-path': '/api/v1/user/apptoken', 'x-tag': 'appspecifictokens' });
    expect(apptoken.post).toMatchObject({ operationId: 'createAppToken', tags: ['appspecifictokens'], security: [{ oauth2_implicit: ['user:admin'] }] });
    expect(apptoken.post.parameters).toContainEqual({ in: 'body', name: 'body', required: true, schema: { $ref: '#/definitions/NewToken' } });
    expect(d.definitions.NewToken.required).toEqual(['title']);
    expect(d.paths['/api/v1/user/apptoken/{token_uuid}'].get.parameters).toContainEqual(expect.objectContaining({ in: 'path', name: 'token_uuid', required: true, type: 'string' }));
    expect(d.paths['/api/v1/repository/{repository}'].get.operationId).toBe('getRepo');
    expect(d.tags).toContainEqual({ name: 'discovery', description: 'API discovery information.' });
  });

  it('lists every guide operation exactly once, and internal ones only with ?internal=true', async () => {
    const ids = (doc: { paths: Record<string, Record<string, { operationId?: string }>> }) =>
      Object.values(doc.paths).flatMap((item) => Object.values(item).flatMap((op) => (typeof op === 'object' && op?.operationId ? [op.operationId] : [])));
    const pub = ids((await t.inject('/api/v1/discovery')).json());
    expect(new Set(pub).size).toBe(pub.length);
    // changeRepoState exists only with FEATURE_REPO_MIRROR (off by default), as in Quay.
    expect(pub.sort()).toEqual(GUIDE_OPERATIONS.map((o) => o.operationId).filter((id) => id !== 'changeRepoState').sort());
    const internal = (await t.inject('/api/v1/discovery?internal=true')).json();
    const all = ids(internal);
    expect(all).toEqual(expect.arrayContaining(['signinUser', 'logout', 'createNewUser', 'verifyUser']));
    expect(internal.paths['/api/v1/user/apptoken'].post['x-requires-fresh-login']).toBe(true);
    // Web routes that live under /api/v1 are never documented.
    expect(Object.keys(internal.paths)).not.toContain('/api/v1/user/initialize');
  });

  it('leaves super:user out of the scopes when FEATURE_SUPER_USERS is off', async () => {
    const off = await testApp({ FEATURE_SUPER_USERS: 'false' });
    try {
      const d = (await off.inject('/api/v1/discovery')).json();
      expect(d.securityDefinitions.oauth2_implicit.scopes).not.toHaveProperty('super:user');
    } finally {
      await off.close();
    }
  });

  it('is served anonymously even with anonymous access off, unlike the rest', async () => {
    const off = await testApp({ FEATURE_ANONYMOUS_ACCESS: 'false' });
    try {
      expect((await off.inject('/api/v1/discovery')).statusCode).toBe(200);
      const msgs = await off.inject('/api/v1/messages');
      expect(msgs.statusCode).toBe(401);
      expect(msgs.json()).toMatchObject({ error: 'Anonymous access is not allowed' });
      const u = await makeUser(off);
      expect((await off.inject({ url: '/api/v1/messages', headers: bearer(await tokenFor(off, u, 'user:read')) })).statusCode).toBe(200);
    } finally {
      await off.close();
    }
  });

  it('serves the same routes as OpenAPI 3.1 at /api/v1/openapi.json', async () => {
    const d = (await t.inject('/api/v1/openapi.json')).json();
    expect(d.openapi).toBe('3.1.0');
    expect(d.components.securitySchemes.oauth2_implicit.flows.implicit.authorizationUrl).toBe('http://localhost:8080/oauth/authorize');
    expect(d.paths['/api/v1/user/'].get.operationId).toBe('getLoggedInUser');
  });
});

describe('CORS and browser rules', () => {
  it('answers OPTIONS on any API resource with 200 null and CORS headers', async () => {
    const res = await t.inject({
      method: 'OPTIONS',
      url: '/api/v1/user/',
      headers: { origin: 'https://docs.example.com', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization,x-requested-with' },
    });
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe('null');
    expect(res.headers['access-control-allow-origin']).toBe('*');
    expect(res.headers['access-control-allow-headers']).toBe('authorization,x-requested-with');
    expect(String(res.headers['access-control-allow-methods'])).toContain('DELETE');
  });

  it('puts Access-Control-Allow-Origin on API responses, errors included', async () => {
    expect((await t.inject('/api/v1/user/')).headers['access-control-allow-origin']).toBe('*');
    expect((await t.inject('/api/v1/discovery')).headers['access-control-allow-origin']).toBe('*');
  });

  it('allows credentials only for a single configured origin', async () => {
    const one = await testApp({ CORS_ORIGIN: 'https://ui.example.com' });
    try {
      const res = await one.inject('/api/v1/discovery');
      expect(res.headers['access-control-allow-origin']).toBe('https://ui.example.com');
      expect(res.headers['access-control-allow-credentials']).toBe('true');
    } finally {
      await one.close();
    }
  });

  it('refuses browser GETs without X-Requested-With (BROWSER_API_CALLS_XHR_ONLY)', async () => {
    const ua = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36';
    const res = await t.inject({ url: '/api/v1/messages', headers: { 'user-agent': ua } });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'API calls must be invoked with an X-Requested-With header if called from a browser' });
    expect((await t.inject({ url: '/api/v1/messages', headers: { 'user-agent': ua, 'x-requested-with': 'XMLHttpRequest' } })).statusCode).toBe(200);
    expect((await t.inject({ url: '/api/v1/messages', headers: { 'user-agent': 'curl/8.0' } })).statusCode).toBe(200);
    const off = await testApp({ BROWSER_API_CALLS_XHR_ONLY: 'false' });
    try {
      expect((await off.inject({ url: '/api/v1/messages', headers: { 'user-agent': ua } })).statusCode).toBe(200);
    } finally {
      await off.close();
    }
  });
});
