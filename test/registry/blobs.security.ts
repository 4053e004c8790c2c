// Security-matrix rows for blobs (registry-and-auth.md D.1): HEAD/GET need pull, DELETE needs push.
import { expect } from 'vitest';
import { digestOf } from '../helpers/registry.js';
import { freshBlob, repoRows, type Row } from './matrix.js';

export const rows: Row[] = [
  ...repoRows({
    method: 'GET', route: '/v2/:name/blobs/:digest', scope: 'pull', ok: 200,
    request: async (_c, t) => ({ path: `/v2/${t.name}/blobs/${t.fixture.image.layers[0].descriptor.digest}` }),
    check: (res, _c, t) => expect(res.body.equals(t.fixture.image.layers[0].bytes)).toBe(true),
  }),
  ...repoRows({
    method: 'HEAD', route: '/v2/:name/blobs/:digest', scope: 'pull', ok: 200,
    request: async (_c, t) => ({ path: `/v2/${t.name}/blobs/${t.fixture.image.layers[0].descriptor.digest}` }),
    check: (res, _c, t) => expect(res.header('docker-content-digest')).toBe(t.fixture.image.layers[0].descriptor.digest),
  }),
  ...repoRows({
    // An unreferenced blob of this repository: unlinked (202). A new, empty repository lacks it.
    method: 'DELETE', route: '/v2/:name/blobs/:digest', scope: 'pull,push', ok: 202, created: [404, 'BLOB_UNKNOWN'],
    request: async (c, t) => {
      const digest = t.prepare ? await freshBlob(c, t.name) : t.kind.startsWith('missing') ? digestOf(t.name) : t.fixture.image.layers[0].descriptor.digest;
      return { path: `/v2/${t.name}/blobs/${digest}` };
    },
  }),
];
