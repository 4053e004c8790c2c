// ORGANIZATION (part1 §10): organizations, their members and outside collaborators (members.ts),
// and the OAuth applications they own (applications.ts).
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { anonymousAccess, orgAccess, userAccess } from '../../auth/access.js';
import { parseDuration } from '../../config.js';
import { isUniqueViolation } from '../../db/errors.js';
import type { Trx } from '../../db/index.js';
import {
  emailInUse,
  findOrganization,
  insertOrganization,
  updateOrganization,
  type OrganizationPatch,
} from '../../db/organizations.js';
import { findNamespaceByName } from '../../db/users.js';
import { invalidRequest, message, notFound } from '../../lib/api-error.js';
import { logAction } from '../../lib/audit.js';
import type { LogKind } from '../../lib/log-kinds.js';
import { isEmailAddress } from '../../lib/email.js';
import { usernameProblem } from '../../services/accounts.js';
import { afterNamespaceRemoval, removeNamespace } from '../../services/namespaces.js';
import { applicationRoutes } from './applications.js';
import { memberRoutes } from './members.js';
import { Deleted, NewOrg, OrgParams, OrgView, TAGS, UpdateOrg } from './schemas.js';
import { buildOrgView, targetOrg } from './views.js';

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


export const organizationRoutes: FastifyPluginAsyncZod = async (app) => {
  const { config } = app;

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
      if (email && !isEmailAddress(email)) throw invalidRequest(`Invalid email address: ${email}`);
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
      if (newEmail !== undefined && !isEmailAddress(newEmail)) throw invalidRequest(`Invalid email address: ${newEmail}`);
      // Applied only with FEATURE_CHANGE_TAG_EXPIRATION, and only to one of TAG_EXPIRATION_OPTIONS.
      const allowedExpirations = new Set(config.TAG_EXPIRATION_OPTIONS.map((o) => parseDuration(o)!));
      if (!config.FEATURE_CHANGE_TAG_EXPIRATION) delete body.tag_expiration_s;
      if (body.tag_expiration_s !== undefined && !allowedExpirations.has(body.tag_expiration_s)) {
        throw message(400, 'Invalid tag expiration option');
      }
      // An empty invoice address is stored as null (Quay's change_invoice_email_address).
      const invoiceAddress = body.invoice_email_address === undefined ? undefined : body.invoice_email_address || null;
      const addressChanged = invoiceAddress !== undefined && invoiceAddress !== org.invoice_email_address;
      const patch: OrganizationPatch = {
        ...(body.invoice_email !== undefined && { invoice_email: body.invoice_email }),
        ...(addressChanged && { invoice_email_address: invoiceAddress }),
        // Without mail there is no way to confirm an address (as for new users).
        ...(newEmail !== undefined && { email: newEmail, verified: !config.FEATURE_MAILING }),
        ...(body.tag_expiration_s !== undefined && { tag_expiration_s: body.tag_expiration_s }),
      };
      const emailTaken = () => invalidRequest('E-mail address already used');
      const log = (trx: Trx, kind: LogKind, metadata: Record<string, unknown>) =>
        logAction(trx, req.auth, kind, { accountId: org.id }, { ...metadata, namespace });
      let updated = org;
      try {
        updated = await app.db.transaction().execute(async (trx) => {
          if (newEmail !== undefined && (await emailInUse(trx, newEmail, org.id))) throw emailTaken();
          const current = Object.keys(patch).length > 0 ? await updateOrganization(trx, org.id, patch) : org;
          // Quay's kinds, in its order. It logs invoice_email whenever it is sent, the address only
          // when it changes (with the value as sent).
          if (body.invoice_email !== undefined) await log(trx, 'org_change_invoicing', { invoice_email: body.invoice_email });
          if (addressChanged) await log(trx, 'org_change_invoicing', { invoice_email_address: body.invoice_email_address });
          if (newEmail !== undefined) await log(trx, 'org_change_email', { email: newEmail, old_email: org.email });
          if (body.tag_expiration_s !== undefined) await log(trx, 'org_change_tag_expiration', { tag_expiration: body.tag_expiration_s });
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
      await app.jobs.transaction(async (trx) => {
        await logAction(trx, req.auth, 'org_delete', { accountId: org.id }, { namespace: org.username });
        await removeNamespace(app, trx, org.id);
      });
      await afterNamespaceRemoval(app, req.log); // memberships, robots and the tokens of the org's applications are gone
      return reply.code(204).send(null);
    },
  );

  await app.register(memberRoutes);
  await app.register(applicationRoutes);
};
