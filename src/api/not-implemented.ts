// Every operation of the Quay 3.6 guide that no section serves yet answers 501 with an ApiError
// naming it, and is listed as such in discovery and in the README's coverage table. Never a fake 200.
import type { FastifyPluginAsync } from 'fastify';
import { anonymousAccess } from '../auth/access.js';
import { notImplemented } from '../lib/api-error.js';
import { GUIDE_OPERATIONS } from './operations.js';

/** Quay's path (with `{repository}` spanning `namespace/name`) → a Fastify route under /api/v1. */
export function toRoutePath(quayPath: string): string {
  return quayPath
    .replace(/^\/api\/v1/, '')
    .replace('{repository}', ':namespace/:repository')
    .replace(/\{([A-Za-z0-9_]+)\}/g, ':$1');
}

export function notImplementedRoutes(served: ReadonlySet<string>): FastifyPluginAsync {
  return async (app) => {
    for (const op of GUIDE_OPERATIONS) {
      if (served.has(op.operationId)) continue;
      const url = toRoutePath(op.path);
      app.route({
        method: op.method,
        url,
        config: {
          // Everyone gets the same 501, before any permission or CSRF check.
          access: anonymousAccess({ always: true, csrf: false }),
        },
        schema: {
          operationId: op.operationId,
          tags: [op.section],
          description: 'Not implemented by this server yet: answers 501.',
          'x-not-implemented': true,
        } as Record<string, unknown>,
        handler: async () => {
          throw notImplemented(`${op.operationId} (${op.method} ${op.path})`);
        },
      });
    }
  };
}
