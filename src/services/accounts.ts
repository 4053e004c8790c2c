// Creating user accounts, shared by createNewUser, /api/v1/user/initialize and the CLI. Checks follow
// Quay's create_user order (web-endpoints.md §3.6); the password hash is computed before any
// transaction opens.
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import { hashPassword, INVALID_PASSWORD_MESSAGE, isValidPassword } from '../auth/passwords.js';
import type { DB, Trx } from '../db/index.js';
import { isUniqueViolation } from '../db/errors.js';
import type { Namespace } from '../db/schema.js';
import { findNamespaceByName, insertUser } from '../db/users.js';
import { logAction } from '../lib/audit.js';
import type { AuthContext } from '../auth/context.js';

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

/** Validates and hashes, outside any transaction. Throws AccountError with Quay's message. */
export async function prepareAccount(a: NewAccount): Promise<PreparedAccount> {
  if (!isValidPassword(a.password)) throw new AccountError(INVALID_PASSWORD_MESSAGE);
  const problem = usernameProblem(a.username);
  if (problem) throw new AccountError(problem);
  // Without mail, the address is not verified; when none is given Quay stores a random UUID.
  const email = a.email && a.email.trim() ? a.email.trim() : randomUUID();
  return { username: a.username, email, passwordHash: await hashPassword(a.password) };
}

/** Inserts the user (verified: there is no mail to confirm with) and writes `user_create`. */
export async function insertAccount(trx: Trx, p: PreparedAccount, auth: AuthContext | null): Promise<Namespace> {
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
    user = await insertUser(trx, { username: p.username, email: p.email, passwordHash: p.passwordHash, verified: true });
  } catch (err) {
    if (isUniqueViolation(err, 'namespace_email_key')) throw new AccountError(`Email has already been used: ${p.email}`);
    if (isUniqueViolation(err, 'namespace_username_key')) {
      throw new AccountError(`Username has already been taken by user cannot be reused: ${p.username}`);
    }
    throw err;
  }
  await logAction(trx, auth, 'user_create', { accountId: user.id }, { username: user.username, email: user.email }, {
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
