import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp, type TestApp } from '../helpers/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await testApp({ SUPER_USERS: 'root' });
});
afterAll(() => t?.close());

describe('GET /config', () => {
  it('serves the public client configuration, advertising only what this server does', async () => {
    const res = await t.inject('/config');
    expect(res.statusCode).toBe(200);
    const c = res.json();
    expect(c).toMatchObject({ registry_state: 'normal', account_recovery_mode: false, external_login: [] });
    expect(c.config).toMatchObject({ SERVER_HOSTNAME: 'localhost:8080', PREFERRED_URL_SCHEME: 'http', AUTHENTICATION_TYPE: 'Database', LOCAL_OAUTH_HANDLER: '/oauth/localapp' });
    expect(c.features).toMatchObject({ DIRECT_LOGIN: true, USER_CREATION: true, MAILING: false, BUILD_SUPPORT: false, PROGRAMMATIC_BOOTSTRAP: false });
    expect(JSON.stringify(c)).not.toMatch(/secret/i);
  });
});

describe('health', () => {
  it('answers /health/instance and /health with every service true', async () => {
    for (const url of ['/health/instance', '/health']) {
      const res = await t.inject(url);
      expect(res.statusCode).toBe(200);
      expect(res.headers['cache-control']).toBe('no-cache, no-store, must-revalidate');
      expect(res.json()).toEqual({
        data: { services: { auth: true, database: true, disk_space: true, registry_gunicorn: true, service_key: true, web_gunicorn: true } },
        status_code: 200,
      });
    }
  });

  it('answers /health/endtoend and /status', async () => {
    for (const url of ['/health/endtoend', '/status']) {
      const res = await t.inject(url);
      expect(res.statusCode).toBe(200);
      expect(res.json().data.services).toEqual({ auth: true, database: true, redis: true, storage: true });
    }
  });

  it('answers the pings', async () => {
    for (const url of ['/_internal_ping', '/v1/_internal_ping']) expect((await t.inject(url)).body).toBe('true');
  });

  it('reports 503 when the database is gone', async () => {
    const broken = await testApp();
    await broken.database.close();
    try {
      const res = await broken.inject('/health/instance');
      expect(res.statusCode).toBe(503);
      expect(res.json()).toMatchObject({ status_code: 503, data: { services: { database: false } } });
    } finally {
      await broken.app.close();
    }
  });
});
