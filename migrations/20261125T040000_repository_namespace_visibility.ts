import type { Kysely } from 'kysely';

// Namespace search asks, per candidate namespace, whether it owns a public repository: with
// (namespace_id, visibility) that is one index probe, where (namespace_id, id) walked every
// repository of a namespace that has only private ones.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('repository_namespace_visibility').on('repository').columns(['namespace_id', 'visibility']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('repository_namespace_visibility').execute();
}
