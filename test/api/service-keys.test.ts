import { createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INSTANCE_KEY_SERVICE, jwkThumbprint } from '../../src/registry/service-keys.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { auditRows, bearer, makeUser, signIn, tokenFor, type TestUser } from '../helpers/factories.js';

let t: TestApp;
let root: TestUser;
let viewer: TestUser;
let rootH: Record<string, string>;
let viewerH: Record<string, string>;
beforeAll(async () => {
  t = await testApp({ SUPER_USERS: 'keyroot', GLOBAL_READONLY_SUPER_USERS: 'keyviewer' });
  root = await makeUser(t, { username: 'keyroot' });
  viewer = await makeUser(t, { username: 'keyviewer' });
  rootH = bearer(await tokenFor(t, root, 'super:user'));
  viewerH = bearer(await tokenFor(t, viewer, 'super:user'));
});
afterAll(() => t?.close());

const HTTP_DATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$/;
const nowS = () => Math.floor(Date.now() / 1000);

async function create(body: Record<string, unknown>, headers = rootH) {
  return t.inject({ method: 'POST', url: '/api/v1/superuser/keys', headers, payload: body });
}
async function createOk(body: Record<string, unknown> = {}) {
  const res = await create({ service: 'builder', expiration: null, ...body });
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as { kid: string; name: string; service: string; public_key: string; private_key: string };
}
const getKey = (kid: string, headers = rootH) => t.inject({ url: `/api/v1/superuser/keys/${encodeURIComponent(kid)}`, headers });
const putKey = (kid: string, body: unknown) => t.inject({ method: 'PUT', url: `/api/v1/superuser/keys/${encodeURIComponent(kid)}`, headers: rootH, payload: body as object });
const logsFor = async (kind: string, kid: string) => (await auditRows(t, kind)).filter((r) => (r.metadata as { kid?: string }).kid === kid);

function expectApiError(res: { statusCode: number; json(): Record<string, unknown> }, status: number, detail: string | RegExp) {
  expect(res.statusCode).toBe(status);
  const body = res.json();
  expect(body.error_type).toBe(status === 404 ? 'not_found' : 'invalid_request');
  if (typeof detail === 'string') expect(body.detail).toBe(detail);
  else expect(body.detail).toMatch(detail);
}

