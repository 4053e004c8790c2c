// ROBOT (part2 §7): robot accounts of the signed-in user (`/user/robots`) and of organizations
// (`/organization/{orgname}/robots`). A robot is a namespace row `owner+short` plus a robot_account
// row; its 64-character token is returned by the API again, so it is stored encrypted, not hashed.
import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { orgAccess, userAccess } from '../auth/access.js';
import { randomString, UPPER_DIGITS } from '../auth/crypto.js';
import { effectiveOrgRole, orgRoleAtLeast } from '../auth/permissions.js';
import { isUniqueViolation } from '../db/errors.js';
import {
  deleteRobot,
  findRobot,
  insertRobot,
  listRobotPermissions,
  listRobotRepositoryNames,
  listRobots,
  listRobotTeams,
  replaceRobotToken,
  type RobotRow,
} from '../db/robots.js';
import type { Namespace } from '../db/schema.js';
import { findNamespaceByName } from '../db/users.js';
import { invalidRequest, message, notFound } from '../lib/api-error.js';
import { logAction } from '../lib/audit.js';
import { avatar } from '../lib/avatar.js';
import { formatDate } from '../lib/dates.js';
import { quayBool } from '../lib/validation.js';
import { NAMESPACE_RE } from '../services/accounts.js';
import { AvatarView } from './user-view.js';

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

const TAG = 'robot';
const TOKEN_LENGTH = 64;
/** Quay's ROBOT_MAX_SIZE for create bodies (max_json_size); larger bodies are an invalid request. */
const ROBOT_MAX_SIZE = 1024 * 1024;
const ROBOT_NOT_FOUND = 'Could not find robot with specified username';
/** Flask's text for a bare abort(403), which getOrgRobotPermissions answers non-admins with. */
const FORBIDDEN_TEXT =
  "You don't have the permission to access the requested resource. It is either read-protected or not readable by the server.";
const LIMIT_HELP = 'If specified, the number of robots to return.';

const ShortnameParam = z.string().describe('The short name for the robot, without any user or organization prefix');
const OrgnameParam = z.string().describe('The name of the organization');
const UserRobotParams = z.object({ robot_shortname: ShortnameParam });
const OrgParams = z.object({ orgname: OrgnameParam });
const OrgRobotParams = z.object({ orgname: OrgnameParam, robot_shortname: ShortnameParam });

const Metadata = z.record(z.string(), z.unknown());

// Open, as Quay's schema: unknown properties are accepted and ignored.
const CreateRobot = z
  .looseObject({
    description: z.string().max(255).optional().describe('Optional text description for the robot'),
    unstructured_metadata: Metadata.optional().describe('Optional unstructured metadata for the robot'),
  })
  .meta({ id: 'CreateRobot', description: 'Optional data for creating a robot' });
// The body is optional: no body, an empty body and JSON `null` all mean "no data" (Quay's
// validate_json_request(optional=True)).
const CreateRobotBody = CreateRobot.nullish();

/** Python's int(): optional sign, digits, surrounding blanks. Bad values get Quay's help text. */
const LimitQuery = z
  .preprocess((v) => (Array.isArray(v) ? v[0] : v), z.string().regex(/^\s*[+-]?\d+\s*$/, LIMIT_HELP).optional())
  .transform((s) => (s === undefined ? undefined : Math.max(0, parseInt(s.trim(), 10))))
  .describe(LIMIT_HELP);

const RobotListQuery = z.object({
  permissions: quayBool.describe('Whether to include repositories and teams in which the robots have permission.'),
  token: quayBool.describe("If false, the robot's token is not returned."),
  limit: LimitQuery,
});

const RobotView = z
  .object({
    name: z.string(),
    created: z.string().nullable(),
    last_accessed: z.string().nullable(),
    description: z.string(),
    token: z.string().optional(),
    unstructured_metadata: Metadata.nullable(),
  })
  .meta({ id: 'Robot', description: 'A robot account.' });

const RegeneratedRobotView = z.object({
  name: z.string(),
  created: z.string().nullable(),
  last_accessed: z.string().nullable(),
  description: z.string(),
  token: z.string(),
});

const RobotListItem = z.object({
  name: z.string(),
  created: z.string().nullable(),
  last_accessed: z.string().nullable(),
  description: z.string(),
  token: z.string().optional(),
  teams: z.array(z.object({ name: z.string(), avatar: AvatarView })).optional(),
  repositories: z.array(z.string()).optional(),
});
const RobotList = z.object({ robots: z.array(RobotListItem) });

