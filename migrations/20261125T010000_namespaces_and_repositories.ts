import { sql, type Kysely } from 'kysely';

// Robots, repositories, permissions, default-permission prototypes, stars and team invites.
// Everything that belongs to a namespace or repository is removed with it (ON DELETE CASCADE), so a
// deleted org, user or repository leaves no orphan rows.
export async function up(db: Kysely<any>): Promise<void> {
  // A robot is a namespace row named `owner+short`, owned by a user or org namespace.
  await db.schema
    .alterTable('namespace')
    .addColumn('robot_owner_id', 'integer', (c) => c.references('namespace.id').onDelete('cascade'))
    .execute();
  await db.schema.createIndex('namespace_robot_owner').on('namespace').column('robot_owner_id').execute();

  await db.schema
    .createTable('robot_account')
    .addColumn('robot_id', 'integer', (c) => c.primaryKey().references('namespace.id').onDelete('cascade'))
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('unstructured_metadata', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    // The robot token is returned by the API again, so it is encrypted, not hashed.
    .addColumn('token_enc', 'text', (c) => c.notNull())
    .addColumn('last_accessed', 'timestamptz')
    .execute();

  await db.schema
    .createTable('repository')
    .addColumn('id', 'serial', (c) => c.primaryKey())
    .addColumn('namespace_id', 'integer', (c) => c.notNull().references('namespace.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('visibility', 'text', (c) => c.notNull().check(sql`visibility in ('public', 'private')`))
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('kind', 'text', (c) => c.notNull().defaultTo('image').check(sql`kind in ('image', 'application')`))
    .addColumn('state', 'text', (c) => c.notNull().defaultTo('NORMAL').check(sql`state in ('NORMAL', 'READ_ONLY', 'MIRROR')`))
    .addColumn('badge_token', 'text', (c) => c.notNull())
    .addColumn('created', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('repository_namespace_name', ['namespace_id', 'name'])
    .execute();
  await db.schema.createIndex('repository_visibility').on('repository').columns(['visibility', 'id']).execute();

  await db.schema
    .createTable('repository_permission')
    .addColumn('id', 'serial', (c) => c.primaryKey())
    .addColumn('repository_id', 'integer', (c) => c.notNull().references('repository.id').onDelete('cascade'))
    .addColumn('user_id', 'integer', (c) => c.references('namespace.id').onDelete('cascade'))
    .addColumn('team_id', 'integer', (c) => c.references('team.id').onDelete('cascade'))
    .addColumn('role', 'text', (c) => c.notNull().check(sql`role in ('read', 'write', 'admin')`))
    .addCheckConstraint('repository_permission_one_grantee', sql`(user_id is null) <> (team_id is null)`)
    .execute();
  await sql`create unique index repository_permission_user on repository_permission (repository_id, user_id) where user_id is not null`.execute(db);
  await sql`create unique index repository_permission_team on repository_permission (repository_id, team_id) where team_id is not null`.execute(db);
  await db.schema.createIndex('repository_permission_user_id').on('repository_permission').column('user_id').execute();
  await db.schema.createIndex('repository_permission_team_id').on('repository_permission').column('team_id').execute();

  await db.schema
    .createTable('permission_prototype')
    .addColumn('id', 'serial', (c) => c.primaryKey())
    .addColumn('uuid', 'text', (c) => c.notNull().unique())
    .addColumn('org_id', 'integer', (c) => c.notNull().references('namespace.id').onDelete('cascade'))
    .addColumn('activating_user_id', 'integer', (c) => c.references('namespace.id').onDelete('cascade'))
    .addColumn('delegate_user_id', 'integer', (c) => c.references('namespace.id').onDelete('cascade'))
    .addColumn('delegate_team_id', 'integer', (c) => c.references('team.id').onDelete('cascade'))
    .addColumn('role', 'text', (c) => c.notNull().check(sql`role in ('read', 'write', 'admin')`))
    .addCheckConstraint('permission_prototype_one_delegate', sql`(delegate_user_id is null) <> (delegate_team_id is null)`)
    .execute();
  await db.schema.createIndex('permission_prototype_org').on('permission_prototype').column('org_id').execute();

  await db.schema
    .createTable('star')
    .addColumn('id', 'serial', (c) => c.primaryKey())
    .addColumn('user_id', 'integer', (c) => c.notNull().references('namespace.id').onDelete('cascade'))
    .addColumn('repository_id', 'integer', (c) => c.notNull().references('repository.id').onDelete('cascade'))
    .addColumn('created', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('star_user_repository', ['user_id', 'repository_id'])
    .execute();
  await db.schema.createIndex('star_repository').on('star').column('repository_id').execute();

  await db.schema
    .createTable('team_member_invite')
    .addColumn('id', 'serial', (c) => c.primaryKey())
    .addColumn('team_id', 'integer', (c) => c.notNull().references('team.id').onDelete('cascade'))
    .addColumn('user_id', 'integer', (c) => c.references('namespace.id').onDelete('cascade'))
    .addColumn('email', 'text')
    .addColumn('inviter_id', 'integer', (c) => c.references('namespace.id').onDelete('set null'))
    .addColumn('invite_token', 'text', (c) => c.notNull().unique())
    .addColumn('created', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('team_member_invite_target', sql`(user_id is null) <> (email is null)`)
    .execute();
  await db.schema.createIndex('team_member_invite_team').on('team_member_invite').column('team_id').execute();

  // Team listings are ordered by creation.
  await db.schema.alterTable('team').addColumn('created', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`)).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('team').dropColumn('created').execute();
  for (const t of ['team_member_invite', 'star', 'permission_prototype', 'repository_permission', 'repository', 'robot_account']) {
    await db.schema.dropTable(t).execute();
  }
  await db.schema.alterTable('namespace').dropColumn('robot_owner_id').execute();
}
