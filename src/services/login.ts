// Password and app-token logins, shared by /api/v1/signin, the sign-in page and HTTP Basic on the
// OAuth web routes. Failed password logins back off as Quay's do (web-endpoints.md §3.1).
import { verifyPassword } from '../auth/passwords.js';
import { safeEqual, type SecretBox } from '../auth/crypto.js';
import type { Db } from '../db/index.js';
import type { Namespace } from '../db/schema.js';
import { findUserById, findUserByLogin, markUserVerified, recordLoginFailure, resetLoginFailures } from '../db/users.js';
import { PlainError } from '../lib/api-error.js';
import { inviteVerifiesEmail } from './accounts.js';

/** After n failures, logins are refused for 0.5·(2ⁿ−1) s after the last one (capped at an hour). */
function backoffRemainingS(user: Namespace): number {
  const n = user.invalid_login_attempts;
  if (n <= 0 || !user.last_invalid_login) return 0;
  const waitS = Math.min(0.5 * (2 ** Math.min(n, 30) - 1), 3600);
  const until = user.last_invalid_login.getTime() + waitS * 1000;
  return Math.max(0, Math.ceil((until - Date.now()) / 1000));
}

export type LoginVerdict =
  | { ok: true; user: Namespace }
  | { ok: false; body: Record<string, unknown>; status: number; retryAfter?: number };

/**
 * Checks a password login, recording failures for the backoff (unknown usernames are not counted).
 * `inviteCode` (signinUser's `urn:teaminvite:<code>`) verifies an unverified user's address when it
 * is a team invite mailed to that address, before the verified check (web-endpoints.md §3.1).
 */
export async function checkPasswordLogin(
  db: Db,
  login: string,
  password: string,
  orEmail: boolean,
  o: { inviteCode?: string } = {},
): Promise<LoginVerdict> {
  const invalid = { needsEmailVerification: false, invalidCredentials: true, message: 'Invalid Username or Password' };
  let user = await findUserByLogin(db, login, orEmail);
  if (!user) return { ok: false, status: 403, body: invalid };
  const wait = backoffRemainingS(user);
  if (wait > 0) {
    return { ok: false, status: 429, retryAfter: wait, body: { message: 'Too many login attempts. \nPlease reset your password and try again.' } };
  }
  if (!(await verifyPassword(password, user.password_hash))) {
    await recordLoginFailure(db, user.id);
    return { ok: false, status: 403, body: invalid };
  }
  if (user.invalid_login_attempts > 0) await resetLoginFailures(db, user.id);
  if (!user.enabled) {
    return { ok: false, status: 403, body: { ...invalid, message: 'This user has been disabled. Please contact your administrator.' } };
  }
  if (!user.verified && (await inviteVerifiesEmail(db, o.inviteCode, user.email))) user = await markUserVerified(db, user.id);
  if (!user.verified) return { ok: false, status: 403, body: { needsEmailVerification: true, invalidCredentials: false, message: null } };
  return { ok: true, user };
}

/** Turns a refused login into the reply Quay sends (429 carries Retry-After). */
export function refuseLogin(v: Extract<LoginVerdict, { ok: false }>): never {
  const headers: Record<string, string> = v.status === 429 ? { 'Retry-After': String(v.retryAfter ?? 1) } : {};
  throw new PlainError(v.status, v.body, headers);
}

/** `$app` + an app-specific token code: the token's owner, or undefined. */
export async function checkAppTokenLogin(db: Db, secrets: SecretBox, code: string): Promise<Namespace | undefined> {
  if (code.length !== 120) return undefined;
  const row = await db.selectFrom('app_specific_token').selectAll().where('token_name', '=', code.slice(0, 60)).executeTakeFirst();
  const secret = row ? secrets.decrypt(row.token_secret_enc) : undefined;
  if (!row || secret === undefined || !safeEqual(secret, code.slice(60))) return undefined;
  if (row.expiration && row.expiration.getTime() <= Date.now()) return undefined;
  const user = await findUserById(db, row.user_id);
  if (!user || !user.enabled) return undefined;
  await db.updateTable('app_specific_token').set({ last_accessed: new Date() }).where('id', '=', row.id).execute();
  return user;
}

/** HTTP Basic user credentials (password, or `$app` + app token), as Quay's web routes accept them. */
export async function checkBasicUser(db: Db, secrets: SecretBox, header: string | undefined): Promise<Namespace | undefined> {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header ?? '');
  if (!m) return undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i <= 0) return undefined;
  const username = decoded.slice(0, i);
  const password = decoded.slice(i + 1);
  if (username === '$app') return checkAppTokenLogin(db, secrets, password);
  if (username.includes('+') || username === '$oauthtoken') return undefined; // robots and tokens: not here
  const v = await checkPasswordLogin(db, username, password, false);
  return v.ok ? v.user : undefined;
}