describe('createServiceKey', () => {
  it('makes an approved RSA key, returns both halves once (200) and stores only the public one', async () => {
    const exp = nowS() + 3600;
    const res = await create(
      { service: 'builder', name: 'my key: one/2', expiration: exp, metadata: { purpose: 'ci', ip: 'spoofed' }, notes: 'for CI' },
      { ...rootH, 'x-forwarded-for': '10.9.8.7' },
    );
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(Object.keys(body).sort()).toEqual(['kid', 'name', 'private_key', 'public_key', 'service']);
    expect(body).toMatchObject({ name: 'my key: one/2', service: 'builder' });
    expect(body.public_key).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
    expect(body.private_key).toMatch(/^-----BEGIN RSA PRIVATE KEY-----\n/);
    // The halves belong together, and the kid is the public key's RFC 7638 thumbprint.
    const priv = createPrivateKey(body.private_key);
    const pub = createPublicKey(body.public_key);
    const sig = sign('sha256', Buffer.from('x'), priv);
    expect(verify('sha256', Buffer.from('x'), pub, sig)).toBe(true);
    expect(jwkThumbprint(pub.export({ format: 'jwk' }) as { kty: string; n: string; e: string })).toBe(body.kid);

    const row = await t.app.db.selectFrom('service_key').selectAll().where('kid', '=', body.kid).executeTakeFirstOrThrow();
    expect(row.private_key_enc).toBeNull();
    expect(JSON.stringify(row)).not.toContain('PRIVATE');
    expect(row.expiration_date!.getTime()).toBe(exp * 1000);

    const view = (await getKey(body.kid)).json();
    expect(view).toMatchObject({
      name: 'my key: one/2',
      kid: body.kid,
      service: 'builder',
      jwk: { kty: 'RSA', e: 'AQAB', kid: body.kid },
      // The caller's keys are kept; Quay's three are added over them.
      metadata: { purpose: 'ci', created_by: 'Quay Superuser Panel', creator: 'keyroot', ip: expect.any(String) },
      rotation_duration: null,
      approval: { approval_type: 'ServiceKeyApprovalType.SUPERUSER', notes: 'for CI' },
    });
    expect(view.metadata.ip).not.toBe('spoofed');
    expect(view.jwk).not.toHaveProperty('d');
    expect(view.created_date).toMatch(HTTP_DATE);
    expect(view.expiration_date).toBe(new Date(exp * 1000).toUTCString());
    expect(view.approval.approved_date).toMatch(HTTP_DATE);
    expect(view.approval.approver).toEqual({
      kind: 'user', name: 'keyroot', username: 'keyroot', email: root.email, verified: true,
      avatar: { name: 'keyroot', hash: expect.stringMatching(/^[0-9a-f]{64}$/), color: expect.stringMatching(/^#/), kind: 'user' },
      super_user: true, global_readonly_super_user: false, enabled: true,
    });

    const expected = { kid: body.kid, preshared: true, service: 'builder', name: 'my key: one/2', expiration_date: exp, auto_approved: true };
    for (const kind of ['service_key_create', 'service_key_approve']) {
      const [log] = await logsFor(kind, body.kid);
      expect(log.metadata).toMatchObject(expected);
      expect(log.account_id).toBeNull();
      expect(log.performer_id).toBe(root.id);
    }
  });

  it('accepts a key without name or expiry (name "", never expires)', async () => {
    const res = await create({ service: 'never_ends', expiration: null });
    expect(res.statusCode).toBe(200);
    expect(res.json().name).toBe('');
    const view = (await getKey(res.json().kid)).json();
    expect(view).toMatchObject({ name: '', expiration_date: null, metadata: { created_by: 'Quay Superuser Panel', creator: 'keyroot' } });
    const [log] = await logsFor('service_key_create', res.json().kid);
    expect(log.metadata).toMatchObject({ name: '', expiration_date: null });
  });

  it('takes an expiration past year 9999 on either database, and gives it back', async () => {
    for (const [expiration, shown] of [
      [253402300800, 'Sat, 01 Jan 10000 00:00:00 GMT'],
      [1e12, 'Fri, 27 Sep 33658 01:46:40 GMT'],
    ] as const) {
      const res = await create({ service: 'far_future', expiration });
      expect(res.statusCode, res.body).toBe(200);
      expect((await getKey(res.json().kid)).json().expiration_date).toBe(shown);
      const put = await putKey(res.json().kid, { expiration: expiration + 60 });
      expect(put.statusCode, put.body).toBe(200);
    }
  });

  it('refuses bad input with 400 and creates nothing', async () => {
    const before = (await t.app.db.selectFrom('service_key').select('id').execute()).length;
    const cases: [Record<string, unknown>, string | RegExp][] = [
      [{ service: 'builder' }, /expiration/], // the key is required, even for "never"
      [{ expiration: null }, /service/],
      [{ service: 'builder', expiration: 'tomorrow' }, /expiration/],
      [{ service: 'builder', expiration: nowS() - 10 }, 'Expiration date cannot be in the past'],
      [{ service: 'builder', expiration: 9e15 }, /^Invalid expiration date/],
      [{ service: 'builder', expiration: null, name: 'semi;colon' }, 'Invalid service key friendly name: semi;colon'],
      [{ service: 'builder', expiration: null, name: 'x'.repeat(256) }, /^Invalid service key friendly name/],
      [{ service: 'builder', expiration: null, metadata: 'text' }, /metadata/],
      [{ service: 'builder', expiration: null, metadata: ['a'] }, /metadata/],
      [{ service: 'builder', expiration: null, metadata: { big: 'x'.repeat(20_000) } }, /^Metadata may not exceed/],
      [{ service: 'builder', expiration: null, notes: 5 }, /notes/],
    ];
    for (const [body, detail] of cases) expectApiError(await create(body), 400, detail);
    // An invalid service name is a data-model error in Quay: 400 {"message": ""}.
    for (const service of ['Builder', 'with-dash', '', 'x'.repeat(256)]) {
      const res = await create({ service, expiration: null });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ message: '', status: 400 });
    }
    expect(await t.app.db.selectFrom('service_key').select('id').execute()).toHaveLength(before);
  });
});

