// Manifests of a repository (raw bytes kept here), their references to blobs and child manifests,
// and the referrers query (manifests whose subject is a given digest).
import { sql } from 'kysely';
import type { Db, Trx } from './index.js';

export interface ManifestRow {
  id: number;
  repository_id: number;
  digest: string;
  media_type: string;
  artifact_type: string | null;
  subject_digest: string | null;
  config_media_type: string | null;
  size: number;
  content: Buffer;
  layers_size: number | null;
  created: Date;
}

/** bytea comes back as a Buffer from pg and as a plain Uint8Array from PGlite: always a Buffer here. */
function row<T extends { content: Uint8Array } | undefined>(r: T): T {
  if (r && !Buffer.isBuffer(r.content)) r.content = Buffer.from(r.content.buffer, r.content.byteOffset, r.content.byteLength);
  return r;
}

export async function findManifest(db: Db, repositoryId: number, digest: string): Promise<ManifestRow | undefined> {
  return row((await db.selectFrom('manifest').selectAll().where('repository_id', '=', repositoryId).where('digest', '=', digest).executeTakeFirst()) as ManifestRow | undefined);
}

/**
 * The manifest a tag's live lifetime points at, and when that lifetime ends (epoch ms; null: open).
 * One query: the /v2 pull path.
 */
export async function findTaggedManifest(
  db: Db,
  repositoryId: number,
  tag: string,
  now = Date.now(),
): Promise<{ manifest: ManifestRow; lifetimeEndMs: number | null } | undefined> {
  const r = (await db
    .selectFrom('tag')
    .innerJoin('manifest', 'manifest.id', 'tag.manifest_id')
    .selectAll('manifest')
    .select('tag.lifetime_end_ms as tag_lifetime_end_ms')
    .where('tag.repository_id', '=', repositoryId)
    .where('tag.name', '=', tag)
    .where('tag.hidden', '=', false)
    .where(sql<boolean>`(tag.lifetime_end_ms is null or tag.lifetime_end_ms > ${now})`)
    .orderBy('tag.lifetime_start_ms', 'desc')
    .executeTakeFirst()) as (ManifestRow & { tag_lifetime_end_ms: number | null }) | undefined;
  if (!r) return undefined;
  const { tag_lifetime_end_ms: lifetimeEndMs, ...manifest } = r;
  return { manifest: row(manifest), lifetimeEndMs };
}

export async function findManifestById(db: Db, id: number): Promise<ManifestRow | undefined> {
  return row((await db.selectFrom('manifest').selectAll().where('id', '=', id).executeTakeFirst()) as ManifestRow | undefined);
}

/** The manifests of the repository with these digests, by digest. */
export async function findManifests(db: Db, repositoryId: number, digests: string[]): Promise<Map<string, ManifestRow>> {
  if (digests.length === 0) return new Map();
  const rows = (await db.selectFrom('manifest').selectAll().where('repository_id', '=', repositoryId).where('digest', 'in', digests).execute()) as ManifestRow[];
  return new Map(rows.map((r) => [r.digest, row(r)]));
}

export interface NewManifest {
  repositoryId: number;
  digest: string;
  mediaType: string;
  artifactType: string | null;
  subjectDigest: string | null;
  configMediaType: string | null;
  /** The layers' compressed size (config excluded); null for indexes and lists. */
  layersSize: number | null;
  content: Buffer;
  blobIds: number[];
  childIds: number[];
}

/**
 * Stores a manifest with its references, or returns the one already stored under that digest (the
 * same bytes: the digest says so). `created` tells which.
 */
export async function insertManifest(trx: Trx, m: NewManifest): Promise<{ manifest: ManifestRow; created: boolean }> {
  const inserted = (await trx
    .insertInto('manifest')
    .values({
      repository_id: m.repositoryId,
      digest: m.digest,
      media_type: m.mediaType,
      artifact_type: m.artifactType,
      subject_digest: m.subjectDigest,
      config_media_type: m.configMediaType,
      size: m.content.length,
      content: m.content,
      layers_size: m.layersSize,
      created: new Date(),
    })
    .onConflict((oc) => oc.columns(['repository_id', 'digest']).doNothing())
    .returningAll()
    .executeTakeFirst()) as ManifestRow | undefined;
  if (!inserted) return { manifest: (await findManifest(trx, m.repositoryId, m.digest))!, created: false };
  row(inserted);
  const blobIds = [...new Set(m.blobIds)];
  const childIds = [...new Set(m.childIds)];
  if (blobIds.length) await trx.insertInto('manifest_blob').values(blobIds.map((b) => ({ manifest_id: inserted.id, blob_id: b }))).execute();
  if (childIds.length) await trx.insertInto('manifest_child').values(childIds.map((c) => ({ manifest_id: inserted.id, child_manifest_id: c }))).execute();
  return { manifest: inserted, created: true };
}

/** The digests of manifests of the repository that list this one as a child. */
export async function listParentDigests(db: Db, manifestId: number): Promise<string[]> {
  const rows = await db
    .selectFrom('manifest_child as mc')
    .innerJoin('manifest as m', 'm.id', 'mc.manifest_id')
    .select('m.digest')
    .where('mc.child_manifest_id', '=', manifestId)
    .execute();
  return rows.map((r) => r.digest);
}

export async function deleteManifestRow(trx: Trx, manifestId: number): Promise<void> {
  await trx.deleteFrom('manifest').where('id', '=', manifestId).execute();
}

/** Manifests of the repository whose subject is `digest`, optionally with one artifact type, oldest first. */
export async function listReferrers(db: Db, repositoryId: number, digest: string, artifactType?: string): Promise<ManifestRow[]> {
  let q = db.selectFrom('manifest').selectAll().where('repository_id', '=', repositoryId).where('subject_digest', '=', digest);
  if (artifactType !== undefined) q = q.where('artifact_type', '=', artifactType);
  return ((await q.orderBy('id').execute()) as ManifestRow[]).map(row);
}

/**
 * The repository's manifest with this digest, for the REST API. `liveOnly` (changeTag, the
 * MANIFEST section): only a manifest a live visible tag points at, or a child of one; otherwise
 * (restoreTag) any manifest still stored for the repository. `lock` (in a transaction): locked
 * against the garbage collector (FOR KEY SHARE: its FOR UPDATE SKIP LOCKED passes it by) until
 * the transaction ends.
 */
export async function findManifestForTag(
  db: Db,
  repositoryId: number,
  digest: string,
  o: { liveOnly: boolean; lock?: boolean },
  now = Date.now(),
): Promise<ManifestRow | undefined> {
  const liveTagOf = (manifestId: ReturnType<typeof sql>) =>
    sql`exists (select 1 from tag t where t.manifest_id = ${manifestId} and not t.hidden and (t.lifetime_end_ms is null or t.lifetime_end_ms > ${now}))`;
  let q = db.selectFrom('manifest').selectAll().where('repository_id', '=', repositoryId).where('digest', '=', digest);
  if (o.liveOnly) {
    q = q.where(
      sql<boolean>`(${liveTagOf(sql.ref('manifest.id'))} or exists (select 1 from manifest_child c where c.child_manifest_id = manifest.id and ${liveTagOf(sql.ref('c.manifest_id'))}))`,
    );
  }
  return row((await (o.lock ? q.forKeyShare() : q).executeTakeFirst()) as ManifestRow | undefined);
}
