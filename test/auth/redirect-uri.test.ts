// redirect_uri validation (registry-and-auth.md A.5) and the query-appending helper used to build
// every OAuth redirect.
import { describe, expect, it } from 'vitest';
import { isValidRedirectUri, withQuery } from '../../src/auth/redirect-uri.js';

const LOCAL = 'http://localhost:8080/oauth/localapp';
const REGISTERED = { redirect_uri: 'https://client.example.com/cb' };

describe('isValidRedirectUri against a registered https://client.example.com/cb', () => {
  it.each([
    ['the registered URI itself', 'https://client.example.com/cb'],
    ['a query string (not compared)', 'https://client.example.com/cb?x=1&y=2'],
    ['a fragment (not compared)', 'https://client.example.com/cb#frag'],
    ['a sub-path', 'https://client.example.com/cb/deeper/path'],
    ['a plain string prefix, as Quay (/cb2)', 'https://client.example.com/cb2'],
    ['a single dot segment', 'https://client.example.com/cb/./x'],
    ['a percent-escape in the query only', 'https://client.example.com/cb?next=%2e%2e%2F'],
    ['the scheme in capitals (schemes are case-insensitive)', 'HTTPS://client.example.com/cb'],
    ['the local OAuth handler', LOCAL],
  ])('accepts %s', (_name, uri) => {
    expect(isValidRedirectUri(REGISTERED, uri, LOCAL)).toBe(true);
  });

  it.each([
    ['nothing', undefined],
    ['an empty string', ''],
    ['another host', 'https://evil.com/cb'],
    ['a sub-domain of the registered host', 'https://evil.client.example.com/cb'],
    ['the registered host as a sub-domain of another', 'https://client.example.com.evil.com/cb'],
    ['userinfo that hides another host', 'https://client.example.com@evil.com/cb'],
    ['userinfo in front of the registered host', 'https://user:pw@client.example.com/cb'],
    ['a username only', 'https://evil@client.example.com/cb'],
    ['another scheme', 'http://client.example.com/cb'],
    ['a javascript: URI', 'javascript:alert(1)//client.example.com/cb'],
    ['another port', 'https://client.example.com:8443/cb'],
    ['the default port written out (netloc differs as written)', 'https://client.example.com:443/cb'],
    ['the host in other letter case (netloc compared as written)', 'https://CLIENT.example.com/cb'],
    ['a scheme-relative URI', '//client.example.com/cb'],
    ['a relative path', '/cb'],
    ['a path traversal', 'https://client.example.com/cb/../admin'],
    ['a bare .. after the prefix', 'https://client.example.com/cb/..'],
    ['a percent-encoded traversal', 'https://client.example.com/cb/%2e%2e/admin'],
    ['a percent-encoded traversal in capitals', 'https://client.example.com/cb/%2E%2E/admin'],
    ['a half-encoded traversal', 'https://client.example.com/cb/.%2e/admin'],
    ['@ in the path', 'https://client.example.com/cb/@evil.com'],
    ['@ right after the prefix', 'https://client.example.com/cb@evil.com'],
    ['a percent-escape after the prefix', 'https://client.example.com/cb%2Fother'],
    ['an encoded slash after a sub-path', 'https://client.example.com/cb/x%2F'],
    ['an invalid percent-escape', 'https://client.example.com/cb/%zz'],
    ['a backslash in the path', 'https://client.example.com/cb\\..\\admin'],
    ['a backslash-escaped authority', 'https://client.example.com\\@evil.com/cb'],
    ['a path outside the registered prefix', 'https://client.example.com/other'],
    ['a shorter path', 'https://client.example.com/c'],
    ['no path at all', 'https://client.example.com'],
    ['a path in other letter case', 'https://client.example.com/CB'],
    ['the local handler on another scheme', 'https://localhost:8080/oauth/localapp'],
    ['the local handler on another port', 'http://localhost:9090/oauth/localapp'],
    ['the local handler with a suffix', 'http://localhost:8080/oauth/localappx'],
    ['a tab that browsers strip, hiding ..', 'https://client.example.com/cb/.\t./admin'],
    ['a newline that browsers strip, hiding ..', 'https://client.example.com/cb/.\n./admin'],
    ['a CR LF (header injection)', 'https://client.example.com/cb\r\nSet-Cookie: x=1'],
  ])('refuses %s', (_name, uri) => {
    expect(isValidRedirectUri(REGISTERED, uri, LOCAL)).toBe(false);
  });
});

