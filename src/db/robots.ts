// Robot accounts (part2 §7): a namespace row named `owner+short` with robot=true and robot_owner_id,
// plus one robot_account row holding its description, metadata and encrypted token. Deleting the
// namespace row cascades to the robot_account row, its repository permissions and team memberships.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { Db, Trx } from './index.js';
import type { RepoRoleName, RepoVisibility } from './schema.js';

export interface RobotRow {
  id: number;
  username: string;
  creation_date: Date;
  last_accessed: Date | null;
  description: string;
  unstructured_metadata: Record<string, unknown>;
  /** Null only for a robot row written without its robot_account row. */
  token_enc: string | null;
}

function robotQuery(db: Db) {
  return db
    .selectFrom('namespace as n')
    .leftJoin('robot_account as r', 'r.robot_id', 'n.id')
    .select([
      'n.id',
      'n.username',
      'n.creation_date',
      'r.last_accessed',
      sql<string>`coalesce(r.description, '')`.as('description'),
      sql<Record<string, unknown>>`coalesce(r.unstructured_metadata, '{}'::jsonb)`.as('unstructured_metadata'),
      'r.token_enc',
    ])
    .where('n.robot', '=', true);
}

/** The robot `robotName` (full `owner+short` name) belonging to `ownerId`. */
export async function findRobot(db: Db, ownerId: number, robotName: string): Promise<RobotRow | undefined> {
  return robotQuery(db).where('n.username', '=', robotName).where('n.robot_owner_id', '=', ownerId).executeTakeFirst();
}

/** Robots of a user or organization, most recently used first (never-used ones first, as on Quay's Postgres). */
export async function listRobots(db: Db, ownerId: number, limit?: number): Promise<RobotRow[]> {
  let q = robotQuery(db)
    .where('n.robot_owner_id', '=', ownerId)
    .orderBy(sql`r.last_accessed desc nulls first`)
    .orderBy('n.username');
  if (limit !== undefined) q = q.limit(limit);
  return q.execute();
}

/** Teams each robot belongs to, by robot id. */
export async function listRobotTeams(db: Db, robotIds: number[]): Promise<{ robot_id: number; name: string }[]> {
  if (robotIds.length === 0) return [];
  return db
    .selectFrom('team_member as tm')
    .innerJoin('team as t', 't.id', 'tm.team_id')
    .select(['tm.user_id as robot_id', 't.name'])
    .where('tm.user_id', 'in', robotIds)
    .orderBy('t.name')
    .execute();
}

/** Repositories each robot holds a direct permission on (not through teams), by robot id. */
export async function listRobotRepositoryNames(db: Db, robotIds: number[]): Promise<{ robot_id: number; name: string }[]> {
  if (robotIds.length === 0) return [];
  return db
    .selectFrom('repository_permission as p')
    .innerJoin('repository as r', 'r.id', 'p.repository_id')
    .select(['p.user_id as robot_id', 'r.name'])
    .where('p.user_id', 'in', robotIds)
    .orderBy('r.name')
    .execute() as Promise<{ robot_id: number; name: string }[]>;
}

export interface RobotPermissionRow {
  name: string;
  visibility: RepoVisibility;
  role: RepoRoleName;
}

/** The robot's direct repository permissions. */
export async function listRobotPermissions(db: Db, robotId: number): Promise<RobotPermissionRow[]> {
  return db
    .selectFrom('repository_permission as p')
    .innerJoin('repository as r', 'r.id', 'p.repository_id')
    .select(['r.name', 'r.visibility', 'p.role'])
    .where('p.user_id', '=', robotId)
    .orderBy('r.name')
    .orderBy('r.id')
    .execute();
}

export interface NewRobot {
  ownerId: number;
  username: string;
  description: string;
  unstructuredMetadata: Record<string, unknown>;
  tokenEnc: string;
}

export async function insertRobot(trx: Trx, r: NewRobot): Promise<RobotRow> {
  const ns = await trx
    .insertInto('namespace')
    .values({
      uuid: randomUUID(),
      username: r.username,
      email: null,
      robot: true,
      verified: true,
      password_hash: null,
      robot_owner_id: r.ownerId,
      last_invalid_login: null,
      given_name: null,
      family_name: null,
      company: null,
      location: null,
    })
    .returning(['id', 'username', 'creation_date'])
    .executeTakeFirstOrThrow();
  await trx
    .insertInto('robot_account')
    .values({
      robot_id: ns.id,
      description: r.description,
      unstructured_metadata: JSON.stringify(r.unstructuredMetadata),
      token_enc: r.tokenEnc,
      last_accessed: null,
    })
    .execute();
  return {
    ...ns,
    last_accessed: null,
    description: r.description,
    unstructured_metadata: r.unstructuredMetadata,
    token_enc: r.tokenEnc,
  };
}

/** Replaces the token and rotates the robot's uuid, as Quay does, so nothing tied to the old identity survives. */
export async function replaceRobotToken(trx: Trx, robotId: number, tokenEnc: string): Promise<void> {
  await trx.updateTable('namespace').set({ uuid: randomUUID() }).where('id', '=', robotId).execute();
  await trx
    .insertInto('robot_account')
    .values({ robot_id: robotId, token_enc: tokenEnc, unstructured_metadata: '{}', last_accessed: null })
    .onConflict((oc) => oc.column('robot_id').doUpdateSet({ token_enc: tokenEnc }))
    .execute();
}

/** Deletes the robot; foreign keys remove its token, metadata, permissions and team memberships. */
export async function deleteRobot(trx: Trx, robotId: number): Promise<void> {
  await trx.deleteFrom('namespace').where('id', '=', robotId).where('robot', '=', true).execute();
}
