// PROTOTYPE (part1 §12): an organization's default permissions. A prototype says "when
// activating_user (or anyone) creates a repository here, grant delegate (user or team) role"; it is
// applied once, at repository creation. Only org admins see or change them.
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { orgAccess } from '../auth/access.js';
import type { AuthContext } from '../auth/context.js';
import type { Db } from '../db/index.js';
import { deletePrototype, findPrototype, insertPrototype, listPrototypes, setPrototypeRole, type Prototype } from '../db/prototypes.js';
import type { Namespace } from '../db/schema.js';
import { findTeam, findUserOrRobot, orgMemberIds, type Team } from '../db/teams.js';
import { invalidRequest, message, notFound } from '../lib/api-error.js';
import { logAction } from '../lib/audit.js';
import { avatar } from '../lib/avatar.js';
import type { LogKind } from '../lib/log-kinds.js';
import { AvatarView } from './user-view.js';

export const OPERATIONS = [
  'getOrganizationPrototypePermissions',
  'createOrganizationPrototypePermission',
  'updateOrganizationPrototypePermission',
  'deleteOrganizationPrototypePermission',
] as const;

const TAGS = ['prototype'];
const REPO_ROLES = ['read', 'write', 'admin'] as const;

const OrgParams = z.object({ orgname: z.string().describe('The name of the organization') });
const PrototypeParams = OrgParams.extend({ prototypeid: z.string().describe('The ID of the prototype') });

const NewPrototype = z
  .object({
    role: z.enum(REPO_ROLES).describe('Role that should be applied to the delegate'),
    activating_user: z
      .object({ name: z.string().describe('The username for the activating_user') })
      .nullable()
      .optional()
      .describe('Repository creating user to whom the rule should apply'),
    delegate: z
      .object({
        name: z.string().describe('The name for the delegate team or user'),
        kind: z.enum(['user', 'team']).describe('Whether the delegate is a user or a team'),
      })
      .describe('Information about the user or team to which the rule grants access'),
  })
  .meta({ id: 'NewPrototype', description: 'Description of a new prototype' });

const PrototypeUpdate = z
  .object({ role: z.enum(REPO_ROLES).describe('Role that should be applied to the permission') })
  .meta({ id: 'PrototypeUpdate', description: 'Description of a the new prototype role' });

const PrototypeUserView = z.object({
  name: z.string(),
  is_robot: z.boolean(),
  kind: z.literal('user'),
  is_org_member: z.boolean(),
  avatar: AvatarView,
});
const PrototypeTeamView = z.object({ name: z.string(), kind: z.literal('team'), avatar: AvatarView });

const PrototypeView = z
  .object({
    id: z.string(),
    role: z.enum(REPO_ROLES),
    activating_user: PrototypeUserView.nullable(),
    delegate: z.union([PrototypeUserView, PrototypeTeamView]),
  })
  .meta({ id: 'Prototype', description: 'A default permission of an organization.' });

type View = z.infer<typeof PrototypeView>;

function userView(u: Namespace, members: Set<number>): z.infer<typeof PrototypeUserView> {
  return {
    name: u.username,
    is_robot: u.robot,
    kind: 'user',
    // Robots count as members whatever their owner, as in Quay.
    is_org_member: u.robot || members.has(u.id),
    avatar: avatar(u.username, u.email, u.robot ? 'robot' : 'user'),
  };
}

function prototypeView(p: Prototype, members: Set<number>): View {
  const delegate = p.delegateUser
    ? userView(p.delegateUser, members)
    : { name: p.delegateTeam!.name, kind: 'team' as const, avatar: avatar(p.delegateTeam!.name, p.delegateTeam!.name, 'team') };
  return {
    id: p.uuid,
    role: p.role,
    activating_user: p.activatingUser ? userView(p.activatingUser, members) : null,
    delegate,
  };
}

/** Views for prototypes of `org`, with one membership query for all the users they name. */
async function views(db: Db, org: Namespace, protos: Prototype[]): Promise<View[]> {
  const ids = protos.flatMap((p) => [p.activatingUser?.id, p.delegateUser?.id]).filter((id): id is number => id !== undefined);
  const members = await orgMemberIds(db, org.id, [...new Set(ids)]);
  return protos.map((p) => prototypeView(p, members));
}

