// ORGANIZATION (part1 §10): organizations, their members and outside collaborators, and the OAuth
// applications they own.
import type { FastifyInstance } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { anonymousAccess, orgAccess, userAccess } from '../auth/access.js';
import type { AuthContext } from '../auth/context.js';
import { randomString, UPPER_DIGITS } from '../auth/crypto.js';
import { effectiveOrgRole } from '../auth/permissions.js';
import { orgRoleAtLeast } from '../auth/scopes.js';
import { parseDuration } from '../config.js';
import {
  deleteOrgApplication,
  findOrgApplication,
  insertOrgApplication,
  listOrgApplications,
  updateApplication,
} from '../db/applications.js';
import { isUniqueViolation } from '../db/errors.js';
import {
  deleteNamespace,
  emailInUse,
  findNamespaceById,
  findOrganization,
  insertOrganization,
  listDirectGrants,
  listMemberships,
  listTeamsWithCounts,
  listUserTeamIds,
  removeOrganizationMember,
  updateOrganization,
} from '../db/organizations.js';
import { findApplicationByClientId } from '../db/oauth.js';
import type { Namespace, OAuthApplication } from '../db/schema.js';
import { findNamespaceByName } from '../db/users.js';
import { invalidRequest, message, notFound } from '../lib/api-error.js';
import { logAction } from '../lib/audit.js';
import { avatar } from '../lib/avatar.js';
import { usernameProblem } from '../services/accounts.js';
import { AvatarView } from './user-view.js';

export const OPERATIONS = [
  'createOrganization',
  'getOrganization',
  'changeOrganizationDetails',
  'deleteAdminedOrganization',
  'getOrganizationMembers',
  'getOrganizationMember',
  'removeOrganizationMember',
  'getOrganizationCollaborators',
  'getOrganizationApplications',
  'createOrganizationApplication',
  'getOrganizationApplication',
  'updateOrganizationApplication',
  'deleteOrganizationApplication',
  'getApplicationInformation',
] as const;

const TAGS = ['organization'];


const CLIENT_ID_LENGTH = 20;
const CLIENT_SECRET_LENGTH = 40;

const EMAIL_RE = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

// ---- request schemas -------------------------------------------------------------------------

const NewOrg = z
  .object({
    name: z.string().describe('Organization username'),
    email: z.string().optional().describe('Organization contact email'),
    recaptcha_response: z.string().optional().describe('The (may be disabled) recaptcha response code for verification'),
  })
  .meta({ id: 'NewOrg', description: 'Description of a new organization.' });

const UpdateOrg = z
  .object({
    email: z.string().optional().describe('Organization contact email'),
    invoice_email: z.boolean().optional().describe('Whether the organization desires to receive emails for invoices'),
    invoice_email_address: z.string().nullable().optional().describe('The email address at which to receive invoices'),
    tag_expiration_s: z.int().min(0).optional().describe('The number of seconds for tag expiration'),
  })
  .meta({ id: 'UpdateOrg', description: 'Description of updates for an existing organization' });

const NewApp = z
  .object({
    name: z.string().describe('The name of the application'),
    redirect_uri: z.string().optional().describe("The URI for the application's OAuth redirect"),
    application_uri: z.string().optional().describe("The URI for the application's homepage"),
    description: z.string().optional().describe('The human-readable description for the application'),
    avatar_email: z.string().optional().describe('The e-mail address of the avatar to use for the application'),
  })
  .meta({ id: 'NewApp', description: 'Description of a new organization application.' });

const UpdateApp = z
  .object({
    name: z.string().describe('The name of the application'),
    redirect_uri: z.string().describe("The URI for the application's OAuth redirect"),
    application_uri: z.string().describe("The URI for the application's homepage"),
    description: z.string().optional().describe('The human-readable description for the application'),
    avatar_email: z.string().optional().describe('The e-mail address of the avatar to use for the application'),
  })
  .meta({ id: 'UpdateApp', description: 'Description of an updated application.' });

const OrgParams = z.object({ orgname: z.string().describe('The name of the organization') });
const MemberParams = OrgParams.extend({ membername: z.string().describe('The username of the organization member') });
const AppParams = OrgParams.extend({ client_id: z.string().describe('The OAuth client ID') });

