// App-specific tokens (part1 §1): per-user registry credentials whose full code the API returns again.
import { randomUUID } from 'node:crypto';
import type { Db } from './index.js';
import type { AppSpecificToken } from './schema.js';

export async function listAppTokens(db: Db, userId: number): Promise<AppSpecificToken[]> {
  return db.selectFrom('app_specific_token').selectAll().where('user_id', '=', userId).orderBy('id').execute();
}

export async function findAppToken(db: Db, userId: number, uuid: string): Promise<AppSpecificToken | undefined> {
  return db.selectFrom('app_specific_token').selectAll().where('user_id', '=', userId).where('uuid', '=', uuid).executeTakeFirst();
}

export async function insertAppToken(
  db: Db,
  t: { userId: number; title: string; tokenName: string; secretEnc: string; expiration: Date | null },
): Promise<AppSpecificToken> {
  return db
    .insertInto('app_specific_token')
    .values({
      uuid: randomUUID(),
      user_id: t.userId,
      title: t.title,
      token_name: t.tokenName,
      token_secret_enc: t.secretEnc,
      expiration: t.expiration,
      last_accessed: null,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function deleteAppToken(db: Db, id: number): Promise<void> {
  await db.deleteFrom('app_specific_token').where('id', '=', id).execute();
}
