// ORGANIZATION (part1 §10): organizations, members, collaborators and OAuth applications.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DOCS_CLIENT_ID } from '../../src/auth/builtin-apps.js';
import { sha256Hex } from '../../src/auth/crypto.js';
import type { Namespace } from '../../src/db/schema.js';
import { testApp, type TestApp } from '../helpers/app.js';
import {
  anonymousSession,
  auditRows,
  bearer,
  grant,
  makeOrg,
  makeRepo,
  makeRobot,
  makeTeam,
  makeUser,
  signIn,
  tokenFor,
  uniqueName,
  type TestUser,
} from '../helpers/factories.js';
import { FULL_SCOPES } from './matrix.js';

let t: TestApp;
beforeAll(async () => {
  t = await testApp();
});
afterAll(() => t?.close());

const full = async (u: Namespace) => bearer(await tokenFor(t, u, FULL_SCOPES));
/** What logAction adds when the change was made with an OAuth token (tokenFor's automation app). */
const viaToken = (u: Namespace) => ({ oauth_token_id: expect.any(Number), oauth_token_application_id: `automation-${u.username}`, oauth_token_application: 'automation' });
const db = () => t.app.db;

async function orgWithAdmin(): Promise<{ admin: TestUser; org: Namespace; h: Record<string, string> }> {
  const admin = await makeUser(t);
  const org = await makeOrg(t, [admin]);
  return { admin, org, h: await full(admin) };
}

async function namespaceRow(name: string) {
  return db().selectFrom('namespace').selectAll().where('username', '=', name).executeTakeFirst();
}

function expectApiError(res: { statusCode: number; json(): any }, status: number, type: string, detail?: string) {
  expect(res.statusCode).toBe(status);
  const body = res.json();
  expect(body.title).toBe(type);
  expect(body.error_type).toBe(type);
  if (detail !== undefined) expect(body.detail).toBe(detail);
}

async function createApp(orgname: string, h: Record<string, string>, body: Record<string, unknown> = {}) {
  const res = await t.inject({ method: 'POST', url: `/api/v1/organization/${orgname}/applications`, headers: h, payload: { name: uniqueName('app'), ...body } });
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as { name: string; client_id: string; client_secret: string; redirect_uri: string; description: string; application_uri: string; avatar_email: string | null };
}

// ---------------------------------------------------------------------------------------------

