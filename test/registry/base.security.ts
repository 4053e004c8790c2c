// Security-matrix rows for the routes outside a repository: GET/HEAD /v2/ (registry-and-auth.md C.6)
// and /v2/_catalog (D.4). Both take any valid token (a login token, with an empty `access`); an
// anonymous client without a token is refused /v2/ but sees an empty catalogue (FEATURE_ANONYMOUS_ACCESS
// on, FEATURE_PUBLIC_CATALOG off). The catalogue lists exactly what the caller may read.
import { expect } from 'vitest';
import { all, bearer, challenge, READERS, SECRET_READERS, type Ctx, type Identity, type Row } from './matrix.js';

const PING = all(200, { anonymous: 401, disabledUser: 401, deletedRobot: 401 });

function ping(method: 'GET' | 'HEAD', route: string, url: string): Row {
  return {
    method, route, title: url, expect: PING,
    request: async (c, id) => ({ url, headers: bearer(await c.loginToken(id)) }),
    check: (res) => {
      // The challenge is sent on success too, without a scope (C.6).
      expect(res.header('www-authenticate')).toBe(challenge());
      if (method === 'GET' && res.statusCode === 200) expect(res.text).toBe('true');
    },
  };
}

/** The fixture repositories an identity's catalogue holds. */
function visible(c: Ctx, id: Identity): string[] {
  const names = READERS.includes(id) ? ['private', 'public', 'readOnly', 'readOnlyPublic'].map((k) => c.repos[k as 'private'].name) : [];
  if (SECRET_READERS.includes(id)) names.push(c.repos.secret.name);
  return names.sort();
}

const CATALOG = all(200, { disabledUser: 401, deletedRobot: 401 });

export const rows: Row[] = [
  ping('GET', '/v2', '/v2/'),
  ping('GET', '/v2', '/v2'),
  ping('HEAD', '/v2/', '/v2/'),
  ping('HEAD', '/v2', '/v2'),
  {
    method: 'GET', route: '/v2/_catalog', title: '', expect: CATALOG,
    request: async (c, id) => ({ url: '/v2/_catalog', headers: bearer(await c.loginToken(id)) }),
    check: (res, c, id) => {
      if (res.statusCode !== 200) return;
      // Repositories created by other rows in the callers' own namespaces are left out of the comparison.
      const mine = (res.json().repositories as string[]).filter((n) => n.startsWith(`${c.org.username}/`)).sort();
      expect(mine).toEqual(visible(c, id));
    },
  },
  {
    method: 'HEAD', route: '/v2/_catalog', title: '', expect: CATALOG,
    request: async (c, id) => ({ url: '/v2/_catalog', headers: bearer(await c.loginToken(id)) }),
  },
];
