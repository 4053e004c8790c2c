import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { anonymousSession, bearer, grant, makeOrg, makeRepo, makeRobot, makeTeam, makeUser, signIn, tokenFor } from '../helpers/factories.js';
import { ALL_IDENTITIES, expectFor, FULL_SCOPES, type Ctx, type Identity, type Row } from './matrix.js';

// Every test/api/*.security.ts file contributes its rows, and may export `config` to switch on the
// features its routes need (the fixture runs with all of them, so feature-gated routes need rows too).
const modules = import.meta.glob<{ rows: Row[]; config?: Partial<ConfigInput> }>('./*.security.ts', { eager: true });
const ROWS: Row[] = Object.values(modules).flatMap((m) => m.rows);
const CONFIG: Partial<ConfigInput> = Object.assign({ SUPER_USERS: 'matrixroot', GLOBAL_READONLY_SUPER_USERS: 'matrixviewer' }, ...Object.values(modules).map((m) => m.config ?? {}));

/**
 * Changes after which Quay writes no audit entry (part1 §7.10 has no kind for them), so neither
 * does this server. Every other successful change must write one.
 */
const NO_AUDIT: Record<string, string> = {
  'POST /api/v1/signin': 'signing in is not audited in 3.6',
  'POST /api/v1/signin/verify': 'signing in is not audited in 3.6',
  'POST /api/v1/signout': 'signing out is not audited in 3.6',
  'POST /api/v1/recovery': 'a recovery request changes nothing until the link is followed',
  'POST /api/v1/user/starred': 'stars have no log kind',
  'DELETE /api/v1/user/starred/:namespace/:repository': 'stars have no log kind',
  'POST /api/v1/messages': 'global messages have no log kind',
  'DELETE /api/v1/message/:uuid': 'global messages have no log kind',
  'DELETE /api/v1/user/authorizations/:access_token_uuid': 'Quay revokes a granted token without an entry',
  'PUT /api/v1/user/notifications/:uuid': 'dismissing a notification has no log kind',
  'POST /api/v1/superusers/users/:username/sendrecovery': 'a recovery mail changes nothing until the link is followed',
  'POST /api/v1/repository/:namespace/:repository/notification/:uuid/test': 'a test notification changes nothing',
  'DELETE /api/v1/organization/:orgname/members/:membername': "Quay's removeOrganizationMember writes no entry",
  // The rows share one tag: after the first identity deletes it, it is no longer live, and deleting
  // a tag that is not live changes nothing (test/api/tag.test.ts checks delete_tag itself).
  'DELETE /api/v1/repository/:namespace/:repository/tag/:tag': 'the shared tag is gone after the first deletion',
};

async function auditCount(): Promise<number> {
  return Number((await t.app.db.selectFrom('log_entry').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow()).n);
}

let t: TestApp;
let ctx: Ctx;
beforeAll(async () => {
  t = await testApp(CONFIG);
  const [alice, bob, carol, dave, erin] = [await makeUser(t), await makeUser(t), await makeUser(t), await makeUser(t), await makeUser(t)];
  const root = await makeUser(t, { username: 'matrixroot' });
  const viewer = await makeUser(t, { username: 'matrixviewer' });
  const org = await makeOrg(t, [alice]);
  const readers = await makeTeam(t, org, 'member', [carol], 'readers');
  await makeTeam(t, org, 'creator', [dave], 'creators');
  const repo = await makeRepo(t, org, { name: 'matrixrepo' });
  const robot = await makeRobot(t, org, 'bot');
  await grant(t, repo, { teamId: readers.id }, 'read');
  await grant(t, repo, { userId: erin.id }, 'admin');
  await grant(t, repo, { userId: robot.id }, 'read');
  const full = async (u: typeof alice, extra = '') => bearer(await tokenFor(t, u, `${FULL_SCOPES}${extra}`));
  const headers: Record<Identity, Record<string, string>> = {
    anonymous: {},
    anonymousSession: (await anonymousSession(t)).headers,
    robot: { authorization: `Basic ${Buffer.from(`${robot.username}:${robot.token}`).toString('base64')}` },
    repoReadOnlyToken: bearer(await tokenFor(t, alice, 'repo:read')),
    userReadOnlyToken: bearer(await tokenFor(t, alice, 'user:read')),
    outsider: await full(bob),
    orgMember: await full(carol),
    teamCreator: await full(dave),
    repoAdmin: await full(erin),
    orgAdmin: await full(alice),
    orgAdminSession: (await signIn(t, alice)).headers,
    superuser: await full(root, ' super:user'),
    readonlySuperuser: await full(viewer, ' super:user'),
    superuserNoScope: await full(root),
  };
  const users: Record<Identity, typeof alice | null> = {
    anonymous: null, anonymousSession: null, robot: null, repoReadOnlyToken: alice, userReadOnlyToken: alice, outsider: bob,
    orgMember: carol, teamCreator: dave, repoAdmin: erin, orgAdmin: alice, orgAdminSession: alice, superuser: root,
    readonlySuperuser: viewer, superuserNoScope: root,
  };
  ctx = { t, alice, bob, carol, dave, erin, root, viewer, org, repo, robot, headers, users };
});
afterAll(() => t?.close());

describe('security matrix', () => {
  it('has rows for every registered /api/v1 route that is served', () => {
    const served = t.app.apiRoutes.filter((r) => !r.notImplemented && r.method !== 'OPTIONS' && r.method !== 'HEAD');
    const covered = new Set(ROWS.map((r) => `${r.method} ${r.route}`));
    const missing = served.map((r) => `${r.method} ${r.url}`).filter((k) => !covered.has(k));
    expect(missing, 'routes without security-matrix rows').toEqual([]);
  });

  for (const row of ROWS) {
    it.each(ALL_IDENTITIES.map((id) => [id, expectFor(row, id)] as const))(`${row.method} ${row.route} as %s → %i`, async (identity, status) => {
      // Browser sessions are fresh for every row: earlier rows sign in, sign out or rotate them.
      if (identity === 'orgAdminSession') ctx.headers.orgAdminSession = (await signIn(t, ctx.alice)).headers;
      if (identity === 'anonymousSession') ctx.headers.anonymousSession = (await anonymousSession(t)).headers;
      const url = await row.path(ctx, identity);
      const entriesBefore = row.method === 'GET' ? 0 : await auditCount();
      const res = await t.inject({ method: row.method, url, headers: ctx.headers[identity], ...(row.body ? { payload: row.body(ctx, identity) as object } : {}) });
      expect(res.statusCode, res.body.slice(0, 300)).toBe(status);
      // Audit completeness: a change that succeeded wrote its log kind, unless Quay writes none.
      if (row.method !== 'GET' && status >= 200 && status < 300 && !(`${row.method} ${row.route}` in NO_AUDIT)) {
        expect(await auditCount(), `${row.method} ${row.route} succeeded without an audit entry`).toBeGreaterThan(entriesBefore);
      }
      const json = String(res.headers['content-type'] ?? '').includes('json') ? res.json() : undefined;
      if (status === 401 && json && 'title' in json) expect(json.title).toBe('invalid_token');
      if (status === 403 && json && 'title' in json) expect(json.title).toBe('insufficient_scope');
    });
  }
});
