// A small /v2 client for the protocol tests: it gets its tokens from /v2/auth as registry clients
// do (HTTP Basic → JWT), and speaks to the app in-process (app.inject) or to a real server over
// HTTP (fetch), through the same `Send` shape, so a test can run one scenario against either.
// Builders for blobs, image manifests and indexes, with their digests.
import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import type { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { expect } from 'vitest';
import type { TestApp } from './app.js';

export type Headers = Record<string, string | string[] | undefined>;

/** A response, whichever transport carried it. Header names are lower-case. */
export interface RegistryResponse {
  statusCode: number;
  headers: Headers;
  body: Buffer;
  text: string;
  json(): any;
  header(name: string): string | undefined;
}

export interface SendOptions {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: Buffer | string | Readable;
}

export type Send = (req: SendOptions) => Promise<RegistryResponse>;

function response(statusCode: number, headers: Headers, body: Buffer): RegistryResponse {
  const text = body.toString('utf8');
  return {
    statusCode,
    headers,
    body,
    text,
    json: () => JSON.parse(text),
    header: (name) => {
      const v = headers[name.toLowerCase()];
      return Array.isArray(v) ? v.join(', ') : v;
    },
  };
}

/** In-process requests through app.inject. */
export function injectSender(t: TestApp | FastifyInstance): Send {
  const app = 'app' in t ? t.app : t;
  return async ({ method, url, headers, body }) => {
    const res = await app.inject({ method: method as 'GET', url, headers, payload: body });
    return response(res.statusCode, res.headers as Headers, res.rawPayload);
  };
}

/** Real HTTP to `baseUrl` (http://127.0.0.1:port), with node:http (a stream body is sent as it comes). */
export function httpSender(baseUrl: string): Send {
  return ({ method, url, headers, body }) =>
    new Promise((resolve, reject) => {
      const req = httpRequest(new URL(url, baseUrl), { method, headers: { ...headers } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(response(res.statusCode!, res.headers as Headers, Buffer.concat(chunks))));
        res.on('error', reject);
      });
      req.on('error', reject);
      if (body === undefined) req.end();
      else if (typeof body === 'string' || Buffer.isBuffer(body)) req.end(body);
      else body.pipe(req);
    });
}

export interface Credentials {
  username: string;
  password: string;
}

export const basicAuth = (c: Credentials) => `Basic ${Buffer.from(`${c.username}:${c.password}`, 'utf8').toString('base64')}`;

/**
 * A registry token from GET /v2/auth for `scopes` (`repository:ns/repo:pull,push`…), as a client
 * gets it after a 401 challenge: HTTP Basic with a password, `$oauthtoken` + OAuth token, a robot…
 * `service` defaults to the app's SERVER_HOSTNAME. Fails the test unless the answer is 200.
 */
export async function registryToken(
  t: TestApp | Send,
  creds: Credentials | null,
  scopes: string | string[] = [],
  service = typeof t === 'function' ? undefined : t.config.SERVER_HOSTNAME,
): Promise<string> {
  const send = typeof t === 'function' ? t : injectSender(t);
  const list = Array.isArray(scopes) ? scopes : [scopes];
  const q = [...(service ? [`service=${encodeURIComponent(service)}`] : []), ...list.map((s) => `scope=${encodeURIComponent(s)}`)].join('&');
  const res = await send({ method: 'GET', url: `/v2/auth?${q}`, headers: creds ? { authorization: basicAuth(creds) } : {} });
  expect(res.statusCode, res.text).toBe(200);
  return res.json().token as string;
}

/** `repository:<name>:<actions>` */
export const repoScope = (name: string, actions = 'pull,push') => `repository:${name}:${actions}`;

// ---- Digests and content ----

export type Algorithm = 'sha256' | 'sha512';

export function digestOf(bytes: Buffer | string, algorithm: Algorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}

/** Random bytes: every test blob is unique, so no test sees another's. */
export function randomBlob(size: number): Buffer {
  return randomBytes(size);
}

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
export const DOCKER_LAYER = 'application/vnd.docker.image.rootfs.diff.tar.gzip';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  platform?: { os: string; architecture: string; variant?: string };
  annotations?: Record<string, string>;
  urls?: string[];
}

