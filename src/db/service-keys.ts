// Service keys (Quay's ServiceKey table): public JWKs that verify signed tokens, per service, with
// an approval and an optional expiry. The instance key, which signs /v2/auth tokens, also keeps its
// private half here, encrypted under DATABASE_SECRET_KEY (src/registry/service-keys.ts).
import type { Db, Trx } from './index.js';
import { advisoryXactLock } from './lock.js';
import type { Selectable } from 'kysely';
import type { Namespace, ServiceKeyTable } from './schema.js';

export type ServiceKey = Selectable<ServiceKeyTable>;

/**
 * Quay's ServiceKeyApprovalType values, as stored. The API shows them as Quay's database holds them
 * (`ServiceKeyApprovalType.SUPERUSER` …): see APPROVAL_TYPE_NAMES in src/api/superuser/keys.ts.
 */
export type ServiceKeyApprovalType = 'Super User API' | 'Key Rotation' | 'Automatic';

/**
 * Keys of `service` this server could sign with: approved, not expired by `notBefore`, holding a
 * private half. Newest first.
 */
export async function listSigningKeys(db: Db, service: string, notBefore: Date): Promise<ServiceKey[]> {
  return db
    .selectFrom('service_key')
    .selectAll()
    .where('service', '=', service)
    .where('private_key_enc', 'is not', null)
    .where('approval_type', 'is not', null)
    .where((eb) => eb.or([eb('expiration_date', 'is', null), eb('expiration_date', '>', notBefore)]))
    .orderBy('created_date', 'desc')
    .orderBy('id', 'desc')
    .execute();
}

/** The approved, unexpired key `kid` of `service`, as token verification may use it (no private half). */
export async function findVerificationKey(
  db: Db,
  service: string,
  kid: string,
  now: Date,
): Promise<Pick<ServiceKey, 'kid' | 'jwk' | 'expiration_date'> | undefined> {
  return db
    .selectFrom('service_key')
    .select(['kid', 'jwk', 'expiration_date'])
    .where('kid', '=', kid)
    .where('service', '=', service)
    .where('approval_type', 'is not', null)
    .where((eb) => eb.or([eb('expiration_date', 'is', null), eb('expiration_date', '>', now)]))
    .executeTakeFirst();
}

export interface NewServiceKey {
  kid: string;
  service: string;
  name: string;
  jwk: Record<string, unknown>;
  privateKeyEnc: string | null;
  metadata: Record<string, unknown>;
  expirationDate: Date | null;
  approvalType: ServiceKeyApprovalType | null;
  approverId?: number | null;
  approvalNotes?: string;
  now?: Date;
}

