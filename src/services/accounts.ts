// Creating user accounts, shared by createNewUser, /api/v1/user/initialize and the CLI, and the
// e-mail side of accounts (FEATURE_MAILING): sign-up confirmation, team-invite verification and
// account recovery. Checks follow Quay's create_user order (web-endpoints.md §3.6); the password
// hash is computed before any transaction opens, and mail goes out only after the change commits.
import { randomUUID } from 'node:crypto';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import type { AuthContext } from '../auth/context.js';
import { randomString } from '../auth/crypto.js';
import { hashPassword, INVALID_PASSWORD_MESSAGE, isValidPassword } from '../auth/passwords.js';
import { consumeEmailCode, deleteEmailCode, deleteStaleEmailCodes, hasRecentEmailCode, insertEmailCode, type EmailCodeKind } from '../db/email-codes.js';
import { orgAdminUsers } from '../db/organizations.js';
import type { Db, DB, Trx } from '../db/index.js';
import { isUniqueViolation } from '../db/errors.js';
import { findInviteByCode } from '../db/invites.js';
import type { Namespace } from '../db/schema.js';
import { deleteUnverifiedUser, findNamespaceByEmail, findNamespaceByName, insertUser, markUserVerified } from '../db/users.js';
import { logAction } from '../lib/audit.js';
import { isEmailAddress } from '../lib/email.js';
import { INVITE_URN_PREFIX } from './team-invites.js';
import { deliverOrUndo } from '../mail/mailer.js';
import { confirmEmailMail, orgRecoveryMail, recoveryMail } from '../mail/templates.js';

export const NAMESPACE_RE = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;

/** Why a username cannot be used, in Quay's words, or undefined when it can. */
export function usernameProblem(username: string): string | undefined {
  if (!NAMESPACE_RE.test(username)) {
    return `Invalid namespace ${username}: Namespace must match expression ^([a-z0-9]+(?:[._-][a-z0-9]+)*)$`;
  }
  if (username.length < 2 || username.length > 255) {
    return `Invalid namespace ${username}: Namespace must be between 2 and 255 characters in length`;
  }
  return undefined;
}

export class AccountError extends Error {}

export interface NewAccount {
  username: string;
  password: string;
  email?: string | null;
}

export interface PreparedAccount {
  username: string;
  email: string;
  passwordHash: string;
}

// One address, no display name or list; Quay's validate_email is as loose.

/**
 * Validates and hashes, outside any transaction. Throws AccountError with Quay's message. With
 * `emailRequired` (FEATURE_MAILING) the address must look like one, since a code will be mailed to it.
 */
export async function prepareAccount(a: NewAccount, o: { emailRequired?: boolean } = {}): Promise<PreparedAccount> {
  if (!isValidPassword(a.password)) throw new AccountError(INVALID_PASSWORD_MESSAGE);
  const given = a.email?.trim() ?? '';
  // Quay's create_user validates any address given; with mail on, one is also required.
  if ((o.emailRequired || given) && !isEmailAddress(given)) throw new AccountError(`Invalid email address: ${a.email ?? ''}`);
  const problem = usernameProblem(a.username);
  if (problem) throw new AccountError(problem);
  // Without mail, the address is not verified; when none is given Quay stores a random UUID.
  const email = given || randomUUID();
  return { username: a.username, email, passwordHash: await hashPassword(a.password) };
}

/**
 * Inserts the user and writes `user_create`. Users are verified unless told otherwise: without
 * mail there is nothing to confirm an address with.
 */
export async function insertAccount(
  trx: Trx,
  p: PreparedAccount,
  auth: AuthContext | null,
  o: { verified?: boolean; logMetadata?: Record<string, unknown> } = {},
): Promise<Namespace> {
  const existing = await findNamespaceByName(trx, p.username);
  if (existing) {
    throw new AccountError(
      existing.organization
        ? `Username has already been taken by an organization and cannot be reused: ${p.username}`
        : `Username has already been taken by user cannot be reused: ${p.username}`,
    );
  }
  let user: Namespace;
  try {
    user = await insertUser(trx, { username: p.username, email: p.email, passwordHash: p.passwordHash, verified: o.verified ?? true });
  } catch (err) {
    if (isUniqueViolation(err, 'namespace_email_key')) throw new AccountError(`Email has already been used: ${p.email}`);
    if (isUniqueViolation(err, 'namespace_username_key')) {
      throw new AccountError(`Username has already been taken by user cannot be reused: ${p.username}`);
    }
    throw err;
  }
  await logAction(trx, auth, 'user_create', { accountId: user.id }, o.logMetadata ?? { username: user.username, email: user.email }, {
    performerId: auth?.user?.id ?? user.id,
  });
  return user;
}

/** CLI and tests: prepare + insert in one transaction. */
export async function createAccount(db: Kysely<DB>, a: NewAccount): Promise<Namespace> {
  const p = await prepareAccount(a);
  return db.transaction().execute((trx) => insertAccount(trx, p, null));
}

/** Serializes the empty-database check of /user/initialize against concurrent calls. */
export async function lockNamespaces(trx: Trx): Promise<void> {
  await sql`lock table namespace in share row exclusive mode`.execute(trx);
}

// ---- E-mail (FEATURE_MAILING) ----

/** A sign-up confirmation link works for a week; a recovery link for Quay's USER_RECOVERY_TOKEN_LIFETIME (30m). */
export const CODE_LIFETIME_S: Record<EmailCodeKind, number> = { confirm: 7 * 86400, recovery: 30 * 60 };
const EMAIL_CODE_LENGTH = 48;

