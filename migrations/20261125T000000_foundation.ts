import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('namespace')
    .addColumn('id', 'serial', (c) => c.primaryKey())
    .addColumn('uuid', 'text', (c) => c.notNull().unique())
    .addColumn('username', 'text', (c) => c.notNull().unique())
    .addColumn('email', 'text', (c) => c.unique())
    .addColumn('verified', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('password_hash', 'text')
    .addColumn('organization', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('robot', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('enabled', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('invalid_login_attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_invalid_login', 'timestamptz')
    .addColumn('given_name', 'text')
    .addColumn('family_name', 'text')
    .addColumn('company', 'text')
    .addColumn('location', 'text')
    .addColumn('tag_expiration_s', 'integer', (c) => c.notNull().defaultTo(1209600))
    .addColumn('creation_date', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable('team')
    .addColumn('id', 'serial', (c) => c.primaryKey())
    .addColumn('organization_id', 'integer', (c) => c.notNull().references('namespace.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull().check(sql`role in ('admin', 'creator', 'member')`))
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addUniqueConstraint('team_org_name', ['organization_id', 'name'])
    .execute();

  await db.schema
    .createTable('team_member')
    .addColumn('id', 'serial', (c) => c.primaryKey())
    .addColumn('team_id', 'integer', (c) => c.notNull().references('team.id').onDelete('cascade'))
    .addColumn('user_id', 'integer', (c) => c.notNull().references('namespace.id').onDelete('cascade'))
    .addUniqueConstraint('team_member_team_user', ['team_id', 'user_id'])
    .execute();
  await db.schema.createIndex('team_member_user').on('team_member').column('user_id').execute();

  await db.schema
    .createTable('oauth_application')
    .addColumn('id', 'serial', (c) => c.primaryKey())
    .addColumn('client_id', 'text', (c) => c.notNull().unique())
    .addColumn('client_secret_enc', 'text', (c) => c.notNull())
    .addColumn('redirect_uri', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('application_uri', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('organization_id', 'integer', (c) => c.references('namespace.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('avatar_email', 'text')
    .addColumn('builtin', 'boolean', (c) => c.notNull().defaultTo(false))
    .execute();
  await db.schema.createIndex('oauth_application_org').on('oauth_application').column('organization_id').execute();

  await db.schema
    .createTable('oauth_access_token')
    .addColumn('id', 'serial', (c) => c.primaryKey())
    .addColumn('uuid', 'text', (c) => c.notNull().unique())
    .addColumn('application_id', 'integer', (c) => c.notNull().references('oauth_application.id').onDelete('cascade'))
    .addColumn('authorized_user_id', 'integer', (c) => c.notNull().references('namespace.id').onDelete('cascade'))
    .addColumn('scope', 'text', (c) => c.notNull())
    .addColumn('token_name', 'text', (c) => c.notNull().unique())
    .addColumn('token_hash', 'text', (c) => c.notNull())
    .addColumn('token_type', 'text', (c) => c.notNull().defaultTo('Bearer'))
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('data', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('last_accessed', 'timestamptz')
    .addColumn('created', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('oauth_access_token_user').on('oauth_access_token').columns(['authorized_user_id', 'application_id']).execute();

  await db.schema
    .createTable('oauth_authorization_code')
    .addColumn('id', 'serial', (c) => c.primaryKey())
    .addColumn('application_id', 'integer', (c) => c.notNull().references('oauth_application.id').onDelete('cascade'))
    .addColumn('code_name', 'text', (c) => c.notNull().unique())
    .addColumn('code_hash', 'text', (c) => c.notNull())
    .addColumn('scope', 'text', (c) => c.notNull())
    .addColumn('redirect_uri', 'text', (c) => c.notNull())
    .addColumn('data', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('created', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable('app_specific_token')
    .addColumn('id', 'serial', (c) => c.primaryKey())
    .addColumn('uuid', 'text', (c) => c.notNull().unique())
    .addColumn('user_id', 'integer', (c) => c.notNull().references('namespace.id').onDelete('cascade'))
    .addColumn('title', 'text', (c) => c.notNull())
    .addColumn('token_name', 'text', (c) => c.notNull().unique())
    .addColumn('token_secret_enc', 'text', (c) => c.notNull())
    .addColumn('created', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('expiration', 'timestamptz')
    .addColumn('last_accessed', 'timestamptz')
    .execute();
  await db.schema.createIndex('app_specific_token_user').on('app_specific_token').column('user_id').execute();

  await db.schema
    .createTable('session')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'integer', (c) => c.references('namespace.id').onDelete('cascade'))
    .addColumn('csrf_token', 'text', (c) => c.notNull())
    .addColumn('login_time', 'timestamptz')
    .addColumn('created', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('session_user').on('session').column('user_id').execute();
  await db.schema.createIndex('session_expires').on('session').column('expires_at').execute();

  await db.schema
    .createTable('message')
    .addColumn('id', 'serial', (c) => c.primaryKey())
    .addColumn('uuid', 'text', (c) => c.notNull().unique())
    .addColumn('content', 'text', (c) => c.notNull())
    .addColumn('severity', 'text', (c) => c.notNull().check(sql`severity in ('info', 'warning', 'error')`))
    .addColumn('media_type', 'text', (c) => c.notNull().check(sql`media_type in ('text/plain', 'text/markdown')`))
    .execute();

  // Audit log: no foreign keys, entries outlive what they describe (as Quay's logentry).
  await db.schema
    .createTable('log_entry')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('account_id', 'integer')
    .addColumn('performer_id', 'integer')
    .addColumn('repository_id', 'integer')
    .addColumn('ip', 'text')
    .addColumn('datetime', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('metadata', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .execute();
  await db.schema.createIndex('log_entry_account_datetime').on('log_entry').columns(['account_id', 'datetime']).execute();
  await db.schema.createIndex('log_entry_repository_datetime').on('log_entry').columns(['repository_id', 'datetime']).execute();
  await db.schema.createIndex('log_entry_performer_datetime').on('log_entry').columns(['performer_id', 'datetime']).execute();
  await db.schema.createIndex('log_entry_datetime').on('log_entry').column('datetime').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of [
    'log_entry', 'message', 'session', 'app_specific_token', 'oauth_authorization_code',
    'oauth_access_token', 'oauth_application', 'team_member', 'team', 'namespace',
  ]) {
    await db.schema.dropTable(t).execute();
  }
}
