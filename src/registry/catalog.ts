// GET /v2/_catalog (registry-and-auth.md D.4): the image repositories visible to the caller, as
// `namespace/name`, in id order. Who the caller is comes from the token's context (a plain login's
// token, with empty `access`, is enough): a user sees what they may read (capped by the scopes of
// the OAuth token behind the login: without a repo:* scope, nothing private), a robot what it is
// granted, an anonymous caller nothing — plus every public repository when FEATURE_PUBLIC_CATALOG
// is on. `n` defaults to and is capped at 100 (minimum 1; anything unreadable means 1, as Quay);
// the next page is an encrypted, opaque `next_page` token (`last` is read as its alias), announced
// in a `Link` header whose URL is a path.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { listVisibleRepositories } from '../db/repositories.js';
import { decodePageToken, keysetPage } from '../lib/pagination.js';
import { firstString } from '../lib/validation.js';
import { canReadRepositories } from './access.js';
import { RegistryError } from './errors.js';

export const CATALOG_PAGE_MAX = 100;
const PAGE_KIND = 'v2-catalog';

/** Quay's `n`: absent → 100; an integer → clamped to 1…100; anything else → 1. */
export function catalogLimit(n: string | undefined): number {
  if (n === undefined) return CATALOG_PAGE_MAX;
  if (!/^\s*[+-]?\d+\s*$/.test(n)) return 1;
  return Math.max(1, Math.min(Number(n), CATALOG_PAGE_MAX));
}

const CatalogQuery = z.object({
  n: firstString.describe('Page size, 1–100'),
  next_page: firstString.describe('The page token from the previous Link header'),
  last: firstString.describe('Alias of next_page'),
});

export const catalogRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/_catalog',
    { schema: { querystring: CatalogQuery, response: { 200: z.object({ repositories: z.array(z.string()) }) } } },
    async (req, reply) => {
      const { config, db, secrets } = app;
      const identity = req.registryAuth.identity;
      if (!identity && !config.FEATURE_ANONYMOUS_ACCESS) throw new RegistryError('UNAUTHORIZED');
      const limit = catalogLimit(req.query.n);
      const readerId = identity && canReadRepositories(identity) ? identity.entity.id : null;
      const rows = await listVisibleRepositories(db, {
        readerId,
        includePublic: config.FEATURE_PUBLIC_CATALOG,
        starUserId: null,
        kind: 'image',
        afterId: decodePageToken(secrets, PAGE_KIND, req.query.next_page ?? req.query.last),
        limit: limit + 1,
      });
      const page = keysetPage(secrets, PAGE_KIND, rows, limit);
      if (page.nextPage) {
        reply.header('Link', `</v2/_catalog?n=${limit}&next_page=${encodeURIComponent(page.nextPage)}>; rel="next"`);
      }
      return { repositories: page.items.map((r) => `${r.namespace}/${r.name}`) };
    },
  );
};
