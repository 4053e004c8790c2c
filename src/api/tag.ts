// TAG (part2 §11): a repository's tag history, moving and creating tags, deleting and restoring
// them, and their expiration. Tags are lifetimes (src/db/tags.ts): every change ends one and may
// start another, so history and restore are queries. Quay 3.6's behaviour, with these choices
// where its code and the reference differ (each noted where it applies):
// - deleteFullTag of a tag that is not live answers 204 and logs nothing (the reference's 3.6
//   answer; Quay 3.6.2's code answers 400, current Quay 404);
// - restoreTag checks the tag name as changeTag does, so a restore cannot create a name /v2 could
//   never pull (Quay checks it in changeTag only);
// - changeTag is one transaction: a move that fails (404) also undoes the expiration sent with it;
// - `old_expiration_date` in change_tag_expiration is in seconds, as `expiration_date` (Quay's data
//   layer hands it milliseconds);
// - history items carry no legacy `docker_image_id`/`image_id` (current Quay's shape); the v1
//   chain of listTagImages uses the IMAGE section's ids (src/registry/legacy-ids.ts).
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { repoAccess } from '../auth/access.js';
import { labelValue } from '../db/labels.js';
import { findManifestById, findManifestForTag } from '../db/manifests.js';
import { endTag, findLiveTag, listTagHistory, lockRepositoryTags, setTag, setTagEnd, type TagHistoryRow } from '../db/tags.js';
import { invalidRequest, message, notFound } from '../lib/api-error.js';
import { logAction } from '../lib/audit.js';
import { formatDate } from '../lib/dates.js';
import { firstString, intParam, quayBool } from '../lib/validation.js';
import { EXPIRES_AFTER_LABEL, labelledTagEnd } from '../registry/image-config.js';
import { LegacyImageIds } from '../registry/legacy-ids.js';
import { placeholderImage } from './manifest.js';
import { MANIFEST_LISTS } from '../registry/manifest-types.js';
import { imageRepositoryChecks } from './repo-checks.js';
import { BAD_REQUEST } from './repository/schemas.js';

export const OPERATIONS = ['listRepoTags', 'changeTag', 'deleteFullTag', 'restoreTag', 'listTagImages'] as const;

/** Quay's TAG_REGEX and its message (quay/quay:util/names.py). */
const TAG_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const TAG_ERROR = 'Invalid tag: must match [A-Za-z0-9_.-], NOT start with "." or "-", and can contain 1-128 characters';


const TagParams = z.object({ namespace: z.string(), repository: z.string(), tag: z.string() });
const RepoParams = z.object({ namespace: z.string(), repository: z.string() });

const TagHistoryItem = z
  .object({
    name: z.string(),
    reversion: z.boolean(),
    start_ts: z.number().int().optional(),
    end_ts: z.number().int().optional(),
    manifest_digest: z.string(),
    is_manifest_list: z.boolean(),
    size: z.number().int().nullable(),
    last_modified: z.string().optional(),
    expiration: z.string().optional(),
  })
  .meta({ id: 'TagHistoryItem' });

const ChangeTag = z
  .looseObject({
    manifest_digest: z.string().nullable().optional().describe('(If specified) The manifest digest to which the tag should point'),
    expiration: z.number().nullable().optional().describe('(If specified) The expiration for the image'),
    image: z.string().nullable().optional().describe('(Deprecated: use `manifest_digest`) Image to which the tag should point.'),
  })
  .meta({ id: 'ChangeTag', description: 'Makes changes to a specific tag' });

const RestoreTag = z
  .looseObject({
    manifest_digest: z.string().optional().describe('If specified, the manifest digest that should be used'),
    image: z.string().optional().describe('(Deprecated: use `manifest_digest`) Image to which the tag should point'),
  })
  .meta({ id: 'RestoreTag', description: 'Restores a tag to a specific image' });

export function historyItem(r: TagHistoryRow): z.infer<typeof TagHistoryItem> {
  const start = Math.floor(Number(r.lifetime_start_ms) / 1000);
  const end = r.lifetime_end_ms === null ? null : Math.floor(Number(r.lifetime_end_ms) / 1000);
  return {
    name: r.name,
    reversion: r.reversion,
    ...(start > 0 ? { start_ts: start } : {}),
    ...(end !== null && end > 0 ? { end_ts: end } : {}),
    manifest_digest: r.digest,
    is_manifest_list: MANIFEST_LISTS.has(r.media_type),
    size: r.layers_size === null ? null : Number(r.layers_size),
    ...(start > 0 ? { last_modified: formatDate(new Date(start * 1000))! } : {}),
    ...(end !== null ? { expiration: formatDate(new Date(end * 1000))! } : {}),
  };
}

/** The repository of the path (repoAccess loaded it), or 404: only its namespace's admins get this far without one. */
function target(req: FastifyRequest) {
  const { repository: repo, namespace: ns } = req.target;
  if (!repo || !ns) throw notFound();
  return { repo, ns };
}

