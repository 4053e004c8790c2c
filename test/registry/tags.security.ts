// Security-matrix rows for tags/list and referrers (registry-and-auth.md D.1, D.4, D.5): pull.
// Referrers of a name that does not exist (with pull granted) are an empty index, as the spec asks.
import { expect } from 'vitest';
import { repoRows, type Row } from './matrix.js';

export const rows: Row[] = [
  ...repoRows({
    method: 'GET', route: '/v2/:name/tags/list', scope: 'pull', ok: 200,
    request: async (_c, t) => ({ path: `/v2/${t.name}/tags/list` }),
    check: (res, _c, t) => {
      expect(res.json().name).toBe(t.name);
      expect(res.json().tags).toContain('latest');
    },
  }),
  ...repoRows({
    method: 'HEAD', route: '/v2/:name/tags/list', scope: 'pull', ok: 200,
    request: async (_c, t) => ({ path: `/v2/${t.name}/tags/list` }),
  }),
  ...repoRows({
    method: 'GET', route: '/v2/:name/referrers/:digest', scope: 'pull', ok: 200, missing: [200],
    request: async (_c, t) => ({ path: `/v2/${t.name}/referrers/${t.fixture.image.manifest.digest}` }),
    check: (res) => expect(res.json().manifests).toEqual([]),
  }),
  ...repoRows({
    method: 'HEAD', route: '/v2/:name/referrers/:digest', scope: 'pull', ok: 200, missing: [200],
    request: async (_c, t) => ({ path: `/v2/${t.name}/referrers/${t.fixture.image.manifest.digest}` }),
  }),
];