// ---- response schemas ------------------------------------------------------------------------

const OrgTeamView = z.object({
  name: z.string(),
  description: z.string(),
  role: z.enum(['admin', 'creator', 'member']),
  avatar: AvatarView,
  can_view: z.boolean(),
  repo_count: z.number(),
  member_count: z.number(),
  is_synced: z.boolean(),
});

const OrgView = z.object({
  name: z.string(),
  email: z.string(),
  avatar: AvatarView,
  is_admin: z.boolean(),
  is_member: z.boolean(),
  teams: z.record(z.string(), OrgTeamView).optional(),
  ordered_teams: z.array(z.string()).optional(),
  invoice_email: z.boolean().optional(),
  invoice_email_address: z.string().nullable().optional(),
  tag_expiration_s: z.number().optional(),
  is_free_account: z.boolean().optional(),
});
type OrgViewT = z.infer<typeof OrgView>;

const AppView = z.object({
  name: z.string(),
  description: z.string(),
  application_uri: z.string(),
  client_id: z.string(),
  client_secret: z.string().nullable(),
  redirect_uri: z.string().nullable(),
  avatar_email: z.string().nullable(),
});

const TeamRef = z.object({ name: z.string(), avatar: AvatarView });
const MemberView = z.object({
  name: z.string(),
  kind: z.enum(['user', 'robot']),
  avatar: AvatarView,
  teams: z.array(TeamRef),
  repositories: z.array(z.string()),
});
const CollaboratorView = z.object({ kind: z.literal('user'), name: z.string(), avatar: AvatarView, repositories: z.array(z.string()) });

const Deleted = z.null().describe('Deleted');

// ---- views -----------------------------------------------------------------------------------

const teamAvatar = (name: string) => avatar(name, null, 'team');
const accountAvatar = (u: { username: string; email: string | null; robot?: boolean }) =>
  avatar(u.username, u.email, u.robot ? 'robot' : 'user');

/**
 * Quay's org_view for the caller. `teams`: 'ifMember' lists them for org members (getOrganization),
 * 'always' for callers known to be admins, 'empty' gives `{}`/`[]` (getApplicationInformation).
 */
async function buildOrgView(app: FastifyInstance, auth: AuthContext, org: Namespace, teams: 'ifMember' | 'always' | 'empty'): Promise<OrgViewT> {
  const role = await effectiveOrgRole(app.db, auth, org);
  const isAdmin = role === 'admin';
  const isMember = orgRoleAtLeast(role, 'member');
  const view: OrgViewT = {
    name: org.username,
    email: isAdmin ? (org.email ?? '') : '',
    // Quay labels the org's own avatar kind "user" here (part1 §0.10).
    avatar: avatar(org.username, org.email, 'user'),
    is_admin: isAdmin,
    is_member: isMember,
  };
  if (teams === 'empty') {
    view.teams = {};
    view.ordered_teams = [];
  } else if (teams === 'always' || isMember) {
    const rows = await listTeamsWithCounts(app.db, org.id);
    const mine = isAdmin || !auth.user ? new Set<number>() : await listUserTeamIds(app.db, org.id, auth.user.id);
    view.teams = Object.fromEntries(
      rows.map((t) => [
        t.name,
        {
          name: t.name,
          description: t.description,
          role: t.role,
          avatar: teamAvatar(t.name),
          can_view: isAdmin || mine.has(t.id),
          repo_count: t.repo_count,
          member_count: t.member_count,
          is_synced: false,
        },
      ]),
    );
    view.ordered_teams = rows.map((t) => t.name);
  }
  if (isAdmin) {
    // No billing here: invoices are never sent, and there is no column to keep the settings in.
    view.invoice_email = false;
    view.invoice_email_address = null;
    view.tag_expiration_s = org.tag_expiration_s;
    view.is_free_account = true;
  }
  return view;
}

/** The organization named by the path, as looked up by orgAccess; 404 for users and missing names. */
function targetOrg(target: { namespace?: Namespace }): Namespace {
  const ns = target.namespace;
  if (!ns || !ns.organization) throw notFound();
  return ns;
}

