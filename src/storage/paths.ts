// The storage key layout. This is the only module that builds storage keys; every other module asks
// it for one. A key is a relative, slash-separated name: the filesystem driver puts it under its
// root (DATA_DIR/storage by default), the S3 driver under its prefix (Quay's storage_path) in the
// bucket.
//
//   <root>/
//   ├── blobs/                           content-addressed bytes, shared by every repository
//   │   ├── sha256/
//   │   │   └── ab/                      the digest's first two hex digits (at most 256 folders)
//   │   │       └── ab12…ef              64 hex digits: the blob whose digest is sha256:ab12…ef
//   │   └── sha512/
//   │       └── cd/
//   │           └── cd34…01              128 hex digits
//   ├── uploads/                         one folder per chunked upload in progress
//   │   └── <uuid>/                      blob_upload.uuid (lowercase UUID)
//   │       ├── data                     filesystem: the bytes so far, appended in place
//   │       └── c-<offset>-<nonce>       S3: one object per appended chunk; <offset> is where the
//   │                                    chunk starts in the upload (16 digits, so keys sort by it)
//   └── tmp/                             filesystem only: write() stages a file here, fsyncs it,
//       └── <nonce>                      then renames it into place (same filesystem, atomic)
//
// Invariants: a blob key holds exactly the bytes whose digest it names, written only after the
// digest was verified (so an existing blob key never needs rewriting). Everything under
// uploads/<uuid>/ belongs to that upload alone and is removed by completeUpload or cancelUpload.
// Nothing is stored for a repository: which repositories see a blob is in the database.

const DIGEST = /^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$/;
const UPLOAD_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const NONCE = /^[0-9a-z]{1,32}$/;

export const BLOBS_PREFIX = 'blobs';
export const UPLOADS_PREFIX = 'uploads';
export const TMP_PREFIX = 'tmp';

/** The algorithms the layout has room for (the OCI spec's registered ones). */
export const DIGEST_ALGORITHMS = ['sha256', 'sha512'] as const;

function check(ok: boolean, what: string, value: string): void {
  if (!ok) throw new TypeError(`${what} ${JSON.stringify(value).slice(0, 200)} cannot be a storage key`);
}

/** `blobs/sha256/ab/ab12…`: where the blob with this digest (`<algorithm>:<lowercase hex>`) lives. */
export function blobKey(digest: string): string {
  check(typeof digest === 'string' && DIGEST.test(digest), 'digest', digest);
  const [algorithm, hex] = digest.split(':');
  return `${BLOBS_PREFIX}/${algorithm}/${hex.slice(0, 2)}/${hex}`;
}

export function isUploadId(id: string): boolean {
  return typeof id === 'string' && UPLOAD_ID.test(id);
}

/** `uploads/<uuid>`: the folder (S3: the prefix, plus '/') holding everything of one upload. */
export function uploadPrefix(uploadId: string): string {
  check(isUploadId(uploadId), 'upload id', uploadId);
  return `${UPLOADS_PREFIX}/${uploadId}`;
}

/** `uploads/<uuid>/data`: the filesystem driver's single file per upload. */
export function uploadDataKey(uploadId: string): string {
  return `${uploadPrefix(uploadId)}/data`;
}

/** `uploads/<uuid>/c-<offset>-<nonce>`: one chunk of an S3 upload, starting at `offset`. */
export function uploadChunkKey(uploadId: string, offset: number, nonce: string): string {
  check(Number.isSafeInteger(offset) && offset >= 0, 'offset', String(offset));
  check(NONCE.test(nonce), 'nonce', nonce);
  return `${uploadPrefix(uploadId)}/c-${String(offset).padStart(16, '0')}-${nonce}`;
}

/** `tmp/<nonce>`: a filesystem staging file for write(). */
export function tmpKey(nonce: string): string {
  check(NONCE.test(nonce), 'nonce', nonce);
  return `${TMP_PREFIX}/${nonce}`;
}
