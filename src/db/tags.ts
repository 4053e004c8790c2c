// Tags with lifetimes (design.md §5): a tag name maps to a manifest for a span of time. Pushing or
// moving a tag ends the live lifetime and starts another; deleting ends it. A tag is live while its
// lifetime_end_ms is null or in the future. History, restore and expiry (the tag API) read the
// same rows. Times are milliseconds since the epoch, as Quay's.
import { sql } from 'kysely';
import type { Db, Trx } from './index.js';

export interface TagRow {
  id: number;
  repository_id: number;
  name: string;
  manifest_id: number;
  lifetime_start_ms: number;
  lifetime_end_ms: number | null;
  hidden: boolean;
  reversion: boolean;
}

const live = (now: number) => sql<boolean>`(lifetime_end_ms is null or lifetime_end_ms > ${now})`;

export async function findLiveTag(db: Db, repositoryId: number, name: string, now = Date.now()): Promise<TagRow | undefined> {
  return db
    .selectFrom('tag')
    .selectAll()
    .where('repository_id', '=', repositoryId)
    .where('name', '=', name)
    .where('hidden', '=', false)
    .where(live(now))
    .orderBy('lifetime_start_ms', 'desc')
    .executeTakeFirst() as Promise<TagRow | undefined>;
}

/** Whether the name was ever a tag of the repository (for TAG_EXPIRED rather than MANIFEST_UNKNOWN). */
export async function tagEverExisted(db: Db, repositoryId: number, name: string): Promise<boolean> {
  const r = await db.selectFrom('tag').select('id').where('repository_id', '=', repositoryId).where('name', '=', name).where('hidden', '=', false).executeTakeFirst();
  return !!r;
}

/**
 * Points the tag at `manifestId` from `now` on: ends the live lifetime (if it points elsewhere)
 * and starts a new one. Serialized per repository by locking the repository row, so two pushes of
 * one tag cannot both open a lifetime. Returns what happened, for the audit log.
 */
export async function setTag(
  trx: Trx,
  repositoryId: number,
  name: string,
  manifestId: number,
  now = Date.now(),
  o: { hidden?: boolean; endMs?: number | null; reversion?: boolean; always?: boolean } = {},
): Promise<{ action: 'created' | 'moved' | 'unchanged'; previousManifestId?: number }> {
  await trx.selectFrom('repository').select('id').where('id', '=', repositoryId).forUpdate().execute();
  const current = o.hidden ? undefined : await findLiveTag(trx, repositoryId, name, now);
  // A push of what the tag already points at changes nothing; the tag API (`always`) starts a new
  // lifetime whatever it pointed at, as Quay's retarget_tag does, so history shows every change.
  if (!o.always && current && current.manifest_id === manifestId && current.lifetime_end_ms === null) return { action: 'unchanged' };
  // Lifetimes never run backwards, even if this process's clock is behind the one that started
  // the current lifetime (another replica, or a clock step).
  if (current) now = Math.max(now, current.lifetime_start_ms);
  if (current) await trx.updateTable('tag').set({ lifetime_end_ms: now }).where('id', '=', current.id).execute();
  await trx
    .insertInto('tag')
    .values({
      repository_id: repositoryId,
      name,
      manifest_id: manifestId,
      lifetime_start_ms: now,
      lifetime_end_ms: o.endMs ?? null,
      hidden: o.hidden ?? false,
      reversion: o.reversion ?? false,
    })
    .execute();
  return current ? { action: 'moved', previousManifestId: current.manifest_id } : { action: 'created' };
}

/** Ends the tag's live lifetime; false when there is none. */
export async function endTag(trx: Trx, repositoryId: number, name: string, now = Date.now()): Promise<TagRow | undefined> {
  await trx.selectFrom('repository').select('id').where('id', '=', repositoryId).forUpdate().execute();
  const current = await findLiveTag(trx, repositoryId, name, now);
  if (!current) return undefined;
  await trx.updateTable('tag').set({ lifetime_end_ms: Math.max(now, current.lifetime_start_ms) }).where('id', '=', current.id).execute();
  return current;
}

/** Ends every live lifetime (hidden ones included) pointing at the manifest; returns the visible names. */
export async function endTagsOfManifest(trx: Trx, manifestId: number, now = Date.now()): Promise<string[]> {
  const rows = await trx
    .updateTable('tag')
    .set({ lifetime_end_ms: now })
    .where('manifest_id', '=', manifestId)
    .where(live(now))
    .returning(['name', 'hidden'])
    .execute();
  return rows.filter((r) => !r.hidden).map((r) => r.name);
}

