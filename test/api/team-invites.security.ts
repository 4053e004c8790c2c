// Security-matrix rows for the team-invite routes (part2 §12.8). They exist only with
// FEATURE_MAILING, so this file switches mail on for the fixture, delivering to a real SMTP server
// on 127.0.0.1.
import { makeTeam, makeUser, uniqueName } from '../helpers/factories.js';
import { sendTeamInvite } from '../../src/services/team-invites.js';
import { codeFromMail, sharedMailbox } from '../helpers/smtp.js';
import { all, type Ctx, type Identity, type Row } from './matrix.js';

const mailbox = await sharedMailbox();
export const config = mailbox.config();

const INVITE_ROUTE = '/api/v1/organization/:orgname/team/:teamname/invite/:email';
/** OrgAdmin writes: anonymous callers meet the CSRF check first (403), sessions without login 401. */
const adminWrite = (ok: number) => all(403, { anonymousSession: 401, orgAdmin: ok, orgAdminSession: ok });

/** A new empty team of ctx.org: its row, as sendTeamInvite takes it. */
async function freshTeam(c: Ctx) {
  const name = uniqueName('it');
  const { id } = await makeTeam(c.t, c.org, 'member', [], name);
  return c.t.app.db.selectFrom('team').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

/** How the fixture's org admin (alice) sends invitations outside a request. */
const aliceAuth = (c: Ctx) => ({ user: c.alice, token: null, ip: '127.0.0.1' });

/**
 * A pending user invite addressed to the identity's own user (a fresh user for anonymous callers
 * and robots), so that the user who may accept it is exactly the caller: the code comes from the
 * mail the fixture's SMTP server received.
 */
async function inviteFor(c: Ctx, identity: Identity): Promise<string> {
  const user = c.users[identity] ?? (await makeUser(c.t));
  const team = await freshTeam(c);
  // Users who are already in a team of the org would be added directly; the invite is made here
  // through the service the API uses, whatever the caller's memberships.
  await sendTeamInvite(c.t.app, aliceAuth(c), { org: c.org, team, user });
  const mail = await mailbox.waitFor(user.email!, (m) => m.subject.includes(`/${team.name} `));
  return codeFromMail(mail, '/confirminvite');
}

/** UserAdmin on one's own invite: every identity with a user and user:admin (token or session). */
const userAdmin = (ok: number) =>
  all(ok, { anonymous: 403, anonymousSession: 401, robot: 403, repoReadOnlyToken: 403, userReadOnlyToken: 403 });

export const rows: Row[] = [
  {
    method: 'PUT', route: INVITE_ROUTE,
    path: async (c) => `/api/v1/organization/${c.org.username}/team/${(await freshTeam(c)).name}/invite/${uniqueName('guest')}@example.org`,
    expect: adminWrite(200),
  },
  {
    method: 'DELETE', route: INVITE_ROUTE,
    path: async (c) => {
      const team = await freshTeam(c);
      const email = `${uniqueName('guest')}@example.org`;
      await sendTeamInvite(c.t.app, aliceAuth(c), { org: c.org, team, email });
      return `/api/v1/organization/${c.org.username}/team/${team.name}/invite/${email}`;
    },
    expect: adminWrite(204),
  },
  { method: 'PUT', route: '/api/v1/teaminvite/:code', path: async (c, id) => `/api/v1/teaminvite/${await inviteFor(c, id)}`, expect: userAdmin(200) },
  { method: 'DELETE', route: '/api/v1/teaminvite/:code', path: async (c, id) => `/api/v1/teaminvite/${await inviteFor(c, id)}`, expect: userAdmin(204) },
];
