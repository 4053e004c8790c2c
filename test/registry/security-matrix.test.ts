// The /v2 security matrix: every row of test/registry/*.security.ts, for every identity of
// matrix.ts, against one fixture (buildFixture). A second test fails when a /v2 route the app serves
// has no row, or a row names a route the app does not serve. What every answer must satisfy:
//   - the expected status; never 403 for a missing permission (registry-and-auth.md E.4);
//   - `Docker-Distribution-API-Version: registry/2.0`;
//   - a 401 carries UNAUTHORIZED and the challenge — with the scope the client must ask for on a
//     repository route (`repository:<name>:pull` or `pull,push`), without one elsewhere, and (for a
//     live caller) the same message whether the repository exists or not;
//   - other errors carry no challenge, and the error code the row names.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config.js';
import { testApp, type TestApp } from '../helpers/app.js';
import type { Headers, RegistryResponse } from '../helpers/registry.js';
import { buildFixture, challenge, DEAD, IDENTITIES, type Ctx, type Row } from './matrix.js';

const modules = import.meta.glob<{ rows: Row[]; config?: Partial<ConfigInput> }>('./*.security.ts', { eager: true });
const ROWS: Row[] = Object.values(modules).flatMap((m) => m.rows);
// changeRepoState (used to make the READ_ONLY fixtures) is registered only with FEATURE_REPO_MIRROR.
const CONFIG: Partial<ConfigInput> = Object.assign({ FEATURE_REPO_MIRROR: 'true' }, ...Object.values(modules).map((m) => m.config ?? {}));

let t: TestApp;
let ctx: Ctx;
beforeAll(async () => {
  t = await testApp(CONFIG);
  ctx = await buildFixture(t);
}, 60_000);
afterAll(() => t?.close());

function asResponse(res: { statusCode: number; headers: Record<string, unknown>; rawPayload: Buffer }): RegistryResponse {
  const text = res.rawPayload.toString('utf8');
  const headers = res.headers as Headers;
  return {
    statusCode: res.statusCode,
    headers,
    body: res.rawPayload,
    text,
    json: () => JSON.parse(text),
    header: (name) => {
      const v = headers[name.toLowerCase()];
      return Array.isArray(v) ? v.join(', ') : v;
    },
  };
}

describe('/v2 security matrix', () => {
  it('has rows for every /v2 route the app serves, and only for those', () => {
    const served = new Set(t.app.routeTable.filter((r) => r.url === '/v2' || r.url.startsWith('/v2/')).map((r) => `${r.method} ${r.url}`));
    const covered = new Set(ROWS.map((r) => `${r.method} ${r.route}`));
    expect([...served].filter((k) => !covered.has(k)), 'routes without security-matrix rows').toEqual([]);
    expect([...covered].filter((k) => !served.has(k)), 'rows for routes that are not served').toEqual([]);
  });

  for (const row of ROWS) {
    it.each(IDENTITIES.map((id) => [id, row.expect[id]] as const))(`${row.method} ${row.route} ${row.title} as %s → %i`, async (identity, status) => {
      const req = await row.request(ctx, identity);
      const raw = await t.inject({ method: row.method, url: req.url, headers: req.headers, payload: req.body, remoteAddress: req.remoteAddress });
      const res = asResponse(raw);
      expect(res.statusCode, `${row.method} ${req.url}: ${res.text.slice(0, 300)}`).toBe(status);
      expect(res.header('docker-distribution-api-version')).toBe('registry/2.0');
      const code = status === 401 ? 'UNAUTHORIZED' : row.codes?.[status];
      if (code && row.method !== 'HEAD') expect(res.json().errors?.[0]?.code, res.text).toBe(code);
      if (status === 401) expect(res.header('www-authenticate')).toBe(challenge(req.challengeScope));
      else if (status >= 400) expect(res.header('www-authenticate'), 'a challenge on a non-401 error').toBeUndefined();
      // A live caller refused on a repository learns nothing more: the same message whether the name exists or not.
      if (status === 401 && req.challengeScope && row.method !== 'HEAD' && !DEAD.includes(identity)) {
        expect(res.json().errors[0].message).toBe('access to the requested resource is not authorized');
      }
      await row.check?.(res, ctx, identity, req);
    });
  }
});
