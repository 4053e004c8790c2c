// Security-matrix rows for the PROTOTYPE section. Every prototype made here is activated only by the
// superuser root, who cannot create repositories in ctx.org, so no other row's repository picks it up.
import { randomUUID } from 'node:crypto';
import { all, type Ctx, type Row } from './matrix.js';

const ADMIN_READ = all(403, { anonymous: 401, anonymousSession: 401, robot: 401, orgAdmin: 200, orgAdminSession: 200 });
const adminWrite = (ok: number) => all(403, { anonymousSession: 401, orgAdmin: ok, orgAdminSession: ok });

const list = (c: Ctx) => `/api/v1/organization/${c.org.username}/prototypes`;

async function prototype(c: Ctx): Promise<string> {
  const db = c.t.app.db;
  const readers = await db.selectFrom('team').select('id').where('organization_id', '=', c.org.id).where('name', '=', 'readers').executeTakeFirstOrThrow();
  const uuid = randomUUID();
  await db
    .insertInto('permission_prototype')
    .values({ uuid, org_id: c.org.id, activating_user_id: c.root.id, delegate_user_id: null, delegate_team_id: readers.id, role: 'read' })
    .execute();
  return `${list(c)}/${uuid}`;
}

export const rows: Row[] = [
  { method: 'GET', route: '/api/v1/organization/:orgname/prototypes', path: list, expect: ADMIN_READ },
  {
    method: 'POST', route: '/api/v1/organization/:orgname/prototypes', path: list,
    body: (c) => ({ role: 'read', activating_user: { name: c.root.username }, delegate: { name: 'readers', kind: 'team' } }),
    expect: adminWrite(200),
  },
  {
    method: 'PUT', route: '/api/v1/organization/:orgname/prototypes/:prototypeid', path: prototype, body: () => ({ role: 'write' }),
    expect: adminWrite(200),
  },
  { method: 'DELETE', route: '/api/v1/organization/:orgname/prototypes/:prototypeid', path: prototype, expect: adminWrite(204) },
];
