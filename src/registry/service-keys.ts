// The instance service key: the RSA-2048 key that signs /v2/auth tokens (registry-and-auth.md C.4),
// kept as a service_key row of service `quay` whose kid is the RFC 7638 thumbprint of its public
// JWK. The private half is stored in the same row, encrypted under DATABASE_SECRET_KEY, so every
// replica signs with the same key and a restart keeps the tokens it issued valid.
//
// Rotation without downtime. Each instance key expires INSTANCE_SERVICE_KEY_EXPIRATION minutes
// after it is made (Quay's setting and default, 120) and signs for INSTANCE_SERVICE_KEY_REFRESH
// minutes (55). After that a new key signs, and the old one keeps verifying the tokens it signed
// until its own expiry. A key never signs when it has less than a token's lifetime (plus a
// minute) left, so no token outlives its key, whatever the two settings or an administrator's
// updateServiceKey say. The new key is approved as KEY_ROTATION because its predecessor was
// approved (as Quay's key server approves a key signed by an approved one,
// quay/quay:endpoints/keyserver/__init__.py put_service_key), and `service_key_rotate` is logged.
// With INSTANCE_SERVICE_KEY_EXPIRATION 0 keys do not expire and a new one signs only once an
// administrator sets an expiry on the current one or deletes it.
//
// Quay instead gives each container its own key and keeps extending its expiry while the
// container runs (quay/quay:workers/servicekeyworker). Here replicas share one key through the
// database, so extending it would mean it never changes.
//
// Start-up and rotation (ensureInstanceKey): use the newest usable row (approved, far enough from
// its expiry, private half readable with this server's secret and matching the kid); when none
// exists, generate one. Processes on one PostgreSQL serialize on an advisory lock and re-check
// under it, so of several processes starting or rotating at once only the first adds a key and
// the others take it. After a restart the stored key is used again until it is due to rotate.
//
// Checking for rotation costs no database round trip per token: the signing key's expiry is held
// in memory, and its row is read again at most once a minute (an administrator may have changed
// its expiry, unapproved or deleted it).
//
// Verification looks a kid up among the approved, unexpired rows of service `quay` (any of them,
// not only this server's), cached for AUTH_CACHE_SECONDS.
import { createHash, createPrivateKey, createPublicKey, generateKeyPair, type JsonWebKey, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import type { Kysely } from 'kysely';
import type { SecretBox } from '../auth/crypto.js';
import type { Db, DB } from '../db/index.js';
import {
  deleteStaleServiceKeys,
  findVerificationKey,
  insertServiceKey,
  listSigningKeys,
  lockInstanceKeyCreation,
  type ServiceKey,
} from '../db/service-keys.js';
import { logAction } from '../lib/audit.js';

/** Quay's INSTANCE_SERVICE_KEY_SERVICE: the service of the instance keys and every token's `iss`. */
export const INSTANCE_KEY_SERVICE = 'quay';
/**
 * A key expiring sooner than this does not sign: a token lives an hour (REGISTRY_TOKEN_LIFETIME_S),
 * and is accepted 30 s past its `exp`.
 */
export const SIGNING_MARGIN_MS = 3660_000;
/** How often the signing key's row is read again (expiry changed, unapproved or deleted by an administrator). */
const SIGNING_RECHECK_MS = 60_000;

/** Quay's defaults (config.py INSTANCE_SERVICE_KEY_EXPIRATION, INSTANCE_SERVICE_KEY_REFRESH), in minutes. */
export interface RotationSettings {
  /** Lifetime of a new instance key; 0: keys do not expire. */
  expirationMinutes: number;
  /** How long a key signs before the next one takes over (ignored when keys do not expire). */
  refreshMinutes: number;
}
export const DEFAULT_ROTATION: RotationSettings = { expirationMinutes: 120, refreshMinutes: 55 };

export interface KeyOptions {
  rotation?: RotationSettings;
  /** The clock (milliseconds), for tests. */
  now?: () => number;
}

/**
 * A key stops signing once its remaining lifetime is below this: the time left after
 * `refreshMinutes` of signing, and never less than SIGNING_MARGIN_MS.
 */
export function retireBeforeMs(r: RotationSettings): number {
  if (r.expirationMinutes <= 0) return SIGNING_MARGIN_MS;
  return Math.max(SIGNING_MARGIN_MS, (r.expirationMinutes - r.refreshMinutes) * 60_000);
}

const generateRsa = promisify(generateKeyPair);

type RsaJwk = {
  kty: string;
  n: string;
  e: string;
};

/** RFC 7638: SHA-256 over the required members in lexicographic order, without whitespace. */
export function jwkThumbprint(jwk: RsaJwk): string {
  const canonical = `{"e":${JSON.stringify(jwk.e)},"kty":${JSON.stringify(jwk.kty)},"n":${JSON.stringify(jwk.n)}}`;
  return createHash('sha256').update(canonical).digest('base64url');
}

/** A new RSA-2048 key pair: its RFC 7638 kid, public JWK (with the kid) and private key. */
export async function generateRsaKey(): Promise<{ kid: string; jwk: RsaJwk & { kid: string }; privateKey: KeyObject; publicKey: KeyObject }> {
  const { publicKey, privateKey } = await generateRsa('rsa', { modulusLength: 2048, publicExponent: 0x10001 });
  const pub = publicKey.export({ format: 'jwk' }) as RsaJwk;
  const kid = jwkThumbprint(pub);
  return { kid, jwk: { kty: 'RSA', n: pub.n, e: pub.e, kid }, privateKey, publicKey };
}

export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
}

