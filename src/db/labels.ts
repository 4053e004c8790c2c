// Manifest labels (part1 §8.0): key/value pairs on a manifest. `manifest` labels are copied from
// the image config at push, `api` ones are added through the API, `internal` ones by the server.
import { sql } from 'kysely';
import type { Db, Trx } from './index.js';

export type LabelSource = 'manifest' | 'api' | 'internal';

export interface LabelRow {
  id: number;
  uuid: string;
  manifest_id: number;
  key: string;
  value: string;
  media_type: string;
  source_type: LabelSource;
}

export interface NewLabel {
  key: string;
  value: string;
  mediaType: string;
  source: LabelSource;
}

/** The manifest's labels, in the order they were added; `prefix`: only keys starting with it, case-insensitively. */
export async function listLabels(db: Db, manifestId: number, prefix?: string): Promise<LabelRow[]> {
  let q = db.selectFrom('manifest_label').selectAll().where('manifest_id', '=', manifestId);
  if (prefix) q = q.where(sql<boolean>`starts_with(lower(key), lower(${prefix}))`);
  return (await q.orderBy('id').execute()) as LabelRow[];
}

export async function findLabel(db: Db, manifestId: number, uuid: string): Promise<LabelRow | undefined> {
  return (await db.selectFrom('manifest_label').selectAll().where('manifest_id', '=', manifestId).where('uuid', '=', uuid).executeTakeFirst()) as LabelRow | undefined;
}

export async function insertLabels(trx: Trx, manifestId: number, labels: NewLabel[]): Promise<LabelRow[]> {
  if (labels.length === 0) return [];
  return (await trx
    .insertInto('manifest_label')
    .values(labels.map((l) => ({ uuid: crypto.randomUUID(), manifest_id: manifestId, key: l.key, value: l.value, media_type: l.mediaType, source_type: l.source })))
    .returningAll()
    .execute()) as LabelRow[];
}

export async function deleteLabel(trx: Trx, id: number): Promise<void> {
  await trx.deleteFrom('manifest_label').where('id', '=', id).execute();
}

/** The value of the manifest's first label with this key, if any (`quay.expires-after`). */
export async function labelValue(db: Db, manifestId: number, key: string): Promise<string | undefined> {
  const r = await db.selectFrom('manifest_label').select('value').where('manifest_id', '=', manifestId).where('key', '=', key).orderBy('id').executeTakeFirst();
  return r?.value;
}
