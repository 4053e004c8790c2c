// The SSRF guard (src/lib/outbound.ts): which addresses may be called, how names are resolved and
// pinned, and how postJson behaves against a real HTTP server on 127.0.0.1.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkOutboundUrl, invalidAllowEntries, OutboundError, postJson, refusedReason, type Resolver } from '../../src/lib/outbound.js';
import { testConfig } from '../helpers/app.js';

const NONE = { NOTIFICATION_ALLOWED_HOSTS: [] as string[] };
const resolvesTo =
  (...addresses: string[]): Resolver =>
  async () =>
    addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
const unresolvable: Resolver = async () => {
  throw Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' });
};

describe('refusedReason', () => {
  it.each([
    ['127.0.0.1', /loopback/],
    ['127.255.0.9', /loopback/],
    ['10.1.2.3', /private/],
    ['172.16.0.1', /private/],
    ['172.31.255.255', /private/],
    ['192.168.1.1', /private/],
    ['100.64.0.1', /CGNAT/],
    ['100.127.255.254', /CGNAT/],
    ['169.254.169.254', /link-local/],
    ['0.0.0.0', /unspecified/],
    ['224.0.0.1', /multicast/],
    ['255.255.255.255', /broadcast/],
    ['::1', /loopback/],
    ['::', /unspecified/],
    ['fe80::1', /link-local/],
    ['fe80::1%eth0', /link-local/],
    ['fc00::1', /unique local/],
    ['fd00:ec2::254', /unique local/],
    ['ff02::1', /multicast/],
    ['::ffff:127.0.0.1', /loopback.*127\.0\.0\.1/],
    ['::ffff:7f00:1', /loopback/],
    ['::ffff:a9fe:a9fe', /link-local.*169\.254\.169\.254/],
    ['::ffff:10.0.0.1', /private/],
    ['::10.0.0.1', /private/],
    ['64:ff9b::a00:1', /private.*10\.0\.0\.1/],
    ['2002:c0a8:101::1', /private.*192\.168\.1\.1/],
  ])('refuses %s', (address, why) => {
    expect(refusedReason(address)).toMatch(why);
  });

  it.each(['8.8.8.8', '1.1.1.1', '100.128.0.1', '100.63.255.255', '172.32.0.1', '172.15.255.255', '169.255.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8', '2002:808:808::1'])(
    'accepts the public address %s',
    (address) => {
      expect(refusedReason(address)).toBeUndefined();
    },
  );
});

describe('checkOutboundUrl', () => {
  it('accepts only http and https', async () => {
    for (const url of ['ftp://example.com/', 'file:///etc/passwd', 'gopher://example.com/', 'not a url', 'javascript:alert(1)']) {
      expect(await checkOutboundUrl(url, NONE, { resolve: resolvesTo('8.8.8.8') }), url).toMatchObject({ ok: false });
    }
    expect(await checkOutboundUrl('https://hooks.example.com/x', NONE, { resolve: resolvesTo('8.8.8.8') })).toMatchObject({ ok: true, address: '8.8.8.8' });
  });

  it('refuses literal loopback, private and metadata addresses in every spelling', async () => {
    for (const url of [
      'http://127.0.0.1/',
      'http://2130706433/', // 127.0.0.1 as one number
      'http://0x7f.1/',
      'http://0177.0.0.1/',
      'http://[::1]:8080/',
      'http://[::ffff:127.0.0.1]/',
      'http://[::ffff:a9fe:a9fe]/latest/meta-data/',
      'http://169.254.169.254/latest/meta-data/',
      'http://10.0.0.1/',
      'http://100.64.1.1/',
      'http://[fd00:ec2::254]/',
      'http://0.0.0.0:80/',
    ]) {
      const r = await checkOutboundUrl(url, NONE, { resolve: unresolvable });
      expect(r, url).toMatchObject({ ok: false, reason: expect.stringContaining('NOTIFICATION_ALLOWED_HOSTS') });
    }
  });

  it('resolves names and refuses one that resolves to a private address, even among public ones', async () => {
    expect(await checkOutboundUrl('http://internal.example.com/', NONE, { resolve: resolvesTo('10.0.0.5') })).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/internal\.example\.com resolves to 10\.0\.0\.5, a private address/),
    });
    expect(await checkOutboundUrl('http://rebind.example.com/', NONE, { resolve: resolvesTo('8.8.8.8', '127.0.0.1') })).toMatchObject({ ok: false });
    expect(await checkOutboundUrl('http://v6.example.com/', NONE, { resolve: resolvesTo('::ffff:192.168.0.1') })).toMatchObject({ ok: false });
    expect(await checkOutboundUrl('http://nowhere.invalid/', NONE, { resolve: unresolvable })).toMatchObject({ ok: false, reason: expect.stringMatching(/could not be resolved/) });
  });

  it('uses the system resolver by default: localhost is loopback', async () => {
    expect(await checkOutboundUrl('http://localhost:9/', NONE)).toMatchObject({ ok: false, reason: expect.stringMatching(/loopback/) });
  });

  it('lets NOTIFICATION_ALLOWED_HOSTS allow a host name, an address or a range', async () => {
    const cfg = { NOTIFICATION_ALLOWED_HOSTS: ['Hooks.Internal', '127.0.0.1', '10.0.0.0/8', 'fd00::/8'] };
    expect(await checkOutboundUrl('http://hooks.internal/x', cfg, { resolve: resolvesTo('192.168.7.7') })).toMatchObject({ ok: true, address: '192.168.7.7' });
    expect(await checkOutboundUrl('http://127.0.0.1:9/', cfg)).toMatchObject({ ok: true, address: '127.0.0.1' });
    expect(await checkOutboundUrl('http://svc.example/', cfg, { resolve: resolvesTo('10.9.9.9') })).toMatchObject({ ok: true, address: '10.9.9.9' });
    expect(await checkOutboundUrl('http://[fd12::1]/', cfg)).toMatchObject({ ok: true });
    // Only what is listed: another loopback address or private range stays refused.
    expect(await checkOutboundUrl('http://127.0.0.2/', cfg)).toMatchObject({ ok: false });
    expect(await checkOutboundUrl('http://172.16.0.1/', cfg)).toMatchObject({ ok: false });
  });

  it('checks the entries of NOTIFICATION_ALLOWED_HOSTS at startup', () => {
    expect(invalidAllowEntries(['example.com', '10.0.0.0/8', '::1', 'fd00::/8', '127.0.0.1'])).toEqual([]);
    expect(invalidAllowEntries(['http://x', '10.0.0.0/33', 'a b', 'x/8'])).toEqual(['http://x', '10.0.0.0/33', 'a b', 'x/8']);
    expect(() => testConfig({ NOTIFICATION_ALLOWED_HOSTS: 'good.example, http://bad' })).toThrow(/NOTIFICATION_ALLOWED_HOSTS/);
    expect(testConfig({ NOTIFICATION_ALLOWED_HOSTS: 'a.example, 10.0.0.0/8' }).NOTIFICATION_ALLOWED_HOSTS).toEqual(['a.example', '10.0.0.0/8']);
  });
});

