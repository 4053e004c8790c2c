// TEAM (part2 §12): an organization's teams, their members and their repository grants.
// Teams exist only in organizations; a user namespace (which its owner "administers") answers 404.
// Guard rails: a caller cannot demote, delete or leave their only admin team, so an organization
// always keeps at least the caller as admin. With FEATURE_MAILING (and FEATURE_REQUIRE_TEAM_INVITE)
// a user who is in no team of the organization is invited by mail instead of added; the e-mail
// invites and /teaminvite live in team-invites.ts.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { authenticatedAccess, orgAccess, type AccessRule } from '../auth/access.js';
import { effectiveOrgRole } from '../auth/permissions.js';
import { capOrgRole } from '../auth/scopes.js';
import { isUniqueViolation } from '../db/errors.js';
import {
  addTeamMember,
  adminTeamNames,
  deleteTeam,
  deleteUserInvite,
  findTeam,
  findTeamForUpdate,
  findUserOrRobot,
  insertTeam,
  isTeamMember,
  listTeamInvites,
  listTeamMembers,
  listTeamRepoPermissions,
  orgMemberIds,
  removeTeamMember,
  updateTeam,
  type Team,
} from '../db/teams.js';
import { findNamespaceByName } from '../db/users.js';
import { invalidRequest, message, notFound } from '../lib/api-error.js';
import { logAction } from '../lib/audit.js';
import { avatar } from '../lib/avatar.js';
import { quayBool } from '../lib/validation.js';
import { sendTeamInvite } from '../services/team-invites.js';
import { NAMESPACE_RE } from '../services/accounts.js';
import { teamInviteRoutes } from './team-invites.js';
import { EmailInviteView, MemberView, inviteView, memberView, orgOf } from './team-views.js';
import { AvatarView } from './user-view.js';

export const OPERATIONS = [
  'getOrganizationTeamPermissions',
  'deleteOrganizationTeamMember',
  'updateOrganizationTeamMember',
  'getOrganizationTeamMembers',
  'deleteOrganizationTeam',
  'updateOrganizationTeam',
] as const;

const TAGS = ['team'];
const TEAM_ROLES = ['member', 'creator', 'admin'] as const;

const TeamParams = z.object({
  orgname: z.string().describe('The name of the organization'),
  teamname: z.string().describe('The name of the team'),
});
const MemberParams = TeamParams.extend({ membername: z.string().describe('The username of the team member') });

const TeamDescription = z
  .object({
    role: z.enum(TEAM_ROLES).describe('Org wide permissions that should apply to the team'),
    description: z.string().optional().describe('Markdown description for the team'),
  })
  .meta({ id: 'TeamDescription', description: 'Description of a team' });

const TeamView = z.object({
  name: z.string(),
  description: z.string(),
  can_view: z.boolean(),
  role: z.enum(TEAM_ROLES),
  avatar: AvatarView,
  new_team: z.boolean(),
});

const TeamMembers = z.object({
  name: z.string(),
  members: z.array(z.union([MemberView, EmailInviteView])),
  can_edit: z.boolean(),
});

const TeamPermissions = z.object({
  permissions: z.array(
    z.object({ repository: z.object({ name: z.string(), is_public: z.boolean() }), role: z.enum(['read', 'write', 'admin']) }),
  ),
});

/** Every endpoint returning this view is for org admins, and an org admin may view every team. */
const teamView = (t: Team, isNew: boolean): z.infer<typeof TeamView> => ({
  name: t.name,
  description: t.description,
  can_view: true,
  role: t.role,
  avatar: avatar(t.name, t.name, 'team'),
  new_team: isNew,
});

/** Quay's team-name rule (the username rule) and its messages. */
function teamNameProblem(name: string): string | undefined {
  if (!NAMESPACE_RE.test(name)) {
    return `Invalid team name ${name}: Namespace must match expression ^([a-z0-9]+(?:[._-][a-z0-9]+)*)$`;
  }
  if (name.length < 2 || name.length > 255) return `Invalid team name ${name}: Team must be between 2 and 255 characters in length`;
  return undefined;
}

/**
 * ViewTeam: an org admin, or a member of the team whose (scope-capped) team role survives. Checked
 * before any lookup answers, so outsiders get 403 for unknown organizations and teams alike.
 */
