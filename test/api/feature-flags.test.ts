// Configuration switches that change endpoint behaviour.
import { describe, expect, it } from 'vitest';
import { testApp } from '../helpers/app.js';
import { bearer, makeOrg, makeUser, tokenFor } from '../helpers/factories.js';

describe('feature switches', () => {
  it('ROBOTS_DISALLOW refuses robot creation and FEATURE_PARTIAL_USER_AUTOCOMPLETE=false matches names exactly', async () => {
    const t = await testApp({ ROBOTS_DISALLOW: 'true', FEATURE_PARTIAL_USER_AUTOCOMPLETE: 'false' });
    try {
      const u = await makeUser(t, { username: 'flagsowner' });
      const h = bearer(await tokenFor(t, u, 'user:admin org:admin repo:read'));
      const robot = await t.inject({ method: 'PUT', url: '/api/v1/user/robots/builder', headers: h });
      expect(robot.statusCode).toBe(400);
      expect(robot.json()).toMatchObject({ message: 'Robot accounts have been disabled. Please contact your administrator.' });
      expect(await t.app.db.selectFrom('namespace').select('id').where('username', '=', 'flagsowner+builder').executeTakeFirst()).toBeUndefined();

      const prefix = await t.inject({ url: '/api/v1/entities/flagsown', headers: h });
      expect(prefix.json().results.map((r: { name: string }) => r.name)).not.toContain('flagsowner');
      const exact = await t.inject({ url: '/api/v1/entities/flagsowner', headers: h });
      expect(exact.json().results.map((r: { name: string }) => r.name)).toContain('flagsowner');
    } finally {
      await t.close();
    }
  });

  it('TAG_EXPIRATION_OPTIONS limits the org time-machine window; FEATURE_CHANGE_TAG_EXPIRATION=false ignores it', async () => {
    const t = await testApp({ TAG_EXPIRATION_OPTIONS: '0s,3d' });
    const off = await testApp({ FEATURE_CHANGE_TAG_EXPIRATION: 'false' });
    try {
      const u = await makeUser(t);
      const org = await makeOrg(t, [u]);
      const h = bearer(await tokenFor(t, u, 'org:admin'));
      expect((await t.inject({ method: 'PUT', url: `/api/v1/organization/${org.username}`, headers: h, payload: { tag_expiration_s: 259200 } })).json().tag_expiration_s).toBe(259200);
      const bad = await t.inject({ method: 'PUT', url: `/api/v1/organization/${org.username}`, headers: h, payload: { tag_expiration_s: 86400 } });
      expect(bad.statusCode).toBe(400);
      expect(bad.json()).toMatchObject({ message: 'Invalid tag expiration option' });
      expect((await t.inject('/config')).json().config.TAG_EXPIRATION_OPTIONS).toEqual(['0s', '3d']);

      const u2 = await makeUser(off);
      const org2 = await makeOrg(off, [u2]);
      const h2 = bearer(await tokenFor(off, u2, 'org:admin'));
      const ignored = await off.inject({ method: 'PUT', url: `/api/v1/organization/${org2.username}`, headers: h2, payload: { tag_expiration_s: 0 } });
      expect(ignored.statusCode).toBe(200);
      expect(ignored.json().tag_expiration_s).toBe(1209600);
    } finally {
      await t.close();
      await off.close();
    }
  });
});
