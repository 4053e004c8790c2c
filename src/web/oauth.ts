// The OAuth 2 provider (registry-and-auth.md A.4–A.7, web-endpoints.md §4): implicit and code flows
// through this server's own sign-in and consent pages, and the code exchange.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { safeEqual, sha256Hex, randomString } from '../auth/crypto.js';
import { checkCsrf } from '../auth/hook.js';
import { isValidRedirectUri, withQuery } from '../auth/redirect-uri.js';
import { parseScopeString, SCOPES, scopesCover, SCOPE_NAMES, type ScopeName } from '../auth/scopes.js';
import { ensureSession } from '../auth/session.js';
import { DEFAULT_TOKEN_LIFETIME_S, mintAccessToken, NAME_LENGTH, splitSecret, TOKEN_LENGTH } from '../auth/tokens.js';
import {
  findApplicationByClientId,
  insertAuthorizationCode,
  listLiveTokenScopes,
  takeAuthorizationCode,
} from '../db/oauth.js';
import type { Namespace, OAuthApplication } from '../db/schema.js';
import { realOrgRole } from '../auth/permissions.js';
import { avatar } from '../lib/avatar.js';
import { basicCredentials, loginGuard } from '../services/login.js';
import { noteFailure, noteSuccess, throttleWait } from '../services/throttle.js';
import { stringProblem } from '../lib/input-guard.js';
import { consentPage, localAppPage, messagePage } from './pages.js';
import { WEB_FIELD as W, webBody, webFields } from './fields.js';

/** Authorization codes are single use; this server also lets them expire (Quay's never do). */
const CODE_LIFETIME_MS = 10 * 60 * 1000;
const NO_CACHE = { 'Cache-Control': 'no-cache, no-store, must-revalidate' };

type Params = Record<string, string | undefined>;

const AUTHORIZE_FIELDS = {
  client_id: W.name,
  redirect_uri: W.url,
  scope: W.token,
  response_type: W.short,
  state: W.url,
  format: W.short,
  _csrf_token: W.token,
};
const AuthorizeQuery = webFields(AUTHORIZE_FIELDS);
const TOKEN_FIELDS = {
  grant_type: W.short,
  client_id: W.name,
  client_secret: W.name,
  redirect_uri: W.url,
  code: W.token,
  scope: W.token,
};

function strings(o: unknown): Params {
  const out: Params = {};
  if (o && typeof o === 'object') {
    for (const [k, v] of Object.entries(o)) {
      const first = Array.isArray(v) ? v[0] : v;
      if (typeof first === 'string') out[k] = first;
    }
  }
  return out;
}

/** application/x-www-form-urlencoded decoding of one value; undefined when malformed or unusable. */
function formDecode(s: string): string | undefined {
  try {
    const v = decodeURIComponent(s.replace(/\+/g, ' '));
    return stringProblem(v) ? undefined : v;
  } catch {
    return undefined;
  }
}

/** The longest redirect this server sends: what browsers and proxies reliably pass on. */
const MAX_LOCATION_LENGTH = 8192;

/** Whether a redirect can reach the client whole: an absolute URL, within length, header-safe once encoded. */
function isDeliverable(url: string): boolean {
  return url.length <= MAX_LOCATION_LENGTH && URL.canParse(url) && !/[\x00-\x1f\x7f]/.test(url);
}

function wantsHtml(req: FastifyRequest): boolean {
  return (req.headers.accept ?? '').includes('text/html');
}

function orderedScopes(set: Set<ScopeName>): ScopeName[] {
  return SCOPE_NAMES.filter((s) => set.has(s));
}