describe('listServiceKeys and getServiceKey', () => {
  it('lists every key in any state, the instance key included', async () => {
    const a = await createOk({ name: 'listed' });
    const raw = await t.app.db
      .insertInto('service_key')
      .values({ kid: 'unapproved-kid', service: 'builder', name: 'pending', jwk: JSON.stringify({ kty: 'RSA', n: 'AQ', e: 'AQAB' }), private_key_enc: null, metadata: '{}', created_date: new Date(), expiration_date: new Date(Date.now() - 60_000), rotation_duration: null, approval_type: null, approver_id: null, approved_date: null, approval_notes: null })
      .returning('kid')
      .executeTakeFirstOrThrow();
    for (const headers of [rootH, viewerH]) {
      const res = await t.inject({ url: '/api/v1/superuser/keys', headers });
      expect(res.statusCode).toBe(200);
      const keys = res.json().keys as { kid: string; service: string; approval: unknown; expiration_date: string | null }[];
      expect(keys.find((k) => k.kid === a.kid)).toMatchObject({ service: 'builder', approval: { approval_type: 'ServiceKeyApprovalType.SUPERUSER' } });
      // Unapproved and already expired: listed, with approval null.
      expect(keys.find((k) => k.kid === raw.kid)).toMatchObject({ approval: null, expiration_date: expect.stringMatching(HTTP_DATE) });
      const instance = keys.find((k) => k.service === INSTANCE_KEY_SERVICE)!;
      expect(instance).toMatchObject({ approval: { approval_type: 'ServiceKeyApprovalType.AUTOMATIC', approver: null } });
      expect(JSON.stringify(keys)).not.toMatch(/PRIVATE|private_key/);
    }
  });

  it('hides keys that expired more than a week ago', async () => {
    const a = await createOk();
    await t.app.db.updateTable('service_key').set({ expiration_date: new Date(Date.now() - 8 * 86400_000) }).where('kid', '=', a.kid).execute();
    expect((await getKey(a.kid)).statusCode).toBe(404);
    const keys = (await t.inject({ url: '/api/v1/superuser/keys', headers: rootH })).json().keys as { kid: string }[];
    expect(keys.map((k) => k.kid)).not.toContain(a.kid);
  });

  it('getServiceKey: the read-only superuser may read; an unknown kid is 404', async () => {
    const a = await createOk();
    expect((await getKey(a.kid, viewerH)).json().kid).toBe(a.kid);
    expectApiError(await getKey('no-such-kid'), 404, 'Not Found');
  });
});

