// Debian's `docker-registry` (CNCF distribution 2.8) on 127.0.0.1, started by the tests: a real
// registry to prove the client harness against, and the peer of bench/registry.ts. Each instance
// gets a free port, its own filesystem root in a temp folder and deletes enabled.
//
// Optionally a small recording proxy sits in front of it (`record: true`, or `auth`): it logs every
// request and answer (method, path, the protocol headers, body sizes; never credentials), and with
// `auth` it asks for credentials the way a registry does, so logins with `$oauthtoken`, `$app` and
// `org+robot` usernames can be checked end to end:
//   basic   401 + `WWW-Authenticate: Basic`, every request carries HTTP Basic.
//   bearer  Quay's flow: 401 + `WWW-Authenticate: Bearer realm=".../v2/auth",service="..."`,
//           GET /v2/auth with HTTP Basic answers an opaque token, requests carry `Bearer <token>`.
// distribution itself runs without auth (its htpasswd needs bcrypt, which nothing here provides).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http, { type IncomingHttpHeaders } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const DOCKER_REGISTRY_BIN = 'docker-registry';

/** True when Debian's docker-registry is on PATH. */
export function haveDockerRegistry(): boolean {
  return spawnSync('sh', ['-c', `command -v ${DOCKER_REGISTRY_BIN}`], { stdio: 'ignore' }).status === 0;
}

/** A free TCP port on 127.0.0.1. */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export interface Credential {
  username: string;
  password: string;
}

/** One request as the proxy saw it; `auth` names the scheme and user, never a secret. */
export interface RecordedExchange {
  method: string;
  /** Path and query, with long opaque `_state` values shortened. */
  path: string;
  auth: string;
  request: Record<string, string>;
  requestBytes: number;
  status: number;
  response: Record<string, string>;
  responseBytes: number;
}

export interface StartOptions {
  /** Put the recording proxy in front (implied by `auth`). */
  record?: boolean;
  /**
   * Ask clients for these credentials at the proxy. With `anonymous` (bearer only), /v2/auth also
   * gives a token to a request without credentials, as Quay does for public repositories.
   */
  auth?: { scheme: 'basic' | 'bearer'; users: Credential[]; anonymous?: boolean };
  /** distribution's log level (default `warn`); its output is kept in `log()`. */
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** Milliseconds to wait for GET /v2/ (default 15 s). */
  startTimeoutMs?: number;
}

export interface DockerRegistry {
  /** `127.0.0.1:<port>` that clients should use (the proxy when there is one). */
  host: string;
  /** `http://<host>` */
  url: string;
  /** distribution itself, bypassing the proxy. */
  directHost: string;
  /** Filesystem root of the registry's storage. */
  root: string;
  /** Requests seen by the proxy, in arrival order (empty without one). */
  exchanges: RecordedExchange[];
  /** The last 256 KiB of distribution's stderr. */
  log(): string;
  stop(): Promise<void>;
}

const RECORDED_HEADERS = [
  'accept',
  'content-type',
  'content-length',
  'content-range',
  'range',
  'transfer-encoding',
  'location',
  'docker-upload-uuid',
  'docker-content-digest',
  'docker-distribution-api-version',
  'oci-subject',
  'oci-filters-applied',
  'link',
  'www-authenticate',
  'user-agent',
];

function pickHeaders(h: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of RECORDED_HEADERS) {
    const v = h[name];
    if (v !== undefined) out[name] = shorten(Array.isArray(v) ? v.join(', ') : v);
  }
  return out;
}

function shorten(s: string): string {
  return s.replace(/_state=[^&\s"]+/g, '_state=…');
}

const spawnedFor = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of spawnedFor) child.kill('SIGKILL');
});

