// Blob uploads (spec "Pushing blobs", "Mounting a blob from another repository"):
//   POST   /v2/<name>/blobs/uploads/                    open a session (202), or
//          ?digest=<d> with the body                     push monolithically (201), or
//          ?mount=<d>&from=<repo>                        mount a blob the caller may read (201; else a session, 202)
//   PATCH  /v2/<name>/blobs/uploads/<uuid>              append a chunk (202), in order (else 416)
//   PUT    /v2/<name>/blobs/uploads/<uuid>?digest=<d>   optional last chunk, verify, commit (201)
//   GET    /v2/<name>/blobs/uploads/<uuid>              where the upload stands (204)
//   DELETE /v2/<name>/blobs/uploads/<uuid>              cancel (204)
//
// A session is a blob_upload row: the bytes so far live in storage under uploads/<uuid>, the
// storage driver's state and the running hash state in the row, so any process can take the next
// request. One request at a time writes to a session (a lease on the row). Bytes stream from the
// request through the hasher into storage; a blob becomes visible (a blob row and a link to the
// repository) only after its digest is verified.
import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import {
  advanceUpload,
  claimBlob,
  deleteUpload,
  findRepositoryBlob,
  findUpload,
  insertUpload,
  leaseUpload,
  linkBlob,
  releaseUpload,
  renewUpload,
  type UploadRow,
} from '../db/blobs.js';
import { parseUploadState, type UploadState } from '../storage/driver.js';
import { blobKey } from '../storage/paths.js';
import { existingRepo, mayAccessRepo } from './access.js';
import { digestOfStream, hashBody, hasherForRequest, initialHashState, parseDigest, parseDigestAlgorithm, UploadHasher, type ParsedDigest } from './digest.js';
import { RegistryError } from './errors.js';

/**
 * A request holds an upload's write lease while it streams, renewing it every LEASE_RENEW_MS; a
 * server that dies leaves a lease that lapses after LEASE_MS (at once on restart with the embedded
 * database, which no other process shares), and the client's retry takes over.
 */
const LEASE_MS = 30_000;
const LEASE_RENEW_MS = 10_000;

type Query = Record<string, string | string[] | undefined>;
const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);

function uploadPath(name: string, uuid: string) {
  return `/v2/${name}/blobs/uploads/${uuid}`;
}

/** The Range header of an upload holding `size` bytes: `0-<last byte>` (the spec's form). */
function rangeOf(size: number) {
  return `0-${Math.max(size - 1, 0)}`;
}

function sessionHeaders(reply: FastifyReply, name: string, upload: Pick<UploadRow, 'uuid'>, size: number) {
  return reply
    .header('Location', uploadPath(name, upload.uuid))
    .header('Range', rangeOf(size))
    .header('Docker-Upload-UUID', upload.uuid)
    .header('Content-Length', '0');
}

/** The digest query parameter of a completing request: 400 DIGEST_INVALID when missing or unusable. */
function queryDigest(value: string | undefined): ParsedDigest {
  if (!value) throw new RegistryError('DIGEST_INVALID', { message: 'the digest query parameter is required' });
  const d = parseDigest(value);
  if (!d) throw new RegistryError('DIGEST_INVALID', { message: 'invalid digest or unsupported algorithm', detail: { digest: value.slice(0, 200) } });
  return d;
}

/** `<start>-<end>` (inclusive; a `bytes=`/`bytes ` prefix tolerated), or undefined when absent. */
function contentRange(req: FastifyRequest): { start: number; end: number } | undefined {
  const h = req.headers['content-range'];
  if (h === undefined) return undefined;
  const m = /^(?:bytes[ =])?(\d{1,15})-(\d{1,15})(?:\/(?:\d+|\*))?$/.exec(h.trim());
  if (!m || Number(m[2]) < Number(m[1])) throw new RegistryError('INVALID_REQUEST', { message: 'malformed Content-Range header' });
  return { start: Number(m[1]), end: Number(m[2]) };
}

/** Whether the request carries a body (a declared length above 0, or a chunked one). */
function hasBody(req: FastifyRequest): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const len = req.headers['content-length'];
  return len !== undefined && Number(len) > 0;
}

function declaredLength(req: FastifyRequest): number | undefined {
  const len = req.headers['content-length'];
  return len === undefined || req.headers['transfer-encoding'] !== undefined ? undefined : Number(len);
}

