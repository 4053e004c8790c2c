// Failed credential checks per (subject, client IP): the data behind src/services/throttle.ts.
import { sql } from 'kysely';
import type { Db } from './index.js';

export interface FailureRow {
  ip: string;
  failures: number;
  last_failure: Date;
}

/** This IP's row for the subject, and every row of the subject that failed since `since`. */
export async function findFailures(db: Db, subject: string, ip: string, since: Date): Promise<FailureRow[]> {
  return db
    .selectFrom('auth_failure')
    .select(['ip', 'failures', 'last_failure'])
    .where('subject', '=', subject)
    .where((eb) => eb.or([eb('ip', '=', ip), eb('last_failure', '>', since)]))
    .execute();
}

export async function recordFailure(db: Db, subject: string, ip: string): Promise<void> {
  await db
    .insertInto('auth_failure')
    .values({ subject, ip, failures: 1, last_failure: new Date() })
    .onConflict((oc) => oc.columns(['subject', 'ip']).doUpdateSet({ failures: sql`auth_failure.failures + 1`, last_failure: new Date() }))
    .execute();
}

export async function clearFailures(db: Db, subject: string, ip: string): Promise<void> {
  await db.deleteFrom('auth_failure').where('subject', '=', subject).where('ip', '=', ip).execute();
}

export async function deleteStaleFailures(db: Db, before: Date): Promise<number> {
  const r = await db.deleteFrom('auth_failure').where('last_failure', '<', before).executeTakeFirst();
  return Number(r.numDeletedRows);
}
