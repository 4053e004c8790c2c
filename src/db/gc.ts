// The garbage collector's queries (src/jobs/gc.ts and src/jobs/upload-expiry.ts run them). Every
// function reads or changes a bounded batch in one short statement or transaction; none touches
// storage. Times come from the caller (the sweep's clock, in JS time like the rows it compares
// with: claimBlob, linkBlob and the tag functions write `new Date()` / `Date.now()`).
//
// What is alive (everything else is garbage):
//
//   manifest  a live tag points at it (lifetime_end_ms null or in the future; hidden `$temp-…` tags
//             too while unexpired); or a visible tag whose lifetime ended within the namespace's
//             time-machine window (namespace.tag_expiration_s) does, so the tag can be restored;
//             or a manifest lists it (manifest_child); or its subject_digest names a manifest of
//             the same repository (referrers live as long as their subject).
//   blob      a manifest references it (manifest_blob); or a repository_blob link younger than the
//             grace period exists; or blob.last_used is within the grace period.
//   link      younger than the grace period, or a manifest of its repository references the blob.
//
// A manifest kept by a parent or a subject is judged again once that one is gone: the collector
// follows the children and referrers of what it deletes (src/jobs/gc.ts).
import { sql, type RawBuilder } from 'kysely';
import type { Db, Trx } from './index.js';

// ---- Tags ----

export interface EndedTagPage {
  /** Rows looked at (0: no more). */
  scanned: number;
  deleted: number;
  /** Where the next page starts. */
  cursor: { endMs: number; id: number } | undefined;
}

/**
 * Removes, among the next `limit` tag rows whose lifetime ended by `nowMs` (in end order, after
 * `cursor`), those no longer needed: hidden tags (never restorable) and visible tags whose
 * lifetime ended before the namespace's time-machine window. They keep nothing alive any more.
 */
export async function deleteEndedTags(db: Db, nowMs: number, limit: number, cursor?: { endMs: number; id: number }): Promise<EndedTagPage> {
  let q = db
    .selectFrom('tag as t')
    .innerJoin('repository as r', 'r.id', 't.repository_id')
    .innerJoin('namespace as n', 'n.id', 'r.namespace_id')
    .select(['t.id', 't.lifetime_end_ms', 't.hidden', 'n.tag_expiration_s'])
    .where('t.lifetime_end_ms', 'is not', null)
    .where('t.lifetime_end_ms', '<=', nowMs)
    .orderBy('t.lifetime_end_ms')
    .orderBy('t.id')
    .limit(limit);
  if (cursor) q = q.where(sql<boolean>`(t.lifetime_end_ms, t.id) > (${cursor.endMs}::bigint, ${cursor.id}::bigint)`);
  const rows = await q.execute();
  const last = rows.at(-1);
  const ids = rows.filter((r) => r.hidden || Number(r.lifetime_end_ms) <= nowMs - r.tag_expiration_s * 1000).map((r) => r.id);
  let deleted = 0;
  if (ids.length) deleted = Number((await db.deleteFrom('tag').where('id', 'in', ids).executeTakeFirst()).numDeletedRows);
  return { scanned: rows.length, deleted, cursor: last ? { endMs: Number(last.lifetime_end_ms), id: last.id } : undefined };
}

// ---- Manifests ----

/**
 * True for the manifest `m` (joined with its namespace as `n`) when nothing keeps it alive at
 * `nowMs`; see the header. Evaluated by each statement afresh, so a statement run after a lock
 * sees every reference committed before it.
 */
function manifestIsGarbage(nowMs: number): RawBuilder<boolean> {
  return sql<boolean>`(
    not exists (
      select 1 from tag t
      where t.manifest_id = m.id
        and (t.lifetime_end_ms is null
          or t.lifetime_end_ms > ${nowMs}::bigint - case when t.hidden then 0 else n.tag_expiration_s::bigint * 1000 end))
    and not exists (select 1 from manifest_child mc where mc.child_manifest_id = m.id)
    and not exists (select 1 from manifest s where s.repository_id = m.repository_id and s.digest = m.subject_digest)
  )`;
}

