// Team invitations by e-mail (part2 §12.8): an org admin invites an address or withdraws that
// invite; the invited user accepts or declines with the code from the mail. As in Quay, these
// routes exist only with FEATURE_MAILING (otherwise 404). The page a mail links to is
// /confirminvite (src/web/invite.ts).
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { orgAccess, userAccess } from '../auth/access.js';
import { deleteEmailInvite } from '../db/invites.js';
import { findTeam } from '../db/teams.js';
import { invalidRequest, notFound } from '../lib/api-error.js';
import { logAction } from '../lib/audit.js';
import { acceptTeamInvite, declineTeamInvite, sendTeamInvite } from '../services/team-invites.js';
import { EmailInviteView, emailInviteView, orgOf } from './team-views.js';
import { isEmailAddress } from '../lib/email.js';

const TAGS = ['team'];

const InviteParams = z.object({
  orgname: z.string().describe('The name of the organization'),
  teamname: z.string().describe('The name of the team'),
  email: z.string().describe('The e-mail address to invite'),
});
const CodeParams = z.object({ code: z.string().describe('The invite code') });


export const teamInviteRoutes: FastifyPluginAsyncZod = async (app) => {
  if (!app.mailer) return;

  app.put(
    '/organization/:orgname/team/:teamname/invite/:email',
    {
      config: { access: orgAccess('admin') },
      schema: {
        operationId: 'inviteTeamMemberEmail',
        tags: TAGS,
        description: 'Invites an email address to an existing team.',
        params: InviteParams,
        response: { 200: EmailInviteView },
      },
    },
    async (req) => {
      const org = orgOf(req);
      const { teamname, email } = req.params;
      const team = await findTeam(app.db, org.id, teamname);
      if (!team) throw notFound();
      if (!isEmailAddress(email)) throw invalidRequest(`Invalid email address: ${email}`);
      await sendTeamInvite(app, req.auth, { org, team, email });
      return emailInviteView(email);
    },
  );

  app.delete(
    '/organization/:orgname/team/:teamname/invite/:email',
    {
      config: { access: orgAccess('admin') },
      schema: {
        operationId: 'deleteTeamMemberEmailInvite',
        tags: TAGS,
        description: 'Delete an invite of an email address to join a team.',
        params: InviteParams,
        response: { 204: z.null().describe('Deleted') },
      },
    },
    async (req, reply) => {
      const org = orgOf(req);
      const { teamname, email } = req.params;
      const team = await findTeam(app.db, org.id, teamname);
      if (!team) throw notFound();
      await app.db.transaction().execute(async (trx) => {
        if (!(await deleteEmailInvite(trx, team.id, email))) throw notFound();
        await logAction(trx, req.auth, 'org_delete_team_member_invite', { accountId: org.id }, { email, team: teamname, member: email });
      });
      return reply.code(204).send(null);
    },
  );

  app.put(
    '/teaminvite/:code',
    {
      config: { access: userAccess('admin', { internal: true }) },
      schema: {
        operationId: 'acceptOrganizationTeamInvite',
        tags: TAGS,
        description: 'Accepts an invite to join a team in an organization.',
        params: CodeParams,
        response: { 200: z.object({ org: z.string(), team: z.string() }) },
      },
    },
    async (req) => {
      const joined = await acceptTeamInvite(app.db, req.auth, req.auth.user!, req.params.code);
      app.authCache.clear();
      return joined;
    },
  );

  app.delete(
    '/teaminvite/:code',
    {
      config: { access: userAccess('admin', { internal: true }) },
      schema: {
        operationId: 'declineOrganizationTeamInvite',
        tags: TAGS,
        description: 'Delete an existing invitation to join a team.',
        params: CodeParams,
        response: { 204: z.null().describe('Deleted') },
      },
    },
    async (req, reply) => {
      await declineTeamInvite(app.db, req.auth, req.auth.user!, req.params.code);
      return reply.code(204).send(null);
    },
  );
};
