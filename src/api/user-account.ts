// A user's own account (part2 §14.6, web-endpoints.md §3.5, §3.7, §4.6): changeUserDetails,
// deleteCurrentUser, generateUserClientKey, convertUserToOrganization and the OAuth authorizations
// the user granted. All are Quay's internal_only operations.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { userAccess } from '../auth/access.js';
import { loginSession } from '../auth/session.js';
import { parseScopeString, SCOPES } from '../auth/scopes.js';
import { deleteUserAuthorization, findUserAuthorization, listUserAuthorizations, type UserAuthorization } from '../db/oauth.js';
import { listUserOrganizations } from '../db/users.js';
import { invalidRequest, notFound } from '../lib/api-error.js';
import { logAction } from '../lib/audit.js';
import { avatar } from '../lib/avatar.js';
import { isEmailAddress } from '../lib/email.js';
import { charField, optionalEmail } from '../lib/validation.js';
import { deliverOrUndo } from '../mail/mailer.js';
import { changeEmailMail, passwordChangedMail } from '../mail/templates.js';
import { changeUserDetails, deleteUserAccount, dropEmailChangeCode } from '../services/account-changes.js';
import { checkPasswordLogin, encryptUserPassword, loginGuard, refuseLogin } from '../services/login.js';
import { convertUserToOrganization } from '../services/namespaces.js';
import { AvatarView, buildUserView, UserView } from './user-view.js';

// Internal operations only (not in the 3.6 guide).
export const OPERATIONS = [] as const;

const TAGS = ['user'];

const UpdateUser = z
  .object({
    password: z.string().optional().describe("The user's password"),
    invoice_email: z.boolean().optional().describe('Whether the user desires to receive an invoice email.'),
    email: charField().optional().describe("The user's email address"),
    tag_expiration_s: z.int().min(0).optional().describe('The number of seconds for tag expiration'),
    username: z.string().optional().describe("The user's username"),
    invoice_email_address: optionalEmail().nullable().optional().describe('Custom email address for receiving invoices'),
    given_name: charField().nullable().optional().describe('The optional entered given name for the user'),
    family_name: charField().nullable().optional().describe('The optional entered family name for the user'),
    company: charField().nullable().optional().describe('The optional entered company for the user'),
    location: charField().nullable().optional().describe('The optional entered location for the user'),
  })
  .meta({ id: 'UpdateUser', description: 'Fields which can be updated in a user.' });

const GenerateClientKey = z
  .object({ password: z.string().describe("The user's password") })
  .meta({ id: 'GenerateClientKey', description: "The user's password, to be encrypted as a client key." });

const ConvertUser = z
  .object({
    adminUser: z.string().describe("The user who will become an org admin's username"),
    adminPassword: z.string().describe("The user who will become an org admin's password"),
    plan: z.string().optional().describe('The plan to which the organization should be subscribed'),
  })
  .meta({ id: 'ConvertUser', description: 'Information required to convert a user to an organization.' });

const ScopeView = z.object({ scope: z.string(), title: z.string(), description: z.string(), icon: z.string(), dangerous: z.boolean() });

const AuthorizationView = z
  .object({
    application: z.object({
      name: z.string(),
      description: z.string(),
      url: z.string(),
      avatar: AvatarView,
      // null for this server's built-in applications (the API docs), which belong to no namespace.
      organization: z.object({ name: z.string(), avatar: AvatarView }).nullable(),
    }),
    scopes: z.array(ScopeView),
    uuid: z.string(),
  })
  .meta({ id: 'UserAuthorization', description: 'An OAuth access token the user granted to an application.' });

const AuthorizationParams = z.object({ access_token_uuid: z.string().describe('The uuid of the access token') });

/** Quay's authorization_view (quay/quay:endpoints/api/user.py): no clientId, unlike assigned authorizations. */
function authorizationView(a: UserAuthorization): z.infer<typeof AuthorizationView> {
  const scopes = parseScopeString(a.scope);
  return {
    application: {
      name: a.appName,
      description: a.appDescription,
      url: a.appUri,
      avatar: avatar(a.appName, a.appAvatarEmail || a.ownerEmail, 'app'),
      organization: a.ownerName === null ? null : { name: a.ownerName, avatar: avatar(a.ownerName, a.ownerEmail, 'org') },
    },
    scopes: scopes ? [...scopes].map((s) => ({ ...SCOPES[s] })) : [],
    uuid: a.uuid,
  };
}