/** The next `limit` manifest ids after `afterId`, in id order (a page of the whole table). */
export async function pageManifestIds(db: Db, afterId: number, limit: number): Promise<number[]> {
  const rows = await db.selectFrom('manifest').select('id').where('id', '>', afterId).orderBy('id').limit(limit).execute();
  return rows.map((r) => r.id);
}

/** Those of `ids` that are garbage at `nowMs`. */
export async function filterGarbageManifests(db: Db, ids: readonly number[], nowMs: number): Promise<number[]> {
  if (ids.length === 0) return [];
  const { rows } = await sql<{ id: number | string }>`
    select m.id from manifest m
    join repository r on r.id = m.repository_id
    join namespace n on n.id = r.namespace_id
    where m.id in (${sql.join(ids.map((id) => sql`${id}::bigint`))}) and ${manifestIsGarbage(nowMs)}
    order by m.id`.execute(db);
  return rows.map((r) => Number(r.id));
}

export interface DeletedManifests {
  deleted: { id: number; repositoryId: number; digest: string }[];
  /** Children and referrers of the deleted manifests: they may be garbage now. */
  orphans: number[];
}

/**
 * Deletes those of `ids` that are still garbage (their tags, labels and references cascade).
 * Locks the rows first and skips any locked by someone else (a push putting a tag on one, or an
 * index listing one, holds a key-share lock on it until it commits: that manifest is not garbage,
 * and the next sweep judges it again); the garbage test then runs in a statement started after the
 * locks, so it sees every reference committed before.
 */
export async function deleteGarbageManifests(trx: Trx, ids: readonly number[], nowMs: number): Promise<DeletedManifests> {
  if (ids.length === 0) return { deleted: [], orphans: [] };
  const locked = (await trx.selectFrom('manifest').select('id').where('id', 'in', [...ids]).forUpdate().skipLocked().execute()).map((r) => r.id);
  if (locked.length === 0) return { deleted: [], orphans: [] };
  const children = await trx.selectFrom('manifest_child').select('child_manifest_id').distinct().where('manifest_id', 'in', locked).execute();
  const { rows } = await sql<{ id: number | string; repository_id: number; digest: string }>`
    delete from manifest m
    using repository r, namespace n
    where m.id in (${sql.join(locked.map((id) => sql`${id}::bigint`))})
      and r.id = m.repository_id and n.id = r.namespace_id
      and ${manifestIsGarbage(nowMs)}
    returning m.id, m.repository_id, m.digest`.execute(trx);
  const deleted = rows.map((r) => ({ id: Number(r.id), repositoryId: r.repository_id, digest: r.digest }));
  if (deleted.length === 0) return { deleted, orphans: [] };
  const referrers = await trx
    .selectFrom('manifest')
    .select('id')
    .where('repository_id', 'in', [...new Set(deleted.map((d) => d.repositoryId))])
    .where('subject_digest', 'in', [...new Set(deleted.map((d) => d.digest))])
    .execute();
  const gone = new Set(deleted.map((d) => d.id));
  const orphans = [...new Set([...children.map((c) => c.child_manifest_id), ...referrers.map((r) => r.id)])].filter((id) => !gone.has(id));
  return { deleted, orphans };
}

// ---- Repository links ----

export interface LinkKey {
  repositoryId: number;
  blobId: number;
}

export interface LinkPage {
  scanned: number;
  deleted: number;
  cursor: LinkKey | undefined;
}

/**
 * Removes, among the next `limit` links after `cursor` (primary-key order), those created before
 * `cutoff` whose blob no manifest of the link's repository references. The blob stays visible in
 * the repository through its manifests otherwise; an upload the client never referenced is gone
 * for it. One statement: a link renewed meanwhile (a push or mount of the same blob) is re-checked
 * against its new time and kept.
 */
