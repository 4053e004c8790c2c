// Password and app-token logins, shared by /api/v1/signin, the sign-in page and HTTP Basic on the
// OAuth web routes. Failures are throttled per account and client address (src/services/throttle.ts),
// and an unknown name costs what a wrong password costs: the same queries, the same KDF run (on a
// dummy hash), the same answer.
import { randomBytes } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { hashPassword, verifyPassword } from '../auth/passwords.js';
import { safeEqual, type SecretBox } from '../auth/crypto.js';
import type { Db } from '../db/index.js';
import type { Namespace } from '../db/schema.js';
import { findUserById, findUserByLogin, markUserVerified } from '../db/users.js';
import { PlainError } from '../lib/api-error.js';
import { stringProblem } from '../lib/input-guard.js';
import { inviteVerifiesEmail } from './accounts.js';
import { noteFailure, noteSuccess, throttleWait, type ThrottlePolicy } from './throttle.js';

/** Where a login attempt comes from, and the throttle it is subject to. */
export interface LoginGuard {
  ip: string;
  policy: ThrottlePolicy;
}

/** The configured throttle, for a request's client address. */
export function loginGuard(req: FastifyRequest): LoginGuard {
  const c = req.server.config;
  return { ip: req.ip, policy: { accountLimit: c.ACCOUNT_FAILURE_LIMIT, windowS: c.ACCOUNT_FAILURE_WINDOW } };
}

let dummyHash: Promise<string> | undefined;
/** A hash of a random password, verified against when there is no real one to check. */
function dummy(): Promise<string> {
  dummyHash ??= hashPassword(randomBytes(18).toString('base64url'));
  return dummyHash;
}
/** Computes the dummy hash ahead of the first unknown login, so that one costs no more than others. */
export function warmLoginChecks(): void {
  void dummy();
}

/** The password check, with the KDF run whether or not there is a hash to check against. */
async function passwordMatches(password: string, stored: string | null | undefined): Promise<boolean> {
  if (stored?.startsWith('scrypt$')) return verifyPassword(password, stored);
  await verifyPassword(password, await dummy());
  return false;
}

export type LoginVerdict =
  | { ok: true; user: Namespace }
  | { ok: false; body: Record<string, unknown>; status: number; retryAfter?: number };

const TOO_MANY = { message: 'Too many login attempts. \nPlease reset your password and try again.' };

/**
 * Checks a password login. `inviteCode` (signinUser's `urn:teaminvite:<code>`) verifies an
 * unverified user's address when it is a team invite mailed to that address, before the verified
 * check (web-endpoints.md §3.1).
 */
export async function checkPasswordLogin(
  db: Db,
  login: string,
  password: string,
  orEmail: boolean,
  guard: LoginGuard,
  o: { inviteCode?: string } = {},
): Promise<LoginVerdict> {
  const invalid = { needsEmailVerification: false, invalidCredentials: true, message: 'Invalid Username or Password' };
  let user = await findUserByLogin(db, login, orEmail);
  const subject = user ? `user:${user.id}` : `login:${login.toLowerCase()}`;
  const wait = await throttleWait(db, subject, guard.ip, guard.policy);
  if (wait > 0) return { ok: false, status: 429, retryAfter: wait, body: TOO_MANY };
  // The KDF runs for unknown names too (against a dummy hash): the same cost, the same answer.
  const matches = await passwordMatches(password, user?.password_hash);
  if (!user || !matches) {
    await noteFailure(db, subject, guard.ip);
    return { ok: false, status: 403, body: invalid };
  }
  await noteSuccess(db, subject, guard.ip);
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

/**
 * Decodes HTTP Basic credentials: undefined when malformed, or when either part could not be
 * stored or compared as text (NUL, bytes that are not UTF-8).
 */
export function basicCredentials(header: string | undefined): { username: string; password: string } | undefined {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header ?? '');
  if (!m) return undefined;
  const bytes = Buffer.from(m[1], 'base64');
  let decoded: string;
  try {
    decoded = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
  const i = decoded.indexOf(':');
  if (i <= 0 || stringProblem(decoded)) return undefined;
  return { username: decoded.slice(0, i), password: decoded.slice(i + 1) };
}

/** HTTP Basic user credentials (password, or `$app` + app token), as Quay's web routes accept them. */
export async function checkBasicUser(db: Db, secrets: SecretBox, header: string | undefined, guard: LoginGuard): Promise<Namespace | undefined> {
  const c = basicCredentials(header);
  if (!c) return undefined;
  if (c.username === '$app') return checkAppTokenLogin(db, secrets, c.password);
  if (c.username.includes('+') || c.username === '$oauthtoken') return undefined; // robots and tokens: not here
  const v = await checkPasswordLogin(db, c.username, c.password, false, guard);
  return v.ok ? v.user : undefined;
}

// Quay's "encrypted password" (generateUserClientKey, createInstallUser, /user/initialize): the
// password sealed under this server's key, accepted as a registry password in its place, so a CI
// file holds no clear-text password. It stops working when the password changes or the server's
// DATABASE_SECRET_KEY does. The purpose prefix keeps other sealed values from passing as one.
const CLIENT_KEY_PURPOSE = 'user-password\0';

export function encryptUserPassword(secrets: SecretBox, password: string): string {
  return secrets.encrypt(CLIENT_KEY_PURPOSE + password);
}

/** The password inside an encrypted password made by this server, or undefined for anything else. */
export function decryptUserPassword(secrets: SecretBox, candidate: string): string | undefined {
  if (!candidate.startsWith('v1.') || candidate.length > 4096) return undefined;
  const plain = secrets.decrypt(candidate);
  return plain?.startsWith(CLIENT_KEY_PURPOSE) ? plain.slice(CLIENT_KEY_PURPOSE.length) : undefined;
}
