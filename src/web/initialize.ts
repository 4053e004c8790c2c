// POST /api/v1/user/initialize (part2 §2.1): the first user and, on request, an access token, on an
// empty database. A web route in Quay: not in discovery, no CSRF, anonymous; the empty database is
// the guard, checked under a table lock so two concurrent calls cannot both succeed.
import type { FastifyInstance } from 'fastify';
import { anonymousAccess } from '../auth/access.js';
import { randomString, UPPER_DIGITS } from '../auth/crypto.js';
import { SCOPE_NAMES } from '../auth/scopes.js';
import { loginSession } from '../auth/session.js';
import { encryptUserPassword } from '../services/login.js';
import { INITIALIZE_TOKEN_LIFETIME_S, mintAccessToken } from '../auth/tokens.js';
import { insertApplication } from '../db/oauth.js';
import { countNamespaces } from '../db/users.js';
import { message } from '../lib/api-error.js';
import { AccountError, insertAccount, lockNamespaces, prepareAccount } from '../services/accounts.js';
import { z } from 'zod';
import { WEB_FIELD as W } from './fields.js';

const ALL_SCOPES = [...SCOPE_NAMES].sort().join(' ');

class NotEmpty extends Error {}

// Loose on purpose: the handler answers missing or mistyped fields with Quay's own messages.
const InitializeBody = z
  .looseObject({
    username: z.unknown().refine((v) => typeof v !== 'string' || v.length <= W.name, 'username is too long').optional(),
    email: z.unknown().refine((v) => typeof v !== 'string' || v.length <= W.name, 'email is too long').optional(),
  })
  .nullish();

export async function initializeRoute(app: FastifyInstance): Promise<void> {
  app.post(
    '/api/v1/user/initialize',
    {
      config: { access: anonymousAccess({ always: true, hidden: true, csrf: false }) },
      schema: { body: InitializeBody },
    },
    async (req, reply) => {
      if (!app.config.FEATURE_USER_INITIALIZE) throw message(404, 'Not Found');
      const body = (req.body ?? {}) as Record<string, unknown>;
      const { username, password, email } = body;
      const fail = (reason: string) => message(400, `Failed to initialize user: ${reason}`);
      if (typeof username !== 'string' || !username) throw fail('username is required');
      if (typeof password !== 'string' || !password) throw fail('password is required');
      if (email !== undefined && email !== null && typeof email !== 'string') throw fail('email must be a string');
      // Cheap check first, so a populated database never pays for the password hash.
      if ((await countNamespaces(app.db)) > 0) throw message(400, 'Cannot initialize user in a non-empty database');

      let prepared;
      try {
        prepared = await prepareAccount({ username, password, email: email ?? null });
      } catch (err) {
        if (err instanceof AccountError) throw fail(err.message);
        throw err;
      }
      const wantToken = !!body.access_token;
      let result;
      try {
        result = await app.db.transaction().execute(async (trx) => {
          await lockNamespaces(trx);
          if ((await countNamespaces(trx)) > 0) throw new NotEmpty();
          const user = await insertAccount(trx, prepared, null);
          let token: string | undefined;
          if (wantToken) {
            // Quay creates an application named `automation`, owned by the new user, client_id = username.
            const automation = await insertApplication(trx, {
              clientId: user.username,
              clientSecretEnc: app.secrets.encrypt(randomString(40, UPPER_DIGITS)),
              organizationId: user.id,
              name: 'automation',
            });
            ({ token } = await mintAccessToken(trx, {
              applicationId: automation.id,
              userId: user.id,
              username: user.username,
              scope: ALL_SCOPES,
              lifetimeS: INITIALIZE_TOKEN_LIFETIME_S,
              alphabet: 'upper',
              tokenType: 'token',
            }));
          }
          return { user, token };
        });
      } catch (err) {
        if (err instanceof NotEmpty) throw message(400, 'Cannot initialize user in a non-empty database');
        if (err instanceof AccountError) throw fail(err.message);
        throw err;
      }
      await loginSession(req, reply, app.db, result.user, app.sessionSettings);
      return {
        username: result.user.username,
        email: result.user.email,
        // The password encrypted under this server's key, usable as a registry password.
        encrypted_password: encryptUserPassword(app.secrets, password),
        ...(result.token ? { access_token: result.token } : {}),
      };
    },
  );
}