export async function insertServiceKey(db: Db, k: NewServiceKey): Promise<ServiceKey> {
  const now = k.now ?? new Date();
  return db
    .insertInto('service_key')
    .values({
      kid: k.kid,
      service: k.service,
      name: k.name,
      jwk: JSON.stringify(k.jwk),
      private_key_enc: k.privateKeyEnc,
      metadata: JSON.stringify(k.metadata),
      created_date: now,
      expiration_date: k.expirationDate,
      rotation_duration: null,
      approval_type: k.approvalType,
      approver_id: k.approvalType ? (k.approverId ?? null) : null,
      approved_date: k.approvalType ? now : null,
      approval_notes: k.approvalType ? (k.approvalNotes ?? '') : null,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

// One number for every process sharing the database: pg_advisory_xact_lock takes a bigint.
const INSTANCE_KEY_LOCK = 0x51_75_61_79_6b_65_79n; // "Quaykey"

/**
 * Serializes instance-key creation among processes on one database: held until the transaction
 * ends, so whoever comes second sees the first one's key.
 */
export async function lockInstanceKeyCreation(trx: Trx): Promise<void> {
  await advisoryXactLock(trx, INSTANCE_KEY_LOCK);
}

// ---- The superuser API and the key server ----

/** How long an expired key stays listed before it is removed (Quay's EXPIRED_SERVICE_KEY_TTL_SEC). */
export const EXPIRED_KEY_TTL_MS = 7 * 86400_000;
/** How long an unapproved key waits for approval before it is removed (UNAPPROVED_SERVICE_KEY_TTL_SEC). */
export const UNAPPROVED_KEY_TTL_MS = 86400_000;

/** A key as the superuser API shows it: everything but the private half. */
export type ServiceKeyView = Omit<ServiceKey, 'private_key_enc'>;

const VIEW_COLUMNS = [
  'id', 'kid', 'service', 'name', 'jwk', 'metadata', 'created_date', 'expiration_date',
  'rotation_duration', 'approval_type', 'approver_id', 'approved_date', 'approval_notes',
] as const;

function visibleKeys(db: Db, now: Date) {
  return (
    db
      .selectFrom('service_key')
      .select(VIEW_COLUMNS)
      // Keys expired longer ago than EXPIRED_KEY_TTL_MS are gone as far as anyone can see, as in
      // Quay (data/model/service_keys.py _list_service_keys_query), even before they are collected.
      .where((eb) => eb.or([eb('expiration_date', 'is', null), eb('expiration_date', '>', new Date(now.getTime() - EXPIRED_KEY_TTL_MS))]))
  );
}

/** Every key, approved or not, expired or not (but not long expired), oldest first. */
export async function listAllServiceKeys(db: Db, now: Date): Promise<ServiceKeyView[]> {
  return visibleKeys(db, now).orderBy('id').execute();
}

/** The key `kid` in any state (but not long expired), or undefined. */
export async function findServiceKey(db: Db, kid: string, now: Date): Promise<ServiceKeyView | undefined> {
  return visibleKeys(db, now).where('kid', '=', kid).executeTakeFirst();
}

/** The accounts that approved keys, by id. */
export async function findApprovers(db: Db, ids: number[]): Promise<Map<number, Namespace>> {
  if (ids.length === 0) return new Map();
  const rows = await db.selectFrom('namespace').selectAll().where('id', 'in', [...new Set(ids)]).execute();
  return new Map(rows.map((r) => [r.id, r]));
}

/** The key `kid`, locked until the transaction ends. */
export async function lockServiceKey(trx: Trx, kid: string, now: Date): Promise<ServiceKey | undefined> {
  return trx
    .selectFrom('service_key')
    .selectAll()
    .where('kid', '=', kid)
    .where((eb) => eb.or([eb('expiration_date', 'is', null), eb('expiration_date', '>', new Date(now.getTime() - EXPIRED_KEY_TTL_MS))]))
    .forUpdate()
    .executeTakeFirst();
}

/** The approved, unexpired keys of `service`, oldest first: what the key server publishes. */
export async function listPublishedKeys(db: Db, service: string, now: Date): Promise<Pick<ServiceKey, 'kid' | 'jwk'>[]> {
  return db
    .selectFrom('service_key')
    .select(['kid', 'jwk'])
    .where('service', '=', service)
    .where('approval_type', 'is not', null)
    .where((eb) => eb.or([eb('expiration_date', 'is', null), eb('expiration_date', '>', now)]))
    .orderBy('id')
    .execute();
}

export async function approveServiceKey(
  trx: Trx,
  id: number,
  a: { approvalType: ServiceKeyApprovalType; approverId: number | null; notes: string; now: Date },
): Promise<void> {
  await trx
    .updateTable('service_key')
    .set({ approval_type: a.approvalType, approver_id: a.approverId, approved_date: a.now, approval_notes: a.notes })
    .where('id', '=', id)
    .execute();
}

export async function updateServiceKey(
  trx: Trx,
  id: number,
  u: { name?: string; metadata?: Record<string, unknown>; expirationDate?: Date | null },
): Promise<void> {
  const set: { name?: string; metadata?: string; expiration_date?: Date | null } = {};
  if (u.name !== undefined) set.name = u.name;
  if (u.metadata !== undefined) set.metadata = JSON.stringify(u.metadata);
  if (u.expirationDate !== undefined) set.expiration_date = u.expirationDate;
  if (Object.keys(set).length === 0) return;
  await trx.updateTable('service_key').set(set).where('id', '=', id).execute();
}

export async function deleteServiceKey(db: Db, id: number): Promise<void> {
  await db.deleteFrom('service_key').where('id', '=', id).execute();
}

/**
 * Removes the keys of `service` that expired more than EXPIRED_KEY_TTL_MS ago or waited for
 * approval longer than UNAPPROVED_KEY_TTL_MS, as Quay does whenever a key of the service is
 * created or deleted (data/model/service_keys.py _gc_expired).
 */
export async function deleteStaleServiceKeys(db: Db, service: string, now: Date): Promise<void> {
  await db
    .deleteFrom('service_key')
    .where('service', '=', service)
    .where((eb) =>
      eb.or([
        eb('expiration_date', '<=', new Date(now.getTime() - EXPIRED_KEY_TTL_MS)),
        eb.and([eb('approval_type', 'is', null), eb('created_date', '<=', new Date(now.getTime() - UNAPPROVED_KEY_TTL_MS))]),
      ]),
    )
    .execute();
}
