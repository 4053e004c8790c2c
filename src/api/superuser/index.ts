// SUPERUSER section (part2 §10, §10.15): the panel's users, organizations, logs, change log and
// build lookups; service keys in keys.ts. Every route requires the super:user scope and a
// superuser (src/auth/access.ts superuserAccess); global read-only superusers may call the reads.
// Sessions must be fresh, as Quay's require_fresh_login (OAuth tokens are exempt).
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { configuredSuperuser, superuserAccess } from '../../auth/access.js';
import { hashPassword, INVALID_PASSWORD_MESSAGE, isValidPassword } from '../../auth/passwords.js';
import { isUniqueViolation } from '../../db/errors.js';
import type { Trx } from '../../db/index.js';
import { findOrganization } from '../../db/organizations.js';
import type { Namespace } from '../../db/schema.js';
import { findNamespaceByName, findUserByLogin } from '../../db/users.js';
import { ApiError, invalidRequest, message, notFound } from '../../lib/api-error.js';
import { logAction } from '../../lib/audit.js';
import { isEmailAddress } from '../../lib/email.js';
import { decodePageToken, keysetPage } from '../../lib/pagination.js';
import { firstString, intParam, quayBool } from '../../lib/validation.js';
import { deliverOrUndo } from '../../mail/mailer.js';
import { confirmEmailMail, recoveryMail } from '../../mail/templates.js';
import { AccountError, insertAccount, issueEmailCode, lockNamespaces, prepareAccount } from '../../services/accounts.js';
import { encryptUserPassword } from '../../services/login.js';
import {
  afterNamespaceRemoval,
  convertUserToOrganization,
  removeNamespace,
  renameNamespace,
  renameProblem,
} from '../../services/namespaces.js';
import { AggregateView, logAggregate, logPage, LogPageView, logWindow } from '../log-view.js';
import { deleteUserSessions } from '../../db/sessions.js';
import { deleteUnverifiedUser } from '../../db/users.js';
import * as keys from './keys.js';
import { superuserOrgView, SuperuserOrgView, superuserUserView, SuperuserUserView, TAGS } from './views.js';

export const OPERATIONS = [
  'listAllUsers',
  'createInstallUser',
  'listAllLogs',
  'deleteOrganization',
  'changeOrganization',
  'getRepoBuildStatusSuperUser',
  'getRepoBuildSuperUser',
  'getRepoBuildLogsSuperUser',
  ...keys.OPERATIONS,
] as const;

/** Quay's page limit for the panel's user and organization lists. */
const MAX_PAGE_LIMIT = 100;
const GENERATED_PASSWORD_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

const ListQuery = z.object({
  limit: intParam('Limit to the number of results to return per page. Max 100.').describe('Limit to the number of results to return per page. Max 100.'),
  next_page: firstString.describe('The page token for the next page'),
});

const UsernameParams = z.object({ username: z.string().describe('The username of the user being managed') });
const OrgNameParams = z.object({ name: z.string().describe('The name of the organizaton being managed') });
const BuildParams = z.object({ build_uuid: z.string().describe('The UUID of the build') });
const LogQuery = z.object({
  starttime: firstString.describe('Earliest time from which to get logs (%m/%d/%Y %Z)'),
  endtime: firstString.describe('Latest time to which to get logs (%m/%d/%Y %Z)'),
});

const CreateInstallUser = z
  .object({
    username: z.string().describe('The username of the user being created'),
    email: z.string().optional().describe('The email address of the user being created'),
  })
  .meta({ id: 'CreateInstallUser', description: 'Data for creating a user' });

const UpdateUser = z
  .object({
    password: z.string().optional().describe('The new password for the user'),
    email: z.string().optional().describe('The new e-mail address for the user'),
    enabled: z.boolean().optional().describe('Whether the user is enabled'),
    superuser: z.boolean().optional().describe('Not supported here: superusers come from SUPER_USERS in the configuration'),
  })
  .meta({ id: 'SuperuserUpdateUser', description: 'Description of updates for a user' });

const UpdateOrgName = z
  .object({ name: z.string().optional().describe('The new name for the organization') })
  .meta({ id: 'SuperuserUpdateOrg', description: 'Description of updates for an organization' });

