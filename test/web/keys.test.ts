// Quay's key server (/keys/services/<service>/keys): the JWKS of approved, unexpired keys, and one
// key with Quay's statuses (quay/quay:endpoints/keyserver/__init__.py).
import { createPublicKey, sign, verify, type JsonWebKey } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INSTANCE_KEY_SERVICE } from '../../src/registry/service-keys.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { bearer, makeUser, tokenFor } from '../helpers/factories.js';

let t: TestApp;
let rootH: Record<string, string>;
beforeAll(async () => {
  t = await testApp({ SUPER_USERS: 'jwksroot' });
  rootH = bearer(await tokenFor(t, await makeUser(t, { username: 'jwksroot' }), 'super:user'));
});
afterAll(() => t?.close());

async function createKey(service: string, expiration: number | null = null) {
  const res = await t.inject({ method: 'POST', url: '/api/v1/superuser/keys', headers: rootH, payload: { service, expiration } });
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as { kid: string; private_key: string; public_key: string };
}

async function insertRaw(service: string, kid: string, o: { approved: boolean; expires: Date | null }) {
  await t.app.db
    .insertInto('service_key')
    .values({
      kid, service, name: '', jwk: JSON.stringify({ kty: 'RSA', n: 'AQ', e: 'AQAB', kid }), private_key_enc: null, metadata: '{}', created_date: new Date(),
      expiration_date: o.expires, rotation_duration: null, approval_type: o.approved ? 'Automatic' : null, approver_id: null,
      approved_date: o.approved ? new Date() : null, approval_notes: o.approved ? '' : null,
    })
    .execute();
}

describe('GET /keys/services/:service/keys', () => {
  it('publishes the approved, unexpired keys of the service, with their kid, and nothing private', async () => {
    const a = await createKey('jwks_svc');
    const b = await createKey('jwks_svc', Math.floor(Date.now() / 1000) + 3600);
    await insertRaw('jwks_svc', 'jwks-unapproved', { approved: false, expires: null });
    await insertRaw('jwks_svc', 'jwks-expired', { approved: true, expires: new Date(Date.now() - 1000) });
    const other = await createKey('jwks_other');
    const res = await t.inject('/keys/services/jwks_svc/keys');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const keys = res.json().keys as (JsonWebKey & { kid: string })[];
    expect(keys.map((k) => k.kid).sort()).toEqual([a.kid, b.kid].sort());
    expect(JSON.stringify(keys)).not.toMatch(/"d"|"p"|"q"|PRIVATE/);
    // Each published JWK verifies what its private half signs.
    const jwk = keys.find((k) => k.kid === a.kid)!;
    const sig = sign('sha256', Buffer.from('hello'), a.private_key);
    expect(verify('sha256', Buffer.from('hello'), createPublicKey({ key: jwk, format: 'jwk' }), sig)).toBe(true);
    expect((await t.inject('/keys/services/jwks_other/keys')).json().keys.map((k: { kid: string }) => k.kid)).toEqual([other.kid]);
    expect((await t.inject('/keys/services/nobody/keys')).json()).toEqual({ keys: [] });
  });

  it('publishes the instance key that signs registry tokens', async () => {
    const row = await t.app.db.selectFrom('service_key').select(['kid', 'jwk']).where('service', '=', INSTANCE_KEY_SERVICE).executeTakeFirstOrThrow();
    const keys = (await t.inject(`/keys/services/${INSTANCE_KEY_SERVICE}/keys`)).json().keys as { kid: string }[];
    expect(keys).toContainEqual({ ...(row.jwk as object), kid: row.kid });
  });

  it('drops a key once a superuser deletes it', async () => {
    const a = await createKey('jwks_del');
    expect((await t.inject('/keys/services/jwks_del/keys')).json().keys).toHaveLength(1);
    expect((await t.inject({ method: 'DELETE', url: `/api/v1/superuser/keys/${a.kid}`, headers: rootH })).statusCode).toBe(204);
    expect((await t.inject('/keys/services/jwks_del/keys')).json().keys).toEqual([]);
  });
});

describe('GET /keys/services/:service/keys/:kid', () => {
  it('answers the JWK, cacheable for a day at most, or until the key expires', async () => {
    const forever = await createKey('jwk_one');
    const res = await t.inject(`/keys/services/jwk_one/keys/${forever.kid}`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ kty: 'RSA', e: 'AQAB', kid: forever.kid });
    expect(res.headers['cache-control']).toBe('max-age=86400');
    const pem = createPublicKey({ key: res.json() as JsonWebKey, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
    expect(pem).toBe(forever.public_key);

    const soon = await createKey('jwk_one', Math.floor(Date.now() / 1000) + 600);
    const maxAge = Number(/^max-age=(\d+)$/.exec(String((await t.inject(`/keys/services/jwk_one/keys/${soon.kid}`)).headers['cache-control']))![1]);
    expect(maxAge).toBeGreaterThan(590);
    expect(maxAge).toBeLessThanOrEqual(600);
  });

  it('404 for an unknown kid (or another service\'s), 409 while unapproved, 403 once expired', async () => {
    expect((await t.inject('/keys/services/jwk_two/keys/no-such-kid')).statusCode).toBe(404);
    const a = await createKey('jwk_two');
    expect((await t.inject(`/keys/services/elsewhere/keys/${a.kid}`)).statusCode).toBe(404);
    await insertRaw('jwk_two', 'jwk-pending', { approved: false, expires: null });
    expect((await t.inject('/keys/services/jwk_two/keys/jwk-pending')).statusCode).toBe(409);
    await insertRaw('jwk_two', 'jwk-expired', { approved: true, expires: new Date(Date.now() - 1000) });
    expect((await t.inject('/keys/services/jwk_two/keys/jwk-expired')).statusCode).toBe(403);
    // Approving the pending key publishes it.
    expect((await t.inject({ method: 'POST', url: '/api/v1/superuser/approvedkeys/jwk-pending', headers: rootH, payload: {} })).statusCode).toBe(201);
    expect((await t.inject('/keys/services/jwk_two/keys/jwk-pending')).statusCode).toBe(200);
  });

  it('serves no PUT or DELETE (a service publishing its own key is not supported)', async () => {
    const a = await createKey('jwk_three');
    for (const method of ['PUT', 'DELETE'] as const) {
      expect((await t.inject({ method, url: `/keys/services/jwk_three/keys/${a.kid}`, payload: {} })).statusCode).toBe(404);
    }
    expect((await t.inject(`/keys/services/jwk_three/keys/${a.kid}`)).statusCode).toBe(200);
  });
});
