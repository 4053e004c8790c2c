// Team invitations (part2 §12.3, §12.8), shared by the API and the /confirminvite page. With
// FEATURE_MAILING and FEATURE_REQUIRE_TEAM_INVITE, a user who is in no team of the organization is
// invited instead of added; e-mail invites reach people without an account. Accepting adds the
// caller to every team of that organization they are invited to.
//
// The invitation mail goes out before the invite is written: when the mail server refuses it,
// nothing is stored and the caller may retry; a code exists only once somebody has been sent it.
import type { FastifyInstance } from 'fastify';
import type { AuthContext } from '../auth/context.js';
import { randomString } from '../auth/crypto.js';
import type { Db } from '../db/index.js';
import { deleteMatchingNotifications, insertUserNotification } from '../db/notifications.js';
import { deleteInviteById, findInviteByCode, listOrgInvitesFor, replaceInvite, type FoundInvite } from '../db/invites.js';
import type { Namespace } from '../db/schema.js';
import type { Team } from '../db/teams.js';
import { isTeamMember, addTeamMember } from '../db/teams.js';
import { findUserById } from '../db/users.js';
import { invalidRequest, message } from '../lib/api-error.js';
import { logAction } from '../lib/audit.js';
import { deliverOrUndo } from '../mail/mailer.js';
import { teamInviteMail } from '../mail/templates.js';

/** Invite codes as they appear in links and in `urn:teaminvite:<code>` (signin's invite_code). */
export const INVITE_CODE_LENGTH = 48;
export const INVITE_URN_PREFIX = 'urn:teaminvite:';

type Auth = Pick<AuthContext, 'user' | 'token' | 'ip'>;

/**
 * Mails an invitation to `target` (a user, at their address, or a bare e-mail address) and records
 * it with its audit entry. An earlier pending invite of the same target to the team is replaced.
 */
export async function sendTeamInvite(
  app: FastifyInstance,
  auth: Auth,
  o: { org: Namespace; team: Team; user?: Namespace; email?: string },
): Promise<void> {
  const mailer = app.mailer;
  if (!mailer) throw new Error('team invites need FEATURE_MAILING');
  const inviter = auth.user!;
  const to = o.user ? o.user.email : o.email!;
  if (!to) throw invalidRequest(`User ${o.user!.username} has no e-mail address to send the invitation to`);
  const code = randomString(INVITE_CODE_LENGTH);
  const mail = teamInviteMail({
    baseUrl: app.baseUrl,
    registry: app.config.REGISTRY_TITLE,
    to,
    inviter: inviter.username,
    org: o.org.username,
    team: o.team.name,
    code,
  });
  await deliverOrUndo(mailer, app.log, mail);
  await app.db.transaction().execute(async (trx) => {
    await replaceInvite(trx, { teamId: o.team.id, inviterId: inviter.id, userId: o.user?.id, email: o.user ? undefined : o.email }, code);
    const member = o.user ? o.user.username : o.email!;
    const metadata = o.user
      ? { user: member, member, team: o.team.name }
      : { email: member, member, team: o.team.name };
    await logAction(trx, auth, 'org_invite_team_member', { accountId: o.org.id }, metadata);
    // An existing user also sees it in the app (Quay's handle_addinvite_team). The code in it is
    // only useful to that user: a user invite is accepted by its own account only.
    if (o.user) {
      // The invite it replaces (if any) goes with its notification.
      await deleteMatchingNotifications(trx, o.user.id, 'org_team_invite', { org: o.org.username, team: o.team.name });
      await insertUserNotification(trx, {
        kind: 'org_team_invite',
        targetId: o.user.id,
        metadata: { code, inviter: inviter.username, org: o.org.username, team: o.team.name },
      });
    }
  });
}

/** Quay's wording when a code belongs to somebody else. */
function intendedFor(found: FoundInvite, username: string | null): string {
  return found.userId !== null
    ? `This invite is intended for user "${username ?? ''}". Please login to that account and try again.`
    : `This invite is intended for email "${found.email}". Please login to that account and try again.`;
}

/**
 * Accepts the invite `code` for `user`: joins every team of that organization the user is invited
 * to (by account, or by their verified address) and deletes those invites. 400 `{message}` for an
 * unknown code or one addressed to somebody else.
 */
export async function acceptTeamInvite(db: Db, auth: Auth, user: Namespace, code: string): Promise<{ org: string; team: string }> {
  return db.transaction().execute(async (trx) => {
    const found = await findInviteByCode(trx, code);
    if (!found) throw message(400, 'Invalid confirmation code.');
    if (found.userId !== null && found.userId !== user.id) throw message(400, intendedFor(found, (await findUserById(trx, found.userId))?.username ?? null));
    // The address and its verification as stored now, not as an auth cache may remember them.
    const current = (await findUserById(trx, user.id)) ?? user;
    const invites = await listOrgInvitesFor(trx, found.orgId, user.id, current.verified ? current.email : null);
    if (!invites.some((i) => i.id === found.id)) throw message(400, intendedFor(found, null));
    for (const invite of invites) {
      if (!(await isTeamMember(trx, invite.teamId, user.id))) await addTeamMember(trx, invite.teamId, user.id);
      await deleteInviteById(trx, invite.id);
    }
    // The invitations to this organization are answered (Quay's try_accept_invite).
    await deleteMatchingNotifications(trx, user.id, 'org_team_invite', { org: found.org });
    await logAction(trx, auth, 'org_team_member_invite_accepted', { accountId: found.orgId }, {
      member: user.username,
      team: found.team,
      inviter: found.inviter,
    });
    return { org: found.org, team: found.team };
  });
}

/** Declines (deletes) the caller's own user invite. E-mail invites are withdrawn by org admins. */
export async function declineTeamInvite(db: Db, auth: Auth, user: Namespace, code: string): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const found = await findInviteByCode(trx, code);
    if (!found || found.userId !== user.id) throw message(400, 'Invalid confirmation code.');
    await deleteInviteById(trx, found.id);
    await deleteMatchingNotifications(trx, user.id, 'org_team_invite', { code });
    await logAction(trx, auth, 'org_team_member_invite_declined', { accountId: found.orgId }, {
      member: user.username,
      team: found.team,
      inviter: found.inviter,
    });
  });
}
