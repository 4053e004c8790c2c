// USER section (part2 §14) and the session endpoints that live under /api/v1 (web-endpoints.md §3).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { anonymousAccess, userAccess } from '../auth/access.js';
import { verifyPassword } from '../auth/passwords.js';
import { loginSession } from '../auth/session.js';
import { deleteUserSessions, logoutSession } from '../db/sessions.js';
import type { Namespace } from '../db/schema.js';
import { findUserByLogin, recordLoginFailure, resetLoginFailures } from '../db/users.js';
import { invalidRequest, message, PlainError, unauthorized } from '../lib/api-error.js';
import { AccountError, insertAccount, prepareAccount } from '../services/accounts.js';
import { buildUserView, UserView } from './user-view.js';

export const OPERATIONS = ['getLoggedInUser', 'getUserInformation'] as const;

const NewUserBody = z
  .object({
    username: z.string().describe('The user name'),
    password: z.string().describe('The user password'),
    email: z.string().optional().describe('The user email address'),
    invite_code: z.string().optional().describe('The optional invite code'),
    recaptcha_response: z.string().optional().describe('The (may be disabled) recaptcha response code for verification'),
  })
  .meta({ id: 'NewUser', description: 'Fields which must be specified for a new user.' });

const SigninBody = z
  .object({
    username: z.string().describe('The user name'),
    password: z.string().describe('The user password'),
    invite_code: z.string().optional().describe('The optional invite code'),
  })
  .meta({ id: 'SigninUser', description: 'Information required to sign in a user.' });

const VerifyBody = z.object({ password: z.string().describe('The user password') }).meta({
  id: 'VerifyUser',
  description: 'Information required to verify the signed in user.',
});

const Success = z.object({ success: z.boolean() });

/** Quay's login backoff: after n failures, refused for 0.5·(2ⁿ−1) s after the last one. */
function backoffRemainingS(user: Namespace): number {
  const n = user.invalid_login_attempts;
  if (n <= 0 || !user.last_invalid_login) return 0;
  const waitS = Math.min(0.5 * (2 ** Math.min(n, 30) - 1), 3600);
  const until = user.last_invalid_login.getTime() + waitS * 1000;
  return Math.max(0, Math.ceil((until - Date.now()) / 1000));
}

type Verdict = { ok: true; user: Namespace } | { ok: false; body: Record<string, unknown>; status: number; retryAfter?: number };

/** Checks a password login, recording failures for the backoff (unknown usernames are not counted). */
export async function checkPasswordLogin(app: FastifyInstance, login: string, password: string, orEmail: boolean): Promise<Verdict> {
  const invalid = { needsEmailVerification: false, invalidCredentials: true, message: 'Invalid Username or Password' };
  const user = await findUserByLogin(app.db, login, orEmail);
  if (!user) return { ok: false, status: 403, body: invalid };
  const wait = backoffRemainingS(user);
  if (wait > 0) {
    return { ok: false, status: 429, retryAfter: wait, body: { message: 'Too many login attempts. \nPlease reset your password and try again.' } };
  }
  if (!(await verifyPassword(password, user.password_hash))) {
    await recordLoginFailure(app.db, user.id);
    return { ok: false, status: 403, body: invalid };
  }
  if (user.invalid_login_attempts > 0) await resetLoginFailures(app.db, user.id);
  if (!user.enabled) {
    return { ok: false, status: 403, body: { ...invalid, message: 'This user has been disabled. Please contact your administrator.' } };
  }
  if (!user.verified) return { ok: false, status: 403, body: { needsEmailVerification: true, invalidCredentials: false, message: null } };
  return { ok: true, user };
}

function refuse(v: Extract<Verdict, { ok: false }>): never {
  if (v.status === 429) {
    throw new PlainError(429, v.body, { 'Retry-After': String(v.retryAfter ?? 1) });
  }
  throw new PlainError(v.status, v.body);
}

