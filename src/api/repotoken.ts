// REPOTOKEN (part2 §6): repository access tokens were removed before Quay 3.6. The five endpoints
// still exist there: they check AdminRepo, validate the body, then answer 410 Gone. So do these.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { repoAccess } from '../auth/access.js';
import { message } from '../lib/api-error.js';
import { RepoParams } from './repository/schemas.js';

export const OPERATIONS = ['listRepoTokens', 'createToken', 'getTokens', 'changeToken', 'deleteToken'] as const;

const HANDLING_GONE = 'Handling of access tokens is no longer supported';
const CREATION_GONE = 'Creation of access tokens is no longer supported';

const NewToken = z
  .object({ friendlyName: z.string().describe('Friendly name to help identify the token') })
  .meta({ id: 'NewRepoToken', description: 'Description of a new token.' });

const TokenPermission = z
  .object({ role: z.enum(['read', 'write', 'admin']).describe('Role to use for the token') })
  .meta({ id: 'TokenPermission', description: 'Description of a token permission' });

const TokenParams = RepoParams.extend({ code: z.string().describe('The token code') });

const Gone = z.looseObject({ message: z.string() }).describe('Gone: repository access tokens are no longer supported');

export const repoTokenRoutes: FastifyPluginAsyncZod = async (app) => {
  const common = { config: { access: repoAccess('admin') } } as const;

  app.get(
    '/repository/:namespace/:repository/tokens/',
    {
      ...common,
      schema: {
        operationId: 'listRepoTokens',
        tags: ['repotoken'],
        description: 'List the tokens for the specified repository.',
        params: RepoParams,
        response: { 410: Gone },
      },
    },
    async () => {
      throw message(410, HANDLING_GONE);
    },
  );

  app.post(
    '/repository/:namespace/:repository/tokens/',
    {
      ...common,
      schema: {
        operationId: 'createToken',
        tags: ['repotoken'],
        description: 'Create a new repository token.',
        params: RepoParams,
        body: NewToken,
        response: { 410: Gone },
      },
    },
    async () => {
      throw message(410, CREATION_GONE);
    },
  );

  app.get(
    '/repository/:namespace/:repository/tokens/:code',
    {
      ...common,
      schema: {
        operationId: 'getTokens',
        tags: ['repotoken'],
        description: 'Fetch the specified repository token information.',
        params: TokenParams,
        response: { 410: Gone },
      },
    },
    async () => {
      throw message(410, HANDLING_GONE);
    },
  );

  app.put(
    '/repository/:namespace/:repository/tokens/:code',
    {
      ...common,
      schema: {
        operationId: 'changeToken',
        tags: ['repotoken'],
        description: 'Update the permissions for the specified repository token.',
        params: TokenParams,
        body: TokenPermission,
        response: { 410: Gone },
      },
    },
    async () => {
      throw message(410, HANDLING_GONE);
    },
  );

  app.delete(
    '/repository/:namespace/:repository/tokens/:code',
    {
      ...common,
      schema: {
        operationId: 'deleteToken',
        tags: ['repotoken'],
        description: 'Delete the repository token.',
        params: TokenParams,
        response: { 410: Gone },
      },
    },
    async () => {
      throw message(410, HANDLING_GONE);
    },
  );
};
