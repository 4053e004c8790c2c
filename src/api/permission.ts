// PERMISSION (part1 §11): the direct and team grants of a repository. Every endpoint needs
// RepoAdmin (repo:admin). The access check runs before any lookup, so a missing repository reaches
// these handlers only for callers who administer its namespace.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { repoAccess } from '../auth/access.js';
import {
  deleteTeamPermission,
  deleteUserPermission,
  findOrgTeam,
  findTeamPermission,
  findUserPermission,
  listTeamPermissions,
  listTransitiveRoles,
  listUserPermissions,
  upsertTeamPermission,
  upsertUserPermission,
  type TeamPermissionRow,
  type UserPermissionRow,
} from '../db/permissions.js';
import type { Namespace } from '../db/schema.js';
import { findNamespaceByName } from '../db/users.js';
import { invalidRequest, message, notFound } from '../lib/api-error.js';
import { logAction } from '../lib/audit.js';
import { avatar } from '../lib/avatar.js';
import { AvatarView } from './user-view.js';

export const OPERATIONS = [
  'listRepoUserPermissions',
  'listRepoTeamPermissions',
  'getUserPermissions',
  'changeUserPermissions',
  'deleteUserPermissions',
  'getTeamPermissions',
  'changeTeamPermissions',
  'deleteTeamPermissions',
  'getUserTransitivePermission',
] as const;

const TAGS = ['permission'];
const REPO_DESCRIPTION = 'The full path of the repository. e.g. namespace/name';
const Role = z.enum(['read', 'write', 'admin']);

const RepoParams = z.object({ namespace: z.string(), repository: z.string().describe(REPO_DESCRIPTION) });
const UserParams = RepoParams.extend({ username: z.string().describe('The username of the user to which the permission applies') });
const TeamParams = RepoParams.extend({ teamname: z.string().describe('The name of the team to which the permission applies') });

const UserPermissionBody = z
  .object({ role: Role.describe('Role to use for the user') })
  .meta({ id: 'UserPermission', description: 'Description of a user permission.' });
const TeamPermissionBody = z
  .object({ role: Role.describe('Role to use for the team') })
  .meta({ id: 'TeamPermission', description: 'Description of a team permission.' });

const UserPermissionView = z.object({
  role: Role,
  name: z.string(),
  is_robot: z.boolean(),
  avatar: AvatarView,
  /** Only for repositories of an organization. */
  is_org_member: z.boolean().optional(),
});
const TeamPermissionView = z.object({ role: Role, name: z.string(), avatar: AvatarView });
const RoleView = z.object({ role: Role });
const Deleted = z.null().describe('Deleted');

type UserPermissionViewT = z.infer<typeof UserPermissionView>;

/** `is_org_member` appears only for org repositories: robots count as members (part1 §11.0). */
function toUserPermissionView(row: UserPermissionRow, ns: Namespace): UserPermissionViewT {
  const view: UserPermissionViewT = {
    role: row.role,
    name: row.username,
    is_robot: row.robot,
    avatar: avatar(row.username, row.email, row.robot ? 'robot' : 'user'),
  };
  if (ns.organization) view.is_org_member = row.robot || row.in_org;
  return view;
}

function toTeamPermissionView(row: TeamPermissionRow) {
  return { role: row.role, name: row.name, avatar: avatar(row.name, null, 'team') };
}

const orgIdOf = (ns: Namespace) => (ns.organization ? ns.id : null);