function viewTeamAccess(): AccessRule {
  return {
    ...authenticatedAccess('org:admin'),
    check: async (req) => {
      const { orgname, teamname } = req.params as { orgname: string; teamname: string };
      const db = req.server.db;
      const user = req.auth.user;
      const ns = await findNamespaceByName(db, orgname);
      req.target = { namespace: ns };
      if (!user || !ns) return false;
      if ((await effectiveOrgRole(db, req.auth, ns)) === 'admin') return true;
      if (!ns.organization) return false;
      const team = await findTeam(db, ns.id, teamname);
      return !!team && capOrgRole(team.role, req.auth.scopes) !== null && (await isTeamMember(db, team.id, user.id));
    },
  };
}

export const teamRoutes: FastifyPluginAsyncZod = async (app) => {
  await app.register(teamInviteRoutes);

  app.put(
    '/organization/:orgname/team/:teamname',
    {
      config: { access: orgAccess('admin') },
      schema: {
        operationId: 'updateOrganizationTeam',
        tags: TAGS,
        description: 'Update the org-wide permission for the specified team.',
        params: TeamParams,
        body: TeamDescription,
        response: { 200: TeamView },
      },
    },
    async (req) => {
      const org = orgOf(req);
      const caller = req.auth.user!;
      const { teamname } = req.params;
      const { role, description } = req.body;
      const save = () =>
        app.db.transaction().execute(async (trx) => {
          const existing = await findTeamForUpdate(trx, org.id, teamname);
          if (!existing) {
            const problem = teamNameProblem(teamname);
            if (problem) throw message(400, problem);
            const team = await insertTeam(trx, { orgId: org.id, name: teamname, role, description: description ?? '' });
            await logAction(trx, req.auth, 'org_create_team', { accountId: org.id }, { team: teamname });
            return teamView(team, true);
          }
          let team = existing;
          if (description !== undefined && description !== team.description) {
            team = await updateTeam(trx, team.id, { description });
            await logAction(trx, req.auth, 'org_set_team_description', { accountId: org.id }, { team: teamname, description });
          }
          if (role !== team.role) {
            if (team.role === 'admin') {
              const admins = await adminTeamNames(trx, org.id, caller.id);
              if (admins.includes(team.name) && admins.length <= 1) {
                throw message(
                  400,
                  `Cannot remove admin from team '${team.name}' because calling user would no longer have admin on org '${org.username}'`,
                );
              }
            }
            team = await updateTeam(trx, team.id, { role });
            await logAction(trx, req.auth, 'org_set_team_role', { accountId: org.id }, { team: teamname, role });
          }
          return teamView(team, false);
        });
      let view;
      try {
        view = await save();
      } catch (err) {
        // Two creations raced: the other one won, so this call updates the team it created.
        if (!isUniqueViolation(err, 'team_org_name')) throw err;
        view = await save();
      }
      app.authCache.clear();
      return view;
    },
  );

  app.delete(
    '/organization/:orgname/team/:teamname',
    {
      config: { access: orgAccess('admin') },
      schema: {
        operationId: 'deleteOrganizationTeam',
        tags: TAGS,
        description: 'Delete the specified team.',
        params: TeamParams,
        response: { 204: z.null().describe('Deleted') },
      },
    },
    async (req, reply) => {
      const org = orgOf(req);
      const caller = req.auth.user!;
      const { teamname } = req.params;
      await app.db.transaction().execute(async (trx) => {
        const team = await findTeamForUpdate(trx, org.id, teamname);
        if (!team) throw message(400, `Team '${teamname}' is not a team in org '${org.username}'`);
        if (team.role === 'admin') {
          const admins = await adminTeamNames(trx, org.id, caller.id);
          if (admins.length === 1 && admins[0] === team.name) {
            throw message(
              400,
              `Deleting team '${teamname}' would remove admin ability for user '${caller.username}' in organization '${org.username}'`,
            );
          }
        }
        await deleteTeam(trx, team.id);
        await logAction(trx, req.auth, 'org_delete_team', { accountId: org.id }, { team: teamname });
      });
      app.authCache.clear();
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/organization/:orgname/team/:teamname/members',
    {
      config: { access: viewTeamAccess() },
      schema: {
        operationId: 'getOrganizationTeamMembers',
        tags: TAGS,
        description: 'Retrieve the list of members for the specified team.',
        params: TeamParams,
        querystring: z.object({ includePending: quayBool.describe('Whether to include pending members') }),
        response: { 200: TeamMembers },
      },
    },
    async (req) => {
      const ns = req.target.namespace!;
      const team = ns.organization ? await findTeam(app.db, ns.id, req.params.teamname) : undefined;
      if (!team) throw notFound();
      const canEdit = (await effectiveOrgRole(app.db, req.auth, ns)) === 'admin';
      const members = (await listTeamMembers(app.db, team.id)).map((m) => memberView(m));
      const invites = req.query.includePending && canEdit ? (await listTeamInvites(app.db, team.id)).map(inviteView) : [];
      return { name: req.params.teamname, members: [...members, ...invites], can_edit: canEdit };
    },
  );

  app.put(
    '/organization/:orgname/team/:teamname/members/:membername',
    {
      config: { access: orgAccess('admin') },
      schema: {
        operationId: 'updateOrganizationTeamMember',
        tags: TAGS,
        description: 'Adds or invites a member to an existing team.',
        params: MemberParams,
        response: { 200: MemberView },
      },
    },
    async (req) => {
      const org = orgOf(req);
      const { teamname, membername } = req.params;
      const team = await findTeam(app.db, org.id, teamname);
      if (!team) throw notFound();
      const member = await findUserOrRobot(app.db, membername);
      if (!member) throw invalidRequest('Unknown user');
      if (member.robot && member.robot_owner_id !== org.id) {
        throw message(400, 'Cannot add the specified robot to this team, as it is not a member of the organization');
      }
      const already = () => message(400, `User ${member.username} is already a member of team ${team.name}`);
      if (!member.robot && app.mailer && app.config.FEATURE_REQUIRE_TEAM_INVITE) {
        if ((await orgMemberIds(app.db, org.id, [member.id])).size === 0) {
          await sendTeamInvite(app, req.auth, { org, team, user: member });
          return memberView(member, true);
        }
      }
      try {
        await app.db.transaction().execute(async (trx) => {
          if (await isTeamMember(trx, team.id, member.id)) throw already();
          await addTeamMember(trx, team.id, member.id);
          await logAction(trx, req.auth, 'org_add_team_member', { accountId: org.id }, { member: membername, team: teamname });
        });
      } catch (err) {
        if (isUniqueViolation(err, 'team_member_team_user')) throw already();
        throw err;
      }
      app.authCache.clear();
      return memberView(member);
    },
  );

  app.delete(
    '/organization/:orgname/team/:teamname/members/:membername',
    {
      config: { access: orgAccess('admin') },
      schema: {
        operationId: 'deleteOrganizationTeamMember',
        tags: TAGS,
        description: 'Delete a member of a team. If the user is merely invited to join the team, then the invite is removed instead.',
        params: MemberParams,
        response: { 204: z.null().describe('Deleted') },
      },
    },
    async (req, reply) => {
      const org = orgOf(req);
      const caller = req.auth.user!;
      const { teamname, membername } = req.params;
      const team = await findTeam(app.db, org.id, teamname);
      if (!team) throw notFound();
      const member = await findUserOrRobot(app.db, membername);
      if (!member) throw notFound();
      await app.db.transaction().execute(async (trx) => {
        // A pending invite is withdrawn first; only without one is the membership removed.
        if (await deleteUserInvite(trx, team.id, member.id)) {
          await logAction(trx, req.auth, 'org_delete_team_member_invite', { accountId: org.id }, {
            user: membername,
            team: teamname,
            member: membername,
          });
          return;
        }
        if (!(await isTeamMember(trx, team.id, member.id))) {
          throw message(400, `User ${membername} does not belong to team ${teamname}`);
        }
        if (member.id === caller.id) {
          const admins = await adminTeamNames(trx, org.id, caller.id);
          if (admins.includes(team.name) && admins.length <= 1) {
            throw message(400, 'User cannot remove themselves from their only admin team.');
          }
        }
        await removeTeamMember(trx, team.id, member.id);
        await logAction(trx, req.auth, 'org_remove_team_member', { accountId: org.id }, { member: membername, team: teamname });
      });
      app.authCache.clear();
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/organization/:orgname/team/:teamname/permissions',
    {
      // Quay declares no scope here; its OrgAdmin check still needs org:admin (or a session).
      config: { access: { ...orgAccess('admin'), scope: null } },
      schema: {
        operationId: 'getOrganizationTeamPermissions',
        tags: TAGS,
        description: "Returns the list of repository permissions for the org's team.",
        params: TeamParams,
        response: { 200: TeamPermissions },
      },
    },
    async (req) => {
      const org = orgOf(req);
      const team = await findTeam(app.db, org.id, req.params.teamname);
      if (!team) throw notFound();
      const perms = await listTeamRepoPermissions(app.db, team.id);
      return {
        permissions: perms.map((p) => ({ repository: { name: p.repository, is_public: p.visibility === 'public' }, role: p.role })),
      };
    },
  );
};
