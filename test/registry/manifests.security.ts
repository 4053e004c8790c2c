// Security-matrix rows for manifests (registry-and-auth.md D.1, D.3): GET/HEAD need pull; PUT and
// DELETE (by tag or digest) need push — a writer may delete, as in Quay.
import { expect } from 'vitest';
import { uniqueName } from '../helpers/factories.js';
import { OCI_MANIFEST } from '../helpers/registry.js';
import { freshManifest, repoRows, type Row } from './matrix.js';

const ACCEPT = { accept: OCI_MANIFEST };

export const rows: Row[] = [
  ...repoRows({
    method: 'GET', route: '/v2/:name/manifests/:reference', title: 'by tag', scope: 'pull', ok: 200,
    request: async (_c, t) => ({ path: `/v2/${t.name}/manifests/latest`, headers: ACCEPT }),
    check: (res, _c, t) => expect(res.body.equals(t.fixture.image.manifest.bytes)).toBe(true),
  }),
  ...repoRows({
    method: 'GET', route: '/v2/:name/manifests/:reference', title: 'by digest', scope: 'pull', ok: 200,
    request: async (_c, t) => ({ path: `/v2/${t.name}/manifests/${t.fixture.image.manifest.digest}`, headers: ACCEPT }),
    check: (res, _c, t) => expect(res.header('docker-content-digest')).toBe(t.fixture.image.manifest.digest),
  }),
  ...repoRows({
    method: 'HEAD', route: '/v2/:name/manifests/:reference', scope: 'pull', ok: 200,
    request: async (_c, t) => ({ path: `/v2/${t.name}/manifests/latest`, headers: ACCEPT }),
    check: (res, _c, t) => expect(res.header('docker-content-digest')).toBe(t.fixture.image.manifest.digest),
  }),
  ...repoRows({
    // A new manifest over blobs the repository holds; a repository just created holds none.
    method: 'PUT', route: '/v2/:name/manifests/:reference', scope: 'pull,push', ok: 201, created: [400],
    request: async (_c, t) => {
      const m = freshManifest(t.fixture);
      return { path: `/v2/${t.name}/manifests/${uniqueName('t')}`, headers: { 'content-type': m.mediaType }, body: m.bytes };
    },
  }),
  ...repoRows({
    method: 'DELETE', route: '/v2/:name/manifests/:reference', title: 'by digest', scope: 'pull,push', ok: 202, created: [404, 'MANIFEST_UNKNOWN'],
    request: async (c, t) => {
      let digest = t.fixture.image.manifest.digest;
      if (t.prepare) {
        const m = freshManifest(t.fixture);
        await c.setup.pushManifest(t.name, m, uniqueName('t'));
        digest = m.digest;
      }
      return { path: `/v2/${t.name}/manifests/${digest}` };
    },
  }),
  ...repoRows({
    method: 'DELETE', route: '/v2/:name/manifests/:reference', title: 'by tag', scope: 'pull,push', ok: 202, created: [404, 'MANIFEST_UNKNOWN'],
    request: async (c, t) => {
      let tag = 'latest';
      if (t.prepare) {
        tag = uniqueName('t');
        await c.setup.pushManifest(t.name, t.fixture.image.manifest, tag);
      }
      return { path: `/v2/${t.name}/manifests/${tag}` };
    },
  }),
];
