// The blob storage driver: bytes only. What a blob is, which repository sees it, how big it must be
// and whether its digest matched all live in Postgres (src/db/); a driver stores and returns bytes
// under keys that src/storage/paths.ts builds, and nothing else builds keys.
//
// Modelled on distribution's StorageDriver (distribution/distribution:
// registry/storage/driver/storagedriver.go): a small interface whose every method states its
// contract, and one conformance suite (test/storage/driver-suite.ts) that every driver passes.
// Unlike distribution there is no List/Move/GetContent: metadata is in the database, and chunked
// uploads are their own four methods, as in Quay's BaseStorageV2 (quay/quay:storage/basestorage.py),
// whose opaque state the caller keeps in blob_upload.storage_state so that any process (another
// replica, or this one after a restart) can continue the upload.
//
// Streams. A body handed to `write` or `appendUpload` is consumed exactly once, front to back, with
// backpressure, and never held whole in memory (a 2 GiB push grows the process by a few tens of MiB
// at most). The caller may hash the same bytes as they flow, by piping the request through its
// hasher into the driver. If the body errors (the client went away), the method rejects with that
// same error and leaves nothing visible behind; if the driver fails on its side (disk full, S3
// error), it destroys the body so that a pipeline feeding it ends too.
import type { Readable } from 'node:stream';

/**
 * The opaque, JSON-serialisable state of a chunked upload: store it as is (blob_upload.storage_state)
 * and read it back with parseUploadState. `size` is the number of bytes the upload holds.
 */
export type UploadState = { readonly driver: string; readonly v: number; readonly size: number } & Readonly<Record<string, unknown>>;

/** Checks the outer shape of a stored state (each driver checks its own fields when it uses it). */
export function parseUploadState(json: unknown): UploadState {
  const s = typeof json === 'string' ? (JSON.parse(json) as unknown) : json;
  if (
    typeof s !== 'object' ||
    s === null ||
    typeof (s as UploadState).driver !== 'string' ||
    typeof (s as UploadState).v !== 'number' ||
    !Number.isSafeInteger((s as UploadState).size) ||
    (s as UploadState).size < 0
  ) {
    throw new StorageInvalidState('not an upload state');
  }
  return s as UploadState;
}

/** An inclusive byte range, as in HTTP: { start: 0, end: 9 } is the first ten bytes. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface BlobDriver {
  /** 'filesystem' or 's3': for logs and for tests that skip driver-specific checks. */
  readonly name: string;

  /**
   * The size of the object at `key`, or undefined when there is none. Never throws for a missing
   * key; throws for anything else (permissions, network).
   */
  stat(key: string): Promise<{ size: number } | undefined>;

  /**
   * A stream of the object's bytes, or of `range` of them. Throws StorageNotFound when the key is
   * absent, and StorageInvalidRange unless 0 <= start <= end < size (the caller clamps an HTTP
   * range against the blob's size first; an empty object has no valid range). The stream is a
   * snapshot: if the key is overwritten or deleted while it is read, the reader still gets the
   * old bytes whole, or (S3, after a delete) an error, never a mix.
   */
  read(key: string, range?: ByteRange): Promise<Readable>;

  /**
   * Stores `body` as the object `key`, replacing any object there. Atomic: until it resolves,
   * readers see the old object (or none); afterwards the whole new one; never a partial write. On
   * the filesystem the bytes are on disk (fsynced) when it resolves. When `size` is given and the
   * body is not exactly that long, it throws StorageSizeMismatch and stores nothing. Resolves to
   * the number of bytes stored.
   */
  write(key: string, body: Readable, size?: number): Promise<{ size: number }>;

  /** Removes the object at `key`. Idempotent: removing a missing key succeeds. */
  delete(key: string): Promise<void>;

  /**
   * A URL from which a client may GET the object (Range requests included) for `ttlS` seconds
   * without credentials, when the driver can issue one and redirects are enabled in the config
   * (STORAGE_REDIRECT_GETS). Otherwise undefined, and the caller streams the bytes itself. Does not
   * check that the object exists.
   */
  presignedGetUrl(key: string, ttlS: number): Promise<string | undefined>;

  /**
   * Begins a chunked upload under uploads/<uploadId>/ (uploadId: a lowercase UUID, the
   * blob_upload row's uuid). Writes nothing yet, so a start that is never recorded leaks nothing.
   * The returned state has `size` 0.
   */
  startUpload(uploadId: string): Promise<UploadState>;

  /**
   * Appends `body` to the upload at byte `offset`. Resolves to the new state and `size`, the
   * upload's total length (offset + the bytes of body; also `state.size`). `offset` must be at
   * most `state.size`, else StorageInvalidOffset. Bytes at or beyond `offset` (left by an earlier
   * attempt that failed or whose new state was never recorded, or deliberately overwritten by
   * passing a smaller offset) are discarded first. The appended bytes are durable when it
   * resolves. If it rejects, the upload is still exactly as `state` describes: the caller may retry
   * with the same state and offset. Only the returned state knows the new bytes; the caller must
   * store it before the next call. Two appends to one upload must not run at once (the caller
   * locks the upload row).
   */
  appendUpload(state: UploadState, offset: number, body: Readable): Promise<{ state: UploadState; size: number }>;

  /**
   * A stream of the upload's first `state.size` bytes, as completeUpload would store them (a
   * digest of an algorithm the upload was not hashed with is checked this way). The upload is
   * left as it is. Throws StorageNotFound when its bytes are gone.
   */
  readUpload(state: UploadState): AsyncIterable<Uint8Array>;

  /**
   * Makes the upload's first `state.size` bytes the object `key` (the content-addressed place,
   * after the caller verified the digest) and removes the upload's leftovers. If `key` already
   * exists its bytes are kept (same digest, same bytes) and the upload is just removed, so calling
   * it again after a crash is safe. Readers see no object at `key` until it is whole.
   */
  completeUpload(state: UploadState, key: string): Promise<void>;

  /** Removes everything stored for the upload. Idempotent. */
  cancelUpload(state: UploadState): Promise<void>;

  /** Releases connections and handles; called once when the app closes. */
  close(): Promise<void>;
}

