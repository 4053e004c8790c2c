// APPSPECIFICTOKENS (part1 §1): the caller's own app-specific tokens, for `docker login` as `$app`.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { userAccess } from '../auth/access.js';
import { randomString, UPPER_DIGITS } from '../auth/crypto.js';
import { deleteAppToken, findAppToken, insertAppToken, listAppTokens } from '../db/app-tokens.js';
import type { AppSpecificToken } from '../db/schema.js';
import { notFound } from '../lib/api-error.js';
import { logAction } from '../lib/audit.js';
import { formatDate } from '../lib/dates.js';
import { quayBool } from '../lib/validation.js';

export const OPERATIONS = ['listAppTokens', 'createAppToken', 'getAppToken', 'revokeAppToken'] as const;

/** 120 characters from [A-Z0-9]: the first 60 identify the token, the last 60 are the secret. */
const CODE_LENGTH = 120;
const NAME_LENGTH = 60;
/** When APP_SPECIFIC_TOKEN_EXPIRATION is unset, "expiring soon" is measured against 4 weeks. */
const DEFAULT_WINDOW_BASE_S = 4 * 7 * 86400;

const TokenView = z
  .object({
    uuid: z.string(),
    title: z.string(),
    last_accessed: z.string().nullable(),
    created: z.string().nullable(),
    expiration: z.string().nullable(),
    token_code: z.string().optional(),
  })
  .meta({ id: 'AppToken', description: 'An app-specific token.' });

const NewToken = z
  .object({ title: z.string().max(255).describe('The user-facing title for the token') })
  .meta({ id: 'NewToken', description: 'Description of a new token.' });

const TokenParams = z.object({ token_uuid: z.string().describe('The uuid of the app specific token') });

export const appTokenRoutes: FastifyPluginAsyncZod = async (app) => {
  const { secrets, config } = app;
  // Quay removes the whole section when the feature is off.
  if (!config.FEATURE_APP_SPECIFIC_TOKENS) return;

  const view = (t: AppSpecificToken, withCode: boolean) => ({
    uuid: t.uuid,
    title: t.title,
    last_accessed: formatDate(t.last_accessed),
    created: formatDate(t.created),
    expiration: formatDate(t.expiration),
    ...(withCode ? { token_code: t.token_name + (secrets.decrypt(t.token_secret_enc) ?? '') } : {}),
  });

  app.get(
    '/user/apptoken',
    {
      config: { access: userAccess('admin') },
      schema: {
        operationId: 'listAppTokens',
        tags: ['appspecifictokens'],
        description: 'Lists the app specific tokens for the user.',
        querystring: z.object({ expiring: quayBool.describe('If true, only returns those tokens expiring soon') }),
        response: { 200: z.object({ tokens: z.array(TokenView), only_expiring: z.boolean().nullable() }) },
      },
    },
    async (req) => {
      const expiring = req.query.expiring ?? null;
      let tokens = await listAppTokens(app.db, req.auth.user!.id);
      if (expiring) {
        const base = config.APP_SPECIFIC_TOKEN_EXPIRATION ?? DEFAULT_WINDOW_BASE_S;
        const windowMs = Math.max(1, base * 0.1) * 1000;
        const now = Date.now();
        tokens = tokens.filter((t) => t.expiration && t.expiration.getTime() > now && t.expiration.getTime() <= now + windowMs);
      }
      return { tokens: tokens.map((t) => view(t, false)), only_expiring: expiring };
    },
  );

  app.post(
    '/user/apptoken',
    {
      config: { access: userAccess('admin', { fresh: true }) },
      schema: {
        operationId: 'createAppToken',
        tags: ['appspecifictokens'],
        description: 'Create a new app specific token for user.',
        body: NewToken,
        response: { 200: z.object({ token: TokenView }) },
      },
    },
    async (req) => {
      const user = req.auth.user!;
      const code = randomString(CODE_LENGTH, UPPER_DIGITS);
      const exp = config.APP_SPECIFIC_TOKEN_EXPIRATION;
      const token = await app.db.transaction().execute(async (trx) => {
        const t = await insertAppToken(trx, {
          userId: user.id,
          title: req.body.title,
          tokenName: code.slice(0, NAME_LENGTH),
          secretEnc: secrets.encrypt(code.slice(NAME_LENGTH)),
          expiration: exp ? new Date(Date.now() + exp * 1000) : null,
        });
        await logAction(trx, req.auth, 'create_app_specific_token', { accountId: user.id }, {
          app_specific_token_title: t.title,
          app_specific_token: t.uuid,
        });
        return t;
      });
      return { token: view(token, true) };
    },
  );

  app.get(
    '/user/apptoken/:token_uuid',
    {
      config: { access: userAccess('admin', { fresh: true }) },
      schema: {
        operationId: 'getAppToken',
        tags: ['appspecifictokens'],
        description: 'Returns a specific app token for the user.',
        params: TokenParams,
        response: { 200: z.object({ token: TokenView }) },
      },
    },
    async (req) => {
      const t = await findAppToken(app.db, req.auth.user!.id, req.params.token_uuid);
      if (!t || (t.expiration && t.expiration.getTime() <= Date.now())) throw notFound();
      return { token: view(t, true) };
    },
  );

  app.delete(
    '/user/apptoken/:token_uuid',
    {
      config: { access: userAccess('admin', { fresh: true }) },
      schema: {
        operationId: 'revokeAppToken',
        tags: ['appspecifictokens'],
        description: 'Revokes a specific app token for the user.',
        params: TokenParams,
        response: { 204: z.null().describe('Deleted') },
      },
    },
    async (req, reply) => {
      const user = req.auth.user!;
      await app.db.transaction().execute(async (trx) => {
        const t = await findAppToken(trx, user.id, req.params.token_uuid);
        if (!t) throw notFound();
        await deleteAppToken(trx, t.id);
        await logAction(trx, req.auth, 'revoke_app_specific_token', { accountId: user.id }, {
          app_specific_token_title: t.title,
          app_specific_token: t.uuid,
        });
      });
      return reply.code(204).send(null);
    },
  );
};
