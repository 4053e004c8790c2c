// Rotation of the instance key that signs registry tokens (src/registry/service-keys.ts): a new key
// signs, the old one verifies until it expires. Time is moved with a fake Date (timers stay real).
import { createPublicKey, verify, type JsonWebKey } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { INSTANCE_KEY_SERVICE } from '../../src/registry/service-keys.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { auditRows, bearer, makeUser, tokenFor, uniqueName, type TestUser } from '../helpers/factories.js';
import { makeImage, RegistryClient, registryToken, repoScope } from '../helpers/registry.js';

const MIN = 60_000;
let t: TestApp;
let alice: TestUser;
let rootH: Record<string, string>;
/** The fake clock: it only moves forward, across tests too (the app's once-a-minute check relies on it). */
let clock = Date.now();

/** Moves the fake clock forward. */
function advance(ms: number) {
  clock += ms;
  vi.setSystemTime(clock);
}

beforeAll(async () => {
  t = await testApp({ SUPER_USERS: 'rotroot' });
  alice = await makeUser(t);
  rootH = bearer(await tokenFor(t, await makeUser(t, { username: 'rotroot' }), 'super:user'));
});
afterAll(() => t?.close());
beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  clock = Math.max(clock, Date.now());
  vi.setSystemTime(clock);
});
afterEach(() => vi.useRealTimers());

function header(token: string): { kid: string; alg: string } {
  return JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString());
}

/** Whether the JWT's RS256 signature verifies against the JWK of its kid in `jwks`. */
function verifiesAgainst(token: string, jwks: { keys: (JsonWebKey & { kid: string })[] }): boolean {
  const [h, p, s] = token.split('.');
  const jwk = jwks.keys.find((k) => k.kid === header(token).kid);
  if (!jwk) return false;
  return verify('sha256', Buffer.from(`${h}.${p}`), createPublicKey({ key: jwk, format: 'jwk' }), Buffer.from(s, 'base64url'));
}

async function jwks(app: TestApp = t) {
  const res = await app.inject(`/keys/services/${INSTANCE_KEY_SERVICE}/keys`);
  expect(res.statusCode).toBe(200);
  return res.json() as { keys: (JsonWebKey & { kid: string })[] };
}

const instanceRows = (app: TestApp = t) =>
  app.app.db.selectFrom('service_key').selectAll().where('service', '=', INSTANCE_KEY_SERVICE).orderBy('id').execute();

/** Pushes a fresh image with the token, then pulls its manifest; returns the statuses. */
async function pushAndPull(token: string, name: string, app: TestApp = t): Promise<{ push: number; pull: number }> {
  const c = RegistryClient.inject(app, token);
  const image = makeImage();
  for (const b of image.blobs) {
    const res = await c.request('POST', `/v2/${name}/blobs/uploads/?digest=${b.descriptor.digest}`, {
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(b.bytes.length) },
      body: b.bytes,
    });
    if (res.statusCode !== 201) return { push: res.statusCode, pull: 0 };
  }
  const put = await c.putManifest(name, 'latest', image.manifest);
  const pull = await c.request('GET', `/v2/${name}/manifests/${image.manifest.digest}`, { headers: { accept: image.manifest.mediaType } });
  return { push: put.statusCode, pull: pull.statusCode };
}