export async function deleteStaleLinks(db: Db, cutoff: Date, limit: number, cursor?: LinkKey): Promise<LinkPage> {
  let q = db.selectFrom('repository_blob').select(['repository_id', 'blob_id', 'created']).orderBy('repository_id').orderBy('blob_id').limit(limit);
  if (cursor) q = q.where(sql<boolean>`(repository_id, blob_id) > (${cursor.repositoryId}::int, ${cursor.blobId}::bigint)`);
  const rows = await q.execute();
  const last = rows.at(-1);
  const old = rows.filter((r) => new Date(r.created).getTime() < cutoff.getTime());
  let deleted = 0;
  if (old.length) {
    const r = await sql`
      delete from repository_blob rb
      where (rb.repository_id, rb.blob_id) in (${sql.join(old.map((k) => sql`(${k.repository_id}::int, ${k.blob_id}::bigint)`))})
        and rb.created < ${cutoff}
        and not exists (
          select 1 from manifest_blob mb join manifest m on m.id = mb.manifest_id
          where mb.blob_id = rb.blob_id and m.repository_id = rb.repository_id)`.execute(db);
    deleted = Number(r.numAffectedRows ?? 0);
  }
  return { scanned: rows.length, deleted, cursor: last ? { repositoryId: last.repository_id, blobId: last.blob_id } : undefined };
}

// ---- Blobs ----

export interface DoomedBlob {
  id: number;
  digest: string;
  size: number;
}

/** The next `limit` blob ids after `afterId`, in id order. */
export async function pageBlobIds(db: Db, afterId: number, limit: number): Promise<number[]> {
  const rows = await db.selectFrom('blob').select('id').where('id', '>', afterId).orderBy('id').limit(limit).execute();
  return rows.map((r) => r.id);
}

/** Unreferenced, unlinked and unused since `cutoff`: the blob `b` may be removed. */
function blobIsGarbage(cutoff: Date): RawBuilder<boolean> {
  return sql<boolean>`(
    b.last_used < ${cutoff}
    and not exists (select 1 from repository_blob rb where rb.blob_id = b.id)
    and not exists (select 1 from manifest_blob mb where mb.blob_id = b.id)
  )`;
}

/**
 * Among `ids`: the blobs that are garbage at `cutoff` (not marked yet), and the rows marked
 * `deleting` before `staleBefore` (their collector stopped before finishing: a crash, or a lost
 * lease; younger marks belong to a collector still at work).
 */
export async function findBlobsToRemove(db: Db, ids: readonly number[], cutoff: Date, staleBefore: Date): Promise<{ garbage: number[]; abandoned: DoomedBlob[] }> {
  if (ids.length === 0) return { garbage: [], abandoned: [] };
  const { rows } = await sql<{ id: number | string; digest: string; size: number | string; deleting: boolean }>`
    select b.id, b.digest, b.size, b.deleting from blob b
    where b.id in (${sql.join(ids.map((id) => sql`${id}::bigint`))})
      and ((b.deleting and b.last_used < ${staleBefore}) or (not b.deleting and ${blobIsGarbage(cutoff)}))
    order by b.id`.execute(db);
  return {
    garbage: rows.filter((r) => !r.deleting).map((r) => Number(r.id)),
    abandoned: rows.filter((r) => r.deleting).map((r) => ({ id: Number(r.id), digest: r.digest, size: Number(r.size) })),
  };
}

/**
 * The first half of removing blobs (the collector's side of the protocol whose other half is
 * claimBlob in src/db/blobs.ts and the manifest PUT in src/registry/manifests.ts): locks the rows
 * (FOR UPDATE, skipping rows a push holds: a claim updating last_used, or a manifest PUT locking
 * its blobs FOR SHARE until its references commit), checks again in a fresh statement that each is
 * unreferenced, unlinked and unused since `cutoff`, and marks those `deleting` (with `last_used` =
 * `now`: when the mark was made). Run it in its own short transaction and commit before touching
 * storage. From the commit on, a claim waits for the row to go and a manifest PUT refuses the blob.
 */