export const tagRoutes: FastifyPluginAsyncZod = async (app) => {
  const ids = new LegacyImageIds(app.secrets);
  const minExpiryS = app.config.LABELED_EXPIRATION_MINIMUM;
  const maxExpiryS = app.config.LABELED_EXPIRATION_MAXIMUM;

  app.get(
    '/repository/:namespace/:repository/tag/',
    {
      config: { access: repoAccess('read', { publicOk: true }) },
      preValidation: imageRepositoryChecks({ write: false }),
      schema: {
        operationId: 'listRepoTags',
        tags: ['tag'],
        description: 'List the tags in a repository, with their history.',
        params: RepoParams,
        querystring: z.object({
          onlyActiveTags: quayBool.describe('Filter to only active tags.'),
          page: intParam('Page index for the results. Default 1.').describe('Page index for the results. Default 1.'),
          limit: intParam('Limit to the number of results to return per page. Max 100.').describe('Limit to the number of results to return per page. Max 100.'),
          specificTag: firstString.describe('Filters the tags to the specific tag.'),
        }),
        response: { 200: z.object({ tags: z.array(TagHistoryItem), page: z.number().int(), has_additional: z.boolean() }) },
      },
    },
    async (req) => {
      const { repo } = target(req);
      const page = Math.max(1, req.query.page ?? 1);
      const limit = Math.min(100, Math.max(1, req.query.limit ?? 50));
      // A page past any history is empty; the offset is capped so that no page number overflows.
      const offset = Math.min((page - 1) * limit, 1e15);
      const rows = await listTagHistory(app.db, repo.id, {
        offset,
        limit: limit + 1,
        name: req.query.specificTag || undefined,
        liveOnly: req.query.onlyActiveTags ?? false,
      });
      return { tags: rows.slice(0, limit).map(historyItem), page, has_additional: rows.length > limit };
    },
  );

  app.put(
    '/repository/:namespace/:repository/tag/:tag',
    {
      config: { access: repoAccess('write') },
      preValidation: imageRepositoryChecks({ write: true }),
      schema: {
        operationId: 'changeTag',
        tags: ['tag'],
        description: 'Change which image a tag points to or create a new tag.',
        params: TagParams,
        body: ChangeTag,
        response: { 201: z.literal('Updated').describe('Successful creation') },
      },
    },
    async (req, reply) => {
      const { tag } = req.params;
      if (!TAG_NAME.test(tag)) throw message(400, TAG_ERROR);
      const { repo, ns } = target(req);
      const body = req.body;
      const base = { username: req.auth.user!.username, repo: repo.name, tag, namespace: ns.username };
      const where = { accountId: ns.id, repositoryId: repo.id };
      await app.db.transaction().execute(async (trx) => {
        await lockRepositoryTags(trx, repo.id);
        const now = Date.now();
        // The expiration first, on the live tag as it is (Quay's order: sent with a move, it is
        // set on the lifetime the move then ends, and so lost; both are logged).
        if ('expiration' in body && body.expiration !== undefined) {
          const live = await findLiveTag(trx, repo.id, tag, now);
          if (!live) throw notFound();
          let endMs: number | null = null;
          if (body.expiration !== null) {
            const requested = body.expiration;
            if (!(requested * 1000 > now) || !Number.isFinite(new Date(requested * 1000).getTime())) throw message(400, BAD_REQUEST);
            const startS = Math.floor(Number(live.lifetime_start_ms) / 1000);
            const offsetS = Math.min(maxExpiryS, Math.max(minExpiryS, Math.floor(requested) - startS));
            endMs = Number(live.lifetime_start_ms) + offsetS * 1000;
          }
          const previous = live.lifetime_end_ms === null ? null : Number(live.lifetime_end_ms);
          const changed = previous !== endMs;
          if (changed && !(await setTagEnd(trx, live.id, previous, endMs))) throw invalidRequest('Could not update tag expiration; Tag has probably changed');
          // Quay logs unless both the previous end it reports and the request are null; an
          // unchanged end is reported as "no previous end".
          const reportedPrevious = changed ? previous : null;
          if (!(reportedPrevious === null && body.expiration === null)) {
            await logAction(trx, req.auth, 'change_tag_expiration', where, {
              ...base,
              expiration_date: body.expiration === null ? null : Math.floor(body.expiration),
              old_expiration_date: reportedPrevious === null ? null : Math.floor(reportedPrevious / 1000),
            });
          }
        }
        if (('manifest_digest' in body && body.manifest_digest !== undefined) || ('image' in body && body.image !== undefined)) {
          // `image` names a legacy v1 id, which this server does not have: never found.
          const manifest = body.manifest_digest ? await findManifestForTag(trx, repo.id, body.manifest_digest, { liveOnly: true, lock: true }, now) : undefined;
          if (!manifest) throw notFound();
          const existing = await findLiveTag(trx, repo.id, tag, now);
          let original: string | null = null;
          if (existing) {
            const prev = await trx.selectFrom('manifest').select('digest').where('id', '=', existing.manifest_id).executeTakeFirst();
            original = prev?.digest ?? null;
          }
          // A manifest labelled quay.expires-after gives the new lifetime its end, as at push.
          const endMs = labelledTagEnd(now, await labelValue(trx, manifest.id, EXPIRES_AFTER_LABEL), minExpiryS, maxExpiryS);
          await setTag(trx, repo.id, tag, manifest.id, now, { always: true, endMs });
          await logAction(trx, req.auth, existing ? 'move_tag' : 'create_tag', where, {
            ...base,
            image: null,
            manifest_digest: body.manifest_digest ?? null,
            original_manifest_digest: original,
          });
        }
      });
      // A JSON string, as Quay's: Fastify sends a string payload as it is, so it is encoded here.
      return reply.code(201).type('application/json').send(JSON.stringify('Updated') as 'Updated');
    },
  );

  app.delete(
    '/repository/:namespace/:repository/tag/:tag',
    {
      config: { access: repoAccess('write') },
      preValidation: imageRepositoryChecks({ write: true }),
      schema: {
        operationId: 'deleteFullTag',
        tags: ['tag'],
        description: 'Delete the specified repository tag.',
        params: TagParams,
        response: { 204: z.null().describe('Deleted') },
      },
    },
    async (req, reply) => {
      const { repo, ns } = target(req);
      const { tag } = req.params;
      await app.db.transaction().execute(async (trx) => {
        const ended = await endTag(trx, repo.id, tag);
        // Nothing live by that name: 204 all the same, and nothing to log (see the top of the file).
        if (ended) {
          await logAction(trx, req.auth, 'delete_tag', { accountId: ns.id, repositoryId: repo.id }, {
            username: req.auth.user!.username,
            repo: repo.name,
            namespace: ns.username,
            tag,
          });
        }
      });
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/repository/:namespace/:repository/tag/:tag/restore',
    {
      config: { access: repoAccess('write') },
      preValidation: imageRepositoryChecks({ write: true }),
      schema: {
        operationId: 'restoreTag',
        tags: ['tag'],
        description: 'Restores a repository tag back to a previous image in the repository.',
        params: TagParams,
        body: RestoreTag,
        response: { 200: z.object({}).describe('Successful invocation') },
      },
    },
    async (req) => {
      const { tag } = req.params;
      const { repo, ns } = target(req);
      const { manifest_digest: digest, image } = req.body;
      if (!digest && !image) throw invalidRequest('Missing manifest_digest');
      if (!TAG_NAME.test(tag)) throw message(400, TAG_ERROR);
      await app.db.transaction().execute(async (trx) => {
        await lockRepositoryTags(trx, repo.id);
        const now = Date.now();
        // Any manifest still stored for the repository (the time machine); `image` alone names a
        // legacy v1 id, which this server does not have.
        const manifest = digest ? await findManifestForTag(trx, repo.id, digest, { liveOnly: false, lock: true }, now) : undefined;
        if (!manifest) throw notFound();
        const endMs = labelledTagEnd(now, await labelValue(trx, manifest.id, EXPIRES_AFTER_LABEL), minExpiryS, maxExpiryS);
        await setTag(trx, repo.id, tag, manifest.id, now, { always: true, reversion: true, endMs });
        await logAction(trx, req.auth, 'revert_tag', { accountId: ns.id, repositoryId: repo.id }, {
          username: req.auth.user!.username,
          repo: repo.name,
          tag,
          image: null,
          manifest_digest: digest,
        });
      });
      return {};
    },
  );

  app.get(
    '/repository/:namespace/:repository/tag/:tag/images',
    {
      config: { access: repoAccess('read', { publicOk: true }) },
      preValidation: imageRepositoryChecks({ write: false }),
      schema: {
        operationId: 'listTagImages',
        tags: ['tag'],
        description: 'List the images for the specified repository tag.',
        params: TagParams,
        querystring: z.object({ owned: quayBool.describe('If specified, only images wholly owned by this tag are returned.') }),
        response: { 200: z.object({ images: z.array(z.looseObject({ id: z.string() })) }) },
      },
    },
    async (req, reply) => {
      const { repo } = target(req);
      const live = await findLiveTag(app.db, repo.id, req.params.tag);
      if (!live) throw notFound();
      const manifest = await findManifestById(app.db, live.manifest_id);
      if (!manifest) throw notFound();
      // The manifest's v1 chain, leaf first, with 3.6's placeholder metadata; `owned` images (those
      // no other tag shares) are never listed, as in 3.6. An index has no chain of its own.
      let count = 0;
      if (!req.query.owned && !MANIFEST_LISTS.has(manifest.media_type)) {
        try {
          const layers = (JSON.parse(manifest.content.toString('utf8')) as { layers?: unknown }).layers;
          count = Array.isArray(layers) ? layers.length : 0;
        } catch {
          count = 0;
        }
      }
      const created = new Date(Number(live.lifetime_start_ms));
      const images = Array.from({ length: count }, (_x, i) => placeholderImage(ids.encode(manifest.id, i), created));
      return reply.header('Deprecation', 'true').send({ images });
    },
  );
};
