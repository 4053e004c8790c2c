// Security-matrix rows for the ROBOT section. Destructive rows (delete, regenerate) work on a fresh
// robot made in `path`, never on the fixture's org+bot.
import { makeRobot, uniqueName } from '../helpers/factories.js';
import { all, type Ctx, type Identity, type Row } from './matrix.js';

/** UserAdmin routes: anonymous callers 401, alice's narrow tokens 403, everyone with user:admin passes. */
const USER_ADMIN = { anonymous: 401, anonymousSession: 401, robot: 401, repoReadOnlyToken: 403, userReadOnlyToken: 403 } as const;
/** Anonymous writes meet the CSRF check first (403); robots' Basic credentials are not read. */
const USER_ADMIN_WRITE = { ...USER_ADMIN, anonymous: 403, robot: 403 } as const;
/** OrgAdmin of ctx.org: alice with org:admin (token or session); everyone else is refused. */
const ORG_ADMIN = (ok: number, write = false) =>
  all(403, { anonymous: write ? 403 : 401, anonymousSession: 401, robot: write ? 403 : 401, orgAdmin: ok, orgAdminSession: ok });

/** A robot of the identity's own account (any name for anonymous identities, which never get that far). */
async function ownRobot(ctx: Ctx, identity: Identity): Promise<string> {
  const user = ctx.users[identity];
  const short = uniqueName('mbot');
  if (user) await makeRobot(ctx.t, user, short);
  return short;
}

async function orgRobot(ctx: Ctx): Promise<string> {
  const short = uniqueName('mbot');
  await makeRobot(ctx.t, ctx.org, short);
  return short;
}

const fixtureShort = (ctx: Ctx) => ctx.robot.username.split('+')[1];

export const rows: Row[] = [
  { method: 'GET', route: '/api/v1/user/robots', path: () => '/api/v1/user/robots', expect: all(200, USER_ADMIN) },
  {
    method: 'GET', route: '/api/v1/user/robots/:robot_shortname',
    path: async (c, i) => `/api/v1/user/robots/${await ownRobot(c, i)}`,
    expect: all(200, USER_ADMIN),
  },
  {
    method: 'PUT', route: '/api/v1/user/robots/:robot_shortname',
    path: () => `/api/v1/user/robots/${uniqueName('mbot')}`, body: () => ({ description: 'matrix' }),
    expect: all(201, USER_ADMIN_WRITE),
  },
  {
    method: 'DELETE', route: '/api/v1/user/robots/:robot_shortname',
    path: async (c, i) => `/api/v1/user/robots/${await ownRobot(c, i)}`,
    expect: all(204, USER_ADMIN_WRITE),
  },
  {
    method: 'POST', route: '/api/v1/user/robots/:robot_shortname/regenerate',
    path: async (c, i) => `/api/v1/user/robots/${await ownRobot(c, i)}/regenerate`,
    expect: all(200, USER_ADMIN_WRITE),
  },
  {
    method: 'GET', route: '/api/v1/user/robots/:robot_shortname/permissions',
    path: async (c, i) => `/api/v1/user/robots/${await ownRobot(c, i)}/permissions`,
    expect: all(200, USER_ADMIN),
  },
  {
    // OrgMember lists (tokens only for admins); repoAdmin erin has a grant but no team.
    method: 'GET', route: '/api/v1/organization/:orgname/robots',
    path: (c) => `/api/v1/organization/${c.org.username}/robots`,
    expect: all(403, { anonymous: 401, anonymousSession: 401, robot: 401, orgMember: 200, teamCreator: 200, orgAdmin: 200, orgAdminSession: 200 }),
  },
  {
    method: 'GET', route: '/api/v1/organization/:orgname/robots/:robot_shortname',
    path: (c) => `/api/v1/organization/${c.org.username}/robots/${fixtureShort(c)}`,
    expect: ORG_ADMIN(200),
  },
  {
    method: 'PUT', route: '/api/v1/organization/:orgname/robots/:robot_shortname',
    path: (c) => `/api/v1/organization/${c.org.username}/robots/${uniqueName('mbot')}`, body: () => ({}),
    expect: ORG_ADMIN(201, true),
  },
  {
    method: 'DELETE', route: '/api/v1/organization/:orgname/robots/:robot_shortname',
    path: async (c) => `/api/v1/organization/${c.org.username}/robots/${await orgRobot(c)}`,
    expect: ORG_ADMIN(204, true),
  },
  {
    method: 'POST', route: '/api/v1/organization/:orgname/robots/:robot_shortname/regenerate',
    path: async (c) => `/api/v1/organization/${c.org.username}/robots/${await orgRobot(c)}/regenerate`,
    expect: ORG_ADMIN(200, true),
  },
  {
    // UserAdmin first (ApiError 403 for user:read), then OrgAdmin (a bare 403 {message}).
    method: 'GET', route: '/api/v1/organization/:orgname/robots/:robot_shortname/permissions',
    path: (c) => `/api/v1/organization/${c.org.username}/robots/${fixtureShort(c)}/permissions`,
    expect: ORG_ADMIN(200),
  },
];
