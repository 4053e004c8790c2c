// Changes a user makes to their own account (part2 §14.6, web-endpoints.md §3.5, §3.7):
// changeUserDetails, deleteCurrentUser, and the e-mail change confirmed through a mailed link.
//
// Quay applies changeUserDetails field by field without a transaction, so a later bad field keeps
// the earlier changes (quay/quay:endpoints/api/user.py User.put). Here every field is checked
// first and all changes commit together: a refused request changes nothing. The password hash is
// computed before the transaction opens, and mail goes out only after the commit.
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { configuredSuperuser } from '../auth/access.js';
import type { AuthContext } from '../auth/context.js';
import { randomString, sha256Hex } from '../auth/crypto.js';
import { hashPassword, INVALID_PASSWORD_MESSAGE, isValidPassword } from '../auth/passwords.js';
import { parseDuration } from '../config.js';
import { isUniqueViolation } from '../db/errors.js';
import type { Db, Trx } from '../db/index.js';
import { emailInUse } from '../db/organizations.js';
import type { Namespace } from '../db/schema.js';
import { invalidRequest, message } from '../lib/api-error.js';
import { logAction } from '../lib/audit.js';
import { isEmailAddress } from '../lib/email.js';
import type { LogKind } from '../lib/log-kinds.js';
import { CODE_LIFETIME_S, lockNamespaces } from './accounts.js';
import { afterNamespaceRemoval, removeNamespace, renameNamespace, renameProblem } from './namespaces.js';

/** The body of changeUserDetails (Quay's UpdateUser), after schema validation. */
export interface UserDetailsChange {
  password?: string;
  invoice_email?: boolean;
  email?: string;
  tag_expiration_s?: number;
  username?: string;
  invoice_email_address?: string | null;
  given_name?: string | null;
  family_name?: string | null;
  company?: string | null;
  location?: string | null;
}

const METADATA_FIELDS = ['given_name', 'family_name', 'company', 'location'] as const;

export interface DetailsResult {
  user: Namespace;
  passwordChanged: boolean;
  /** With mail on: the address waiting for confirmation and the code to mail to it. */
  pendingEmail?: { address: string; code: string };
  /** Whether the name, the e-mail or the credentials changed (the caller clears app.authCache). */
  identityChanged: boolean;
}

type NamespacePatch = Partial<
  Pick<
    Namespace,
    | 'password_hash' | 'invalid_login_attempts' | 'last_invalid_login' | 'invoice_email' | 'invoice_email_address'
    | 'tag_expiration_s' | 'email' | 'verified' | 'given_name' | 'family_name' | 'company' | 'location'
  >
>;

/** Quay's change_username message for an invalid name ("Invalid username x: …"). */
function invalidUsername(name: string, problem: string): Error {
  const prefix = `Invalid namespace ${name}: `;
  return message(400, `Invalid username ${name}: ${problem.startsWith(prefix) ? problem.slice(prefix.length) : problem}`);
}

const emailTaken = () => invalidRequest('E-mail address already used');
const nameTaken = () => invalidRequest('Username is already in use');

/**
 * changeUserDetails for `user` (the caller). Checks in Quay's order (password, tag expiration,
 * e-mail, username), then applies everything in one transaction and writes Quay's log kinds in
 * Quay's order. Feature-gated fields are ignored when their feature is off, as in Quay.
 */
