// GET /v2/<name>/tags/list (spec "Listing Tags"): live tags in byte order, `n` and `last`, and a
// `Link` to the next page (a path, as Quay's) when more remain.
import type { FastifyPluginAsync } from 'fastify';
import { readThrough } from '../db/read-cache.js';
import { liveTagPage } from '../db/tags.js';
import { existingRepo } from './access.js';

/** Without `n` the whole list is asked for: pages of this many, with a Link to the rest. */
const DEFAULT_PAGE = 10_000;
/** The most one page holds whatever `n` asks. */
const MAX_PAGE = 10_000;

export const tagListRoutes: FastifyPluginAsync = async (app) => {
  app.get('/:name/tags/list', async (req, reply) => {
    const repo = existingRepo(req);
    const q = req.query as Record<string, string | string[] | undefined>;
    const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
    const nParam = first(q.n);
    const last = first(q.last);
    // A value that is not a non-negative integer is read as "no n" (Quay reads garbage as its default).
    const n = nParam !== undefined && /^\d{1,9}$/.test(nParam) ? Math.min(Number(nParam), MAX_PAGE) : DEFAULT_PAGE;
    const name = req.repoAccess.full;
    if (n === 0) return reply.type('application/json').send({ name, tags: [] });
    const page = await readThrough(app.database.readCache, `tags\0${repo.id}\0${n}\0${last ?? ''}`, async () => {
      const p = await liveTagPage(app.db, repo.id, { n, last: last || undefined });
      return { value: p, until: p.until ?? undefined, bytes: p.json.length + 256 };
    });
    if (page.more && page.lastName !== null) {
      const next = new URLSearchParams({ n: String(n), last: page.lastName });
      reply.header('Link', `</v2/${name}/tags/list?${next.toString()}>; rel="next"`);
    }
    // The names arrive as a JSON array from the database: no row objects for 10,000 tags.
    return reply.type('application/json').send(`{"name":${JSON.stringify(name)},"tags":${page.json}}`);
  });
};
