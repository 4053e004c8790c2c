// Browser sessions are rows, so any replica can serve any request. The cookie carries a random
// value; the row is keyed by its SHA-256, so a leaked table does not leak live cookies.
import type { Db } from './index.js';
import type { Namespace, Session } from './schema.js';

export async function insertSession(
  db: Db,
  s: { id: string; userId: number | null; csrfToken: string; loginTime: Date | null; expiresAt: Date },
): Promise<Session> {
  return db
    .insertInto('session')
    .values({ id: s.id, user_id: s.userId, csrf_token: s.csrfToken, login_time: s.loginTime, expires_at: s.expiresAt })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function findLiveSession(db: Db, id: string): Promise<{ session: Session; user: Namespace | null } | undefined> {
  const session = await db
    .selectFrom('session')
    .selectAll()
    .where('id', '=', id)
    .where('expires_at', '>', new Date())
    .executeTakeFirst();
  if (!session) return undefined;
  if (session.user_id === null) return { session, user: null };
  const user = await db.selectFrom('namespace').selectAll().where('id', '=', session.user_id).executeTakeFirst();
  return { session, user: user ?? null };
}

export async function extendSession(db: Db, id: string, expiresAt: Date): Promise<void> {
  await db.updateTable('session').set({ expires_at: expiresAt }).where('id', '=', id).execute();
}

export async function deleteSession(db: Db, id: string): Promise<void> {
  await db.deleteFrom('session').where('id', '=', id).execute();
}

/** Logs a user out everywhere (Quay rotates the user's UUID for the same effect). */
export async function deleteUserSessions(db: Db, userId: number): Promise<void> {
  await db.deleteFrom('session').where('user_id', '=', userId).execute();
}

export async function deleteExpiredSessions(db: Db): Promise<number> {
  const r = await db.deleteFrom('session').where('expires_at', '<=', new Date()).executeTakeFirst();
  return Number(r.numDeletedRows);
}

/** Ends the login of one browser session but keeps the session (and its CSRF token). */
export async function logoutSession(db: Db, id: string): Promise<void> {
  await db.updateTable('session').set({ user_id: null, login_time: null }).where('id', '=', id).execute();
}