export async function oauthRoutes(app: FastifyInstance): Promise<void> {
  const localHandlerUrl = `${app.baseUrl}${app.config.LOCAL_OAUTH_HANDLER}`;

  /** May this user authorize tokens for this application? Org admins, or anyone for built-in apps. */
  async function mayAuthorize(user: Namespace, client: OAuthApplication): Promise<boolean> {
    if (client.builtin) return true;
    if (client.organization_id === null) return false;
    return (await realOrgRole(app.db, user.id, client.organization_id)) === 'admin';
  }

  /**
   * Issues the token (implicit) or the code and answers with the redirect. The redirect is built and
   * checked first, with a placeholder of the credential's length: no token or code is ever created
   * that could not be delivered.
   */
  async function issue(reply: FastifyReply, user: Namespace, client: OAuthApplication, p: Params) {
    const redirectUri = p.redirect_uri!;
    const scopes = parseScopeString(p.scope);
    if (!scopes) return reply.code(302).headers(NO_CACHE).redirect(withQuery(redirectUri, { error: 'invalid_scope' }));
    const location =
      p.response_type === 'token'
        ? (token: string) => {
            // Quay's form: scope and state in the query, then access_token, token_type and expires_in
            // in the fragment in that order (clients parse `access_token=(.*?)&`). state and scope are
            // repeated after them in the fragment, where RFC 6749 §4.2.2 puts them, for swagger-ui.
            const fragment = new URLSearchParams({ access_token: token, token_type: 'Bearer', expires_in: String(DEFAULT_TOKEN_LIFETIME_S) });
            if (p.state !== undefined) fragment.append('state', p.state);
            fragment.append('scope', p.scope!);
            return `${withQuery(redirectUri, { scope: p.scope, state: p.state })}#${fragment.toString()}`;
          }
        : (code: string) => withQuery(redirectUri, { scope: p.scope, state: p.state, code });
    if (!isDeliverable(location('x'.repeat(TOKEN_LENGTH)))) {
      return reply.code(400).headers(NO_CACHE).send({ error: 'invalid_request', error_description: 'The redirect URI cannot carry the response' });
    }
    if (p.response_type === 'token') {
      const { token } = await mintAccessToken(app.db, {
        applicationId: client.id,
        userId: user.id,
        username: user.username,
        scope: p.scope!,
      });
      return reply.code(302).headers(NO_CACHE).header('location', location(token)).send();
    }
    const code = randomString(TOKEN_LENGTH);
    const { name, secret } = splitSecret(code, NAME_LENGTH)!;
    await insertAuthorizationCode(app.db, {
      applicationId: client.id,
      codeName: name,
      codeHash: sha256Hex(secret),
      scope: p.scope!,
      redirectUri,
      data: { username: user.username, user_id: user.id },
    });
    return reply.code(302).headers(NO_CACHE).header('location', location(code)).send();
  }

  // Quay's /oauth/authorize has no POST (405); clients must post the grant to /oauth/authorizeapp.
  app.post('/oauth/authorize', async (_req, reply) =>
    reply.code(405).header('Allow', 'GET, HEAD, OPTIONS').send({ error: 'Method Not Allowed' }),
  );

  app.get('/oauth/authorize', { config: { basicAuth: true }, schema: { querystring: AuthorizeQuery } }, async (req, reply) => {
    const p = strings(req.query);
    for (const k of ['client_id', 'redirect_uri', 'scope']) {
      if (!p[k]) return reply.code(400).headers(NO_CACHE).send({ error: `Required param: ${k}` });
    }
    p.response_type ??= 'code';
    // An unknown client is answered at once: nobody is sent to sign in for an application that
    // does not exist.
    const client = await findApplicationByClientId(app.db, p.client_id!);
    if (!client) {
      if (wantsHtml(req)) return messagePage(reply.headers(NO_CACHE), 404, 'Unknown application', 'No application has this client_id.');
      return reply.code(404).headers(NO_CACHE).send({ error: 'Unknown client_id' });
    }
    const user = req.auth.user;
    if (!user) {
      // Quay answers 401 here; a browser is sent to this server's sign-in page and then back.
      if (wantsHtml(req)) return reply.code(302).headers(NO_CACHE).redirect(`/signin?next=${encodeURIComponent(req.url)}`);
      return reply.code(401).headers(NO_CACHE).send({ error: 'Requires authentication' });
    }
    if (!(await mayAuthorize(user, client))) {
      return reply.code(403).headers(NO_CACHE).send({ error: 'You are not allowed to authorize this application' });
    }
    if (!isValidRedirectUri(client, p.redirect_uri, localHandlerUrl)) {
      if (!client.redirect_uri) return reply.code(400).headers(NO_CACHE).send({ error: 'invalid_request' });
      return reply.code(302).headers(NO_CACHE).redirect(withQuery(client.redirect_uri, { error: 'redirect_uri_mismatch' }));
    }
    const scopes = parseScopeString(p.scope);
    if (!scopes) return reply.code(404).headers(NO_CACHE).send({ error: 'Invalid scope' });
    if (p.response_type !== 'token' && p.response_type !== 'code') {
      return reply.code(302).headers(NO_CACHE).redirect(withQuery(p.redirect_uri!, { error: 'unsupported_response_type' }));
    }
    // Auto-approval: the user's live tokens for this client already cover the scopes.
    const granted = (await listLiveTokenScopes(app.db, user.id, client.id)).flatMap((s) => [...(parseScopeString(s) ?? [])]);
    if (granted.length && scopesCover(granted, scopes)) return issue(reply, user, client, p);

    const session = await ensureSession(req, reply, app.secrets, app.sessionSettings);
    const owner = client.organization_id
      ? await app.db.selectFrom('namespace').select(['username', 'email', 'organization']).where('id', '=', client.organization_id).executeTakeFirst()
      : undefined;
    if (p.format === 'json') {
      return reply.headers(NO_CACHE).send({
        scopes: orderedScopes(scopes).map((s) => SCOPES[s]),
        has_dangerous_scopes: orderedScopes(scopes).some((s) => SCOPES[s].dangerous),
        // Quay sends both avatars as JSON-encoded strings here (web-endpoints.md §4.1); clients parse them.
        application: {
          name: client.name,
          description: client.description,
          url: client.application_uri,
          avatar: JSON.stringify(avatar(client.name, client.avatar_email ?? owner?.email, 'app')),
          organization: {
            name: owner?.username ?? null,
            avatar: owner ? JSON.stringify(avatar(owner.username, owner.email, owner.organization ? 'org' : 'user')) : null,
          },
        },
        response_type: p.response_type,
        client_id: p.client_id,
        redirect_uri: p.redirect_uri,
        scope: p.scope,
        csrf_token_val: session.csrfToken,
        state: p.state ?? null,
        assignment_uuid: null,
      });
    }
    return consentPage(reply, {
      app: client,
      ownerName: owner?.username ?? null,
      scopes: orderedScopes(scopes),
      csrf: session.csrfToken,
      clientId: p.client_id!,
      redirectUri: p.redirect_uri!,
      scope: p.scope!,
      responseType: p.response_type,
      state: p.state,
      username: user.username,
    });
  });

  app.post('/oauth/authorizeapp', { config: { basicAuth: true }, schema: { body: webBody(AUTHORIZE_FIELDS) } }, async (req, reply) => {
    const user = req.auth.user;
    if (!user) return reply.code(401).headers(NO_CACHE).send({ error: 'Requires authentication' });
    checkCsrf(req);
    const p = strings(req.body);
    p.response_type ??= 'code';
    const client = p.client_id ? await findApplicationByClientId(app.db, p.client_id) : undefined;
    // The redirect URI is validated before anything is redirected to it: no open redirect.
    if (!client || !isValidRedirectUri(client, p.redirect_uri, localHandlerUrl)) {
      return reply.code(400).headers({ ...NO_CACHE, Pragma: 'no-cache' }).send({ error: 'invalid_request' });
    }
    if (p.response_type !== 'token' && p.response_type !== 'code') {
      return reply.code(302).headers(NO_CACHE).redirect(withQuery(p.redirect_uri!, { error: 'unsupported_response_type' }));
    }
    if (!(await mayAuthorize(user, client))) {
      return reply.code(302).headers(NO_CACHE).redirect(withQuery(p.redirect_uri!, { error: 'unauthorized_client' }));
    }
    return issue(reply, user, client, p);
  });

  app.post('/oauth/denyapp', { schema: { body: webBody(AUTHORIZE_FIELDS) } }, async (req, reply) => {
    if (!req.auth.user) return reply.code(401).headers(NO_CACHE).send({ error: 'Requires authentication' });
    checkCsrf(req);
    const p = strings(req.body);
    const client = p.client_id ? await findApplicationByClientId(app.db, p.client_id) : undefined;
    if (!client || !isValidRedirectUri(client, p.redirect_uri, localHandlerUrl)) {
      return reply.code(400).headers(NO_CACHE).send({ error: 'invalid_request' });
    }
    return reply.code(302).headers(NO_CACHE).redirect(withQuery(p.redirect_uri!, { error: 'authorization_denied' }));
  });

  app.post('/oauth/access_token', { onRequest: app.ipLimit('token'), schema: { querystring: webFields(TOKEN_FIELDS), body: webBody(TOKEN_FIELDS) } }, async (req, reply) => {
    const p = { ...strings(req.query), ...strings(req.body) };
    const fail = (error: string) =>
      reply.code(400).headers({ 'Cache-Control': 'no-store', Pragma: 'no-cache' }).send({ error });
    if (/^Basic\s/i.test(req.headers.authorization ?? '')) {
      // RFC 6749 §2.3.1: client credentials in Basic are form-encoded.
      const basic = basicCredentials(req.headers.authorization);
      const id = basic && formDecode(basic.username);
      const secret = basic && formDecode(basic.password);
      if (id === undefined || secret === undefined) return fail('invalid_client');
      p.client_id = id;
      p.client_secret = secret;
    }
    for (const k of ['grant_type', 'client_id', 'redirect_uri', 'code', 'scope']) if (!p[k]) return fail('invalid_request');
    if (p.grant_type !== 'authorization_code') return fail('unsupported_grant_type');
    // Wrong client secrets are throttled per client and caller address (the account-wide limit of
    // src/services/throttle.ts; no per-attempt backoff: a 40-character secret is not guessed).
    const subject = `client:${p.client_id}`;
    const guard = loginGuard(req);
    const policy = { ...guard.policy, backoff: false };
    const wait = await throttleWait(app.db, subject, guard.ip, policy);
    if (wait > 0) {
      return reply
        .code(429)
        .headers({ 'Cache-Control': 'no-store', Pragma: 'no-cache', 'Retry-After': String(wait) })
        .send({ error: 'slow_down', error_description: 'Too many failed attempts for this client; retry later' });
    }
    const client = await findApplicationByClientId(app.db, p.client_id!);
    const secret = client ? app.secrets.decrypt(client.client_secret_enc) : undefined;
    if (!client || !secret || !p.client_secret || !safeEqual(secret, p.client_secret)) {
      await noteFailure(app.db, subject, guard.ip);
      return fail('invalid_client');
    }
    if (!parseScopeString(p.scope)) return fail('invalid_scope');
    const parts = splitSecret(p.code!, NAME_LENGTH);
    if (!parts) return fail('invalid_grant');
    const result = await app.db.transaction().execute(async (trx) => {
      const row = await takeAuthorizationCode(trx, client.id, parts.name);
      if (!row) return 'invalid_grant' as const;
      const ok =
        safeEqual(row.code_hash, sha256Hex(parts.secret)) &&
        row.scope === p.scope &&
        row.redirect_uri === p.redirect_uri &&
        Date.now() - row.created.getTime() <= CODE_LIFETIME_MS;
      if (!ok) return 'invalid_grant' as const;
      const user = await trx.selectFrom('namespace').selectAll().where('id', '=', Number(row.data.user_id)).executeTakeFirst();
      if (!user || !user.enabled) return 'invalid_grant' as const;
      return mintAccessToken(trx, { applicationId: client.id, userId: user.id, username: user.username, scope: row.scope });
    });
    if (typeof result === 'string') return fail(result);
    await noteSuccess(app.db, subject, guard.ip);
    return reply
      .code(200)
      .headers({ 'Cache-Control': 'no-store', Pragma: 'no-cache', 'Content-Type': 'application/json;charset=UTF-8' })
      .send(JSON.stringify({ access_token: result.token, token_type: 'Bearer', expires_in: DEFAULT_TOKEN_LIFETIME_S, refresh_token: null }));
  });

  app.get(app.config.LOCAL_OAUTH_HANDLER, { schema: { querystring: webFields({ format: W.short, access_token: W.token }) } }, async (req, reply) => {
    if (!req.auth.user) return messagePage(reply, 401, 'Sign-in required', 'Sign in to see the generated token.');
    const p = strings(req.query);
    if (p.format === 'json') return reply.send({ access_token: p.access_token ?? null });
    return localAppPage(reply);
  });
}
