// Security-matrix rows for the caller's own account (src/api/user-account.ts). Every route acts on
// the caller's account, so every identity holding user:admin (a session, or a token with the scope)
// reaches the handler. The rows are chosen to leave the fixture users as they are: no password,
// name or address changes, and no identity can delete or convert its account (each is made the
// only admin of an organization of its own first, or names itself as the new admin).
import { randomUUID } from 'node:crypto';
import { makeOrg, PASSWORD, tokenFor } from '../helpers/factories.js';
import { all, type Ctx, type Identity, type Row } from './matrix.js';

/** Anonymous writes meet the CSRF check first (403), as in Quay; robots' Basic credentials are not read. */
const WRITE = { anonymous: 403, robot: 403, anonymousSession: 401, repoReadOnlyToken: 403, userReadOnlyToken: 403 } as const;
const READ = { anonymous: 401, anonymousSession: 401, robot: 401, repoReadOnlyToken: 403, userReadOnlyToken: 403 } as const;

const soleAdmins = new Set<number>();
/** Makes the identity's user the only admin of an organization (once), so DELETE /user/ is refused. */
async function keepAccount(ctx: Ctx, identity: Identity): Promise<string> {
  const user = ctx.users[identity];
  if (user && !soleAdmins.has(user.id)) {
    await makeOrg(ctx.t, [user]);
    soleAdmins.add(user.id);
  }
  return '/api/v1/user/';
}

/** A fresh OAuth token the identity's user granted (not the one the identity uses), by uuid. */
async function grantedToken(ctx: Ctx, identity: Identity): Promise<string> {
  const user = ctx.users[identity];
  if (!user) return randomUUID();
  await tokenFor(ctx.t, user, 'repo:read');
  const row = await ctx.t.app.db
    .selectFrom('oauth_access_token')
    .select('uuid')
    .where('authorized_user_id', '=', user.id)
    .orderBy('id', 'desc')
    .executeTakeFirstOrThrow();
  return row.uuid;
}

export const rows: Row[] = [
  {
    // A harmless change; mail is on in the fixture, so no address is sent.
    method: 'PUT', route: '/api/v1/user/', path: () => '/api/v1/user/', body: () => ({ invoice_email: false }),
    expect: all(200, WRITE),
  },
  {
    // Each caller is the only admin of an organization: 400 "Cannot delete …", nothing deleted.
    method: 'DELETE', route: '/api/v1/user/', path: keepAccount,
    expect: all(400, WRITE),
  },
  {
    // Every test user shares one password: each caller gets a key for their own account.
    method: 'POST', route: '/api/v1/user/clientkey', path: () => '/api/v1/user/clientkey', body: () => ({ password: PASSWORD }),
    expect: all(200, WRITE),
  },
  {
    // Naming oneself as the new admin: 400 "The admin user is not valid", nothing converted.
    method: 'POST', route: '/api/v1/user/convert', path: () => '/api/v1/user/convert',
    body: (c, id) => ({ adminUser: (c.users[id] ?? c.alice).username, adminPassword: PASSWORD }),
    expect: all(400, WRITE),
  },
  { method: 'GET', route: '/api/v1/user/authorizations', path: () => '/api/v1/user/authorizations', expect: all(200, READ) },
  {
    method: 'GET', route: '/api/v1/user/authorizations/:access_token_uuid',
    path: async (c, id) => `/api/v1/user/authorizations/${await grantedToken(c, id)}`,
    expect: all(200, READ),
  },
  {
    method: 'DELETE', route: '/api/v1/user/authorizations/:access_token_uuid',
    path: async (c, id) => `/api/v1/user/authorizations/${await grantedToken(c, id)}`,
    expect: all(204, WRITE),
  },
];