export const userAccountRoutes: FastifyPluginAsyncZod = async (app) => {
  app.put(
    '/user/',
    {
      config: { access: userAccess('admin', { fresh: true, internal: true }) },
      schema: {
        operationId: 'changeUserDetails',
        tags: TAGS,
        description: 'Update a users details such as password or email.',
        body: UpdateUser,
        response: { 200: UserView },
      },
    },
    async (req, reply) => {
      const r = await changeUserDetails(app, req.auth, req.auth.user!, req.body);
      if (r.identityChanged) app.authCache.clear();
      req.auth = { ...req.auth, user: r.user };
      const { mailer } = app;
      const base = { registry: app.config.REGISTRY_TITLE, username: r.user.username };
      if (r.passwordChanged) {
        // Quay logs the caller in again: a new cookie and CSRF token (X-Next-CSRF-Token) for a browser.
        if (req.auth.kind === 'session') await loginSession(req, reply, app.db, r.user, app.sessionSettings);
        const to = r.user.email;
        if (mailer && to && isEmailAddress(to)) {
          app.background.run('password changed mail', () => mailer.send(passwordChangedMail({ ...base, to })), req.log);
        }
      }
      if (r.pendingEmail && mailer) {
        const { address, code } = r.pendingEmail;
        const mail = changeEmailMail({ ...base, baseUrl: app.baseUrl, to: address, code });
        await deliverOrUndo(mailer, req.log, mail, () => dropEmailChangeCode(app.db, code));
      }
      return buildUserView(app, req.auth, r.user);
    },
  );

  app.delete(
    '/user/',
    {
      config: { access: userAccess('admin', { fresh: true, internal: true }) },
      schema: {
        operationId: 'deleteCurrentUser',
        tags: TAGS,
        description: 'Deletes the current user.',
        response: { 204: z.null().describe('Deleted') },
      },
    },
    async (req, reply) => {
      await deleteUserAccount(app, req.auth, req.auth.user!, req.log);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/user/clientkey',
    {
      config: { access: userAccess('admin', { internal: true }) },
      onRequest: app.ipLimit('login'),
      schema: {
        operationId: 'generateUserClientKey',
        tags: TAGS,
        description: "Return's the user's private client key.",
        body: GenerateClientKey,
        response: { 200: z.object({ key: z.string() }) },
      },
    },
    async (req) => {
      const user = req.auth.user!;
      const v = await checkPasswordLogin(app.db, user.username, req.body.password, false, loginGuard(req));
      if (!v.ok) {
        if (v.status === 429) refuseLogin(v);
        throw invalidRequest(typeof v.body.message === 'string' ? v.body.message : 'Invalid Username or Password');
      }
      await logAction(app.db, req.auth, 'user_generate_client_key', { accountId: user.id });
      return { key: encryptUserPassword(app.secrets, req.body.password) };
    },
  );

  app.post(
    '/user/convert',
    {
      config: { access: userAccess('admin', { internal: true }) },
      onRequest: app.ipLimit('login'),
      schema: {
        operationId: 'convertUserToOrganization',
        tags: TAGS,
        description: 'Convert the user to an organization.',
        body: ConvertUser,
        response: { 200: z.object({ success: z.boolean() }) },
      },
    },
    async (req, reply) => {
      const user = req.auth.user!;
      const { adminUser, adminPassword } = req.body;
      // Quay's checks, in its order (ConvertToOrganization.post); `plan` matters only with billing.
      const v = await checkPasswordLogin(app.db, adminUser, adminPassword, true, loginGuard(req));
      if (!v.ok) {
        if (v.status === 429) refuseLogin(v);
        throw invalidRequest('The admin user credentials are not valid', { reason: 'invaliduser' });
      }
      const admin = v.user;
      if (admin.id === user.id) throw invalidRequest('The admin user is not valid', { reason: 'invaliduser' });
      // Quay's UIs refuse to convert a member of an organization (its memberships would be dropped,
      // possibly leaving an organization without an admin); the API is as strict here.
      const orgs = await listUserOrganizations(app.db, user.id);
      if (orgs.length > 0) {
        throw invalidRequest(
          `This account cannot be converted into an organization, as it is a member of other organizations: ${orgs.map((o) => o.name).join(', ')}`,
          { reason: 'invaliduser' },
        );
      }
      await app.db.transaction().execute(async (trx) => {
        await convertUserToOrganization(trx, user.id, admin.id);
        await logAction(trx, req.auth, 'account_convert', { accountId: user.id });
      });
      app.authCache.clear();
      // Quay then signs the browser in as the admin (conduct_signin): the account is no user any more.
      await loginSession(req, reply, app.db, admin, app.sessionSettings);
      return { success: true };
    },
  );

  app.get(
    '/user/authorizations',
    {
      config: { access: userAccess('admin', { internal: true }) },
      schema: {
        operationId: 'listUserAuthorizations',
        tags: TAGS,
        description: 'List the OAuth access tokens the user granted to applications.',
        response: { 200: z.object({ authorizations: z.array(AuthorizationView) }) },
      },
    },
    async (req) => ({ authorizations: (await listUserAuthorizations(app.db, req.auth.user!.id)).map(authorizationView) }),
  );

  app.get(
    '/user/authorizations/:access_token_uuid',
    {
      config: { access: userAccess('admin', { internal: true }) },
      schema: {
        operationId: 'getUserAuthorization',
        tags: TAGS,
        description: 'Get an OAuth access token the user granted.',
        params: AuthorizationParams,
        response: { 200: AuthorizationView },
      },
    },
    async (req) => {
      const a = await findUserAuthorization(app.db, req.auth.user!.id, req.params.access_token_uuid);
      if (!a) throw notFound();
      return authorizationView(a);
    },
  );

  app.delete(
    '/user/authorizations/:access_token_uuid',
    {
      config: { access: userAccess('admin', { internal: true }) },
      schema: {
        operationId: 'deleteUserAuthorization',
        tags: TAGS,
        description: 'Revoke an OAuth access token the user granted.',
        params: AuthorizationParams,
        response: { 204: z.null().describe('Deleted') },
      },
    },
    async (req, reply) => {
      if (!(await deleteUserAuthorization(app.db, req.auth.user!.id, req.params.access_token_uuid))) throw notFound();
      // Effective at once here; other replicas stop accepting the token within AUTH_CACHE_SECONDS.
      app.authCache.clear();
      return reply.code(204).send(null);
    },
  );
};