describe('POST /api/v1/organization/ (createOrganization)', () => {
  it('creates the org with an owners team holding the caller, answers 201 "Created" and logs org_create', async () => {
    const u = await makeUser(t);
    const name = uniqueName('neworg');
    const res = await t.inject({ method: 'POST', url: '/api/v1/organization/', headers: await full(u), payload: { name, email: `${name}@corp.example` } });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toBe('Created');
    const org = (await namespaceRow(name))!;
    expect(org).toMatchObject({ organization: true, robot: false, email: `${name}@corp.example`, password_hash: null, tag_expiration_s: 1209600 });
    const teams = await db().selectFrom('team').selectAll().where('organization_id', '=', org.id).execute();
    expect(teams.map((x) => [x.name, x.role])).toEqual([['owners', 'admin']]);
    const members = await db().selectFrom('team_member').select('user_id').where('team_id', '=', teams[0].id).execute();
    expect(members.map((m) => m.user_id)).toEqual([u.id]);
    const logs = (await auditRows(t, 'org_create')).filter((r) => r.account_id === org.id);
    expect(logs).toHaveLength(1);
    expect(logs[0].performer_id).toBe(u.id);
    expect(logs[0].metadata).toMatchObject({ email: `${name}@corp.example`, namespace: name });
    // The creator administers it at once (the cached org list was refreshed).
    const view = (await t.inject({ url: `/api/v1/organization/${name}`, headers: await full(u) })).json();
    expect(view.is_admin).toBe(true);
    const me = (await t.inject({ url: '/api/v1/user/', headers: await full(u) })).json();
    expect(me.organizations.map((o: { name: string }) => o.name)).toContain(name);
  });

  it('accepts a missing e-mail when mailing is off (stored as null)', async () => {
    const u = await makeUser(t);
    const name = uniqueName('noemail');
    // Unknown keys are ignored, as Quay's schemas allow them.
    const res = await t.inject({ method: 'POST', url: '/api/v1/organization/', headers: await full(u), payload: { name, contact_email: 'x' } });
    expect(res.statusCode).toBe(201);
    expect((await namespaceRow(name))!.email).toBeNull();
    const log = (await auditRows(t, 'org_create')).find((r) => (r.metadata as { namespace: string }).namespace === name)!;
    expect(log.metadata).toMatchObject({ email: null, namespace: name });
  });

  it('refuses a name already used by a user or an organization (400, nothing written)', async () => {
    const u = await makeUser(t);
    const other = await makeUser(t);
    const { org } = await orgWithAdmin();
    const h = await full(u);
    for (const name of [other.username, org.username]) {
      const before = (await auditRows(t, 'org_create')).length;
      const res = await t.inject({ method: 'POST', url: '/api/v1/organization/', headers: h, payload: { name } });
      expectApiError(res, 400, 'invalid_request', 'A user or organization with this name already exists');
      expect((await auditRows(t, 'org_create')).length).toBe(before);
    }
    expect((await db().selectFrom('team').select('id').where('organization_id', '=', other.id).execute()).length).toBe(0);
  });

  it('validates the name as user names are validated', async () => {
    const h = await full(await makeUser(t));
    const cases: [string, string][] = [
      ['Upper', 'Invalid namespace Upper: Namespace must match expression ^([a-z0-9]+(?:[._-][a-z0-9]+)*)$'],
      ['a..b', 'Invalid namespace a..b: Namespace must match expression ^([a-z0-9]+(?:[._-][a-z0-9]+)*)$'],
      ['x', 'Invalid namespace x: Namespace must be between 2 and 255 characters in length'],
      ['a'.repeat(256), `Invalid namespace ${'a'.repeat(256)}: Namespace must be between 2 and 255 characters in length`],
    ];
    for (const [name, detail] of cases) {
      const res = await t.inject({ method: 'POST', url: '/api/v1/organization/', headers: h, payload: { name } });
      expectApiError(res, 400, 'invalid_request', detail);
      expect(await namespaceRow(name)).toBeUndefined();
    }
    const missing = await t.inject({ method: 'POST', url: '/api/v1/organization/', headers: h, payload: { email: 'a@b.c' } });
    expectApiError(missing, 400, 'invalid_request', "'name' is a required property");
  });

  it('refuses a malformed e-mail and one already used by another account', async () => {
    const u = await makeUser(t);
    const h = await full(u);
    const n1 = uniqueName('bademail');
    expectApiError(await t.inject({ method: 'POST', url: '/api/v1/organization/', headers: h, payload: { name: n1, email: 'not-an-email' } }), 400, 'invalid_request', 'Invalid email address: not-an-email');
    expect(await namespaceRow(n1)).toBeUndefined();
    const n2 = uniqueName('dupemail');
    const res = await t.inject({ method: 'POST', url: '/api/v1/organization/', headers: h, payload: { name: n2, email: u.email } });
    expectApiError(res, 400, 'invalid_request', `Email has already been used: ${u.email}`);
    expect(await namespaceRow(n2)).toBeUndefined();
    expect((await auditRows(t, 'org_create')).some((r) => (r.metadata as { namespace: string }).namespace === n2)).toBe(false);
  });

  it('needs user:admin: other scopes get 403, anonymous callers 401', async () => {
    const u = await makeUser(t);
    const name = uniqueName('scoped');
    for (const scope of ['user:read', 'org:admin repo:admin repo:create']) {
      const res = await t.inject({ method: 'POST', url: '/api/v1/organization/', headers: bearer(await tokenFor(t, u, scope)), payload: { name } });
      expectApiError(res, 403, 'insufficient_scope');
    }
    // Anonymous writes meet the CSRF check first (403 {error}); a CSRF-valid anonymous session gets 401.
    const anon = await t.inject({ method: 'POST', url: '/api/v1/organization/', headers: bearer('x'.repeat(40)), payload: { name } });
    expect(anon.statusCode).toBe(403);
    expect(anon.json().error).toMatch(/^CSRF token was invalid or missing/);
    expectApiError(await t.inject({ method: 'POST', url: '/api/v1/organization/', headers: (await anonymousSession(t)).headers, payload: { name } }), 401, 'invalid_token');
    expect(await namespaceRow(name)).toBeUndefined();
  });

  it('requires an e-mail when FEATURE_MAILING is on', async () => {
    const t2 = await testApp({ FEATURE_MAILING: true, MAIL_SERVER: '127.0.0.1' });
    try {
      const u = await makeUser(t2);
      const h = bearer(await tokenFor(t2, u, 'user:admin'));
      const name = uniqueName('mailorg');
      const res = await t2.inject({ method: 'POST', url: '/api/v1/organization/', headers: h, payload: { name } });
      expectApiError(res, 400, 'invalid_request', 'Email address is required');
      expect((await t2.inject({ method: 'POST', url: '/api/v1/organization/', headers: h, payload: { name, email: `${name}@x.io` } })).statusCode).toBe(201);
    } finally {
      await t2.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('GET /api/v1/organization/{orgname} (getOrganization)', () => {
  let admin: TestUser;
  let member: TestUser;
  let org: Namespace;
  let readers: { id: number };
  let readersName: string;
  let botsName: string;
  beforeAll(async () => {
    admin = await makeUser(t);
    member = await makeUser(t);
    org = await makeOrg(t, [admin]);
    readersName = uniqueName('readers');
    botsName = uniqueName('bots');
    readers = await makeTeam(t, org, 'member', [member], readersName);
    const robot = await makeRobot(t, org);
    await makeTeam(t, org, 'creator', [robot, admin], botsName);
    const r1 = await makeRepo(t, org);
    const r2 = await makeRepo(t, org);
    await grant(t, r1, { teamId: readers.id }, 'read');
    await grant(t, r2, { teamId: readers.id }, 'write');
  });

  it('shows anonymous callers the public subset only', async () => {
    const res = await t.inject({ url: `/api/v1/organization/${org.username}` });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      name: org.username,
      email: '',
      avatar: { name: org.username, hash: sha256Hex(org.email!), color: expect.stringMatching(/^#[0-9a-f]{6}$/), kind: 'user' },
      is_admin: false,
      is_member: false,
    });
  });

  it('shows an admin the e-mail, every team with counts, and the billing/expiry fields', async () => {
    const body = (await t.inject({ url: `/api/v1/organization/${org.username}`, headers: await full(admin) })).json();
    expect(body).toMatchObject({ name: org.username, email: org.email, is_admin: true, is_member: true });
    expect(body.invoice_email).toBe(false);
    expect(body.invoice_email_address).toBeNull();
    expect(body.tag_expiration_s).toBe(1209600);
    expect(body.is_free_account).toBe(true);
    expect(body.ordered_teams).toEqual(['owners', readersName, botsName]);
    expect(body.teams.owners).toEqual({
      name: 'owners', description: '', role: 'admin', can_view: true, repo_count: 0, member_count: 1, is_synced: false,
      avatar: { name: 'owners', hash: sha256Hex('owners'), color: expect.any(String), kind: 'team' },
    });
    expect(body.teams[readersName]).toMatchObject({ role: 'member', can_view: true, repo_count: 2, member_count: 1 });
    // member_count includes robots.
    expect(body.teams[botsName]).toMatchObject({ role: 'creator', can_view: true, repo_count: 0, member_count: 2 });
  });

  it('shows a member the teams (viewable only where they belong) but no e-mail or billing fields', async () => {
    const body = (await t.inject({ url: `/api/v1/organization/${org.username}`, headers: await full(member) })).json();
    expect(body).toMatchObject({ email: '', is_admin: false, is_member: true });
    expect(body).not.toHaveProperty('tag_expiration_s');
    expect(body).not.toHaveProperty('invoice_email');
    expect(body.teams.owners.can_view).toBe(false);
    expect(body.teams[readersName].can_view).toBe(true);
    expect(body.teams[botsName].can_view).toBe(false);
  });

  it('caps the roles by the token scope: an admin with user:read sees the public subset', async () => {
    const body = (await t.inject({ url: `/api/v1/organization/${org.username}`, headers: bearer(await tokenFor(t, admin, 'user:read')) })).json();
    expect(body).toEqual(expect.objectContaining({ email: '', is_admin: false, is_member: false }));
    expect(body).not.toHaveProperty('teams');
  });

  it('answers 404 for a user name and for a missing org', async () => {
    expectApiError(await t.inject({ url: `/api/v1/organization/${admin.username}` }), 404, 'not_found');
    expectApiError(await t.inject({ url: `/api/v1/organization/${uniqueName('nope')}`, headers: await full(admin) }), 404, 'not_found');
  });
});

// ---------------------------------------------------------------------------------------------

describe('PUT /api/v1/organization/{orgname} (changeOrganizationDetails)', () => {
  it('changes e-mail and tag expiration, logs both, and answers the admin view with teams', async () => {
    const { admin, org, h } = await orgWithAdmin();
    const email = `${uniqueName('new')}@corp.example`;
    const res = await t.inject({ method: 'PUT', url: `/api/v1/organization/${org.username}`, headers: h, payload: { email, tag_expiration_s: 86400, invoice_email: true } });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ name: org.username, email, is_admin: true, tag_expiration_s: 86400, invoice_email: true, ordered_teams: ['owners'] });
    expect(body.avatar.hash).toBe(sha256Hex(email));
    expect(await namespaceRow(org.username)).toMatchObject({ email, tag_expiration_s: 86400 });
    const emailLog = (await auditRows(t, 'org_change_email')).filter((r) => r.account_id === org.id);
    expect(emailLog.map((r) => r.metadata)).toEqual([{ email, namespace: org.username, old_email: org.email, ...viaToken(admin) }]);
    expect(emailLog[0].performer_id).toBe(admin.id);
    const expLog = (await auditRows(t, 'org_change_tag_expiration')).filter((r) => r.account_id === org.id);
    expect(expLog.map((r) => r.metadata)).toEqual([{ tag_expiration: 86400, namespace: org.username, ...viaToken(admin) }]);
  });

  it('accepts each default TAG_EXPIRATION_OPTIONS value and refuses others with 400 {message}', async () => {
    const { org, h } = await orgWithAdmin();
    for (const s of [0, 86400, 604800, 1209600, 2419200]) {
      const res = await t.inject({ method: 'PUT', url: `/api/v1/organization/${org.username}`, headers: h, payload: { tag_expiration_s: s } });
      expect(res.json().tag_expiration_s).toBe(s);
    }
    const bad = await t.inject({ method: 'PUT', url: `/api/v1/organization/${org.username}`, headers: h, payload: { tag_expiration_s: 3600, email: 'changed@corp.example' } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ message: 'Invalid tag expiration option' });
    expect(await namespaceRow(org.username)).toMatchObject({ tag_expiration_s: 2419200, email: org.email });
    const negative = await t.inject({ method: 'PUT', url: `/api/v1/organization/${org.username}`, headers: h, payload: { tag_expiration_s: -1 } });
    expectApiError(negative, 400, 'invalid_request');
  });

  it('refuses an e-mail used by another account and changes nothing', async () => {
    const { org, h } = await orgWithAdmin();
    const other = await makeUser(t);
    const before = (await auditRows(t, 'org_change_email')).length;
    const res = await t.inject({ method: 'PUT', url: `/api/v1/organization/${org.username}`, headers: h, payload: { email: other.email, tag_expiration_s: 0 } });
    expectApiError(res, 400, 'invalid_request', 'E-mail address already used');
    expect(await namespaceRow(org.username)).toMatchObject({ email: org.email, tag_expiration_s: 1209600 });
    expect((await auditRows(t, 'org_change_email')).length).toBe(before);
    // Its own current address is not a change.
    const same = await t.inject({ method: 'PUT', url: `/api/v1/organization/${org.username}`, headers: h, payload: { email: org.email } });
    expect(same.statusCode).toBe(200);
    expect((await auditRows(t, 'org_change_email')).length).toBe(before);
  });

  it('refuses members (403) and answers 404 on the caller’s own user name', async () => {
    const { org } = await orgWithAdmin();
    const member = await makeUser(t);
    await makeTeam(t, org, 'creator', [member]);
    expectApiError(await t.inject({ method: 'PUT', url: `/api/v1/organization/${org.username}`, headers: await full(member), payload: { tag_expiration_s: 0 } }), 403, 'insufficient_scope');
    expect((await namespaceRow(org.username))!.tag_expiration_s).toBe(1209600);
    expectApiError(await t.inject({ method: 'PUT', url: `/api/v1/organization/${member.username}`, headers: await full(member), payload: { tag_expiration_s: 0 } }), 404, 'not_found');
  });

  it('stores the invoicing settings, shows them to admins only, and logs org_change_invoicing as Quay does', async () => {
    const { admin, org, h } = await orgWithAdmin();
    const member = await makeUser(t);
    await makeTeam(t, org, 'member', [member]);
    const invoicing = async () => (await auditRows(t, 'org_change_invoicing')).filter((r) => r.account_id === org.id).map((r) => r.metadata);
    const address = `${uniqueName('billing')}@corp.example`;
    const res = await t.inject({ method: 'PUT', url: `/api/v1/organization/${org.username}`, headers: h, payload: { invoice_email: true, invoice_email_address: address } });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ invoice_email: true, invoice_email_address: address });
    expect(await namespaceRow(org.username)).toMatchObject({ invoice_email: true, invoice_email_address: address });
    expect(await invoicing()).toEqual([
      { invoice_email: true, namespace: org.username, ...viaToken(admin) },
      { invoice_email_address: address, namespace: org.username, ...viaToken(admin) },
    ]);
    const adminView = (await t.inject({ url: `/api/v1/organization/${org.username}`, headers: h })).json();
    expect(adminView).toMatchObject({ invoice_email: true, invoice_email_address: address });
    const memberView = (await t.inject({ url: `/api/v1/organization/${org.username}`, headers: await full(member) })).json();
    expect(memberView).not.toHaveProperty('invoice_email');
    expect(memberView).not.toHaveProperty('invoice_email_address');

    // invoice_email is logged whenever it is sent; the address only when it changes.
    await t.inject({ method: 'PUT', url: `/api/v1/organization/${org.username}`, headers: h, payload: { invoice_email: true, invoice_email_address: address } });
    expect((await invoicing()).length).toBe(3);
    expect((await invoicing())[2]).toMatchObject({ invoice_email: true });
  });

  it('stores an empty invoice address as null, logging the value as sent', async () => {
    const { org, h } = await orgWithAdmin();
    const invoicing = async () => (await auditRows(t, 'org_change_invoicing')).filter((r) => r.account_id === org.id).map((r) => r.metadata);
    const put = (payload: Record<string, unknown>) => t.inject({ method: 'PUT', url: `/api/v1/organization/${org.username}`, headers: h, payload });
    // Already null: neither "" nor null is a change.
    expect((await put({ invoice_email_address: '' })).json().invoice_email_address).toBeNull();
    expect((await put({ invoice_email_address: null })).statusCode).toBe(200);
    expect(await invoicing()).toEqual([]);
    await put({ invoice_email_address: 'a@corp.example' });
    const res = await put({ invoice_email_address: '' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ invoice_email: false, invoice_email_address: null });
    expect(await namespaceRow(org.username)).toMatchObject({ invoice_email: false, invoice_email_address: null });
    expect((await invoicing()).map((m) => m.invoice_email_address)).toEqual(['a@corp.example', '']);
  });

  it('changes no invoicing setting when the request is refused', async () => {
    const { org, h } = await orgWithAdmin();
    const other = await makeUser(t);
    const res = await t.inject({
      method: 'PUT', url: `/api/v1/organization/${org.username}`, headers: h,
      payload: { invoice_email: true, invoice_email_address: 'x@corp.example', email: other.email },
    });
    expectApiError(res, 400, 'invalid_request', 'E-mail address already used');
    expect(await namespaceRow(org.username)).toMatchObject({ invoice_email: false, invoice_email_address: null });
    expect((await auditRows(t, 'org_change_invoicing')).filter((r) => r.account_id === org.id)).toEqual([]);
  });

  it('answers a body over 1 MiB with Fastify\'s 413 as an ApiError, changing nothing', async () => {
    const { org, h } = await orgWithAdmin();
    const big = JSON.stringify({ invoice_email_address: 'x'.repeat(1024 * 1024) });
    const res = await t.inject({ method: 'PUT', url: `/api/v1/organization/${org.username}`, headers: { ...h, 'content-type': 'application/json' }, payload: big });
    expectApiError(res, 413, 'invalid_request', 'Request body is too large');
    expect(res.json().status).toBe(413);
    expect(await namespaceRow(org.username)).toMatchObject({ invoice_email_address: null });
  });
});

// ---------------------------------------------------------------------------------------------

describe('DELETE /api/v1/organization/{orgname} (deleteAdminedOrganization)', () => {
  it('deletes the org and everything it owns in one go; users and audit rows stay; the name is free again', async () => {
    const { admin, org, h } = await orgWithAdmin();
    const member = await makeUser(t);
    const team = await makeTeam(t, org, 'member', [member]);
    const robot = await makeRobot(t, org);
    const repo = await makeRepo(t, org);
    await grant(t, repo, { userId: member.id }, 'write');
    await grant(t, repo, { teamId: team.id }, 'read');
    await grant(t, repo, { userId: robot.id }, 'read');
    await db().insertInto('star').values({ user_id: member.id, repository_id: repo.id }).execute();
    await db().insertInto('permission_prototype').values({ uuid: randomUUID(), org_id: org.id, activating_user_id: null, delegate_user_id: member.id, delegate_team_id: null, role: 'read' }).execute();
    await db().insertInto('team_member_invite').values({ team_id: team.id, user_id: null, email: 'x@y.z', inviter_id: admin.id, invite_token: randomUUID() }).execute();
    const application = await createApp(org.username, h, { redirect_uri: 'https://c.example/cb' });
    const appRow = (await db().selectFrom('oauth_application').selectAll().where('client_id', '=', application.client_id).executeTakeFirst())!;
    const { mintAccessToken } = await import('../../src/auth/tokens.js');
    const { token } = await mintAccessToken(db(), { applicationId: appRow.id, userId: admin.id, username: admin.username, scope: 'user:read' });
    await db().insertInto('oauth_authorization_code').values({ application_id: appRow.id, code_name: randomUUID(), code_hash: 'h', scope: 'user:read', redirect_uri: 'https://c.example/cb', data: '{}' }).execute();
    expect((await t.inject({ url: '/api/v1/user/', headers: bearer(token) })).statusCode).toBe(200);

    const res = await t.inject({ method: 'DELETE', url: `/api/v1/organization/${org.username}`, headers: h });
    expect(res.statusCode, res.body).toBe(204);
    expect(res.body).toBe('');

    const count = async (table: 'team' | 'team_member' | 'repository' | 'repository_permission' | 'star' | 'permission_prototype' | 'team_member_invite' | 'oauth_application' | 'oauth_access_token' | 'oauth_authorization_code' | 'robot_account' | 'namespace', col: string, ids: number[]) =>
      ids.length === 0 ? 0 : (await db().selectFrom(table).selectAll().where(col as never, 'in', ids as never).execute()).length;
    expect(await namespaceRow(org.username)).toBeUndefined();
    expect(await namespaceRow(robot.username)).toBeUndefined();
    expect(await count('robot_account', 'robot_id', [robot.id])).toBe(0);
    expect(await count('team', 'organization_id', [org.id])).toBe(0);
    expect(await count('team_member', 'team_id', [team.id])).toBe(0);
    expect(await count('team_member_invite', 'team_id', [team.id])).toBe(0);
    expect(await count('repository', 'namespace_id', [org.id])).toBe(0);
    expect(await count('repository_permission', 'repository_id', [repo.id])).toBe(0);
    expect(await count('star', 'repository_id', [repo.id])).toBe(0);
    expect(await count('permission_prototype', 'org_id', [org.id])).toBe(0);
    expect(await count('oauth_application', 'id', [appRow.id])).toBe(0);
    expect(await count('oauth_access_token', 'application_id', [appRow.id])).toBe(0);
    expect(await count('oauth_authorization_code', 'application_id', [appRow.id])).toBe(0);
    // The people are untouched; the org's application token no longer works.
    expect(await namespaceRow(admin.username)).toBeDefined();
    expect(await namespaceRow(member.username)).toBeDefined();
    expect((await t.inject({ url: '/api/v1/user/', headers: bearer(token) })).statusCode).toBe(401);
    const log = (await auditRows(t, 'org_delete')).filter((r) => r.account_id === org.id);
    expect(log.map((r) => [r.performer_id, r.metadata])).toEqual([[admin.id, { namespace: org.username, ...viaToken(admin) }]]);
    expect((await auditRows(t, 'create_application')).some((r) => r.account_id === org.id)).toBe(true);
    // Admin's org list no longer shows it; the name can be taken again.
    const me = (await t.inject({ url: '/api/v1/user/', headers: h })).json();
    expect(me.organizations.map((o: { name: string }) => o.name)).not.toContain(org.username);
    expect((await t.inject({ method: 'POST', url: '/api/v1/organization/', headers: h, payload: { name: org.username } })).statusCode).toBe(201);
  });

  it('requires a fresh login for sessions, refuses members, and answers 404 on a user name', async () => {
    const { admin, org } = await orgWithAdmin();
    const s = await signIn(t, admin);
    await db().updateTable('session').set({ login_time: new Date(Date.now() - 3600_000) }).where('user_id', '=', admin.id).execute();
    expectApiError(await t.inject({ method: 'DELETE', url: `/api/v1/organization/${org.username}`, headers: s.headers }), 401, 'fresh_login_required', 'Requires fresh login');
    const member = await makeUser(t);
    await makeTeam(t, org, 'creator', [member]);
    expectApiError(await t.inject({ method: 'DELETE', url: `/api/v1/organization/${org.username}`, headers: await full(member) }), 403, 'insufficient_scope');
    expect(await namespaceRow(org.username)).toBeDefined();
    expectApiError(await t.inject({ method: 'DELETE', url: `/api/v1/organization/${admin.username}`, headers: await full(admin) }), 404, 'not_found');
    expect(await namespaceRow(admin.username)).toBeDefined();
    // A fresh session may delete.
    const fresh = await signIn(t, admin);
    expect((await t.inject({ method: 'DELETE', url: `/api/v1/organization/${org.username}`, headers: fresh.headers })).statusCode).toBe(204);
  });
});

// ---------------------------------------------------------------------------------------------

describe('members and collaborators', () => {
  let admin: TestUser;
  let h: Record<string, string>;
  let org: Namespace;
  let carol: TestUser;
  let dave: TestUser;
  let erin: TestUser;
  let robot: Namespace;
  let teamA: string;
  let teamB: string;
  let repoX: string;
  let repoY: string;
  beforeAll(async () => {
    ({ admin, org, h } = await orgWithAdmin());
    [carol, dave, erin] = [await makeUser(t), await makeUser(t), await makeUser(t)];
    robot = await makeRobot(t, org);
    teamA = uniqueName('a');
    teamB = uniqueName('b');
    await makeTeam(t, org, 'member', [carol, robot], teamA);
    await makeTeam(t, org, 'creator', [carol, dave], teamB);
    const x = await makeRepo(t, org, { name: uniqueName('x') });
    const y = await makeRepo(t, org, { name: uniqueName('y') });
    repoX = x.name;
    repoY = y.name;
    await grant(t, x, { userId: carol.id }, 'write');
    await grant(t, x, { userId: erin.id }, 'read');
    await grant(t, y, { userId: erin.id }, 'admin');
    await grant(t, y, { userId: robot.id }, 'read');
    // A grant in another org is not this org's business.
    const other = await makeOrg(t, [admin]);
    await grant(t, await makeRepo(t, other), { userId: dave.id }, 'read');
  });

  const byName = <T extends { name: string }>(xs: T[]) => [...xs].sort((a, b) => a.name.localeCompare(b.name));

  it('lists human members with their teams and direct grants', async () => {
    const res = await t.inject({ url: `/api/v1/organization/${org.username}/members`, headers: h });
    expect(res.statusCode).toBe(200);
    const team = (name: string) => ({ name, avatar: { name, hash: sha256Hex(name), color: expect.any(String), kind: 'team' } });
    const user = (u: TestUser) => ({ name: u.username, hash: sha256Hex(u.email!), color: expect.any(String), kind: 'user' });
    expect(byName(res.json().members)).toEqual(
      byName([
        { name: admin.username, kind: 'user', avatar: user(admin), teams: [team('owners')], repositories: [] },
        { name: carol.username, kind: 'user', avatar: user(carol), teams: [team(teamA), team(teamB)], repositories: [repoX] },
        { name: dave.username, kind: 'user', avatar: user(dave), teams: [team(teamB)], repositories: [] },
      ]),
    );
  });

  it('lists outside collaborators: direct grants, no team, no robots', async () => {
    const res = await t.inject({ url: `/api/v1/organization/${org.username}/collaborators`, headers: h });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      collaborators: [{ kind: 'user', name: erin.username, avatar: { name: erin.username, hash: sha256Hex(erin.email!), color: expect.any(String), kind: 'user' }, repositories: [repoX, repoY].sort() }],
    });
  });

  it('shows one member, a robot of the org even without a team, and 404 for everyone else', async () => {
    const carolView = (await t.inject({ url: `/api/v1/organization/${org.username}/members/${carol.username}`, headers: h })).json();
    expect(carolView).toMatchObject({ name: carol.username, kind: 'user', repositories: [repoX] });
    expect(carolView.teams.map((x: { name: string }) => x.name)).toEqual([teamA, teamB]);
    const robotView = await t.inject({ url: `/api/v1/organization/${org.username}/members/${robot.username}`, headers: h });
    expect(robotView.json()).toMatchObject({ name: robot.username, kind: 'robot', avatar: { kind: 'robot' }, repositories: [repoY] });
    const lonelyBot = await makeRobot(t, org);
    const lonely = (await t.inject({ url: `/api/v1/organization/${org.username}/members/${lonelyBot.username}`, headers: h })).json();
    expect(lonely).toMatchObject({ kind: 'robot', teams: [], repositories: [] });
    const foreignBot = await makeRobot(t, await makeOrg(t, []));
    for (const name of [erin.username, foreignBot.username, uniqueName('ghost'), org.username]) {
      expectApiError(await t.inject({ url: `/api/v1/organization/${org.username}/members/${name}`, headers: h }), 404, 'not_found');
    }
  });

  it('refuses non-admins, and answers 404 on a user namespace', async () => {
    const ch = await full(carol);
    for (const url of [`/api/v1/organization/${org.username}/members`, `/api/v1/organization/${org.username}/collaborators`, `/api/v1/organization/${org.username}/members/${dave.username}`]) {
      expectApiError(await t.inject({ url, headers: ch }), 403, 'insufficient_scope');
      expectApiError(await t.inject({ url }), 401, 'invalid_token');
      expectApiError(await t.inject({ url, headers: bearer(await tokenFor(t, admin, 'repo:admin repo:create user:admin')) }), 403, 'insufficient_scope');
    }
    for (const url of [`/api/v1/organization/${carol.username}/members`, `/api/v1/organization/${carol.username}/collaborators`]) {
      expectApiError(await t.inject({ url, headers: ch }), 404, 'not_found');
    }
  });
});

