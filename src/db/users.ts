// Users (and, for lookups, organizations and robots): plain query functions over the namespace table.
import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Db } from './index.js';
import { forgetLogCountsAt } from './log-counts.js';
import type { DB, Namespace, TeamRole } from './schema.js';

export async function findNamespaceByName(db: Db, name: string): Promise<Namespace | undefined> {
  return db.selectFrom('namespace').selectAll().where('username', '=', name).executeTakeFirst();
}

export async function findUserById(db: Db, id: number): Promise<Namespace | undefined> {
  return db
    .selectFrom('namespace')
    .selectAll()
    .where('id', '=', id)
    .where('organization', '=', false)
    .where('robot', '=', false)
    .executeTakeFirst();
}

/** A real user (not an org or robot) by username, or by e-mail when `orEmail` is set. */
export async function findUserByLogin(db: Db, login: string, orEmail = false): Promise<Namespace | undefined> {
  let q = db.selectFrom('namespace').selectAll().where('organization', '=', false).where('robot', '=', false);
  q = orEmail ? q.where((eb) => eb.or([eb('username', '=', login), eb('email', '=', login)])) : q.where('username', '=', login);
  // Prefer the username match when one login string matches two rows.
  return q.orderBy(sql`username = ${login}`, 'desc').executeTakeFirst();
}

/** The user, organization or robot whose e-mail address is `email` (addresses are unique). */
export async function findNamespaceByEmail(db: Db, email: string): Promise<Namespace | undefined> {
  return db.selectFrom('namespace').selectAll().where('email', '=', email).executeTakeFirst();
}

export async function markUserVerified(db: Db, userId: number): Promise<Namespace> {
  return db.updateTable('namespace').set({ verified: true }).where('id', '=', userId).returningAll().executeTakeFirstOrThrow();
}

/** Removes a user who never confirmed their address (their codes go with them). */
/**
 * Undoes a sign-up whose confirmation mail could not be sent: the account goes, and with it the
 * audit rows of an account that never existed for anybody (user_create), and the counts of their
 * periods should the log-maintenance job have made one meanwhile (src/db/log-counts.ts).
 */
export async function deleteUnverifiedUser(db: Kysely<DB>, userId: number): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const r = await trx
      .deleteFrom('namespace')
      .where('id', '=', userId)
      .where('verified', '=', false)
      .where('organization', '=', false)
      .executeTakeFirst();
    if (Number(r.numDeletedRows) > 0) {
      const gone = await trx.deleteFrom('log_entry').where('account_id', '=', userId).returning('datetime').execute();
      await forgetLogCountsAt(trx, gone.map((g) => new Date(g.datetime)));
    }
  });
}

export async function countNamespaces(db: Db): Promise<number> {
  const r = await db.selectFrom('namespace').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
  return Number(r.n);
}

export interface NewUser {
  username: string;
  email: string | null;
  passwordHash: string | null;
  verified: boolean;
}

export async function insertUser(db: Db, u: NewUser): Promise<Namespace> {
  return db
    .insertInto('namespace')
    .values({
      uuid: randomUUID(),
      username: u.username,
      email: u.email,
      password_hash: u.passwordHash,
      verified: u.verified,
      last_invalid_login: null,
      given_name: null,
      family_name: null,
      company: null,
      location: null,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export interface UserOrganization {
  name: string;
  email: string | null;
  /** The user's highest team role in the org. */
  role: TeamRole;
}

/**
 * Every organization the user belongs to through any team, with the highest role held. The user
 * view caches this per process (app.authCache): code that changes team membership calls
 * app.authCache.clear() after committing.
 */
export async function listUserOrganizations(db: Db, userId: number): Promise<UserOrganization[]> {
  const rows = await db
    .selectFrom('team_member')
    .innerJoin('team', 'team.id', 'team_member.team_id')
    .innerJoin('namespace as org', 'org.id', 'team.organization_id')
    .select(['org.username as name', 'org.email as email', 'team.role as role'])
    .where('team_member.user_id', '=', userId)
    .orderBy('org.username')
    .execute();
  const rank: Record<TeamRole, number> = { member: 1, creator: 2, admin: 3 };
  const byName = new Map<string, UserOrganization>();
  for (const r of rows) {
    const prev = byName.get(r.name);
    if (!prev || rank[r.role] > rank[prev.role]) byName.set(r.name, { name: r.name, email: r.email, role: r.role });
  }
  return [...byName.values()];
}
