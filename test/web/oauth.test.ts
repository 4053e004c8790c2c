// The OAuth 2 provider end to end over HTTP (registry-and-auth.md A.4–A.8, web-endpoints.md §4):
// sign-in page, consent page, /oauth/authorizeapp, /oauth/denyapp, the code exchange at
// /oauth/access_token, and what the issued tokens can do on /api/v1 afterwards.
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp, type TestApp } from '../helpers/app.js';
import {
  bearer,
  makeApplication,
  makeOrg,
  makeTeam,
  makeUser,
  signIn,
  type BrowserSession,
  type TestUser,
} from '../helpers/factories.js';
import { DOCS_CLIENT_ID, DOCS_REDIRECT_PATH } from '../../src/auth/builtin-apps.js';
import { SCOPES, type ScopeName } from '../../src/auth/scopes.js';
import type { Namespace, OAuthApplication } from '../../src/db/schema.js';

let t: TestApp;
beforeAll(async () => {
  t = await testApp();
});
afterAll(() => t?.close());

const BASE = 'http://localhost:8080';
const LOCAL = `${BASE}/oauth/localapp`;
const REDIRECT = 'https://client.example.com/cb';
const TEN_YEARS_S = 315576000;
const HTML = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
const FORM = 'application/x-www-form-urlencoded';
const NO_CACHE = 'no-cache, no-store, must-revalidate';

type App = OAuthApplication & { client_secret: string };

// ---------------------------------------------------------------------------------------------
// Helpers (local to this file)
// ---------------------------------------------------------------------------------------------

/** A user who administers an org owning an application registered with `redirectUri`. */
async function adminWithApp(o: { redirectUri?: string; name?: string } = {}): Promise<{ user: TestUser; org: Namespace; app: App }> {
  const user = await makeUser(t);
  const org = await makeOrg(t, [user]);
  const app = await makeApplication(t, org, { redirectUri: o.redirectUri ?? REDIRECT, name: o.name });
  return { user, org, app };
}

function authorizeUrl(params: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.append(k, v);
  return `/oauth/authorize?${q.toString()}`;
}

function form(fields: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) q.append(k, v);
  return q.toString();
}

const cookieHeader = (s: BrowserSession | string) => ({ cookie: `_csrf_token=${typeof s === 'string' ? s : s.cookie}` });

function sessionCookie(res: LightMyRequestResponse): string | undefined {
  return res.cookies.find((c) => c.name === '_csrf_token')?.value;
}

