// IMAGE (part1 §6): the deprecated Docker v1 "image" views of 3.6, derived from manifests. Image ids
// are this install's reversible legacy ids (src/registry/legacy-ids.ts): (manifest, layer index
// counted from the top, 0 = the leaf). Both answers carry `Deprecation: true`.
// listRepositoryImages: one entry per manifest a live visible tag points at, with its tags.
// getImage: one layer of a manifest of this repository (unlike Quay 3.6, an id of another
// repository's manifest is a 404), its command and date from the image config's history, its
// compressed size and its ancestors (nearest parent first, `//` for the base layer).
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { repoAccess } from '../auth/access.js';
import { findManifestById } from '../db/manifests.js';
import { listTagHistory } from '../db/tags.js';
import { notFound } from '../lib/api-error.js';
import { formatDate } from '../lib/dates.js';
import { LegacyImageIds } from '../registry/legacy-ids.js';
import { MANIFEST_LISTS } from '../registry/manifest-types.js';
import { manifestLayers, placeholderImage } from './manifest.js';

export const OPERATIONS = ['listRepositoryImages', 'getImage'] as const;

const RepoParams = z.object({ namespace: z.string(), repository: z.string() });
const ImageParams = RepoParams.extend({ image_id: z.string() });

const ImageView = z
  .looseObject({
    id: z.string(),
    created: z.string().nullable(),
    comment: z.string().nullable(),
    command: z.any(),
    size: z.number().nullable(),
    uploading: z.boolean(),
    sort_index: z.number(),
    ancestors: z.string(),
  })
  .meta({ id: 'LegacyImage' });

/** The most live tags listRepositoryImages reads (Quay lists them all; this bounds one answer). */
const MAX_TAGS = 10_000;

export const imageRoutes: FastifyPluginAsyncZod = async (app) => {
  const ids = new LegacyImageIds(app.secrets);

  app.get(
    '/repository/:namespace/:repository/image/',
    {
      config: { access: repoAccess('read', { publicOk: true }) },
      schema: {
        operationId: 'listRepositoryImages',
        tags: ['image'],
        description: 'List the images for the specified repository.',
        params: RepoParams,
        response: { 200: z.object({ images: z.array(ImageView) }) },
      },
    },
    async (req, reply) => {
      const repo = req.target.repository;
      if (!repo) throw notFound();
      const tags = await listTagHistory(app.db, repo.id, { offset: 0, limit: MAX_TAGS, liveOnly: true });
      // Newest tag first, so each image's entry is in the order its newest tag was set; its
      // `created` is its earliest tag's start.
      const images = new Map<number, { tags: string[]; startMs: number }>();
      for (const t of tags) {
        const e = images.get(t.manifest_id) ?? { tags: [], startMs: Infinity };
        e.tags.push(t.name);
        e.startMs = Math.min(e.startMs, Number(t.lifetime_start_ms));
        images.set(t.manifest_id, e);
      }
      const out = [...images].map(([manifestId, e]) => ({ ...placeholderImage(ids.encode(manifestId, 0), new Date(e.startMs)), tags: e.tags.sort() }));
      return reply.header('Deprecation', 'true').send({ images: out });
    },
  );

  app.get(
    '/repository/:namespace/:repository/image/:image_id',
    {
      config: { access: repoAccess('read', { publicOk: true }) },
      schema: {
        operationId: 'getImage',
        tags: ['image'],
        description: 'Get the information available for the specified image.',
        params: ImageParams,
        response: { 200: ImageView },
      },
    },
    async (req, reply) => {
      const repo = req.target.repository;
      const decoded = ids.decode(req.params.image_id);
      if (!repo || !decoded) throw notFound();
      const manifest = await findManifestById(app.db, decoded.manifestId);
      if (!manifest || Number(manifest.repository_id) !== repo.id || MANIFEST_LISTS.has(manifest.media_type)) throw notFound();
      const layers = await manifestLayers(app.storage, manifest);
      // Index 0 is the leaf: the top layer, the last in the manifest.
      const position = layers.length - 1 - decoded.index;
      if (position < 0) throw notFound();
      const layer = layers[position];
      const ancestors = layers
        .slice(0, position)
        .reverse()
        .map((_l, k) => ids.encode(manifest.id, decoded.index + 1 + k));
      return reply.header('Deprecation', 'true').send({
        id: req.params.image_id,
        created: layer.created_datetime ?? formatDate(manifest.created),
        comment: layer.comment ?? '',
        command: layer.command,
        size: layer.compressed_size,
        uploading: false,
        sort_index: 0,
        ancestors: `/${ancestors.join('/')}/`,
      });
    },
  );
};
