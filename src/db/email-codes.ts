// One-time codes sent by e-mail: sign-up confirmation ('confirm') and account recovery
// ('recovery'). A row keeps only the SHA-256 of its code; consuming a code deletes its row, so a
// code works once, and an expired code is deleted by the attempt to use it (as Quay's are).
import { sql } from 'kysely';
import { sha256Hex } from '../auth/crypto.js';
import type { Db } from './index.js';

export type EmailCodeKind = 'confirm' | 'recovery';

export async function insertEmailCode(db: Db, o: { userId: number; kind: EmailCodeKind; code: string }): Promise<number> {
  const row = await db
    .insertInto('email_confirmation')
    .values({ code_hash: sha256Hex(o.code), user_id: o.userId, kind: o.kind, new_email: null })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

export async function deleteEmailCode(db: Db, id: number): Promise<void> {
  await db.deleteFrom('email_confirmation').where('id', '=', id).execute();
}

/** Drops the user's codes of `kind` older than `lifetimeS`: each new code sweeps the stale ones. */
export async function deleteStaleEmailCodes(db: Db, userId: number, kind: EmailCodeKind, lifetimeS: number): Promise<void> {
  await db
    .deleteFrom('email_confirmation')
    .where('user_id', '=', userId)
    .where('kind', '=', kind)
    .where('created', '<', sql<Date>`now() - make_interval(secs => ${lifetimeS})`)
    .execute();
}

/**
 * Deletes the row of `code` and returns its user when the code was younger than `lifetimeS`
 * (measured by the database clock, which every replica shares). Codes that change the address
 * (`new_email`, changeUserDetails) are consumed by src/services/account-changes.ts instead.
 */
export async function consumeEmailCode(db: Db, kind: EmailCodeKind, code: string, lifetimeS: number): Promise<number | undefined> {
  const row = await db
    .deleteFrom('email_confirmation')
    .where('code_hash', '=', sha256Hex(code))
    .where('kind', '=', kind)
    .where('new_email', 'is', null)
    .returning(['user_id', sql<boolean>`created > now() - make_interval(secs => ${lifetimeS})`.as('live')])
    .executeTakeFirst();
  return row?.live ? row.user_id : undefined;
}

/** Whether the user was sent a code of `kind` in the last `seconds` (to space out repeat mails). */
export async function hasRecentEmailCode(db: Db, userId: number, kind: EmailCodeKind, seconds: number): Promise<boolean> {
  const row = await db
    .selectFrom('email_confirmation')
    .select('id')
    .where('user_id', '=', userId)
    .where('kind', '=', kind)
    .where('created', '>', sql<Date>`now() - make_interval(secs => ${seconds})`)
    .executeTakeFirst();
  return !!row;
}