describe('updateServiceKey', () => {
  it('changes the name and merges metadata (service_key_modify)', async () => {
    const a = await createOk({ name: 'before', metadata: { keep: 1, replace: 'old' } });
    const res = await putKey(a.kid, { name: 'after', metadata: { replace: 'new', added: true } });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ kid: a.kid, name: 'after', metadata: { keep: 1, replace: 'new', added: true, creator: 'keyroot' }, expiration_date: null });
    const logs = await logsFor('service_key_modify', a.kid);
    expect(logs).toHaveLength(1);
    expect(logs[0].metadata).toMatchObject({ kid: a.kid, service: 'builder', name: 'after', expiration_date: null });
    expect(await logsFor('service_key_extend', a.kid)).toHaveLength(0);
    // Metadata alone keeps the name.
    expect((await putKey(a.kid, { metadata: { more: 1 } })).json()).toMatchObject({ name: 'after', metadata: { more: 1, keep: 1 } });
    expect((await logsFor('service_key_modify', a.kid)).at(-1)!.metadata).toMatchObject({ name: 'after' });
  });

  it('sets and clears the expiry (service_key_extend with old_expiration_date)', async () => {
    const a = await createOk({ name: 'ext' });
    const exp = nowS() + 7200;
    const res = await putKey(a.kid, { expiration: exp });
    expect(res.statusCode).toBe(200);
    expect(res.json().expiration_date).toBe(new Date(exp * 1000).toUTCString());
    expect((await putKey(a.kid, { expiration: null })).json().expiration_date).toBeNull();
    const logs = await logsFor('service_key_extend', a.kid);
    expect(logs.map((l) => l.metadata)).toEqual([
      expect.objectContaining({ kid: a.kid, service: 'builder', name: 'ext', old_expiration_date: null, expiration_date: exp }),
      expect.objectContaining({ old_expiration_date: exp, expiration_date: null }),
    ]);
    expect(await logsFor('service_key_modify', a.kid)).toHaveLength(0);
    // An empty body changes nothing and logs nothing.
    expect((await putKey(a.kid, {})).statusCode).toBe(200);
    expect(await logsFor('service_key_extend', a.kid)).toHaveLength(2);
  });

  it('refuses bad input with 400 before changing anything; unknown kid is 404', async () => {
    const a = await createOk({ name: 'stable' });
    const cases: [unknown, string | RegExp][] = [
      [{ expiration: nowS() - 1 }, 'Cannot have an expiration date in the past'],
      [{ expiration: '2030-01-01' }, /expiration/],
      [{ expiration: 9e15 }, /^Invalid expiration date/],
      // A bad name with a good expiry: Quay would already have moved the expiry; nothing moves here.
      [{ name: 'bad!', expiration: nowS() + 9000 }, 'Invalid service key friendly name: bad!'],
      [{ name: null }, /name/],
      [{ metadata: 'x' }, /metadata/],
      [{ metadata: { big: 'y'.repeat(20_000) } }, /^Metadata may not exceed/],
    ];
    for (const [body, detail] of cases) expectApiError(await putKey(a.kid, body), 400, detail);
    expect((await getKey(a.kid)).json()).toMatchObject({ name: 'stable', expiration_date: null });
    expect(await logsFor('service_key_extend', a.kid)).toHaveLength(0);
    expect(await logsFor('service_key_modify', a.kid)).toHaveLength(0);
    expectApiError(await putKey('no-such-kid', { name: 'x' }), 404, 'Not Found');
  });
});

describe('approveServiceKey', () => {
  async function pendingKey() {
    const kid = `pending-${Math.random().toString(36).slice(2)}`;
    await t.app.db
      .insertInto('service_key')
      .values({ kid, service: 'builder', name: 'awaiting', jwk: JSON.stringify({ kty: 'RSA', n: 'AQ', e: 'AQAB' }), private_key_enc: null, metadata: '{}', created_date: new Date(), expiration_date: null, rotation_duration: null, approval_type: null, approver_id: null, approved_date: null, approval_notes: null })
      .execute();
    return kid;
  }
  const approve = (kid: string, payload: unknown = {}) =>
    t.inject({ method: 'POST', url: `/api/v1/superuser/approvedkeys/${kid}`, headers: rootH, payload: payload as object });

  it('approves a pending key (201, empty body) and logs service_key_approve once', async () => {
    const kid = await pendingKey();
    const res = await approve(kid, { notes: 'looks right' });
    expect(res.statusCode).toBe(201);
    expect(res.body).toBe('');
    expect((await getKey(kid)).json().approval).toMatchObject({ approval_type: 'ServiceKeyApprovalType.SUPERUSER', notes: 'looks right', approver: { username: 'keyroot' } });
    expect((await logsFor('service_key_approve', kid)).map((l) => l.metadata)).toEqual([
      expect.objectContaining({ kid, service: 'builder', name: 'awaiting', expiration_date: null }),
    ]);
    // Approving again: 201, no change, no second entry.
    expect((await approve(kid, { notes: 'again' })).statusCode).toBe(201);
    expect((await getKey(kid)).json().approval.notes).toBe('looks right');
    expect(await logsFor('service_key_approve', kid)).toHaveLength(1);
  });

  it('404 for an unknown kid; 400 for a body that is not an object or bad notes', async () => {
    expectApiError(await approve('no-such-kid'), 404, 'Not Found');
    const kid = await pendingKey();
    const noBody = await t.inject({ method: 'POST', url: `/api/v1/superuser/approvedkeys/${kid}`, headers: rootH });
    expect(noBody.statusCode).toBe(400);
    expect((await approve(kid, { notes: 3 })).statusCode).toBe(400);
    expect((await getKey(kid)).json().approval).toBeNull();
  });
});

