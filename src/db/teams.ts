// Teams of an organization, their members and pending invites: plain query functions.
import { sql, type RawBuilder, type Selectable } from 'kysely';
import type { Db } from './index.js';
import type { Namespace, TeamRole, TeamTable } from './schema.js';

export type Team = Selectable<TeamTable>;

/** A team of an organization by name; undefined when `orgId` has no such team. */
export async function findTeam(db: Db, orgId: number, name: string): Promise<Team | undefined> {
  return db.selectFrom('team').selectAll().where('organization_id', '=', orgId).where('name', '=', name).executeTakeFirst();
}

/** The same, locking the row until the transaction ends (role changes and deletion). */
export async function findTeamForUpdate(db: Db, orgId: number, name: string): Promise<Team | undefined> {
  return db
    .selectFrom('team')
    .selectAll()
    .where('organization_id', '=', orgId)
    .where('name', '=', name)
    .forUpdate()
    .executeTakeFirst();
}

export async function insertTeam(db: Db, t: { orgId: number; name: string; role: TeamRole; description: string }): Promise<Team> {
  return db
    .insertInto('team')
    .values({ organization_id: t.orgId, name: t.name, role: t.role, description: t.description })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function updateTeam(db: Db, id: number, set: { role?: TeamRole; description?: string }): Promise<Team> {
  return db.updateTable('team').set(set).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
}

/** Deletes the team; memberships, grants, invites and prototypes naming it go with it (FK cascade). */
export async function deleteTeam(db: Db, id: number): Promise<void> {
  await db.deleteFrom('team').where('id', '=', id).execute();
}

/** Names of the admin teams of `orgId` that `userId` belongs to. */
export async function adminTeamNames(db: Db, orgId: number, userId: number): Promise<string[]> {
  const rows = await db
    .selectFrom('team')
    .innerJoin('team_member', 'team_member.team_id', 'team.id')
    .select('team.name')
    .where('team.organization_id', '=', orgId)
    .where('team.role', '=', 'admin')
    .where('team_member.user_id', '=', userId)
    .execute();
  return rows.map((r) => r.name);
}

export async function isTeamMember(db: Db, teamId: number, userId: number): Promise<boolean> {
  const row = await db.selectFrom('team_member').select('id').where('team_id', '=', teamId).where('user_id', '=', userId).executeTakeFirst();
  return !!row;
}

export async function addTeamMember(db: Db, teamId: number, userId: number): Promise<void> {
  await db.insertInto('team_member').values({ team_id: teamId, user_id: userId }).execute();
}

/** True when a membership was removed. */
export async function removeTeamMember(db: Db, teamId: number, userId: number): Promise<boolean> {
  const r = await db.deleteFrom('team_member').where('team_id', '=', teamId).where('user_id', '=', userId).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

/** The team's members (users and robots), by name. */
export async function listTeamMembers(db: Db, teamId: number): Promise<Namespace[]> {
  return db
    .selectFrom('namespace')
    .innerJoin('team_member', 'team_member.user_id', 'namespace.id')
    .selectAll('namespace')
    .where('team_member.team_id', '=', teamId)
    .orderBy('namespace.username')
    .execute();
}

export interface TeamInvite {
  id: number;
  email: string | null;
  /** The invited user, for user invites. */
  user: Namespace | null;
}

/** Pending invites to the team, oldest first, with the invited user when there is one. */
export async function listTeamInvites(db: Db, teamId: number): Promise<TeamInvite[]> {
  const invites = await db
    .selectFrom('team_member_invite')
    .select(['id', 'email', 'user_id'])
    .where('team_id', '=', teamId)
    .orderBy('id')
    .execute();
  const userIds = invites.flatMap((i) => (i.user_id === null ? [] : [i.user_id]));
  const users = userIds.length ? await db.selectFrom('namespace').selectAll().where('id', 'in', userIds).execute() : [];
  const byId = new Map(users.map((u) => [u.id, u]));
  return invites.map((i) => ({ id: i.id, email: i.email, user: i.user_id === null ? null : (byId.get(i.user_id) ?? null) }));
}

/** Deletes the user's pending invite to the team; true when there was one. */
export async function deleteUserInvite(db: Db, teamId: number, userId: number): Promise<boolean> {
  const r = await db.deleteFrom('team_member_invite').where('team_id', '=', teamId).where('user_id', '=', userId).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

export interface TeamRepoPermission {
  repository: string;
  visibility: 'public' | 'private';
  role: 'read' | 'write' | 'admin';
}

/** The team's direct repository grants, by repository name. */
export async function listTeamRepoPermissions(db: Db, teamId: number): Promise<TeamRepoPermission[]> {
  return db
    .selectFrom('repository_permission')
    .innerJoin('repository', 'repository.id', 'repository_permission.repository_id')
    .select(['repository.name as repository', 'repository.visibility', 'repository_permission.role'])
    .where('repository_permission.team_id', '=', teamId)
    .orderBy('repository.name')
    .execute();
}

/** A user or robot (never an organization) by name: Quay's get_user. */
export async function findUserOrRobot(db: Db, name: string): Promise<Namespace | undefined> {
  return db.selectFrom('namespace').selectAll().where('username', '=', name).where('organization', '=', false).executeTakeFirst();
}

/** Which of `userIds` belong to at least one team of the organization. */
export async function orgMemberIds(db: Db, orgId: number, userIds: number[]): Promise<Set<number>> {
  if (!userIds.length) return new Set();
  const rows = await db
    .selectFrom('team_member')
    .innerJoin('team', 'team.id', 'team_member.team_id')
    .select('team_member.user_id')
    .distinct()
    .where('team.organization_id', '=', orgId)
    .where('team_member.user_id', 'in', userIds)
    .execute();
  return new Set(rows.map((r) => r.user_id));
}

/**
 * Whether the namespace row aliased `u` is in a team of `orgId` (Quay's "is a member of the
 * organization"), as a column expression; constant false without an organization.
 */
export function inOrgFlag(orgId: number | null): RawBuilder<boolean> {
  if (orgId === null) return sql<boolean>`false`;
  return sql<boolean>`exists (select 1 from team_member tm join team t on t.id = tm.team_id where tm.user_id = u.id and t.organization_id = ${orgId})`;
}
