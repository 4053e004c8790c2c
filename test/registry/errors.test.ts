// The /v2 error envelope (OCI distribution spec "Error Codes"): every error under /v2, whatever
// raised it (a handler, the input guard, Fastify's router, Node's HTTP parser, the rate limiter, an
// unexpected exception), answers {errors: [{code, message, detail}]} with the right status and
// Docker-Distribution-API-Version, a 401 carries the Bearer challenge, and no body echoes the URL.
import { connect, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REGISTRY_ERRORS, RegistryError } from '../../src/registry/errors.js';
import { buildApp } from '../../src/app.js';
import { testApp, testConfig, type TestApp } from '../helpers/app.js';
import { freshDatabase } from '../helpers/database.js';
import { makeUser } from '../helpers/factories.js';

const HOST = 'localhost:8080';

let t: TestApp;
let port: number;

beforeAll(async () => {
  t = await testApp();
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  port = (t.app.server.address() as AddressInfo).port;
});
afterAll(() => t?.close());

interface Res {
  statusCode: number;
  headers: Record<string, unknown>;
  body: string;
}

/** Checks the envelope and returns its one error. */
function envelope(res: Res, status: number, code: string, url?: string) {
  expect(res.statusCode, res.body).toBe(status);
  expect(String(res.headers['content-type'])).toContain('application/json');
  const body = JSON.parse(res.body);
  expect(Object.keys(body)).toEqual(['errors']);
  expect(body.errors).toHaveLength(1);
  const [e] = body.errors;
  expect(Object.keys(e).sort()).toEqual(['code', 'detail', 'message']);
  expect(e.code).toBe(code);
  expect(typeof e.message).toBe('string');
  if (url) expect(res.body).not.toContain(url.slice(0, 60));
  return e as { code: string; message: string; detail: unknown };
}

/** Raw bytes over a socket: status, headers, body. */
function raw(request: string): Promise<Res> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    socket.setEncoding('latin1');
    socket.on('data', (d) => (data += d));
    socket.on('error', reject);
    socket.on('close', () => {
      const [head, ...rest] = data.split('\r\n\r\n');
      const [statusLine, ...lines] = head.split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of lines) headers[l.slice(0, l.indexOf(':')).toLowerCase()] = l.slice(l.indexOf(':') + 1).trim();
      resolve({ statusCode: Number(statusLine.split(' ')[1]), headers, body: rest.join('\r\n\r\n') });
    });
    socket.end(request);
  });
}

describe('the catalogue', () => {
  it('holds every code of the OCI spec and Quay’s own, each with a status, message and description', () => {
    const spec = ['BLOB_UNKNOWN', 'BLOB_UPLOAD_INVALID', 'BLOB_UPLOAD_UNKNOWN', 'DIGEST_INVALID', 'MANIFEST_BLOB_UNKNOWN', 'MANIFEST_INVALID', 'MANIFEST_UNKNOWN', 'NAME_INVALID', 'NAME_UNKNOWN', 'SIZE_INVALID', 'UNAUTHORIZED', 'DENIED', 'UNSUPPORTED', 'TOOMANYREQUESTS'];
    for (const code of [...spec, 'TAG_EXPIRED', 'TAG_IMMUTABLE', 'INVALID_REQUEST', 'UNKNOWN']) {
      const e = REGISTRY_ERRORS[code as keyof typeof REGISTRY_ERRORS];
      expect(e, code).toBeDefined();
      expect(e.status).toBeGreaterThanOrEqual(400);
      expect(e.message.length).toBeGreaterThan(0);
      expect(e.description.length).toBeGreaterThan(20);
    }
    for (const code of Object.keys(REGISTRY_ERRORS)) expect(code).toMatch(/^[A-Z_]+$/);
    expect(Object.entries(REGISTRY_ERRORS).filter(([, e]) => e.origin === 'oci').map(([c]) => c).sort()).toEqual([...spec].sort());
    // The spec's statuses where it names them, and Quay's for its own.
    expect([REGISTRY_ERRORS.NAME_UNKNOWN.status, REGISTRY_ERRORS.UNAUTHORIZED.status, REGISTRY_ERRORS.DENIED.status, REGISTRY_ERRORS.TOOMANYREQUESTS.status]).toEqual([404, 401, 403, 429]);
    expect([REGISTRY_ERRORS.TAG_EXPIRED.status, REGISTRY_ERRORS.TAG_IMMUTABLE.status, REGISTRY_ERRORS.UNSUPPORTED.status]).toEqual([404, 409, 405]);
  });

  it('a RegistryError takes the catalogue’s status and message unless told otherwise', () => {
    const e = new RegistryError('MANIFEST_INVALID', { status: 415, detail: { reason: 'x' } });
    expect([e.statusCode, e.message, e.detail]).toEqual([415, 'manifest invalid', { reason: 'x' }]);
    expect(new RegistryError('BLOB_UNKNOWN').detail).toEqual({});
  });
});

