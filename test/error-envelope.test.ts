// One error envelope per surface, including the errors Fastify and Node raise themselves: under
// /api/v1 Quay's ApiError, on /oauth OAuth's {error}, on pages the HTML error page. No error body
// echoes the URL. Oversized request lines and headers are tried over a real socket, where Node's
// HTTP parser refuses them before Fastify sees a request.
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp, type TestApp } from './helpers/app.js';
import { bearer, makeUser, tokenFor } from './helpers/factories.js';

let t: TestApp;
let headers: Record<string, string>;
let port: number;

beforeAll(async () => {
  t = await testApp();
  const u = await makeUser(t);
  headers = bearer(await tokenFor(t, u, 'repo:read repo:write repo:admin repo:create user:read user:admin org:admin'));
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  port = (t.app.server.address() as AddressInfo).port;
});
afterAll(() => t?.close());

function expectApiError(res: { statusCode: number; body: string; headers: Record<string, unknown> }, status: number, url?: string) {
  expect(res.statusCode, res.body).toBe(status);
  expect(String(res.headers['content-type'])).toContain('application/json');
  const b = JSON.parse(res.body);
  expect(b).toMatchObject({ status, title: b.error_type, detail: b.error_message });
  expect(typeof b.detail).toBe('string');
  expect(b.type).toBe(`http://localhost:8080/api/v1/error/${b.error_type}`);
  if (url) expect(res.body).not.toContain(url.slice(0, 60));
  return b;
}

/** Sends raw bytes over a socket and resolves with the status line, headers and body. */
function raw(request: string): Promise<{ statusCode: number; headers: Record<string, string>; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    socket.setEncoding('latin1');
    socket.on('data', (d) => (data += d));
    socket.on('error', reject);
    socket.on('close', () => {
      const [head, ...rest] = data.split('\r\n\r\n');
      const [statusLine, ...lines] = head.split('\r\n');
      const h: Record<string, string> = {};
      for (const l of lines) h[l.slice(0, l.indexOf(':')).toLowerCase()] = l.slice(l.indexOf(':') + 1).trim();
      resolve({ statusCode: Number(statusLine.split(' ')[1]), headers: h, body: rest.join('\r\n\r\n') });
    });
    socket.end(request);
  });
}