/** A signing key with its row's expiry (ms), null for none. */
interface HeldKey extends SigningKey {
  expiresAt: number | null;
}

/** The row's private key, when this server can read it and it belongs to the row's kid. */
function readSigningKey(row: ServiceKey, secrets: SecretBox): HeldKey | undefined {
  const pem = row.private_key_enc ? secrets.decrypt(row.private_key_enc) : undefined;
  if (!pem) return undefined;
  try {
    const privateKey = createPrivateKey(pem);
    if (privateKey.asymmetricKeyType !== 'rsa') return undefined;
    const jwk = createPublicKey(privateKey).export({ format: 'jwk' }) as RsaJwk;
    if (jwkThumbprint(jwk) !== row.kid) return undefined;
    return { kid: row.kid, privateKey, expiresAt: row.expiration_date ? row.expiration_date.getTime() : null };
  } catch {
    return undefined;
  }
}

async function findUsable(db: Db, secrets: SecretBox, notBefore: Date): Promise<HeldKey | undefined> {
  const rows = await listSigningKeys(db, INSTANCE_KEY_SERVICE, notBefore);
  for (const row of rows) {
    const key = readSigningKey(row, secrets);
    if (key) return key;
  }
  return undefined;
}

/**
 * Finds the instance key to sign with, or makes one (once, whichever process gets there first).
 * A key made while another approved instance key is still alive is that key's rotation.
 */
export async function ensureInstanceKey(
  db: Kysely<DB>,
  secrets: SecretBox,
  opts: KeyOptions = {},
): Promise<HeldKey & { created: boolean }> {
  const rotation = opts.rotation ?? DEFAULT_ROTATION;
  const clock = opts.now ?? (() => Date.now());
  const retire = retireBeforeMs(rotation);
  const existing = await findUsable(db, secrets, new Date(clock() + retire));
  if (existing) return { ...existing, created: false };
  // Generated outside the transaction: 50–300 ms of CPU that must not hold the lock (or PGlite's
  // only connection). Wasted only when another process wins the race.
  const fresh = await generateRsaKey();
  const pem = fresh.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  return db.transaction().execute(async (trx) => {
    await lockInstanceKeyCreation(trx);
    const nowMs = clock();
    const now = new Date(nowMs);
    const raced = await findUsable(trx, secrets, new Date(nowMs + retire));
    if (raced) return { ...raced, created: false };
    // The newest instance key still alive, if any: the one this key takes over from.
    const [predecessor] = await listSigningKeys(trx, INSTANCE_KEY_SERVICE, now);
    const expirationDate = rotation.expirationMinutes > 0 ? new Date(nowMs + rotation.expirationMinutes * 60_000) : null;
    const name = predecessor?.name ?? 'Instance key';
    await insertServiceKey(trx, {
      kid: fresh.kid,
      service: INSTANCE_KEY_SERVICE,
      name,
      jwk: fresh.jwk,
      privateKeyEnc: secrets.encrypt(pem),
      metadata: predecessor ? { created_by: 'Key Rotation' } : { created_by: 'instance start-up' },
      expirationDate,
      approvalType: predecessor ? 'Key Rotation' : 'Automatic',
      now,
    });
    if (predecessor) {
      // Quay's key server logs a rotation with these fields (endpoints/keyserver/__init__.py); dates
      // are unix seconds, as Quay's log serializer writes them.
      await logAction(trx, null, 'service_key_rotate', { accountId: null }, {
        kid: fresh.kid,
        signer_kid: predecessor.kid,
        service: INSTANCE_KEY_SERVICE,
        name,
        expiration_date: expirationDate ? Math.floor(expirationDate.getTime() / 1000) : null,
      });
    }
    // Long-expired keys go, as Quay collects them whenever a key of the service is created.
    await deleteStaleServiceKeys(trx, INSTANCE_KEY_SERVICE, now);
    return { kid: fresh.kid, privateKey: fresh.privateKey, expiresAt: expirationDate ? expirationDate.getTime() : null, created: true };
  });
}