describe('isValidRedirectUri, other registrations', () => {
  it('accepts only the local handler when the application has no registered URI', () => {
    const app = { redirect_uri: '' };
    expect(isValidRedirectUri(app, LOCAL, LOCAL)).toBe(true);
    for (const uri of ['https://client.example.com/cb', 'http://localhost:8080/', 'http://localhost:8080/oauth/localapp/x']) {
      expect(isValidRedirectUri(app, uri, LOCAL), uri).toBe(false);
    }
  });

  it('follows the configured local handler URL, not a fixed one', () => {
    const other = 'https://quay.example.com/oauth/localapp';
    expect(isValidRedirectUri({ redirect_uri: '' }, other, other)).toBe(true);
    expect(isValidRedirectUri({ redirect_uri: '' }, LOCAL, other)).toBe(false);
  });

  it('compares an explicit port and a registered userinfo as written, but refuses userinfo in the request', () => {
    const withPort = { redirect_uri: 'http://127.0.0.1:3000/auth/callback' };
    expect(isValidRedirectUri(withPort, 'http://127.0.0.1:3000/auth/callback?x=1', LOCAL)).toBe(true);
    expect(isValidRedirectUri(withPort, 'http://127.0.0.1/auth/callback', LOCAL)).toBe(false);
    expect(isValidRedirectUri(withPort, 'http://127.0.0.1:3001/auth/callback', LOCAL)).toBe(false);
    const withUser = { redirect_uri: 'https://u@client.example.com/cb' };
    expect(isValidRedirectUri(withUser, 'https://u@client.example.com/cb', LOCAL)).toBe(false);
  });

  it('with a registered path of /, accepts any path on that origin without traversal or escapes', () => {
    const root = { redirect_uri: 'https://client.example.com/' };
    expect(isValidRedirectUri(root, 'https://client.example.com/anything/here', LOCAL)).toBe(true);
    expect(isValidRedirectUri(root, 'https://client.example.com/a/../b', LOCAL)).toBe(false);
    expect(isValidRedirectUri(root, 'https://client.example.com/a%20b', LOCAL)).toBe(false);
    expect(isValidRedirectUri(root, 'https://evil.com/', LOCAL)).toBe(false);
  });

  it('keeps a custom-scheme registration (native apps) strict about the authority', () => {
    const native = { redirect_uri: 'com.example.app://oauth/cb' };
    expect(isValidRedirectUri(native, 'com.example.app://oauth/cb', LOCAL)).toBe(true);
    expect(isValidRedirectUri(native, 'com.example.app://evil/cb', LOCAL)).toBe(false);
    expect(isValidRedirectUri(native, 'com.example.other://oauth/cb', LOCAL)).toBe(false);
  });
});

describe('withQuery', () => {
  it.each([
    ['adds a query to a URI without one', 'https://a.example/cb', { error: 'access_denied' }, 'https://a.example/cb?error=access_denied'],
    ['keeps an existing query', 'https://a.example/cb?x=1', { error: 'e' }, 'https://a.example/cb?x=1&error=e'],
    ['does not double a trailing ?', 'https://a.example/cb?', { error: 'e' }, 'https://a.example/cb?error=e'],
    ['does not double a trailing &', 'https://a.example/cb?x=1&', { error: 'e' }, 'https://a.example/cb?x=1&error=e'],
    ['drops the fragment of the URI', 'https://a.example/cb?x=1#old', { code: 'C' }, 'https://a.example/cb?x=1&code=C'],
    ['skips undefined values', 'https://a.example/cb', { scope: 'repo:read', state: undefined, code: 'C' }, 'https://a.example/cb?scope=repo%3Aread&code=C'],
    ['keeps an empty string as an empty value', 'https://a.example/cb', { scope: 'user:read', state: '' }, 'https://a.example/cb?scope=user%3Aread&state='],
    ['returns the URI without its fragment when there is nothing to add', 'https://a.example/cb?x=1#f', { state: undefined }, 'https://a.example/cb?x=1'],
    ['form-encodes spaces as + and reserved characters', 'https://a.example/cb', { scope: 'repo:read user:read', state: 'a&b=c#d/é' }, 'https://a.example/cb?scope=repo%3Aread+user%3Aread&state=a%26b%3Dc%23d%2F%C3%A9'],
  ])('%s', (_name, uri, params, expected) => {
    expect(withQuery(uri, params as Record<string, string | undefined>)).toBe(expected);
  });

  it('keeps parameter order, so a parser gets every value back', () => {
    const out = new URL(withQuery('https://a.example/cb?keep=1', { scope: 'repo:read', state: 's t', code: 'X' }));
    expect([...out.searchParams.entries()]).toEqual([
      ['keep', '1'],
      ['scope', 'repo:read'],
      ['state', 's t'],
      ['code', 'X'],
    ]);
  });
});
