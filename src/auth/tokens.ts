// OAuth access tokens: 40 characters, shown once. The first 20 are a clear lookup key, the rest is
// stored as a SHA-256 hash. The secret half carries >100 bits of entropy, so one fast hash per request
// is enough (a password KDF would make every API call slow without adding safety).
import type { Db } from '../db/index.js';
import { findAccessTokenByName, insertAccessToken, touchAccessToken, type TokenLookup } from '../db/oauth.js';
import type { OAuthAccessToken } from '../db/schema.js';
import type { AuthCache } from './cache.js';
import { ALNUM, randomString, safeEqual, sha256Hex, UPPER_DIGITS } from './crypto.js';

export const TOKEN_LENGTH = 40;
export const NAME_LENGTH = 20;
/** Implicit flow, code flow: 10 years (registry-and-auth.md A.8). */
export const DEFAULT_TOKEN_LIFETIME_S = 315576000;
/** /api/v1/user/initialize: 2.5 hours, as Quay's create_user_access_token. */
export const INITIALIZE_TOKEN_LIFETIME_S = 9000;
/** last_accessed is written at most once a minute per token. */
const LAST_ACCESSED_THRESHOLD_MS = 60_000;

export function splitSecret(value: string, nameLength: number): { name: string; secret: string } | undefined {
  if (value.length <= nameLength) return undefined;
  return { name: value.slice(0, nameLength), secret: value.slice(nameLength) };
}

export interface MintOptions {
  applicationId: number;
  userId: number;
  username: string;
  scope: string;
  lifetimeS?: number;
  /** 'upper' for tokens minted by /user/initialize and the CLI, as Quay's create_user_access_token. */
  alphabet?: 'alnum' | 'upper';
  tokenType?: string;
}

export async function mintAccessToken(db: Db, o: MintOptions): Promise<{ token: string; row: OAuthAccessToken }> {
  const token = randomString(TOKEN_LENGTH, o.alphabet === 'upper' ? UPPER_DIGITS : ALNUM);
  const { name, secret } = splitSecret(token, NAME_LENGTH)!;
  const row = await insertAccessToken(db, {
    applicationId: o.applicationId,
    userId: o.userId,
    scope: o.scope,
    tokenName: name,
    tokenHash: sha256Hex(secret),
    tokenType: o.tokenType ?? 'Bearer',
    expiresAt: new Date(Date.now() + (o.lifetimeS ?? DEFAULT_TOKEN_LIFETIME_S) * 1000),
    data: { username: o.username },
  });
  return { token, row };
}

export type TokenValidation =
  | { ok: true; lookup: TokenLookup }
  | { ok: false; reason: 'invalid' | 'expired' | 'disabled' };

export type TokenCache = Pick<AuthCache<TokenLookup, unknown>, 'getToken' | 'setToken'>;

/** Checks a cached lookup against the presented token: expiry, disabled user, hash. */
function verifyLookup(lookup: TokenLookup | undefined, secretHash: string): TokenValidation {
  if (!lookup || !safeEqual(secretHash, lookup.token.token_hash)) return { ok: false, reason: 'invalid' };
  if (lookup.token.expires_at.getTime() <= Date.now()) return { ok: false, reason: 'expired' };
  if (!lookup.user.enabled) return { ok: false, reason: 'disabled' };
  return { ok: true, lookup };
}

/**
 * The synchronous path for a token whose lookup is cached and whose last_accessed is fresh: no
 * database, no promise. Returns undefined when the database is needed (validateAccessToken).
 */
export function validateCachedAccessToken(presented: string, cache: TokenCache): TokenValidation | undefined {
  const parts = splitSecret(presented, NAME_LENGTH);
  if (!parts || presented.length > 255) return { ok: false, reason: 'invalid' };
  const lookup = cache.getToken(parts.name);
  if (!lookup) return undefined;
  const last = lookup.token.last_accessed?.getTime() ?? 0;
  if (Date.now() - last > LAST_ACCESSED_THRESHOLD_MS) return undefined;
  return verifyLookup(lookup, sha256Hex(parts.secret));
}

export async function validateAccessToken(db: Db, presented: string, cache?: TokenCache): Promise<TokenValidation> {
  const parts = splitSecret(presented, NAME_LENGTH);
  if (!parts || presented.length > 255) return { ok: false, reason: 'invalid' };
  let lookup = cache?.getToken(parts.name);
  if (!lookup) {
    lookup = await findAccessTokenByName(db, parts.name);
    if (lookup) cache?.setToken(parts.name, lookup);
  }
  // Hash even when nothing matched, so a miss costs the same as a wrong secret.
  const verdict = verifyLookup(lookup, sha256Hex(parts.secret));
  if (!verdict.ok || !lookup) return verdict;
  const last = lookup.token.last_accessed?.getTime() ?? 0;
  if (Date.now() - last > LAST_ACCESSED_THRESHOLD_MS) {
    lookup.token.last_accessed = new Date();
    await touchAccessToken(db, lookup.token.id);
  }
  return { ok: true, lookup };
}