export async function changeUserDetails(app: FastifyInstance, auth: AuthContext, user: Namespace, body: UserDetailsChange): Promise<DetailsResult> {
  const { config } = app;
  // ---- Checks that need no database ----
  if (body.password !== undefined && !isValidPassword(body.password)) throw invalidRequest(INVALID_PASSWORD_MESSAGE);
  const tagExpiration = config.FEATURE_CHANGE_TAG_EXPIRATION ? body.tag_expiration_s : undefined;
  if (tagExpiration !== undefined && !config.TAG_EXPIRATION_OPTIONS.some((o) => parseDuration(o) === tagExpiration)) {
    throw message(400, 'Invalid tag expiration option');
  }
  // An empty invoice address is stored as null (Quay's change_invoice_email_address).
  const invoiceAddress = body.invoice_email_address === undefined ? undefined : body.invoice_email_address || null;
  const invoiceAddressChanged = invoiceAddress !== undefined && invoiceAddress !== user.invoice_email_address;
  const newEmail = body.email !== undefined && body.email !== user.email ? body.email : undefined;
  // Quay validates the address only when it mails it (create_confirm_email_code); an address that
  // is not one is refused either way here, as createNewUser and changeOrganizationDetails do.
  if (newEmail !== undefined && !isEmailAddress(newEmail)) throw message(400, `Invalid email address: ${newEmail}`);
  const metadata: Partial<Record<(typeof METADATA_FIELDS)[number], string | null>> = {};
  if (config.FEATURE_USER_METADATA) for (const f of METADATA_FIELDS) if (body[f] !== undefined) metadata[f] = body[f];
  // Renaming only with FEATURE_USER_RENAME; otherwise the field is ignored, as in Quay (this
  // server has no confirm_username prompts).
  const newName = config.FEATURE_USER_RENAME && body.username && body.username !== user.username ? body.username : undefined;
  if (newName !== undefined) {
    // Superusers are configured by name: renaming one would hand its powers to whoever takes the
    // old name next, and renaming to a listed name would grant them. Not in Quay.
    if (configuredSuperuser(user.username, config)) throw invalidRequest('A superuser account cannot be renamed');
    if (configuredSuperuser(newName, config)) throw nameTaken();
  }
  const passwordHash = body.password !== undefined ? await hashPassword(body.password) : undefined;
  const mailing = !!app.mailer;

  const patch: NamespacePatch = {
    ...(passwordHash !== undefined && { password_hash: passwordHash, invalid_login_attempts: 0, last_invalid_login: null }),
    ...(body.invoice_email !== undefined && { invoice_email: body.invoice_email }),
    ...(tagExpiration !== undefined && { tag_expiration_s: tagExpiration }),
    ...(invoiceAddressChanged && { invoice_email_address: invoiceAddress }),
    // Without mail there is no way to confirm the address: it changes at once, verified (Quay's
    // update_email with auto_verify). With mail it changes when the mailed link is followed.
    ...(newEmail !== undefined && !mailing && { email: newEmail, verified: true }),
    ...metadata,
  };

  try {
    return await app.db.transaction().execute(async (trx) => {
      // Serializes the name check with concurrent renames and sign-ups.
      if (newName !== undefined) await lockNamespaces(trx);
      if (newEmail !== undefined && (await emailInUse(trx, newEmail, user.id))) throw emailTaken();
      if (newName !== undefined) {
        const problem = await renameProblem(trx, user, newName);
        if (problem?.startsWith('Username has already been taken')) throw nameTaken();
        if (problem) throw invalidUsername(newName, problem);
      }
      let current = Object.keys(patch).length > 0
        ? await trx.updateTable('namespace').set(patch).where('id', '=', user.id).returningAll().executeTakeFirstOrThrow()
        : user;
      if (passwordHash !== undefined) {
        // Every other session of the user ends (Quay rotates the user's UUID); the caller's own
        // session is replaced by a new login after the commit. Failed-login throttles on the account
        // are forgotten. OAuth and app-specific tokens stay, as in Quay's change_password.
        let others = trx.deleteFrom('session').where('user_id', '=', user.id);
        if (auth.session?.id) others = others.where('id', '!=', auth.session.id);
        await others.execute();
        await trx.deleteFrom('auth_failure').where('subject', '=', `user:${user.id}`).execute();
      }
      const pendingEmail = newEmail !== undefined && mailing ? { address: newEmail, code: await issueEmailChangeCode(trx, user.id, newEmail) } : undefined;
      if (newName !== undefined) current = await renameNamespace(trx, current, newName);

      const log = (kind: LogKind, meta: Record<string, unknown> = {}) => logAction(trx, auth, kind, { accountId: user.id }, meta);
      if (passwordHash !== undefined) await log('account_change_password');
      if (body.invoice_email !== undefined) await log('user_change_invoicing', { invoice_email: body.invoice_email });
      if (tagExpiration !== undefined) await log('user_change_tag_expiration', { tag_expiration: tagExpiration });
      if (invoiceAddressChanged) await log('user_change_invoicing', { invoice_email_address: body.invoice_email_address });
      if (newEmail !== undefined && !mailing) await log('user_change_email', { email: newEmail, old_email: user.email });
      if (Object.keys(metadata).length > 0) await log('user_change_metadata', metadata);
      if (newName !== undefined) await log('user_change_name', { old_username: user.username });
      return {
        user: current,
        passwordChanged: passwordHash !== undefined,
        pendingEmail,
        identityChanged: passwordHash !== undefined || newName !== undefined || (newEmail !== undefined && !mailing),
      };
    });
  } catch (err) {
    if (isUniqueViolation(err, 'namespace_email_key')) throw emailTaken();
    if (isUniqueViolation(err, 'namespace_username_key')) throw nameTaken();
    throw err;
  }
}

// ---- E-mail change codes: `confirm` codes that carry the new address (email_confirmation.new_email) ----

const EMAIL_CODE_LENGTH = 48;