interface CachedKey {
  at: number;
  key: KeyObject | null;
  expiresAt: number | null;
}

/** The instance's signing key and a short-lived cache of verification keys, per app. */
export class ServiceKeys {
  #signing: HeldKey;
  #checkedAt: number;
  #refreshing: Promise<SigningKey> | undefined;
  readonly #verify = new Map<string, CachedKey>();
  readonly #retireMs: number;

  private constructor(
    private readonly db: Kysely<DB>,
    private readonly secrets: SecretBox,
    private readonly cacheMs: number,
    private readonly opts: Required<KeyOptions>,
    signing: HeldKey,
  ) {
    this.#signing = signing;
    this.#checkedAt = opts.now();
    this.#retireMs = retireBeforeMs(opts.rotation);
  }

  static async load(db: Kysely<DB>, secrets: SecretBox, cacheSeconds: number, opts: KeyOptions = {}): Promise<ServiceKeys> {
    const full: Required<KeyOptions> = { rotation: opts.rotation ?? DEFAULT_ROTATION, now: opts.now ?? (() => Date.now()) };
    const { kid, privateKey, expiresAt } = await ensureInstanceKey(db, secrets, full);
    return new ServiceKeys(db, secrets, cacheSeconds * 1000, full, { kid, privateKey, expiresAt });
  }

  /**
   * The key to sign with. Its expiry is checked in memory on every call (rotation is due once it
   * has less than the retirement margin left); its row is read again at most once a minute.
   */
  async signingKey(): Promise<SigningKey> {
    const now = this.opts.now();
    const { expiresAt } = this.#signing;
    const due = expiresAt !== null && expiresAt - now <= this.#retireMs;
    if (!due && now - this.#checkedAt < SIGNING_RECHECK_MS) return this.#signing;
    this.#refreshing ??= this.#recheck().finally(() => (this.#refreshing = undefined));
    return this.#refreshing;
  }

  async #recheck(): Promise<SigningKey> {
    const now = this.opts.now();
    const row = await findVerificationKey(this.db, INSTANCE_KEY_SERVICE, this.#signing.kid, new Date(now + this.#retireMs));
    if (row) {
      // Still usable; its expiry may have been changed (updateServiceKey).
      this.#signing = { ...this.#signing, expiresAt: row.expiration_date ? row.expiration_date.getTime() : null };
    } else {
      const { kid, privateKey, expiresAt } = await ensureInstanceKey(this.db, this.secrets, this.opts);
      this.#signing = { kid, privateKey, expiresAt };
    }
    this.#checkedAt = this.opts.now();
    return this.#signing;
  }

  /** The public key of an approved, unexpired key `kid` of service `quay`, or undefined. */
  async verificationKey(kid: string): Promise<KeyObject | undefined> {
    const now = this.opts.now();
    const hit = this.#verify.get(kid);
    if (hit && now - hit.at <= this.cacheMs) {
      if (!hit.key || (hit.expiresAt !== null && hit.expiresAt <= now)) return undefined;
      return hit.key;
    }
    const row = await findVerificationKey(this.db, INSTANCE_KEY_SERVICE, kid, new Date(now));
    let key: KeyObject | null = null;
    if (row) {
      try {
        key = createPublicKey({ key: row.jwk as unknown as JsonWebKey, format: 'jwk' });
        if (key.asymmetricKeyType !== 'rsa') key = null;
      } catch {
        key = null;
      }
    }
    if (this.cacheMs > 0) {
      if (this.#verify.size >= 1000) this.#verify.delete(this.#verify.keys().next().value as string);
      this.#verify.set(kid, { at: now, key, expiresAt: row?.expiration_date ? row.expiration_date.getTime() : null });
    }
    return key ?? undefined;
  }

  /** Drops cached verification keys (after this process changed service keys). */
  forget(): void {
    this.#verify.clear();
    this.#checkedAt = 0;
  }
}
