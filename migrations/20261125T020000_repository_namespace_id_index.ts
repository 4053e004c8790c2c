import type { Kysely } from 'kysely';

// listRepos pages through one namespace by id: (namespace_id, id) lets the scan start at the cursor
// inside the namespace instead of walking every repository (measured with bench/namespaces.ts).
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('repository_namespace_id_id').on('repository').columns(['namespace_id', 'id']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('repository_namespace_id_id').execute();
}