describe('DELETE /api/v1/organization/{orgname}/members/{membername} (removeOrganizationMember)', () => {
  it('removes the user from every team and every direct grant of this org only', async () => {
    const { admin, org, h } = await orgWithAdmin();
    const u = await makeUser(t);
    const ta = await makeTeam(t, org, 'admin', [u]);
    const tb = await makeTeam(t, org, 'member', [u]);
    const repo = await makeRepo(t, org);
    await grant(t, repo, { userId: u.id }, 'admin');
    const other = await makeOrg(t, [admin]);
    const otherTeam = await makeTeam(t, other, 'member', [u]);
    const otherRepo = await makeRepo(t, other);
    await grant(t, otherRepo, { userId: u.id }, 'read');
    const uh = await full(u);
    expect((await t.inject({ url: `/api/v1/organization/${org.username}/members`, headers: uh })).statusCode).toBe(200);

    const res = await t.inject({ method: 'DELETE', url: `/api/v1/organization/${org.username}/members/${u.username}`, headers: h });
    expect(res.statusCode, res.body).toBe(204);
    const memberships = await db().selectFrom('team_member').select('team_id').where('user_id', '=', u.id).execute();
    expect(memberships.map((m) => m.team_id)).toEqual([otherTeam.id]);
    expect(memberships.map((m) => m.team_id)).not.toContain(ta.id);
    expect(memberships.map((m) => m.team_id)).not.toContain(tb.id);
    const grants = await db().selectFrom('repository_permission').select('repository_id').where('user_id', '=', u.id).execute();
    expect(grants.map((g) => g.repository_id)).toEqual([otherRepo.id]);
    // Their admin powers are gone at once (the cached org list was cleared).
    expectApiError(await t.inject({ url: `/api/v1/organization/${org.username}/members`, headers: uh }), 403, 'insufficient_scope');
    // 204 again for a user who is no longer a member.
    expect((await t.inject({ method: 'DELETE', url: `/api/v1/organization/${org.username}/members/${u.username}`, headers: h })).statusCode).toBe(204);
  });

  it('refuses to remove the only admin (400 {message}), but allows it once there is another', async () => {
    const { admin, org, h } = await orgWithAdmin();
    const member = await makeUser(t);
    const robot = await makeRobot(t, org);
    // A robot in an admin team does not count as an admin.
    await makeTeam(t, org, 'admin', [robot]);
    await makeTeam(t, org, 'member', [member]);
    const res = await t.inject({ method: 'DELETE', url: `/api/v1/organization/${org.username}/members/${admin.username}`, headers: h });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ message: 'Cannot remove user as they are the only organization admin' });
    expect((await db().selectFrom('team_member').select('id').where('user_id', '=', admin.id).execute()).length).toBe(1);
    // Removing someone else is fine.
    expect((await t.inject({ method: 'DELETE', url: `/api/v1/organization/${org.username}/members/${member.username}`, headers: h })).statusCode).toBe(204);
    const second = await makeUser(t);
    await makeTeam(t, org, 'admin', [second]);
    expect((await t.inject({ method: 'DELETE', url: `/api/v1/organization/${org.username}/members/${admin.username}`, headers: h })).statusCode).toBe(204);
    expect((await db().selectFrom('team_member').select('id').where('user_id', '=', admin.id).execute()).length).toBe(0);
  });

  it('answers 404 for robots, orgs, unknown names and a user namespace; 403 for members', async () => {
    const { admin, org, h } = await orgWithAdmin();
    const robot = await makeRobot(t, org);
    await makeTeam(t, org, 'member', [robot]);
    for (const name of [robot.username, org.username, uniqueName('ghost')]) {
      expectApiError(await t.inject({ method: 'DELETE', url: `/api/v1/organization/${org.username}/members/${name}`, headers: h }), 404, 'not_found');
    }
    expect((await db().selectFrom('team_member').select('id').where('user_id', '=', robot.id).execute()).length).toBe(1);
    const u = await makeUser(t);
    expectApiError(await t.inject({ method: 'DELETE', url: `/api/v1/organization/${admin.username}/members/${u.username}`, headers: h }), 404, 'not_found');
    const member = await makeUser(t);
    await makeTeam(t, org, 'creator', [member]);
    expectApiError(await t.inject({ method: 'DELETE', url: `/api/v1/organization/${org.username}/members/${admin.username}`, headers: await full(member) }), 403, 'insufficient_scope');
  });
});

