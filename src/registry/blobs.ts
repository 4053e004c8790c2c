// Blob reads and deletes: GET/HEAD/DELETE /v2/<name>/blobs/<digest> (spec "Pulling blobs",
// "Checking if content exists", "Deleting Blobs"). A blob is served from a repository only when that
// repository links it (an upload or a mount) or one of its manifests references it.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { findRepositoryBlob, unlinkBlob, type BlobRow } from '../db/blobs.js';
import { blobKey } from '../storage/paths.js';
import { existingRepo } from './access.js';
import { parseDigest } from './digest.js';
import { RegistryError } from './errors.js';

/** How long a redirect to storage (STORAGE_REDIRECT_GETS) stays valid. */
const PRESIGNED_TTL_S = 600;

/** `bytes=a-b`, `bytes=a-`, `bytes=-n` against a blob of `size`: the inclusive range, 'invalid' or 'unsatisfiable'. */
export function parseRange(header: string, size: number): { start: number; end: number } | 'invalid' | 'unsatisfiable' {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return 'invalid';
  if (m[1].length > 15 || m[2].length > 15) return 'unsatisfiable';
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (m[2] !== '' && Number(m[2]) < start) return 'invalid';
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}

/** The digest from the path: 400 DIGEST_INVALID when it is not one. */
export function pathDigest(value: string) {
  const d = parseDigest(value);
  if (!d) throw new RegistryError('DIGEST_INVALID', { message: 'invalid digest', detail: { digest: value.slice(0, 200) } });
  return d;
}

function blobHeaders(reply: FastifyReply, blob: BlobRow) {
  reply.header('Docker-Content-Digest', blob.digest).header('ETag', `"${blob.digest}"`).header('Accept-Ranges', 'bytes');
}

export const blobRoutes: FastifyPluginAsync = async (app) => {
  const storage = app.storage;

  const read = (head: boolean) => async (req: FastifyRequest, reply: FastifyReply) => {
    const digest = pathDigest((req.params as { digest: string }).digest);
    const repo = existingRepo(req);
    const blob = await findRepositoryBlob(app.db, repo.id, digest.digest);
    if (!blob) throw new RegistryError('BLOB_UNKNOWN', { detail: { digest: digest.digest } });
    blobHeaders(reply, blob);
    reply.type('application/octet-stream');
    const rangeHeader = req.headers.range;
    let range: { start: number; end: number } | undefined;
    if (rangeHeader !== undefined) {
      const r = parseRange(rangeHeader, blob.size);
      // RFC 9110 §14.2: a Range that does not parse (`bytes=500-0`, another unit) is ignored.
      if (r === 'unsatisfiable') {
        reply.header('Content-Range', `bytes */${blob.size}`);
        throw new RegistryError('RANGE_INVALID', { message: 'requested range not satisfiable' });
      }
      if (r !== 'invalid') range = r;
    }
    if (!head && !range) {
      const url = await storage.presignedGetUrl(blobKey(blob.digest), PRESIGNED_TTL_S);
      if (url) return reply.code(307).header('Location', url).send();
    }
    if (range) reply.code(206).header('Content-Range', `bytes ${range.start}-${range.end}/${blob.size}`);
    const length = range ? range.end - range.start + 1 : blob.size;
    reply.header('Content-Length', String(length));
    if (head) return reply.send();
    if (length === 0) return reply.send('');
    const stream = await storage.read(blobKey(blob.digest), range);
    return reply.send(stream);
  };

  app.head('/:name/blobs/:digest', read(true));
  app.get('/:name/blobs/:digest', { exposeHeadRoute: false }, read(false));

  // Deleting a blob removes this repository's link to it; the bytes go when the garbage collector
  // finds nothing references them. A blob a manifest of the repository still uses cannot go.
  app.delete('/:name/blobs/:digest', async (req, reply) => {
    const digest = pathDigest((req.params as { digest: string }).digest);
    const repo = existingRepo(req);
    const blob = await findRepositoryBlob(app.db, repo.id, digest.digest);
    if (!blob) throw new RegistryError('BLOB_UNKNOWN', { detail: { digest: digest.digest } });
    await unlinkBlob(app.db, repo.id, blob.id);
    if (await findRepositoryBlob(app.db, repo.id, digest.digest)) {
      throw new RegistryError('UNSUPPORTED', { message: 'the blob is referenced by a manifest of this repository: delete the manifest first' });
    }
    return reply.code(202).header('Content-Length', '0').send();
  });
};
