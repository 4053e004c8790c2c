// Security-matrix rows for the ORGANIZATION section (part1 §10). Destructive rows build what they
// destroy: a fresh org with the fixture's relationships, a fresh member, a fresh application.
import { grant, makeApplication, makeOrg, makeRepo, makeTeam, makeUser, uniqueName } from '../helpers/factories.js';
import { all, type Ctx, type Row } from './matrix.js';

const ORG = '/api/v1/organization';

/** OrgAdmin reads: anonymous callers 401, everyone but alice (with org:admin or a session) 403. */
const ADMIN_READ = all(403, { anonymous: 401, anonymousSession: 401, robot: 401, orgAdmin: 200, orgAdminSession: 200 });
/** OrgAdmin writes: anonymous callers (and robots, whose Basic credentials the API ignores) meet CSRF first. */
const adminWrite = (ok: number) => all(403, { anonymousSession: 401, orgAdmin: ok, orgAdminSession: ok });

/** A new org shaped like the fixture's: alice admin, carol in a member team, dave a creator, erin a direct grant. */
async function freshOrg(c: Ctx) {
  const org = await makeOrg(c.t, [c.alice]);
  await makeTeam(c.t, org, 'member', [c.carol], 'readers');
  await makeTeam(c.t, org, 'creator', [c.dave], 'creators');
  const repo = await makeRepo(c.t, org, { name: 'matrixrepo' });
  await grant(c.t, repo, { userId: c.erin.id }, 'admin');
  return org;
}

async function appIn(c: Ctx): Promise<string> {
  return (await makeApplication(c.t, c.org)).client_id;
}

export const rows: Row[] = [
  {
    method: 'POST', route: `${ORG}/`, path: () => `${ORG}/`, body: () => {
      // The fixture runs with FEATURE_MAILING (see foundation.security.ts), which requires an e-mail.
      const name = uniqueName('morg');
      return { name, email: `${name}@example.com` };
    },
    expect: all(201, { anonymous: 403, robot: 403, anonymousSession: 401, repoReadOnlyToken: 403, userReadOnlyToken: 403 }),
  },
  { method: 'GET', route: `${ORG}/:orgname`, path: (c) => `${ORG}/${c.org.username}`, expect: all(200) },
  { method: 'PUT', route: `${ORG}/:orgname`, path: (c) => `${ORG}/${c.org.username}`, body: () => ({ tag_expiration_s: 1209600 }), expect: adminWrite(200) },
  { method: 'DELETE', route: `${ORG}/:orgname`, path: async (c) => `${ORG}/${(await freshOrg(c)).username}`, expect: adminWrite(204) },
  { method: 'GET', route: `${ORG}/:orgname/members`, path: (c) => `${ORG}/${c.org.username}/members`, expect: ADMIN_READ },
  { method: 'GET', route: `${ORG}/:orgname/members/:membername`, path: (c) => `${ORG}/${c.org.username}/members/${c.carol.username}`, expect: ADMIN_READ },
  {
    method: 'DELETE', route: `${ORG}/:orgname/members/:membername`,
    path: async (c) => {
      const org = await freshOrg(c);
      const member = await makeUser(c.t);
      await makeTeam(c.t, org, 'member', [member]);
      return `${ORG}/${org.username}/members/${member.username}`;
    },
    expect: adminWrite(204),
  },
  { method: 'GET', route: `${ORG}/:orgname/collaborators`, path: (c) => `${ORG}/${c.org.username}/collaborators`, expect: ADMIN_READ },
  { method: 'GET', route: `${ORG}/:orgname/applications`, path: (c) => `${ORG}/${c.org.username}/applications`, expect: ADMIN_READ },
  {
    method: 'POST', route: `${ORG}/:orgname/applications`, path: (c) => `${ORG}/${c.org.username}/applications`,
    body: () => ({ name: uniqueName('mapp') }), expect: adminWrite(200),
  },
  { method: 'GET', route: `${ORG}/:orgname/applications/:client_id`, path: async (c) => `${ORG}/${c.org.username}/applications/${await appIn(c)}`, expect: ADMIN_READ },
  {
    method: 'PUT', route: `${ORG}/:orgname/applications/:client_id`, path: async (c) => `${ORG}/${c.org.username}/applications/${await appIn(c)}`,
    body: () => ({ name: 'matrix', redirect_uri: 'https://m.example/cb', application_uri: 'https://m.example' }), expect: adminWrite(200),
  },
  { method: 'DELETE', route: `${ORG}/:orgname/applications/:client_id`, path: async (c) => `${ORG}/${c.org.username}/applications/${await appIn(c)}`, expect: adminWrite(204) },
  {
    method: 'POST', route: `${ORG}/:orgname/applications/:client_id/resetclientsecret`,
    path: async (c) => `${ORG}/${c.org.username}/applications/${await appIn(c)}/resetclientsecret`, expect: adminWrite(200),
  },
  { method: 'GET', route: '/api/v1/app/:client_id', path: async (c) => `/api/v1/app/${await appIn(c)}`, expect: all(200) },
];
