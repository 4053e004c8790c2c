// Pending team invites (part2 §12.3, §12.8): a user invite names a user, an e-mail invite an
// address. The row keeps only the SHA-256 of the invite code (invite_token); the code itself goes
// out in the invitation mail.
import { sha256Hex } from '../auth/crypto.js';
import type { Db } from './index.js';

export interface InviteTarget {
  teamId: number;
  inviterId: number;
  userId?: number;
  email?: string;
}

/**
 * Creates the invite with a fresh code, replacing an earlier pending invite of the same target to
 * the same team (a repeated invitation sends a new code and the old one stops working).
 */
export async function replaceInvite(db: Db, t: InviteTarget, code: string): Promise<number> {
  let stale = db.deleteFrom('team_member_invite').where('team_id', '=', t.teamId);
  stale = t.userId !== undefined ? stale.where('user_id', '=', t.userId) : stale.where('email', '=', t.email!);
  await stale.execute();
  const row = await db
    .insertInto('team_member_invite')
    .values({ team_id: t.teamId, user_id: t.userId ?? null, email: t.userId !== undefined ? null : t.email!, inviter_id: t.inviterId, invite_token: sha256Hex(code) })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

export async function deleteInviteById(db: Db, id: number): Promise<void> {
  await db.deleteFrom('team_member_invite').where('id', '=', id).execute();
}

/** Deletes the e-mail invite of `email` to the team; true when there was one. */
export async function deleteEmailInvite(db: Db, teamId: number, email: string): Promise<boolean> {
  const r = await db.deleteFrom('team_member_invite').where('team_id', '=', teamId).where('email', '=', email).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

export interface FoundInvite {
  id: number;
  teamId: number;
  team: string;
  orgId: number;
  org: string;
  userId: number | null;
  email: string | null;
  /** The inviter's name; null once that account is gone. */
  inviter: string | null;
}

/** The invite whose code is `code`, with its team, organization and inviter names. */
export async function findInviteByCode(db: Db, code: string): Promise<FoundInvite | undefined> {
  const row = await db
    .selectFrom('team_member_invite as i')
    .innerJoin('team as t', 't.id', 'i.team_id')
    .innerJoin('namespace as o', 'o.id', 't.organization_id')
    .leftJoin('namespace as inv', 'inv.id', 'i.inviter_id')
    .select(['i.id', 'i.team_id', 't.name as team', 'o.id as org_id', 'o.username as org', 'i.user_id', 'i.email', 'inv.username as inviter'])
    .where('i.invite_token', '=', sha256Hex(code))
    .executeTakeFirst();
  if (!row) return undefined;
  return {
    id: row.id,
    teamId: row.team_id,
    team: row.team,
    orgId: row.org_id,
    org: row.org,
    userId: row.user_id,
    email: row.email,
    inviter: row.inviter,
  };
}

/**
 * Every pending invite of the organization addressed to the user: by account, or to `email` when
 * given (the caller passes the user's address only once it is verified).
 */
export async function listOrgInvitesFor(
  db: Db,
  orgId: number,
  userId: number,
  email: string | null,
): Promise<{ id: number; teamId: number; team: string }[]> {
  return db
    .selectFrom('team_member_invite as i')
    .innerJoin('team as t', 't.id', 'i.team_id')
    .select(['i.id', 'i.team_id as teamId', 't.name as team'])
    .where('t.organization_id', '=', orgId)
    .where((eb) => (email === null ? eb('i.user_id', '=', userId) : eb.or([eb('i.user_id', '=', userId), eb('i.email', '=', email)])))
    .orderBy('i.id')
    .execute();
}