describe('deleteServiceKey', () => {
  it('deletes (204) and logs service_key_delete; then 404', async () => {
    const exp = nowS() + 5000;
    const a = await createOk({ name: 'doomed', expiration: exp });
    const created = (await t.app.db.selectFrom('service_key').select('created_date').where('kid', '=', a.kid).executeTakeFirstOrThrow()).created_date;
    const res = await t.inject({ method: 'DELETE', url: `/api/v1/superuser/keys/${a.kid}`, headers: rootH });
    expect(res.statusCode).toBe(204);
    expect(res.body).toBe('');
    expect((await getKey(a.kid)).statusCode).toBe(404);
    expect((await logsFor('service_key_delete', a.kid)).map((l) => l.metadata)).toEqual([
      expect.objectContaining({ kid: a.kid, service: 'builder', name: 'doomed', created_date: Math.floor(created.getTime() / 1000), expiration_date: exp }),
    ]);
    expectApiError(await t.inject({ method: 'DELETE', url: `/api/v1/superuser/keys/${a.kid}`, headers: rootH }), 404, 'Not Found');
  });

  it('collects the service\'s long-expired and long-unapproved keys, as Quay does', async () => {
    const a = await createOk({ service: 'gc_test' });
    const old = new Date(Date.now() - 8 * 86400_000);
    const base = { service: 'gc_test', name: '', jwk: '{}', private_key_enc: null, metadata: '{}', rotation_duration: null, approver_id: null, approved_date: null, approval_notes: null };
    await t.app.db.insertInto('service_key').values([
      { ...base, kid: 'gc-expired', created_date: old, expiration_date: old, approval_type: 'Automatic' },
      { ...base, kid: 'gc-unapproved', created_date: new Date(Date.now() - 2 * 86400_000), expiration_date: null, approval_type: null },
      { ...base, kid: 'gc-recent', created_date: new Date(), expiration_date: null, approval_type: null },
    ]).execute();
    expect((await t.inject({ method: 'DELETE', url: `/api/v1/superuser/keys/${a.kid}`, headers: rootH })).statusCode).toBe(204);
    const left = await t.app.db.selectFrom('service_key').select('kid').where('service', '=', 'gc_test').execute();
    expect(left.map((r) => r.kid)).toEqual(['gc-recent']);
  });
});

describe('who may call', () => {
  it('read-only superusers read but change nothing; others get 403; anonymous 401', async () => {
    const a = await createOk();
    const bob = await makeUser(t);
    const bobH = bearer(await tokenFor(t, bob, 'super:user user:admin'));
    const rootNoScope = bearer(await tokenFor(t, root, 'user:admin repo:admin org:admin'));
    const writes = [
      { method: 'POST' as const, url: '/api/v1/superuser/keys', payload: { service: 'x', expiration: null } },
      { method: 'PUT' as const, url: `/api/v1/superuser/keys/${a.kid}`, payload: { name: 'hijack' } },
      { method: 'POST' as const, url: `/api/v1/superuser/approvedkeys/${a.kid}`, payload: {} },
      { method: 'DELETE' as const, url: `/api/v1/superuser/keys/${a.kid}` },
    ];
    for (const w of writes) {
      for (const headers of [viewerH, bobH, rootNoScope]) expect((await t.inject({ ...w, headers })).statusCode, `${w.method} ${w.url}`).toBe(403);
      // Anonymous writes meet the CSRF check first (403), as everywhere in /api/v1.
      expect((await t.inject({ ...w, headers: {} })).statusCode).toBe(403);
    }
    for (const url of ['/api/v1/superuser/keys', `/api/v1/superuser/keys/${a.kid}`]) {
      expect((await t.inject({ url, headers: bobH })).statusCode).toBe(403);
      expect((await t.inject({ url, headers: rootNoScope })).statusCode).toBe(403);
      expect((await t.inject({ url })).statusCode).toBe(401);
    }
    expect((await getKey(a.kid)).json()).toMatchObject({ name: '', kid: a.kid });
  });

  it('a freshly signed-in superuser session may read and write', async () => {
    const s = await signIn(t, root);
    expect((await t.inject({ url: '/api/v1/superuser/keys', headers: s.headers })).statusCode).toBe(200);
    expect((await t.inject({ method: 'POST', url: '/api/v1/superuser/keys', headers: s.headers, payload: { service: 'fresh_ok', expiration: null } })).statusCode).toBe(200);
  });
});
