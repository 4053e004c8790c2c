// Service keys (Quay's ServiceKey table): public JWKs that verify signed tokens, per service, with
// an approval and an optional expiry. The instance key, which signs /v2/auth tokens, also keeps its
// private half here, encrypted under DATABASE_SECRET_KEY (src/registry/service-keys.ts).
import { sql } from 'kysely';
import type { Db, Trx } from './index.js';
import type { Selectable } from 'kysely';
import type { ServiceKeyTable } from './schema.js';

export type ServiceKey = Selectable<ServiceKeyTable>;

/** Quay's ServiceKeyApprovalType values. */
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
}

export async function insertServiceKey(db: Db, k: NewServiceKey): Promise<ServiceKey> {
  const now = new Date();
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
      approver_id: null,
      approved_date: k.approvalType ? now : null,
      approval_notes: k.approvalType ? '' : null,
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
  await sql`select pg_advisory_xact_lock(${sql.raw(INSTANCE_KEY_LOCK.toString())})`.execute(trx);
}