describe('postJson', () => {
  const seen: { url: string; host: string; body: string; headers: http.IncomingHttpHeaders }[] = [];
  let port = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      seen.push({ url: req.url!, host: req.headers.host!, body, headers: req.headers });
      if (req.url === '/redirect') {
        res.writeHead(302, { location: `http://127.0.0.1:${port}/ok` }).end();
      } else if (req.url === '/hang') {
        // never answers
      } else res.writeHead(200, { 'content-type': 'text/plain' }).end('thanks');
    });
  });
  const allowed = { NOTIFICATION_ALLOWED_HOSTS: ['127.0.0.1'] };

  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('posts JSON with the given headers and returns the answer', async () => {
    const r = await postJson(`http://127.0.0.1:${port}/ok?x=1`, { a: 1 }, { config: allowed, headers: { 'x-extra': 'yes' } });
    expect(r).toMatchObject({ status: 200, body: 'thanks' });
    const got = seen.at(-1)!;
    expect(got).toMatchObject({ url: '/ok?x=1', body: '{"a":1}' });
    expect(got.headers).toMatchObject({ 'content-type': 'application/json', 'x-extra': 'yes' });
  });

  it('refuses a target that is not allowed without connecting to it', async () => {
    const before = seen.length;
    await expect(postJson(`http://127.0.0.1:${port}/ok`, {}, { config: NONE })).rejects.toThrow(/loopback/);
    await expect(postJson(`http://localhost:${port}/ok`, {}, { config: NONE })).rejects.toBeInstanceOf(OutboundError);
    expect(seen.length).toBe(before);
  });

  it('connects to the address it checked, not to a second resolution of the name', async () => {
    // `hook.test` resolves only through the checker's resolver: a request that resolved the name
    // again (the TOCTOU gap DNS rebinding uses) could not connect at all.
    const r = await postJson(`http://hook.test:${port}/ok`, { pinned: true }, { config: { NOTIFICATION_ALLOWED_HOSTS: ['hook.test'] }, resolve: resolvesTo('127.0.0.1') });
    expect(r.status).toBe(200);
    expect(seen.at(-1)).toMatchObject({ host: `hook.test:${port}`, body: '{"pinned":true}' });
  });

  it('does not follow redirects', async () => {
    const before = seen.length;
    const r = await postJson(`http://127.0.0.1:${port}/redirect`, {}, { config: allowed });
    expect(r.status).toBe(302);
    expect(seen.length).toBe(before + 1);
    expect(seen.at(-1)!.url).toBe('/redirect');
  });

  it('gives up after the timeout', async () => {
    const started = Date.now();
    await expect(postJson(`http://127.0.0.1:${port}/hang`, {}, { config: allowed, timeoutMs: 300 })).rejects.toThrow(/did not answer within 0.3 s/);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('stops when its signal is aborted', async () => {
    const ac = new AbortController();
    const p = postJson(`http://127.0.0.1:${port}/hang`, {}, { config: allowed, signal: ac.signal });
    setTimeout(() => ac.abort(), 100);
    await expect(p).rejects.toThrow(/aborted/);
  });
});
