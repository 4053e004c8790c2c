// Repository notifications, in-app user notifications and authorized notification addresses
// (migrations/20261210T000000_notifications.ts). Plain queries; the API (src/api/
// repositorynotification.ts, src/api/user-notifications.ts) and the delivery job
// (src/jobs/notifications.ts) decide what they mean.
import { randomUUID } from 'node:crypto';
import { sql, type Selectable } from 'kysely';
import { sha256Hex } from '../auth/crypto.js';
import type { Db } from './index.js';
import type { NotificationTable, RepositoryNotificationTable } from './schema.js';

export type RepoNotification = Selectable<RepositoryNotificationTable>;
export type UserNotification = Selectable<NotificationTable>;

/** Quay skips a notification with this many failures until it is reset (data/model/notification.py get_enabled_notification). */
export const MAX_NOTIFICATION_FAILURES = 3;

export async function insertRepoNotification(
  db: Db,
  n: { repositoryId: number; event: string; method: string; config: Record<string, unknown>; eventConfig: Record<string, unknown>; title: string | null },
): Promise<RepoNotification> {
  return db
    .insertInto('repository_notification')
    .values({
      uuid: randomUUID(),
      repository_id: n.repositoryId,
      event: n.event,
      method: n.method,
      title: n.title,
      config: JSON.stringify(n.config),
      event_config: JSON.stringify(n.eventConfig),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** A repository's notifications, oldest first (Quay sets no order; creation order is stable). */
export async function listRepoNotifications(db: Db, repositoryId: number): Promise<RepoNotification[]> {
  return db.selectFrom('repository_notification').selectAll().where('repository_id', '=', repositoryId).orderBy('id').execute();
}

/** The notification `uuid` of this repository (never another repository's). */
export async function findRepoNotification(db: Db, repositoryId: number, uuid: string): Promise<RepoNotification | undefined> {
  return db.selectFrom('repository_notification').selectAll().where('repository_id', '=', repositoryId).where('uuid', '=', uuid).executeTakeFirst();
}

export async function deleteRepoNotification(db: Db, repositoryId: number, uuid: string): Promise<RepoNotification | undefined> {
  return db.deleteFrom('repository_notification').where('repository_id', '=', repositoryId).where('uuid', '=', uuid).returningAll().executeTakeFirst();
}

export async function resetRepoNotificationFailures(db: Db, repositoryId: number, uuid: string): Promise<RepoNotification | undefined> {
  return db
    .updateTable('repository_notification')
    .set({ number_of_failures: 0 })
    .where('repository_id', '=', repositoryId)
    .where('uuid', '=', uuid)
    .returningAll()
    .executeTakeFirst();
}

/**
 * The uuids of a repository's enabled notifications for `event`: one probe of (repository_id,
 * event). A disabled one would drop the event at delivery anyway (as Quay's worker does).
 */
export async function listEventNotificationUuids(db: Db, repositoryId: number, event: string): Promise<string[]> {
  const rows = await db
    .selectFrom('repository_notification')
    .select('uuid')
    .where('repository_id', '=', repositoryId)
    .where('event', '=', event)
    .where('number_of_failures', '<', MAX_NOTIFICATION_FAILURES)
    .execute();
  return rows.map((r) => r.uuid);
}

export interface DeliverableNotification extends RepoNotification {
  namespace_name: string;
  namespace_id: number;
  repository_name: string;
}

/** The notification with its repository's names, if it still exists and has fewer than 3 failures. */
export async function findEnabledNotification(db: Db, uuid: string): Promise<DeliverableNotification | undefined> {
  return db
    .selectFrom('repository_notification as n')
    .innerJoin('repository as r', 'r.id', 'n.repository_id')
    .innerJoin('namespace as ns', 'ns.id', 'r.namespace_id')
    .selectAll('n')
    .select(['ns.username as namespace_name', 'ns.id as namespace_id', 'r.name as repository_name'])
    .where('n.uuid', '=', uuid)
    .where('n.number_of_failures', '<', MAX_NOTIFICATION_FAILURES)
    .executeTakeFirst();
}

export async function incrementNotificationFailures(db: Db, id: number): Promise<number | undefined> {
  const row = await db
    .updateTable('repository_notification')
    .set({ number_of_failures: sql`number_of_failures + 1` })
    .where('id', '=', id)
    .returning('number_of_failures')
    .executeTakeFirst();
  return row?.number_of_failures;
}

/** A delivery succeeded: the failure count starts again (Quay's reset_number_of_failures_to_zero). */
export async function clearNotificationFailures(db: Db, id: number): Promise<void> {
  await db.updateTable('repository_notification').set({ number_of_failures: 0 }).where('id', '=', id).where('number_of_failures', '>', 0).execute();
}

// ---- In-app notifications ----

/**
 * Creates an in-app notification for a user or an organization. With `dedupeKey`, a second call
 * with the same target and key creates nothing (a delivery that runs again). Returns whether a
 * row was created.
 */
export async function insertUserNotification(
  db: Db,
  n: { kind: string; targetId: number; metadata: Record<string, unknown>; lookupPath?: string | null; dedupeKey?: string | null },
): Promise<boolean> {
  const r = await db
    .insertInto('notification')
    .values({
      uuid: randomUUID(),
      kind: n.kind,
      target_id: n.targetId,
      metadata: JSON.stringify(n.metadata),
      lookup_path: n.lookupPath ?? null,
      dedupe_key: n.dedupeKey ?? null,
    })
    .onConflict((oc) => oc.columns(['target_id', 'dedupe_key']).where('dedupe_key', 'is not', null).doNothing())
    .returning('id')
    .executeTakeFirst();
  return r !== undefined;
}

export interface UserNotificationRow extends UserNotification {
  target_username: string;
  target_is_org: boolean;
}

/**
 * The notifications a user sees: their own and those of the organizations they administer (a
 * member of a team with the admin role), newest first, as Quay's list_notifications.
 */
export async function listUserNotifications(
  db: Db,
  userId: number,
  o: { uuid?: string; includeDismissed?: boolean; offset?: number; limit?: number } = {},
): Promise<UserNotificationRow[]> {
  let q = db
    .selectFrom('notification as n')
    .innerJoin('namespace as t', 't.id', 'n.target_id')
    .selectAll('n')
    .select(['t.username as target_username', 't.organization as target_is_org'])
    .where((eb) =>
      eb.or([
        eb('n.target_id', '=', userId),
        eb(
          'n.target_id',
          'in',
          eb
            .selectFrom('team')
            .innerJoin('team_member', 'team_member.team_id', 'team.id')
            .select('team.organization_id')
            .where('team.role', '=', 'admin')
            .where('team_member.user_id', '=', userId),
        ),
      ]),
    );
  if (o.uuid !== undefined) q = q.where('n.uuid', '=', o.uuid);
  if (!o.includeDismissed) q = q.where('n.dismissed', '=', false);
  q = q.orderBy('n.created', 'desc').orderBy('n.id', 'desc');
  if (o.offset) q = q.offset(o.offset);
  if (o.limit !== undefined) q = q.limit(o.limit);
  return q.execute();
}

/** One notification the user sees (dismissed ones included), as Quay's lookup_notification. */
export async function findUserNotification(db: Db, userId: number, uuid: string): Promise<UserNotificationRow | undefined> {
  return (await listUserNotifications(db, userId, { uuid, includeDismissed: true, limit: 1 }))[0];
}

export async function setNotificationDismissed(db: Db, id: number, dismissed: boolean): Promise<void> {
  await db.updateTable('notification').set({ dismissed }).where('id', '=', id).execute();
}

/** Deletes the target's notifications of `kind` whose metadata contains every pair of `match` (Quay's delete_matching_notifications). */
export async function deleteMatchingNotifications(db: Db, targetId: number, kind: string, match: Record<string, unknown>): Promise<void> {
  await db
    .deleteFrom('notification')
    .where('target_id', '=', targetId)
    .where('kind', '=', kind)
    .where(sql<boolean>`metadata @> ${JSON.stringify(match)}::jsonb`)
    .execute();
}

// ---- Addresses authorized to receive a repository's e-mail notifications ----

export async function findAuthorizedEmail(db: Db, repositoryId: number, email: string) {
  return db.selectFrom('repository_authorized_email').selectAll().where('repository_id', '=', repositoryId).where('email', '=', email).executeTakeFirst();
}

/** Records a pending authorization for `email` with the code mailed to it (its hash only is kept). */
export async function insertAuthorizedEmail(db: Db, repositoryId: number, email: string, code: string): Promise<void> {
  await db
    .insertInto('repository_authorized_email')
    .values({ repository_id: repositoryId, email, code_hash: sha256Hex(code) })
    .onConflict((oc) => oc.constraint('repository_authorized_email_repo_email').doUpdateSet({ code_hash: sha256Hex(code) }))
    .execute();
}

/** Confirms the authorization whose code this is; returns it, or undefined for an unknown code. */
export async function confirmAuthorizedEmail(db: Db, code: string) {
  return db.updateTable('repository_authorized_email').set({ confirmed: true }).where('code_hash', '=', sha256Hex(code)).returningAll().executeTakeFirst();
}
