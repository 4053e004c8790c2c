// The S3 driver (@aws-sdk/client-s3): AWS S3 and compatible services (Ceph RADOS Gateway, MinIO…).
// A key is the object `<prefix><key>` in the bucket (prefix: Quay's storage_path).
//
// write(): the body is cut into parts of `partSize` bytes (8 MiB, more for very large known sizes)
// uploaded with up to `concurrency` (3) UploadPart requests in flight; a body smaller than one part
// is a single PutObject. Memory per write is bounded by (concurrency + 1) part buffers, pooled across writes, so a
// 2 GiB push holds 32 MiB however large it is. A multipart upload becomes visible only when
// completed (atomic); on failure it is aborted.
//
// Chunked uploads: S3 cannot append, and parts must be at least 5 MiB except the last, while registry
// clients send chunks of any size. So every appendUpload stores its chunk as its own object,
// uploads/<uuid>/c-<offset>-<nonce> (streamed like write()), and the state lists the chunks. At
// completion the blob is assembled inside S3: a single whole chunk is copied with CopyObject
// (server-side); otherwise a multipart upload takes every run of at least 5 MiB with UploadPartCopy
// (server-side, no bytes through this process) and only joins small neighbouring chunks by reading
// them here, at most 5 MiB per part, in a buffer. Clients that push in one PATCH, or in chunks of
// 5 MiB and more, never send blob bytes back through the server at completion.
//
// Retries: a failed append leaves a stray chunk object or multipart upload under uploads/<uuid>/
// that the state does not list; completeUpload and cancelUpload delete everything under that prefix
// and abort its multipart uploads, so nothing outlives the upload. (Add a bucket lifecycle rule
// aborting incomplete multipart uploads after a few days for processes killed mid-write.)
//
// Ceph RGW (Debian's 16.x, our test target; see test/helpers/ceph-s3.sh):
//  - The SDK (3.729+) sends stream bodies as `aws-chunked` with a checksum trailer, which RGW refuses
//    (411): requestChecksumCalculation is 'WHEN_REQUIRED', and bodies are Buffers of known length.
//  - CompleteMultipartUpload answers with an empty ETag: this driver never needs ETags of objects.
//  - Path-style addressing (forcePathStyle) for non-AWS endpoints.
//  - Bodies are signed as UNSIGNED-PAYLOAD (as the SDK does for streams) so that the payload is not
//    hashed a second time on the event loop: the caller already hashes every byte for its digest.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
  type CompletedPart,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import {
  assertKey,
  assertOffset,
  assertRange,
  StorageError,
  StorageInvalidRange,
  StorageInvalidState,
  StorageNotFound,
  StorageSizeMismatch,
  type BlobDriver,
  type ByteRange,
  type UploadState,
} from './driver.js';
import { isUploadId, uploadChunkKey, uploadPrefix } from './paths.js';
import type { S3Settings } from './settings.js';

const MiB = 1024 * 1024;
/** S3's floor for every part but the last. */
export const MIN_PART_SIZE = 5 * MiB;
/** S3's ceiling for one part, and for CopyObject. */
const MAX_PART_SIZE = 5 * 1024 * MiB;
const MAX_PARTS = 10_000;
/** The longest lifetime SigV4 allows a presigned URL. */
const MAX_PRESIGN_S = 7 * 24 * 3600;

export interface S3DriverOptions extends Omit<S3Settings, 'driver'> {
  /** Bytes per part of write() and of appended chunks (default 8 MiB, at least 5 MiB). */
  partSize?: number;
  /** Parts uploaded (or copied) at once per operation (default 3). */
  concurrency?: number;
}

/** One appended chunk: object uploads/<uuid>/c-<o>-<id>, of which the first `n` bytes count. */
interface Chunk {
  id: string;
  o: number;
  n: number;
  /** The object's own length (n is smaller when a later append overwrote the chunk's tail). */
  t: number;
}

interface S3UploadState extends UploadState {
  driver: 's3';
  v: 1;
  id: string;
  chunks: Chunk[];
}

/** A piece of the final object: a byte range of one chunk object. */
interface Segment {
  key: string;
  start: number;
  length: number;
  objectLength: number;
}

