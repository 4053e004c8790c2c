// The compressed size of an image manifest's layers (config excluded; null for indexes and lists),
// as listRepoTags and getRepo show it: kept in a column at push, so that a page of tags does not
// read every manifest's bytes (on PGlite decoding a bytea costs more than the whole query).
// Existing rows are filled from their stored JSON.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table manifest add column layers_size bigint`.execute(db);
  await sql`
    update manifest set layers_size = coalesce((
      select sum((l ->> 'size')::bigint)
      from jsonb_array_elements(case when jsonb_typeof(convert_from(content, 'UTF8')::jsonb -> 'layers') = 'array'
                                     then convert_from(content, 'UTF8')::jsonb -> 'layers' else '[]'::jsonb end) l
      where jsonb_typeof(l -> 'size') = 'number'), 0)
    where media_type not in ('application/vnd.docker.distribution.manifest.list.v2+json', 'application/vnd.oci.image.index.v1+json')`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table manifest drop column layers_size`.execute(db);
}
