// DISCOVERY (part1 §3): the Swagger 2.0 document Quay serves, and the same routes as OpenAPI 3.1.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { anonymousAccess } from '../auth/access.js';
import { quayBool } from '../lib/validation.js';
import { discoveryDocument, openapiDocument } from '../openapi.js';

export const OPERATIONS = ['discovery'] as const;

export const discoveryRoutes: FastifyPluginAsyncZod = async (app) => {
  // The documents only change with the routes, so each variant is built once.
  const cache = new Map<string, unknown>();
  const cached = (key: string, build: () => unknown) => {
    if (!cache.has(key)) cache.set(key, build());
    return cache.get(key);
  };

  app.get(
    '/discovery',
    {
      config: { access: anonymousAccess({ always: true }) },
      schema: {
        operationId: 'discovery',
        tags: ['discovery'],
        description: 'List all of the API endpoints available in the swagger API format.',
        querystring: z.object({ internal: quayBool.describe('Whether to include internal APIs.') }),
        response: { 200: z.looseObject({ swagger: z.literal('2.0') }) },
      },
    },
    async (req) => {
      const internal = req.query.internal ?? false;
      return cached(`discovery:${internal}`, () => discoveryDocument(app, internal)) as { swagger: '2.0' };
    },
  );

  app.get(
    '/openapi.json',
    {
      config: { access: anonymousAccess({ always: true, hidden: true }) },
      schema: { querystring: z.object({ internal: quayBool }) },
    },
    async (req) => {
      const internal = req.query.internal ?? false;
      return cached(`openapi:${internal}`, () => openapiDocument(app, internal));
    },
  );
};
