// The OAuth applications an organization owns (part1 §10.0), and the public information about one
// that the consent page shows (getApplicationInformation).
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { anonymousAccess, orgAccess } from '../../auth/access.js';
import { randomString, UPPER_DIGITS } from '../../auth/crypto.js';
import {
  deleteOrgApplication,
  findOrgApplication,
  insertOrgApplication,
  listOrgApplications,
  updateApplication,
  type ApplicationUpdate,
} from '../../db/applications.js';
import type { Db } from '../../db/index.js';
import { findApplicationByClientId } from '../../db/oauth.js';
import { findNamespaceById } from '../../db/organizations.js';
import type { Namespace, OAuthApplication } from '../../db/schema.js';
import { notFound } from '../../lib/api-error.js';
import { logAction } from '../../lib/audit.js';
import { avatar } from '../../lib/avatar.js';
import type { LogKind } from '../../lib/log-kinds.js';
import { AvatarView } from '../user-view.js';
import { Deleted, NewApp, OrgParams, OrgView, TAGS, UpdateApp } from './schemas.js';
import { buildOrgView, targetOrg } from './views.js';

const CLIENT_ID_LENGTH = 20;
const CLIENT_SECRET_LENGTH = 40;

const AppParams = OrgParams.extend({ client_id: z.string().describe('The OAuth client ID') });

const AppView = z.object({
  name: z.string(),
  description: z.string(),
  application_uri: z.string(),
  client_id: z.string(),
  client_secret: z.string().nullable(),
  redirect_uri: z.string().nullable(),
  avatar_email: z.string().nullable(),
});

const newClientSecret = () => randomString(CLIENT_SECRET_LENGTH, UPPER_DIGITS);

/** The audit metadata of every application change: what was sent, then which application. */
const appLog = (a: OAuthApplication, sent: Record<string, unknown> = {}) => ({ ...sent, application_name: a.name, client_id: a.client_id });

/** The org's application `clientId`; 404 when the org has none by that id. */
async function findAppOf(db: Db, org: Namespace, clientId: string): Promise<OAuthApplication> {
  const a = await findOrgApplication(db, org.id, clientId);
  if (!a) throw notFound();
  return a;
}

export const applicationRoutes: FastifyPluginAsyncZod = async (app) => {
  const { secrets } = app;

  /** Quay's app_view for an org admin (every caller of these endpoints is one). */
  const appView = (a: OAuthApplication): z.infer<typeof AppView> => ({
    name: a.name,
    description: a.description,
    application_uri: a.application_uri,
    client_id: a.client_id,
    client_secret: secrets.decrypt(a.client_secret_enc) ?? null,
    redirect_uri: a.redirect_uri,
    avatar_email: a.avatar_email,
  });

  /** Applies `patch` to the org's application `clientId` and writes `kind`, in one transaction. */
  async function changeApp(req: FastifyRequest, clientId: string, patch: ApplicationUpdate, kind: LogKind, sent?: Record<string, unknown>) {
    const org = targetOrg(req.target);
    const updated = await app.db.transaction().execute(async (trx) => {
      const a = await findAppOf(trx, org, clientId);
      const u = await updateApplication(trx, a.id, patch);
      await logAction(trx, req.auth, kind, { accountId: org.id }, appLog(u, sent));
      return u;
    });
    return appView(updated);
  }

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
          clientSecretEnc: secrets.encrypt(newClientSecret()),
          name: b.name,
          redirectUri: b.redirect_uri ?? '',
          applicationUri: b.application_uri ?? '',
          description: b.description ?? '',
          avatarEmail: b.avatar_email ?? null,
        });
        await logAction(trx, req.auth, 'create_application', { accountId: org.id }, appLog(a, b));
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
    async (req) => appView(await findAppOf(app.db, targetOrg(req.target), req.params.client_id)),
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
      const b = req.body;
      // An omitted description or avatar_email is reset, as in Quay.
      const patch = {
        name: b.name,
        application_uri: b.application_uri,
        redirect_uri: b.redirect_uri,
        description: b.description ?? '',
        avatar_email: b.avatar_email ?? null,
      };
      return changeApp(req, req.params.client_id, patch, 'update_application', b);
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
        await logAction(trx, req.auth, 'delete_application', { accountId: org.id }, appLog(a));
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
    async (req) =>
      changeApp(req, req.params.client_id, { client_secret_enc: secrets.encrypt(newClientSecret()) }, 'reset_application_client_secret'),
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
