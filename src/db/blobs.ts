// Blobs (content-addressed, shared by all repositories), their per-repository links, and upload
// sessions. A blob is visible in a repository only through a repository_blob link.
import type { Db } from './index.js';

export interface BlobRow {
  id: number;
  digest: string;
  size: number;
}

export async function findBlob(db: Db, digest: string): Promise<BlobRow | undefined> {
  return db.selectFrom('blob').select(['id', 'digest', 'size']).where('digest', '=', digest).executeTakeFirst();
}

/** The blob with `digest` when it is linked to the repository or referenced by one of its manifests. */
export async function findRepositoryBlob(db: Db, repositoryId: number, digest: string): Promise<BlobRow | undefined> {
  return db
    .selectFrom('blob')
    .select(['blob.id', 'blob.digest', 'blob.size'])
    .where('blob.digest', '=', digest)
    .where((eb) =>
      eb.or([
        eb.exists(eb.selectFrom('repository_blob as rb').select('rb.blob_id').whereRef('rb.blob_id', '=', 'blob.id').where('rb.repository_id', '=', repositoryId)),
        eb.exists(
          eb
            .selectFrom('manifest_blob as mb')
            .innerJoin('manifest as m', 'm.id', 'mb.manifest_id')
            .select('mb.blob_id')
            .whereRef('mb.blob_id', '=', 'blob.id')
            .where('m.repository_id', '=', repositoryId),
        ),
      ]),
    )
    .executeTakeFirst();
}

/**
 * Claims the blob row for a push or a mount, before its bytes are relied on: inserts it, or marks
 * it used now (so the garbage collector's grace starts again). 'deleting' while the garbage
 * collector removes it: the caller waits for the row to go and claims again (src/jobs/gc).
 */
export async function claimBlob(db: Db, digest: string, size: number): Promise<BlobRow | 'deleting'> {
  const now = new Date();
  await db
    .insertInto('blob')
    .values({ digest, size, created: now, last_used: now })
    .onConflict((oc) => oc.column('digest').doUpdateSet({ last_used: now }).where('blob.deleting', '=', false))
    .execute();
  const row = await db.selectFrom('blob').select(['id', 'digest', 'size', 'deleting']).where('digest', '=', digest).executeTakeFirst();
  if (!row || row.deleting) return 'deleting';
  return { id: row.id, digest: row.digest, size: row.size };
}

/** Links a blob to a repository (again: the link's time is what the garbage collector's grace counts from). */
export async function linkBlob(db: Db, repositoryId: number, blobId: number): Promise<void> {
  await db
    .insertInto('repository_blob')
    .values({ repository_id: repositoryId, blob_id: blobId, created: new Date() })
    .onConflict((oc) => oc.columns(['repository_id', 'blob_id']).doUpdateSet({ created: new Date() }))
    .execute();
}

export async function unlinkBlob(db: Db, repositoryId: number, blobId: number): Promise<boolean> {
  const r = await db.deleteFrom('repository_blob').where('repository_id', '=', repositoryId).where('blob_id', '=', blobId).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

// ---- Upload sessions ----

export interface UploadRow {
  id: number;
  uuid: string;
  repository_id: number;
  byte_count: number;
  chunk_count: number;
  hash_state: Buffer | null;
  storage_state: Record<string, unknown>;
  lease_token: string | null;
  lease_expires: Date | null;
  created: Date;
  updated: Date;
}

export async function insertUpload(db: Db, u: { uuid: string; repositoryId: number; hashState: Buffer | null; storageState: Record<string, unknown> }): Promise<UploadRow> {
  return db
    .insertInto('blob_upload')
    .values({ uuid: u.uuid, repository_id: u.repositoryId, hash_state: u.hashState, storage_state: JSON.stringify(u.storageState), created: new Date(), updated: new Date() })
    .returningAll()
    .executeTakeFirstOrThrow() as Promise<UploadRow>;
}

export async function findUpload(db: Db, repositoryId: number, uuid: string): Promise<UploadRow | undefined> {
  return db.selectFrom('blob_upload').selectAll().where('uuid', '=', uuid).where('repository_id', '=', repositoryId).executeTakeFirst() as Promise<UploadRow | undefined>;
}

/**
 * Takes the upload's write lease for `leaseMs`: one request at a time streams into an upload.
 * False when another request holds a live lease.
 */
export async function leaseUpload(db: Db, id: number, token: string, leaseMs: number): Promise<boolean> {
  const now = new Date();
  const r = await db
    .updateTable('blob_upload')
    .set({ lease_token: token, lease_expires: new Date(now.getTime() + leaseMs) })
    .where('id', '=', id)
    .where((eb) => eb.or([eb('lease_expires', 'is', null), eb('lease_expires', '<', now)]))
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/**
 * Extends a lease its holder still has (the request streams on); false when it was lost (expired
 * and taken over), and the holder must stop writing.
 */
export async function renewUpload(db: Db, id: number, token: string, leaseMs: number): Promise<boolean> {
  const r = await db
    .updateTable('blob_upload')
    .set({ lease_expires: new Date(Date.now() + leaseMs) })
    .where('id', '=', id)
    .where('lease_token', '=', token)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/** Voids every write lease: only for a database no other process uses (at start-up). */
export async function releaseAllUploadLeases(db: Db): Promise<void> {
  await db.updateTable('blob_upload').set({ lease_token: null, lease_expires: null }).where('lease_token', 'is not', null).execute();
}

/** Drops the lease without recording anything (the request failed; the upload stays as it was). */
export async function releaseUpload(db: Db, id: number, token: string): Promise<void> {
  await db.updateTable('blob_upload').set({ lease_token: null, lease_expires: null }).where('id', '=', id).where('lease_token', '=', token).execute();
}

/**
 * Records what a request appended and drops its lease. Only applies while the request still holds
 * the lease and the row still holds `expectedBytes`; false otherwise (the lease expired and another
 * request took over).
 */
export async function advanceUpload(
  db: Db,
  id: number,
  token: string,
  expectedBytes: number,
  next: { byteCount: number; hashState: Buffer | null; storageState: Record<string, unknown> },
): Promise<boolean> {
  const r = await db
    .updateTable('blob_upload')
    .set((eb) => ({
      byte_count: next.byteCount,
      chunk_count: eb('chunk_count', '+', 1),
      hash_state: next.hashState,
      storage_state: JSON.stringify(next.storageState),
      lease_token: null,
      lease_expires: null,
      updated: new Date(),
    }))
    .where('id', '=', id)
    .where('lease_token', '=', token)
    .where('byte_count', '=', expectedBytes)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

export async function deleteUpload(db: Db, id: number): Promise<void> {
  await db.deleteFrom('blob_upload').where('id', '=', id).execute();
}

/** Uploads without activity since `before`, for the expiry job. */
export async function listStaleUploads(db: Db, before: Date, limit: number): Promise<UploadRow[]> {
  return db.selectFrom('blob_upload').selectAll().where('updated', '<', before).orderBy('updated').limit(limit).execute() as Promise<UploadRow[]>;
}
