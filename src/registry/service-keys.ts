// The instance service key: the RSA-2048 key that signs /v2/auth tokens (registry-and-auth.md C.4),
// kept as a service_key row of service `quay` whose kid is the RFC 7638 thumbprint of its public
// JWK. The private half is stored in the same row, encrypted under DATABASE_SECRET_KEY, so every
// replica signs with the same key and a restart keeps the tokens it issued valid.
//
// Start-up (ensureInstanceKey): use the newest usable row (approved, not expiring within a token's
// lifetime, private half readable with this server's secret and matching the kid); when none
// exists, generate one. Two processes starting at once on one PostgreSQL serialize on an advisory
// lock and re-check under it, so the second takes the first one's key instead of adding another.
// Quay gives each container its own key and rotates it every two hours; keys made here do not
// expire (expiration_date null) until an administrator sets an expiry or deletes them, after which
// the next check (at most a minute later) moves signing to a new key.
//
// Verification looks a kid up among the approved, unexpired rows of service `quay` (any of them,
// not only this server's), cached for AUTH_CACHE_SECONDS.
import { createHash, createPrivateKey, createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import type { SecretBox } from '../auth/crypto.js';
import type { Db, DB } from '../db/index.js';
import { findVerificationKey, insertServiceKey, listSigningKeys, lockInstanceKeyCreation, type ServiceKey } from '../db/service-keys.js';
import type { Kysely } from 'kysely';

/** Quay's INSTANCE_SERVICE_KEY_SERVICE: the service of the instance keys and every token's `iss`. */
export const INSTANCE_KEY_SERVICE = 'quay';
/** A key expiring sooner than this is not used to sign (tokens live an hour). */
const SIGNING_MARGIN_MS = 3600_000;
/** How often the signing key's row is checked again (deleted or expired by an administrator). */
const SIGNING_RECHECK_MS = 60_000;

const generateRsa = promisify(generateKeyPair);

interface RsaJwk {
  kty: string;
  n: string;
  e: string;
}

/** RFC 7638: SHA-256 over the required members in lexicographic order, without whitespace. */
export function jwkThumbprint(jwk: RsaJwk): string {
  const canonical = `{"e":${JSON.stringify(jwk.e)},"kty":${JSON.stringify(jwk.kty)},"n":${JSON.stringify(jwk.n)}}`;
  return createHash('sha256').update(canonical).digest('base64url');
}

export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
}

/** The row's private key, when this server can read it and it belongs to the row's kid. */
function readSigningKey(row: ServiceKey, secrets: SecretBox): SigningKey | undefined {
  const pem = row.private_key_enc ? secrets.decrypt(row.private_key_enc) : undefined;
  if (!pem) return undefined;
  try {
    const privateKey = createPrivateKey(pem);
    if (privateKey.asymmetricKeyType !== 'rsa') return undefined;
    const jwk = createPublicKey(privateKey).export({ format: 'jwk' }) as RsaJwk;
    if (jwkThumbprint(jwk) !== row.kid) return undefined;
    return { kid: row.kid, privateKey };
  } catch {
    return undefined;
  }
}

async function findUsable(db: Db, secrets: SecretBox): Promise<SigningKey | undefined> {
  const rows = await listSigningKeys(db, INSTANCE_KEY_SERVICE, new Date(Date.now() + SIGNING_MARGIN_MS));
  for (const row of rows) {
    const key = readSigningKey(row, secrets);
    if (key) return key;
  }
  return undefined;
}

/** Finds the instance key, or makes one (once, whichever process gets there first). */
export async function ensureInstanceKey(db: Kysely<DB>, secrets: SecretBox): Promise<SigningKey & { created: boolean }> {
  const existing = await findUsable(db, secrets);
  if (existing) return { ...existing, created: false };
  // Generated outside the transaction: 50–300 ms of CPU that must not hold the lock (or PGlite's
  // only connection). Wasted only when another process wins the race.
  const { publicKey, privateKey } = await generateRsa('rsa', { modulusLength: 2048, publicExponent: 0x10001 });
  const pub = publicKey.export({ format: 'jwk' }) as RsaJwk;
  const kid = jwkThumbprint(pub);
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  return db.transaction().execute(async (trx) => {
    await lockInstanceKeyCreation(trx);
    const raced = await findUsable(trx, secrets);
    if (raced) return { ...raced, created: false };
    await insertServiceKey(trx, {
      kid,
      service: INSTANCE_KEY_SERVICE,
      name: 'Instance key',
      jwk: { kty: 'RSA', n: pub.n, e: pub.e, kid },
      privateKeyEnc: secrets.encrypt(pem),
      metadata: { created_by: 'instance start-up' },
      expirationDate: null,
      approvalType: 'Automatic',
    });
    return { kid, privateKey, created: true };
  });
}

interface CachedKey {
  at: number;
  key: KeyObject | null;
  expiresAt: number | null;
}

/** The instance's signing key and a short-lived cache of verification keys, per app. */
export class ServiceKeys {
  #signing: SigningKey;
  #checkedAt = Date.now();
  #refreshing: Promise<SigningKey> | undefined;
  readonly #verify = new Map<string, CachedKey>();

  private constructor(
    private readonly db: Kysely<DB>,
    private readonly secrets: SecretBox,
    private readonly cacheMs: number,
    signing: SigningKey,
  ) {
    this.#signing = signing;
  }

  static async load(db: Kysely<DB>, secrets: SecretBox, cacheSeconds: number): Promise<ServiceKeys> {
    const { kid, privateKey } = await ensureInstanceKey(db, secrets);
    return new ServiceKeys(db, secrets, cacheSeconds * 1000, { kid, privateKey });
  }

  /** The key to sign with; its row is checked again at most once a minute. */
  async signingKey(): Promise<SigningKey> {
    if (Date.now() - this.#checkedAt < SIGNING_RECHECK_MS) return this.#signing;
    this.#refreshing ??= this.#recheck().finally(() => (this.#refreshing = undefined));
    return this.#refreshing;
  }

  async #recheck(): Promise<SigningKey> {
    const row = await findVerificationKey(this.db, INSTANCE_KEY_SERVICE, this.#signing.kid, new Date(Date.now() + SIGNING_MARGIN_MS));
    if (!row) {
      const { kid, privateKey } = await ensureInstanceKey(this.db, this.secrets);
      this.#signing = { kid, privateKey };
    }
    this.#checkedAt = Date.now();
    return this.#signing;
  }

  /** The public key of an approved, unexpired key `kid` of service `quay`, or undefined. */
  async verificationKey(kid: string): Promise<KeyObject | undefined> {
    const now = Date.now();
    const hit = this.#verify.get(kid);
    if (hit && now - hit.at <= this.cacheMs) {
      if (!hit.key || (hit.expiresAt !== null && hit.expiresAt <= now)) return undefined;
      return hit.key;
    }
    const row = await findVerificationKey(this.db, INSTANCE_KEY_SERVICE, kid, new Date(now));
    let key: KeyObject | null = null;
    if (row) {
      try {
        key = createPublicKey({ key: row.jwk as unknown as import('node:crypto').JsonWebKey, format: 'jwk' });
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
