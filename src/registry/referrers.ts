// GET /v2/<name>/referrers/<digest> (spec "Listing Referrers"): an OCI index of the manifests of the
// repository whose subject is <digest>, filterable by artifactType. Unlike Quay, an unknown subject
// (or repository) gives an empty index: the spec forbids a 404 once the API is supported.
import type { FastifyPluginAsync } from 'fastify';
import { listReferrers } from '../db/manifests.js';
import { pathDigest } from './blobs.js';
import { OCI_INDEX } from './manifest-types.js';

export const referrerRoutes: FastifyPluginAsync = async (app) => {
  app.get('/:name/referrers/:digest', async (req, reply) => {
    // A repository that does not exist (yet) has no referrers: an empty index, as the spec asks of a
    // registry that supports the API. Access was checked (the caller may read that name).
    const repo = req.repoAccess.repo;
    const digest = pathDigest((req.params as { digest: string }).digest);
    const raw = (req.query as Record<string, string | string[] | undefined>).artifactType;
    const artifactType = Array.isArray(raw) ? raw[0] : raw;
    const rows = repo ? await listReferrers(app.db, repo.id, digest.digest, artifactType || undefined) : [];
    const manifests = rows.map((m) => {
      let annotations: Record<string, string> | undefined;
      try {
        const doc = JSON.parse(m.content.toString('utf8')) as { annotations?: unknown };
        if (doc.annotations && typeof doc.annotations === 'object') annotations = doc.annotations as Record<string, string>;
      } catch {
        annotations = undefined;
      }
      return {
        mediaType: m.media_type,
        digest: m.digest,
        size: m.size,
        ...(m.artifact_type ? { artifactType: m.artifact_type } : {}),
        ...(annotations ? { annotations } : {}),
      };
    });
    if (artifactType) reply.header('OCI-Filters-Applied', 'artifactType');
    // A Buffer, so Fastify adds no charset parameter to the media type (clients compare it whole).
    return reply.type(OCI_INDEX).send(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests })));
  });
};