/** A 32-character A–Z0–9 password, as Quay generates for createInstallUser. */
function generatePassword(): string {
  let s = '';
  for (let i = 0; i < 32; i++) s += GENERATED_PASSWORD_ALPHABET[randomInt(GENERATED_PASSWORD_ALPHABET.length)];
  return s;
}

/**
 * The panel's user or organization list: everything in id order without `limit`, else a keyset
 * page of at most 100 with `next_page` while more follow (current Quay's pagination).
 */
async function listNamespaces(
  app: FastifyInstance,
  kind: 'users' | 'organizations',
  query: { limit?: number; next_page?: string },
  enabledOnly: boolean,
): Promise<{ items: Namespace[]; next_page?: string }> {
  let q = app.db.selectFrom('namespace').selectAll().where('organization', '=', kind === 'organizations').where('robot', '=', false);
  if (enabledOnly) q = q.where('enabled', '=', true);
  if (query.limit === undefined) return { items: await q.orderBy('id').execute() };
  if (query.limit > MAX_PAGE_LIMIT) throw invalidRequest('Page limit cannot be above 100');
  const limit = Math.max(1, query.limit);
  const pageKind = `superuser-${kind}`;
  const after = decodePageToken(app.secrets, pageKind, query.next_page);
  const rows = await q.where('id', '>', after).orderBy('id').limit(limit + 1).execute();
  const { items, nextPage } = keysetPage(app.secrets, pageKind, rows, limit);
  return { items, ...(nextPage ? { next_page: nextPage } : {}) };
}

/** The user named in the path: not an organization or robot. */
async function targetUser(req: FastifyRequest, username: string): Promise<Namespace> {
  const u = await findUserByLogin(req.server.db, username);
  if (!u) throw notFound();
  return u;
}

function buildNotFound(uuid: string): ApiError {
  return new ApiError('invalid_response', 400, `Unable to locate a build by id: ${uuid}`);
}

/** The project's change log, read once (Quay serves its CHANGELOG.md). */
let changelog: string | undefined;
function readChangelog(): string {
  changelog ??= readFileSync(new URL('../../../CHANGELOG.md', import.meta.url), 'utf8');
  return changelog;
}

