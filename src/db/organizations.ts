// Organizations: namespace rows with organization=true, their teams, members and collaborators
// (part1 §10). Membership is team membership; direct repository grants make collaborators.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { Db, Trx } from './index.js';
import type { Namespace, TeamRole } from './schema.js';

export async function findOrganization(db: Db, name: string): Promise<Namespace | undefined> {
  return db.selectFrom('namespace').selectAll().where('username', '=', name).where('organization', '=', true).executeTakeFirst();
}

/**
 * Inserts the organization with an `owners` team (role admin) holding `creatorId`, as Quay's
 * create_organization. Unique violations (name, e-mail) propagate to the caller.
 */
export async function insertOrganization(trx: Trx, o: { name: string; email: string | null; creatorId: number }): Promise<Namespace> {
  const org = await trx
    .insertInto('namespace')
    .values({
      uuid: randomUUID(),
      username: o.name,
      email: o.email,
      organization: true,
      verified: true,
      password_hash: null,
      last_invalid_login: null,
      given_name: null,
      family_name: null,
      company: null,
      location: null,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  const team = await trx.insertInto('team').values({ organization_id: org.id, name: 'owners', role: 'admin' }).returning('id').executeTakeFirstOrThrow();
  await trx.insertInto('team_member').values({ team_id: team.id, user_id: o.creatorId }).execute();
  return org;
}

/** What changeOrganizationDetails may change on the org's row. */
export type OrganizationPatch = Partial<
  Pick<Namespace, 'email' | 'verified' | 'tag_expiration_s' | 'invoice_email' | 'invoice_email_address'>
>;

export async function updateOrganization(db: Db, id: number, patch: OrganizationPatch): Promise<Namespace> {
  return db.updateTable('namespace').set(patch).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
}

/** Whether any account (user, org or robot) other than `exceptId` uses this e-mail address. */
export async function emailInUse(db: Db, email: string, exceptId: number): Promise<boolean> {
  const row = await db.selectFrom('namespace').select('id').where('email', '=', email).where('id', '!=', exceptId).executeTakeFirst();
  return !!row;
}

/**
 * Deletes the namespace row. Foreign keys cascade to its teams (and their members, invites and
 * grants), robots, repositories (with permissions and stars), prototypes and OAuth applications
 * (with their tokens and codes). Audit rows have no foreign key and stay.
 */
export async function deleteNamespace(trx: Trx, id: number): Promise<void> {
  await trx.deleteFrom('namespace').where('id', '=', id).execute();
}

export interface TeamSummary {
  id: number;
  name: string;
  description: string;
  role: TeamRole;
  repo_count: number;
  member_count: number;
}

/** The org's teams in creation order, with their repository-grant and member (robots included) counts. */
export async function listTeamsWithCounts(db: Db, orgId: number): Promise<TeamSummary[]> {
  const rows = await db
    .selectFrom('team as t')
    .select([
      't.id',
      't.name',
      't.description',
      't.role',
      (eb) => eb.selectFrom('repository_permission as rp').whereRef('rp.team_id', '=', 't.id').select(eb.fn.countAll<string>().as('n')).as('repo_count'),
      (eb) => eb.selectFrom('team_member as tm').whereRef('tm.team_id', '=', 't.id').select(eb.fn.countAll<string>().as('n')).as('member_count'),
    ])
    .where('t.organization_id', '=', orgId)
    .orderBy('t.id')
    .execute();
  return rows.map((r) => ({ ...r, repo_count: Number(r.repo_count), member_count: Number(r.member_count) }));
}

/** Ids of the org's teams that the user belongs to. */
export async function listUserTeamIds(db: Db, orgId: number, userId: number): Promise<Set<number>> {
  const rows = await db
    .selectFrom('team_member as tm')
    .innerJoin('team as t', 't.id', 'tm.team_id')
    .select('t.id')
    .where('t.organization_id', '=', orgId)
    .where('tm.user_id', '=', userId)
    .execute();
  return new Set(rows.map((r) => r.id));
}

export interface Membership {
  user_id: number;
  username: string;
  email: string | null;
  robot: boolean;
  team_id: number;
  team_name: string;
}

/** One row per (member, team) of the org; robots included unless `humansOnly`; optionally one member. */
export async function listMemberships(db: Db, orgId: number, o: { humansOnly?: boolean; userId?: number } = {}): Promise<Membership[]> {
  let q = db
    .selectFrom('team_member as tm')
    .innerJoin('team as t', 't.id', 'tm.team_id')
    .innerJoin('namespace as u', 'u.id', 'tm.user_id')
    .select(['u.id as user_id', 'u.username', 'u.email', 'u.robot', 't.id as team_id', 't.name as team_name'])
    .where('t.organization_id', '=', orgId);
  if (o.humansOnly) q = q.where('u.robot', '=', false);
  if (o.userId !== undefined) q = q.where('u.id', '=', o.userId);
  return q.orderBy('u.username').orderBy('t.id').execute();
}

export interface DirectGrant {
  user_id: number;
  username: string;
  email: string | null;
  repository: string;
}

/** Direct (per-user) grants on the org's repositories: humans only, or every grant of one account. */
export async function listDirectGrants(db: Db, orgId: number, userId?: number): Promise<DirectGrant[]> {
  let q = db
    .selectFrom('repository_permission as rp')
    .innerJoin('repository as r', 'r.id', 'rp.repository_id')
    .innerJoin('namespace as u', 'u.id', 'rp.user_id')
    .select(['u.id as user_id', 'u.username', 'u.email', 'r.name as repository'])
    .where('r.namespace_id', '=', orgId);
  q = userId !== undefined ? q.where('u.id', '=', userId) : q.where('u.robot', '=', false);
  return q.orderBy('u.username').orderBy('r.name').execute();
}

/** The distinct non-robot users in the organization's admin teams, by name. */
export async function orgAdminUsers(db: Db, orgId: number): Promise<{ id: number; username: string }[]> {
  return db
    .selectFrom('team_member as tm')
    .innerJoin('team as t', 't.id', 'tm.team_id')
    .innerJoin('namespace as u', 'u.id', 'tm.user_id')
    .select(['u.id', 'u.username'])
    .distinct()
    .where('t.organization_id', '=', orgId)
    .where('t.role', '=', 'admin')
    .where('u.robot', '=', false)
    .orderBy('u.username')
    .execute();
}

/**
 * Removes the user from every team of the org and deletes their direct grants on its repositories,
 * unless they are the org's only admin (Quay counts distinct non-robot users in admin teams).
 * Returns false, changing nothing, in that case. The org row is locked so two concurrent removals
 * cannot leave the org without an admin.
 */
export async function removeOrganizationMember(trx: Trx, orgId: number, userId: number): Promise<boolean> {
  await sql`select id from namespace where id = ${orgId} for update`.execute(trx);
  const admins = await orgAdminUsers(trx, orgId);
  if (admins.length === 1 && admins[0].id === userId) return false;
  await trx
    .deleteFrom('repository_permission')
    .where('user_id', '=', userId)
    .where('repository_id', 'in', (eb) => eb.selectFrom('repository').select('id').where('namespace_id', '=', orgId))
    .execute();
  await trx
    .deleteFrom('team_member')
    .where('user_id', '=', userId)
    .where('team_id', 'in', (eb) => eb.selectFrom('team').select('id').where('organization_id', '=', orgId))
    .execute();
  return true;
}

export async function findNamespaceById(db: Db, id: number): Promise<Namespace | undefined> {
  return db.selectFrom('namespace').selectAll().where('id', '=', id).executeTakeFirst();
}
