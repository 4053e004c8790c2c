// Permission prototypes ("default permissions") of an organization: plain query functions.
// Repository creation reads the same table to apply them (part1 §12.0).
import { randomUUID } from 'node:crypto';
import type { Selectable } from 'kysely';
import type { Db } from './index.js';
import type { Namespace, PermissionPrototypeTable, RepoRoleName } from './schema.js';
import type { Team } from './teams.js';

export type PrototypeRow = Selectable<PermissionPrototypeTable>;

/** A prototype with the users and team it names. */
export interface Prototype extends PrototypeRow {
  activatingUser: Namespace | null;
  delegateUser: Namespace | null;
  delegateTeam: Team | null;
}

async function withNames(db: Db, rows: PrototypeRow[]): Promise<Prototype[]> {
  const userIds = [...new Set(rows.flatMap((r) => [r.activating_user_id, r.delegate_user_id]).filter((id): id is number => id !== null))];
  const teamIds = [...new Set(rows.map((r) => r.delegate_team_id).filter((id): id is number => id !== null))];
  const users = userIds.length ? await db.selectFrom('namespace').selectAll().where('id', 'in', userIds).execute() : [];
  const teams = teamIds.length ? await db.selectFrom('team').selectAll().where('id', 'in', teamIds).execute() : [];
  const u = new Map(users.map((x) => [x.id, x]));
  const t = new Map(teams.map((x) => [x.id, x]));
  return rows.map((r) => ({
    ...r,
    activatingUser: r.activating_user_id === null ? null : (u.get(r.activating_user_id) ?? null),
    delegateUser: r.delegate_user_id === null ? null : (u.get(r.delegate_user_id) ?? null),
    delegateTeam: r.delegate_team_id === null ? null : (t.get(r.delegate_team_id) ?? null),
  }));
}

/** The organization's prototypes, oldest first. */
export async function listPrototypes(db: Db, orgId: number): Promise<Prototype[]> {
  const rows = await db.selectFrom('permission_prototype').selectAll().where('org_id', '=', orgId).orderBy('id').execute();
  return withNames(db, rows);
}

/** One prototype of the organization by its uuid. */
export async function findPrototype(db: Db, orgId: number, uuid: string): Promise<Prototype | undefined> {
  const row = await db.selectFrom('permission_prototype').selectAll().where('org_id', '=', orgId).where('uuid', '=', uuid).executeTakeFirst();
  return row ? (await withNames(db, [row]))[0] : undefined;
}

export interface NewPrototype {
  orgId: number;
  role: RepoRoleName;
  activatingUserId: number | null;
  delegateUserId: number | null;
  delegateTeamId: number | null;
}

export async function insertPrototype(db: Db, p: NewPrototype): Promise<Prototype> {
  const row = await db
    .insertInto('permission_prototype')
    .values({
      uuid: randomUUID(),
      org_id: p.orgId,
      role: p.role,
      activating_user_id: p.activatingUserId,
      delegate_user_id: p.delegateUserId,
      delegate_team_id: p.delegateTeamId,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return (await withNames(db, [row]))[0];
}

/** False when the prototype is gone (deleted meanwhile). */
export async function setPrototypeRole(db: Db, id: number, role: RepoRoleName): Promise<boolean> {
  const r = await db.updateTable('permission_prototype').set({ role }).where('id', '=', id).executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** False when the prototype is gone (deleted meanwhile). */
export async function deletePrototype(db: Db, id: number): Promise<boolean> {
  const r = await db.deleteFrom('permission_prototype').where('id', '=', id).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}
