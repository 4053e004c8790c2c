// What the robot routes do, for any owner (a user or an organization): the routes only decide
// whose robots they are and what the caller may see.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { randomString, UPPER_DIGITS } from '../../auth/crypto.js';
import { isUniqueViolation } from '../../db/errors.js';
import type { Db } from '../../db/index.js';
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
} from '../../db/robots.js';
import type { Namespace } from '../../db/schema.js';
import { findNamespaceByName } from '../../db/users.js';
import { message } from '../../lib/api-error.js';
import { logAction } from '../../lib/audit.js';
import { avatar } from '../../lib/avatar.js';
import { formatDate } from '../../lib/dates.js';
import { NAMESPACE_RE } from '../../services/accounts.js';
import type { CreateRobotBody, RegeneratedRobotView, RobotList, RobotPermissions, RobotView } from './schemas.js';

const TOKEN_LENGTH = 64;
const ROBOT_NOT_FOUND = 'Could not find robot with specified username';

export interface ListOptions {
  token: boolean;
  permissions: boolean;
  limit?: number;
}

export type RobotService = ReturnType<typeof robotService>;

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

export function robotService(app: FastifyInstance) {
  const { db, secrets } = app;

  const token = (r: RobotRow) => (r.token_enc ? (secrets.decrypt(r.token_enc) ?? '') : '');
  const base = (r: RobotRow) => ({
    name: r.username,
    created: formatDate(r.creation_date),
    last_accessed: formatDate(r.last_accessed),
    description: r.description,
  });

  /** The owner's robot `short`; Quay answers a missing one with a 400 data error, not a 404. */
  async function find(handle: Db, owner: Namespace, short: string): Promise<RobotRow> {
    const robot = await findRobot(handle, owner.id, robotName(owner, short));
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
      const r = await find(db, owner, short);
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
        const r = await find(trx, owner, short);
        await deleteRobot(trx, r.id);
        await logAction(trx, req.auth, 'delete_robot', { accountId: owner.id }, { robot: short });
      });
      app.authCache.clear();
    },

    async regenerate(req: FastifyRequest, owner: Namespace, short: string): Promise<z.infer<typeof RegeneratedRobotView>> {
      const clear = randomString(TOKEN_LENGTH, UPPER_DIGITS);
      const r = await db.transaction().execute(async (trx) => {
        const found = await find(trx, owner, short);
        await replaceRobotToken(trx, found.id, secrets.encrypt(clear));
        await logAction(trx, req.auth, 'regenerate_robot_token', { accountId: owner.id }, { robot: short });
        return found;
      });
      app.authCache.clear();
      return { ...base(r), token: clear };
    },

    async permissions(owner: Namespace, short: string): Promise<z.infer<typeof RobotPermissions>> {
      const r = await find(db, owner, short);
      const rows = await listRobotPermissions(db, r.id);
      return { permissions: rows.map((p) => ({ repository: { name: p.name, is_public: p.visibility === 'public' }, role: p.role })) };
    },
  };
}
