// One route builder serves both owners of robots: the caller's own account (`/user/robots`) and an
// organization (`/organization/{orgname}/robots`). Quay's two resource sets differ only in whose
// robots they are, who may call each route and the routes' names; what each route does is the same.
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AccessRule } from '../../auth/access.js';
import type { Namespace } from '../../db/schema.js';
import {
  CreateRobotBody,
  OrgParams,
  RegeneratedRobotView,
  RobotList,
  RobotListQuery,
  RobotPermissions,
  RobotView,
  type RobotParamsSchema,
} from './schemas.js';
import type { ListOptions, RobotService } from './service.js';

type ZodApp = Parameters<FastifyPluginAsyncZod>[0];

const TAGS = ['robot'];
/** Quay's ROBOT_MAX_SIZE for create bodies (max_json_size); larger bodies are an invalid request. */
export const ROBOT_MAX_SIZE = 1024 * 1024;

export type RobotOperation = 'list' | 'get' | 'create' | 'remove' | 'regenerate' | 'permissions';

export interface RobotRoute {
  operationId: string;
  description: string;
  access: AccessRule;
  /** Whose robots, when this route finds the owner its own way instead of through `RobotOwner.owner`. */
  owner?: (req: FastifyRequest) => Promise<Namespace>;
}

/** One owner kind's robot routes. */
export interface RobotOwner {
  /** The list's path; each robot is `${base}/:robot_shortname`. */
  base: string;
  /** Params of the list's path (none for the caller's own robots). */
  listParams?: typeof OrgParams;
  robotParams: RobotParamsSchema;
  /** The namespace whose robots the routes manage, once the route's access check has passed. */
  owner: (req: FastifyRequest) => Namespace;
  /** Narrows what a listing shows the caller (organization members see no tokens or permissions). */
  listOptions?: (req: FastifyRequest, owner: Namespace, asked: ListOptions) => Promise<ListOptions>;
  routes: Record<RobotOperation, RobotRoute>;
}

/** Registers the six robot routes of one owner kind, in Quay's order. */
export function registerRobotRoutes(app: ZodApp, robots: RobotService, spec: RobotOwner): void {
  const path = `${spec.base}/:robot_shortname`;
  const { routes } = spec;
  const config = (op: RobotOperation) => ({ access: routes[op].access });
  const names = (op: RobotOperation) => ({ operationId: routes[op].operationId, tags: TAGS, description: routes[op].description });
  const owner = (op: RobotOperation, req: FastifyRequest) => routes[op].owner?.(req) ?? spec.owner(req);

  app.get(
    spec.base,
    {
      config: config('list'),
      schema: { ...names('list'), ...(spec.listParams && { params: spec.listParams }), querystring: RobotListQuery, response: { 200: RobotList } },
    },
    async (req) => {
      const o = await owner('list', req);
      const asked: ListOptions = { token: req.query.token ?? true, permissions: req.query.permissions ?? false, limit: req.query.limit };
      return robots.list(o, spec.listOptions ? await spec.listOptions(req, o, asked) : asked);
    },
  );

  app.get(
    path,
    { config: config('get'), schema: { ...names('get'), params: spec.robotParams, response: { 200: RobotView } } },
    async (req) => robots.get(await owner('get', req), req.params.robot_shortname),
  );

  app.put(
    path,
    {
      bodyLimit: ROBOT_MAX_SIZE,
      // The metadata is an opaque JSON value Quay bounds only by the body size.
      config: { ...config('create'), maxStringLength: ROBOT_MAX_SIZE },
      schema: { ...names('create'), params: spec.robotParams, body: CreateRobotBody, response: { 201: RobotView } },
    },
    async (req, reply) => reply.code(201).send(await robots.create(req, await owner('create', req), req.params.robot_shortname, req.body)),
  );

  app.delete(
    path,
    { config: config('remove'), schema: { ...names('remove'), params: spec.robotParams, response: { 204: z.null().describe('Deleted') } } },
    async (req, reply) => {
      await robots.remove(req, await owner('remove', req), req.params.robot_shortname);
      return reply.code(204).send(null);
    },
  );

  app.post(
    `${path}/regenerate`,
    // Quay answers 200 here, not the 201 its guide prints.
    { config: config('regenerate'), schema: { ...names('regenerate'), params: spec.robotParams, response: { 200: RegeneratedRobotView } } },
    async (req) => robots.regenerate(req, await owner('regenerate', req), req.params.robot_shortname),
  );

  app.get(
    `${path}/permissions`,
    { config: config('permissions'), schema: { ...names('permissions'), params: spec.robotParams, response: { 200: RobotPermissions } } },
    async (req) => robots.permissions(await owner('permissions', req), req.params.robot_shortname),
  );
}