/** Live tag names of the repository in name order, after `last`, at most `n`. */
/**
 * One page of the visible live tag names in byte order ("C" collation, the same on every server
 * whatever its locale; the tag_visible_names index gives the rows in that order), after `last`:
 * the names as a JSON array built by the database (one row back however many names), whether
 * more follow, and the page's last name. A name has at most one live lifetime (setTag and endTag
 * change a repository's tags under its row lock, ending the live lifetime before starting another).
 * `until`: the earliest lifetime end among those names (epoch ms), the moment the page may change
 * without any write; null when none of them ends.
 */
export async function liveTagPage(
  db: Db,
  repositoryId: number,
  o: { n: number; last?: string },
  now = Date.now(),
): Promise<{ json: string; more: boolean; lastName: string | null; until: number | null }> {
  const visible = (after: string | undefined) =>
    sql`repository_id = ${repositoryId} and not hidden and (lifetime_end_ms is null or lifetime_end_ms > ${now})
        ${after === undefined ? sql`` : sql`and name collate "C" > ${after}`}`;
  // n + 1 names in one array (the extra one only says whether more follow), the first n as JSON.
  const r = await sql<{ json: string | null; count: number | null; last_name: string | null; until: number | null }>`
    select array_to_json(a[1:${o.n}])::text as json, cardinality(a) as count, a[${o.n}] as last_name, until
    from (select array_agg(name order by name collate "C") as a, min(lifetime_end_ms) as until
          from (select name, lifetime_end_ms from tag where ${visible(o.last)} order by name collate "C" limit ${o.n + 1}) page) agg`.execute(db);
  const row = r.rows[0];
  const count = row?.count ?? 0;
  return { json: count === 0 ? '[]' : row.json!, more: count > o.n, lastName: count > o.n ? row.last_name : null, until: row?.until ?? null };
}

/** A lifetime of a visible tag with what listRepoTags shows of its manifest. */
export interface TagHistoryRow extends TagRow {
  digest: string;
  media_type: string;
  layers_size: number | null;
}

/**
 * The visible lifetimes of the repository (hidden `$temp-` tags never), newest start first, then
 * by name (then id, for stable pages): every lifetime, or only the live ones; of one name, or all.
 */
export async function listTagHistory(
  db: Db,
  repositoryId: number,
  o: { offset: number; limit: number; name?: string; liveOnly: boolean },
  now = Date.now(),
): Promise<TagHistoryRow[]> {
  let q = db
    .selectFrom('tag')
    .innerJoin('manifest', 'manifest.id', 'tag.manifest_id')
    .selectAll('tag')
    .select(['manifest.digest', 'manifest.media_type', 'manifest.layers_size'])
    .where('tag.repository_id', '=', repositoryId)
    .where('tag.hidden', '=', false);
  if (o.name !== undefined) q = q.where('tag.name', '=', o.name);
  if (o.liveOnly) q = q.where(sql<boolean>`(tag.lifetime_end_ms is null or tag.lifetime_end_ms > ${now})`);
  return (await q
    .orderBy('tag.lifetime_start_ms', 'desc')
    .orderBy('tag.name')
    .orderBy('tag.id', 'desc')
    .offset(o.offset)
    .limit(o.limit)
    .execute()) as TagHistoryRow[];
}

/**
 * Sets the end of a live lifetime, if it is still `expectedEnd` (the caller holds the repository
 * row lock, so it is); false when the row changed meanwhile.
 */
export async function setTagEnd(trx: Trx, tagId: number, expectedEnd: number | null, endMs: number | null): Promise<boolean> {
  const r = await trx
    .updateTable('tag')
    .set({ lifetime_end_ms: endMs })
    .where('id', '=', tagId)
    .where(expectedEnd === null ? sql<boolean>`lifetime_end_ms is null` : sql<boolean>`lifetime_end_ms = ${expectedEnd}`)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/** Locks the repository row (the order every tag change takes its locks in). */
export async function lockRepositoryTags(trx: Trx, repositoryId: number): Promise<void> {
  await trx.selectFrom('repository').select('id').where('id', '=', repositoryId).forUpdate().execute();
}

/**
 * The start of the newest live visible lifetime of each repository (listRepos' last_modified, in
 * epoch ms); repositories without a live tag are absent.
 */
export async function latestLiveTagStarts(db: Db, repositoryIds: number[], now = Date.now()): Promise<Map<number, number>> {
  if (repositoryIds.length === 0) return new Map();
  const rows = await db
    .selectFrom('tag')
    .select(['repository_id', (eb) => eb.fn.max('lifetime_start_ms').as('start')])
    .where('repository_id', 'in', repositoryIds)
    .where('hidden', '=', false)
    .where(live(now))
    .groupBy('repository_id')
    .execute();
  return new Map(rows.map((r) => [Number(r.repository_id), Number(r.start)]));
}

