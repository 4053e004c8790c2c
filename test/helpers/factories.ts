// Factories: unique names, real rows written through the same code the server uses.
import { randomBytes, randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { randomString, UPPER_DIGITS } from '../../src/auth/crypto.js';
import { mintAccessToken } from '../../src/auth/tokens.js';
import { findApplicationByClientId, insertApplication } from '../../src/db/oauth.js';
import type { Namespace, OAuthApplication } from '../../src/db/schema.js';
import { createAccount } from '../../src/services/accounts.js';
import type { TestApp } from './app.js';

export function uniqueName(prefix = 'user'): string {
  return `${prefix}${randomBytes(4).toString('hex')}`;
}

export const PASSWORD = 'correct-horse-battery';

export interface TestUser extends Namespace {
  password: string;
}

export async function makeUser(t: TestApp | FastifyInstance, o: { username?: string; password?: string; email?: string } = {}): Promise<TestUser> {
  const app = 'app' in t ? t.app : t;
  const username = o.username ?? uniqueName();
  const password = o.password ?? PASSWORD;
  const user = await createAccount(app.db, { username, password, email: o.email ?? `${username}@example.com` });
  return { ...user, password };
}

/** An organization with an `owners` team (role admin) holding `admins`, as Quay creates them. */
export async function makeOrg(t: TestApp, admins: Namespace[], name = uniqueName('org')): Promise<Namespace> {
  const db = t.app.db;
  const org = await db
    .insertInto('namespace')
    .values({ uuid: randomUUID(), username: name, email: `${name}@example.com`, organization: true, verified: true, password_hash: null, last_invalid_login: null, given_name: null, family_name: null, company: null, location: null })
    .returningAll()
    .executeTakeFirstOrThrow();
  const team = await db.insertInto('team').values({ organization_id: org.id, name: 'owners', role: 'admin' }).returning('id').executeTakeFirstOrThrow();
  for (const a of admins) await db.insertInto('team_member').values({ team_id: team.id, user_id: a.id }).execute();
  t.app.authCache.clear(); // as the API does after a membership change
  return org;
}

export async function makeTeam(t: TestApp, org: Namespace, role: 'admin' | 'creator' | 'member', members: Namespace[], name = uniqueName('team')) {
  const team = await t.app.db.insertInto('team').values({ organization_id: org.id, name, role }).returning('id').executeTakeFirstOrThrow();
  for (const m of members) await t.app.db.insertInto('team_member').values({ team_id: team.id, user_id: m.id }).execute();
  t.app.authCache.clear();
  return team;
}

export async function makeApplication(
  t: TestApp,
  org: Namespace,
  o: { redirectUri?: string; name?: string; secret?: string } = {},
): Promise<OAuthApplication & { client_secret: string }> {
  const secret = o.secret ?? randomString(40, UPPER_DIGITS);
  const app = await insertApplication(t.app.db, {
    clientId: randomString(20, UPPER_DIGITS),
    clientSecretEnc: t.app.secrets.encrypt(secret),
    organizationId: org.id,
    name: o.name ?? uniqueName('app'),
    redirectUri: o.redirectUri ?? 'https://client.example.com/cb',
    applicationUri: 'https://client.example.com',
  });
  return { ...app, client_secret: secret };
}

/** A real OAuth token for `user` with exactly these scopes (space separated), via the user's automation app. */
export async function tokenFor(t: TestApp, user: Namespace, scope: string, lifetimeS?: number): Promise<string> {
  const db = t.app.db;
  let app = await findApplicationByClientId(db, `automation-${user.username}`);
  app ??= await insertApplication(db, {
    clientId: `automation-${user.username}`,
    clientSecretEnc: t.app.secrets.encrypt('x'),
    organizationId: user.id,
    name: 'automation',
  });
  return (await mintAccessToken(db, { applicationId: app.id, userId: user.id, username: user.username, scope, lifetimeS })).token;
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

export interface BrowserSession {
  cookie: string;
  csrf: string;
  headers: Record<string, string>;
}

function sessionCookie(res: { cookies: { name: string; value: string }[] }): string | undefined {
  return res.cookies.find((c) => c.name === '_csrf_token')?.value;
}

/** GET /csrf_token, then POST /api/v1/signin, as Quay's UI and Ansible do. */
export async function signIn(t: TestApp, user: { username: string; password: string }): Promise<BrowserSession> {
  const first = await t.inject({ method: 'GET', url: '/csrf_token' });
  const anonCookie = sessionCookie(first)!;
  const res = await t.inject({
    method: 'POST',
    url: '/api/v1/signin',
    headers: { cookie: `_csrf_token=${anonCookie}`, 'x-csrf-token': first.json().csrf_token },
    payload: { username: user.username, password: user.password },
  });
  if (res.statusCode !== 200) throw new Error(`signin failed: ${res.statusCode} ${res.body}`);
  const cookie = sessionCookie(res)!;
  const csrf = String(res.headers['x-next-csrf-token']);
  return { cookie, csrf, headers: { cookie: `_csrf_token=${cookie}`, 'x-csrf-token': csrf } };
}

/** An anonymous browser session: cookie + CSRF token, no login. */
export async function anonymousSession(t: TestApp): Promise<BrowserSession> {
  const res = await t.inject({ method: 'GET', url: '/csrf_token' });
  const cookie = sessionCookie(res)!;
  const csrf = res.json().csrf_token as string;
  return { cookie, csrf, headers: { cookie: `_csrf_token=${cookie}`, 'x-csrf-token': csrf } };
}

export async function auditRows(t: TestApp, kind: string) {
  return t.app.db.selectFrom('log_entry').selectAll().where('kind', '=', kind).orderBy('id').execute();
}

/** A repository row (no audit, no prototypes): for tests of permission logic and views. */
export async function makeRepo(t: TestApp, ns: Namespace, o: { name?: string; visibility?: 'public' | 'private'; description?: string } = {}) {
  return t.app.db
    .insertInto('repository')
    .values({ namespace_id: ns.id, name: o.name ?? uniqueName('repo'), visibility: o.visibility ?? 'private', description: o.description ?? '', badge_token: randomUUID() })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function grant(t: TestApp, repo: { id: number }, to: { userId?: number; teamId?: number }, role: 'read' | 'write' | 'admin') {
  await t.app.db.insertInto('repository_permission').values({ repository_id: repo.id, user_id: to.userId ?? null, team_id: to.teamId ?? null, role }).execute();
}

/** A robot `owner+short` with a known token, as the robot endpoints create them. */
export async function makeRobot(t: TestApp, owner: Namespace, short = uniqueName('bot')): Promise<Namespace & { token: string }> {
  const db = t.app.db;
  const robot = await db
    .insertInto('namespace')
    .values({ uuid: randomUUID(), username: `${owner.username}+${short}`, email: null, robot: true, verified: true, password_hash: null, robot_owner_id: owner.id, last_invalid_login: null, given_name: null, family_name: null, company: null, location: null })
    .returningAll()
    .executeTakeFirstOrThrow();
  const token = randomString(64, UPPER_DIGITS);
  await db.insertInto('robot_account').values({ robot_id: robot.id, token_enc: t.app.secrets.encrypt(token), unstructured_metadata: '{}', last_accessed: null }).execute();
  return { ...robot, token };
}
