// USER section (part2 §14) and the session endpoints that live under /api/v1 (web-endpoints.md §3).
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { anonymousAccess, userAccess } from '../auth/access.js';
import { loginSession } from '../auth/session.js';
import { deleteUserSessions, logoutSession } from '../db/sessions.js';
import { findUserByLogin } from '../db/users.js';
import { checkPasswordLogin, loginGuard, refuseLogin } from '../services/login.js';
import { invalidRequest, message, PlainError, unauthorized } from '../lib/api-error.js';
import { AccountError, requestRecovery, signUp } from '../services/accounts.js';
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

const AwaitingVerification = z
  .object({ awaiting_verification: z.literal(true) })
  .meta({ id: 'AwaitingVerification', description: 'The user was created; a confirmation mail was sent to the address.' });

const RecoveryBody = z
  .object({
    email: z.string().describe("The user's email address"),
    recaptcha_response: z.string().optional().describe('The (may be disabled) recaptcha response code for verification'),
  })
  .meta({ id: 'RequestRecovery', description: 'Information required to sign in a user.' });

const RecoveryView = z.union([
  z.object({ status: z.literal('sent') }),
  z.object({ status: z.literal('org'), orgemail: z.string(), orgname: z.string().describe('The organization name, partly masked') }),
]);

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
        onRequest: app.ipLimit('signup'),
        schema: {
          operationId: 'createNewUser',
          tags: ['user'],
          description: 'Create a new user.',
          body: NewUserBody,
          response: { 200: z.union([UserView, AwaitingVerification]) },
        },
      },
      async (req, reply) => {
        const { username, password, email, invite_code: inviteCode } = req.body;
        // Quay checks these two before anything else, in this order.
        if (await findUserByLogin(app.db, username)) throw invalidRequest('The username already exists');
        if (app.mailer && !email) throw invalidRequest('Email address is required');
        let created;
        try {
          created = await signUp(app, { auth: req.auth, log: req.log }, { username, password, email, inviteCode });
        } catch (err) {
          if (err instanceof AccountError) throw invalidRequest(existsMessage(err.message));
          throw err;
        }
        // Not logged in until the address is confirmed (GET /confirm); no new session or CSRF token.
        if (created.awaitingVerification) return { awaiting_verification: true as const };
        const { user } = created;
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
        onRequest: app.ipLimit('login'),
        schema: {
          operationId: 'signinUser',
          tags: ['user'],
          description: 'Sign in the user with the specified credentials.',
          body: SigninBody,
          response: { 200: Success },
        },
      },
      async (req, reply) => {
        const { username, password, invite_code: inviteCode } = req.body;
        const v = await checkPasswordLogin(app.db, username, password, true, loginGuard(req), { inviteCode });
        if (!v.ok) refuseLogin(v);
        await loginSession(req, reply, app.db, v.user, app.sessionSettings);
        return { success: true };
      },
    );
  }

  if (app.mailer) {
    app.post(
      '/recovery',
      {
        // Anonymous callers are the point (also with anonymous access off); CSRF as for signin.
        config: { access: anonymousAccess({ always: true, internal: true }) },
        onRequest: app.ipLimit('recovery'),
        schema: {
          operationId: 'requestRecoveryEmail',
          tags: ['user'],
          description: 'Request a password recovery email.',
          body: RecoveryBody,
          response: { 200: RecoveryView },
        },
      },
      async (req) => requestRecovery(app, { log: req.log }, req.body.email),
    );
  }

  app.post(
    '/signin/verify',
    {
      config: { access: userAccess('admin', { internal: true }) },
        onRequest: app.ipLimit('login'),
      schema: {
        operationId: 'verifyUser',
        tags: ['user'],
        description: 'Verifies the signed in user with the specified credentials.',
        body: VerifyBody,
        response: { 200: Success },
      },
    },
    async (req, reply) => {
      const v = await checkPasswordLogin(app.db, req.auth.user!.username, req.body.password, false, loginGuard(req));
      if (!v.ok) {
        if (v.status === 429) refuseLogin(v);
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
          if (session?.id) await logoutSession(trx, session.id);
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
