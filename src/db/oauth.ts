// OAuth applications, access tokens and authorization codes (registry-and-auth.md A.1, A.2, A.7).
import { randomUUID } from 'node:crypto';
import type { Db } from './index.js';
import { parseScopeString, type ScopeName } from '../auth/scopes.js';
import type { Namespace, OAuthAccessToken, OAuthApplication } from './schema.js';

export async function findApplicationByClientId(db: Db, clientId: string): Promise<OAuthApplication | undefined> {
  return db.selectFrom('oauth_application').selectAll().where('client_id', '=', clientId).executeTakeFirst();
}

export interface NewApplication {
  clientId: string;
  clientSecretEnc: string;
  organizationId: number | null;
  name: string;
  redirectUri?: string;
  applicationUri?: string;
  description?: string;
  builtin?: boolean;
}

export async function insertApplication(db: Db, a: NewApplication): Promise<OAuthApplication> {
  return db
    .insertInto('oauth_application')
    .values({
      client_id: a.clientId,
      client_secret_enc: a.clientSecretEnc,
      organization_id: a.organizationId,
      name: a.name,
      redirect_uri: a.redirectUri ?? '',
      application_uri: a.applicationUri ?? '',
      description: a.description ?? '',
      avatar_email: null,
      builtin: a.builtin ?? false,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function updateBuiltinApplication(db: Db, clientId: string, redirectUri: string, applicationUri: string) {
  await db
    .updateTable('oauth_application')
    .set({ redirect_uri: redirectUri, application_uri: applicationUri })
    .where('client_id', '=', clientId)
    .where('builtin', '=', true)
    .execute();
}

export interface NewAccessToken {
  applicationId: number;
  userId: number;
  scope: string;
  tokenName: string;
  tokenHash: string;
  tokenType: string;
  expiresAt: Date;
  data: Record<string, unknown>;
}

export async function insertAccessToken(db: Db, t: NewAccessToken): Promise<OAuthAccessToken> {
  return db
    .insertInto('oauth_access_token')
    .values({
      uuid: randomUUID(),
      application_id: t.applicationId,
      authorized_user_id: t.userId,
      scope: t.scope,
      token_name: t.tokenName,
      token_hash: t.tokenHash,
      token_type: t.tokenType,
      expires_at: t.expiresAt,
      data: JSON.stringify(t.data),
      last_accessed: null,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export interface TokenLookup {
  token: OAuthAccessToken;
  /** The token's scope string, parsed once (undefined when the stored string is invalid). */
  scopes: Set<ScopeName> | undefined;
  user: Namespace;
  clientId: string;
  applicationName: string;
}

/** The token row with its user and application, by the clear 20-character prefix. */
export async function findAccessTokenByName(db: Db, tokenName: string): Promise<TokenLookup | undefined> {
  const row = await db
    .selectFrom('oauth_access_token as t')
    .innerJoin('namespace as u', 'u.id', 't.authorized_user_id')
    .innerJoin('oauth_application as a', 'a.id', 't.application_id')
    .selectAll('t')
    .select([
      'u.id as u_id', 'u.uuid as u_uuid', 'u.username as u_username', 'u.email as u_email', 'u.verified as u_verified',
      'u.password_hash as u_password_hash', 'u.organization as u_organization', 'u.robot as u_robot',
      'u.enabled as u_enabled', 'u.invalid_login_attempts as u_invalid_login_attempts',
      'u.last_invalid_login as u_last_invalid_login', 'u.given_name as u_given_name', 'u.family_name as u_family_name',
      'u.company as u_company', 'u.location as u_location', 'u.tag_expiration_s as u_tag_expiration_s',
      'u.creation_date as u_creation_date', 'u.robot_owner_id as u_robot_owner_id',
      'u.invoice_email as u_invoice_email', 'u.invoice_email_address as u_invoice_email_address', 'a.client_id as a_client_id', 'a.name as a_name',
    ])
    .where('t.token_name', '=', tokenName)
    .executeTakeFirst();
  if (!row) return undefined;
  const user: Namespace = {
    id: row.u_id, uuid: row.u_uuid, username: row.u_username, email: row.u_email, verified: row.u_verified,
    password_hash: row.u_password_hash, organization: row.u_organization, robot: row.u_robot, enabled: row.u_enabled,
    invalid_login_attempts: row.u_invalid_login_attempts, last_invalid_login: row.u_last_invalid_login,
    given_name: row.u_given_name, family_name: row.u_family_name, company: row.u_company, location: row.u_location,
    tag_expiration_s: row.u_tag_expiration_s, creation_date: row.u_creation_date, robot_owner_id: row.u_robot_owner_id,
    invoice_email: row.u_invoice_email, invoice_email_address: row.u_invoice_email_address,
  };
  const token: OAuthAccessToken = {
    id: row.id, uuid: row.uuid, application_id: row.application_id, authorized_user_id: row.authorized_user_id,
    scope: row.scope, token_name: row.token_name, token_hash: row.token_hash, token_type: row.token_type,
    expires_at: row.expires_at, data: row.data, last_accessed: row.last_accessed, created: row.created,
  };
  return { token, scopes: parseScopeString(token.scope), user, clientId: row.a_client_id, applicationName: row.a_name };
}

export async function touchAccessToken(db: Db, id: number): Promise<void> {
  await db.updateTable('oauth_access_token').set({ last_accessed: new Date() }).where('id', '=', id).execute();
}

export async function deleteAccessToken(db: Db, uuid: string): Promise<void> {
  await db.deleteFrom('oauth_access_token').where('uuid', '=', uuid).execute();
}

/** Scope strings of the user's unexpired tokens for an application (for auto-approval). */
export async function listLiveTokenScopes(db: Db, userId: number, applicationId: number): Promise<string[]> {
  const rows = await db
    .selectFrom('oauth_access_token')
    .select('scope')
    .where('authorized_user_id', '=', userId)
    .where('application_id', '=', applicationId)
    .where('expires_at', '>', new Date())
    .execute();
  return rows.map((r) => r.scope);
}

export interface NewAuthorizationCode {
  applicationId: number;
  codeName: string;
  codeHash: string;
  scope: string;
  redirectUri: string;
  data: Record<string, unknown>;
}

export async function insertAuthorizationCode(db: Db, c: NewAuthorizationCode): Promise<void> {
  await db
    .insertInto('oauth_authorization_code')
    .values({
      application_id: c.applicationId,
      code_name: c.codeName,
      code_hash: c.codeHash,
      scope: c.scope,
      redirect_uri: c.redirectUri,
      data: JSON.stringify(c.data),
    })
    .execute();
}

/** Deletes and returns the code row (single use): the caller verifies it inside the same transaction. */
export async function takeAuthorizationCode(db: Db, applicationId: number, codeName: string) {
  return db
    .deleteFrom('oauth_authorization_code')
    .where('application_id', '=', applicationId)
    .where('code_name', '=', codeName)
    .returningAll()
    .executeTakeFirst();
}

/** A token the user granted, with its application and the application's owner (null for built-in apps). */
export interface UserAuthorization {
  uuid: string;
  scope: string;
  appName: string;
  appDescription: string;
  appUri: string;
  appAvatarEmail: string | null;
  ownerName: string | null;
  ownerEmail: string | null;
}

function userAuthorizations(db: Db, userId: number) {
  return db
    .selectFrom('oauth_access_token as t')
    .innerJoin('oauth_application as a', 'a.id', 't.application_id')
    .leftJoin('namespace as o', 'o.id', 'a.organization_id')
    .select([
      't.uuid', 't.scope', 'a.name as appName', 'a.description as appDescription', 'a.application_uri as appUri',
      'a.avatar_email as appAvatarEmail', 'o.username as ownerName', 'o.email as ownerEmail',
    ])
    .where('t.authorized_user_id', '=', userId);
}

/** Every token the user granted, expired ones included (as Quay lists them), oldest first. */
export async function listUserAuthorizations(db: Db, userId: number): Promise<UserAuthorization[]> {
  return userAuthorizations(db, userId).orderBy('t.id').execute();
}

export async function findUserAuthorization(db: Db, userId: number, uuid: string): Promise<UserAuthorization | undefined> {
  return userAuthorizations(db, userId).where('t.uuid', '=', uuid).executeTakeFirst();
}

/** Deletes the user's token `uuid`; false when the user granted no such token. */
export async function deleteUserAuthorization(db: Db, userId: number, uuid: string): Promise<boolean> {
  const r = await db.deleteFrom('oauth_access_token').where('authorized_user_id', '=', userId).where('uuid', '=', uuid).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}
