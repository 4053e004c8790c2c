// Notifications (part2 §5, §14.6): repository notifications (Quay's RepositoryNotification: an
// event, a method and their JSON configs, with a failure count that disables delivery at 3), the
// in-app notifications users see (Quay's `notification` table), and the e-mail addresses a
// repository may mail (Quay's RepositoryAuthorizedEmail). Deliveries are jobs in the `job` table.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('repository_notification')
    .addColumn('id', 'serial', (c) => c.primaryKey())
    .addColumn('uuid', 'text', (c) => c.notNull().unique())
    .addColumn('repository_id', 'integer', (c) => c.notNull().references('repository.id').onDelete('cascade'))
    .addColumn('event', 'text', (c) => c.notNull())
    .addColumn('method', 'text', (c) => c.notNull())
    .addColumn('title', 'text')
    .addColumn('config', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('event_config', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('number_of_failures', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  // A push looks up its repository's repo_push notifications: one index probe.
  await db.schema.createIndex('repository_notification_repo_event').on('repository_notification').columns(['repository_id', 'event']).execute();

  await db.schema
    .createTable('notification')
    .addColumn('id', 'serial', (c) => c.primaryKey())
    .addColumn('uuid', 'text', (c) => c.notNull().unique())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('target_id', 'integer', (c) => c.notNull().references('namespace.id').onDelete('cascade'))
    .addColumn('metadata', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('dismissed', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('lookup_path', 'text')
    // The delivery that created it (a job id): a delivery run twice creates it once.
    .addColumn('dedupe_key', 'text')
    .addColumn('created', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('notification_target_created').on('notification').columns(['target_id', 'created']).execute();
  await db.schema.createIndex('notification_lookup_path').on('notification').column('lookup_path').execute();
  await sql`create unique index notification_dedupe on notification (target_id, dedupe_key) where dedupe_key is not null`.execute(db);

  await db.schema
    .createTable('repository_authorized_email')
    .addColumn('id', 'serial', (c) => c.primaryKey())
    .addColumn('repository_id', 'integer', (c) => c.notNull().references('repository.id').onDelete('cascade'))
    .addColumn('email', 'text', (c) => c.notNull())
    /** SHA-256 (hex) of the confirmation code; the code itself travels only in the mail. */
    .addColumn('code_hash', 'text', (c) => c.notNull())
    .addColumn('confirmed', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('created', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('repository_authorized_email_repo_email', ['repository_id', 'email'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('repository_authorized_email').execute();
  await db.schema.dropTable('notification').execute();
  await db.schema.dropTable('repository_notification').execute();
}
