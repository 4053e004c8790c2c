// Repository permission rows (part1 §11): direct grants to users and robots, and team grants.
// Effective roles are computed in src/auth/permissions.ts; this file only reads and writes rows.
import { sql } from 'kysely';
import type { Db } from './index.js';
import { inOrgFlag } from './teams.js';
import type { RepoRoleName } from './schema.js';

export interface UserPermissionRow {
  role: RepoRoleName;
  user_id: number;
  username: string;
  email: string | null;
  robot: boolean;
  /** Whether the user is in any team of `orgId` (false when no org was given). */
  in_org: boolean;
}

export interface TeamPermissionRow {
  role: RepoRoleName;
  team_id: number;
  name: string;
}

function userPermissionQuery(db: Db, repositoryId: number, orgId: number | null) {
  return db
    .selectFrom('repository_permission as rp')
    .innerJoin('namespace as u', 'u.id', 'rp.user_id')
    .select(['rp.role', 'u.id as user_id', 'u.username', 'u.email', 'u.robot'])
    .select(inOrgFlag(orgId).as('in_org'))
    .where('rp.repository_id', '=', repositoryId);
}

/** Every direct grant on the repository, with org membership resolved in the same query. */
export async function listUserPermissions(db: Db, repositoryId: number, orgId: number | null): Promise<UserPermissionRow[]> {
  return userPermissionQuery(db, repositoryId, orgId).orderBy('u.username').execute();
}

export async function findUserPermission(db: Db, repositoryId: number, userId: number, orgId: number | null): Promise<UserPermissionRow | undefined> {
  return userPermissionQuery(db, repositoryId, orgId).where('rp.user_id', '=', userId).executeTakeFirst();
}

/** Creates or replaces the direct grant (the partial unique index on (repository_id, user_id)). */
export async function upsertUserPermission(db: Db, repositoryId: number, userId: number, role: RepoRoleName): Promise<void> {
  await db
    .insertInto('repository_permission')
    .values({ repository_id: repositoryId, user_id: userId, team_id: null, role })
    .onConflict((oc) => oc.columns(['repository_id', 'user_id']).where('user_id', 'is not', null).doUpdateSet({ role }))
    .execute();
}

/** Deletes the direct grant; false when there was none. */
export async function deleteUserPermission(db: Db, repositoryId: number, userId: number): Promise<boolean> {
  const r = await db.deleteFrom('repository_permission').where('repository_id', '=', repositoryId).where('user_id', '=', userId).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

function teamPermissionQuery(db: Db, repositoryId: number) {
  return db
    .selectFrom('repository_permission as rp')
    .innerJoin('team as t', 't.id', 'rp.team_id')
    .select(['rp.role', 't.id as team_id', 't.name'])
    .where('rp.repository_id', '=', repositoryId);
}

export async function listTeamPermissions(db: Db, repositoryId: number): Promise<TeamPermissionRow[]> {
  return teamPermissionQuery(db, repositoryId).orderBy('t.name').execute();
}

export async function findTeamPermission(db: Db, repositoryId: number, teamId: number): Promise<TeamPermissionRow | undefined> {
  return teamPermissionQuery(db, repositoryId).where('rp.team_id', '=', teamId).executeTakeFirst();
}

export async function upsertTeamPermission(db: Db, repositoryId: number, teamId: number, role: RepoRoleName): Promise<void> {
  await db
    .insertInto('repository_permission')
    .values({ repository_id: repositoryId, user_id: null, team_id: teamId, role })
    .onConflict((oc) => oc.columns(['repository_id', 'team_id']).where('team_id', 'is not', null).doUpdateSet({ role }))
    .execute();
}

export async function deleteTeamPermission(db: Db, repositoryId: number, teamId: number): Promise<boolean> {
  const r = await db.deleteFrom('repository_permission').where('repository_id', '=', repositoryId).where('team_id', '=', teamId).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

/** A team of the organization by name. */
export async function findOrgTeam(db: Db, orgId: number, name: string) {
  return db.selectFrom('team').select(['id', 'name']).where('organization_id', '=', orgId).where('name', '=', name).executeTakeFirst();
}

/**
 * The permission rows that apply to a user on a repository: the direct grant and the grant of each
 * team the user belongs to (implicit access is not a row and is not listed).
 */
export async function listTransitiveRoles(db: Db, repositoryId: number, userId: number): Promise<RepoRoleName[]> {
  const rows = await sql<{ role: RepoRoleName }>`
    select role from repository_permission where repository_id = ${repositoryId} and user_id = ${userId}
    union all
    select rp.role from repository_permission rp
      join team_member tm on tm.team_id = rp.team_id
      where rp.repository_id = ${repositoryId} and tm.user_id = ${userId}
  `.execute(db);
  return rows.rows.map((r) => r.role);
}
