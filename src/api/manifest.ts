// MANIFEST (part1 §8): a manifest of a repository as the 3.6 API shows it (its bytes, its layers
// with the commands and dates of the image config's history), and its labels: those copied from
// the image config at push (`manifest`, immutable) and those added through the API (`api`).
// A manifest is found only while a live visible tag points at it or at an index listing it.
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { repoAccess } from '../auth/access.js';
import { deleteLabel, findLabel, insertLabels, listLabels, type LabelRow } from '../db/labels.js';
import { findManifestForTag, type ManifestRow } from '../db/manifests.js';
import { message, notFound } from '../lib/api-error.js';
import { logAction } from '../lib/audit.js';
import { formatDate } from '../lib/dates.js';
import { firstString } from '../lib/validation.js';
import { labelMediaType, readImageConfig } from '../registry/image-config.js';
import { LegacyImageIds } from '../registry/legacy-ids.js';
import { MANIFEST_LISTS } from '../registry/manifest-types.js';
import type { BlobDriver } from '../storage/driver.js';
import { imageRepositoryChecks } from './repo-checks.js';

export const OPERATIONS = ['getRepoManifest', 'listManifestLabels', 'addManifestLabel', 'getManifestLabel', 'deleteManifestLabel'] as const;

/** `{manifestref}`: `<algorithm>:<hex>`, as Quay's route converter; anything else is not a manifest. */
const MANIFEST_REF = /^[A-Za-z0-9_+.-]+:[A-Fa-f0-9]+$/;
/** Quay's label key rule for API labels (quay/quay:data/model/label.py). */
const LABEL_KEY = /^[a-z0-9](([a-z0-9]|[-.](?![.-]))*[a-z0-9])?$/;
const RESERVED_PREFIXES = ['com.docker.', 'io.docker.', 'org.dockerproject.', 'org.opencontainers.', 'io.cncf.', 'io.kubernetes.', 'io.k8s.', 'io.quay', 'com.coreos', 'com.tectonic', 'internal', 'quay'];
const LABEL_MEDIA_TYPES = ['text/plain', 'application/json'];

const ManifestParams = z.object({ namespace: z.string(), repository: z.string(), manifestref: z.string() });
const LabelParams = ManifestParams.extend({ labelid: z.string() });

const Label = z.object({ id: z.string(), key: z.string(), value: z.string(), source_type: z.string(), media_type: z.string() }).meta({ id: 'ManifestLabel' });

const AddLabel = z
  .object({
    key: z.string().describe('The key for the label'),
    value: z.string().describe('The value for the label'),
    media_type: z.string().nullable().describe('The media type for this label'),
  })
  .meta({ id: 'AddLabel', description: 'Adds a label to a manifest' });

const Layer = z.object({
  index: z.number().int(),
  compressed_size: z.number().nullable(),
  is_remote: z.boolean(),
  urls: z.array(z.string()).nullable(),
  command: z.array(z.string()).nullable(),
  comment: z.string().nullable(),
  author: z.string().nullable(),
  blob_digest: z.string(),
  created_datetime: z.string().nullable(),
});

const LegacyImage = z.looseObject({ id: z.string(), created: z.string(), comment: z.string(), command: z.any(), size: z.number(), uploading: z.boolean(), sort_index: z.number(), ancestors: z.string() });

const RepoManifest = z
  .object({
    digest: z.string(),
    is_manifest_list: z.boolean(),
    manifest_data: z.string(),
    config_media_type: z.string().nullable(),
    layers: z.array(Layer).nullable(),
    image: LegacyImage,
  })
  .meta({ id: 'RepoManifest' });

function labelView(l: LabelRow): z.infer<typeof Label> {
  return { id: l.uuid, key: l.key, value: l.value, source_type: l.source_type, media_type: l.media_type };
}

/** The placeholder image of a manifest in 3.6 views: its root id, the time of the request. */
export function placeholderImage(id: string, created = new Date()) {
  return { id, created: formatDate(created)!, comment: '', command: '', size: 0, uploading: false, sort_index: 0, ancestors: '' };
}