/** Starts docker-registry (and the proxy when asked); `stop()` kills it and removes its storage. */
export async function startDockerRegistry(opts: StartOptions = {}): Promise<DockerRegistry> {
  const root = mkdtempSync(path.join(tmpdir(), 'docker-registry-'));
  let logTail = '';
  let child: ChildProcess | undefined;
  let directPort = 0;
  // A port picked by freeLoopbackPort can be taken before distribution binds it: try a few.
  for (let attempt = 0; attempt < 3 && !child; attempt++) {
    directPort = await freeLoopbackPort();
    const configFile = path.join(root, 'config.yml');
    // JSON is YAML: distribution reads it as its config file.
    writeFileSync(
      configFile,
      JSON.stringify({
        version: 0.1,
        log: { level: opts.logLevel ?? 'warn', formatter: 'text', accesslog: { disabled: opts.logLevel !== 'debug' } },
        storage: {
          filesystem: { rootdirectory: path.join(root, 'data') },
          delete: { enabled: true },
          maintenance: { uploadpurging: { enabled: false } },
        },
        http: { addr: `127.0.0.1:${directPort}`, secret: randomBytes(16).toString('hex') },
      }),
    );
    const c = spawn(DOCKER_REGISTRY_BIN, ['serve', configFile], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
    spawnedFor.add(c);
    const onData = (d: Buffer) => {
      logTail = (logTail + d.toString()).slice(-256 * 1024);
    };
    c.stdout!.on('data', onData);
    c.stderr!.on('data', onData);
    const exited = new Promise<string>((resolve) => c.once('exit', (code, signal) => resolve(`exited (${signal ?? code})`)));
    c.once('error', (err) => {
      logTail += `\nspawn error: ${err.message}`;
    });
    const deadline = Date.now() + (opts.startTimeoutMs ?? 15_000);
    let ready = false;
    while (Date.now() < deadline) {
      const outcome = await Promise.race([exited, getStatus(directPort).then((s) => (s === 200 ? 'ready' : 'wait'))]);
      if (outcome === 'ready') {
        ready = true;
        break;
      }
      if (outcome !== 'wait') break; // exited: maybe the port was taken
      await new Promise((r) => setTimeout(r, 50));
    }
    if (ready) child = c;
    else {
      c.kill('SIGKILL');
      spawnedFor.delete(c);
      if (!/address already in use/i.test(logTail)) {
        rmSync(root, { recursive: true, force: true });
        throw new Error(`docker-registry did not answer GET /v2/ on 127.0.0.1:${directPort}:\n${logTail.slice(-4000)}`);
      }
    }
  }
  if (!child) {
    rmSync(root, { recursive: true, force: true });
    throw new Error(`docker-registry could not bind a port:\n${logTail.slice(-4000)}`);
  }

  const exchanges: RecordedExchange[] = [];
  let proxy: http.Server | undefined;
  let host = `127.0.0.1:${directPort}`;
  if (opts.record || opts.auth) {
    proxy = recordingProxy(directPort, exchanges, opts.auth);
    await new Promise<void>((resolve, reject) => {
      proxy!.once('error', reject);
      proxy!.listen(0, '127.0.0.1', () => resolve());
    });
    host = `127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  }

  const running = child;
  return {
    host,
    url: `http://${host}`,
    directHost: `127.0.0.1:${directPort}`,
    root,
    exchanges,
    log: () => logTail,
    stop: async () => {
      if (proxy) {
        proxy.closeAllConnections();
        await new Promise<void>((resolve) => proxy!.close(() => resolve()));
      }
      if (running.exitCode === null && running.signalCode === null) {
        const gone = new Promise<void>((resolve) => running.once('exit', () => resolve()));
        running.kill('SIGTERM');
        const timer = setTimeout(() => running.kill('SIGKILL'), 5_000);
        await gone;
        clearTimeout(timer);
      }
      spawnedFor.delete(running);
      rmSync(root, { recursive: true, force: true });
    },
  };
}

function getStatus(port: number): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/v2/', timeout: 1_000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

function parseBasic(header: string | undefined): Credential | undefined {
  if (!header?.startsWith('Basic ')) return undefined;
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  return i < 0 ? undefined : { username: decoded.slice(0, i), password: decoded.slice(i + 1) };
}

/** `repository:<name>:pull[,push]` for a /v2/<name>/... path, as distribution would ask for. */
function scopeFor(method: string, pathname: string): string | undefined {
  const m = /^\/v2\/(.+?)\/(blobs|manifests|tags|referrers)\//.exec(pathname);
  if (!m) return undefined;
  return `repository:${m[1]}:${method === 'GET' || method === 'HEAD' ? 'pull' : 'pull,push'}`;
}

function recordingProxy(upstreamPort: number, exchanges: RecordedExchange[], auth: StartOptions['auth']): http.Server {
  const tokens = new Map<string, string>(); // bearer token → username
  const known = (c: Credential | undefined) => !!c && !!auth?.users.some((u) => u.username === c.username && u.password === c.password);

  return http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const basic = parseBasic(req.headers.authorization);
    const bearer = req.headers.authorization?.startsWith('Bearer ') ? req.headers.authorization.slice(7) : undefined;
    const record: RecordedExchange = {
      method: req.method ?? '',
      path: shorten(req.url ?? ''),
      auth: basic ? `basic:${basic.username}` : bearer ? `bearer:${tokens.get(bearer) ?? 'unknown'}` : 'none',
      request: pickHeaders(req.headers),
      requestBytes: 0,
      status: 0,
      response: {},
      responseBytes: 0,
    };
    exchanges.push(record);
    req.on('data', (d: Buffer) => {
      record.requestBytes += d.length;
    });
    const answer = (status: number, headers: Record<string, string>, body: unknown) => {
      const bytes = Buffer.from(JSON.stringify(body));
      record.status = status;
      record.response = pickHeaders(headers);
      record.responseBytes = bytes.length;
      req.resume();
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(bytes.length), ...headers });
      res.end(bytes);
    };
    const realm = `http://${req.headers.host ?? 'proxy'}/v2/auth`;
    const service = req.headers.host ?? 'proxy';
    const unauthorized = (challenge: string) =>
      answer(401, { 'www-authenticate': challenge, 'docker-distribution-api-version': 'registry/2.0' }, { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required', detail: null }] });

    if (auth?.scheme === 'bearer' && url.pathname === '/v2/auth') {
      const anonymous = !req.headers.authorization && auth.anonymous;
      if (!known(basic) && !anonymous) return unauthorized(`Basic realm="${realm}"`);
      const token = randomBytes(24).toString('hex');
      tokens.set(token, basic?.username ?? 'anonymous');
      return answer(200, {}, { token, access_token: token, expires_in: 300, issued_at: new Date().toISOString() });
    }
    if (auth?.scheme === 'basic' && !known(basic)) return unauthorized('Basic realm="docker-registry tests"');
    if (auth?.scheme === 'bearer' && !(bearer && tokens.has(bearer))) {
      const scope = scopeFor(req.method ?? 'GET', url.pathname);
      return unauthorized(`Bearer realm="${realm}",service="${service}"${scope ? `,scope="${scope}"` : ''}`);
    }

    const headers = { ...req.headers };
    delete headers.authorization;
    const upstream = http.request({ host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers }, (up) => {
      record.status = up.statusCode ?? 0;
      record.response = pickHeaders(up.headers);
      up.on('data', (d: Buffer) => {
        record.responseBytes += d.length;
      });
      res.writeHead(up.statusCode ?? 502, up.rawHeaders);
      up.pipe(res);
    });
    upstream.on('error', (err) => {
      if (!res.headersSent) answer(502, {}, { errors: [{ code: 'UNKNOWN', message: `proxy: ${err.message}` }] });
      else res.destroy(err);
    });
    req.pipe(upstream);
  });
}

/** The recorded exchanges as one line each, for reports and failure messages. */
export function formatExchanges(exchanges: RecordedExchange[]): string {
  return exchanges
    .map((e) => {
      const req = Object.entries(e.request)
        .filter(([k]) => k !== 'user-agent')
        .map(([k, v]) => `${k}: ${v}`)
        .join('; ');
      const res = Object.entries(e.response)
        .map(([k, v]) => `${k}: ${v}`)
        .join('; ');
      return `${e.method} ${e.path} [${e.auth}] (${req}) body=${e.requestBytes} → ${e.status} (${res}) body=${e.responseBytes}`;
    })
    .join('\n');
}