const RobotPermissions = z
  .object({
    permissions: z.array(
      z.object({
        repository: z.object({ name: z.string(), is_public: z.boolean() }),
        role: z.enum(['read', 'write', 'admin']),
      }),
    ),
  })
  .meta({ id: 'RobotPermissions', description: 'The direct repository permissions of a robot.' });

interface ListOptions {
  token: boolean;
  permissions: boolean;
  limit?: number;
}

function robotName(owner: Pick<Namespace, 'username'>, short: string): string {
  return `${owner.username}+${short}`;
}

/** Quay's create_robot checks, in its order; the message is what Quay's InvalidRobotException says. */
function robotNameProblem(short: string): string | undefined {
  let issue: string | undefined;
  if (!NAMESPACE_RE.test(short)) issue = 'Namespace must match expression ^([a-z0-9]+(?:[._-][a-z0-9]+)*)$';
  else if (short.length < 2 || short.length > 255) issue = 'Namespace must be between 2 and 255 characters in length';
  return issue && `The name for the robot '${short}' is invalid: ${issue}`;
}

/** The organization named by `{orgname}`, already looked up by orgAccess. A user namespace is not one. */
function targetOrg(req: FastifyRequest): Namespace {
  const ns = req.target.namespace;
  if (!ns || !ns.organization) throw notFound();
  return ns;
}

function robotService(app: FastifyInstance) {
  const { db, secrets } = app;

  const token = (r: RobotRow) => (r.token_enc ? (secrets.decrypt(r.token_enc) ?? '') : '');
  const base = (r: RobotRow) => ({
    name: r.username,
    created: formatDate(r.creation_date),
    last_accessed: formatDate(r.last_accessed),
    description: r.description,
  });

  async function find(owner: Namespace, short: string): Promise<RobotRow> {
    const robot = await findRobot(db, owner.id, robotName(owner, short));
    if (!robot) throw message(400, ROBOT_NOT_FOUND);
    return robot;
  }

  return {
    async list(owner: Namespace, o: ListOptions): Promise<z.infer<typeof RobotList>> {
      const robots = await listRobots(db, owner.id, o.limit);
      const ids = robots.map((r) => r.id);
      const teams = o.permissions ? await listRobotTeams(db, ids) : [];
      const repos = o.permissions ? await listRobotRepositoryNames(db, ids) : [];
      return {
        robots: robots.map((r) => ({
          ...base(r),
          ...(o.token ? { token: token(r) } : {}),
          ...(o.permissions
            ? {
                teams: teams.filter((t) => t.robot_id === r.id).map((t) => ({ name: t.name, avatar: avatar(t.name, t.name, 'team') })),
                // Names only, without namespace, once each (Quay's view).
                repositories: [...new Set(repos.filter((p) => p.robot_id === r.id).map((p) => p.name))],
              }
            : {}),
        })),
      };
    },

    async get(owner: Namespace, short: string): Promise<z.infer<typeof RobotView>> {
      const r = await find(owner, short);
      return { ...base(r), token: token(r), unstructured_metadata: r.unstructured_metadata };
    },

    async create(
      req: FastifyRequest,
      owner: Namespace,
      short: string,
      body: z.infer<typeof CreateRobotBody>,
    ): Promise<z.infer<typeof RobotView>> {
      if (app.config.ROBOTS_DISALLOW) throw message(400, 'Robot accounts have been disabled. Please contact your administrator.');
      const problem = robotNameProblem(short);
      if (problem) throw message(400, problem);
      const name = robotName(owner, short);
      const existing = `Existing robot with name: ${name}`;
      if (await findNamespaceByName(db, name)) throw message(400, existing);
      const description = body?.description ?? null;
      const metadata = body?.unstructured_metadata ?? null;
      const clear = randomString(TOKEN_LENGTH, UPPER_DIGITS);
      const robot = await db
        .transaction()
        .execute(async (trx) => {
          const r = await insertRobot(trx, {
            ownerId: owner.id,
            username: name,
            description: description ?? '',
            unstructuredMetadata: metadata ?? {},
            tokenEnc: secrets.encrypt(clear),
          });
          await logAction(trx, req.auth, 'create_robot', { accountId: owner.id }, {
            robot: short,
            description,
            unstructured_metadata: metadata,
          });
          return r;
        })
        .catch((err: unknown) => {
          if (isUniqueViolation(err)) throw message(400, existing);
          throw err;
        });
      app.authCache.clear();
      // Quay echoes the metadata as sent: null when none was given (a later GET shows {}).
      return { ...base(robot), token: clear, unstructured_metadata: metadata };
    },

    async remove(req: FastifyRequest, owner: Namespace, short: string): Promise<void> {
      await db.transaction().execute(async (trx) => {
        const r = await findRobot(trx, owner.id, robotName(owner, short));
        if (!r) throw message(400, ROBOT_NOT_FOUND);
        await deleteRobot(trx, r.id);
        await logAction(trx, req.auth, 'delete_robot', { accountId: owner.id }, { robot: short });
      });
      app.authCache.clear();
    },

    async regenerate(req: FastifyRequest, owner: Namespace, short: string): Promise<z.infer<typeof RegeneratedRobotView>> {
      const clear = randomString(TOKEN_LENGTH, UPPER_DIGITS);
      const r = await db.transaction().execute(async (trx) => {
        const found = await findRobot(trx, owner.id, robotName(owner, short));
        if (!found) throw message(400, ROBOT_NOT_FOUND);
        await replaceRobotToken(trx, found.id, secrets.encrypt(clear));
        await logAction(trx, req.auth, 'regenerate_robot_token', { accountId: owner.id }, { robot: short });
        return found;
      });
      app.authCache.clear();
      return { ...base(r), token: clear };
    },

    async permissions(owner: Namespace, short: string): Promise<z.infer<typeof RobotPermissions>> {
      const r = await find(owner, short);
      const rows = await listRobotPermissions(db, r.id);
      return { permissions: rows.map((p) => ({ repository: { name: p.name, is_public: p.visibility === 'public' }, role: p.role })) };
    },
  };
}

