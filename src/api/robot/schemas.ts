// Request and response schemas of the ROBOT section, shared by the user and organization routes.
import { z } from 'zod';
import { quayBool } from '../../lib/validation.js';
import { AvatarView } from '../user-view.js';

const LIMIT_HELP = 'If specified, the number of robots to return.';

const ShortnameParam = z.string().describe('The short name for the robot, without any user or organization prefix');
const OrgnameParam = z.string().describe('The name of the organization');
export const UserRobotParams = z.object({ robot_shortname: ShortnameParam });
export const OrgParams = z.object({ orgname: OrgnameParam });
export const OrgRobotParams = z.object({ orgname: OrgnameParam, robot_shortname: ShortnameParam });
/** The params of a single-robot route: `{robot_shortname}`, under `{orgname}` for organization robots. */
export type RobotParamsSchema = typeof UserRobotParams | typeof OrgRobotParams;

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
export const CreateRobotBody = CreateRobot.nullish();

/** Python's int(): optional sign, digits, surrounding blanks. Bad values get Quay's help text. */
const LimitQuery = z
  .preprocess((v) => (Array.isArray(v) ? v[0] : v), z.string().regex(/^\s*[+-]?\d+\s*$/, LIMIT_HELP).optional())
  .transform((s) => (s === undefined ? undefined : Math.max(0, parseInt(s.trim(), 10))))
  .describe(LIMIT_HELP);

export const RobotListQuery = z.object({
  permissions: quayBool.describe('Whether to include repositories and teams in which the robots have permission.'),
  token: quayBool.describe("If false, the robot's token is not returned."),
  limit: LimitQuery,
});

export const RobotView = z
  .object({
    name: z.string(),
    created: z.string().nullable(),
    last_accessed: z.string().nullable(),
    description: z.string(),
    token: z.string().optional(),
    unstructured_metadata: Metadata.nullable(),
  })
  .meta({ id: 'Robot', description: 'A robot account.' });

export const RegeneratedRobotView = z.object({
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
export const RobotList = z.object({ robots: z.array(RobotListItem) });

export const RobotPermissions = z
  .object({
    permissions: z.array(
      z.object({
        repository: z.object({ name: z.string(), is_public: z.boolean() }),
        role: z.enum(['read', 'write', 'admin']),
      }),
    ),
  })
  .meta({ id: 'RobotPermissions', description: 'The direct repository permissions of a robot.' });
