// Security-matrix rows for GET /v2/auth (registry-and-auth.md B, C): each credential kind logs in
// (or not), each scope is granted or silently downscoped (always 200, `actions` reduced, in the
// order push, pull, *), bad scopes are 400, bad or dead credentials 401 with a challenge without scope.
import { expect } from 'vitest';
import { findRepositoryByPath } from '../../src/db/repositories.js';
import { uniqueName } from '../helpers/factories.js';
import {
  all,
  authUrl,
  decodeJwt,
  OWN_CREATORS,
  OWN_READERS,
  READERS,
  WRITERS,
  type Ctx,
  type Identity,
  type RepoKind,
  type Row,
} from './matrix.js';

const basic = (c: Ctx, id: Identity): Record<string, string> => {
  const h = c.credentials(id);
  return h ? { authorization: h } : {};
};

/** Who each credential stands for. */
function subject(c: Ctx, id: Identity): { sub: string; kind: string } {
  const u = c.users;
  const table: Partial<Record<Identity, { sub: string; kind: string }>> = {
    reader: { sub: u.rita.username, kind: 'user' },
    writer: { sub: u.walt.username, kind: 'user' },
    admin: { sub: u.ada.username, kind: 'user' },
    outsider: { sub: u.otto.username, kind: 'user' },
    oauthRead: { sub: u.ada.username, kind: 'oauthtoken' },
    oauthWrite: { sub: u.ada.username, kind: 'oauthtoken' },
    oauthNoRepo: { sub: u.ada.username, kind: 'oauthtoken' },
    app: { sub: u.walt.username, kind: 'appspecifictoken' },
    robotRead: { sub: `${c.org.username}+reader`, kind: 'robot' },
    robotWrite: { sub: `${c.org.username}+writer`, kind: 'robot' },
    robotNone: { sub: `${c.org.username}+nobody`, kind: 'robot' },
  };
  return table[id]!;
}

// A login (no scope): every valid credential, whatever it may do; anonymous callers and dead credentials are refused.
const LOGIN = all(200, { anonymous: 401, anonymousToken: 401, disabledUser: 401, deletedRobot: 401 });

function login(method: 'GET' | 'HEAD'): Row {
  return {
    method, route: '/v2/auth', title: 'login', expect: LOGIN,
    request: async (c, id) => ({ url: authUrl([]), headers: basic(c, id) }),
    check: (res, c, id) => {
      if (method !== 'GET' || res.statusCode !== 200) return;
      expect(Object.keys(res.json())).toEqual(['token']);
      const claims = decodeJwt(res.json().token);
      const who = subject(c, id);
      expect(claims.sub).toBe(who.sub);
      expect(claims.context.entity_kind).toBe(who.kind);
      expect(claims.access).toEqual([]);
    },
  };
}

type ScopeKind = RepoKind | 'noNamespace';

/** The actions granted for `pull,push,*` (C.3), by the fixture's grants. */
function actions(kind: ScopeKind, id: Identity): string[] {
  const rw = id === 'admin' ? ['push', 'pull', '*'] : WRITERS.includes(id) ? ['push', 'pull'] : READERS.includes(id) ? ['pull'] : [];
  switch (kind) {
    case 'private':
      return rw;
    case 'public':
      return rw.length ? rw : ['pull'];
    case 'readOnly':
      return READERS.includes(id) ? ['pull'] : [];
    case 'readOnlyPublic':
      return ['pull'];
    case 'missingOwn':
      return OWN_CREATORS.includes(id) ? ['push', 'pull', '*'] : OWN_READERS.includes(id) ? ['pull'] : [];
    case 'missingOther':
    case 'noNamespace':
      return [];
  }
}

function scopeName(c: Ctx, kind: ScopeKind, id: Identity): string {
  if (kind === 'missingOwn') return `${c.ownNamespace(id)}/${uniqueName('new')}`;
  if (kind === 'missingOther') return `${c.users.zed.username}/absent`;
  if (kind === 'noNamespace') return 'nosuchnamespace/absent';
  return c.repos[kind].name;
}

function scopeRow(kind: ScopeKind): Row {
  return {
    method: 'GET', route: '/v2/auth', title: `scope pull,push,* [${kind}]`,
    expect: all(200, { disabledUser: 401, deletedRobot: 401 }),
    request: async (c, id) => {
      const name = scopeName(c, kind, id);
      return { url: authUrl([`repository:${name}:pull,push,*`]), headers: basic(c, id), name };
    },
    check: async (res, c, id, req) => {
      if (res.statusCode !== 200) return;
      const claims = decodeJwt(res.json().token);
      expect(claims.access).toEqual([{ type: 'repository', name: req.name, actions: actions(kind, id) }]);
      if (kind === 'missingOwn') {
        // Created during /v2/auth exactly when push was granted (D.7), private.
        const [ns, repo] = req.name!.split('/');
        const row = await findRepositoryByPath(c.t.app.db, ns, repo);
        expect(!!row, `${req.name} created`).toBe(actions(kind, id).includes('push'));
        if (row) expect(row.visibility).toBe('private');
      }
    },
  };
}

// A refused credential is refused before any scope is read.
const BAD_REQUEST = all(400, { disabledUser: 401, deletedRobot: 401 });

export const rows: Row[] = [
  login('GET'),
  login('HEAD'),
  ...(['private', 'public', 'readOnly', 'readOnlyPublic', 'missingOwn', 'missingOther', 'noNamespace'] as const).map(scopeRow),
  {
    method: 'GET', route: '/v2/auth', title: 'scope registry:catalog:*', expect: BAD_REQUEST, codes: { 400: 'INVALID_REQUEST' },
    request: async (c, id) => ({ url: authUrl(['registry:catalog:*']), headers: basic(c, id) }),
  },
  {
    method: 'GET', route: '/v2/auth', title: 'scope with an upper-case name', expect: BAD_REQUEST, codes: { 400: 'NAME_INVALID' },
    request: async (c, id) => ({ url: authUrl([`repository:${c.repos.private.name.toUpperCase()}:pull`]), headers: basic(c, id) }),
  },
  {
    // The same kind of credential with a wrong secret (from another address: the password
    // throttle then never delays the fixture's own logins). Anonymous callers send none.
    method: 'GET', route: '/v2/auth', title: 'wrong secret', expect: all(401),
    request: async (c, id) => {
      const h = c.wrongCredentials(id);
      const headers: Record<string, string> = h ? { authorization: h } : {};
      return { url: authUrl([]), headers, remoteAddress: '192.0.2.77' };
    },
  },
];
