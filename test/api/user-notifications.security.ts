// Security-matrix rows for the in-app notifications (src/api/user-notifications.ts): UserAdmin on
// the caller's own account. Rows that name a notification create one for the identity's user, so
// every identity that gets through meets its own.
import { randomUUID } from 'node:crypto';
import { insertUserNotification } from '../../src/db/notifications.js';
import { all, type Ctx, type Identity, type Row } from './matrix.js';

/** Anonymous writes meet the CSRF check first (403), as in Quay; robots' Basic credentials are not read. */
const READ = all(200, { anonymous: 401, anonymousSession: 401, robot: 401, repoReadOnlyToken: 403, userReadOnlyToken: 403 });
const WRITE = all(200, { anonymous: 403, robot: 403, anonymousSession: 401, repoReadOnlyToken: 403, userReadOnlyToken: 403 });

async function own(c: Ctx, identity: Identity): Promise<string> {
  const user = c.users[identity];
  if (!user) return `/api/v1/user/notifications/${randomUUID()}`;
  await insertUserNotification(c.t.app.db, { kind: 'repo_push', targetId: user.id, metadata: { repository: 'x/y' } });
  const row = await c.t.app.db.selectFrom('notification').select('uuid').where('target_id', '=', user.id).orderBy('id', 'desc').executeTakeFirstOrThrow();
  return `/api/v1/user/notifications/${row.uuid}`;
}

export const rows: Row[] = [
  { method: 'GET', route: '/api/v1/user/notifications', path: () => '/api/v1/user/notifications', expect: READ },
  { method: 'GET', route: '/api/v1/user/notifications/:uuid', path: own, expect: READ },
  { method: 'PUT', route: '/api/v1/user/notifications/:uuid', path: own, body: () => ({ dismissed: true }), expect: WRITE },
];