export const manifestRoutes: FastifyPluginAsyncZod = async (app) => {
  const ids = new LegacyImageIds(app.secrets);

  /** The path's repository and manifest (live), or 404. */
  async function manifestOf(req: FastifyRequest): Promise<{ repo: NonNullable<FastifyRequest['target']['repository']>; ns: NonNullable<FastifyRequest['target']['namespace']>; manifest: ManifestRow }> {
    const { repository: repo, namespace: ns } = req.target;
    const { manifestref } = req.params as { manifestref: string };
    if (!repo || !ns || !MANIFEST_REF.test(manifestref)) throw notFound();
    const manifest = await findManifestForTag(app.db, repo.id, manifestref, { liveOnly: true });
    if (!manifest) throw notFound();
    return { repo, ns, manifest };
  }

  app.get(
    '/repository/:namespace/:repository/manifest/:manifestref',
    {
      config: { access: repoAccess('read', { publicOk: true }) },
      preValidation: imageRepositoryChecks({ write: false }),
      schema: { operationId: 'getRepoManifest', tags: ['manifest'], description: 'Retrieves the manifest of a repository.', params: ManifestParams, response: { 200: RepoManifest } },
    },
    async (req) => {
      const { manifest } = await manifestOf(req);
      const isList = MANIFEST_LISTS.has(manifest.media_type);
      const loaded = isList ? [] : await manifestLayers(app.storage, manifest);
      // 3.6 renders an empty layer list as null, as it does a list's.
      const layers = loaded.length === 0 ? null : loaded;
      const text = manifest.content.toString('utf8');
      return {
        digest: manifest.digest,
        is_manifest_list: isList,
        manifest_data: text,
        config_media_type: isList ? null : manifest.config_media_type,
        layers,
        image: placeholderImage(ids.encode(manifest.id, 0)),
      };
    },
  );

  app.get(
    '/repository/:namespace/:repository/manifest/:manifestref/labels',
    {
      config: { access: repoAccess('read', { publicOk: true }) },
      preValidation: imageRepositoryChecks({ write: false }),
      schema: {
        operationId: 'listManifestLabels',
        tags: ['manifest'],
        description: 'List the labels of a manifest.',
        params: ManifestParams,
        querystring: z.object({ filter: firstString.describe('If specified, only labels matching the given prefix will be returned') }),
        response: { 200: z.object({ labels: z.array(Label) }) },
      },
    },
    async (req) => {
      const { manifest } = await manifestOf(req);
      return { labels: (await listLabels(app.db, manifest.id, req.query.filter || undefined)).map(labelView) };
    },
  );

  app.post(
    '/repository/:namespace/:repository/manifest/:manifestref/labels',
    {
      config: { access: repoAccess('write') },
      preValidation: imageRepositoryChecks({ write: true }),
      schema: {
        operationId: 'addManifestLabel',
        tags: ['manifest'],
        description: 'Adds a new label into the tag manifest.',
        params: ManifestParams,
        body: AddLabel,
        response: { 201: z.object({ label: Label }) },
      },
    },
    async (req, reply) => {
      const { key, value } = req.body;
      const mediaType = req.body.media_type;
      // Quay's order: the reserved prefixes before the repository and manifest are looked up.
      const lower = key.toLowerCase();
      if ([...RESERVED_PREFIXES, ...app.config.LABEL_KEY_RESERVED_PREFIXES].some((p) => lower.startsWith(p))) throw message(400, 'Label has a reserved prefix');
      const { repo, ns, manifest } = await manifestOf(req);
      if (key.length === 0 || key.length > 255 || !LABEL_KEY.test(key)) {
        throw message(400, `Label is of an invalid format or missing please use ${LABEL_KEY.source} format for labels`);
      }
      if (mediaType !== null && !LABEL_MEDIA_TYPES.includes(mediaType)) {
        throw message(400, `Media type is invalid please use a valid media type: ${LABEL_MEDIA_TYPES.join(', ')}`);
      }
      const label = await app.db.transaction().execute(async (trx) => {
        const [row] = await insertLabels(trx, manifest.id, [{ key, value, mediaType: mediaType ?? labelMediaType(value), source: 'api' }]);
        await logAction(trx, req.auth, 'manifest_label_add', { accountId: ns.id, repositoryId: repo.id }, {
          id: row.uuid,
          key,
          value,
          manifest_digest: manifest.digest,
          media_type: row.media_type,
          namespace: ns.username,
          repo: repo.name,
        });
        return row;
      });
      reply.header('Location', `/api/v1/repository/${ns.username}/${repo.name}/manifest/${manifest.digest}/labels/${label.uuid}`);
      return reply.code(201).send({ label: labelView(label) });
    },
  );

  app.get(
    '/repository/:namespace/:repository/manifest/:manifestref/labels/:labelid',
    {
      config: { access: repoAccess('read', { publicOk: true }) },
      preValidation: imageRepositoryChecks({ write: false }),
      schema: { operationId: 'getManifestLabel', tags: ['manifest'], description: 'Retrieves the label with the specific ID under the manifest.', params: LabelParams, response: { 200: Label } },
    },
    async (req) => {
      const { manifest } = await manifestOf(req);
      const label = await findLabel(app.db, manifest.id, req.params.labelid);
      if (!label) throw notFound();
      return labelView(label);
    },
  );

  app.delete(
    '/repository/:namespace/:repository/manifest/:manifestref/labels/:labelid',
    {
      config: { access: repoAccess('write') },
      preValidation: imageRepositoryChecks({ write: true }),
      schema: {
        operationId: 'deleteManifestLabel',
        tags: ['manifest'],
        description: 'Deletes an existing label from a manifest.',
        params: LabelParams,
        response: { 204: z.null().describe('Deleted') },
      },
    },
    async (req, reply) => {
      const { repo, ns, manifest } = await manifestOf(req);
      const label = await findLabel(app.db, manifest.id, req.params.labelid);
      if (!label) throw notFound();
      if (label.source_type !== 'api') throw message(400, 'Cannot delete immutable label');
      await app.db.transaction().execute(async (trx) => {
        await deleteLabel(trx, label.id);
        await logAction(trx, req.auth, 'manifest_label_delete', { accountId: ns.id, repositoryId: repo.id }, {
          id: label.uuid,
          key: label.key,
          value: label.value,
          manifest_digest: manifest.digest,
          namespace: ns.username,
          repo: repo.name,
        });
      });
      return reply.code(204).send(null);
    },
  );
};