/**
 * Whether `inviteCode` (`urn:teaminvite:<code>`) is a pending team invite mailed to `email`: the
 * holder of the code has read that mailbox, so the address counts as verified (Quay's
 * handle_invite_code). Invites addressed to an account, not an address, prove nothing.
 */
export async function inviteVerifiesEmail(db: Db, inviteCode: string | undefined, email: string | null): Promise<boolean> {
  if (!inviteCode?.startsWith(INVITE_URN_PREFIX) || !email) return false;
  const invite = await findInviteByCode(db, inviteCode.slice(INVITE_URN_PREFIX.length));
  return invite?.email != null && invite.email === email;
}

/** Stores a fresh code of `kind` for the user (sweeping their expired ones) and returns it for the mail. */
export async function issueEmailCode(trx: Trx, userId: number, kind: EmailCodeKind): Promise<{ id: number; code: string }> {
  await deleteStaleEmailCodes(trx, userId, kind, CODE_LIFETIME_S[kind]);
  const code = randomString(EMAIL_CODE_LENGTH);
  return { id: await insertEmailCode(trx, { userId, kind, code }), code };
}

/**
 * Consumes a mailed code (once, within its lifetime) and marks its user verified: following the
 * link proves the address. Returns the user, or undefined for an unknown, used or expired code.
 */
export async function redeemEmailCode(db: Kysely<DB>, kind: EmailCodeKind, code: string): Promise<Namespace | undefined> {
  return db.transaction().execute(async (trx) => {
    const userId = await consumeEmailCode(trx, kind, code, CODE_LIFETIME_S[kind]);
    return userId === undefined ? undefined : markUserVerified(trx, userId);
  });
}

interface MailContext {
  auth: AuthContext;
  log: FastifyBaseLogger;
}

/**
 * createNewUser: without mail, or with an invite mailed to the new address, the user is created
 * verified (the caller logs them in). Otherwise the user is created unverified and a confirmation
 * code is mailed; when the mail server refuses it the user is deleted again (520).
 */
export async function signUp(
  app: FastifyInstance,
  ctx: MailContext,
  a: NewAccount & { inviteCode?: string },
): Promise<{ user: Namespace; awaitingVerification: boolean }> {
  const mailer = app.mailer;
  const p = await prepareAccount(a, { emailRequired: !!mailer });
  const { user, confirmation } = await app.db.transaction().execute(async (trx) => {
    const verified = !mailer || (await inviteVerifiesEmail(trx, a.inviteCode, p.email));
    const user = await insertAccount(trx, p, ctx.auth, { verified });
    return { user, confirmation: verified ? undefined : await issueEmailCode(trx, user.id, 'confirm') };
  });
  if (!mailer || !confirmation) return { user, awaitingVerification: false };
  const mail = confirmEmailMail({ baseUrl: app.baseUrl, registry: app.config.REGISTRY_TITLE, to: p.email, username: user.username, code: confirmation.code });
  await deliverOrUndo(mailer, ctx.log, mail, () => deleteUnverifiedUser(app.db, user.id));
  return { user, awaitingVerification: true };
}

/** The least time between two recovery mails to one account. */
export const RECOVERY_RESEND_S = 60;

export type RecoveryAnswer = { status: 'sent' } | { status: 'org'; orgemail: string; orgname: string };

/** Quay's redact(): keeps about a third of the name at each end, the middle becomes bullets. */
function redactName(name: string): string {
  const keep = Math.max(name.length / 3 - 1, 1);
  return [...name].map((c, i) => (i < keep || i >= name.length - keep ? c : '\u2022')).join('');
}

/**
 * requestRecoveryEmail (part2 §14.6): mails a recovery link when a user has the address. The
 * answer, and the time it takes, are the same whether or not anyone has the address and whether or
 * not the mail server takes the mail: the one lookup below runs for every address, and the rest
 * (the code, the mail) happens after the answer has gone out; a refused mail is logged and its code
 * dropped. An organization's address gets Quay's `org` answer (organizations have no password to
 * recover; their address is told who the administrators are).
 */
export async function requestRecovery(app: FastifyInstance, ctx: Pick<MailContext, 'log'>, email: string): Promise<RecoveryAnswer> {
  const mailer = app.mailer;
  if (!mailer) throw new Error('account recovery needs FEATURE_MAILING');
  const found = await findNamespaceByEmail(app.db, email);
  const base = { baseUrl: app.baseUrl, registry: app.config.REGISTRY_TITLE, to: email };
  if (found?.organization) {
    app.background.run('organization recovery mail', async () => {
      const admins = (await orgAdminUsers(app.db, found.id)).map((a) => a.username);
      await mailer.send(orgRecoveryMail({ ...base, org: found.username, admins }));
    }, ctx.log);
    return { status: 'org', orgemail: email, orgname: redactName(found.username) };
  }
  app.background.run('recovery mail', async () => {
    // A disabled account could not sign in with the link: no code is issued for it.
    if (!found || found.robot || !found.enabled) return;
    // One recovery mail a minute per account, so nobody can flood a mailbox through this.
    if (await hasRecentEmailCode(app.db, found.id, 'recovery', RECOVERY_RESEND_S)) return;
    const { id, code } = await app.db.transaction().execute((trx) => issueEmailCode(trx, found.id, 'recovery'));
    try {
      await mailer.send(recoveryMail({ ...base, username: found.username, code }));
    } catch (err) {
      await deleteEmailCode(app.db, id);
      throw err;
    }
  }, ctx.log);
  return { status: 'sent' };
}
