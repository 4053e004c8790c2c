import { sql, type Kysely } from 'kysely';

// The registry: service keys (the instance key signs /v2/auth tokens), content-addressed blobs and
// their per-repository links, resumable upload sessions, manifests with their blob and child
// references, tags with lifetimes, manifest labels, and the job queue.
//
// Metadata lives here; blob bytes live in storage (src/storage/), keyed by digest. A repository's
// rows go with it (ON DELETE CASCADE); the blobs they referenced are left for garbage collection.
export async function up(db: Kysely<any>): Promise<void> {
  // Keys that sign or verify registry tokens, as Quay's ServiceKey table (the superuser service-key
  // API manages the same rows). The instance key keeps its private half, encrypted at rest.
  await db.schema
    .createTable('service_key')
    .addColumn('id', 'serial', (c) => c.primaryKey())
    .addColumn('kid', 'text', (c) => c.notNull().unique())
    .addColumn('service', 'text', (c) => c.notNull())
    .addColumn('name', 'text')
    .addColumn('jwk', 'jsonb', (c) => c.notNull())
    .addColumn('private_key_enc', 'text')
    .addColumn('metadata', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('created_date', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('expiration_date', 'timestamptz')
    .addColumn('rotation_duration', 'integer')
    .addColumn('approval_type', 'text')
    .addColumn('approver_id', 'integer', (c) => c.references('namespace.id').onDelete('set null'))
    .addColumn('approved_date', 'timestamptz')
    .addColumn('approval_notes', 'text')
    .execute();
  await db.schema.createIndex('service_key_service').on('service_key').column('service').execute();

  // One row per distinct content, shared by every repository that links it.
  await db.schema
    .createTable('blob')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('digest', 'text', (c) => c.notNull().unique())
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addColumn('created', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    // The last time a push, mount or manifest used it: the garbage collector's grace counts from here.
    .addColumn('last_used', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    // Set by the garbage collector before it removes the bytes; a push waits for the row to go.
    .addColumn('deleting', 'boolean', (c) => c.notNull().defaultTo(false))
    .execute();
  await db.schema.createIndex('blob_last_used').on('blob').column('last_used').execute();

  // A blob is visible in a repository only through a link, made by an upload or a mount.
  await db.schema
    .createTable('repository_blob')
    .addColumn('repository_id', 'integer', (c) => c.notNull().references('repository.id').onDelete('cascade'))
    .addColumn('blob_id', 'bigint', (c) => c.notNull().references('blob.id').onDelete('cascade'))
    .addColumn('created', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('repository_blob_pkey', ['repository_id', 'blob_id'])
    .execute();
  await db.schema.createIndex('repository_blob_blob').on('repository_blob').column('blob_id').execute();

  // An upload in progress: bytes received so far (in storage, under uploads/<uuid>), the storage
  // driver's opaque state and the running hash state, so any process can resume it.
  await db.schema
    .createTable('blob_upload')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('uuid', 'text', (c) => c.notNull().unique())
    .addColumn('repository_id', 'integer', (c) => c.notNull().references('repository.id').onDelete('cascade'))
    .addColumn('byte_count', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('chunk_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('hash_state', 'bytea')
    .addColumn('storage_state', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    // One request at a time writes to an upload: it takes this lease (a random token, until a
    // time) before streaming and drops it when it records what it wrote.
    .addColumn('lease_token', 'text')
    .addColumn('lease_expires', 'timestamptz')
    .addColumn('created', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('blob_upload_updated').on('blob_upload').column('updated').execute();
  await db.schema.createIndex('blob_upload_repository').on('blob_upload').column('repository_id').execute();

  // Manifests belong to a repository (as Quay's); the raw bytes are kept here so GETs never touch
  // blob storage.
  await db.schema
    .createTable('manifest')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('repository_id', 'integer', (c) => c.notNull().references('repository.id').onDelete('cascade'))
    .addColumn('digest', 'text', (c) => c.notNull())
    .addColumn('media_type', 'text', (c) => c.notNull())
    .addColumn('artifact_type', 'text')
    .addColumn('subject_digest', 'text')
    .addColumn('config_media_type', 'text')
    .addColumn('size', 'integer', (c) => c.notNull())
    .addColumn('content', 'bytea', (c) => c.notNull())
    .addColumn('created', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('manifest_repository_digest', ['repository_id', 'digest'])
    .execute();
  await sql`create index manifest_subject on manifest (repository_id, subject_digest) where subject_digest is not null`.execute(db);

  // The blobs (config and layers) a manifest references, and the manifests an index or list does.
  await db.schema
    .createTable('manifest_blob')
    .addColumn('manifest_id', 'bigint', (c) => c.notNull().references('manifest.id').onDelete('cascade'))
    .addColumn('blob_id', 'bigint', (c) => c.notNull().references('blob.id').onDelete('restrict'))
    .addPrimaryKeyConstraint('manifest_blob_pkey', ['manifest_id', 'blob_id'])
    .execute();
  await db.schema.createIndex('manifest_blob_blob').on('manifest_blob').column('blob_id').execute();
  await db.schema
    .createTable('manifest_child')
    .addColumn('manifest_id', 'bigint', (c) => c.notNull().references('manifest.id').onDelete('cascade'))
    .addColumn('child_manifest_id', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('manifest_child_pkey', ['manifest_id', 'child_manifest_id'])
    // A listed manifest cannot go while its index stays. Checked at commit, not per row: deleting a
    // repository (or its namespace) removes an index and its children in one cascade, and a
    // per-row check (RESTRICT, or NO ACTION at the end of the cascade's inner statement) would
    // see the child gone before the index's rows are.
    .addForeignKeyConstraint('manifest_child_child_manifest_id_fkey', ['child_manifest_id'], 'manifest', ['id'], (fk) =>
      fk.onDelete('no action').deferrable().initiallyDeferred(),
    )
    .execute();
  await db.schema.createIndex('manifest_child_child').on('manifest_child').column('child_manifest_id').execute();

  // Tags have lifetimes instead of being overwritten (design.md §5): a push, move or delete ends
  // one lifetime (lifetime_end_ms) and may start the next. A tag is live while its end is null or
  // in the future. Hidden tags keep manifests pushed by digest alive for a while (Quay's temp tags).
  await db.schema
    .createTable('tag')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('repository_id', 'integer', (c) => c.notNull().references('repository.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('manifest_id', 'bigint', (c) => c.notNull().references('manifest.id').onDelete('cascade'))
    .addColumn('lifetime_start_ms', 'bigint', (c) => c.notNull())
    .addColumn('lifetime_end_ms', 'bigint')
    .addColumn('hidden', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('reversion', 'boolean', (c) => c.notNull().defaultTo(false))
    .execute();
  // At most one open-ended lifetime per name: two concurrent pushes of one tag cannot both win.
  await sql`create unique index tag_open on tag (repository_id, name) where lifetime_end_ms is null`.execute(db);
  await db.schema.createIndex('tag_repository_name').on('tag').columns(['repository_id', 'name', 'lifetime_end_ms']).execute();
  await db.schema.createIndex('tag_manifest').on('tag').column('manifest_id').execute();
  await sql`create index tag_lifetime_end on tag (lifetime_end_ms) where lifetime_end_ms is not null`.execute(db);
  // /v2 tags/list: visible names in byte order, read off the index (no sort) from `last` on.
  await sql`create index tag_visible_names on tag (repository_id, (name collate "C")) where not hidden`.execute(db);

  await db.schema
    .createTable('manifest_label')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('uuid', 'text', (c) => c.notNull().unique())
    .addColumn('manifest_id', 'bigint', (c) => c.notNull().references('manifest.id').onDelete('cascade'))
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('value', 'text', (c) => c.notNull())
    .addColumn('media_type', 'text', (c) => c.notNull())
    .addColumn('source_type', 'text', (c) => c.notNull().check(sql`source_type in ('manifest', 'api', 'internal')`))
    .execute();
  await db.schema.createIndex('manifest_label_manifest').on('manifest_label').column('manifest_id').execute();

  // The work queue (Quay's QueueItem): claimed with FOR UPDATE SKIP LOCKED, leased until
  // processing_expires, retried with backoff while retries_remaining > 0, deleted when done.
  await db.schema
    .createTable('job')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('queue', 'text', (c) => c.notNull())
    .addColumn('body', 'jsonb', (c) => c.notNull())
    .addColumn('available_after', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('processing_expires', 'timestamptz')
    .addColumn('retries_remaining', 'integer', (c) => c.notNull().defaultTo(5))
    .addColumn('state_id', 'text', (c) => c.notNull())
    .addColumn('last_error', 'text')
    // At most one pending job per key (periodic sweeps enqueued by several replicas).
    .addColumn('dedupe_key', 'text')
    .addColumn('created', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  // Claims look only at jobs with retries left: dead rows stay out of the index.
  await sql`create index job_claim on job (queue, available_after) where retries_remaining > 0`.execute(db);
  await sql`create unique index job_dedupe on job (dedupe_key) where dedupe_key is not null`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of ['job', 'manifest_label', 'tag', 'manifest_child', 'manifest_blob', 'manifest', 'blob_upload', 'repository_blob', 'blob', 'service_key']) {
    await db.schema.dropTable(t).execute();
  }
}
