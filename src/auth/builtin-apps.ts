// The server's own first-party OAuth application: swagger-ui at /api/docs. Any signed-in user may
// authorize it (Quay only lets org admins authorize an org's applications). Its redirect URI follows
// SERVER_HOSTNAME, so it is refreshed at every start.
import type { Kysely } from 'kysely';
import type { DB } from '../db/index.js';
import { findApplicationByClientId, insertApplication, updateBuiltinApplication } from '../db/oauth.js';
import { randomString, UPPER_DIGITS, type SecretBox } from './crypto.js';

export const DOCS_CLIENT_ID = 'quay-compat-api-docs';
export const DOCS_REDIRECT_PATH = '/api/docs/oauth2-redirect.html';

export async function ensureBuiltinApplications(db: Kysely<DB>, secrets: SecretBox, baseUrl: string): Promise<void> {
  const redirectUri = `${baseUrl}${DOCS_REDIRECT_PATH}`;
  const applicationUri = `${baseUrl}/api/docs`;
  const existing = await findApplicationByClientId(db, DOCS_CLIENT_ID);
  if (existing) {
    if (existing.redirect_uri !== redirectUri || existing.application_uri !== applicationUri) {
      await updateBuiltinApplication(db, DOCS_CLIENT_ID, redirectUri, applicationUri);
    }
    return;
  }
  await insertApplication(db, {
    clientId: DOCS_CLIENT_ID,
    clientSecretEnc: secrets.encrypt(randomString(40, UPPER_DIGITS)),
    organizationId: null,
    name: 'API documentation (swagger-ui)',
    description: "This server's interactive API documentation at /api/docs.",
    redirectUri,
    applicationUri,
    builtin: true,
  });
}
