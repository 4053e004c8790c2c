// ERROR (part1 §4): descriptions of the error types named in ApiError bodies.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { anonymousAccess } from '../auth/access.js';
import { ERROR_DESCRIPTIONS, notFound, type ApiErrorType } from '../lib/api-error.js';

export const OPERATIONS = ['getErrorDescription'] as const;

export const errorRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/error/:error_type',
    {
      config: { access: anonymousAccess() },
      schema: {
        operationId: 'getErrorDescription',
        tags: ['error'],
        description: 'Get a detailed description of the error.',
        params: z.object({ error_type: z.string().describe('The error code identifying the type of error.') }),
        response: {
          200: z
            .object({ type: z.string(), title: z.string(), description: z.string() })
            .meta({ id: 'ApiErrorDescription', description: 'Description of an error' }),
        },
      },
    },
    async (req) => {
      const t = req.params.error_type;
      if (!Object.hasOwn(ERROR_DESCRIPTIONS, t)) throw notFound();
      return { type: `${app.baseUrl}/api/v1/error/${t}`, title: t, description: ERROR_DESCRIPTIONS[t as ApiErrorType] };
    },
  );
};
