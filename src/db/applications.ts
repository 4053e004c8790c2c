// OAuth applications owned by an organization (part1 §10.3–10.7). The OAuth flows look them up by
// client_id (src/db/oauth.ts); here they are managed within their organization.
import type { Db } from './index.js';
import type { OAuthApplication } from './schema.js';

export async function listOrgApplications(db: Db, orgId: number): Promise<OAuthApplication[]> {
  return db.selectFrom('oauth_application').selectAll().where('organization_id', '=', orgId).orderBy('id').execute();
}

export async function findOrgApplication(db: Db, orgId: number, clientId: string): Promise<OAuthApplication | undefined> {
  return db
    .selectFrom('oauth_application')
    .selectAll()
    .where('organization_id', '=', orgId)
    .where('client_id', '=', clientId)
    .executeTakeFirst();
}

export interface NewOrgApplication {
  orgId: number;
  clientId: string;
  clientSecretEnc: string;
  name: string;
  redirectUri: string;
  applicationUri: string;
  description: string;
  avatarEmail: string | null;
}

export async function insertOrgApplication(db: Db, a: NewOrgApplication): Promise<OAuthApplication> {
  return db
    .insertInto('oauth_application')
    .values({
      client_id: a.clientId,
      client_secret_enc: a.clientSecretEnc,
      organization_id: a.orgId,
      name: a.name,
      redirect_uri: a.redirectUri,
      application_uri: a.applicationUri,
      description: a.description,
      avatar_email: a.avatarEmail,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export interface ApplicationUpdate {
  name?: string;
  redirect_uri?: string;
  application_uri?: string;
  description?: string;
  avatar_email?: string | null;
  client_secret_enc?: string;
}

export async function updateApplication(db: Db, id: number, patch: ApplicationUpdate): Promise<OAuthApplication> {
  return db.updateTable('oauth_application').set(patch).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
}

/** Deletes the application; its access tokens and authorization codes go with it (FK cascade). */
export async function deleteOrgApplication(db: Db, orgId: number, clientId: string): Promise<OAuthApplication | undefined> {
  return db
    .deleteFrom('oauth_application')
    .where('organization_id', '=', orgId)
    .where('client_id', '=', clientId)
    .returningAll()
    .executeTakeFirst();
}