async function logPrototype(db: Db, auth: AuthContext, kind: LogKind, org: Namespace, p: Prototype, extra: Record<string, unknown> = {}) {
  await logAction(db, auth, kind, { accountId: org.id }, {
    prototypeid: p.uuid,
    username: auth.user!.username,
    activating_username: p.activatingUser?.username ?? null,
    role: p.role,
    ...extra,
    ...(p.delegateUser ? { delegate_user: p.delegateUser.username } : { delegate_team: p.delegateTeam?.name }),
  });
}

/** The organization named in the path; the access check passed, so anything else is the caller's own user namespace. */
function orgOf(req: FastifyRequest): Namespace {
  const ns = req.target.namespace;
  if (!ns || !ns.organization) throw notFound();
  return ns;
}

export const prototypeRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/organization/:orgname/prototypes',
    {
      config: { access: orgAccess('admin') },
      schema: {
        operationId: 'getOrganizationPrototypePermissions',
        tags: TAGS,
        description: 'List the existing prototypes for this organization.',
        params: OrgParams,
        response: { 200: z.object({ prototypes: z.array(PrototypeView) }) },
      },
    },
    async (req) => {
      const org = orgOf(req);
      return { prototypes: await views(app.db, org, await listPrototypes(app.db, org.id)) };
    },
  );

  app.post(
    '/organization/:orgname/prototypes',
    {
      config: { access: orgAccess('admin') },
      schema: {
        operationId: 'createOrganizationPrototypePermission',
        tags: TAGS,
        description: 'Create a new permission prototype.',
        params: OrgParams,
        body: NewPrototype,
        response: { 200: PrototypeView },
      },
    },
    async (req) => {
      const org = orgOf(req);
      const { role, activating_user, delegate } = req.body;
      // Lookups and refusals in Quay's order: an unknown team is reported before the users.
      const activatingName = activating_user?.name || null;
      const activating = activatingName ? await findUserOrRobot(app.db, activatingName) : undefined;
      const delegateUser = delegate.kind === 'user' && delegate.name ? await findUserOrRobot(app.db, delegate.name) : undefined;
      let delegateTeam: Team | undefined;
      if (delegate.kind === 'team' && delegate.name) {
        delegateTeam = await findTeam(app.db, org.id, delegate.name);
        if (!delegateTeam) throw message(400, `Team does not exist: ${org.username}/${delegate.name}`);
      }
      if (activatingName && !activating) throw invalidRequest('Unknown activating user');
      if (!delegateUser && !delegateTeam) throw invalidRequest('Missing delegate user or team');
      const view = await app.db.transaction().execute(async (trx) => {
        const p = await insertPrototype(trx, {
          orgId: org.id,
          role,
          activatingUserId: activating?.id ?? null,
          delegateUserId: delegateUser?.id ?? null,
          delegateTeamId: delegateTeam?.id ?? null,
        });
        await logPrototype(trx, req.auth, 'create_prototype_permission', org, p);
        return (await views(trx, org, [p]))[0];
      });
      return view;
    },
  );

  app.put(
    '/organization/:orgname/prototypes/:prototypeid',
    {
      config: { access: orgAccess('admin') },
      schema: {
        operationId: 'updateOrganizationPrototypePermission',
        tags: TAGS,
        description: 'Update the role of an existing permission prototype.',
        params: PrototypeParams,
        body: PrototypeUpdate,
        response: { 200: PrototypeView },
      },
    },
    async (req) => {
      const org = orgOf(req);
      const { role } = req.body;
      return app.db.transaction().execute(async (trx) => {
        const existing = await findPrototype(trx, org.id, req.params.prototypeid);
        if (!existing || !(await setPrototypeRole(trx, existing.id, role))) throw notFound();
        const updated: Prototype = { ...existing, role };
        await logPrototype(trx, req.auth, 'modify_prototype_permission', org, updated, { original_role: existing.role });
        return (await views(trx, org, [updated]))[0];
      });
    },
  );

  app.delete(
    '/organization/:orgname/prototypes/:prototypeid',
    {
      config: { access: orgAccess('admin') },
      schema: {
        operationId: 'deleteOrganizationPrototypePermission',
        tags: TAGS,
        description: 'Delete an existing permission prototype.',
        params: PrototypeParams,
        response: { 204: z.null().describe('Deleted') },
      },
    },
    async (req, reply) => {
      const org = orgOf(req);
      await app.db.transaction().execute(async (trx) => {
        const p = await findPrototype(trx, org.id, req.params.prototypeid);
        if (!p || !(await deletePrototype(trx, p.id))) throw notFound();
        await logPrototype(trx, req.auth, 'delete_prototype_permission', org, p);
      });
      return reply.code(204).send(null);
    },
  );
};