/** Base class of the errors a driver throws on purpose (anything else is an I/O or network error). */
export class StorageError extends Error {
  override name = 'StorageError';
}

/** The key has no object (read), or an upload's bytes are gone (completeUpload). */
export class StorageNotFound extends StorageError {
  override name = 'StorageNotFound';
  constructor(readonly key: string) {
    super(`no object at storage key ${key}`);
  }
}

/** A read range outside the object (HTTP 416 territory). */
export class StorageInvalidRange extends StorageError {
  override name = 'StorageInvalidRange';
  constructor(
    readonly key: string,
    readonly range: ByteRange,
    readonly size: number | undefined,
  ) {
    super(`range ${range.start}-${range.end} is outside the object at ${key}${size === undefined ? '' : ` (${size} bytes)`}`);
  }
}

/** appendUpload at an offset beyond what the upload holds. */
export class StorageInvalidOffset extends StorageError {
  override name = 'StorageInvalidOffset';
  constructor(
    readonly offset: number,
    readonly size: number,
  ) {
    super(`offset ${offset} is beyond the ${size} bytes the upload holds`);
  }
}

/** write(key, body, size): the body was not `size` bytes long. */
export class StorageSizeMismatch extends StorageError {
  override name = 'StorageSizeMismatch';
  constructor(
    readonly expected: number,
    readonly actual: number,
  ) {
    super(`expected ${expected} bytes, the body had ${actual}`);
  }
}

/** A key not built by paths.ts: a programming error. */
export class StorageInvalidKey extends StorageError {
  override name = 'StorageInvalidKey';
}

/** An upload state that is malformed or belongs to another driver (the config changed mid-upload). */
export class StorageInvalidState extends StorageError {
  override name = 'StorageInvalidState';
}

// Keys are relative, slash-separated, lowercase-ish names; no '.' or '..' segments, no empty
// segments. Both drivers check every key they are given, so a bug upstream cannot escape the root.
const KEY = /^[A-Za-z0-9_-][A-Za-z0-9._-]*(\/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$/;

export function assertKey(key: string): void {
  if (typeof key !== 'string' || key.length > 1024 || !KEY.test(key) || key.split('/').some((s) => s === '.' || s === '..')) {
    throw new StorageInvalidKey(`invalid storage key ${JSON.stringify(key)}`);
  }
}

export function assertRange(key: string, range: ByteRange, size: number | undefined): void {
  const ok =
    Number.isSafeInteger(range.start) &&
    Number.isSafeInteger(range.end) &&
    range.start >= 0 &&
    range.end >= range.start &&
    (size === undefined || range.end < size);
  if (!ok) throw new StorageInvalidRange(key, range, size);
}

export function assertOffset(state: UploadState, offset: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || offset > state.size) throw new StorageInvalidOffset(offset, state.size);
}