// ---------------------------------------------------------------------------------------------

describe('organization applications', () => {
  it('creates an application (200) with a 20/40-character [A-Z0-9] id and secret, stored encrypted, and logs it', async () => {
    const { admin, org, h } = await orgWithAdmin();
    const res = await t.inject({
      method: 'POST', url: `/api/v1/organization/${org.username}/applications`, headers: h,
      payload: { name: 'CI bot', redirect_uri: 'https://ci.example.com/cb', application_uri: 'https://ci.example.com', description: 'builds', avatar_email: 'ci@example.com' },
    });
    expect(res.statusCode, res.body).toBe(200);
    const view = res.json();
    expect(view).toEqual({
      name: 'CI bot', description: 'builds', application_uri: 'https://ci.example.com',
      client_id: expect.stringMatching(/^[A-Z0-9]{20}$/), client_secret: expect.stringMatching(/^[A-Z0-9]{40}$/),
      redirect_uri: 'https://ci.example.com/cb', avatar_email: 'ci@example.com',
    });
    const row = (await db().selectFrom('oauth_application').selectAll().where('client_id', '=', view.client_id).executeTakeFirst())!;
    expect(row.organization_id).toBe(org.id);
    expect(row.client_secret_enc).not.toContain(view.client_secret);
    expect(t.app.secrets.decrypt(row.client_secret_enc)).toBe(view.client_secret);
    const log = (await auditRows(t, 'create_application')).filter((r) => r.account_id === org.id);
    expect(log).toHaveLength(1);
    expect(log[0].performer_id).toBe(admin.id);
    expect(log[0].metadata).toMatchObject({
      name: 'CI bot', redirect_uri: 'https://ci.example.com/cb', application_uri: 'https://ci.example.com', description: 'builds',
      avatar_email: 'ci@example.com', application_name: 'CI bot', client_id: view.client_id,
    });
  });

  it('fills defaults for the optional fields and refuses a body without name', async () => {
    const { org, h } = await orgWithAdmin();
    const view = await createApp(org.username, h, { name: 'minimal' });
    expect(view).toMatchObject({ name: 'minimal', description: '', application_uri: '', redirect_uri: '', avatar_email: null });
    const before = (await db().selectFrom('oauth_application').select('id').where('organization_id', '=', org.id).execute()).length;
    expectApiError(await t.inject({ method: 'POST', url: `/api/v1/organization/${org.username}/applications`, headers: h, payload: { description: 'x' } }), 400, 'invalid_request', "'name' is a required property");
    expectApiError(await t.inject({ method: 'POST', url: `/api/v1/organization/${org.username}/applications`, headers: h, payload: { name: 'x', avatar_email: null } }), 400, 'invalid_request');
    expect((await db().selectFrom('oauth_application').select('id').where('organization_id', '=', org.id).execute()).length).toBe(before);
  });

  it('lists and gets applications of this org only', async () => {
    const { org, h } = await orgWithAdmin();
    const a1 = await createApp(org.username, h);
    const a2 = await createApp(org.username, h);
    const other = await orgWithAdmin();
    const foreign = await createApp(other.org.username, other.h);
    const list = (await t.inject({ url: `/api/v1/organization/${org.username}/applications`, headers: h })).json();
    expect(list).toEqual({ applications: [a1, a2] });
    expect((await t.inject({ url: `/api/v1/organization/${org.username}/applications/${a2.client_id}`, headers: h })).json()).toEqual(a2);
    expectApiError(await t.inject({ url: `/api/v1/organization/${org.username}/applications/${foreign.client_id}`, headers: h }), 404, 'not_found');
    expectApiError(await t.inject({ url: `/api/v1/organization/${org.username}/applications/NOSUCHCLIENT00000000`, headers: h }), 404, 'not_found');
  });

  it('updates an application, resetting an omitted description and avatar_email, keeping id and secret', async () => {
    const { admin, org, h } = await orgWithAdmin();
    const a = await createApp(org.username, h, { description: 'old', avatar_email: 'a@b.c' });
    const url = `/api/v1/organization/${org.username}/applications/${a.client_id}`;
    const res = await t.inject({ method: 'PUT', url, headers: h, payload: { name: 'renamed', redirect_uri: 'https://n.example/cb', application_uri: 'https://n.example' } });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ ...a, name: 'renamed', redirect_uri: 'https://n.example/cb', application_uri: 'https://n.example', description: '', avatar_email: null });
    const log = (await auditRows(t, 'update_application')).filter((r) => r.account_id === org.id);
    expect(log.map((r) => r.metadata)).toEqual([{ name: 'renamed', redirect_uri: 'https://n.example/cb', application_uri: 'https://n.example', application_name: 'renamed', client_id: a.client_id, ...viaToken(admin) }]);
    // All three URIs and the name are required.
    expectApiError(await t.inject({ method: 'PUT', url, headers: h, payload: { name: 'x', redirect_uri: 'y' } }), 400, 'invalid_request', "'application_uri' is a required property");
    expect((await t.inject({ url, headers: h })).json().name).toBe('renamed');
    expectApiError(await t.inject({ method: 'PUT', url: `${url}X`, headers: h, payload: { name: 'x', redirect_uri: 'y', application_uri: 'z' } }), 404, 'not_found');
  });

  it('deletes an application with its tokens and codes, so its tokens stop working', async () => {
    const { admin, org, h } = await orgWithAdmin();
    const a = await createApp(org.username, h, { redirect_uri: 'https://c.example/cb' });
    const row = (await db().selectFrom('oauth_application').selectAll().where('client_id', '=', a.client_id).executeTakeFirst())!;
    const { mintAccessToken } = await import('../../src/auth/tokens.js');
    const { token } = await mintAccessToken(db(), { applicationId: row.id, userId: admin.id, username: admin.username, scope: 'user:read' });
    await db().insertInto('oauth_authorization_code').values({ application_id: row.id, code_name: randomUUID(), code_hash: 'h', scope: 'user:read', redirect_uri: 'https://c.example/cb', data: '{}' }).execute();
    expect((await t.inject({ url: '/api/v1/user/', headers: bearer(token) })).statusCode).toBe(200); // now cached
    const res = await t.inject({ method: 'DELETE', url: `/api/v1/organization/${org.username}/applications/${a.client_id}`, headers: h });
    expect(res.statusCode).toBe(204);
    expect(await db().selectFrom('oauth_access_token').select('id').where('application_id', '=', row.id).execute()).toEqual([]);
    expect(await db().selectFrom('oauth_authorization_code').select('id').where('application_id', '=', row.id).execute()).toEqual([]);
    expect((await t.inject({ url: '/api/v1/user/', headers: bearer(token) })).statusCode).toBe(401);
    const log = (await auditRows(t, 'delete_application')).filter((r) => r.account_id === org.id);
    expect(log.map((r) => r.metadata)).toEqual([{ application_name: a.name, client_id: a.client_id, ...viaToken(admin) }]);
    expectApiError(await t.inject({ method: 'DELETE', url: `/api/v1/organization/${org.username}/applications/${a.client_id}`, headers: h }), 404, 'not_found');
  });

  it('resets the client secret (internal) and logs it', async () => {
    const { admin, org, h } = await orgWithAdmin();
    const a = await createApp(org.username, h);
    const res = await t.inject({ method: 'POST', url: `/api/v1/organization/${org.username}/applications/${a.client_id}/resetclientsecret`, headers: h });
    expect(res.statusCode, res.body).toBe(200);
    const view = res.json();
    expect(view).toEqual({ ...a, client_secret: expect.stringMatching(/^[A-Z0-9]{40}$/) });
    expect(view.client_secret).not.toBe(a.client_secret);
    const row = (await db().selectFrom('oauth_application').selectAll().where('client_id', '=', a.client_id).executeTakeFirst())!;
    expect(t.app.secrets.decrypt(row.client_secret_enc)).toBe(view.client_secret);
    const log = (await auditRows(t, 'reset_application_client_secret')).filter((r) => r.account_id === org.id);
    expect(log.map((r) => r.metadata)).toEqual([{ application_name: a.name, client_id: a.client_id, ...viaToken(admin) }]);
    expectApiError(await t.inject({ method: 'POST', url: `/api/v1/organization/${org.username}/applications/NOSUCH/resetclientsecret`, headers: h }), 404, 'not_found');
  });

  it('refuses non-admins on every application endpoint and answers 404 on a user namespace', async () => {
    const { admin, org, h } = await orgWithAdmin();
    const a = await createApp(org.username, h);
    const member = await makeUser(t);
    await makeTeam(t, org, 'creator', [member]);
    const mh = await full(member);
    const base = `/api/v1/organization/${org.username}/applications`;
    const calls = [
      { method: 'GET' as const, url: base },
      { method: 'POST' as const, url: base, payload: { name: 'x' } },
      { method: 'GET' as const, url: `${base}/${a.client_id}` },
      { method: 'PUT' as const, url: `${base}/${a.client_id}`, payload: { name: 'x', redirect_uri: 'y', application_uri: 'z' } },
      { method: 'DELETE' as const, url: `${base}/${a.client_id}` },
      { method: 'POST' as const, url: `${base}/${a.client_id}/resetclientsecret` },
    ];
    for (const c of calls) expectApiError(await t.inject({ ...c, headers: mh }), 403, 'insufficient_scope');
    expect((await t.inject({ url: `${base}/${a.client_id}`, headers: h })).json()).toEqual(a);
    // A user's own namespace passes the check but is no organization.
    expectApiError(await t.inject({ url: `/api/v1/organization/${admin.username}/applications`, headers: h }), 404, 'not_found');
    expectApiError(await t.inject({ method: 'POST', url: `/api/v1/organization/${admin.username}/applications`, headers: h, payload: { name: 'x' } }), 404, 'not_found');
  });

  it('creates applications that work in this server’s implicit OAuth flow', async () => {
    const { admin, org, h } = await orgWithAdmin();
    const redirect = 'https://client.example.org/callback';
    const a = await createApp(org.username, h, { redirect_uri: redirect });
    const s = await signIn(t, admin);
    const cookie = { cookie: s.headers.cookie };
    const q = new URLSearchParams({ response_type: 'token', client_id: a.client_id, redirect_uri: redirect, scope: 'user:read repo:read', state: 's1', format: 'json' });
    const consent = await t.inject({ url: `/oauth/authorize?${q}`, headers: cookie });
    expect(consent.statusCode, consent.body).toBe(200);
    expect(consent.json().application.name).toBe(a.name);
    const form = new URLSearchParams({ _csrf_token: consent.json().csrf_token_val, response_type: 'token', client_id: a.client_id, redirect_uri: redirect, scope: 'user:read repo:read', state: 's1' });
    const res = await t.inject({ method: 'POST', url: '/oauth/authorizeapp', headers: { ...cookie, 'content-type': 'application/x-www-form-urlencoded' }, payload: form.toString() });
    expect(res.statusCode, res.body).toBe(302);
    const loc = String(res.headers.location);
    expect(loc.startsWith(`${redirect}?`)).toBe(true);
    const token = /#access_token=([A-Za-z0-9]{40})&/.exec(loc)![1];
    const me = await t.inject({ url: '/api/v1/user/', headers: bearer(token) });
    expect(me.statusCode).toBe(200);
    expect(me.json().username).toBe(admin.username);
    // A non-admin of the org may not authorize it.
    const outsider = await makeUser(t);
    const os = await signIn(t, outsider);
    const denied = await t.inject({ url: `/oauth/authorize?${q}`, headers: { cookie: os.headers.cookie } });
    expect(denied.statusCode).toBe(403);
  });
});

