// Security matrix rows for the foundation's routes: route × identity → expected status.
import { randomUUID } from 'node:crypto';
import type { Ctx, Row } from './matrix.js';
import { uniqueName } from '../helpers/factories.js';

const ALL: Row['expect'] = {
  anonymous: 200, anonymousSession: 200, basicCredentials: 200, noScopeToken: 200, userReadToken: 200,
  userAdminToken: 200, session: 200, superuserToken: 200, superuserWithoutScope: 200, outsiderAdminToken: 200,
};

async function aliceAppToken(ctx: Ctx): Promise<string> {
  const res = await ctx.t.inject({ method: 'POST', url: '/api/v1/user/apptoken', headers: ctx.headers.userAdminToken, payload: { title: 'matrix' } });
  return res.json().token.uuid;
}

async function message(ctx: Ctx): Promise<string> {
  await ctx.t.inject({ method: 'POST', url: '/api/v1/messages', headers: ctx.headers.superuserToken, payload: { message: { content: `m-${randomUUID()}`, severity: 'info', media_type: 'text/plain' } } });
  const all = (await ctx.t.inject('/api/v1/messages')).json().messages as { uuid: string }[];
  return all[all.length - 1].uuid;
}

export const rows: Row[] = [
  {
    method: 'GET', route: '/api/v1/user/', path: () => '/api/v1/user/',
    expect: { anonymous: 401, anonymousSession: 401, basicCredentials: 401, noScopeToken: 401, userReadToken: 200, userAdminToken: 200, session: 200, superuserToken: 401, superuserWithoutScope: 200, outsiderAdminToken: 200 },
  },
  { method: 'GET', route: '/api/v1/users/:username', path: (c) => `/api/v1/users/${c.alice.username}`, expect: ALL },
  {
    method: 'POST', route: '/api/v1/user/', path: () => '/api/v1/user/', body: () => ({ username: uniqueName('m'), password: 'password123' }),
    expect: { ...ALL, anonymous: 403, basicCredentials: 403 },
  },
  {
    method: 'POST', route: '/api/v1/signin', path: () => '/api/v1/signin', body: (c) => ({ username: c.alice.username, password: c.alice.password }),
    expect: { ...ALL, anonymous: 403, basicCredentials: 403 },
  },
  {
    method: 'POST', route: '/api/v1/signin/verify', path: () => '/api/v1/signin/verify', body: (c) => ({ password: c.alice.password }),
    // Every test user shares one password, so user:admin callers verify their own account.
    expect: { anonymous: 403, anonymousSession: 401, basicCredentials: 403, noScopeToken: 403, userReadToken: 403, userAdminToken: 200, session: 200, superuserToken: 403, superuserWithoutScope: 200, outsiderAdminToken: 200 },
  },
  { method: 'POST', route: '/api/v1/signout', path: () => '/api/v1/signout', expect: { ...ALL, anonymous: 403, basicCredentials: 403 } },
  {
    method: 'GET', route: '/api/v1/user/apptoken', path: () => '/api/v1/user/apptoken',
    expect: { anonymous: 401, anonymousSession: 401, basicCredentials: 401, noScopeToken: 403, userReadToken: 403, userAdminToken: 200, session: 200, superuserToken: 403, superuserWithoutScope: 200, outsiderAdminToken: 200 },
  },
  {
    method: 'POST', route: '/api/v1/user/apptoken', path: () => '/api/v1/user/apptoken', body: () => ({ title: 'm' }),
    expect: { anonymous: 403, anonymousSession: 401, basicCredentials: 403, noScopeToken: 403, userReadToken: 403, userAdminToken: 200, session: 200, superuserToken: 403, superuserWithoutScope: 200, outsiderAdminToken: 200 },
  },
  {
    method: 'GET', route: '/api/v1/user/apptoken/:token_uuid', path: async (c) => `/api/v1/user/apptoken/${await aliceAppToken(c)}`,
    // Another user (and the superuser) cannot see alice's token: 404, never her secret.
    expect: { anonymous: 401, anonymousSession: 401, basicCredentials: 401, noScopeToken: 403, userReadToken: 403, userAdminToken: 200, session: 200, superuserToken: 403, superuserWithoutScope: 404, outsiderAdminToken: 404 },
  },
  {
    method: 'DELETE', route: '/api/v1/user/apptoken/:token_uuid', path: async (c) => `/api/v1/user/apptoken/${await aliceAppToken(c)}`,
    expect: { anonymous: 403, anonymousSession: 401, basicCredentials: 403, noScopeToken: 403, userReadToken: 403, userAdminToken: 204, session: 204, superuserToken: 403, superuserWithoutScope: 404, outsiderAdminToken: 404 },
  },
  { method: 'GET', route: '/api/v1/messages', path: () => '/api/v1/messages', expect: ALL },
  {
    method: 'POST', route: '/api/v1/messages', path: () => '/api/v1/messages',
    body: () => ({ message: { content: 'matrix', severity: 'info', media_type: 'text/plain' } }),
    expect: { anonymous: 403, anonymousSession: 401, basicCredentials: 403, noScopeToken: 403, userReadToken: 403, userAdminToken: 403, session: 403, superuserToken: 201, superuserWithoutScope: 403, outsiderAdminToken: 403 },
  },
  {
    method: 'DELETE', route: '/api/v1/message/:uuid', path: async (c) => `/api/v1/message/${await message(c)}`,
    expect: { anonymous: 403, anonymousSession: 401, basicCredentials: 403, noScopeToken: 403, userReadToken: 403, userAdminToken: 403, session: 403, superuserToken: 204, superuserWithoutScope: 403, outsiderAdminToken: 403 },
  },
  { method: 'GET', route: '/api/v1/error/:error_type', path: () => '/api/v1/error/not_found', expect: ALL },
  { method: 'GET', route: '/api/v1/discovery', path: () => '/api/v1/discovery', expect: ALL },
  { method: 'GET', route: '/api/v1/openapi.json', path: () => '/api/v1/openapi.json', expect: ALL },
  { method: 'POST', route: '/api/v1/user/initialize', path: () => '/api/v1/user/initialize', body: () => ({ username: uniqueName('i'), password: 'password123' }),
    // Never on a populated database, whoever asks.
    expect: { anonymous: 400, anonymousSession: 400, basicCredentials: 400, noScopeToken: 400, userReadToken: 400, userAdminToken: 400, session: 400, superuserToken: 400, superuserWithoutScope: 400, outsiderAdminToken: 400 } },
];
