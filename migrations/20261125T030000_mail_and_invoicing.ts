import { sql, type Kysely } from 'kysely';

// Mail: sign-up confirmations and password recovery send a one-time code by e-mail; only its
// SHA-256 is stored. Team invites (team_member_invite) likewise keep the SHA-256 of their code in
// invite_token. Organizations keep their invoicing preferences. Entity search matches names by a
// case-insensitive prefix, which the lower(username) pattern index serves without a scan.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('email_confirmation')
    .addColumn('id', 'serial', (c) => c.primaryKey())
    .addColumn('code_hash', 'text', (c) => c.notNull().unique())
    .addColumn('user_id', 'integer', (c) => c.notNull().references('namespace.id').onDelete('cascade'))
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('confirm', 'recovery')`))
    .addColumn('new_email', 'text')
    .addColumn('created', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('email_confirmation_user').on('email_confirmation').column('user_id').execute();

  await db.schema
    .alterTable('namespace')
    .addColumn('invoice_email', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('invoice_email_address', 'text')
    .execute();

  await sql`create index namespace_username_lower_prefix on namespace (lower(username) text_pattern_ops)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('namespace_username_lower_prefix').execute();
  await db.schema.alterTable('namespace').dropColumn('invoice_email_address').dropColumn('invoice_email').execute();
  await db.schema.dropTable('email_confirmation').execute();
}