/**
 * An image manifest's layers, base first, with what the image config's history says of each (the
 * history entries that made a layer, matched by position when their count is the layers').
 */
export async function manifestLayers(storage: BlobDriver, manifest: Pick<ManifestRow, 'content'>): Promise<z.infer<typeof Layer>[]> {
  let doc: { config?: { mediaType?: string; digest?: string; size?: number }; layers?: { digest?: string; size?: number; urls?: unknown }[] } = {};
  try {
    doc = JSON.parse(manifest.content.toString('utf8')) as typeof doc;
  } catch {
    // a stored manifest always parses; an unreadable one has no layers to show
  }
  const descriptors = Array.isArray(doc.layers) ? doc.layers : [];
  const cfg = doc.config;
  const config =
    cfg && typeof cfg.mediaType === 'string' && typeof cfg.digest === 'string' && typeof cfg.size === 'number'
      ? await readImageConfig(storage, { mediaType: cfg.mediaType, digest: cfg.digest, size: cfg.size })
      : undefined;
  const history = config?.layerHistory ?? [];
  return descriptors.map((l, index) => {
    const h = history.length === descriptors.length ? history[index] : undefined;
    const created = h?.created ? new Date(h.created) : undefined;
    const urls = Array.isArray(l.urls) ? l.urls.filter((u): u is string => typeof u === 'string') : null;
    return {
      index,
      compressed_size: typeof l.size === 'number' ? l.size : null,
      is_remote: !!urls?.length,
      urls: urls?.length ? urls : null,
      command: h?.created_by === undefined ? null : commandOf(h.created_by),
      comment: h?.comment ?? null,
      author: h?.author ?? null,
      blob_digest: String(l.digest ?? ''),
      created_datetime: created && Number.isFinite(created.getTime()) ? formatDate(created) : null,
    };
  });
}

/** A history `created_by` as Quay shows a layer's command: a JSON array as is, anything else as a one-element list. */
function commandOf(createdBy: string): string[] {
  try {
    const v = JSON.parse(createdBy) as unknown;
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v;
  } catch {
    // not JSON
  }
  return [createdBy];
}
