// The tag API reads lifetimes in two orders, without sorting a repository's whole history:
// - tag_history: a repository's visible lifetimes, newest start first (listRepoTags, getRepo's
//   live tags), in the exact order the page is sorted in;
// - tag_name_history: one name's lifetimes, newest first (specificTag, and every lookup of a
//   tag by name: /v2 manifest GET by tag, findLiveTag, tagEverExisted).
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create index tag_history on tag (repository_id, lifetime_start_ms desc, name, id desc) where not hidden`.execute(db);
  await sql`create index tag_name_history on tag (repository_id, name, lifetime_start_ms desc, id desc) where not hidden`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index tag_name_history`.execute(db);
  await sql`drop index tag_history`.execute(db);
}