// ---- routes ----------------------------------------------------------------------------------

export const organizationRoutes: FastifyPluginAsyncZod = async (app) => {
  const { secrets, config } = app;

  /** Quay's app_view for an org admin (every caller of these endpoints is one). */
  const appView = (a: OAuthApplication) => ({
    name: a.name,
    description: a.description,
    application_uri: a.application_uri,
    client_id: a.client_id,
    client_secret: secrets.decrypt(a.client_secret_enc) ?? null,
    redirect_uri: a.redirect_uri,
    avatar_email: a.avatar_email,
  });

  app.post(
    '/organization/',
    {
      config: { access: userAccess('admin') },
      schema: {
        operationId: 'createOrganization',
        tags: TAGS,
        description: 'Create a new organization.',
        body: NewOrg,
        response: { 201: z.literal('Created').describe('Successful creation') },
      },
    },
    async (req, reply) => {
      const user = req.auth.user!;
      const { name } = req.body;
      const email = req.body.email?.trim() ? req.body.email.trim() : null;
      const exists = () => invalidRequest('A user or organization with this name already exists');
      // Quay's order: the name is looked up before it is validated.
      if (await findNamespaceByName(app.db, name)) throw exists();
      if (config.FEATURE_MAILING && !email) throw invalidRequest('Email address is required');
      const problem = usernameProblem(name);
      if (problem) throw invalidRequest(problem);
      if (email && !EMAIL_RE.test(email)) throw invalidRequest(`Invalid email address: ${email}`);
      try {
        await app.db.transaction().execute(async (trx) => {
          const org = await insertOrganization(trx, { name, email, creatorId: user.id });
          await logAction(trx, req.auth, 'org_create', { accountId: org.id }, { email, namespace: name });
        });
      } catch (err) {
        if (isUniqueViolation(err, 'namespace_username_key')) throw exists();
        if (isUniqueViolation(err, 'namespace_email_key')) throw invalidRequest(`Email has already been used: ${email}`);
        throw err;
      }
      app.authCache.clear(); // the caller's organization list changed
      // Quay's body is the JSON string "Created". Fastify sends string payloads as they are (the
      // schema serializer is skipped), so the string is encoded here.
      return reply.code(201).type('application/json').send(JSON.stringify('Created') as 'Created');
    },
  );

  app.get(
    '/organization/:orgname',
    {
      config: { access: anonymousAccess() },
      schema: {
        operationId: 'getOrganization',
        tags: TAGS,
        description: 'Get the details for the specified organization.',
        params: OrgParams,
        response: { 200: OrgView },
      },
    },
    async (req) => {
      const org = await findOrganization(app.db, req.params.orgname);
      if (!org) throw notFound();
      return buildOrgView(app, req.auth, org, 'ifMember');
    },
  );

  app.put(
    '/organization/:orgname',
    {
      config: { access: orgAccess('admin') },
      schema: {
        operationId: 'changeOrganizationDetails',
        tags: TAGS,
        description: 'Change the details for the specified organization.',
        params: OrgParams,
        body: UpdateOrg,
        response: { 200: OrgView },
      },
    },
    async (req) => {
      const org = targetOrg(req.target);
      const body = req.body;
      const namespace = org.username;
      const newEmail = body.email !== undefined && body.email !== org.email ? body.email : undefined;
      // Everything is checked before anything changes, so a refused request changes nothing.
      if (newEmail !== undefined && !EMAIL_RE.test(newEmail)) throw invalidRequest(`Invalid email address: ${newEmail}`);
      // Applied only with FEATURE_CHANGE_TAG_EXPIRATION, and only to one of TAG_EXPIRATION_OPTIONS.
      const allowedExpirations = new Set(app.config.TAG_EXPIRATION_OPTIONS.map((o) => parseDuration(o)!));
      if (!app.config.FEATURE_CHANGE_TAG_EXPIRATION) delete body.tag_expiration_s;
      if (body.tag_expiration_s !== undefined && !allowedExpirations.has(body.tag_expiration_s)) {
        throw message(400, 'Invalid tag expiration option');
      }
      // invoice_email and invoice_email_address are accepted and ignored: this server has no billing.
      const emailTaken = () => invalidRequest('E-mail address already used');
      let updated = org;
      try {
        updated = await app.db.transaction().execute(async (trx) => {
          let current = org;
          if (newEmail !== undefined) {
            if (await emailInUse(trx, newEmail, org.id)) throw emailTaken();
            // Without mail there is no way to confirm an address (as for new users).
            current = await updateOrganization(trx, org.id, { email: newEmail, verified: !config.FEATURE_MAILING });
            await logAction(trx, req.auth, 'org_change_email', { accountId: org.id }, { email: newEmail, namespace, old_email: org.email });
          }
          if (body.tag_expiration_s !== undefined) {
            current = await updateOrganization(trx, org.id, { tag_expiration_s: body.tag_expiration_s });
            await logAction(trx, req.auth, 'org_change_tag_expiration', { accountId: org.id }, { tag_expiration: body.tag_expiration_s, namespace });
          }
          return current;
        });
      } catch (err) {
        if (isUniqueViolation(err, 'namespace_email_key')) throw emailTaken();
        throw err;
      }
      app.authCache.clear(); // cached organization lists carry the org's e-mail (avatars)
      return buildOrgView(app, req.auth, updated, 'always');
    },
  );

  app.delete(
    '/organization/:orgname',
    {
      config: { access: orgAccess('admin', { fresh: true }) },
      schema: {
        operationId: 'deleteAdminedOrganization',
        tags: TAGS,
        description: 'Deletes the specified organization.',
        params: OrgParams,
        response: { 204: Deleted },
      },
    },
    async (req, reply) => {
      const org = targetOrg(req.target);
      // Quay 3.6 renames the org and deletes its repositories in the background; here one
      // transaction deletes the row and the foreign keys cascade, so the name is free at once.
      await app.db.transaction().execute(async (trx) => {
        await logAction(trx, req.auth, 'org_delete', { accountId: org.id }, { namespace: org.username });
        await deleteNamespace(trx, org.id);
      });
      app.authCache.clear(); // memberships, robots and the tokens of the org's applications are gone
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/organization/:orgname/members',
    {
      config: { access: orgAccess('admin') },
      schema: {
        operationId: 'getOrganizationMembers',
        tags: TAGS,
        description: 'List the human members of the specified organization.',
        params: OrgParams,
        response: { 200: z.object({ members: z.array(MemberView) }) },
      },
    },
    async (req) => {
      const org = targetOrg(req.target);
      const members = new Map<string, z.infer<typeof MemberView>>();
      for (const m of await listMemberships(app.db, org.id, { humansOnly: true })) {
        let entry = members.get(m.username);
        if (!entry) {
          entry = { name: m.username, kind: 'user', avatar: accountAvatar(m), teams: [], repositories: [] };
          members.set(m.username, entry);
        }
        entry.teams.push({ name: m.team_name, avatar: teamAvatar(m.team_name) });
      }
      for (const g of await listDirectGrants(app.db, org.id)) members.get(g.username)?.repositories.push(g.repository);
      return { members: [...members.values()] };
    },
  );

  app.get(
    '/organization/:orgname/members/:membername',
    {
      config: { access: orgAccess('admin') },
      schema: {
        operationId: 'getOrganizationMember',
        tags: TAGS,
        description: 'Retrieves the details of a member of the organization.',
        params: MemberParams,
        response: { 200: MemberView },
      },
    },
    async (req) => {
      const member = await findNamespaceByName(app.db, req.params.membername);
      if (!member || member.organization) throw notFound();
      const org = targetOrg(req.target);
      const teams = await listMemberships(app.db, org.id, { userId: member.id });
      // A robot of this org is reported even when it is in no team; anyone else must be in one.
      if (teams.length === 0 && !(member.robot && member.robot_owner_id === org.id)) throw notFound();
      const grants = await listDirectGrants(app.db, org.id, member.id);
      return {
        name: member.username,
        kind: member.robot ? ('robot' as const) : ('user' as const),
        avatar: accountAvatar(member),
        teams: teams.map((t) => ({ name: t.team_name, avatar: teamAvatar(t.team_name) })),
        repositories: grants.map((g) => g.repository),
      };
    },
  );

  app.delete(
    '/organization/:orgname/members/:membername',
    {
      config: { access: orgAccess('admin') },
      schema: {
        operationId: 'removeOrganizationMember',
        tags: TAGS,
        description:
          'Removes a member from an organization, revoking all its repository priviledges and removing it from all teams in the organization.',
        params: MemberParams,
        response: { 204: Deleted },
      },
    },
    async (req, reply) => {
      const user = await findNamespaceByName(app.db, req.params.membername);
      if (!user || user.organization || user.robot) throw notFound();
      const org = targetOrg(req.target);
      const removed = await app.db.transaction().execute((trx) => removeOrganizationMember(trx, org.id, user.id));
      // A Quay data-model error, answered as 400 {message} (part1 Appendix B).
      if (!removed) throw message(400, 'Cannot remove user as they are the only organization admin');
      app.authCache.clear();
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/organization/:orgname/collaborators',
    {
      config: { access: orgAccess('admin') },
      schema: {
        operationId: 'getOrganizationCollaborators',
        tags: TAGS,
        description: 'List outside collaborators of the specified organization.',
        params: OrgParams,
        response: { 200: z.object({ collaborators: z.array(CollaboratorView) }) },
      },
    },
    async (req) => {
      const org = targetOrg(req.target);
      const members = new Set((await listMemberships(app.db, org.id)).map((m) => m.user_id));
      const out = new Map<number, z.infer<typeof CollaboratorView>>();
      for (const g of await listDirectGrants(app.db, org.id)) {
        if (members.has(g.user_id)) continue;
        let entry = out.get(g.user_id);
        if (!entry) {
          entry = { kind: 'user', name: g.username, avatar: accountAvatar(g), repositories: [] };
          out.set(g.user_id, entry);
        }
        entry.repositories.push(g.repository);
      }
      return { collaborators: [...out.values()] };
    },
  );

  app.get(
    '/organization/:orgname/applications',
    {
      config: { access: orgAccess('admin') },
      schema: {
        operationId: 'getOrganizationApplications',
        tags: TAGS,
        description: 'List the applications for the specified organization.',
        params: OrgParams,
        response: { 200: z.object({ applications: z.array(AppView) }) },
      },
    },
    async (req) => {
      const org = targetOrg(req.target);
      return { applications: (await listOrgApplications(app.db, org.id)).map(appView) };
    },
  );

  app.post(
    '/organization/:orgname/applications',
    {
      config: { access: orgAccess('admin') },
      schema: {
        operationId: 'createOrganizationApplication',
        tags: TAGS,
        description: 'Creates a new application under this organization.',
        params: OrgParams,
        body: NewApp,
        // Quay answers 200 with the application (the guide says 201).
        response: { 200: AppView },
      },
    },
    async (req) => {
      const org = targetOrg(req.target);
      const b = req.body;
      const created = await app.db.transaction().execute(async (trx) => {
        const a = await insertOrgApplication(trx, {
          orgId: org.id,
          clientId: randomString(CLIENT_ID_LENGTH, UPPER_DIGITS),
          clientSecretEnc: secrets.encrypt(randomString(CLIENT_SECRET_LENGTH, UPPER_DIGITS)),
          name: b.name,
          redirectUri: b.redirect_uri ?? '',
          applicationUri: b.application_uri ?? '',
          description: b.description ?? '',
          avatarEmail: b.avatar_email ?? null,
        });
        await logAction(trx, req.auth, 'create_application', { accountId: org.id }, { ...b, application_name: a.name, client_id: a.client_id });
        return a;
      });
      return appView(created);
    },
  );

  app.get(
    '/organization/:orgname/applications/:client_id',
    {
      config: { access: orgAccess('admin') },
      schema: {
        operationId: 'getOrganizationApplication',
        tags: TAGS,
        description: 'Retrieves the application with the specified client_id under the specified organization.',
        params: AppParams,
        response: { 200: AppView },
      },
    },
    async (req) => {
      const org = targetOrg(req.target);
      const a = await findOrgApplication(app.db, org.id, req.params.client_id);
      if (!a) throw notFound();
      return appView(a);
    },
  );

  app.put(
    '/organization/:orgname/applications/:client_id',
    {
      config: { access: orgAccess('admin') },
      schema: {
        operationId: 'updateOrganizationApplication',
        tags: TAGS,
        description: 'Updates an application under this organization.',
        params: AppParams,
        body: UpdateApp,
        response: { 200: AppView },
      },
    },
    async (req) => {
      const org = targetOrg(req.target);
      const b = req.body;
      const updated = await app.db.transaction().execute(async (trx) => {
        const a = await findOrgApplication(trx, org.id, req.params.client_id);
        if (!a) throw notFound();
        // An omitted description or avatar_email is reset, as in Quay.
        const u = await updateApplication(trx, a.id, {
          name: b.name,
          application_uri: b.application_uri,
          redirect_uri: b.redirect_uri,
          description: b.description ?? '',
          avatar_email: b.avatar_email ?? null,
        });
        await logAction(trx, req.auth, 'update_application', { accountId: org.id }, { ...b, application_name: u.name, client_id: u.client_id });
        return u;
      });
      return appView(updated);
    },
  );

  app.delete(
    '/organization/:orgname/applications/:client_id',
    {
      config: { access: orgAccess('admin') },
      schema: {
        operationId: 'deleteOrganizationApplication',
        tags: TAGS,
        description: 'Deletes the application under this organization.',
        params: AppParams,
        response: { 204: Deleted },
      },
    },
    async (req, reply) => {
      const org = targetOrg(req.target);
      await app.db.transaction().execute(async (trx) => {
        const a = await deleteOrgApplication(trx, org.id, req.params.client_id);
        if (!a) throw notFound();
        await logAction(trx, req.auth, 'delete_application', { accountId: org.id }, { application_name: a.name, client_id: a.client_id });
      });
      app.authCache.clear(); // the application's tokens are gone
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/organization/:orgname/applications/:client_id/resetclientsecret',
    {
      config: { access: orgAccess('admin', { internal: true }) },
      schema: {
        operationId: 'resetOrganizationApplicationClientSecret',
        tags: TAGS,
        description: 'Resets the client secret of the application.',
        params: AppParams,
        response: { 200: AppView },
      },
    },
    async (req) => {
      const org = targetOrg(req.target);
      const updated = await app.db.transaction().execute(async (trx) => {
        const a = await findOrgApplication(trx, org.id, req.params.client_id);
        if (!a) throw notFound();
        const u = await updateApplication(trx, a.id, { client_secret_enc: secrets.encrypt(randomString(CLIENT_SECRET_LENGTH, UPPER_DIGITS)) });
        await logAction(trx, req.auth, 'reset_application_client_secret', { accountId: org.id }, { application_name: u.name, client_id: u.client_id });
        return u;
      });
      return appView(updated);
    },
  );

  app.get(
    '/app/:client_id',
    {
      config: { access: anonymousAccess() },
      schema: {
        operationId: 'getApplicationInformation',
        tags: TAGS,
        description: 'Get information on the specified application.',
        params: z.object({ client_id: z.string().describe('The OAuth client ID') }),
        response: {
          200: z.object({ name: z.string(), description: z.string(), uri: z.string(), avatar: AvatarView, organization: OrgView }),
        },
      },
    },
    async (req) => {
      const a = await findApplicationByClientId(app.db, req.params.client_id);
      // The server's built-in applications belong to no organization: not Quay applications.
      if (!a || a.organization_id === null) throw notFound();
      const owner = await findNamespaceById(app.db, a.organization_id);
      if (!owner) throw notFound();
      return {
        name: a.name,
        description: a.description,
        uri: a.application_uri,
        avatar: avatar(a.name, a.avatar_email || owner.email, 'app'),
        organization: await buildOrgView(app, req.auth, owner, 'empty'),
      };
    },
  );
};
