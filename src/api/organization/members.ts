// Members (non-robot users in a team of the org) and outside collaborators (users with a direct
// grant on one of its repositories but in no team), part1 §10.0.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { orgAccess } from '../../auth/access.js';
import { listDirectGrants, listMemberships, removeOrganizationMember } from '../../db/organizations.js';
import { findNamespaceByName } from '../../db/users.js';
import { message, notFound } from '../../lib/api-error.js';
import { AvatarView } from '../user-view.js';
import { Deleted, OrgParams, TAGS } from './schemas.js';
import { accountAvatar, targetOrg, teamAvatar } from './views.js';

const MemberParams = OrgParams.extend({ membername: z.string().describe('The username of the organization member') });

const TeamRef = z.object({ name: z.string(), avatar: AvatarView });
const MemberView = z.object({
  name: z.string(),
  kind: z.enum(['user', 'robot']),
  avatar: AvatarView,
  teams: z.array(TeamRef),
  repositories: z.array(z.string()),
});
const CollaboratorView = z.object({ kind: z.literal('user'), name: z.string(), avatar: AvatarView, repositories: z.array(z.string()) });

export const memberRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/organization/:orgname/members',
    {
      config: { access: orgAccess('admin') },
      schema: {
        operationId: 'getOrganizationMembers',
        tags: TAGS,
        description: 'List the human members of the specified organization.',
        params: OrgParams,
        response: { 200: z.object({ members: z.array(MemberView) }) },
      },
    },
    async (req) => {
      const org = targetOrg(req.target);
      const members = new Map<string, z.infer<typeof MemberView>>();
      for (const m of await listMemberships(app.db, org.id, { humansOnly: true })) {
        let entry = members.get(m.username);
        if (!entry) {
          entry = { name: m.username, kind: 'user', avatar: accountAvatar(m), teams: [], repositories: [] };
          members.set(m.username, entry);
        }
        entry.teams.push({ name: m.team_name, avatar: teamAvatar(m.team_name) });
      }
      for (const g of await listDirectGrants(app.db, org.id)) members.get(g.username)?.repositories.push(g.repository);
      return { members: [...members.values()] };
    },
  );

  app.get(
    '/organization/:orgname/members/:membername',
    {
      config: { access: orgAccess('admin') },
      schema: {
        operationId: 'getOrganizationMember',
        tags: TAGS,
        description: 'Retrieves the details of a member of the organization.',
        params: MemberParams,
        response: { 200: MemberView },
      },
    },
    async (req) => {
      const member = await findNamespaceByName(app.db, req.params.membername);
      if (!member || member.organization) throw notFound();
      const org = targetOrg(req.target);
      const teams = await listMemberships(app.db, org.id, { userId: member.id });
      // A robot of this org is reported even when it is in no team; anyone else must be in one.
      if (teams.length === 0 && !(member.robot && member.robot_owner_id === org.id)) throw notFound();
      const grants = await listDirectGrants(app.db, org.id, member.id);
      return {
        name: member.username,
        kind: member.robot ? ('robot' as const) : ('user' as const),
        avatar: accountAvatar(member),
        teams: teams.map((t) => ({ name: t.team_name, avatar: teamAvatar(t.team_name) })),
        repositories: grants.map((g) => g.repository),
      };
    },
  );

  app.delete(
    '/organization/:orgname/members/:membername',
    {
      config: { access: orgAccess('admin') },
      schema: {
        operationId: 'removeOrganizationMember',
        tags: TAGS,
        description:
          'Removes a member from an organization, revoking all its repository priviledges and removing it from all teams in the organization.',
        params: MemberParams,
        response: { 204: Deleted },
      },
    },
    async (req, reply) => {
      const user = await findNamespaceByName(app.db, req.params.membername);
      if (!user || user.organization || user.robot) throw notFound();
      const org = targetOrg(req.target);
      const removed = await app.db.transaction().execute((trx) => removeOrganizationMember(trx, org.id, user.id));
      // A Quay data-model error, answered as 400 {message} (part1 Appendix B).
      if (!removed) throw message(400, 'Cannot remove user as they are the only organization admin');
      app.authCache.clear();
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/organization/:orgname/collaborators',
    {
      config: { access: orgAccess('admin') },
      schema: {
        operationId: 'getOrganizationCollaborators',
        tags: TAGS,
        description: 'List outside collaborators of the specified organization.',
        params: OrgParams,
        response: { 200: z.object({ collaborators: z.array(CollaboratorView) }) },
      },
    },
    async (req) => {
      const org = targetOrg(req.target);
      const members = new Set((await listMemberships(app.db, org.id)).map((m) => m.user_id));
      const out = new Map<number, z.infer<typeof CollaboratorView>>();
      for (const g of await listDirectGrants(app.db, org.id)) {
        if (members.has(g.user_id)) continue;
        let entry = out.get(g.user_id);
        if (!entry) {
          entry = { kind: 'user', name: g.username, avatar: accountAvatar(g), repositories: [] };
          out.set(g.user_id, entry);
        }
        entry.repositories.push(g.repository);
      }
      return { collaborators: [...out.values()] };
    },
  );
};