export const robotRoutes: FastifyPluginAsyncZod = async (app) => {
  const robots = robotService(app);
  const user = (req: FastifyRequest) => req.auth.user!;
  const listOptions = (q: z.infer<typeof RobotListQuery>): ListOptions => ({
    token: q.token ?? true,
    permissions: q.permissions ?? false,
    limit: q.limit,
  });

  // Quay's max_json_size: a create body over 1 MiB is an invalid request (400), not a 413. The app's
  // bodyLimit is that same 1 MiB, so Fastify's own error is translated here; anything else goes on
  // to the application's error handler.
  app.setErrorHandler((err: FastifyError, req) => {
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' && req.method === 'PUT') {
      throw invalidRequest(`The request body exceeds the maximum size of ${ROBOT_MAX_SIZE} bytes`);
    }
    throw err;
  });
  const createOptions = { bodyLimit: ROBOT_MAX_SIZE };

  // ---- the caller's own robots (UserAdmin) ----

  app.get(
    '/user/robots',
    {
      config: { access: userAccess('admin') },
      schema: {
        operationId: 'getUserRobots',
        tags: [TAG],
        description: 'List the available robots for the user.',
        querystring: RobotListQuery,
        response: { 200: RobotList },
      },
    },
    async (req) => robots.list(user(req), listOptions(req.query)),
  );

  app.get(
    '/user/robots/:robot_shortname',
    {
      config: { access: userAccess('admin') },
      schema: {
        operationId: 'getUserRobot',
        tags: [TAG],
        description: "Returns the user's robot with the specified name.",
        params: UserRobotParams,
        response: { 200: RobotView },
      },
    },
    async (req) => robots.get(user(req), req.params.robot_shortname),
  );

  app.put(
    '/user/robots/:robot_shortname',
    {
      ...createOptions,
      config: { access: userAccess('admin') },
      schema: {
        operationId: 'createUserRobot',
        tags: [TAG],
        description: 'Create a new user robot with the specified name.',
        params: UserRobotParams,
        body: CreateRobotBody,
        response: { 201: RobotView },
      },
    },
    async (req, reply) => reply.code(201).send(await robots.create(req, user(req), req.params.robot_shortname, req.body)),
  );

  app.delete(
    '/user/robots/:robot_shortname',
    {
      config: { access: userAccess('admin') },
      schema: {
        operationId: 'deleteUserRobot',
        tags: [TAG],
        description: 'Delete an existing robot.',
        params: UserRobotParams,
        response: { 204: z.null().describe('Deleted') },
      },
    },
    async (req, reply) => {
      await robots.remove(req, user(req), req.params.robot_shortname);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/user/robots/:robot_shortname/regenerate',
    {
      config: { access: userAccess('admin') },
      schema: {
        operationId: 'regenerateUserRobotToken',
        tags: [TAG],
        description: "Regenerates the token for a user's robot.",
        params: UserRobotParams,
        // Quay answers 200 here, not the 201 its guide prints.
        response: { 200: RegeneratedRobotView },
      },
    },
    async (req) => robots.regenerate(req, user(req), req.params.robot_shortname),
  );

  app.get(
    '/user/robots/:robot_shortname/permissions',
    {
      config: { access: userAccess('admin') },
      schema: {
        operationId: 'getUserRobotPermissions',
        tags: [TAG],
        description: "Returns the list of repository permissions for the user's robot.",
        params: UserRobotParams,
        response: { 200: RobotPermissions },
      },
    },
    async (req) => robots.permissions(user(req), req.params.robot_shortname),
  );

  // ---- organization robots (OrgAdmin; listing needs only OrgMember) ----

  app.get(
    '/organization/:orgname/robots',
    {
      config: { access: orgAccess('member') },
      schema: {
        operationId: 'getOrgRobots',
        tags: [TAG],
        description: "List the organization's robots.",
        params: OrgParams,
        querystring: RobotListQuery,
        response: { 200: RobotList },
      },
    },
    async (req) => {
      const org = targetOrg(req);
      // Members see the list; tokens and permissions only for administrators (Quay's OrgRobotList).
      const admin = orgRoleAtLeast(await effectiveOrgRole(app.db, req.auth, org), 'admin');
      const o = listOptions(req.query);
      return robots.list(org, { ...o, token: admin && o.token, permissions: admin && o.permissions });
    },
  );

  app.get(
    '/organization/:orgname/robots/:robot_shortname',
    {
      config: { access: orgAccess('admin') },
      schema: {
        operationId: 'getOrgRobot',
        tags: [TAG],
        description: "Returns the organization's robot with the specified name.",
        params: OrgRobotParams,
        response: { 200: RobotView },
      },
    },
    async (req) => robots.get(targetOrg(req), req.params.robot_shortname),
  );

  app.put(
    '/organization/:orgname/robots/:robot_shortname',
    {
      ...createOptions,
      config: { access: orgAccess('admin') },
      schema: {
        operationId: 'createOrgRobot',
        tags: [TAG],
        description: 'Create a new robot in the organization.',
        params: OrgRobotParams,
        body: CreateRobotBody,
        response: { 201: RobotView },
      },
    },
    async (req, reply) => reply.code(201).send(await robots.create(req, targetOrg(req), req.params.robot_shortname, req.body)),
  );

  app.delete(
    '/organization/:orgname/robots/:robot_shortname',
    {
      config: { access: orgAccess('admin') },
      schema: {
        operationId: 'deleteOrgRobot',
        tags: [TAG],
        description: 'Delete an existing organization robot.',
        params: OrgRobotParams,
        response: { 204: z.null().describe('Deleted') },
      },
    },
    async (req, reply) => {
      await robots.remove(req, targetOrg(req), req.params.robot_shortname);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/organization/:orgname/robots/:robot_shortname/regenerate',
    {
      config: { access: orgAccess('admin') },
      schema: {
        operationId: 'regenerateOrgRobotToken',
        tags: [TAG],
        description: 'Regenerates the token for an organization robot.',
        params: OrgRobotParams,
        // Quay answers 200 here, not the 201 its guide prints.
        response: { 200: RegeneratedRobotView },
      },
    },
    async (req) => robots.regenerate(req, targetOrg(req), req.params.robot_shortname),
  );

  app.get(
    '/organization/:orgname/robots/:robot_shortname/permissions',
    {
      // Quay checks UserAdmin first (require_user_admin), then OrgAdmin inside the handler, whose
      // refusal is a bare abort(403): an org:admin-only token fails the first check, a user:admin
      // token without org:admin (or a non-admin) the second.
      config: { access: userAccess('admin') },
      schema: {
        operationId: 'getOrgRobotPermissions',
        tags: [TAG],
        description: "Returns the list of repository permissions for the org's robot.",
        params: OrgRobotParams,
        response: { 200: RobotPermissions },
      },
    },
    async (req) => {
      const ns = await findNamespaceByName(app.db, req.params.orgname);
      if (!ns || !orgRoleAtLeast(await effectiveOrgRole(app.db, req.auth, ns), 'admin')) throw message(403, FORBIDDEN_TEXT);
      if (!ns.organization) throw notFound();
      return robots.permissions(ns, req.params.robot_shortname);
    },
  );
};