/** A part of the assembled object: copied server-side, or joined here from small segments. */
type PlannedPart = { copy: Segment } | { join: Segment[]; length: number };

const nonce = () => randomBytes(8).toString('hex');

function status(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

/** A missing object (not a missing bucket, which is a configuration error and must surface). */
function isNoSuchKey(err: unknown): boolean {
  const name = (err as Error)?.name;
  return name === 'NoSuchKey' || name === 'NotFound' || (status(err) === 404 && name !== 'NoSuchBucket' && name !== 'NoSuchUpload');
}

export class S3Driver implements BlobDriver {
  readonly name = 's3';
  readonly client: S3Client;
  readonly bucket: string;
  private readonly prefix: string;
  private readonly redirectGets: boolean;
  private readonly partSize: number;
  private readonly concurrency: number;
  /** Part buffers (of partSize) kept between uploads: at most concurrency + 1 of them. */
  private readonly bufferPool: Buffer[] = [];

  constructor(opts: S3DriverOptions) {
    this.bucket = opts.bucket;
    this.prefix = opts.prefix;
    this.redirectGets = opts.redirectGets;
    this.partSize = Math.max(MIN_PART_SIZE, opts.partSize ?? 8 * MiB);
    this.concurrency = Math.max(1, opts.concurrency ?? 3);
    this.client = new S3Client({
      region: opts.region,
      endpoint: opts.endpoint,
      forcePathStyle: opts.forcePathStyle,
      credentials: opts.credentials ? { accessKeyId: opts.credentials.accessKeyId, secretAccessKey: opts.credentials.secretAccessKey } : undefined,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 3,
      requestHandler: {
        httpAgent: new http.Agent({ keepAlive: true, maxSockets: 64 }),
        httpsAgent: new https.Agent({ keepAlive: true, maxSockets: 64 }),
        connectionTimeout: 10_000,
        // Socket idle limit: a hung connection fails instead of stalling a push forever. A pull whose
        // client stops reading for this long loses its stream too.
        requestTimeout: 300_000,
      },
    });
    // Sign request bodies as UNSIGNED-PAYLOAD instead of hashing each part on the event loop.
    this.client.middlewareStack.add(
      (next, context) => async (args) => {
        const req = args.request as { headers?: Record<string, string> };
        if ((context.commandName === 'PutObjectCommand' || context.commandName === 'UploadPartCommand') && req.headers) {
          req.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
        }
        return next(args);
      },
      { step: 'build', name: 'registryUnsignedPayload' },
    );
  }

  /** Fails with a clear message when the bucket is missing or the credentials are refused. */
  async checkBucket(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      const code = status(err);
      const why =
        code === 404 ? 'does not exist' : code === 403 ? 'refuses these credentials (403)' : `cannot be reached (${(err as Error).name}: ${(err as Error).message})`;
      throw new StorageError(`S3 bucket ${this.bucket} ${why}`);
    }
  }

  private objectKey(key: string): string {
    assertKey(key);
    return this.prefix + key;
  }

  async stat(key: string): Promise<{ size: number } | undefined> {
    try {
      const r = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
      return { size: r.ContentLength ?? 0 };
    } catch (err) {
      if (isNoSuchKey(err)) return undefined;
      throw err;
    }
  }

  async read(key: string, range?: ByteRange): Promise<Readable> {
    const Key = this.objectKey(key);
    if (range) assertRange(key, range, undefined);
    let r;
    try {
      r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key, Range: range ? `bytes=${range.start}-${range.end}` : undefined }));
    } catch (err) {
      if (isNoSuchKey(err)) throw new StorageNotFound(key);
      if (status(err) === 416 && range) throw new StorageInvalidRange(key, range, undefined);
      throw err;
    }
    const body = r.Body as Readable;
    if (range) {
      // S3 clamps an end beyond the object; the contract wants the caller's range exactly.
      const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(r.ContentRange ?? '');
      if (!m || Number(m[1]) !== range.start || Number(m[2]) !== range.end) {
        body.destroy();
        throw new StorageInvalidRange(key, range, m ? Number(m[3]) : undefined);
      }
    }
    return body;
  }

  async write(key: string, body: Readable, size?: number): Promise<{ size: number }> {
    const n = await this.upload(this.objectKey(key), body, size);
    return { size: n };
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
  }

  async presignedGetUrl(key: string, ttlS: number): Promise<string | undefined> {
    const Key = this.objectKey(key);
    if (!this.redirectGets) return undefined;
    const expiresIn = Math.min(MAX_PRESIGN_S, Math.max(1, Math.floor(ttlS)));
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key }), { expiresIn });
  }

  async startUpload(uploadId: string): Promise<UploadState> {
    uploadPrefix(uploadId); // validates the id
    const state: S3UploadState = { driver: 's3', v: 1, size: 0, id: uploadId, chunks: [] };
    return state;
  }

  async appendUpload(state: UploadState, offset: number, body: Readable): Promise<{ state: UploadState; size: number }> {
    const s = this.uploadState(state);
    assertOffset(s, offset);
    // Chunks (or their tails) at or beyond `offset` are dropped from the list; their objects stay
    // under the upload's prefix until completion or cancellation removes it.
    const kept: Chunk[] = [];
    for (const c of s.chunks) {
      if (c.o >= offset) break;
      kept.push(c.o + c.n > offset ? { ...c, n: offset - c.o } : c);
    }
    const id = nonce();
    const n = await this.upload(this.objectKey(uploadChunkKey(s.id, offset, id)), body, undefined, true);
    if (n > 0) kept.push({ id, o: offset, n, t: n });
    const next: S3UploadState = { ...s, size: offset + n, chunks: kept };
    return { state: next, size: next.size };
  }

  async completeUpload(state: UploadState, key: string): Promise<void> {
    const s = this.uploadState(state);
    const Key = this.objectKey(key);
    if (!(await this.stat(key))) {
      const segments: Segment[] = s.chunks.map((c) => ({ key: this.objectKey(uploadChunkKey(s.id, c.o, c.id)), start: 0, length: c.n, objectLength: c.t }));
      try {
        await this.assemble(Key, segments);
      } catch (err) {
        if (isNoSuchKey(err)) throw new StorageNotFound(uploadPrefix(s.id));
        throw err;
      }
    }
    await this.removePrefix(this.objectKey(uploadPrefix(s.id)) + '/');
  }

  async *readUpload(state: UploadState): AsyncIterable<Uint8Array> {
    const s = this.uploadState(state);
    // The chunks in order, each up to the length the state records (an object may be longer).
    for (const c of s.chunks) {
      if (c.n === 0) continue;
      const key = uploadChunkKey(s.id, c.o, c.id);
      let body: Readable;
      try {
        body = await this.read(key, { start: 0, end: c.n - 1 });
      } catch (err) {
        if (err instanceof StorageNotFound) throw new StorageNotFound(uploadPrefix(s.id));
        throw err;
      }
      yield* body;
    }
  }

  async cancelUpload(state: UploadState): Promise<void> {
    const s = this.uploadState(state);
    await this.removePrefix(this.objectKey(uploadPrefix(s.id)) + '/');
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  private uploadState(state: UploadState): S3UploadState {
    const s = state as S3UploadState;
    const ok =
      s?.driver === 's3' &&
      s.v === 1 &&
      isUploadId(s.id) &&
      Array.isArray(s.chunks) &&
      s.chunks.every((c) => typeof c.id === 'string' && Number.isSafeInteger(c.o) && Number.isSafeInteger(c.n) && Number.isSafeInteger(c.t));
    if (!ok) throw new StorageInvalidState(`not an S3 upload state (driver ${JSON.stringify(s?.driver)})`);
    return s;
  }

  // ---------------------------------------------------------------------------------------------
  // Streaming upload of one object: PutObject when it fits one part, else a multipart upload.

  /**
   * Consumes `body` once and stores it at `Key`; resolves to its length. An empty body creates an
   * empty object, unless `skipEmpty` (chunks), when nothing is stored.
   */
  private async upload(Key: string, body: Readable, size?: number, skipEmpty = false): Promise<number> {
    const partSize = size !== undefined ? Math.max(this.partSize, Math.ceil(size / MAX_PARTS)) : this.partSize;
    // Buffers of the default size come from (and go back to) the driver's pool, so one upload
    // after another reuses the same memory instead of waiting for the collector to free it.
    const pooled = partSize === this.partSize;
    const free: Buffer[] = [];
    const take = () => free.pop() ?? (pooled ? this.bufferPool.pop() : undefined) ?? Buffer.allocUnsafeSlow(partSize);
    const giveBack = () => {
      if (!pooled) return;
      for (const b of [buf, ...free]) if (this.bufferPool.length <= this.concurrency && !this.bufferPool.includes(b)) this.bufferPool.push(b);
    };
    let buf = take();
    let fill = 0;
    let total = 0;
    let uploadId: string | undefined;
    const parts: CompletedPart[] = [];
    const inflight = new Set<Promise<void>>();
    let failure: unknown;

    const sendPart = async (b: Buffer, n: number) => {
      // Wait for a free slot first: at most `concurrency` parts on the wire, plus one buffer filling.
      while (inflight.size >= this.concurrency) await Promise.race(inflight);
      if (failure) throw failure;
      if (uploadId === undefined) {
        const r = await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key }));
        uploadId = r.UploadId!;
      }
      const PartNumber = parts.length + 1;
      if (PartNumber > MAX_PARTS) throw new StorageError(`object too large for ${MAX_PARTS} parts of ${partSize} bytes`);
      parts.push({ PartNumber });
      const p: Promise<void> = this.client
        .send(new UploadPartCommand({ Bucket: this.bucket, Key, UploadId: uploadId, PartNumber, Body: b.subarray(0, n), ContentLength: n }))
        .then((r) => {
          parts[PartNumber - 1].ETag = r.ETag;
          free.push(b);
        })
        .catch((err: unknown) => {
          failure ??= err;
        })
        .finally(() => inflight.delete(p));
      inflight.add(p);
    };

    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        let off = 0;
        while (off < chunk.length) {
          if (fill === buf.length) {
            // Only now, with more bytes coming, is the full buffer known not to be the last part.
            await sendPart(buf, fill);
            buf = take();
            fill = 0;
          }
          const n = Math.min(chunk.length - off, buf.length - fill);
          chunk.copy(buf, fill, off, off + n);
          fill += n;
          off += n;
          total += n;
        }
      }
      if (size !== undefined && total !== size) throw new StorageSizeMismatch(size, total);
      if (uploadId === undefined) {
        if (total > 0 || !skipEmpty) {
          await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key, Body: buf.subarray(0, fill), ContentLength: fill }));
        }
        giveBack();
        return total;
      }
      await sendPart(buf, fill);
      while (inflight.size > 0) await Promise.race(inflight);
      if (failure) throw failure;
      await this.client.send(new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId: uploadId, MultipartUpload: { Parts: parts } }));
      giveBack();
      return total;
    } catch (err) {
      await Promise.allSettled([...inflight]);
      if (!body.destroyed && !body.readableEnded) body.destroy();
      if (uploadId !== undefined) {
        await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId: uploadId })).catch(() => undefined);
      }
      throw err;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Assembly of a chunked upload inside S3.

  /** Splits the segments into S3 parts: server-side copies where possible, small runs joined here. */
  static plan(segments: Segment[], minPart = MIN_PART_SIZE, maxPart = MAX_PART_SIZE): PlannedPart[] {
    const out: PlannedPart[] = [];
    let run: Segment[] = [];
    let runLength = 0;
    const flush = () => {
      if (runLength > 0) out.push({ join: run, length: runLength });
      run = [];
      runLength = 0;
    };
    const remaining = (i: number) => segments.slice(i + 1).reduce((a, s) => a + s.length, 0);
    segments.forEach((seg, i) => {
      let { start, length } = seg;
      while (length > 0) {
        const last = remaining(i) === 0;
        if (runLength === 0 && (length >= minPart || last)) {
          // Copy the rest of this chunk server-side, in pieces of at most maxPart (each >= minPart).
          const pieces = Math.ceil(length / maxPart);
          for (let p = 0; p < pieces; p++) {
            const a = Math.floor((length * p) / pieces);
            const b = Math.floor((length * (p + 1)) / pieces);
            out.push({ copy: { ...seg, start: start + a, length: b - a } });
          }
          length = 0;
        } else {
          // Too small to stand alone: top up the current run to minPart bytes, then send it.
          const n = Math.min(length, minPart - runLength);
          run.push({ ...seg, start, length: n });
          runLength += n;
          start += n;
          length -= n;
          if (runLength >= minPart) flush();
        }
      }
    });
    flush();
    return out;
  }

  private async assemble(Key: string, segments: Segment[]): Promise<void> {
    if (segments.length === 0) {
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key, Body: Buffer.alloc(0), ContentLength: 0 }));
      return;
    }
    const plan = S3Driver.plan(segments);
    const only = plan.length === 1 ? plan[0] : undefined;
    if (only && 'copy' in only && only.copy.start === 0 && only.copy.length === only.copy.objectLength) {
      await this.client.send(new CopyObjectCommand({ Bucket: this.bucket, Key, CopySource: this.copySource(only.copy.key) }));
      return;
    }
    if (plan.length > MAX_PARTS) throw new StorageError(`upload has too many small chunks to assemble (${plan.length} parts)`);
    const { UploadId } = await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key }));
    const parts: CompletedPart[] = new Array(plan.length);
    try {
      let next = 0;
      const worker = async () => {
        while (next < plan.length) {
          const i = next++;
          const PartNumber = i + 1;
          const part = plan[i];
          if ('copy' in part) {
            const { start, length, key } = part.copy;
            const r = await this.client.send(
              new UploadPartCopyCommand({
                Bucket: this.bucket,
                Key,
                UploadId,
                PartNumber,
                CopySource: this.copySource(key),
                CopySourceRange: `bytes=${start}-${start + length - 1}`,
              }),
            );
            parts[i] = { PartNumber, ETag: r.CopyPartResult?.ETag };
          } else {
            const body = await this.readSegments(part.join, part.length);
            const r = await this.client.send(new UploadPartCommand({ Bucket: this.bucket, Key, UploadId, PartNumber, Body: body, ContentLength: body.length }));
            parts[i] = { PartNumber, ETag: r.ETag };
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(this.concurrency, plan.length) }, worker));
      await this.client.send(new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId, MultipartUpload: { Parts: parts } }));
    } catch (err) {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId })).catch(() => undefined);
      throw err;
    }
  }

  /** Reads byte ranges of chunk objects into one buffer (a joined part: at most MIN_PART_SIZE). */
  private async readSegments(segments: Segment[], length: number): Promise<Buffer> {
    const out = Buffer.allocUnsafe(length);
    let at = 0;
    for (const s of segments) {
      const r = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: s.key, Range: `bytes=${s.start}-${s.start + s.length - 1}` }),
      );
      for await (const chunk of r.Body as AsyncIterable<Buffer>) {
        if (at + chunk.length > out.length) throw new StorageError(`chunk object ${s.key} is longer than recorded`);
        chunk.copy(out, at);
        at += chunk.length;
      }
    }
    if (at !== length) throw new StorageError(`chunk objects held ${at} bytes, ${length} expected`);
    return out;
  }

  private copySource(objectKey: string): string {
    // Keys are [A-Za-z0-9._/-] (assertKey), so nothing needs escaping beyond the bucket/key join.
    return `${this.bucket}/${objectKey}`;
  }

  /** Deletes every object under `prefix` and aborts its unfinished multipart uploads. */
  private async removePrefix(prefix: string): Promise<void> {
    let token: string | undefined;
    do {
      const r = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }));
      const keys = (r.Contents ?? []).map((c) => ({ Key: c.Key! }));
      if (keys.length) {
        const d = await this.client.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: keys, Quiet: true } }));
        const failed = (d.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
        if (failed.length) throw new StorageError(`could not delete ${failed.length} objects under ${prefix}: ${failed[0].Code}`);
      }
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    do {
      const r = await this.client.send(new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: prefix, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }));
      for (const u of r.Uploads ?? []) {
        await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: u.Key!, UploadId: u.UploadId! })).catch((err: unknown) => {
          if ((err as Error).name !== 'NoSuchUpload' && status(err) !== 404) throw err;
        });
      }
      keyMarker = r.IsTruncated ? r.NextKeyMarker : undefined;
      uploadIdMarker = r.IsTruncated ? r.NextUploadIdMarker : undefined;
    } while (keyMarker);
  }
}