describe('instance key rotation', () => {
  it('a key expires 120 minutes after it is made (INSTANCE_SERVICE_KEY_EXPIRATION) and is approved automatically', async () => {
    const [row] = await instanceRows();
    expect(row.approval_type).toBe('Automatic');
    expect(row.expiration_date!.getTime() - row.created_date.getTime()).toBe(120 * MIN);
  });

  it('an administrator expiring the signing key: a new key signs, the old one verifies until its expiry', async () => {
    const name = `${alice.username}/${uniqueName('rot')}`;
    const tokenA = await registryToken(t, alice, repoScope(name));
    const kidA = header(tokenA).kid;
    expect(await pushAndPull(tokenA, name)).toEqual({ push: 201, pull: 200 });

    // Expire A in 30 minutes: too soon to sign an hour-long token with it.
    const expiresA = Math.floor(clock / 1000) + 30 * 60;
    const put = await t.inject({ method: 'PUT', url: `/api/v1/superuser/keys/${kidA}`, headers: rootH, payload: { expiration: expiresA } });
    expect(put.statusCode, put.body).toBe(200);
    // This process sees the change at its next check of the row (at most a minute later).
    advance(61_000);
    const tokenB = await registryToken(t, alice, repoScope(name));
    const kidB = header(tokenB).kid;
    expect(kidB).not.toBe(kidA);
    const rowB = (await instanceRows()).find((r) => r.kid === kidB)!;
    expect(rowB).toMatchObject({ approval_type: 'Key Rotation', metadata: { created_by: 'Key Rotation' } });
    expect(rowB.private_key_enc).toMatch(/^v1\./);
    expect(rowB.expiration_date!.getTime()).toBe(clock + 120 * MIN);
    const rotated = (await auditRows(t, 'service_key_rotate')).filter((r) => (r.metadata as { kid: string }).kid === kidB);
    expect(rotated.map((r) => r.metadata)).toEqual([
      { kid: kidB, signer_kid: kidA, service: 'quay', name: 'Instance key', expiration_date: Math.floor(rowB.expiration_date!.getTime() / 1000) },
    ]);
    // The API shows the literal approval type Quay's UIs expect.
    expect((await t.inject({ url: `/api/v1/superuser/keys/${kidB}`, headers: rootH })).json().approval.approval_type).toBe('ServiceKeyApprovalType.KEY_ROTATION');

    // Both keys are published, and each token's signature checks out against the published set.
    const set = await jwks();
    expect(set.keys.map((k) => k.kid)).toEqual(expect.arrayContaining([kidA, kidB]));
    expect(verifiesAgainst(tokenA, set)).toBe(true);
    expect(verifiesAgainst(tokenB, set)).toBe(true);
    expect(verifiesAgainst(tokenA, { keys: set.keys.filter((k) => k.kid !== kidA).map((k) => ({ ...k, kid: kidA })) })).toBe(false);

    // A's token still works until A expires; B's too.
    expect(await pushAndPull(tokenA, name)).toEqual({ push: 201, pull: 200 });
    expect(await pushAndPull(tokenB, name)).toEqual({ push: 201, pull: 200 });
    // The next token is signed by B too: no new key per request.
    expect(header(await registryToken(t, alice, repoScope(name))).kid).toBe(kidB);

    // Past A's expiry (A's token itself would still have half an hour to run): refused.
    advance(30 * MIN);
    const refused = await RegistryClient.inject(t, tokenA).request('GET', '/v2/');
    expect(refused.statusCode).toBe(401);
    expect(refused.json().errors[0].message).toBe('Unknown service key');
    expect(await pushAndPull(tokenB, name)).toEqual({ push: 201, pull: 200 });
    const after = await jwks();
    expect(after.keys.map((k) => k.kid)).not.toContain(kidA);
    expect(verifiesAgainst(tokenB, after)).toBe(true);
  });

  it('rotates on its own after 55 minutes of signing (INSTANCE_SERVICE_KEY_REFRESH), without a database read per token', async () => {
    // A server of its own, whose key is made now.
    const own = await testApp();
    try {
      const bob = await makeUser(own);
      const name = `${bob.username}/${uniqueName('auto')}`;
      const [row] = await instanceRows(own);
      expect(row.created_date.getTime()).toBe(clock);
      const tokenA = await registryToken(own, bob, repoScope(name));
      const first = header(tokenA).kid;
      expect(first).toBe(row.kid);

      // Within the minute between checks the row is not read again: a change made behind this
      // process's back (directly in the database) is not seen yet.
      advance(61_000);
      expect(header(await registryToken(own, bob, repoScope(name))).kid).toBe(first); // checked: fine
      await own.app.db.updateTable('service_key').set({ approval_type: null }).where('kid', '=', first).execute();
      advance(30_000);
      expect(header(await registryToken(own, bob, repoScope(name))).kid).toBe(first);
      await own.app.db.updateTable('service_key').set({ approval_type: 'Automatic' }).where('kid', '=', first).execute();

      advance(53 * MIN); // 54.5 minutes after the key was made: checked again, still usable
      expect(header(await registryToken(own, bob, repoScope(name))).kid).toBe(first);
      advance(MIN); // 55.5 minutes: due, though the last check was a minute ago
      const tokenB = await registryToken(own, bob, repoScope(name));
      const second = header(tokenB).kid;
      expect(second).not.toBe(first);
      expect((await instanceRows(own)).find((r) => r.kid === second)).toMatchObject({ approval_type: 'Key Rotation' });
      expect(await pushAndPull(tokenA, name, own)).toEqual({ push: 201, pull: 200 });
      expect(await pushAndPull(tokenB, name, own)).toEqual({ push: 201, pull: 200 });
      const set = await jwks(own);
      expect(verifiesAgainst(tokenA, set) && verifiesAgainst(tokenB, set)).toBe(true);

      // Past A's expiry (two hours after it was made): A's token is refused, a new token works.
      advance(65 * MIN);
      expect((await RegistryClient.inject(own, tokenA).request('GET', '/v2/')).statusCode).toBe(401);
      expect((await jwks(own)).keys.map((k) => k.kid)).not.toContain(first);
      const tokenC = await registryToken(own, bob, repoScope(name));
      expect(header(tokenC).kid).not.toBe(first);
      expect(await pushAndPull(tokenC, name, own)).toEqual({ push: 201, pull: 200 });
    } finally {
      await own.close();
    }
  });

  it('processes sharing the database rotate to one new key, and a restart keeps using it', async () => {
    const name = `${alice.username}/${uniqueName('multi')}`;
    const [a, b] = [await testApp({}, t.database), await testApp({}, t.database)];
    try {
      const current = header(await registryToken(t, alice, repoScope(name))).kid;
      for (const app of [a, b]) expect(header(await registryToken(app, alice, repoScope(name))).kid).toBe(current);
      const before = (await instanceRows()).length;
      // All three are due at once: 56 minutes after the current key was made.
      const created = (await instanceRows()).find((r) => r.kid === current)!.created_date.getTime();
      advance(Math.max(0, created + 56 * MIN - clock));
      const kids = await Promise.all([t, a, b].map(async (app) => header(await registryToken(app, alice, repoScope(name))).kid));
      expect(new Set(kids).size).toBe(1);
      expect(kids[0]).not.toBe(current);
      expect(await instanceRows()).toHaveLength(before + 1);

      const restarted = await testApp({}, t.database);
      try {
        expect(header(await registryToken(restarted, alice, repoScope(name))).kid).toBe(kids[0]);
        expect(await instanceRows()).toHaveLength(before + 1);
      } finally {
        await restarted.app.close();
      }
    } finally {
      await a.app.close();
      await b.app.close();
    }
  });

  it('after deletion of every instance key, a new one starts afresh (Automatic, no rotation entry)', async () => {
    const name = `${alice.username}/${uniqueName('del')}`;
    const rotations = (await auditRows(t, 'service_key_rotate')).length;
    for (const row of await instanceRows()) {
      expect((await t.inject({ method: 'DELETE', url: `/api/v1/superuser/keys/${row.kid}`, headers: rootH })).statusCode).toBe(204);
    }
    advance(61_000);
    const kid = header(await registryToken(t, alice, repoScope(name))).kid;
    const rows = await instanceRows();
    expect(rows.map((r) => r.kid)).toEqual([kid]);
    expect(rows[0].approval_type).toBe('Automatic');
    expect(await auditRows(t, 'service_key_rotate')).toHaveLength(rotations);
  });
});