export async function markBlobsDeleting(trx: Trx, ids: readonly number[], cutoff: Date, now: Date): Promise<DoomedBlob[]> {
  if (ids.length === 0) return [];
  const locked = (await trx.selectFrom('blob').select('id').where('id', 'in', [...ids]).where('deleting', '=', false).forUpdate().skipLocked().execute()).map((r) => r.id);
  if (locked.length === 0) return [];
  const { rows } = await sql<{ id: number | string; digest: string; size: number | string }>`
    update blob b set deleting = true, last_used = ${now}
    where b.id in (${sql.join(locked.map((id) => sql`${id}::bigint`))}) and not b.deleting and ${blobIsGarbage(cutoff)}
    returning b.id, b.digest, b.size`.execute(trx);
  return rows.map((r) => ({ id: Number(r.id), digest: r.digest, size: Number(r.size) })).sort((a, b) => a.id - b.id);
}

/** The last step: removes the marked row (its bytes are already gone). False when it was already removed. */
export async function deleteMarkedBlob(db: Db, id: number): Promise<boolean> {
  const r = await db.deleteFrom('blob').where('id', '=', id).where('deleting', '=', true).executeTakeFirst();
  return Number(r.numDeletedRows) === 1;
}

// ---- Upload sessions ----

export interface StaleUpload {
  id: number;
  uuid: string;
  storageState: unknown;
}

/** Sessions without activity since `before` and without a live lease at `now`, after `afterId`. */
export async function findStaleUploads(db: Db, before: Date, now: Date, afterId: number, limit: number): Promise<StaleUpload[]> {
  const rows = await db
    .selectFrom('blob_upload')
    .select(['id', 'uuid', 'storage_state'])
    .where('id', '>', afterId)
    .where('updated', '<', before)
    .where((eb) => eb.or([eb('lease_expires', 'is', null), eb('lease_expires', '<=', now)]))
    .orderBy('id')
    .limit(limit)
    .execute();
  return rows.map((r) => ({ id: r.id, uuid: r.uuid, storageState: r.storage_state }));
}

/**
 * Takes a stale session's write lease (token `token`, until `leaseUntil`) so that no request
 * appends to it while its bytes are removed; returns its storage state as of now, or undefined
 * when it is no longer stale (written to meanwhile, or leased by a request).
 */
export async function leaseStaleUpload(db: Db, id: number, token: string, before: Date, now: Date, leaseUntil: Date): Promise<{ storageState: unknown } | undefined> {
  const row = await db
    .updateTable('blob_upload')
    .set({ lease_token: token, lease_expires: leaseUntil })
    .where('id', '=', id)
    .where('updated', '<', before)
    .where((eb) => eb.or([eb('lease_expires', 'is', null), eb('lease_expires', '<=', now)]))
    .returning('storage_state')
    .executeTakeFirst();
  return row && { storageState: row.storage_state };
}

/** Removes the session row while `token` still holds its lease. */
export async function deleteLeasedUpload(db: Db, id: number, token: string): Promise<boolean> {
  const r = await db.deleteFrom('blob_upload').where('id', '=', id).where('lease_token', '=', token).executeTakeFirst();
  return Number(r.numDeletedRows) === 1;
}

/** The storage states of a repository's sessions and when each one's lease ends (for its deletion). */
export async function listRepositoryUploads(db: Db, repositoryId: number): Promise<{ storageState: unknown; leaseExpires: Date | null }[]> {
  const rows = await db.selectFrom('blob_upload').select(['storage_state', 'lease_expires']).where('repository_id', '=', repositoryId).orderBy('id').execute();
  return rows.map((r) => ({ storageState: r.storage_state, leaseExpires: r.lease_expires ? new Date(r.lease_expires) : null }));
}