export const userRoutes: FastifyPluginAsyncZod = async (app) => {
  const { config } = app;

  app.get(
    '/user/',
    {
      // Quay lets anyone reach this route and answers 401 with session_required=false itself.
      config: { access: { ...userAccess('read'), anonymous: 'always', check: () => true } },
      schema: {
        operationId: 'getLoggedInUser',
        tags: ['user'],
        description: 'Get user information for the authenticated user.',
        response: { 200: UserView },
      },
    },
    async (req) => {
      const { user, scopes } = req.auth;
      if (!user || !(scopes === null || scopes.has('user:read') || scopes.has('user:admin'))) {
        throw unauthorized({ session_required: false });
      }
      return buildUserView(app, req.auth, user);
    },
  );

  app.get(
    '/users/:username',
    {
      config: { access: anonymousAccess() },
      schema: {
        operationId: 'getUserInformation',
        tags: ['user'],
        description: 'Get user information for the specified user.',
        params: z.object({ username: z.string() }),
        response: { 200: UserView },
      },
    },
    async (req) => {
      const target = await findUserByLogin(app.db, req.params.username);
      if (!target || !target.enabled) throw message(404, 'User not found');
      return buildUserView(app, req.auth, target);
    },
  );

  if (config.FEATURE_USER_CREATION && config.FEATURE_DIRECT_LOGIN) {
    app.post(
      '/user/',
      {
        config: { access: anonymousAccess({ internal: true }) },
        schema: {
          operationId: 'createNewUser',
          tags: ['user'],
          description: 'Create a new user.',
          body: NewUserBody,
          response: { 200: UserView },
        },
      },
      async (req, reply) => {
        const { username, password, email } = req.body;
        let prepared;
        try {
          prepared = await prepareAccount({ username, password, email });
        } catch (err) {
          if (err instanceof AccountError) throw invalidRequest(existsMessage(err.message));
          throw err;
        }
        let user: Namespace;
        try {
          user = await app.db.transaction().execute((trx) => insertAccount(trx, prepared, req.auth));
        } catch (err) {
          if (err instanceof AccountError) throw invalidRequest(existsMessage(err.message));
          throw err;
        }
        // Quay logs the new user in on the calling session (web-endpoints.md §3.6).
        await loginSession(req, reply, app.db, user, app.sessionSettings);
        req.auth = { ...req.auth, kind: 'session', user, scopes: null };
        return buildUserView(app, req.auth, user);
      },
    );
  }

  if (config.FEATURE_DIRECT_LOGIN) {
    app.post(
      '/signin',
      {
        config: { access: anonymousAccess({ always: true, internal: true }) },
        schema: {
          operationId: 'signinUser',
          tags: ['user'],
          description: 'Sign in the user with the specified credentials.',
          body: SigninBody,
          response: { 200: Success },
        },
      },
      async (req, reply) => {
        const v = await checkPasswordLogin(app, req.body.username, req.body.password, true);
        if (!v.ok) refuse(v);
        await loginSession(req, reply, app.db, v.user, app.sessionSettings);
        return { success: true };
      },
    );
  }

  app.post(
    '/signin/verify',
    {
      config: { access: userAccess('admin', { internal: true }) },
      schema: {
        operationId: 'verifyUser',
        tags: ['user'],
        description: 'Verifies the signed in user with the specified credentials.',
        body: VerifyBody,
        response: { 200: Success },
      },
    },
    async (req, reply) => {
      const v = await checkPasswordLogin(app, req.auth.user!.username, req.body.password, false);
      if (!v.ok) {
        if (v.status === 429) refuse(v);
        throw new PlainError(403, { message: 'Invalid Username or Password', invalidCredentials: true });
      }
      await loginSession(req, reply, app.db, v.user, app.sessionSettings);
      return { success: true };
    },
  );

  app.post(
    '/signout',
    {
      config: { access: anonymousAccess({ internal: true }) },
      schema: { operationId: 'logout', tags: ['user'], description: 'Request that the current user be signed out.', response: { 200: Success } },
    },
    async (req: FastifyRequest) => {
      const { user, session } = req.auth;
      // Every session of the user ends (Quay rotates the user's UUID); this browser keeps its
      // cookie and CSRF token, logged out. OAuth, robot and app tokens are not revoked.
      if (user && req.auth.kind === 'session') {
        await app.db.transaction().execute(async (trx) => {
          if (session) await logoutSession(trx, session.id);
          await deleteUserSessions(trx, user.id);
        });
      }
      return { success: true };
    },
  );
};

/** Quay's Playwright setup looks for "already exists" / "already taken": keep both phrases. */
function existsMessage(msg: string): string {
  return msg.startsWith('Username has already been taken by user') ? 'The username already exists' : msg;
}