describe('/api/v1 errors are ApiErrors', () => {
  it('for an unknown path (404), without the path in the body', async () => {
    const url = '/api/v1/no/such/thing/with-a-marker-string-xyzzy';
    expectApiError(await t.inject({ url, headers }), 404, url);
  });

  it('for malformed percent-escapes (400) and an overlong parameter (414)', async () => {
    expectApiError(await t.inject({ url: '/api/v1/organization/%E0%A4%A', headers }), 400);
    expectApiError(await t.inject({ url: '/api/v1/organization/%FF', headers }), 400);
    const long = `/api/v1/organization/${'x'.repeat(600)}`;
    expectApiError(await t.inject({ url: long, headers }), 414, long);
  });

  it('for an overlong URL (414)', async () => {
    const url = `/api/v1/user/?x=${'y'.repeat(9000)}`;
    expectApiError(await t.inject({ url, headers }), 414, url);
  });

  it('for NUL and invalid UTF-8 in the query or path (400), before any lookup', async () => {
    for (const url of ['/api/v1/find/repositories?query=a%00b', '/api/v1/find/repositories?query=%C3%28', '/api/v1/organization/a%00b', '/api/v1/users/%00']) {
      const b = expectApiError(await t.inject({ url, headers }), 400);
      expect(b.error_type).toBe('invalid_request');
    }
    expectApiError(await t.inject({ url: '/api/v1/users/%00' }), 400);
  });

  it('for JSON syntax errors, bodies that are not UTF-8 or hold NUL, and unsupported media types (400)', async () => {
    const post = (payload: string | Buffer, type = 'application/json') =>
      t.inject({ method: 'POST', url: '/api/v1/organization/', headers: { ...headers, 'content-type': type }, payload });
    expect(expectApiError(await post('{"name":'), 400).detail).toBe('Invalid JSON body');
    expectApiError(await post(Buffer.from('{"name":"\xff"}', 'latin1')), 400);
    expectApiError(await post('{"name":"a\\u0000"}'), 400);
    expectApiError(await post('{"name":"\\ud800"}'), 400);
    expect(expectApiError(await post('<org/>', 'application/xml'), 400).detail).toBe('Missing JSON body');
    expectApiError(await post('{"__proto__":{"admin":true}}'), 400);
    expectApiError(await post('['.repeat(100) + ']'.repeat(100)), 400);
  });

  it('for bodies over 1 MiB (413) and strings over 64 KiB (400)', async () => {
    const big = JSON.stringify({ name: 'x', description: 'd'.repeat(1024 * 1024) });
    expectApiError(await t.inject({ method: 'POST', url: '/api/v1/organization/', headers: { ...headers, 'content-type': 'application/json' }, payload: big }), 413);
    const long = await t.inject({ method: 'POST', url: '/api/v1/repository', headers, payload: { repository: 'r', visibility: 'private', description: 'd'.repeat(70000) } });
    expectApiError(long, 400);
  });

  it('for numbers beyond 2^53 (400), in Quay’s {message: {param}} form as well', async () => {
    const res = await t.inject({ url: '/api/v1/user/robots?limit=99999999999999999999', headers });
    const b = expectApiError(res, 400);
    expect(b.message).toEqual({ limit: 'Value out of range' });
  });

  it('for Quay’s {message} and {error} refusals, which keep their own keys', async () => {
    const b = expectApiError(await t.inject({ url: '/api/v1/users/nosuchuser', headers }), 404);
    expect(b.message).toBe('User not found');
    const csrf = expectApiError(await t.inject({ method: 'POST', url: '/api/v1/signin', payload: { username: 'a', password: 'b' } }), 403);
    expect(csrf.error).toBe('CSRF token was invalid or missing.');
  });

  it('for request lines and headers too large for Node’s parser (414, 431), over a real socket', async () => {
    const longLine = await raw(`GET /api/v1/user/?q=${'a'.repeat(20000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    expectApiError(longLine, 414);
    expect(longLine.body).not.toContain('aaaaaaaaaa');
    const bigHeaders = await raw(`GET /api/v1/user/ HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(20000)}\r\n\r\n`);
    expectApiError(bigHeaders, 431);
    const web = await raw(`GET /signin?q=${'a'.repeat(20000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(web.statusCode).toBe(414);
    expect(JSON.parse(web.body)).toEqual({ error: 'The request URL is too long' });
    const garbage = await raw('GARBAGE\r\n\r\n');
    expect(garbage.statusCode).toBe(400);
  });
});

describe('/oauth errors keep OAuth’s format', () => {
  it('for validation errors, malformed escapes and unknown paths', async () => {
    const long = await t.inject({ url: `/oauth/authorize?client_id=${'c'.repeat(300)}&redirect_uri=x&scope=user:read` });
    expect(long.statusCode).toBe(400);
    expect(long.json()).toMatchObject({ error: 'invalid_request', error_description: expect.any(String) });
    const nul = await t.inject({ method: 'POST', url: '/oauth/access_token?code=%00' });
    expect(nul.statusCode).toBe(400);
    expect(nul.json()).toMatchObject({ error: 'invalid_request' });
    const missing = await t.inject({ url: '/oauth/nothing-here' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ error: 'invalid_request' });
  });
});

describe('pages keep their HTML error page', () => {
  it('for browsers, and {error} for other clients', async () => {
    const html = await t.inject({ url: '/signin?next=%FF', headers: { accept: 'text/html' } });
    expect(html.statusCode).toBe(400);
    expect(html.headers['content-type']).toContain('text/html');
    expect(html.body).toContain('<h1>Bad Request</h1>');
    const json = await t.inject({ url: '/signin?next=%00' });
    expect(json.statusCode).toBe(400);
    expect(json.json()).toEqual({ error: expect.stringContaining('NUL') });
    const missing = await t.inject({ url: '/no-such-page', headers: { accept: 'text/html' } });
    expect(missing.statusCode).toBe(404);
    expect(missing.headers['content-type']).toContain('text/html');
  });

  it('never put a header-breaking Location on a redirect built from input', async () => {
    const res = await t.inject({ url: '/api/v1/user?x=%C3%BC' });
    expect(res.statusCode).toBe(308);
    expect(res.headers.location).toBe('/api/v1/user/?x=%C3%BC');
    const raw = await t.inject({ url: '/api/v1/user?x=ü€' });
    expect(raw.statusCode).toBe(308);
    expect(raw.headers.location).toBe('/api/v1/user/?x=%C3%BC%E2%82%AC');
  });
});
