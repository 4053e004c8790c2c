// The /v2 security matrix (issue 8, "Tests"; registry-and-auth.md B–E): who may do what on every
// registry route. Each row file (test/registry/*.security.ts) exports `rows`; security-matrix.test.ts
// builds one fixture (buildFixture, below), runs every row for every identity, and fails when a /v2
// route of app.routeTable has no row (or a row names a route that is not served).
//
// The fixture: organization `mxorg`, owned by olga (who sets things up and is no identity). Its
// image repositories, each holding one image tagged `latest` and an open upload session:
//   private        private, NORMAL        public          public, NORMAL
//   readonly       private, READ_ONLY     readonlypub     public, READ_ONLY
//   secret         private, NORMAL: only ada may read it (the source of a forbidden mount)
// Grants on the first four: rita read, walt write, ada admin, dora write; robots mxorg+reader read,
// mxorg+writer write; mxorg+nobody nothing. otto is related to nothing; zed owns a namespace in
// which nobody else may create. READ_ONLY is set through the API (changeRepoState, registered only
// with FEATURE_REPO_MIRROR).
//
// Tokens are obtained as clients get them: GET /v2/auth with the identity's Basic credentials and
// the scope of the challenge (`repository:<name>:pull` for reads, `pull,push` for writes), so the
// downscoping of /v2/auth is part of every row. A repository route is expanded over six repository
// kinds (REPO_KINDS): the four above, a name that does not exist in the caller's own namespace
// (theirs for users, OAuth and app tokens; mxorg for robots and anonymous callers), and one in
// zed's namespace. The expected statuses come from the tables below, written from the fixture's
// grants and Quay's rules (never from the code under test).
import { randomBytes, randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import { randomString, UPPER_DIGITS } from '../../src/auth/crypto.js';
import { insertAppToken } from '../../src/db/app-tokens.js';
import { findRepositoryByPath } from '../../src/db/repositories.js';
import type { Namespace, Repository } from '../../src/db/schema.js';
import type { TestApp } from '../helpers/app.js';
import { grant, makeOrg, makeRepo, makeRobot, makeUser, tokenFor, uniqueName, type TestUser } from '../helpers/factories.js';
import {
  basicAuth,
  blobOf,
  injectSender,
  makeImage,
  manifestOf,
  OCI_MANIFEST,
  RegistryClient,
  type Blob,
  type Manifest,
  type RegistryResponse,
} from '../helpers/registry.js';

// ---- Identities ----

export const IDENTITIES = [
  'anonymous', // no Authorization header at all
  'anonymousToken', // a token from /v2/auth sent without credentials
  'reader', // rita, password: read on the fixture repositories
  'writer', // walt, password: write
  'admin', // ada, password: admin
  'outsider', // otto, password: no relation
  'oauthRead', // ada through $oauthtoken, scope repo:read only
  'oauthWrite', // ada through $oauthtoken, scope repo:write only (no repo:create)
  'oauthNoRepo', // ada through $oauthtoken, scope user:read (no repo scope)
  'app', // walt through $app (an app-specific token: the user, uncapped)
  'robotRead', // mxorg+reader: read
  'robotWrite', // mxorg+writer: write
  'robotNone', // mxorg+nobody: no permission
  'disabledUser', // dora (write), whose tokens were issued before she was disabled
  'deletedRobot', // a robot with write, whose tokens were issued before it was deleted
] as const;
export type Identity = (typeof IDENTITIES)[number];

/** Identities whose token is refused whatever it grants. */
export const DEAD: Identity[] = ['disabledUser', 'deletedRobot'];
export const LIVE: Identity[] = IDENTITIES.filter((i) => !DEAD.includes(i));
/** Read (at least) on the fixture repositories, through the token they get. */
export const READERS: Identity[] = ['reader', 'writer', 'admin', 'oauthRead', 'oauthWrite', 'app', 'robotRead', 'robotWrite'];
/** Write on the fixture repositories. */
export const WRITERS: Identity[] = ['writer', 'admin', 'oauthWrite', 'app', 'robotWrite'];
/** Who may read mxorg/secret: ada, through any credential carrying a repo scope. */
export const SECRET_READERS: Identity[] = ['admin', 'oauthRead', 'oauthWrite'];
/** Pull granted on a missing name of their own namespace (own namespace = admin, capped by OAuth scopes). */
export const OWN_READERS: Identity[] = ['reader', 'writer', 'admin', 'outsider', 'oauthRead', 'oauthWrite', 'app'];
/** May create in their own namespace by pushing (OAuth needs repo:create; robots are in no creator team). */
export const OWN_CREATORS: Identity[] = ['reader', 'writer', 'admin', 'outsider', 'app'];

/** Every identity → `status`, with overrides. */
export function all<T>(value: T, overrides: Partial<Record<Identity, T>> = {}): Record<Identity, T> {
  return { ...(Object.fromEntries(IDENTITIES.map((i) => [i, value])) as Record<Identity, T>), ...overrides };
}
/** `yes` for the listed identities, `no` for the others. */
export function those<T>(who: readonly Identity[], yes: T, no: T): Record<Identity, T> {
  return Object.fromEntries(IDENTITIES.map((i) => [i, who.includes(i) ? yes : no])) as Record<Identity, T>;
}

// ---- Repositories ----

export const EXISTING_KINDS = ['private', 'public', 'readOnly', 'readOnlyPublic'] as const;
export type ExistingKind = (typeof EXISTING_KINDS)[number];
export const REPO_KINDS = [...EXISTING_KINDS, 'missingOwn', 'missingOther'] as const;
export type RepoKind = (typeof REPO_KINDS)[number];

/** What a fixture repository holds. */
export interface RepoFixture {
  name: string;
  row: Repository;
  image: { blobs: Blob[]; config: Blob; layers: Blob[]; manifest: Manifest };
  /** An open upload session (its path, `/v2/<name>/blobs/uploads/<uuid>`). */
  upload: string;
  /** NORMAL: olga can push what a row needs before the request. */
  normal: boolean;
}

export type Scope = 'pull' | 'pull,push';

/**
 * How an identity fares on a repository kind with the token it gets for `scope`: `ok` (the route
 * runs on an existing repository), `missing` (pull granted on a name that does not exist),
 * `created` (the push scope created the repository during /v2/auth: it exists, empty), or `denied`.
 */
export type Outcome = 'ok' | 'missing' | 'created' | 'denied';

export function outcome(kind: RepoKind, scope: Scope, id: Identity): Outcome {
  if (DEAD.includes(id)) return 'denied';
  const push = scope === 'pull,push';
  switch (kind) {
    case 'private':
      return (push ? WRITERS : READERS).includes(id) ? 'ok' : 'denied';
    case 'public':
      return push ? (WRITERS.includes(id) ? 'ok' : 'denied') : 'ok';
    case 'readOnly':
      return !push && READERS.includes(id) ? 'ok' : 'denied';
    case 'readOnlyPublic':
      return push ? 'denied' : 'ok';
    case 'missingOwn':
      if (push) return OWN_CREATORS.includes(id) ? 'created' : 'denied';
      return OWN_READERS.includes(id) ? 'missing' : 'denied';
    case 'missingOther':
      return 'denied';
  }
}

// ---- The context rows receive ----

export interface Ctx {
  t: TestApp;
  org: Namespace;
  users: { olga: TestUser; rita: TestUser; walt: TestUser; ada: TestUser; otto: TestUser; dora: TestUser; zed: TestUser };
  repos: Record<ExistingKind | 'secret', RepoFixture>;
  /** olga's client: push on every NORMAL repository of mxorg (setup only). */
  setup: RegistryClient;
  /** The Basic `Authorization` header of an identity's credentials (undefined for anonymous ones). */
  credentials(id: Identity): string | undefined;
  /** Credentials of the same kind with a wrong secret (undefined for anonymous ones). */
  wrongCredentials(id: Identity): string | undefined;
  /** The namespace a missing `missingOwn` name is put in. */
  ownNamespace(id: Identity): string;
  /**
   * A registry token for `scopes`, from /v2/auth as a client gets it (null for `anonymous`).
   * Cached per identity and scopes, as clients cache them. Dead identities get theirs while alive.
   */
  token(id: Identity, scopes: string[]): Promise<string | null>;
  /** A login token (no scope); for anonymousToken, one for pulling mxorg/public (anonymous logins are refused). */
  loginToken(id: Identity): Promise<string | null>;
}

export const HOST = 'localhost:8080';
export const challenge = (scope?: string) => `Bearer realm="http://${HOST}/v2/auth",service="${HOST}"${scope ? `,scope="${scope}"` : ''}`;
export const bearer = (token: string | null): Record<string, string> => (token ? { authorization: `Bearer ${token}` } : {});

export function authUrl(scopes: string[]): string {
  return `/v2/auth?service=${encodeURIComponent(HOST)}${scopes.map((s) => `&scope=${encodeURIComponent(s)}`).join('')}`;
}

/** A path (with query) from a Location header, absolute or not. */
export const pathOf = (location: string) => {
  const u = new URL(location, `http://${HOST}`);
  return `${u.pathname}${u.search}`;
};

export function decodeJwt(token: string): Record<string, any> {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
}

// ---- Rows ----

export type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface Req {
  url: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  /** The scope a 401's challenge must name; undefined: a challenge without scope. */
  challengeScope?: string;
  /** The repository the request names, when it has one. */
  name?: string;
  /** The client's address (default: inject's 127.0.0.1). */
  remoteAddress?: string;
}

export interface Row {
  method: Method;
  /** The route as app.routeTable lists it. */
  route: string;
  /** Distinguishes rows of one route (the repository kind, the variant). */
  title: string;
  request(ctx: Ctx, id: Identity): Promise<Req>;
  expect: Record<Identity, number>;
  /** The error code expected with a status (checked on bodies; UNAUTHORIZED is always checked for 401). */
  codes?: Partial<Record<number, string>>;
  check?(res: RegistryResponse, ctx: Ctx, id: Identity, req: Req): void | Promise<void>;
}

/** The repository a repository route is tried on. */
export interface Target {
  kind: RepoKind;
  name: string;
  /** The fixture, for existing kinds; the `private` one for missing names (digests for URLs only). */
  fixture: RepoFixture;
  /** Whether olga can prepare things in it before the request (NORMAL fixtures only). */
  prepare: boolean;
}

export interface RepoRoute {
  method: Method;
  route: string;
  title?: string;
  /** The scope the client asks for: the one the route's challenge advertises. */
  scope: Scope;
  /** Status when the route runs on an existing repository (per identity for mounts). */
  ok: number | ((id: Identity) => number);
  /** Status on a name that does not exist with pull granted (default 404 NAME_UNKNOWN). */
  missing?: [number, string?];
  /** Status on the empty repository a push token just created. */
  created?: [number, string?] | ((id: Identity) => [number, string?]);
  /** More pull scopes asked with the same token (a mount's source). */
  extraScopes?: (ctx: Ctx) => string[];
  /** Only some kinds (default: all). */
  kinds?: readonly RepoKind[];
  request(ctx: Ctx, target: Target, id: Identity): Promise<{ path: string; headers?: Record<string, string>; body?: Buffer | string }>;
  check?(res: RegistryResponse, ctx: Ctx, target: Target, id: Identity): void | Promise<void>;
}

/** Fixed missing names (pull never creates); a fresh one for every push, which may create it. */
function targetName(ctx: Ctx, kind: RepoKind, scope: Scope, id: Identity): string {
  if (kind === 'missingOther') return `${ctx.users.zed.username}/absent`;
  if (kind === 'missingOwn') return `${ctx.ownNamespace(id)}/${scope === 'pull' ? 'absent' : uniqueName('new')}`;
  return ctx.repos[kind].name;
}

/** One row per repository kind, expectations from outcome(). */
export function repoRows(r: RepoRoute): Row[] {
  return (r.kinds ?? REPO_KINDS).map((kind) => {
    const statuses: Partial<Record<Identity, number>> = {};
    const codes: Partial<Record<number, string>> = {};
    for (const id of IDENTITIES) {
      const o = outcome(kind, r.scope, id);
      if (o === 'denied') statuses[id] = 401;
      else if (o === 'ok') statuses[id] = typeof r.ok === 'function' ? r.ok(id) : r.ok;
      else if (o === 'missing') {
        const [status, code] = r.missing ?? [404, 'NAME_UNKNOWN'];
        statuses[id] = status;
        if (code) codes[status] = code;
      } else {
        const created = typeof r.created === 'function' ? r.created(id) : r.created;
        if (!created) throw new Error(`${r.method} ${r.route}: no status for a created repository`);
        statuses[id] = created[0];
        if (created[1]) codes[created[0]] = created[1];
      }
    }
    return {
      method: r.method,
      route: r.route,
      title: `${r.title ? `${r.title} ` : ''}[${kind}]`,
      expect: statuses as Record<Identity, number>,
      codes,
      async request(ctx, id) {
        const name = targetName(ctx, kind, r.scope, id);
        const scope = `repository:${name}:${r.scope}`;
        const token = await ctx.token(id, [scope, ...(r.extraScopes?.(ctx) ?? [])]);
        const existing = kind === 'missingOwn' || kind === 'missingOther' ? undefined : ctx.repos[kind];
        const target: Target = { kind, name, fixture: existing ?? ctx.repos.private, prepare: !!existing?.normal };
        const { path, headers, body } = await r.request(ctx, target, id);
        return { url: path, headers: { ...bearer(token), ...headers }, body, challengeScope: scope, name };
      },
      async check(res, ctx, id, req) {
        // A pull never creates; a push creates exactly when the identity may create there.
        if (kind === 'missingOwn') {
          const [ns, repo] = req.name!.split('/');
          const exists = !!(await findRepositoryByPath(ctx.t.app.db, ns, repo));
          expect(exists, `${req.name} created by a ${r.scope} token for ${id}`).toBe(r.scope === 'pull,push' && (OWN_CREATORS.includes(id) || id === 'disabledUser'));
        }
        if (r.check && res.statusCode < 300) {
          const existing = kind === 'missingOwn' || kind === 'missingOther' ? undefined : ctx.repos[kind];
          await r.check(res, ctx, { kind, name: req.name!, fixture: existing ?? ctx.repos.private, prepare: !!existing?.normal }, id);
        }
      },
    };
  });
}

// ---- Content helpers for rows ----

export const octets = (body: Buffer): Record<string, string> => ({ 'content-type': 'application/octet-stream', 'content-length': String(body.length) });

/** A new manifest over the fixture image's blobs (a unique annotation makes a unique digest). */
export function freshManifest(f: RepoFixture): Manifest {
  const doc = { ...f.image.manifest.doc, annotations: { 'org.example.nonce': randomBytes(8).toString('hex') } };
  return manifestOf(doc, OCI_MANIFEST);
}

/** A fresh upload session opened by olga (a NORMAL fixture), or the fixture's (others), or an unknown one (missing names). */
export async function uploadPath(ctx: Ctx, target: Target, fresh: boolean): Promise<string> {
  if (target.kind === 'missingOwn' || target.kind === 'missingOther') return `/v2/${target.name}/blobs/uploads/${randomUUID()}`;
  if (fresh && target.prepare) return pathOf(await ctx.setup.startUpload(target.name));
  return target.fixture.upload;
}

// ---- The fixture ----

async function oauthDelete(t: TestApp, token: string, url: string): Promise<void> {
  const res = await t.inject({ method: 'DELETE', url, headers: { authorization: `Bearer ${token}` } });
  if (res.statusCode !== 204) throw new Error(`DELETE ${url}: ${res.statusCode} ${res.body}`);
}

async function appToken(t: TestApp, user: Namespace): Promise<string> {
  const code = randomString(120, UPPER_DIGITS);
  await insertAppToken(t.app.db, { userId: user.id, title: 'matrix', tokenName: code.slice(0, 60), secretEnc: t.app.secrets.encrypt(code.slice(60)), expiration: null });
  return code;
}

export async function buildFixture(t: TestApp): Promise<Ctx> {
  const db = t.app.db;
  const mk = (username: string) => makeUser(t, { username });
  const users = { olga: await mk('mxolga'), rita: await mk('mxrita'), walt: await mk('mxwalt'), ada: await mk('mxada'), otto: await mk('mxotto'), dora: await mk('mxdora'), zed: await mk('mxzed') };
  const org = await makeOrg(t, [users.olga], 'mxorg');
  const olgaAdmin = await tokenFor(t, users.olga, 'repo:read repo:write repo:admin repo:create org:admin');

  const rows = {
    private: await makeRepo(t, org, { name: 'private' }),
    public: await makeRepo(t, org, { name: 'public', visibility: 'public' }),
    readOnly: await makeRepo(t, org, { name: 'readonly' }),
    readOnlyPublic: await makeRepo(t, org, { name: 'readonlypub', visibility: 'public' }),
    secret: await makeRepo(t, org, { name: 'secret' }),
  };
  const robots = { reader: await makeRobot(t, org, 'reader'), writer: await makeRobot(t, org, 'writer'), nobody: await makeRobot(t, org, 'nobody') };
  for (const kind of EXISTING_KINDS) {
    const repo = rows[kind];
    await grant(t, repo, { userId: users.rita.id }, 'read');
    await grant(t, repo, { userId: users.walt.id }, 'write');
    await grant(t, repo, { userId: users.ada.id }, 'admin');
    await grant(t, repo, { userId: users.dora.id }, 'write');
    await grant(t, repo, { userId: robots.reader.id }, 'read');
    await grant(t, repo, { userId: robots.writer.id }, 'write');
  }
  await grant(t, rows.secret, { userId: users.ada.id }, 'read');

  // olga pushes an image and opens an upload session in each, then two become READ_ONLY.
  const all5 = Object.values(rows).map((r) => `repository:mxorg/${r.name}:pull,push`);
  const setup = await RegistryClient.login(t, users.olga, all5);
  const repos = {} as Record<ExistingKind | 'secret', RepoFixture>;
  for (const [kind, row] of Object.entries(rows) as [ExistingKind | 'secret', Repository][]) {
    const name = `mxorg/${row.name}`;
    const image = makeImage({ format: 'oci' });
    await setup.pushImage(name, image, 'latest');
    const upload = pathOf(await setup.startUpload(name));
    repos[kind] = { name, row, image, upload, normal: kind !== 'readOnly' && kind !== 'readOnlyPublic' };
  }
  for (const kind of ['readOnly', 'readOnlyPublic'] as const) {
    const res = await t.inject({
      method: 'PUT',
      url: `/api/v1/repository/${repos[kind].name}/changestate`,
      headers: { authorization: `Bearer ${olgaAdmin}` },
      payload: { state: 'READ_ONLY' },
    });
    if (res.statusCode !== 200) throw new Error(`changestate: ${res.statusCode} ${res.body}`);
  }

  const oauth = {
    oauthRead: await tokenFor(t, users.ada, 'repo:read'),
    oauthWrite: await tokenFor(t, users.ada, 'repo:write'),
    oauthNoRepo: await tokenFor(t, users.ada, 'user:read'),
  };
  const walt$app = await appToken(t, users.walt);

  // The credentials of a robot already deleted (for /v2/auth rows) and dora disabled.
  const gone = await makeRobot(t, org, 'gone');
  await oauthDelete(t, olgaAdmin, `/api/v1/organization/mxorg/robots/gone`);
  const setEnabled = async (enabled: boolean) => {
    await db.updateTable('namespace').set({ enabled }).where('id', '=', users.dora.id).execute();
    t.app.authCache.clear();
  };
  await setEnabled(false);

  const creds: Record<Identity, { username: string; password: string } | undefined> = {
    anonymous: undefined,
    anonymousToken: undefined,
    reader: users.rita,
    writer: users.walt,
    admin: users.ada,
    outsider: users.otto,
    oauthRead: { username: '$oauthtoken', password: oauth.oauthRead },
    oauthWrite: { username: '$oauthtoken', password: oauth.oauthWrite },
    oauthNoRepo: { username: '$oauthtoken', password: oauth.oauthNoRepo },
    app: { username: '$app', password: walt$app },
    robotRead: { username: robots.reader.username, password: robots.reader.token },
    robotWrite: { username: robots.writer.username, password: robots.writer.token },
    robotNone: { username: robots.nobody.username, password: robots.nobody.token },
    disabledUser: users.dora,
    deletedRobot: { username: gone.username, password: gone.token },
  };
  const wrongSecret = (s: string) => (s.length > 20 ? `${s.slice(0, -1)}${s.endsWith('A') ? 'B' : 'A'}` : `${s}-wrong`);

  const send = injectSender(t);
  const fetchToken = async (c: { username: string; password: string } | undefined, scopes: string[]): Promise<string> => {
    const res = await send({ method: 'GET', url: authUrl(scopes), headers: c ? { authorization: basicAuth(c) } : {} });
    if (res.statusCode !== 200) throw new Error(`/v2/auth ${scopes.join(' ')}: ${res.statusCode} ${res.text}`);
    return res.json().token as string;
  };

  const cache = new Map<string, Promise<string | null>>();
  const acquire = async (id: Identity, scopes: string[]): Promise<string | null> => {
    if (id === 'anonymous') return null;
    if (id === 'disabledUser') {
      // Issued while dora is enabled; she is disabled again before it is used.
      await setEnabled(true);
      try {
        return await fetchToken(creds.disabledUser, scopes);
      } finally {
        await setEnabled(false);
      }
    }
    if (id === 'deletedRobot') {
      // A robot with write on the fixture repositories, deleted (through the API) once it holds the token.
      const short = uniqueName('doomed');
      const robot = await makeRobot(t, org, short);
      for (const kind of EXISTING_KINDS) await grant(t, rows[kind], { userId: robot.id }, 'write');
      const token = await fetchToken({ username: robot.username, password: robot.token }, scopes);
      await oauthDelete(t, olgaAdmin, `/api/v1/organization/mxorg/robots/${short}`);
      return token;
    }
    return fetchToken(creds[id], scopes);
  };

  const ctx: Ctx = {
    t,
    org,
    users,
    repos,
    setup,
    credentials: (id) => (creds[id] ? basicAuth(creds[id]) : undefined),
    wrongCredentials: (id) => {
      const c = creds[id];
      return c ? basicAuth({ username: c.username, password: wrongSecret(c.password) }) : undefined;
    },
    ownNamespace: (id) => {
      switch (id) {
        case 'reader': return users.rita.username;
        case 'writer': case 'app': return users.walt.username;
        case 'admin': case 'oauthRead': case 'oauthWrite': case 'oauthNoRepo': return users.ada.username;
        case 'outsider': return users.otto.username;
        case 'disabledUser': return users.dora.username;
        default: return org.username; // robots (their owner) and anonymous callers
      }
    },
    token(id, scopes) {
      const key = `${id}\n${scopes.join('\n')}`;
      let p = cache.get(key);
      if (!p) cache.set(key, (p = acquire(id, scopes)));
      return p;
    },
    loginToken(id) {
      return ctx.token(id, id === 'anonymousToken' ? ['repository:mxorg/public:pull'] : []);
    },
  };
  return ctx;
}

/** A random blob pushed by olga into a NORMAL fixture (linked, referenced by nothing). */
export async function freshBlob(ctx: Ctx, name: string): Promise<string> {
  return ctx.setup.pushBlob(name, blobOf(randomBytes(64)).bytes);
}