export const permissionRoutes: FastifyPluginAsyncZod = async (app) => {
  /** A user or robot by name; organizations are not grantees (Quay accepts them, uselessly). */
  const findGrantee = async (username: string) => {
    const ns = await findNamespaceByName(app.db, username);
    return ns && !ns.organization ? ns : undefined;
  };
  /** A team of the repository's namespace; a user namespace has none. */
  const findTeam = async (ns: Namespace, teamname: string) => (ns.organization ? findOrgTeam(app.db, ns.id, teamname) : undefined);

  app.get(
    '/repository/:namespace/:repository/permissions/user/',
    {
      config: { access: repoAccess('admin') },
      schema: {
        operationId: 'listRepoUserPermissions',
        tags: TAGS,
        description: 'List all user permissions.',
        params: RepoParams,
        response: { 200: z.object({ permissions: z.record(z.string(), UserPermissionView) }) },
      },
    },
    async (req) => {
      const { namespace: ns, repository: repo } = req.target;
      // Quay answers an empty map for a missing repository in a namespace the caller administers.
      if (!ns || !repo) return { permissions: {} };
      const rows = await listUserPermissions(app.db, repo.id, orgIdOf(ns));
      return { permissions: Object.fromEntries(rows.map((r) => [r.username, toUserPermissionView(r, ns)])) };
    },
  );

  app.get(
    '/repository/:namespace/:repository/permissions/team/',
    {
      config: { access: repoAccess('admin') },
      schema: {
        operationId: 'listRepoTeamPermissions',
        tags: TAGS,
        description: 'List all team permission.',
        params: RepoParams,
        response: { 200: z.object({ permissions: z.record(z.string(), TeamPermissionView) }) },
      },
    },
    async (req) => {
      const repo = req.target.repository;
      if (!repo) return { permissions: {} };
      const rows = await listTeamPermissions(app.db, repo.id);
      return { permissions: Object.fromEntries(rows.map((r) => [r.name, toTeamPermissionView(r)])) };
    },
  );

  app.get(
    '/repository/:namespace/:repository/permissions/user/:username/transitive',
    {
      config: { access: repoAccess('admin') },
      schema: {
        operationId: 'getUserTransitivePermission',
        tags: TAGS,
        description: 'Get the fetch the permission for the specified user.',
        params: UserParams,
        response: { 200: z.object({ permissions: z.array(RoleView) }) },
      },
    },
    async (req) => {
      const user = await findGrantee(req.params.username);
      const repo = req.target.repository;
      if (!user || !repo) throw notFound();
      const roles = await listTransitiveRoles(app.db, repo.id, user.id);
      // Quay: no applicable permission row is a 404 too (implicit access is not listed).
      if (roles.length === 0) throw notFound();
      return { permissions: roles.map((role) => ({ role })) };
    },
  );

  app.get(
    '/repository/:namespace/:repository/permissions/user/:username',
    {
      config: { access: repoAccess('admin') },
      schema: {
        operationId: 'getUserPermissions',
        tags: TAGS,
        description: 'Get the permission for the specified user.',
        params: UserParams,
        response: { 200: UserPermissionView },
      },
    },
    async (req) => {
      const { namespace: ns, repository: repo } = req.target;
      const user = await findGrantee(req.params.username);
      const row = ns && repo && user ? await findUserPermission(app.db, repo.id, user.id, orgIdOf(ns)) : undefined;
      // Quay lets its data-layer exception through: 400 {message}, not 404.
      if (!row || !ns) throw message(400, 'User does not have permission for repo.');
      return toUserPermissionView(row, ns);
    },
  );

  app.put(
    '/repository/:namespace/:repository/permissions/user/:username',
    {
      config: { access: repoAccess('admin') },
      schema: {
        operationId: 'changeUserPermissions',
        tags: TAGS,
        description: 'Update the perimssions for an existing repository.',
        params: UserParams,
        body: UserPermissionBody,
        response: { 200: UserPermissionView },
      },
    },
    async (req) => {
      const { namespace: nsName, repository: repoName, username } = req.params;
      const { namespace: ns, repository: repo } = req.target;
      const { role } = req.body;
      if (username === nsName) throw invalidRequest('Namespace owner must always be admin.');
      const user = await findGrantee(username);
      if (!user) throw invalidRequest(`Invalid username: ${username}`);
      // Robots may only hold grants on repositories of their own namespace.
      if (user.robot && (!ns || user.robot_owner_id !== ns.id)) throw invalidRequest(`Cannot add robot ${username} under namespace ${nsName}`);
      // Quay fails with a 500 here; a missing repository is a 404.
      if (!ns || !repo) throw notFound();
      const row = await app.db.transaction().execute(async (trx) => {
        await upsertUserPermission(trx, repo.id, user.id, role);
        await logAction(trx, req.auth, 'change_repo_permission', { accountId: ns.id, repositoryId: repo.id }, {
          username,
          repo: repoName,
          namespace: nsName,
          role,
        });
        return findUserPermission(trx, repo.id, user.id, orgIdOf(ns));
      });
      app.authCache.clear();
      return toUserPermissionView(row!, ns);
    },
  );

  app.delete(
    '/repository/:namespace/:repository/permissions/user/:username',
    {
      config: { access: repoAccess('admin') },
      schema: {
        operationId: 'deleteUserPermissions',
        tags: TAGS,
        description: 'Delete the permission for the user.',
        params: UserParams,
        response: { 204: Deleted },
      },
    },
    async (req, reply) => {
      const { namespace: nsName, repository: repoName, username } = req.params;
      const { namespace: ns, repository: repo } = req.target;
      if (username === nsName) throw invalidRequest('Namespace owner must always be admin.');
      const user = await findGrantee(username);
      const deleted =
        ns && repo && user
          ? await app.db.transaction().execute(async (trx) => {
              if (!(await deleteUserPermission(trx, repo.id, user.id))) return false;
              await logAction(trx, req.auth, 'delete_repo_permission', { accountId: ns.id, repositoryId: repo.id }, {
                username,
                repo: repoName,
                namespace: nsName,
              });
              return true;
            })
          : false;
      if (!deleted) throw invalidRequest('User does not have permission for repo.');
      app.authCache.clear();
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/repository/:namespace/:repository/permissions/team/:teamname',
    {
      config: { access: repoAccess('admin') },
      schema: {
        operationId: 'getTeamPermissions',
        tags: TAGS,
        description: 'Fetch the permission for the specified team.',
        params: TeamParams,
        response: { 200: RoleView },
      },
    },
    async (req) => {
      const { namespace: ns, repository: repo } = req.target;
      const team = ns ? await findTeam(ns, req.params.teamname) : undefined;
      const row = team && repo ? await findTeamPermission(app.db, repo.id, team.id) : undefined;
      // Only the role: no name or avatar (Quay's Role view).
      if (!row) throw message(400, 'Team does not have permission for repo.');
      return { role: row.role };
    },
  );

  app.put(
    '/repository/:namespace/:repository/permissions/team/:teamname',
    {
      config: { access: repoAccess('admin') },
      schema: {
        operationId: 'changeTeamPermissions',
        tags: TAGS,
        description: 'Update the existing team permission.',
        params: TeamParams,
        body: TeamPermissionBody,
        response: { 200: TeamPermissionView },
      },
    },
    async (req) => {
      const { namespace: nsName, repository: repoName, teamname } = req.params;
      const { namespace: ns, repository: repo } = req.target;
      const { role } = req.body;
      // The team must belong to the repository's organization; a user namespace has no teams.
      const team = ns ? await findTeam(ns, teamname) : undefined;
      if (!team) throw invalidRequest(`No team ${teamname} in organization ${nsName}`);
      if (!ns || !repo) throw notFound();
      const row = await app.db.transaction().execute(async (trx) => {
        await upsertTeamPermission(trx, repo.id, team.id, role);
        await logAction(trx, req.auth, 'change_repo_permission', { accountId: ns.id, repositoryId: repo.id }, {
          team: teamname,
          repo: repoName,
          role,
        });
        return findTeamPermission(trx, repo.id, team.id);
      });
      app.authCache.clear();
      return toTeamPermissionView(row!);
    },
  );

  app.delete(
    '/repository/:namespace/:repository/permissions/team/:teamname',
    {
      config: { access: repoAccess('admin') },
      schema: {
        operationId: 'deleteTeamPermissions',
        tags: TAGS,
        description: 'Delete the permission for the specified team.',
        params: TeamParams,
        response: { 204: Deleted },
      },
    },
    async (req, reply) => {
      const { repository: repoName, teamname } = req.params;
      const { namespace: ns, repository: repo } = req.target;
      const team = ns ? await findTeam(ns, teamname) : undefined;
      const deleted =
        ns && repo && team
          ? await app.db.transaction().execute(async (trx) => {
              if (!(await deleteTeamPermission(trx, repo.id, team.id))) return false;
              await logAction(trx, req.auth, 'delete_repo_permission', { accountId: ns.id, repositoryId: repo.id }, { team: teamname, repo: repoName });
              return true;
            })
          : false;
      if (!deleted) throw invalidRequest('Team does not have permission for repo.');
      app.authCache.clear();
      return reply.code(204).send(null);
    },
  );
};