/** Replaces the user's pending e-mail change (only the latest requested address can be confirmed). */
async function issueEmailChangeCode(trx: Trx, userId: number, newEmail: string): Promise<string> {
  await trx.deleteFrom('email_confirmation').where('user_id', '=', userId).where('kind', '=', 'confirm').where('new_email', 'is not', null).execute();
  const code = randomString(EMAIL_CODE_LENGTH);
  await trx.insertInto('email_confirmation').values({ code_hash: sha256Hex(code), user_id: userId, kind: 'confirm', new_email: newEmail }).execute();
  return code;
}

/** Drops a pending change whose mail could not be sent. */
export async function dropEmailChangeCode(db: Db, code: string): Promise<void> {
  await db.deleteFrom('email_confirmation').where('code_hash', '=', sha256Hex(code)).execute();
}

export type EmailChangeOutcome = { user: Namespace; oldEmail: string | null } | 'invalid' | 'taken';

/**
 * GET /confirm with an e-mail change code: consumes it (once, within the confirmation lifetime),
 * sets the address, marks it verified and writes `user_change_email`, as Quay's confirm_user_email
 * and confirm_email do. 'taken' when another account took the address meanwhile (the code is used up).
 */
export async function redeemEmailChange(app: FastifyInstance, auth: AuthContext, code: string): Promise<EmailChangeOutcome> {
  return app.db.transaction().execute(async (trx) => {
    const row = await trx
      .deleteFrom('email_confirmation')
      .where('code_hash', '=', sha256Hex(code))
      .where('kind', '=', 'confirm')
      .where('new_email', 'is not', null)
      .returning(['user_id', 'new_email', sql<boolean>`created > now() - make_interval(secs => ${CODE_LIFETIME_S.confirm})`.as('live')])
      .executeTakeFirst();
    if (!row?.live || !row.new_email) return 'invalid';
    const user = await trx.selectFrom('namespace').selectAll().where('id', '=', row.user_id).forUpdate().executeTakeFirst();
    // A disabled account's pending change does not take effect (the code is used up).
    if (!user || !user.enabled) return 'invalid';
    if (user.email === row.new_email) return { user, oldEmail: user.email };
    if (await emailInUse(trx, row.new_email, user.id)) return 'taken';
    const updated = await trx
      .updateTable('namespace')
      .set({ email: row.new_email, verified: true })
      .where('id', '=', user.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    await logAction(trx, auth, 'user_change_email', { accountId: user.id }, { email: row.new_email, old_email: user.email }, { performerId: user.id });
    return { user: updated, oldEmail: user.email };
  });
}

// ---- deleteCurrentUser ----

/**
 * The organizations where `userId` is the only admin: the only enabled, non-robot member of the
 * org's admin teams (Quay's get_solely_admined_organizations, which also counts disabled users).
 */
export async function solelyAdminedOrganizations(db: Db, userId: number): Promise<string[]> {
  const rows = await db
    .selectFrom('namespace as o')
    .select('o.username')
    .where('o.organization', '=', true)
    .where((eb) =>
      eb.exists(
        eb.selectFrom('team as t').innerJoin('team_member as m', 'm.team_id', 't.id')
          .select(sql`1`.as('one'))
          .whereRef('t.organization_id', '=', 'o.id').where('t.role', '=', 'admin').where('m.user_id', '=', userId),
      ),
    )
    .where((eb) =>
      eb(
        eb.selectFrom('team as t').innerJoin('team_member as m', 'm.team_id', 't.id').innerJoin('namespace as u', 'u.id', 'm.user_id')
          .select(sql<number>`count(distinct m.user_id)`.as('n'))
          .whereRef('t.organization_id', '=', 'o.id').where('t.role', '=', 'admin').where('u.robot', '=', false).where('u.enabled', '=', true),
        '=',
        1,
      ),
    )
    .orderBy('o.username')
    .execute();
  return rows.map((r) => r.username);
}

/**
 * deleteCurrentUser: refused (Quay's 400 message) while the user is the only admin of an
 * organization; otherwise `user_delete` is written and the namespace removed with all it owns.
 * Quay disables and renames the account and deletes it in the background; here the row goes at
 * once (its sessions, tokens, robots and repositories with it) and blobs are left to GC.
 */
export async function deleteUserAccount(app: FastifyInstance, auth: AuthContext, user: Namespace, log: FastifyBaseLogger): Promise<void> {
  await app.jobs.transaction(async (trx) => {
    // Two admins of one org deleting themselves at once must not both pass the check.
    await lockNamespaces(trx);
    const orgs = await solelyAdminedOrganizations(trx, user.id);
    if (orgs.length > 0) throw message(400, `Cannot delete ${user.username} as you are the only admin for organizations: ${orgs.join(', ')}`);
    await logAction(trx, auth, 'user_delete', { accountId: user.id }, { username: user.username });
    await removeNamespace(app, trx, user.id);
  });
  await afterNamespaceRemoval(app, log);
}