export const superuserRoutes: FastifyPluginAsyncZod = async (app) => {
  const { config } = app;
  if (!config.FEATURE_SUPER_USERS) return;

  // ---- Users ----

  app.get(
    '/superuser/users/',
    {
      config: { access: superuserAccess('read') },
      schema: {
        operationId: 'listAllUsers',
        tags: TAGS,
        description: 'Returns a list of all users in the system.',
        querystring: ListQuery.extend({ disabled: quayBool.describe('If false, only enabled users will be returned.') }),
        response: { 200: z.object({ users: z.array(SuperuserUserView), next_page: z.string().optional() }) },
      },
    },
    async (req) => {
      const { items, next_page } = await listNamespaces(app, 'users', req.query, req.query.disabled === false);
      return { users: items.map((u) => superuserUserView(config, u)), ...(next_page ? { next_page } : {}) };
    },
  );

  app.post(
    '/superuser/users/',
    {
      config: { access: superuserAccess('write') },
      schema: {
        operationId: 'createInstallUser',
        tags: TAGS,
        description: 'Creates a new user.',
        body: CreateInstallUser,
        response: {
          200: z.object({ username: z.string(), email: z.string().nullable(), password: z.string(), encrypted_password: z.string() }),
        },
      },
    },
    async (req) => {
      const { username } = req.body;
      const email = req.body.email ?? null;
      const mailer = app.mailer;
      const password = generatePassword();
      let prepared;
      try {
        prepared = await prepareAccount({ username, password, email }, { emailRequired: !!mailer });
      } catch (err) {
        if (err instanceof AccountError) throw invalidRequest(err.message);
        throw err;
      }
      const caller = req.auth.user!.username;
      let created;
      try {
        created = await app.db.transaction().execute(async (trx) => {
          const user = await insertAccount(trx, prepared, req.auth, {
            verified: !mailer,
            logMetadata: { email, username, superuser: caller },
          });
          return { user, confirmation: mailer ? await issueEmailCode(trx, user.id, 'confirm') : undefined };
        });
      } catch (err) {
        if (err instanceof AccountError) throw invalidRequest(err.message);
        throw err;
      }
      if (mailer && created.confirmation) {
        const mail = confirmEmailMail({ baseUrl: app.baseUrl, registry: config.REGISTRY_TITLE, to: prepared.email, username, code: created.confirmation.code });
        await deliverOrUndo(mailer, req.log, mail, () => deleteUnverifiedUser(app.db, created.user.id));
      }
      return { username, email, password, encrypted_password: encryptUserPassword(app.secrets, password) };
    },
  );

  app.get(
    '/superuser/users/:username',
    {
      config: { access: superuserAccess('read', { internal: true }) },
      schema: {
        operationId: 'getInstallUser',
        tags: TAGS,
        description: 'Returns information about the specified user.',
        params: UsernameParams,
        response: { 200: SuperuserUserView },
      },
    },
    async (req) => superuserUserView(config, await targetUser(req, req.params.username)),
  );

  app.delete(
    '/superuser/users/:username',
    {
      config: { access: superuserAccess('write', { internal: true }) },
      schema: {
        operationId: 'deleteInstallUser',
        tags: TAGS,
        description: 'Deletes the specified user.',
        params: UsernameParams,
        response: { 204: z.null().describe('Deleted') },
      },
    },
    async (req, reply) => {
      const user = await targetUser(req, req.params.username);
      if (configuredSuperuser(user.username, config) === 'full') throw invalidRequest('Cannot delete a superuser');
      await app.jobs.transaction(async (trx) => {
        await logAction(trx, req.auth, 'user_delete', { accountId: user.id }, { username: user.username, superuser: req.auth.user!.username });
        await removeNamespace(app, trx, user.id);
      });
      await afterNamespaceRemoval(app, req.log);
      return reply.code(204).send(null);
    },
  );

  app.put(
    '/superuser/users/:username',
    {
      config: { access: superuserAccess('write', { internal: true }) },
      schema: {
        operationId: 'changeInstallUser',
        tags: TAGS,
        description: 'Updates information about the specified user.',
        params: UsernameParams,
        body: UpdateUser,
        response: { 200: SuperuserUserView },
      },
    },
    async (req) => {
      const user = await targetUser(req, req.params.username);
      if (configuredSuperuser(user.username, config) === 'full') throw invalidRequest('Cannot update a superuser');
      const { password, email, enabled, superuser } = req.body;
      // Quay rewrites its config file here; this server reads superusers from its configuration
      // only, so the change is refused rather than pretended.
      if (superuser !== undefined) {
        throw invalidRequest('Superusers are set by SUPER_USERS in the server configuration; change it there and restart');
      }
      if (password !== undefined && !isValidPassword(password)) throw invalidRequest(INVALID_PASSWORD_MESSAGE);
      if (email !== undefined && !isEmailAddress(email)) throw invalidRequest(`Invalid email address: ${email}`);
      const passwordHash = password !== undefined ? await hashPassword(password) : undefined;
      const by = req.auth.user!.username;
      let updated: Namespace;
      try {
        updated = await app.db.transaction().execute(async (trx) => {
          const patch = {
            ...(passwordHash !== undefined && { password_hash: passwordHash, invalid_login_attempts: 0, last_invalid_login: null }),
            ...(email !== undefined && { email, verified: true }),
            ...(enabled !== undefined && { enabled }),
          };
          const row = Object.keys(patch).length
            ? await trx.updateTable('namespace').set(patch).where('id', '=', user.id).returningAll().executeTakeFirstOrThrow()
            : user;
          if (passwordHash !== undefined) {
            // Quay's change_password ends every session of the user.
            await deleteUserSessions(trx, user.id);
            await logAction(trx, req.auth, 'user_change_password', { accountId: user.id }, { username: user.username, superuser: by });
          }
          if (email !== undefined) {
            await logAction(trx, req.auth, 'user_change_email', { accountId: user.id }, { old_email: user.email, email, superuser: by });
          }
          if (enabled !== undefined) {
            await logAction(trx, req.auth, enabled ? 'user_enable' : 'user_disable', { accountId: user.id }, { username: user.username, superuser: by });
          }
          return row;
        });
      } catch (err) {
        if (isUniqueViolation(err, 'namespace_email_key')) throw invalidRequest('E-mail address already used');
        throw err;
      }
      // A disabled user's cached tokens stop working now, not when the cache expires.
      app.authCache.clear();
      return {
        ...superuserUserView(config, updated),
        ...(password !== undefined ? { encrypted_password: encryptUserPassword(app.secrets, password) } : {}),
      };
    },
  );

  if (app.mailer) {
    app.post(
      '/superusers/users/:username/sendrecovery',
      {
        config: { access: superuserAccess('write', { internal: true }) },
        schema: {
          operationId: 'sendInstallUserRecoveryEmail',
          tags: TAGS,
          description: 'Sends a recovery mail to the specified user.',
          params: UsernameParams,
          response: { 200: z.object({ email: z.string().nullable() }) },
        },
      },
      async (req) => {
        const user = await targetUser(req, req.params.username);
        if (configuredSuperuser(user.username, config) === 'full') throw invalidRequest('Cannot send a recovery email for a superuser');
        if (!user.email || !isEmailAddress(user.email)) throw invalidRequest('The user has no e-mail address to send a recovery mail to');
        const { id, code } = await app.db.transaction().execute((trx) => issueEmailCode(trx, user.id, 'recovery'));
        const mail = recoveryMail({ baseUrl: app.baseUrl, registry: config.REGISTRY_TITLE, to: user.email, username: user.username, code });
        await deliverOrUndo(app.mailer!, req.log, mail, () => app.db.deleteFrom('email_confirmation').where('id', '=', id).execute());
        return { email: user.email };
      },
    );
  }

  app.post(
    '/superuser/takeownership/:namespace',
    {
      config: { access: superuserAccess('write', { internal: true }) },
      schema: {
        operationId: 'takeOwnership',
        tags: TAGS,
        description: 'Takes ownership of the specified organization or user.',
        params: z.object({ namespace: z.string().describe('The namespace of the user or organization being managed') }),
        response: { 200: z.object({ namespace: z.string() }) },
      },
    },
    async (req) => {
      const { namespace } = req.params;
      if (configuredSuperuser(namespace, config) === 'full') throw invalidRequest('Cannot take ownership of a superuser');
      const caller = req.auth.user!;
      const entity = await findNamespaceByName(app.db, namespace);
      if (!entity || entity.robot) throw notFound();
      if (entity.id === caller.id) throw invalidRequest('Cannot take ownership of your own account');
      const wasUser = !entity.organization;
      await app.db.transaction().execute(async (trx) => {
        if (wasUser) await convertUserToOrganization(trx, entity.id, caller.id);
        else await addOrgAdmin(trx, entity.id, caller.id);
        await logAction(trx, req.auth, 'take_ownership', { accountId: caller.id }, {
          entity_id: entity.id,
          namespace,
          was_user: wasUser,
          superuser: caller.username,
        });
      });
      app.authCache.clear();
      return { namespace };
    },
  );

  // ---- Organizations ----

  app.get(
    '/superuser/organizations/',
    {
      config: { access: superuserAccess('read', { internal: true }) },
      schema: {
        operationId: 'listAllOrganizations',
        tags: TAGS,
        description: 'Returns a list of all organizations in the system.',
        querystring: ListQuery,
        response: { 200: z.object({ organizations: z.array(SuperuserOrgView), next_page: z.string().optional() }) },
      },
    },
    async (req) => {
      const { items, next_page } = await listNamespaces(app, 'organizations', req.query, false);
      return { organizations: items.map(superuserOrgView), ...(next_page ? { next_page } : {}) };
    },
  );

  app.put(
    '/superuser/organizations/:name',
    {
      config: { access: superuserAccess('write') },
      schema: {
        operationId: 'changeOrganization',
        tags: TAGS,
        description: 'Updates information about the specified user.',
        params: OrgNameParams,
        body: UpdateOrgName,
        response: { 200: SuperuserOrgView },
      },
    },
    async (req) => {
      const { name } = req.params;
      const newName = req.body.name;
      const org = await app.db.transaction().execute(async (trx) => {
        if (newName !== undefined) await lockNamespaces(trx);
        const org = await findOrganization(trx, name);
        if (!org) throw message(400, `Organization does not exist: ${name}`);
        if (newName === undefined || newName === org.username) return org;
        const problem = await renameProblem(trx, org, newName);
        if (problem) throw message(400, problem);
        const renamed = await renameNamespace(trx, org, newName);
        await logAction(trx, req.auth, 'org_change_name', { accountId: org.id }, { old_name: name, new_name: newName, superuser: req.auth.user!.username });
        return renamed;
      });
      app.authCache.clear();
      return superuserOrgView(org);
    },
  );

  app.delete(
    '/superuser/organizations/:name',
    {
      config: { access: superuserAccess('write') },
      schema: {
        operationId: 'deleteOrganization',
        tags: TAGS,
        description: 'Deletes the specified organization.',
        params: OrgNameParams,
        response: { 204: z.null().describe('Deleted') },
      },
    },
    async (req, reply) => {
      const org = await findOrganization(app.db, req.params.name);
      if (!org) throw notFound();
      await app.jobs.transaction(async (trx) => {
        await logAction(trx, req.auth, 'org_delete', { accountId: org.id }, { namespace: org.username, superuser: req.auth.user!.username });
        await removeNamespace(app, trx, org.id);
      });
      await afterNamespaceRemoval(app, req.log);
      return reply.code(204).send(null);
    },
  );

  // ---- Logs and the change log ----

  app.get(
    '/superuser/logs',
    {
      config: { access: superuserAccess('read') },
      schema: {
        operationId: 'listAllLogs',
        tags: TAGS,
        description: 'List the usage logs for the current system.',
        querystring: LogQuery.extend({
          page: intParam('The page number for the logs').describe('The page number for the logs'),
          next_page: firstString.describe('The page token for the next page'),
        }),
        response: { 200: LogPageView },
      },
    },
    async (req) => {
      const window = logWindow(req.query.starttime, req.query.endtime);
      return logPage(app, 'superuser-logs', window, req.query.next_page, true);
    },
  );

  app.get(
    '/superuser/aggregatelogs',
    {
      config: { access: superuserAccess('read', { internal: true }) },
      schema: {
        operationId: 'listAllAggregateLogs',
        tags: TAGS,
        description: 'Returns the aggregated logs for the current system.',
        querystring: LogQuery,
        response: { 200: AggregateView },
      },
    },
    async (req) => logAggregate(app, logWindow(req.query.starttime, req.query.endtime)),
  );

  app.get(
    '/superuser/changelog/',
    {
      config: { access: superuserAccess('read', { internal: true }) },
      schema: {
        operationId: 'getChangeLog',
        tags: TAGS,
        description: 'Returns the change log for this installation.',
        response: { 200: z.object({ log: z.string() }) },
      },
    },
    async () => ({ log: readChangelog() }),
  );

  // ---- Builds (none exist on this server yet: every uuid is unknown) ----

  app.get(
    '/superuser/:build_uuid/status',
    {
      config: { access: superuserAccess('read') },
      schema: { operationId: 'getRepoBuildStatusSuperUser', tags: TAGS, description: 'Return the status for the builds specified by the build uuids.', params: BuildParams },
    },
    async (req) => {
      throw buildNotFound(req.params.build_uuid);
    },
  );

  app.get(
    '/superuser/:build_uuid/build',
    {
      config: { access: superuserAccess('read') },
      schema: { operationId: 'getRepoBuildSuperUser', tags: TAGS, description: 'Returns information about a build.', params: BuildParams },
    },
    async () => {
      throw notFound();
    },
  );

  app.get(
    '/superuser/:build_uuid/logs',
    {
      config: { access: superuserAccess('read') },
      schema: {
        operationId: 'getRepoBuildLogsSuperUser',
        tags: TAGS,
        description: 'Return the build logs for the build specified by the build uuid.',
        params: BuildParams,
        querystring: z.object({ start: intParam('The first log line to return').describe('The first log line to return') }),
      },
    },
    async (req) => {
      throw buildNotFound(req.params.build_uuid);
    },
  );

  await app.register(keys.serviceKeyRoutes);
};

/** Adds the user to the organization's admin team (Quay's add_user_as_admin), creating `owners` if it has none. */
async function addOrgAdmin(trx: Trx, orgId: number, userId: number): Promise<void> {
  let team = await trx.selectFrom('team').select('id').where('organization_id', '=', orgId).where('role', '=', 'admin').orderBy('id').executeTakeFirst();
  team ??= await trx.insertInto('team').values({ organization_id: orgId, name: 'owners', role: 'admin' }).returning('id').executeTakeFirstOrThrow();
  const member = await trx.selectFrom('team_member').select('id').where('team_id', '=', team.id).where('user_id', '=', userId).executeTakeFirst();
  if (!member) await trx.insertInto('team_member').values({ team_id: team.id, user_id: userId }).execute();
}