/** A blob with its descriptor. */
export interface Blob {
  bytes: Buffer;
  descriptor: Descriptor;
}

export function blobOf(bytes: Buffer | string, mediaType = OCI_LAYER, algorithm: Algorithm = 'sha256'): Blob {
  const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes);
  return { bytes: b, descriptor: { mediaType, digest: digestOf(b, algorithm), size: b.length } };
}

/** A manifest's exact bytes, its media type and digest. */
export interface Manifest {
  bytes: Buffer;
  mediaType: string;
  digest: string;
  descriptor: Descriptor;
  doc: Record<string, unknown>;
}

export function manifestOf(doc: Record<string, unknown>, mediaType = String(doc.mediaType), algorithm: Algorithm = 'sha256'): Manifest {
  const bytes = Buffer.from(JSON.stringify(doc));
  const digest = digestOf(bytes, algorithm);
  return { bytes, mediaType, digest, doc, descriptor: { mediaType, digest, size: bytes.length } };
}

export interface ImageOptions {
  format?: 'oci' | 'docker';
  platform?: { os: string; architecture: string; variant?: string };
  layers?: number;
  artifactType?: string;
  subject?: Descriptor;
  annotations?: Record<string, string>;
  /** Replaces the config blob (an artifact's, for instance). */
  config?: Blob;
}

/** An image: its config and layer blobs (random), and its manifest. Nothing is pushed. */
export function makeImage(o: ImageOptions = {}): { blobs: Blob[]; config: Blob; layers: Blob[]; manifest: Manifest } {
  const docker = o.format === 'docker';
  const platform = o.platform ?? { os: 'linux', architecture: 'amd64' };
  const config =
    o.config ??
    blobOf(JSON.stringify({ architecture: platform.architecture, os: platform.os, rootfs: { type: 'layers', diff_ids: [] }, nonce: randomBytes(8).toString('hex') }), docker ? DOCKER_CONFIG : OCI_CONFIG);
  const layers = Array.from({ length: o.layers ?? 1 }, () => blobOf(randomBlob(300), docker ? DOCKER_LAYER : OCI_LAYER));
  const mediaType = docker ? DOCKER_MANIFEST : OCI_MANIFEST;
  const doc: Record<string, unknown> = { schemaVersion: 2, mediaType };
  if (o.artifactType) doc.artifactType = o.artifactType;
  doc.config = config.descriptor;
  doc.layers = layers.map((l) => l.descriptor);
  if (o.subject) doc.subject = o.subject;
  if (o.annotations) doc.annotations = o.annotations;
  const manifest = manifestOf(doc, mediaType);
  manifest.descriptor.platform = platform;
  return { blobs: [config, ...layers], config, layers, manifest };
}

/** An OCI index (or a Docker manifest list) over these manifests, each with its platform. */
export function makeIndex(children: Descriptor[], o: { format?: 'oci' | 'docker'; artifactType?: string; subject?: Descriptor; annotations?: Record<string, string> } = {}): Manifest {
  const mediaType = o.format === 'docker' ? DOCKER_LIST : OCI_INDEX;
  const doc: Record<string, unknown> = { schemaVersion: 2, mediaType };
  if (o.artifactType) doc.artifactType = o.artifactType;
  doc.manifests = children;
  if (o.subject) doc.subject = o.subject;
  if (o.annotations) doc.annotations = o.annotations;
  return manifestOf(doc, mediaType);
}

// ---- The client ----

/** Requests to /v2 with a registry token (or none), through `send`. */
export class RegistryClient {
  constructor(
    readonly send: Send,
    readonly token: string | null,
  ) {}

  static inject(t: TestApp | FastifyInstance, token: string | null): RegistryClient {
    return new RegistryClient(injectSender(t), token);
  }

