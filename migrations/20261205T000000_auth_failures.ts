import { sql, type Kysely } from 'kysely';

// Failed credential checks, per subject (an account, a login name, an OAuth client, an e-mail
// address) and client IP, so a client that keeps failing is slowed down without blocking the
// account's owner from another address (src/services/throttle.ts).
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('auth_failure')
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('ip', 'text', (c) => c.notNull())
    .addColumn('failures', 'integer', (c) => c.notNull())
    .addColumn('last_failure', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('auth_failure_pkey', ['subject', 'ip'])
    .execute();
  await db.schema.createIndex('auth_failure_last_failure').on('auth_failure').column('last_failure').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('auth_failure').execute();
}