describe('errors under /v2', () => {
  it('an unknown path: 404 UNSUPPORTED, with the version header and without the path', async () => {
    const url = '/v2/no/such/endpoint-with-a-marker-xyzzy';
    const res = await t.inject({ url });
    envelope(res, 404, 'UNSUPPORTED', url);
    expect(res.headers['docker-distribution-api-version']).toBe('registry/2.0');
    envelope(await t.inject({ method: 'DELETE', url: '/v2/_catalog' }), 404, 'UNSUPPORTED');
    const head = await t.inject({ method: 'HEAD', url });
    expect(head.statusCode).toBe(404);
  });

  it('a malformed percent-escape, bytes that are not UTF-8, NUL: 400 INVALID_REQUEST before any lookup', async () => {
    for (const url of ['/v2/auth?scope=%E0%A4%A', '/v2/auth?scope=%FF', '/v2/auth?scope=a%00b', '/v2/_catalog?n=%00', '/v2/%00/tags/list', '/v2/a%00/b/manifests/x', '/v2/%C3%28']) {
      const e = envelope(await t.inject({ url }), 400, 'INVALID_REQUEST', url);
      expect(e.message).not.toContain('%');
    }
  });

  it('an overlong URL (414) and an overlong path parameter (414)', async () => {
    const long = `/v2/_catalog?n=${'1'.repeat(9000)}`;
    envelope(await t.inject({ url: long }), 414, 'INVALID_REQUEST', long);
    const param = `/v2/${'a'.repeat(600)}/tags/list`;
    const res = await t.inject({ url: param });
    expect([404, 414]).toContain(res.statusCode);
    envelope(res, res.statusCode, res.statusCode === 414 ? 'INVALID_REQUEST' : 'UNSUPPORTED', param);
  });

  it('query validation failures are INVALID_REQUEST', async () => {
    // `service` takes one string; an unknown key with a hostile value is refused by the input guard.
    envelope(await t.inject({ url: '/v2/auth?%00=1' }), 400, 'INVALID_REQUEST');
  });

  it('request lines and headers too large for Node’s parser, over a real socket: 414 and 431 in the envelope', async () => {
    const line = await raw(`GET /v2/_catalog?q=${'a'.repeat(20000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    envelope(line, 414, 'INVALID_REQUEST');
    expect(line.body).not.toContain('aaaaaaaaaa');
    const headers = await raw(`GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(20000)}\r\n\r\n`);
    envelope(headers, 431, 'INVALID_REQUEST');
  });

  it('401s carry the challenge (without a scope outside a repository)', async () => {
    for (const url of ['/v2/', '/v2/_catalog', '/v2/auth']) {
      const res = await t.inject({ url, headers: { authorization: 'Bearer not.a.token' } });
      envelope(res, 401, 'UNAUTHORIZED');
      expect(res.headers['www-authenticate']).toBe(`Bearer realm="http://${HOST}/v2/auth",service="${HOST}"`);
    }
  });

  it('other registry errors carry no challenge', async () => {
    const res = await t.inject({ url: '/v2/auth?scope=registry:catalog:*' });
    envelope(res, 400, 'INVALID_REQUEST');
    expect(res.headers['www-authenticate']).toBeUndefined();
  });
});

describe('rate limits and unexpected failures', () => {
  it('the per-address login limit answers 429 TOOMANYREQUESTS with Retry-After, shared with sign-in', async () => {
    const limited = await testApp({ RATE_LIMIT_PER_IP: 2 });
    try {
      const u = await makeUser(limited);
      const headers = { authorization: `Basic ${Buffer.from(`${u.username}:${u.password}`).toString('base64')}` };
      expect((await limited.inject({ url: '/v2/auth', headers })).statusCode).toBe(200);
      // The sign-in route counts against the same `login` group.
      await limited.inject({ method: 'POST', url: '/api/v1/signin', payload: { username: u.username, password: 'x' } });
      const res = await limited.inject({ url: '/v2/auth', headers });
      const e = envelope(res, 429, 'TOOMANYREQUESTS');
      expect(e.message).toMatch(/Too many requests/);
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
      expect(res.headers['docker-distribution-api-version']).toBe('registry/2.0');
      // Other /v2 routes are not limited.
      expect((await limited.inject({ url: '/v2/' })).statusCode).toBe(401);
    } finally {
      await limited.close();
    }
  });

  it('an unexpected error is 500 UNKNOWN, logged once, with nothing about its cause in the answer', async () => {
    const lines: string[] = [];
    const database = await freshDatabase();
    const broken = await buildApp(testConfig(), { database, logger: { level: 'error', stream: { write: (l: string) => void lines.push(l) } } });
    await broken.ready();
    const u = await makeUser(broken);
    // Break the database under the running app: the next query throws something no handler expects.
    await database.close();
    try {
      const res = await broken.inject({ url: '/v2/auth', headers: { authorization: `Basic ${Buffer.from(`${u.username}:${u.password}`).toString('base64')}` } });
      const e = envelope(res, 500, 'UNKNOWN');
      expect(e.message).toBe('Internal Server Error');
      expect(e.detail).toEqual({});
      expect(res.body).not.toMatch(/pglite|closed|database|stack|Error:/i);
      const logged = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'request failed');
      expect(logged).toHaveLength(1);
      expect(logged[0].err).toBeDefined();
    } finally {
      await broken.close().catch(() => {});
    }
  });
});