  /** A client for a user's token over `scopes`, fetched from /v2/auth. */
  static async login(t: TestApp, creds: Credentials, scopes: string | string[]): Promise<RegistryClient> {
    return new RegistryClient(injectSender(t), await registryToken(t, creds, scopes));
  }

  request(method: string, url: string, o: { headers?: Record<string, string>; body?: Buffer | string | Readable } = {}): Promise<RegistryResponse> {
    const headers: Record<string, string> = { ...(this.token ? { authorization: `Bearer ${this.token}` } : {}), ...o.headers };
    return this.send({ method, url, headers, body: o.body });
  }

  /** POST ?digest= with the whole blob; expects 201 and returns the digest. */
  async pushBlob(name: string, bytes: Buffer, algorithm: Algorithm = 'sha256'): Promise<string> {
    const digest = digestOf(bytes, algorithm);
    const res = await this.request('POST', `/v2/${name}/blobs/uploads/?digest=${digest}`, {
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) },
      body: bytes,
    });
    expect(res.statusCode, res.text).toBe(201);
    return digest;
  }

  /** Opens an upload session (202); returns its Location path. */
  async startUpload(name: string, query = ''): Promise<string> {
    const res = await this.request('POST', `/v2/${name}/blobs/uploads/${query}`, { headers: { 'content-length': '0' } });
    expect(res.statusCode, res.text).toBe(202);
    return res.header('location')!;
  }

  patch(location: string, chunk: Buffer, range?: { start: number } | false): Promise<RegistryResponse> {
    const headers: Record<string, string> = { 'content-type': 'application/octet-stream', 'content-length': String(chunk.length) };
    if (range) headers['content-range'] = `${range.start}-${range.start + chunk.length - 1}`;
    return this.request('PATCH', location, { headers, body: chunk });
  }

  put(location: string, digest: string, chunk?: Buffer, range?: { start: number }): Promise<RegistryResponse> {
    const headers: Record<string, string> = { 'content-type': 'application/octet-stream', 'content-length': String(chunk?.length ?? 0) };
    if (chunk && range) headers['content-range'] = `${range.start}-${range.start + chunk.length - 1}`;
    const sep = location.includes('?') ? '&' : '?';
    return this.request('PUT', `${location}${sep}digest=${encodeURIComponent(digest)}`, { headers, body: chunk ?? '' });
  }

  /** PUT /v2/<name>/manifests/<ref>; returns the response (callers check it). */
  putManifest(name: string, ref: string, m: Pick<Manifest, 'bytes' | 'mediaType'>, contentType: string | null = m.mediaType): Promise<RegistryResponse> {
    return this.request('PUT', `/v2/${name}/manifests/${ref}`, { headers: contentType ? { 'content-type': contentType } : {}, body: m.bytes });
  }

  /** Pushes the image's blobs (monolithically) and its manifest under `ref` (default: its digest); expects 201. */
  async pushImage(name: string, image: { blobs: Blob[]; manifest: Manifest }, ref = image.manifest.digest): Promise<RegistryResponse> {
    for (const b of image.blobs) await this.pushBlob(name, b.bytes, b.descriptor.digest.startsWith('sha512:') ? 'sha512' : 'sha256');
    const res = await this.putManifest(name, ref, image.manifest);
    expect(res.statusCode, res.text).toBe(201);
    return res;
  }

  /** Pushes a manifest that needs no new blobs (an index); expects 201. */
  async pushManifest(name: string, m: Manifest, ref = m.digest): Promise<RegistryResponse> {
    const res = await this.putManifest(name, ref, m);
    expect(res.statusCode, res.text).toBe(201);
    return res;
  }
}

/** Checks an OCI error envelope with one error of `code`; returns the error. */
export function expectError(res: RegistryResponse, status: number, code: string): { code: string; message: string; detail: unknown } {
  expect(res.statusCode, res.text).toBe(status);
  expect(res.header('content-type') ?? '').toContain('application/json');
  const body = res.json();
  expect(body.errors, res.text).toHaveLength(1);
  expect(body.errors[0].code, res.text).toBe(code);
  return body.errors[0];
}
