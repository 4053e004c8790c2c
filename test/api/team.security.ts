// Security-matrix rows for the TEAM section. Destructive rows work on fresh teams and fresh users in
// ctx.org, so the fixture's teams (owners, readers, creators) keep their members.
import { makeTeam, makeUser, uniqueName } from '../helpers/factories.js';
import { all, type Ctx, type Row } from './matrix.js';

const ORG_ROUTE = '/api/v1/organization/:orgname/team/:teamname';

/** Only alice (org admin: full-scope token or session) passes OrgAdmin; anonymous reads get 401. */
const ADMIN_READ = all(403, { anonymous: 401, anonymousSession: 401, robot: 401, orgAdmin: 200, orgAdminSession: 200 });
/** Writes: anonymous callers (robots' Basic credentials are not read) meet the CSRF check first. */
const adminWrite = (ok: number) => all(403, { anonymousSession: 401, orgAdmin: ok, orgAdminSession: ok });

const team = (c: Ctx, name: string) => `/api/v1/organization/${c.org.username}/team/${name}`;

async function freshTeam(c: Ctx, members: Parameters<typeof makeTeam>[3] = []): Promise<string> {
  const name = uniqueName('mt');
  await makeTeam(c.t, c.org, 'member', members, name);
  return name;
}

export const rows: Row[] = [
  {
    method: 'GET', route: `${ORG_ROUTE}/permissions`, path: (c) => `${team(c, 'readers')}/permissions`,
    expect: ADMIN_READ,
  },
  {
    // ViewTeam: carol (member of readers) may list it too; dave (creators) may not.
    method: 'GET', route: `${ORG_ROUTE}/members`, path: (c) => `${team(c, 'readers')}/members`,
    expect: { ...ADMIN_READ, orgMember: 200 },
  },
  {
    method: 'PUT', route: ORG_ROUTE, path: (c) => team(c, uniqueName('mt')), body: () => ({ role: 'member', description: 'matrix' }),
    expect: adminWrite(200),
  },
  {
    method: 'DELETE', route: ORG_ROUTE, path: async (c) => team(c, await freshTeam(c)),
    expect: adminWrite(204),
  },
  {
    method: 'PUT', route: `${ORG_ROUTE}/members/:membername`,
    path: async (c) => `${team(c, await freshTeam(c))}/members/${(await makeUser(c.t)).username}`,
    expect: adminWrite(200),
  },
  {
    method: 'DELETE', route: `${ORG_ROUTE}/members/:membername`,
    path: async (c) => {
      const u = await makeUser(c.t);
      return `${team(c, await freshTeam(c, [u]))}/members/${u.username}`;
    },
    expect: adminWrite(204),
  },
];
