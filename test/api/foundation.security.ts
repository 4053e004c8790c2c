// Security-matrix rows for the foundation's routes (users, sessions, app tokens, messages, docs).
// Account recovery exists only with FEATURE_MAILING, so this file switches mail on for the fixture.
import { randomUUID } from 'node:crypto';
import { uniqueName } from '../helpers/factories.js';
import { sharedMailbox } from '../helpers/smtp.js';
import { all, type Ctx, type Row } from './matrix.js';

export const config = (await sharedMailbox()).config();

/** Anonymous writes meet the CSRF check first (403), as in Quay; robots' Basic credentials are not read. */
const ANON_WRITE = { anonymous: 403, robot: 403 } as const;
const NOT_ALICE_404 = { outsider: 404, orgMember: 404, teamCreator: 404, repoAdmin: 404, superuser: 404, readonlySuperuser: 404 } as const;

async function aliceAppToken(ctx: Ctx): Promise<string> {
  const res = await ctx.t.inject({ method: 'POST', url: '/api/v1/user/apptoken', headers: ctx.headers.orgAdmin, payload: { title: 'matrix' } });
  return res.json().token.uuid;
}

async function message(ctx: Ctx): Promise<string> {
  const content = `m-${randomUUID()}`;
  await ctx.t.inject({ method: 'POST', url: '/api/v1/messages', headers: ctx.headers.superuser, payload: { message: { content, severity: 'info', media_type: 'text/plain' } } });
  const found = ((await ctx.t.inject('/api/v1/messages')).json().messages as { uuid: string; content: string }[]).find((m) => m.content === content);
  return found!.uuid;
}

export const rows: Row[] = [
  { method: 'GET', route: '/api/v1/user/', path: () => '/api/v1/user/', expect: all(200, { anonymous: 401, anonymousSession: 401, robot: 401, repoReadOnlyToken: 401 }) },
  { method: 'GET', route: '/api/v1/users/:username', path: (c) => `/api/v1/users/${c.alice.username}`, expect: all(200) },
  {
    // With mail on: 200 {awaiting_verification: true}, the confirmation mail sent.
    method: 'POST', route: '/api/v1/user/', path: () => '/api/v1/user/',
    body: () => {
      const username = uniqueName('m');
      return { username, password: 'password123', email: `${username}@example.com` };
    },
    expect: all(200, ANON_WRITE),
  },
  {
    method: 'POST', route: '/api/v1/signin', path: () => '/api/v1/signin',
    body: (c) => ({ username: c.alice.username, password: c.alice.password }),
    expect: all(200, ANON_WRITE),
  },
  {
    // Every test user shares one password, so each user:admin caller verifies their own account.
    method: 'POST', route: '/api/v1/signin/verify', path: () => '/api/v1/signin/verify', body: (c) => ({ password: c.alice.password }),
    expect: all(200, { ...ANON_WRITE, anonymousSession: 401, repoReadOnlyToken: 403, userReadOnlyToken: 403 }),
  },
  {
    // Anonymous callers are the point; like signin it needs a session's CSRF token.
    method: 'POST', route: '/api/v1/recovery', path: () => '/api/v1/recovery', body: (c) => ({ email: c.bob.email }),
    expect: all(200, ANON_WRITE),
  },
  { method: 'POST', route: '/api/v1/signout', path: () => '/api/v1/signout', expect: all(200, ANON_WRITE) },
  {
    method: 'GET', route: '/api/v1/user/apptoken', path: () => '/api/v1/user/apptoken',
    expect: all(200, { anonymous: 401, anonymousSession: 401, robot: 401, repoReadOnlyToken: 403, userReadOnlyToken: 403 }),
  },
  {
    method: 'POST', route: '/api/v1/user/apptoken', path: () => '/api/v1/user/apptoken', body: () => ({ title: 'm' }),
    expect: all(200, { ...ANON_WRITE, anonymousSession: 401, repoReadOnlyToken: 403, userReadOnlyToken: 403 }),
  },
  {
    // Another user (a superuser too) cannot see alice's token: 404, never her secret.
    method: 'GET', route: '/api/v1/user/apptoken/:token_uuid', path: async (c) => `/api/v1/user/apptoken/${await aliceAppToken(c)}`,
    expect: all(200, { anonymous: 401, anonymousSession: 401, robot: 401, repoReadOnlyToken: 403, userReadOnlyToken: 403, ...NOT_ALICE_404 }),
  },
  {
    method: 'DELETE', route: '/api/v1/user/apptoken/:token_uuid', path: async (c) => `/api/v1/user/apptoken/${await aliceAppToken(c)}`,
    expect: all(204, { ...ANON_WRITE, anonymousSession: 401, repoReadOnlyToken: 403, userReadOnlyToken: 403, ...NOT_ALICE_404 }),
  },
  { method: 'GET', route: '/api/v1/messages', path: () => '/api/v1/messages', expect: all(200) },
  {
    method: 'POST', route: '/api/v1/messages', path: () => '/api/v1/messages',
    body: () => ({ message: { content: 'matrix', severity: 'info', media_type: 'text/plain' } }),
    expect: all(403, { anonymousSession: 401, superuser: 201 }),
  },
  {
    method: 'DELETE', route: '/api/v1/message/:uuid', path: async (c) => `/api/v1/message/${await message(c)}`,
    expect: all(403, { anonymousSession: 401, superuser: 204 }),
  },
  { method: 'GET', route: '/api/v1/error/:error_type', path: () => '/api/v1/error/not_found', expect: all(200) },
  { method: 'GET', route: '/api/v1/discovery', path: () => '/api/v1/discovery', expect: all(200) },
  { method: 'GET', route: '/api/v1/openapi.json', path: () => '/api/v1/openapi.json', expect: all(200) },
  {
    // Never on a populated database, whoever asks.
    method: 'POST', route: '/api/v1/user/initialize', path: () => '/api/v1/user/initialize',
    body: () => ({ username: uniqueName('i'), password: 'password123' }),
    expect: all(400),
  },
];