export const uploadRoutes: FastifyPluginAsync = async (app) => {
  const { db, storage } = app;

  const notFound = (uuid: string) => new RegistryError('BLOB_UPLOAD_UNKNOWN', { detail: { uuid: uuid.slice(0, 100) } });

  async function sessionOf(req: FastifyRequest): Promise<UploadRow> {
    const repo = existingRepo(req);
    const { uuid } = req.params as { uuid: string };
    const upload = /^[0-9a-f-]{36}$/.test(uuid) ? await findUpload(db, repo.id, uuid) : undefined;
    if (!upload) throw notFound(uuid);
    return upload;
  }

  /** 416 with where the upload stands, for a chunk that does not start there. */
  function outOfOrder(reply: FastifyReply, name: string, upload: UploadRow): RegistryError {
    sessionHeaders(reply, name, upload, upload.byte_count).removeHeader('Content-Length');
    return new RegistryError('RANGE_INVALID', { message: 'the chunk does not start where the upload stands', detail: { size: upload.byte_count } });
  }

  /**
   * Stores a verified upload as the blob and links it to the repository. The blob row is claimed
   * first (so the garbage collector cannot take bytes this push relies on), then the bytes are put
   * in place, then the link makes the blob visible.
   */
  async function commit(repoId: number, state: UploadState, digest: string, size: number, uploadId?: number) {
    const blob = await claimBlobWaiting(digest, size);
    await storage.completeUpload(state, blobKey(digest));
    await db.transaction().execute(async (trx) => {
      await linkBlob(trx, repoId, blob.id);
      if (uploadId !== undefined) await deleteUpload(trx, uploadId);
    });
  }

  /** claimBlob, waiting (a few seconds at most) while the garbage collector finishes removing the blob. */
  async function claimBlobWaiting(digest: string, size: number) {
    for (let attempt = 0; attempt < 50; attempt++) {
      const claimed = await claimBlob(db, digest, size);
      if (claimed !== 'deleting') return claimed;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new RegistryError('UNAVAILABLE', { message: 'the blob is being garbage-collected; retry' });
  }

  function created(reply: FastifyReply, name: string, digest: string) {
    return reply.code(201).header('Location', `/v2/${name}/blobs/${digest}`).header('Docker-Content-Digest', digest).header('Content-Length', '0').send();
  }

  app.post('/:name/blobs/uploads/', async (req, reply) => {
    const repo = existingRepo(req);
    const name = req.repoAccess.full;
    const q = req.query as Query;

    const mount = first(q.mount);
    const from = first(q.from);
    if (mount !== undefined && from !== undefined) {
      // Only from a repository the caller may read; when the mount cannot be made, a session opens.
      const d = parseDigest(mount);
      const source = d ? await mayAccessRepo(req, 'pull', from) : undefined;
      const blob = d && source?.repo ? await findRepositoryBlob(db, source.repo.id, d.digest) : undefined;
      const claimed = blob && (await claimBlob(db, blob.digest, blob.size));
      if (claimed && claimed !== 'deleting') {
        req.raw.resume();
        await linkBlob(db, repo.id, claimed.id);
        return created(reply, name, claimed.digest);
      }
    }

    const digestParam = first(q.digest);
    if (digestParam !== undefined) {
      // Monolithic push: the whole blob in this request, hashed natively on the way to storage.
      const d = queryDigest(digestParam);
      const state = await storage.startUpload(randomUUID());
      const hasher = hasherForRequest({ state: null, finalDigest: d });
      let result: { state: UploadState; size: number };
      try {
        result = await storage.appendUpload(state, 0, hashBody(req.raw, hasher));
      } catch (err) {
        hasher.dispose();
        await storage.cancelUpload(state).catch(() => {});
        throw err;
      }
      const got = await hasher.digest(d.algorithm);
      hasher.dispose();
      const expected = declaredLength(req);
      if (got !== d.digest || (expected !== undefined && expected !== result.size)) {
        await storage.cancelUpload(result.state).catch(() => {});
        if (got !== d.digest) throw new RegistryError('DIGEST_INVALID', { detail: { digest: d.digest } });
        throw new RegistryError('SIZE_INVALID', { detail: { expected, received: result.size } });
      }
      await commit(repo.id, result.state, d.digest, result.size);
      return created(reply, name, d.digest);
    }

    const algParam = first(q['digest-algorithm']);
    const algorithm = algParam === undefined ? undefined : parseDigestAlgorithm(algParam);
    if (algParam !== undefined && !algorithm) throw new RegistryError('DIGEST_INVALID', { message: 'unsupported digest algorithm' });
    req.raw.resume();
    const uuid = randomUUID();
    const state = await storage.startUpload(uuid);
    const upload = await insertUpload(db, { uuid, repositoryId: repo.id, hashState: initialHashState(algorithm), storageState: state });
    return sessionHeaders(reply.code(202), name, upload, 0).send();
  });

  app.get('/:name/blobs/uploads/:uuid', async (req, reply) => {
    const upload = await sessionOf(req);
    return sessionHeaders(reply.code(204), req.repoAccess.full, upload, upload.byte_count).send();
  });

  /**
   * Streams the request body (if any) into the session under its lease and records it. Returns the
   * hasher (still holding the bytes' hash) and the new state; the caller disposes of the hasher.
   */
  async function append(req: FastifyRequest, reply: FastifyReply, upload: UploadRow, finalDigest?: ParsedDigest) {
    const name = req.repoAccess.full;
    const range = contentRange(req);
    if (range && range.start !== upload.byte_count) throw outOfOrder(reply, name, upload);
    const length = declaredLength(req);
    if (range && length !== undefined && range.end - range.start + 1 !== length) {
      throw new RegistryError('SIZE_INVALID', { message: 'Content-Range and Content-Length disagree' });
    }
    const token = randomUUID();
    if (!(await leaseUpload(db, upload.id, token, LEASE_MS))) throw outOfOrder(reply, name, upload);
    // Renewed while the request lives; a lost lease (this process stalled past LEASE_MS and another
    // request took over) stops the stream, so two writers never share the upload's bytes.
    const heartbeat = setInterval(() => {
      renewUpload(db, upload.id, token, LEASE_MS).then(
        (held) => {
          if (!held) req.raw.destroy(new Error('upload lease lost'));
        },
        (err: unknown) => req.log.warn({ err }, 'renewing an upload lease failed'),
      );
    }, LEASE_RENEW_MS);
    heartbeat.unref();
    const stopHeartbeat = () => clearInterval(heartbeat);
    let hasher: ReturnType<typeof hasherForRequest> | undefined;
    try {
      hasher = hasherForRequest({ state: upload.hash_state, finalDigest });
      let state = parseUploadState(upload.storage_state);
      let size = upload.byte_count;
      if (hasBody(req)) {
        ({ state, size } = await storage.appendUpload(state, upload.byte_count, hashBody(req.raw, hasher)));
        if ((range && size - upload.byte_count !== range.end - range.start + 1) || (length !== undefined && size - upload.byte_count !== length)) {
          throw new RegistryError('SIZE_INVALID', { message: 'the chunk is not as long as declared' });
        }
      } else {
        req.raw.resume();
      }
      return { hasher, state, size, token, stopHeartbeat };
    } catch (err) {
      stopHeartbeat();
      hasher?.dispose();
      await releaseUpload(db, upload.id, token).catch(() => {});
      throw err;
    }
  }

  app.patch('/:name/blobs/uploads/:uuid', async (req, reply) => {
    const upload = await sessionOf(req);
    const { hasher, state, size, token, stopHeartbeat } = await append(req, reply, upload);
    try {
      const hashState = hasher instanceof UploadHasher ? hasher.save() : null;
      if (!(await advanceUpload(db, upload.id, token, upload.byte_count, { byteCount: size, hashState, storageState: state }))) {
        throw outOfOrder(reply, req.repoAccess.full, upload);
      }
    } finally {
      stopHeartbeat();
      hasher.dispose();
    }
    return sessionHeaders(reply.code(202), req.repoAccess.full, upload, size).send();
  });

  app.put('/:name/blobs/uploads/:uuid', async (req, reply) => {
    const repo = existingRepo(req);
    const d = queryDigest(first((req.query as Query).digest));
    const upload = await sessionOf(req);
    const { hasher, state, size, token, stopHeartbeat } = await append(req, reply, upload, d);
    let got: string;
    try {
      // Hashed as it arrived; or, for a digest of another algorithm, read back (digest.ts).
      got = hasher.has(d.algorithm) ? await hasher.digest(d.algorithm) : await digestOfStream(storage.readUpload(state), d.algorithm);
    } catch (err) {
      stopHeartbeat();
      await releaseUpload(db, upload.id, token).catch(() => {});
      throw err;
    } finally {
      hasher.dispose();
    }
    if (got !== d.digest) {
      stopHeartbeat();
      // As Quay: a failed commit ends the session.
      await storage.cancelUpload(state).catch(() => {});
      await deleteUpload(db, upload.id);
      throw new RegistryError('DIGEST_INVALID', { detail: { digest: d.digest } });
    }
    try {
      await commit(repo.id, state, d.digest, size, upload.id);
    } catch (err) {
      // The session stays as recorded (a retry appends at the recorded offset again).
      await releaseUpload(db, upload.id, token).catch(() => {});
      throw err;
    } finally {
      stopHeartbeat();
    }
    return created(reply, req.repoAccess.full, d.digest);
  });

  app.delete('/:name/blobs/uploads/:uuid', async (req, reply) => {
    const upload = await sessionOf(req);
    await storage.cancelUpload(parseUploadState(upload.storage_state));
    await deleteUpload(db, upload.id);
    return reply.code(204).send();
  });
};
