// /config, /csrf_token and this server's own sign-in page (used by the OAuth flow).
import type { FastifyInstance } from 'fastify';
import { checkCsrf } from '../auth/hook.js';
import { ensureSession, loginSession } from '../auth/session.js';
import { checkPasswordLogin, loginGuard } from '../services/login.js';
import { signinPage } from './pages.js';
import { WEB_FIELD as W, webBody, webFields } from './fields.js';

/**
 * Only same-origin paths are followed after sign-in: no open redirect through `next`. Control
 * characters are refused too: browsers strip tabs and newlines from URLs, so `/\t/evil.com` would
 * become the scheme-relative `//evil.com`.
 */
export function safeNext(next: unknown): string {
  if (typeof next !== 'string' || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return '/api/docs';
  if (/[\x00-\x1f\x7f]/.test(next)) return '/api/docs';
  return next;
}

export async function sessionRoutes(app: FastifyInstance): Promise<void> {
  const { config } = app;

  app.get('/csrf_token', async (req, reply) => {
    const s = await ensureSession(req, reply, app.secrets, app.sessionSettings);
    return { csrf_token: s.csrfToken };
  });

  app.get('/config', async () => ({
    account_recovery_mode: false,
    config: {
      AUTHENTICATION_TYPE: config.AUTHENTICATION_TYPE,
      AVATAR_KIND: 'local',
      CONTACT_INFO: [],
      DEBUG: false,
      LOCAL_OAUTH_HANDLER: config.LOCAL_OAUTH_HANDLER,
      PREFERRED_URL_SCHEME: config.PREFERRED_URL_SCHEME,
      REGISTRY_TITLE: config.REGISTRY_TITLE,
      REGISTRY_TITLE_SHORT: config.REGISTRY_TITLE_SHORT,
      SERVER_HOSTNAME: config.SERVER_HOSTNAME,
      TAG_EXPIRATION_OPTIONS: config.TAG_EXPIRATION_OPTIONS,
      SEARCH_RESULTS_PER_PAGE: 10,
      SEARCH_MAX_RESULT_PAGE_COUNT: 10,
      FEATURE_REPO_MIRROR: config.FEATURE_REPO_MIRROR,
    },
    external_login: [],
    // Only what this server really does is advertised as on: clients trust these flags.
    features: {
      ANONYMOUS_ACCESS: config.FEATURE_ANONYMOUS_ACCESS,
      APP_SPECIFIC_TOKENS: config.FEATURE_APP_SPECIFIC_TOKENS,
      CHANGE_TAG_EXPIRATION: config.FEATURE_CHANGE_TAG_EXPIRATION,
      EXTENDED_REPOSITORY_NAMES: true,
      PARTIAL_USER_AUTOCOMPLETE: config.FEATURE_PARTIAL_USER_AUTOCOMPLETE,
      ASSIGN_OAUTH_TOKEN: false,
      BILLING: false,
      BUILD_SUPPORT: false,
      DIRECT_LOGIN: config.FEATURE_DIRECT_LOGIN,
      GITHUB_BUILD: false,
      GITHUB_LOGIN: false,
      GITLAB_BUILD: false,
      GOOGLE_LOGIN: false,
      INVITE_ONLY_USER_CREATION: false,
      MAILING: config.FEATURE_MAILING,
      PROGRAMMATIC_BOOTSTRAP: false,
      PROXY_CACHE: false,
      QUOTA_MANAGEMENT: false,
      RECAPTCHA: false,
      REPO_MIRROR: config.FEATURE_REPO_MIRROR,
      SECURITY_SCANNER: false,
      SUPER_USERS: config.FEATURE_SUPER_USERS,
      TEAM_SYNCING: false,
      USER_CREATION: config.FEATURE_USER_CREATION,
      USER_INITIALIZE: config.FEATURE_USER_INITIALIZE,
      USER_METADATA: false,
    },
    oauth: {},
    registry_state: 'normal',
    version_number: '',
  }));

  app.get('/signin', { schema: { querystring: webFields({ next: W.url }) } }, async (req, reply) => {
    const s = await ensureSession(req, reply, app.secrets, app.sessionSettings);
    const next = safeNext((req.query as Record<string, unknown>).next);
    if (req.auth.user) return reply.redirect(next);
    return signinPage(reply, { csrf: s.csrfToken, next, title: config.REGISTRY_TITLE });
  });

  app.post('/signin', { onRequest: app.ipLimit('login'), schema: { body: webBody({ username: W.name, password: W.secret, next: W.url, _csrf_token: W.token }) } }, async (req, reply) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const next = safeNext(body.next);
    const s = await ensureSession(req, reply, app.secrets, app.sessionSettings);
    checkCsrf(req);
    const username = typeof body.username === 'string' ? body.username : '';
    const password = typeof body.password === 'string' ? body.password : '';
    const v = await checkPasswordLogin(app.db, username, password, true, loginGuard(req));
    if (!v.ok) {
      const error = typeof v.body.message === 'string' ? v.body.message : 'Your e-mail address is not verified yet.';
      return signinPage(reply, { csrf: s.csrfToken, next, error, username, title: config.REGISTRY_TITLE }, v.status);
    }
    await loginSession(req, reply, app.db, v.user, app.sessionSettings);
    return reply.redirect(next, 303);
  });
}