// ---------------------------------------------------------------------------------------------

describe('GET /api/v1/app/{client_id} (getApplicationInformation)', () => {
  it('shows anyone the public info, with the org view computed for the caller and empty teams', async () => {
    const { org, h } = await orgWithAdmin();
    const a = await createApp(org.username, h, { name: 'Pub', description: 'd', application_uri: 'https://pub.example', avatar_email: 'Pub@Example.com ' });
    const res = await t.inject({ url: `/api/v1/app/${a.client_id}` });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      name: 'Pub', description: 'd', uri: 'https://pub.example',
      avatar: { name: 'Pub', hash: sha256Hex('pub@example.com'), color: expect.any(String), kind: 'app' },
      organization: {
        name: org.username, email: '', avatar: { name: org.username, hash: sha256Hex(org.email!), color: expect.any(String), kind: 'user' },
        is_admin: false, is_member: false, teams: {}, ordered_teams: [],
      },
    });
    const asAdmin = (await t.inject({ url: `/api/v1/app/${a.client_id}`, headers: h })).json();
    expect(asAdmin.organization).toMatchObject({ email: org.email, is_admin: true, is_member: true, teams: {}, ordered_teams: [], tag_expiration_s: 1209600 });
  });

  it('hashes the org e-mail when the app has no avatar e-mail, and answers 404 for unknown or built-in clients', async () => {
    const { org, h } = await orgWithAdmin();
    const a = await createApp(org.username, h, { name: 'NoAvatar' });
    expect((await t.inject({ url: `/api/v1/app/${a.client_id}` })).json().avatar.hash).toBe(sha256Hex(org.email!));
    expectApiError(await t.inject({ url: '/api/v1/app/NOSUCHCLIENT00000000' }), 404, 'not_found');
    expectApiError(await t.inject({ url: `/api/v1/app/${DOCS_CLIENT_ID}` }), 404, 'not_found');
  });
});