function decodeHtml(s: string): string {
  return s
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/** The hidden fields of the first form posting to `action` in a page. */
function formFields(html: string, action: string): Record<string, string> {
  const m = new RegExp(`<form[^>]*action="${action.replace(/\//g, '\\/')}"[^>]*>([\\s\\S]*?)</form>`).exec(html);
  if (!m) throw new Error(`no form posting to ${action} in page:\n${html}`);
  const out: Record<string, string> = {};
  for (const input of m[1].matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) out[input[1]] = decodeHtml(input[2]);
  return out;
}

/** The `<li>` of one scope on the consent page. */
function scopeItem(html: string, scope: string): string | undefined {
  return new RegExp(`<li data-scope="${scope}">([\\s\\S]*?)</li>`).exec(html)?.[1];
}

interface ParsedLocation {
  raw: string;
  url: URL;
  query: URLSearchParams;
  fragment: URLSearchParams | undefined;
}

function location(res: LightMyRequestResponse): ParsedLocation {
  const raw = res.headers.location;
  if (typeof raw !== 'string') throw new Error(`no Location (status ${res.statusCode}): ${res.body}`);
  const url = new URL(raw, BASE);
  const hash = raw.indexOf('#');
  return { raw, url, query: url.searchParams, fragment: hash >= 0 ? new URLSearchParams(raw.slice(hash + 1)) : undefined };
}

async function tokenCount(app: { id: number }): Promise<number> {
  const r = await t.app.db
    .selectFrom('oauth_access_token')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('application_id', '=', app.id)
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

async function codeCount(app: { id: number }): Promise<number> {
  const r = await t.app.db
    .selectFrom('oauth_authorization_code')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('application_id', '=', app.id)
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

/** GET /oauth/authorize as a signed-in browser. */
function getAuthorize(s: BrowserSession, params: Record<string, string | undefined>, accept = HTML) {
  return t.inject({ method: 'GET', url: authorizeUrl(params), headers: { ...cookieHeader(s), accept } });
}

/** POST a form to /oauth/authorizeapp or /oauth/denyapp with only the cookie (CSRF must be in the form). */
function postForm(url: string, s: BrowserSession | string | undefined, fields: Record<string, string | undefined>, extra: Record<string, string> = {}) {
  return t.inject({
    method: 'POST',
    url,
    headers: { ...(s ? cookieHeader(s) : {}), 'content-type': FORM, ...extra },
    payload: form(fields),
  });
}

/** The consent page for these params, and its hidden authorize-form fields. */
async function consent(s: BrowserSession, params: Record<string, string | undefined>) {
  const res = await getAuthorize(s, params);
  expect(res.statusCode, res.body).toBe(200);
  return { res, html: res.body, fields: formFields(res.body, '/oauth/authorizeapp') };
}

/**
 * GET /oauth/authorize, then POST the consent page's form; when the request is auto-approved (the
 * user already holds live tokens covering the scopes), the GET's own redirect is the answer.
 */
async function authorizeThroughConsent(s: BrowserSession, params: Record<string, string | undefined>) {
  const first = await getAuthorize(s, params);
  if (first.statusCode === 302) return first;
  expect(first.statusCode, first.body).toBe(200);
  return postForm('/oauth/authorizeapp', s, formFields(first.body, '/oauth/authorizeapp'));
}

/** Runs the implicit flow through the consent page and returns the token and the redirect. */
async function implicitToken(s: BrowserSession, app: App, scope: string, extra: Record<string, string> = {}) {
  const res = await authorizeThroughConsent(s, { response_type: 'token', client_id: app.client_id, redirect_uri: app.redirect_uri, scope, ...extra });
  expect(res.statusCode, res.body).toBe(302);
  const loc = location(res);
  const token = loc.fragment?.get('access_token');
  if (!token) throw new Error(`no token in ${loc.raw}`);
  return { token, loc, res };
}

/** Runs the code flow through the consent page and returns the code. */
async function authorizationCode(s: BrowserSession, app: App, scope: string, redirectUri = app.redirect_uri, state?: string) {
  const res = await authorizeThroughConsent(s, { response_type: 'code', client_id: app.client_id, redirect_uri: redirectUri, scope, state });
  expect(res.statusCode, res.body).toBe(302);
  const loc = location(res);
  const code = loc.query.get('code');
  if (!code) throw new Error(`no code in ${loc.raw}`);
  return { code, loc };
}

function exchange(fields: Record<string, string | undefined>, headers: Record<string, string> = {}) {
  return t.inject({ method: 'POST', url: '/oauth/access_token', headers: { 'content-type': FORM, ...headers }, payload: form(fields) });
}

const basic = (id: string, secret: string) => ({ authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}` });

function me(token: string) {
  return t.inject({ url: '/api/v1/user/', headers: bearer(token) });
}

function expectOAuthError(res: LightMyRequestResponse, error: string) {
  expect(res.statusCode, res.body).toBe(400);
  expect(res.json()).toEqual({ error });
  expect(res.headers['cache-control']).toBe('no-store');
  expect(res.headers.pragma).toBe('no-cache');
}

// ---------------------------------------------------------------------------------------------

describe('implicit flow in a browser', () => {
  it('goes from sign-in page to consent to a working token, with Quay’s redirect form', async () => {
    const { user, app } = await adminWithApp();
    const params = { response_type: 'token', client_id: app.client_id, redirect_uri: REDIRECT, scope: 'repo:read user:admin', state: 'xyz' };
    const start = authorizeUrl(params);

    // 1. No session: a browser is sent to the sign-in page, with the authorize URL as `next`.
    const first = await t.inject({ url: start, headers: { accept: HTML } });
    expect(first.statusCode).toBe(302);
    expect(first.headers['cache-control']).toBe(NO_CACHE);
    const toSignin = location(first);
    expect(toSignin.url.pathname).toBe('/signin');
    expect(toSignin.query.get('next')).toBe(start);

    // 2. The sign-in page: a form with a CSRF token bound to the cookie it sets, and `next`.
    const page = await t.inject({ url: toSignin.raw, headers: { accept: HTML } });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    const anonCookie = sessionCookie(page)!;
    expect(anonCookie).toBeTruthy();
    const signinFields = formFields(page.body, '/signin');
    expect(signinFields.next).toBe(start);
    expect(signinFields._csrf_token).toMatch(/^[A-Za-z0-9_-]{64}$/);

    // 3. POST the form: 303 back to the authorize URL, with a new session cookie (no fixation).
    const post = await postForm('/signin', anonCookie, { ...signinFields, username: user.username, password: user.password });
    expect(post.statusCode, post.body).toBe(303);
    expect(post.headers.location).toBe(start);
    const cookie = sessionCookie(post)!;
    expect(cookie).toBeTruthy();
    expect(cookie).not.toBe(anonCookie);
    const session: BrowserSession = { cookie, csrf: String(post.headers['x-next-csrf-token']), headers: {} };
    // The anonymous session is gone: its cookie no longer carries the login.
    expect((await t.inject({ url: '/api/v1/user/', headers: cookieHeader(anonCookie) })).statusCode).toBe(401);

    // 4. Back on /oauth/authorize: the consent page.
    const page2 = await t.inject({ url: start, headers: { ...cookieHeader(session), accept: HTML } });
    expect(page2.statusCode).toBe(200);
    expect(page2.headers['cache-control']).toBe(NO_CACHE);
    expect(page2.body).toContain(app.name);
    expect(scopeItem(page2.body, 'repo:read')).toContain('View all visible repositories');
    expect(scopeItem(page2.body, 'user:admin')).toContain('Administer User');
    const fields = formFields(page2.body, '/oauth/authorizeapp');
    expect(fields).toEqual({
      _csrf_token: session.csrf,
      client_id: app.client_id,
      redirect_uri: REDIRECT,
      scope: 'repo:read user:admin',
      response_type: 'token',
      state: 'xyz',
    });

    // 5. Authorize: 302 to the redirect URI in exactly Quay's form (plus state/scope at the end).
    expect(await tokenCount(app)).toBe(0);
    const res = await postForm('/oauth/authorizeapp', session, fields);
    expect(res.statusCode).toBe(302);
    expect(res.headers['cache-control']).toBe(NO_CACHE);
    const m = /^https:\/\/client\.example\.com\/cb\?scope=repo%3Aread\+user%3Aadmin&state=xyz#access_token=([A-Za-z0-9]{40})&token_type=Bearer&expires_in=315576000&state=xyz&scope=repo%3Aread\+user%3Aadmin$/.exec(
      String(res.headers.location),
    );
    expect(m, String(res.headers.location)).not.toBeNull();
    const token = m![1];
    // Ansible's extraction pattern finds the token.
    expect(/access_token=(.*?)&/.exec(String(res.headers.location))![1]).toBe(token);

    // 6. The token works on the API, as this user, with the full view user:admin allows.
    const who = await me(token);
    expect(who.statusCode).toBe(200);
    expect(who.json()).toMatchObject({ username: user.username, email: user.email });

    // 7. What was stored.
    const rows = await t.app.db.selectFrom('oauth_access_token').selectAll().where('application_id', '=', app.id).execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ authorized_user_id: user.id, scope: 'repo:read user:admin', token_type: 'Bearer', token_name: token.slice(0, 20) });
    expect(rows[0].token_hash).not.toContain(token.slice(20));
    const lifetime = (rows[0].expires_at.getTime() - Date.now()) / 1000;
    expect(lifetime).toBeGreaterThan(TEN_YEARS_S - 120);
    expect(lifetime).toBeLessThanOrEqual(TEN_YEARS_S);
  });

  it('lists the requested scopes with titles and marks the dangerous ones', async () => {
    const { user, app } = await adminWithApp();
    const s = await signIn(t, user);
    const all: ScopeName[] = ['repo:read', 'repo:write', 'repo:admin', 'repo:create', 'user:read', 'user:admin', 'org:admin', 'super:user'];
    const { html, res } = await consent(s, { response_type: 'token', client_id: app.client_id, redirect_uri: REDIRECT, scope: all.join(' ') });
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    for (const scope of all) {
      const li = scopeItem(html, scope);
      expect(li, scope).toBeDefined();
      expect(li).toContain(SCOPES[scope].title);
      expect(li!.includes('class="dangerous"'), scope).toBe(['user:admin', 'org:admin', 'super:user'].includes(scope));
    }
    expect(html).toContain('id="dangerous-warning"');
    expect(html).toContain('data-dangerous="true"');

    const safe = await consent(s, { response_type: 'token', client_id: app.client_id, redirect_uri: REDIRECT, scope: 'repo:read,user:read' });
    expect(scopeItem(safe.html, 'repo:read')).toContain('View all visible repositories');
    expect(scopeItem(safe.html, 'user:read')).toContain('Read User Information');
    expect(scopeItem(safe.html, 'repo:write')).toBeUndefined();
    expect(safe.html).not.toContain('id="dangerous-warning"');
    expect(safe.html).not.toContain('class="dangerous"');
    expect(safe.html).toContain('data-dangerous="false"');
    // The scope string is carried through as sent (comma form kept).
    expect(safe.fields.scope).toBe('repo:read,user:read');
  });

  it('escapes the application’s name and the request’s values on the consent page', async () => {
    const { user, app } = await adminWithApp({ name: '<script>alert(1)</script>' });
    const s = await signIn(t, user);
    const state = '"><script>alert(2)</script>';
    const { html, fields } = await consent(s, { response_type: 'token', client_id: app.client_id, redirect_uri: REDIRECT, scope: 'user:read', state });
    expect(html).not.toContain('<script>alert');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(fields.state).toBe(state);
  });

  it('caps what the token can do by its scopes', async () => {
    const { user, app } = await adminWithApp();
    const s = await signIn(t, user);
    const readOnly = await implicitToken(s, app, 'repo:read');
    const res = await me(readOnly.token);
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ error_type: 'invalid_token' });

    const userRead = await implicitToken(s, app, 'user:read');
    const body = (await me(userRead.token)).json();
    expect(body.username).toBe(user.username);
    expect(body).not.toHaveProperty('email');
  });

  it('stores the scope string exactly as sent', async () => {
    const { user, app } = await adminWithApp();
    const s = await signIn(t, user);
    const { token, loc } = await implicitToken(s, app, 'user:read,repo:read');
    const row = await t.app.db.selectFrom('oauth_access_token').select('scope').where('token_name', '=', token.slice(0, 20)).executeTakeFirstOrThrow();
    expect(row.scope).toBe('user:read,repo:read');
    expect(loc.query.get('scope')).toBe('user:read,repo:read');
  });

  it('keeps a query the redirect URI already has', async () => {
    const { user, app } = await adminWithApp();
    const s = await signIn(t, user);
    const { fields } = await consent(s, { response_type: 'token', client_id: app.client_id, redirect_uri: `${REDIRECT}?keep=1`, scope: 'user:read' });
    const res = await postForm('/oauth/authorizeapp', s, fields);
    expect(res.statusCode).toBe(302);
    expect(String(res.headers.location)).toMatch(/^https:\/\/client\.example\.com\/cb\?keep=1&scope=user%3Aread#access_token=[A-Za-z0-9]{40}&token_type=Bearer&expires_in=315576000&scope=user%3Aread$/);
  });

  it('accepts the local handler URL for every application, and /oauth/localapp then serves the landing page', async () => {
    const { user, app } = await adminWithApp();
    const { app: bare } = await (async () => {
      const org = await makeOrg(t, [user]);
      return { app: await makeApplication(t, org, { redirectUri: '' }) };
    })();
    const s = await signIn(t, user);
    for (const a of [app, bare]) {
      const { fields } = await consent(s, { response_type: 'token', client_id: a.client_id, redirect_uri: LOCAL, scope: 'user:read', state: 'st' });
      const res = await postForm('/oauth/authorizeapp', s, fields);
      expect(res.statusCode).toBe(302);
      expect(String(res.headers.location)).toMatch(
        /^http:\/\/localhost:8080\/oauth\/localapp\?scope=user%3Aread&state=st#access_token=([A-Za-z0-9]{40})&token_type=Bearer&expires_in=315576000&state=st&scope=user%3Aread$/,
      );
      const loc = location(res);
      expect((await me(loc.fragment!.get('access_token')!)).statusCode).toBe(200);
      const landing = await t.inject({ url: `${loc.url.pathname}${loc.url.search}`, headers: { ...cookieHeader(s), accept: HTML } });
      expect(landing.statusCode).toBe(200);
      expect(landing.headers['content-type']).toMatch(/^text\/html/);
    }
  });
});

describe('state', () => {
  it('round-trips any value in the query and in the fragment', async () => {
    const { user, app } = await adminWithApp();
    const s = await signIn(t, user);
    for (const state of ['abc', 'a b&c=d/é?#+%', '0']) {
      const { loc } = await implicitToken(s, app, 'user:read', { state });
      expect(loc.query.getAll('state'), state).toEqual([state]);
      expect(loc.fragment!.getAll('state'), state).toEqual([state]);
      expect([...loc.fragment!.keys()]).toEqual(['access_token', 'token_type', 'expires_in', 'state', 'scope']);
    }
  });

  it('is absent from query and fragment when not sent', async () => {
    const { user, app } = await adminWithApp();
    const s = await signIn(t, user);
    const { fields } = await consent(s, { response_type: 'token', client_id: app.client_id, redirect_uri: REDIRECT, scope: 'user:read' });
    expect(fields).not.toHaveProperty('state');
    const res = await postForm('/oauth/authorizeapp', s, fields);
    const loc = location(res);
    expect([...loc.query.keys()]).toEqual(['scope']);
    expect([...loc.fragment!.keys()]).toEqual(['access_token', 'token_type', 'expires_in', 'scope']);
    expect(loc.raw).not.toContain('state');
  });

  it('keeps an empty state as `state=`', async () => {
    const { user, app } = await adminWithApp();
    const s = await signIn(t, user);
    const { loc } = await implicitToken(s, app, 'user:read', { state: '' });
    expect(loc.raw).toMatch(/\?scope=user%3Aread&state=#access_token=/);
    expect(loc.fragment!.get('state')).toBe('');
  });

  it('comes back in the query of the code flow', async () => {
    const { user, app } = await adminWithApp();
    const s = await signIn(t, user);
    const { loc } = await authorizationCode(s, app, 'user:read', REDIRECT, 'st ate');
    expect(loc.query.get('state')).toBe('st ate');
    expect(loc.fragment).toBeUndefined();
  });
});

describe('authorization-code flow', () => {
  it('redirects with a code, exchanges it once for a working token', async () => {
    const { user, app } = await adminWithApp();
    const s = await signIn(t, user);
    // response_type defaults to code.
    const { fields } = await consent(s, { client_id: app.client_id, redirect_uri: REDIRECT, scope: 'user:admin repo:read', state: 's1' });
    expect(fields.response_type).toBe('code');
    const res = await postForm('/oauth/authorizeapp', s, fields);
    expect(res.statusCode).toBe(302);
    const raw = String(res.headers.location);
    expect(raw).toMatch(/^https:\/\/client\.example\.com\/cb\?scope=user%3Aadmin\+repo%3Aread&state=s1&code=[A-Za-z0-9]{40}$/);
    const code = location(res).query.get('code')!;
    expect(await tokenCount(app)).toBe(0);
    const stored = await t.app.db.selectFrom('oauth_authorization_code').selectAll().where('application_id', '=', app.id).execute();
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ code_name: code.slice(0, 20), scope: 'user:admin repo:read', redirect_uri: REDIRECT });
    expect(stored[0].code_hash).not.toContain(code.slice(20));

    const ex = await exchange({
      grant_type: 'authorization_code',
      client_id: app.client_id,
      client_secret: app.client_secret,
      redirect_uri: REDIRECT,
      code,
      scope: 'user:admin repo:read',
    });
    expect(ex.statusCode, ex.body).toBe(200);
    expect(ex.headers['content-type']).toBe('application/json;charset=UTF-8');
    expect(ex.headers['cache-control']).toBe('no-store');
    expect(ex.headers.pragma).toBe('no-cache');
    const body = ex.json();
    expect(body).toEqual({ access_token: expect.stringMatching(/^[A-Za-z0-9]{40}$/), token_type: 'Bearer', expires_in: TEN_YEARS_S, refresh_token: null });
    expect(Object.keys(body)).toEqual(['access_token', 'token_type', 'expires_in', 'refresh_token']);
    const who = await me(body.access_token);
    expect(who.statusCode).toBe(200);
    expect(who.json()).toMatchObject({ username: user.username, email: user.email });
    const row = await t.app.db.selectFrom('oauth_access_token').selectAll().where('token_name', '=', body.access_token.slice(0, 20)).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ application_id: app.id, authorized_user_id: user.id, scope: 'user:admin repo:read' });
    expect(await codeCount(app)).toBe(0);

    // Single use.
    const again = await exchange({
      grant_type: 'authorization_code',
      client_id: app.client_id,
      client_secret: app.client_secret,
      redirect_uri: REDIRECT,
      code,
      scope: 'user:admin repo:read',
    });
    expectOAuthError(again, 'invalid_grant');
    expect(await tokenCount(app)).toBe(1);
  });

  it('accepts HTTP Basic client credentials, which override the body', async () => {
    const { user, app } = await adminWithApp();
    const s = await signIn(t, user);
    const common = { grant_type: 'authorization_code', redirect_uri: REDIRECT, scope: 'user:read' };

    const c1 = (await authorizationCode(s, app, 'user:read')).code;
    const r1 = await exchange({ ...common, code: c1 }, basic(app.client_id, app.client_secret));
    expect(r1.statusCode, r1.body).toBe(200);
    expect((await me(r1.json().access_token)).statusCode).toBe(200);

    const c2 = (await authorizationCode(s, app, 'user:read')).code;
    const r2 = await exchange({ ...common, code: c2, client_id: app.client_id, client_secret: 'WRONG' }, basic(app.client_id, app.client_secret));
    expect(r2.statusCode, r2.body).toBe(200);

    const c3 = (await authorizationCode(s, app, 'user:read')).code;
    const r3 = await exchange({ ...common, code: c3, client_id: app.client_id, client_secret: app.client_secret }, basic(app.client_id, 'WRONG'));
    expectOAuthError(r3, 'invalid_client');
  });

  it('answers invalid_client, not 500, for malformed Basic credentials', async () => {
    const { user, app } = await adminWithApp();
    const s = await signIn(t, user);
    const { code } = await authorizationCode(s, app, 'user:read');
    const body = { grant_type: 'authorization_code', redirect_uri: REDIRECT, code, scope: 'user:read' };
    for (const [id, secret] of [[app.client_id, '%zz'], ['%E0%A4%A', app.client_secret]]) {
      const res = await exchange(body, basic(id, secret));
      expectOAuthError(res, 'invalid_client');
    }
    expect(await tokenCount(app)).toBe(0);
  });

  it('accepts the parameters in the query string', async () => {
    const { user, app } = await adminWithApp();
    const s = await signIn(t, user);
    const { code } = await authorizationCode(s, app, 'user:read');
    const qs = form({ grant_type: 'authorization_code', client_id: app.client_id, client_secret: app.client_secret, redirect_uri: REDIRECT, code, scope: 'user:read' });
    const res = await t.inject({ method: 'POST', url: `/oauth/access_token?${qs}` });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().token_type).toBe('Bearer');
  });

  it('refuses wrong, missing or unknown client credentials with invalid_client', async () => {
    const { user, app } = await adminWithApp();
    const s = await signIn(t, user);
    const { code } = await authorizationCode(s, app, 'user:read');
    const base = { grant_type: 'authorization_code', redirect_uri: REDIRECT, code, scope: 'user:read' };
    expectOAuthError(await exchange({ ...base, client_id: app.client_id, client_secret: 'X'.repeat(40) }), 'invalid_client');
    expectOAuthError(await exchange({ ...base, client_id: app.client_id, client_secret: app.client_secret.toLowerCase() }), 'invalid_client');
    expectOAuthError(await exchange({ ...base, client_id: app.client_id }), 'invalid_client');
    expectOAuthError(await exchange({ ...base, client_id: 'NOSUCHCLIENT00000000', client_secret: app.client_secret }), 'invalid_client');
    expect(await tokenCount(app)).toBe(0);
  });

  it('refuses a code presented with another scope string or redirect_uri, by another client, or altered', async () => {
    const { user, app } = await adminWithApp();
    const other = await makeApplication(t, await makeOrg(t, [user]), { redirectUri: REDIRECT });
    const s = await signIn(t, user);
    const creds = { grant_type: 'authorization_code', client_id: app.client_id, client_secret: app.client_secret };
    const cases: [string, (code: string) => Record<string, string>][] = [
      ['another scope', (code) => ({ ...creds, code, redirect_uri: REDIRECT, scope: 'user:admin' })],
      ['the same scopes, reordered', (code) => ({ ...creds, code, redirect_uri: REDIRECT, scope: 'repo:read user:read' })],
      ['the same scopes, comma separated', (code) => ({ ...creds, code, redirect_uri: REDIRECT, scope: 'user:read,repo:read' })],
      ['another valid redirect_uri', (code) => ({ ...creds, code, redirect_uri: `${REDIRECT}/other`, scope: 'user:read repo:read' })],
      ['the local handler as redirect_uri', (code) => ({ ...creds, code, redirect_uri: LOCAL, scope: 'user:read repo:read' })],
      ['a foreign redirect_uri', (code) => ({ ...creds, code, redirect_uri: 'https://evil.com/cb', scope: 'user:read repo:read' })],
      ['another client’s credentials', (code) => ({ grant_type: 'authorization_code', client_id: other.client_id, client_secret: other.client_secret, code, redirect_uri: REDIRECT, scope: 'user:read repo:read' })],
      ['an altered secret half', (code) => ({ ...creds, code: code.slice(0, 20) + (code[20] === 'A' ? 'B' : 'A') + code.slice(21), redirect_uri: REDIRECT, scope: 'user:read repo:read' })],
      ['an altered name half', (code) => ({ ...creds, code: (code[0] === 'A' ? 'B' : 'A') + code.slice(1), redirect_uri: REDIRECT, scope: 'user:read repo:read' })],
      ['only the name half', (code) => ({ ...creds, code: code.slice(0, 20), redirect_uri: REDIRECT, scope: 'user:read repo:read' })],
    ];
    for (const [name, body] of cases) {
      const { code } = await authorizationCode(s, app, 'user:read repo:read');
      const res = await exchange(body(code));
      expect(res.statusCode, name).toBe(400);
      expect(res.json(), name).toEqual({ error: 'invalid_grant' });
    }
    expect(await tokenCount(app)).toBe(0);
    expect(await tokenCount(other)).toBe(0);
  });

  it('answers invalid_scope for an unparsable scope string', async () => {
    const { user, app } = await adminWithApp();
    const s = await signIn(t, user);
    const { code } = await authorizationCode(s, app, 'user:read');
    for (const scope of ['user:read, repo:read', 'user:read,', 'nope']) {
      expectOAuthError(
        await exchange({ grant_type: 'authorization_code', client_id: app.client_id, client_secret: app.client_secret, redirect_uri: REDIRECT, code, scope }),
        'invalid_scope',
      );
    }
    // The unparsable attempts did not use the code up.
    const ok = await exchange({ grant_type: 'authorization_code', client_id: app.client_id, client_secret: app.client_secret, redirect_uri: REDIRECT, code, scope: 'user:read' });
    expect(ok.statusCode, ok.body).toBe(200);
  });

  it('answers unsupported_grant_type for any other grant', async () => {
    const { user, app } = await adminWithApp();
    const s = await signIn(t, user);
    const { code } = await authorizationCode(s, app, 'user:read');
    for (const grant_type of ['password', 'refresh_token', 'client_credentials', 'implicit', 'AUTHORIZATION_CODE']) {
      const res = await exchange({ grant_type, client_id: app.client_id, client_secret: app.client_secret, redirect_uri: REDIRECT, code, scope: 'user:read' });
      expectOAuthError(res, 'unsupported_grant_type');
    }
    expect(await tokenCount(app)).toBe(0);
  });

  it.each(['grant_type', 'client_id', 'redirect_uri', 'code', 'scope'])('answers 400 invalid_request without %s', async (missing) => {
    const { user, app } = await adminWithApp();
    const s = await signIn(t, user);
    const { code } = await authorizationCode(s, app, 'user:read');
    const full: Record<string, string | undefined> = {
      grant_type: 'authorization_code',
      client_id: app.client_id,
      client_secret: app.client_secret,
      redirect_uri: REDIRECT,
      code,
      scope: 'user:read',
    };
    expectOAuthError(await exchange({ ...full, [missing]: undefined }), 'invalid_request');
    expect(await tokenCount(app)).toBe(0);
    // The same request with the parameter works: the code was not consumed.
    expect((await exchange(full)).statusCode).toBe(200);
  });

  it('lets a code expire after 10 minutes', async () => {
    const { user, app } = await adminWithApp();
    const s = await signIn(t, user);
    const body = (code: string) => ({ grant_type: 'authorization_code', client_id: app.client_id, client_secret: app.client_secret, redirect_uri: REDIRECT, code, scope: 'user:read' });
    const age = (code: string, minutes: number) =>
      t.app.db.updateTable('oauth_authorization_code').set({ created: new Date(Date.now() - minutes * 60_000) }).where('code_name', '=', code.slice(0, 20)).execute();

    const old = (await authorizationCode(s, app, 'user:read')).code;
    await age(old, 11);
    expectOAuthError(await exchange(body(old)), 'invalid_grant');

    const fresh = (await authorizationCode(s, app, 'user:read')).code;
    await age(fresh, 9);
    expect((await exchange(body(fresh))).statusCode).toBe(200);
  });

  it('does not exchange the code of a user disabled since', async () => {
    const { user, app } = await adminWithApp();
    const s = await signIn(t, user);
    const { code } = await authorizationCode(s, app, 'user:read');
    await t.app.db.updateTable('namespace').set({ enabled: false }).where('id', '=', user.id).execute();
    const res = await exchange({ grant_type: 'authorization_code', client_id: app.client_id, client_secret: app.client_secret, redirect_uri: REDIRECT, code, scope: 'user:read' });
    expectOAuthError(res, 'invalid_grant');
    expect(await tokenCount(app)).toBe(0);
  });
});

describe('client_id and redirect_uri', () => {
  it('answers 404 for an unknown client_id on /oauth/authorize, 400 on authorizeapp and denyapp', async () => {
    const user = await makeUser(t);
    const s = await signIn(t, user);
    const params = { response_type: 'token', client_id: 'NOSUCHCLIENT00000000', redirect_uri: REDIRECT, scope: 'user:read' };
    const res = await getAuthorize(s, params);
    expect(res.statusCode).toBe(404);
    expect(res.headers['cache-control']).toBe(NO_CACHE);
    for (const url of ['/oauth/authorizeapp', '/oauth/denyapp']) {
      const r = await postForm(url, s, { ...params, _csrf_token: s.csrf });
      expect(r.statusCode, url).toBe(400);
      expect(r.json()).toEqual({ error: 'invalid_request' });
      expect(r.headers.location).toBeUndefined();
    }
  });

  it('sends a mismatching redirect_uri to the registered URI with error=redirect_uri_mismatch', async () => {
    const { user, app } = await adminWithApp();
    const s = await signIn(t, user);
    const res = await getAuthorize(s, { response_type: 'token', client_id: app.client_id, redirect_uri: 'https://evil.com/cb', scope: 'user:read', state: 'x' });
    expect(res.statusCode).toBe(302);
    expect(res.headers.location).toBe('https://client.example.com/cb?error=redirect_uri_mismatch');
    expect(res.headers['cache-control']).toBe(NO_CACHE);
  });

  it('answers 400 for a mismatching redirect_uri when the application has none registered', async () => {
    const user = await makeUser(t);
    const app = await makeApplication(t, await makeOrg(t, [user]), { redirectUri: '' });
    const s = await signIn(t, user);
    const res = await getAuthorize(s, { response_type: 'token', client_id: app.client_id, redirect_uri: REDIRECT, scope: 'user:read' });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: 'invalid_request' });
    expect(res.headers.location).toBeUndefined();
  });

  const attempts = [
    ['another host', 'https://evil.com/cb'],
    ['userinfo hiding another host', 'https://client.example.com@evil.com/cb'],
    ['userinfo in front of the registered host', 'https://user:pw@client.example.com/cb'],
    ['a path traversal', 'https://client.example.com/cb/../admin'],
    ['an encoded traversal', 'https://client.example.com/cb/%2e%2e/admin'],
    ['@ in the path', 'https://client.example.com/cb/@evil.com'],
    ['a percent-escape after the prefix', 'https://client.example.com/cb%2F..%2Fadmin'],
    ['a percent-escape after a sub-path', 'https://client.example.com/cb/x%40y'],
    ['another scheme', 'http://client.example.com/cb'],
    ['another port', 'https://client.example.com:444/cb'],
    ['a scheme-relative URI', '//evil.com/cb'],
    ['a path outside the prefix', 'https://client.example.com/other'],
    ['a tab hiding a traversal', 'https://client.example.com/cb/.\t./admin'],
    ['a CR LF', 'https://client.example.com/cb\r\nSet-Cookie: a=b'],
    ['the local handler on another host', 'http://evil.com/oauth/localapp'],
  ] as const;

  it.each(attempts)('refuses %s: mismatch redirect on authorize, 400 on authorizeapp and denyapp, no token', async (_name, uri) => {
    const { user, app } = await adminWithApp();
    const s = await signIn(t, user);
    for (const response_type of ['token', 'code']) {
      const params = { response_type, client_id: app.client_id, redirect_uri: uri, scope: 'user:read', state: 's' };
      const get = await getAuthorize(s, params);
      expect(get.statusCode).toBe(302);
      expect(get.headers.location).toBe('https://client.example.com/cb?error=redirect_uri_mismatch');

      const post = await postForm('/oauth/authorizeapp', s, { ...params, _csrf_token: s.csrf });
      expect(post.statusCode).toBe(400);
      expect(post.json()).toEqual({ error: 'invalid_request' });
      expect(post.headers.location).toBeUndefined();
      expect(post.headers.pragma).toBe('no-cache');

      const deny = await postForm('/oauth/denyapp', s, { ...params, _csrf_token: s.csrf });
      expect(deny.statusCode).toBe(400);
      expect(deny.headers.location).toBeUndefined();
    }
    expect(await tokenCount(app)).toBe(0);
    expect(await codeCount(app)).toBe(0);
  });

  it('validates redirect_uri before answering unauthorized_client or unsupported_response_type', async () => {
    const { app } = await adminWithApp();
    const stranger = await makeUser(t);
    const s = await signIn(t, stranger);
    const bad = await postForm('/oauth/authorizeapp', s, { response_type: 'token', client_id: app.client_id, redirect_uri: 'https://evil.com/cb', scope: 'user:read', _csrf_token: s.csrf });
    expect(bad.statusCode).toBe(400);
    expect(bad.headers.location).toBeUndefined();
    const odd = await postForm('/oauth/authorizeapp', s, { response_type: 'id_token', client_id: app.client_id, redirect_uri: 'https://evil.com/cb', scope: 'user:read', _csrf_token: s.csrf });
    expect(odd.statusCode).toBe(400);
    expect(odd.headers.location).toBeUndefined();
  });

  it('answers unsupported_response_type by redirect for any other response_type', async () => {
    const { user, app } = await adminWithApp();
    const s = await signIn(t, user);
    const params = { response_type: 'id_token', client_id: app.client_id, redirect_uri: REDIRECT, scope: 'user:read', state: 's' };
    const get = await getAuthorize(s, params);
    expect(get.statusCode).toBe(302);
    expect(get.headers.location).toBe('https://client.example.com/cb?error=unsupported_response_type');
    const post = await postForm('/oauth/authorizeapp', s, { ...params, _csrf_token: s.csrf });
    expect(post.statusCode).toBe(302);
    expect(post.headers.location).toBe('https://client.example.com/cb?error=unsupported_response_type');
    expect(await tokenCount(app)).toBe(0);
    expect(await codeCount(app)).toBe(0);
  });
});

describe('scope strings', () => {
  it.each([
    ['comma then space', 'repo:read, repo:write'],
    ['a trailing comma', 'repo:read,'],
    ['a trailing space', 'repo:read '],
    ['a doubled space', 'repo:read  repo:write'],
    ['an unknown scope', 'repo:read repo:delete'],
    ['the internal pseudo-scope', 'direct_user_login'],
  ])('answers 404 on /oauth/authorize for %s', async (_name, scope) => {
    const { user, app } = await adminWithApp();
    const s = await signIn(t, user);
    const res = await getAuthorize(s, { response_type: 'token', client_id: app.client_id, redirect_uri: REDIRECT, scope });
    expect(res.statusCode).toBe(404);
    expect(res.headers['cache-control']).toBe(NO_CACHE);
    // authorizeapp redirects with error=invalid_scope, and mints nothing.
    const post = await postForm('/oauth/authorizeapp', s, { response_type: 'token', client_id: app.client_id, redirect_uri: REDIRECT, scope, _csrf_token: s.csrf, state: 's' });
    expect(post.statusCode).toBe(302);
    expect(post.headers.location).toBe('https://client.example.com/cb?error=invalid_scope');
    expect(await tokenCount(app)).toBe(0);
  });

  it('reads `+` in the query string as a space', async () => {
    const { user, app } = await adminWithApp();
    const s = await signIn(t, user);
    const url = `/oauth/authorize?response_type=token&client_id=${app.client_id}&redirect_uri=${encodeURIComponent(REDIRECT)}&scope=repo:read+user:read`;
    const res = await t.inject({ url, headers: { ...cookieHeader(s), accept: HTML } });
    expect(res.statusCode).toBe(200);
    expect(scopeItem(res.body, 'repo:read')).toBeDefined();
    expect(scopeItem(res.body, 'user:read')).toBeDefined();
    expect(formFields(res.body, '/oauth/authorizeapp').scope).toBe('repo:read user:read');
  });
});

describe('required parameters', () => {
  it.each(['client_id', 'redirect_uri', 'scope'])('answers 400 {error: "Required param: %s"} before checking the session', async (missing) => {
    const { user, app } = await adminWithApp();
    const s = await signIn(t, user);
    const params: Record<string, string | undefined> = { response_type: 'token', client_id: app.client_id, redirect_uri: REDIRECT, scope: 'user:read' };
    params[missing] = undefined;
    for (const headers of [{ ...cookieHeader(s), accept: HTML }, { accept: HTML }, {}]) {
      const res = await t.inject({ url: authorizeUrl(params), headers });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toEqual({ error: `Required param: ${missing}` });
      expect(res.headers['cache-control']).toBe(NO_CACHE);
    }
  });

  it('names client_id first when everything is missing', async () => {
    const res = await t.inject({ url: '/oauth/authorize' });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: 'Required param: client_id' });
  });
});

describe('who may authorize', () => {
  it('answers 401 JSON without a session unless the client is a browser', async () => {
    const { app } = await adminWithApp();
    const url = authorizeUrl({ response_type: 'token', client_id: app.client_id, redirect_uri: REDIRECT, scope: 'user:read' });
    for (const accept of [undefined, 'application/json', '*/*']) {
      const res = await t.inject({ url, headers: accept ? { accept } : {} });
      expect(res.statusCode, accept).toBe(401);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.headers.location).toBeUndefined();
    }
    // An anonymous session (cookie without login) is no login either.
    const anon = await t.inject({ method: 'GET', url: '/csrf_token' });
    const res = await t.inject({ url, headers: { ...cookieHeader(sessionCookie(anon)!), accept: 'application/json' } });
    expect(res.statusCode).toBe(401);
    // A Bearer token is not a session on the web routes.
    const holder = await makeUser(t);
    const tok = await implicitToken(await signIn(t, holder), (await adminWithAppFor(holder)).app, 'user:admin');
    const withBearer = await t.inject({ url, headers: { ...bearer(tok.token), accept: 'application/json' } });
    expect(withBearer.statusCode).toBe(401);
  });

  it('refuses users who are not admins of the application’s organization', async () => {
    const { org, app } = await adminWithApp();
    const member = await makeUser(t);
    const creator = await makeUser(t);
    const stranger = await makeUser(t);
    await makeTeam(t, org, 'member', [member]);
    await makeTeam(t, org, 'creator', [creator]);
    for (const u of [member, creator, stranger]) {
      const s = await signIn(t, u);
      for (const response_type of ['token', 'code']) {
        const params = { response_type, client_id: app.client_id, redirect_uri: REDIRECT, scope: 'user:read', state: 's' };
        const get = await getAuthorize(s, params);
        expect(get.statusCode, u.username).toBe(403);
        expect(get.headers['cache-control']).toBe(NO_CACHE);
        const json = await getAuthorize(s, { ...params, format: 'json' }, 'application/json');
        expect(json.statusCode).toBe(403);
        const post = await postForm('/oauth/authorizeapp', s, { ...params, _csrf_token: s.csrf });
        expect(post.statusCode).toBe(302);
        expect(post.headers.location).toBe('https://client.example.com/cb?error=unauthorized_client');
      }
    }
    expect(await tokenCount(app)).toBe(0);
    expect(await codeCount(app)).toBe(0);
  });

  it('lets an admin added through another admin team authorize', async () => {
    const { org, app } = await adminWithApp();
    const second = await makeUser(t);
    await makeTeam(t, org, 'admin', [second]);
    const s = await signIn(t, second);
    const { token } = await implicitToken(s, app, 'user:read');
    expect((await me(token)).json().username).toBe(second.username);
  });

  it('lets any signed-in user authorize the built-in API docs application', async () => {
    const user = await makeUser(t);
    const s = await signIn(t, user);
    const docs = (await t.app.db.selectFrom('oauth_application').selectAll().where('client_id', '=', DOCS_CLIENT_ID).executeTakeFirstOrThrow());
    const redirect = `${BASE}${DOCS_REDIRECT_PATH}`;
    expect(docs.redirect_uri).toBe(redirect);
    const params = { response_type: 'token', client_id: DOCS_CLIENT_ID, redirect_uri: redirect, scope: 'user:read repo:read', state: 'sw' };

    const json = await getAuthorize(s, { ...params, format: 'json' }, 'application/json');
    expect(json.statusCode).toBe(200);
    expect(json.json().application).toMatchObject({ name: docs.name, organization: { name: null } });

    const { html, fields } = await consent(s, params);
    expect(html).toContain(docs.name);
    const res = await postForm('/oauth/authorizeapp', s, fields);
    expect(res.statusCode).toBe(302);
    const loc = location(res);
    expect(`${loc.url.origin}${loc.url.pathname}`).toBe(redirect);
    expect(loc.query.get('state')).toBe('sw');
    const who = await me(loc.fragment!.get('access_token')!);
    expect(who.statusCode).toBe(200);
    expect(who.json().username).toBe(user.username);

    // Its redirect URI is checked like any other.
    const bad = await getAuthorize(s, { ...params, redirect_uri: 'https://evil.com/api/docs/oauth2-redirect.html' });
    expect(bad.statusCode).toBe(302);
    expect(bad.headers.location).toBe(`${redirect}?error=redirect_uri_mismatch`);
  });
});

/** An application owned by an org `user` administers (for tests that need a token of `user`). */
async function adminWithAppFor(user: TestUser) {
  const org = await makeOrg(t, [user]);
  return { org, app: await makeApplication(t, org, { redirectUri: REDIRECT }) };
}

describe('denied consent', () => {
  it('redirects with error=authorization_denied, without state, and mints nothing', async () => {
    const { user, app } = await adminWithApp();
    const s = await signIn(t, user);
    const res0 = await getAuthorize(s, { response_type: 'token', client_id: app.client_id, redirect_uri: REDIRECT, scope: 'user:read', state: 'xyz' });
    const denyFields = formFields(res0.body, '/oauth/denyapp');
    expect(denyFields.state).toBe('xyz');
    const res = await postForm('/oauth/denyapp', s, denyFields);
    expect(res.statusCode).toBe(302);
    expect(res.headers.location).toBe('https://client.example.com/cb?error=authorization_denied');
    expect(res.headers['cache-control']).toBe(NO_CACHE);
    expect(await tokenCount(app)).toBe(0);

    // The code flow is denied the same way.
    const res1 = await getAuthorize(s, { response_type: 'code', client_id: app.client_id, redirect_uri: `${REDIRECT}?k=v`, scope: 'user:read' });
    const deny2 = await postForm('/oauth/denyapp', s, formFields(res1.body, '/oauth/denyapp'));
    expect(deny2.headers.location).toBe('https://client.example.com/cb?k=v&error=authorization_denied');
    expect(await codeCount(app)).toBe(0);
  });

  it('requires a signed-in session', async () => {
    const { app } = await adminWithApp();
    const anon = await t.inject({ method: 'GET', url: '/csrf_token' });
    const res = await postForm('/oauth/denyapp', sessionCookie(anon), {
      response_type: 'token', client_id: app.client_id, redirect_uri: REDIRECT, scope: 'user:read', _csrf_token: anon.json().csrf_token,
    });
    expect(res.statusCode).toBe(401);
    expect(res.headers.location).toBeUndefined();
  });
});

describe('CSRF', () => {
  async function setup() {
    const { user, app } = await adminWithApp();
    const s = await signIn(t, user);
    const fields = { response_type: 'token', client_id: app.client_id, redirect_uri: REDIRECT, scope: 'user:read', state: 's' };
    return { user, app, s, fields };
  }

  it('refuses authorizeapp without the token, with a wrong one or another session’s, and mints nothing', async () => {
    const { user, app, s, fields } = await setup();
    const other = await signIn(t, await makeUser(t));
    const anon = (await t.inject({ method: 'GET', url: '/csrf_token' })).json().csrf_token as string;
    const attempts: [string, Record<string, string | undefined>, Record<string, string>][] = [
      ['missing', fields, {}],
      ['empty', { ...fields, _csrf_token: '' }, {}],
      ['wrong', { ...fields, _csrf_token: 'x'.repeat(64) }, {}],
      ['truncated', { ...fields, _csrf_token: s.csrf.slice(0, 63) }, {}],
      ['another session’s', { ...fields, _csrf_token: other.csrf }, {}],
      ['an anonymous session’s', { ...fields, _csrf_token: anon }, {}],
      ['wrong in the form, right in the header', { ...fields, _csrf_token: other.csrf }, { 'x-csrf-token': s.csrf }],
      ['wrong in the header only', fields, { 'x-csrf-token': other.csrf }],
    ];
    for (const response_type of ['token', 'code']) {
      for (const [name, body, headers] of attempts) {
        const res = await postForm('/oauth/authorizeapp', s, { ...body, response_type }, headers);
        expect(res.statusCode, name).toBe(403);
        expect(res.json(), name).toEqual({ error: `CSRF token was invalid or missing. (authorized: user ${user.username})` });
        expect(res.headers.location, name).toBeUndefined();
      }
    }
    expect(await tokenCount(app)).toBe(0);
    expect(await codeCount(app)).toBe(0);
    // The same request with the right token in the form, or in the header only, goes through.
    expect((await postForm('/oauth/authorizeapp', s, { ...fields, _csrf_token: s.csrf })).statusCode).toBe(302);
    expect((await postForm('/oauth/authorizeapp', s, fields, { 'x-csrf-token': s.csrf })).statusCode).toBe(302);
    expect(await tokenCount(app)).toBe(2);
  });

  it('refuses the token of the session before sign-in (login rotates it)', async () => {
    const { user, app } = await adminWithApp();
    const pageRes = await t.inject({ url: '/signin' });
    const anonCookie = sessionCookie(pageRes)!;
    const preLogin = formFields(pageRes.body, '/signin')._csrf_token;
    const post = await postForm('/signin', anonCookie, { _csrf_token: preLogin, username: user.username, password: user.password, next: '/' });
    expect(post.statusCode).toBe(303);
    const cookie = sessionCookie(post)!;
    const stale = await postForm('/oauth/authorizeapp', cookie, { response_type: 'token', client_id: app.client_id, redirect_uri: REDIRECT, scope: 'user:read', _csrf_token: preLogin });
    expect(stale.statusCode).toBe(403);
    expect(await tokenCount(app)).toBe(0);
    const fresh = await postForm('/oauth/authorizeapp', cookie, { response_type: 'token', client_id: app.client_id, redirect_uri: REDIRECT, scope: 'user:read', _csrf_token: String(post.headers['x-next-csrf-token']) });
    expect(fresh.statusCode).toBe(302);
  });

  it('asks for a session before CSRF on authorizeapp (401 without one)', async () => {
    const { app } = await adminWithApp();
    const res = await postForm('/oauth/authorizeapp', undefined, { response_type: 'token', client_id: app.client_id, redirect_uri: REDIRECT, scope: 'user:read' });
    expect(res.statusCode).toBe(401);
    expect(await tokenCount(app)).toBe(0);
  });

  it('refuses denyapp without a valid token', async () => {
    const { s, fields } = await setup();
    for (const token of [undefined, 'nope']) {
      const res = await postForm('/oauth/denyapp', s, { ...fields, _csrf_token: token });
      expect(res.statusCode).toBe(403);
      expect(res.json().error).toMatch(/^CSRF token was invalid or missing\./);
      expect(res.headers.location).toBeUndefined();
    }
  });

  it('refuses the sign-in form without the page’s token, and logs nobody in', async () => {
    const user = await makeUser(t);
    const pageRes = await t.inject({ url: '/signin?next=/oauth/localapp' });
    const cookie = sessionCookie(pageRes)!;
    const fields = formFields(pageRes.body, '/signin');
    const other = (await t.inject({ method: 'GET', url: '/csrf_token' })).json().csrf_token as string;
    for (const [name, tok, c] of [
      ['missing', undefined, cookie],
      ['wrong', 'x'.repeat(64), cookie],
      ['another session’s', other, cookie],
      ['no cookie', fields._csrf_token, undefined],
    ] as const) {
      const res = await postForm('/signin', c, { ...fields, _csrf_token: tok, username: user.username, password: user.password });
      expect(res.statusCode, name).toBe(403);
      expect(res.json().error, name).toMatch(/^CSRF token was invalid or missing\./);
      expect(res.headers.location, name).toBeUndefined();
      expect(res.headers['x-next-csrf-token'], name).toBeUndefined();
    }
    const logins = await t.app.db.selectFrom('session').select('id').where('user_id', '=', user.id).execute();
    expect(logins).toHaveLength(0);
    expect((await t.inject({ url: '/api/v1/user/', headers: cookieHeader(cookie) })).statusCode).toBe(401);
  });
});

describe('the sign-in page', () => {
  it('shows the error and keeps `next` on a wrong password', async () => {
    const user = await makeUser(t);
    const pageRes = await t.inject({ url: '/signin?next=%2Foauth%2Fauthorize%3Fclient_id%3DX' });
    const cookie = sessionCookie(pageRes)!;
    const fields = formFields(pageRes.body, '/signin');
    expect(fields.next).toBe('/oauth/authorize?client_id=X');
    const res = await postForm('/signin', cookie, { ...fields, username: user.username, password: 'wrong-password' });
    expect(res.statusCode).toBe(403);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.body).toContain('Invalid Username or Password');
    expect(formFields(res.body, '/signin')).toMatchObject({ next: '/oauth/authorize?client_id=X', _csrf_token: fields._csrf_token });
    expect(await t.app.db.selectFrom('session').select('id').where('user_id', '=', user.id).execute()).toHaveLength(0);
  });

  it.each([
    ['an absolute URL', 'https://evil.com/'],
    ['a scheme-relative URL', '//evil.com/'],
    ['a backslash authority', '/\\evil.com/'],
    ['a tab that browsers strip', '/\t/evil.com/'],
    ['a newline that browsers strip', '/\n/evil.com/'],
    ['a javascript: URL', 'javascript:alert(1)'],
  ])('does not follow `next` to %s', async (_name, next) => {
    const user = await makeUser(t);
    const pageRes = await t.inject({ url: `/signin?next=${encodeURIComponent(next)}` });
    const fields = formFields(pageRes.body, '/signin');
    expect(fields.next).toBe('/api/docs');
    // Posting it directly is no better.
    const res = await postForm('/signin', sessionCookie(pageRes), { ...fields, next, username: user.username, password: user.password });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/api/docs');
  });

  it('sends an already signed-in browser straight on to `next`', async () => {
    const user = await makeUser(t);
    const s = await signIn(t, user);
    const res = await t.inject({ url: '/signin?next=%2Foauth%2Flocalapp', headers: cookieHeader(s) });
    expect(res.statusCode).toBe(302);
    expect(res.headers.location).toBe('/oauth/localapp');
  });
});

describe('auto-approval', () => {
  it('issues a new token at once when live tokens already cover the scopes (taking repo:* implications into account)', async () => {
    const { user, app } = await adminWithApp();
    const s = await signIn(t, user);
    await implicitToken(s, app, 'repo:admin user:admin');
    expect(await tokenCount(app)).toBe(1);
    for (const scope of ['user:admin', 'repo:write', 'repo:read,user:admin', 'repo:admin']) {
      const res = await getAuthorize(s, { response_type: 'token', client_id: app.client_id, redirect_uri: REDIRECT, scope, state: 'a' });
      expect(res.statusCode, scope).toBe(302);
      const loc = location(res);
      expect(loc.query.get('scope')).toBe(scope);
      expect(loc.query.get('state')).toBe('a');
      expect(loc.fragment!.get('access_token')).toMatch(/^[A-Za-z0-9]{40}$/);
      expect(loc.raw).toMatch(/#access_token=[A-Za-z0-9]{40}&token_type=Bearer&expires_in=315576000&/);
    }
    // A new token each time.
    expect(await tokenCount(app)).toBe(5);
    // Even format=json answers with the redirect.
    const json = await getAuthorize(s, { response_type: 'token', client_id: app.client_id, redirect_uri: REDIRECT, scope: 'user:admin', format: 'json' }, 'application/json');
    expect(json.statusCode).toBe(302);
    const tok = location(json).fragment!.get('access_token')!;
    expect((await me(tok)).statusCode).toBe(200);
    // The new token has exactly the scopes requested this time, not the union.
    const row = await t.app.db.selectFrom('oauth_access_token').select('scope').where('token_name', '=', tok.slice(0, 20)).executeTakeFirstOrThrow();
    expect(row.scope).toBe('user:admin');
  });

  it('joins the scopes of several live tokens', async () => {
    const { user, app } = await adminWithApp();
    const s = await signIn(t, user);
    await implicitToken(s, app, 'repo:read');
    await implicitToken(s, app, 'user:read');
    const res = await getAuthorize(s, { response_type: 'token', client_id: app.client_id, redirect_uri: REDIRECT, scope: 'user:read repo:read' });
    expect(res.statusCode).toBe(302);
  });

  it('shows consent for scopes not covered yet, for expired tokens, and for other applications’ tokens', async () => {
    const { user, app } = await adminWithApp();
    const other = await makeApplication(t, await makeOrg(t, [user]), { redirectUri: REDIRECT });
    const s = await signIn(t, user);
    const { token } = await implicitToken(s, app, 'repo:read user:read');
    await implicitToken(s, other, 'org:admin');
    const ask = (scope: string, client = app) => getAuthorize(s, { response_type: 'token', client_id: client.client_id, redirect_uri: REDIRECT, scope });
    expect((await ask('repo:write')).statusCode).toBe(200);
    expect((await ask('user:admin')).statusCode).toBe(200);
    expect((await ask('org:admin')).statusCode).toBe(200);
    expect((await ask('repo:read')).statusCode).toBe(302);
    await t.app.db.updateTable('oauth_access_token').set({ expires_at: new Date(Date.now() - 1000) }).where('application_id', '=', app.id).execute();
    expect((await ask('repo:read')).statusCode).toBe(200);
    expect((await me(token)).statusCode).toBe(401);
  });

  it('still validates redirect_uri, and issues codes for the code flow', async () => {
    const { user, app } = await adminWithApp();
    const s = await signIn(t, user);
    await implicitToken(s, app, 'user:read');
    const before = await tokenCount(app);
    const bad = await getAuthorize(s, { response_type: 'token', client_id: app.client_id, redirect_uri: 'https://evil.com/cb', scope: 'user:read' });
    expect(bad.statusCode).toBe(302);
    expect(bad.headers.location).toBe('https://client.example.com/cb?error=redirect_uri_mismatch');
    expect(await tokenCount(app)).toBe(before);

    const code = await getAuthorize(s, { response_type: 'code', client_id: app.client_id, redirect_uri: REDIRECT, scope: 'user:read', state: 'c' });
    expect(code.statusCode).toBe(302);
    expect(String(code.headers.location)).toMatch(/^https:\/\/client\.example\.com\/cb\?scope=user%3Aread&state=c&code=[A-Za-z0-9]{40}$/);
    expect(await codeCount(app)).toBe(1);
  });

  it('does not auto-approve a user who is no longer an org admin', async () => {
    const { user, org, app } = await adminWithApp();
    const s = await signIn(t, user);
    await implicitToken(s, app, 'user:read');
    await t.app.db
      .deleteFrom('team_member')
      .where('user_id', '=', user.id)
      .where('team_id', 'in', t.app.db.selectFrom('team').select('id').where('organization_id', '=', org.id))
      .execute();
    const res = await getAuthorize(s, { response_type: 'token', client_id: app.client_id, redirect_uri: REDIRECT, scope: 'user:read' });
    expect(res.statusCode).toBe(403);
  });
});

describe('issued tokens afterwards', () => {
  it('fail on the API once expired or revoked', async () => {
    const { user, app } = await adminWithApp();
    const s = await signIn(t, user);
    const a = (await implicitToken(s, app, 'user:read')).token;
    const b = (await implicitToken(s, app, 'user:read')).token;
    const ex = await exchange({
      grant_type: 'authorization_code',
      client_id: app.client_id,
      client_secret: app.client_secret,
      redirect_uri: REDIRECT,
      code: (await authorizationCode(s, app, 'user:read')).code,
      scope: 'user:read',
    });
    const c = ex.json().access_token as string;
    for (const tok of [a, b, c]) expect((await me(tok)).statusCode).toBe(200);

    await t.app.db.updateTable('oauth_access_token').set({ expires_at: new Date(Date.now() - 1000) }).where('token_name', '=', a.slice(0, 20)).execute();
    await t.app.db.deleteFrom('oauth_access_token').where('token_name', '=', c.slice(0, 20)).execute();
    // A revocation in this process clears the auth cache, as the revoking endpoints do.
    t.app.authCache.clear();
    expect((await me(a)).statusCode).toBe(401);
    expect((await me(c)).statusCode).toBe(401);
    expect((await me(b)).statusCode).toBe(200);
  });
});

describe('format=json', () => {
  it('returns the consent data, with a CSRF token that works for authorizeapp', async () => {
    const { user, org, app } = await adminWithApp();
    const s = await signIn(t, user);
    const res = await getAuthorize(
      s,
      { response_type: 'token', client_id: app.client_id, redirect_uri: REDIRECT, scope: 'user:admin,repo:read', state: 'j', format: 'json' },
      'application/json',
    );
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.headers['cache-control']).toBe(NO_CACHE);
    const body = res.json();
    expect(body).toMatchObject({
      has_dangerous_scopes: true,
      application: { name: app.name, description: app.description, url: app.application_uri, organization: { name: org.username } },
      response_type: 'token',
      client_id: app.client_id,
      redirect_uri: REDIRECT,
      scope: 'user:admin,repo:read',
      csrf_token_val: s.csrf,
      state: 'j',
    });
    expect(body.scopes).toHaveLength(2);
    for (const entry of body.scopes) {
      expect(Object.keys(entry).sort()).toEqual(['dangerous', 'description', 'icon', 'scope', 'title']);
      expect(entry).toEqual(SCOPES[entry.scope as ScopeName]);
    }
    expect(body.scopes.map((e: { scope: string }) => e.scope).sort()).toEqual(['repo:read', 'user:admin']);

    const post = await postForm('/oauth/authorizeapp', s, {
      response_type: body.response_type, client_id: body.client_id, redirect_uri: body.redirect_uri, scope: body.scope, state: body.state, _csrf_token: body.csrf_token_val,
    });
    expect(post.statusCode).toBe(302);
    expect(location(post).query.get('state')).toBe('j');
  });

  it('reports no dangerous scopes and a null state when there are none', async () => {
    const { user, app } = await adminWithApp();
    const s = await signIn(t, user);
    const res = await getAuthorize(s, { client_id: app.client_id, redirect_uri: REDIRECT, scope: 'repo:read', format: 'json' }, 'application/json');
    expect(res.json()).toMatchObject({ has_dangerous_scopes: false, state: null, response_type: 'code', scopes: [SCOPES['repo:read']] });
  });
});

describe('GET /oauth/localapp', () => {
  it('answers 401 with a page without a session', async () => {
    const res = await t.inject({ url: '/oauth/localapp?scope=user%3Aread', headers: { accept: HTML } });
    expect(res.statusCode).toBe(401);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    const json = await t.inject({ url: '/oauth/localapp?format=json' });
    expect(json.statusCode).toBe(401);
  });

  it('returns the access_token query parameter (or null) with format=json', async () => {
    const user = await makeUser(t);
    const s = await signIn(t, user);
    const none = await t.inject({ url: '/oauth/localapp?format=json&scope=user%3Aread', headers: cookieHeader(s) });
    expect(none.statusCode).toBe(200);
    expect(none.json()).toEqual({ access_token: null });
    const some = await t.inject({ url: '/oauth/localapp?format=json&access_token=abc123', headers: cookieHeader(s) });
    expect(some.json()).toEqual({ access_token: 'abc123' });
  });

  it('serves a page that reads the token from the fragment', async () => {
    const user = await makeUser(t);
    const s = await signIn(t, user);
    const res = await t.inject({ url: '/oauth/localapp?scope=user%3Aread', headers: { ...cookieHeader(s), accept: HTML } });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.body).toContain('location.hash');
    expect(res.body).toContain('access_token');
  });
});

describe('non-browser clients', () => {
  it('complete the implicit flow with HTTP Basic credentials, as Quay allows', async () => {
    const { user, app } = await adminWithApp();
    const basic = { authorization: `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}` };
    const consent = await t.inject({
      url: `/oauth/authorize?${new URLSearchParams({ response_type: 'token', client_id: app.client_id, redirect_uri: REDIRECT, scope: 'user:read', format: 'json' })}`,
      headers: basic,
    });
    expect(consent.statusCode).toBe(200);
    const data = consent.json();
    expect(JSON.parse(data.application.avatar)).toMatchObject({ kind: 'app' });
    expect(JSON.parse(data.application.organization.avatar)).toMatchObject({ kind: 'org' });
    const cookie = consent.cookies.find((c) => c.name === '_csrf_token')!.value;
    const grant = await t.inject({
      method: 'POST',
      url: '/oauth/authorizeapp',
      headers: { ...basic, cookie: `_csrf_token=${cookie}`, 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ response_type: 'token', client_id: app.client_id, redirect_uri: REDIRECT, scope: 'user:read', _csrf_token: data.csrf_token_val }).toString(),
    });
    expect(grant.statusCode).toBe(302);
    const token = /access_token=(.*?)&/.exec(String(grant.headers.location))![1];
    expect((await me(token)).statusCode).toBe(200);
  });

  it('refuse wrong Basic credentials and robots', async () => {
    const { user, app } = await adminWithApp();
    const q = new URLSearchParams({ response_type: 'token', client_id: app.client_id, redirect_uri: REDIRECT, scope: 'user:read', format: 'json' });
    for (const cred of [`${user.username}:wrong-password`, `${user.username}+bot:${user.password}`, `$oauthtoken:whatever`]) {
      const res = await t.inject({ url: `/oauth/authorize?${q}`, headers: { authorization: `Basic ${Buffer.from(cred).toString('base64')}` } });
      expect(res.statusCode, cred).toBe(401);
    }
  });

  it('get 405 for POST /oauth/authorize', async () => {
    expect((await t.inject({ method: 'POST', url: '/oauth/authorize' })).statusCode).toBe(405);
  });
});
