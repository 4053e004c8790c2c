// ROBOT (part2 §7): robot accounts of the signed-in user (`/user/robots`) and of organizations
// (`/organization/{orgname}/robots`). A robot is a namespace row `owner+short` plus a robot_account
// row; its 64-character token is returned by the API again, so it is stored encrypted, not hashed.
import type { FastifyError, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { orgAccess, userAccess } from '../../auth/access.js';
import { effectiveOrgRole, orgRoleAtLeast } from '../../auth/permissions.js';
import type { Namespace } from '../../db/schema.js';
import { findNamespaceByName } from '../../db/users.js';
import { invalidRequest, message, notFound } from '../../lib/api-error.js';
import { registerRobotRoutes, ROBOT_MAX_SIZE, type RobotOwner } from './routes.js';
import { OrgParams, OrgRobotParams, UserRobotParams } from './schemas.js';
import { robotService } from './service.js';

export const OPERATIONS = [
  'getUserRobots',
  'getUserRobot',
  'createUserRobot',
  'deleteUserRobot',
  'regenerateUserRobotToken',
  'getUserRobotPermissions',
  'getOrgRobots',
  'getOrgRobot',
  'createOrgRobot',
  'deleteOrgRobot',
  'regenerateOrgRobotToken',
  'getOrgRobotPermissions',
] as const;

/** Flask's text for a bare abort(403), which getOrgRobotPermissions answers non-admins with. */
const FORBIDDEN_TEXT =
  "You don't have the permission to access the requested resource. It is either read-protected or not readable by the server.";

/** The organization named by `{orgname}`, already looked up by orgAccess. A user namespace is not one. */
function targetOrg(req: FastifyRequest): Namespace {
  const ns = req.target.namespace;
  if (!ns || !ns.organization) throw notFound();
  return ns;
}

/** The caller's own robots: UserAdmin throughout. */
const USER_ROBOTS: RobotOwner = {
  base: '/user/robots',
  robotParams: UserRobotParams,
  owner: (req) => req.auth.user!,
  routes: {
    list: { operationId: 'getUserRobots', description: 'List the available robots for the user.', access: userAccess('admin') },
    get: { operationId: 'getUserRobot', description: "Returns the user's robot with the specified name.", access: userAccess('admin') },
    create: { operationId: 'createUserRobot', description: 'Create a new user robot with the specified name.', access: userAccess('admin') },
    remove: { operationId: 'deleteUserRobot', description: 'Delete an existing robot.', access: userAccess('admin') },
    regenerate: { operationId: 'regenerateUserRobotToken', description: "Regenerates the token for a user's robot.", access: userAccess('admin') },
    permissions: {
      operationId: 'getUserRobotPermissions',
      description: "Returns the list of repository permissions for the user's robot.",
      access: userAccess('admin'),
    },
  },
};

/** An organization's robots: OrgAdmin, except that members may list them. */
const ORG_ROBOTS: RobotOwner = {
  base: '/organization/:orgname/robots',
  listParams: OrgParams,
  robotParams: OrgRobotParams,
  owner: targetOrg,
  // Members see the list; tokens and permissions only for administrators (Quay's OrgRobotList).
  async listOptions(req, org, asked) {
    const admin = orgRoleAtLeast(await effectiveOrgRole(req.server.db, req.auth, org), 'admin');
    return { ...asked, token: admin && asked.token, permissions: admin && asked.permissions };
  },
  routes: {
    list: { operationId: 'getOrgRobots', description: "List the organization's robots.", access: orgAccess('member') },
    get: { operationId: 'getOrgRobot', description: "Returns the organization's robot with the specified name.", access: orgAccess('admin') },
    create: { operationId: 'createOrgRobot', description: 'Create a new robot in the organization.', access: orgAccess('admin') },
    remove: { operationId: 'deleteOrgRobot', description: 'Delete an existing organization robot.', access: orgAccess('admin') },
    regenerate: { operationId: 'regenerateOrgRobotToken', description: 'Regenerates the token for an organization robot.', access: orgAccess('admin') },
    permissions: {
      operationId: 'getOrgRobotPermissions',
      description: "Returns the list of repository permissions for the org's robot.",
      // Quay checks UserAdmin first (require_user_admin), then OrgAdmin inside the handler, whose
      // refusal is a bare abort(403): an org:admin-only token fails the first check, a user:admin
      // token without org:admin (or a non-admin) the second.
      access: userAccess('admin'),
      async owner(req) {
        const { orgname } = req.params as { orgname: string };
        const ns = await findNamespaceByName(req.server.db, orgname);
        if (!ns || !orgRoleAtLeast(await effectiveOrgRole(req.server.db, req.auth, ns), 'admin')) throw message(403, FORBIDDEN_TEXT);
        if (!ns.organization) throw notFound();
        return ns;
      },
    },
  },
};

export const robotRoutes: FastifyPluginAsyncZod = async (app) => {
  // Quay's max_json_size: a create body over 1 MiB is an invalid request (400), not a 413. The app's
  // bodyLimit is that same 1 MiB, so Fastify's own error is translated here; anything else goes on
  // to the application's error handler (a 413 ApiError for other routes' oversized bodies).
  app.setErrorHandler((err: FastifyError, req) => {
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' && req.method === 'PUT') {
      throw invalidRequest(`The request body exceeds the maximum size of ${ROBOT_MAX_SIZE} bytes`);
    }
    throw err;
  });

  const robots = robotService(app);
  registerRobotRoutes(app, robots, USER_ROBOTS);
  registerRobotRoutes(app, robots, ORG_ROBOTS);
};
