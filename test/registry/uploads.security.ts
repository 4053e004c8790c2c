// Security-matrix rows for blob uploads (registry-and-auth.md D.1, D.2): every upload route needs
// push, the status GET included. A mount also needs pull on its source (through the same token,
// or a public source): otherwise it falls back to an upload session (202), never a 201.
import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { digestOf } from '../helpers/registry.js';
import { octets, repoRows, SECRET_READERS, uploadPath, type Identity, type Row } from './matrix.js';

const EMPTY = { 'content-length': '0' };

/** A mount from `source` (public: readable by every live identity; secret: by ada only). */
function mountRows(source: 'public' | 'secret'): Row[] {
  const mounted = (id: Identity) => (source === 'public' || SECRET_READERS.includes(id) ? 201 : 202);
  return repoRows({
    method: 'POST', route: '/v2/:name/blobs/uploads/', title: `mount from mxorg/${source}`, scope: 'pull,push',
    // Who may push where is the `start` row's business; these rows are about the source.
    kinds: ['private', 'public', 'missingOwn', 'missingOther'],
    ok: mounted, created: (id) => [mounted(id)],
    extraScopes: () => [`repository:mxorg/${source}:pull`],
    request: async (c, t) => ({
      path: `/v2/${t.name}/blobs/uploads/?mount=${c.repos[source].image.layers[0].descriptor.digest}&from=mxorg/${source}`,
      headers: EMPTY,
    }),
    check: (res, c, t) => {
      const digest = c.repos[source].image.layers[0].descriptor.digest;
      if (res.statusCode === 201) expect(res.header('location')).toContain(`/v2/${t.name}/blobs/${digest}`);
      else expect(res.header('location')).toContain(`/v2/${t.name}/blobs/uploads/`);
    },
  });
}

export const rows: Row[] = [
  ...repoRows({
    method: 'POST', route: '/v2/:name/blobs/uploads/', title: 'start', scope: 'pull,push', ok: 202, created: [202],
    request: async (_c, t) => ({ path: `/v2/${t.name}/blobs/uploads/`, headers: EMPTY }),
    check: (res) => expect(res.header('docker-upload-uuid')).toMatch(/^[0-9a-f-]{36}$/),
  }),
  ...repoRows({
    method: 'POST', route: '/v2/:name/blobs/uploads/', title: 'monolithic', scope: 'pull,push', ok: 201, created: [201],
    request: async (_c, t) => {
      const body = randomBytes(48);
      return { path: `/v2/${t.name}/blobs/uploads/?digest=${digestOf(body)}`, headers: octets(body), body };
    },
  }),
  ...mountRows('public'),
  ...mountRows('secret'),
  ...repoRows({
    method: 'GET', route: '/v2/:name/blobs/uploads/:uuid', scope: 'pull,push', ok: 204, created: [404, 'BLOB_UPLOAD_UNKNOWN'],
    request: async (c, t) => ({ path: await uploadPath(c, t, false) }),
  }),
  ...repoRows({
    method: 'HEAD', route: '/v2/:name/blobs/uploads/:uuid', scope: 'pull,push', ok: 204, created: [404],
    request: async (c, t) => ({ path: await uploadPath(c, t, false) }),
  }),
  ...repoRows({
    method: 'PATCH', route: '/v2/:name/blobs/uploads/:uuid', scope: 'pull,push', ok: 202, created: [404, 'BLOB_UPLOAD_UNKNOWN'],
    request: async (c, t) => {
      const body = randomBytes(32);
      return { path: await uploadPath(c, t, true), headers: octets(body), body };
    },
  }),
  ...repoRows({
    method: 'PUT', route: '/v2/:name/blobs/uploads/:uuid', scope: 'pull,push', ok: 201, created: [404, 'BLOB_UPLOAD_UNKNOWN'],
    request: async (c, t) => {
      const body = randomBytes(32);
      const path = await uploadPath(c, t, true);
      return { path: `${path}${path.includes('?') ? '&' : '?'}digest=${digestOf(body)}`, headers: octets(body), body };
    },
  }),
  ...repoRows({
    method: 'DELETE', route: '/v2/:name/blobs/uploads/:uuid', scope: 'pull,push', ok: 204, created: [404, 'BLOB_UPLOAD_UNKNOWN'],
    request: async (c, t) => ({ path: await uploadPath(c, t, true) }),
  }),
];
