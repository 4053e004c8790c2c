// Which blob storage to use, from the configuration keys declared in src/config.ts: Quay's
// DISTRIBUTED_STORAGE_CONFIG (+ DISTRIBUTED_STORAGE_PREFERENCE) or the simple STORAGE_DRIVER /
// STORAGE_PATH / S3_* variables. config.ts calls resolveStorage twice: in its superRefine, to report
// every problem with the other config problems before the server listens, and in its final
// transform, to put the result in `config.STORAGE`.
//
// Quay's drivers and their parameter names (quay/quay:storage/__init__.py, local.py, cloud.py):
//   ["LocalStorage",   { storage_path }]
//   ["S3Storage",      { s3_bucket, storage_path, s3_access_key, s3_secret_key, host, port,
//                        endpoint_url, s3_region }]   host has no scheme: https://host[:port]
//   ["RadosGWStorage", { hostname, port, is_secure, storage_path, access_key, secret_key,
//                        bucket_name }]   also RHOCSStorage; path-style addressing
// Only the preferred location (the first of DISTRIBUTED_STORAGE_PREFERENCE, or the only one
// configured) is used: this server does not replicate blobs between locations as Quay can.
//
// Secrets: no message built here contains a configured value, and the resolved credentials print
// as "[redacted]" through JSON.stringify and util.inspect (and so through pino).
import { inspect } from 'node:util';
import path from 'node:path';
import { z } from 'zod';

export class S3Credentials {
  readonly accessKeyId: string;
  readonly #secret: string;
  constructor(accessKeyId: string, secretAccessKey: string) {
    this.accessKeyId = accessKeyId;
    this.#secret = secretAccessKey;
  }
  get secretAccessKey(): string {
    return this.#secret;
  }
  toJSON() {
    return { accessKeyId: this.accessKeyId, secretAccessKey: '[redacted]' };
  }
  [inspect.custom]() {
    return this.toJSON();
  }
}

export interface FilesystemSettings {
  driver: 'filesystem';
  /** Absolute or relative directory holding blobs/, uploads/ and tmp/. */
  root: string;
}

export interface S3Settings {
  driver: 's3';
  bucket: string;
  /** Key prefix in the bucket ('' or ending in '/'): Quay's storage_path without its leading '/'. */
  prefix: string;
  /** http(s)://host[:port] of an S3-compatible service; undefined means AWS. */
  endpoint?: string;
  region: string;
  forcePathStyle: boolean;
  /** Undefined: the AWS SDK's default chain (AWS_* environment, shared files, instance role). */
  credentials?: S3Credentials;
  /** Answer blob GETs with a 302 to a presigned URL instead of streaming them. */
  redirectGets: boolean;
}

export type StorageSettings = FilesystemSettings | S3Settings;

/** What resolveStorage reads from the parsed config (the keys of the storage block in config.ts). */
export interface StorageConfigKeys {
  DATA_DIR: string;
  DISTRIBUTED_STORAGE_CONFIG?: Record<string, unknown>;
  DISTRIBUTED_STORAGE_PREFERENCE: string[];
  STORAGE_DRIVER?: 'filesystem' | 's3';
  STORAGE_PATH?: string;
  S3_BUCKET?: string;
  S3_ENDPOINT?: string;
  S3_REGION?: string;
  S3_ACCESS_KEY?: string;
  S3_SECRET_KEY?: string;
  S3_PATH_STYLE?: boolean;
  STORAGE_REDIRECT_GETS: boolean;
}

export interface StorageIssue {
  path: (string | number)[];
  message: string;
}

const DEFAULT_REGION = 'us-east-1';

const str = z.string({ error: (i) => (i.input === undefined ? 'required' : 'expected a string') }).trim().min(1, 'must not be empty');
const optStr = z.string({ error: 'expected a string' }).optional();
// Quay passes the parameters to the driver's constructor, which rejects unknown ones; so do we,
// naming them (a typo such as s3_bukcet would otherwise go unnoticed).
const params = <T extends z.core.$ZodLooseShape>(shape: T, driver: string) =>
  z.strictObject(shape, {
    error: (i) => (i.code === 'unrecognized_keys' ? `unknown ${driver} parameter(s): ${i.keys.join(', ')}; accepted: ${Object.keys(shape).join(', ')}` : undefined),
  });
const port = z.union([z.number(), z.string()], { error: 'expected a port number (1-65535)' }).transform((v, ctx) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) {
    ctx.addIssue({ code: 'custom', message: 'expected a port number (1-65535)' });
    return z.NEVER;
  }
  return n;
});
const flag = z
  .union([z.boolean(), z.enum(['true', 'false', 'True', 'False'])], { error: (i) => (i.input === undefined ? 'required' : 'expected true or false') })
  .transform((v) => v === true || v === 'true' || v === 'True');
const hostNoScheme = str.refine((h) => !/^https?:/i.test(h), 'host name must not start with http:// or https:// (use endpoint_url)');

const LocalStorageParams = params({ storage_path: str }, 'LocalStorage');
const S3StorageParams = params(
  {
    s3_bucket: str,
    storage_path: optStr,
    s3_access_key: optStr,
    s3_secret_key: optStr,
    host: hostNoScheme.optional(),
    port: port.optional(),
    endpoint_url: optStr,
    s3_region: optStr,
    // Not in Quay's S3Storage (which always uses https with `host`): accepted for plain-http services.
    is_secure: flag.optional(),
  },
  'S3Storage',
);
const RadosGWParams = params(
  {
    hostname: str,
    port: port.optional(),
    is_secure: flag,
    storage_path: optStr,
    access_key: str,
    secret_key: str,
    bucket_name: str,
  },
  'RadosGWStorage',
);

const DRIVERS = ['LocalStorage', 'S3Storage', 'RadosGWStorage', 'RHOCSStorage'] as const;

/** "http(s)://host[:port]" from Quay's host/port/is_secure (quay/quay:storage/cloud.py _build_endpoint_url). */
function buildEndpoint(host: string, port: number | undefined, secure: boolean): string {
  let url = /^https?:\/\//i.test(host) ? host : `${secure ? 'https' : 'http'}://${host}`;
  if (port !== undefined && !/:\d+\/?$/.test(url.replace(/^https?:\/\//i, ''))) url = `${url.replace(/\/$/, '')}:${port}`;
  return url;
}

function checkEndpoint(url: string): string | undefined {
  try {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return 'expected an http:// or https:// URL';
    if (u.username || u.password) return 'must not contain credentials (use the access/secret key settings)';
    if (u.search || u.hash) return 'must not have a query or fragment';
    return undefined;
  } catch {
    return 'expected an http:// or https:// URL';
  }
}

/** Non-AWS endpoints (Ceph, MinIO …) generally need path-style addressing; AWS prefers virtual hosts. */
function pathStyleFor(endpoint: string | undefined): boolean {
  if (!endpoint) return false;
  return !new URL(endpoint).hostname.endsWith('.amazonaws.com');
}

function prefixFrom(storagePath: string | undefined): string {
  const p = (storagePath ?? '').replace(/^\/+|\/+$/g, '');
  return p ? `${p}/` : '';
}

function credentials(accessKey: string | undefined, secretKey: string | undefined): S3Credentials | undefined {
  return accessKey && secretKey ? new S3Credentials(accessKey, secretKey) : undefined;
}

function zodIssues(base: (string | number)[], error: z.ZodError): StorageIssue[] {
  return error.issues.map((i) => ({ path: [...base, ...i.path.map((p) => (typeof p === 'symbol' ? String(p) : p))], message: i.message }));
}

function fromQuayLocation(
  key: (string | number)[],
  entry: unknown,
  c: StorageConfigKeys,
  issues: StorageIssue[],
): StorageSettings | undefined {
  if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== 'string' || typeof entry[1] !== 'object' || entry[1] === null || Array.isArray(entry[1])) {
    issues.push({ path: key, message: 'expected [driverName, {parameters}], e.g. ["LocalStorage", {"storage_path": "/datastorage/registry"}]' });
    return undefined;
  }
  const [driver, params] = entry as [string, Record<string, unknown>];
  if (!(DRIVERS as readonly string[]).includes(driver)) {
    issues.push({ path: [...key, 0], message: `unsupported storage driver ${JSON.stringify(driver).slice(0, 60)}; supported: ${DRIVERS.join(', ')}` });
    return undefined;
  }
  const at = [...key, 1];
  if (driver === 'LocalStorage') {
    const r = LocalStorageParams.safeParse(params);
    if (!r.success) return void issues.push(...zodIssues(at, r.error));
    return { driver: 'filesystem', root: r.data.storage_path };
  }
  if (driver === 'S3Storage') {
    const r = S3StorageParams.safeParse(params);
    if (!r.success) return void issues.push(...zodIssues(at, r.error));
    const p = r.data;
    const before = issues.length;
    if (!!p.s3_access_key !== !!p.s3_secret_key) {
      issues.push({ path: [...at, 's3_access_key'], message: 's3_access_key and s3_secret_key go together (or leave both out for the AWS default credentials)' });
    }
    if (p.endpoint_url && p.host) issues.push({ path: [...at, 'host'], message: 'give either host (and port) or endpoint_url, not both' });
    const endpoint = p.endpoint_url ?? (p.host ? buildEndpoint(p.host, p.port, p.is_secure ?? true) : undefined);
    const bad = endpoint ? checkEndpoint(endpoint) : undefined;
    if (bad) issues.push({ path: [...at, p.endpoint_url ? 'endpoint_url' : 'host'], message: bad });
    if (issues.length > before) return undefined;
    return {
      driver: 's3',
      bucket: p.s3_bucket,
      prefix: prefixFrom(p.storage_path),
      endpoint,
      region: p.s3_region || DEFAULT_REGION,
      forcePathStyle: pathStyleFor(endpoint),
      credentials: credentials(p.s3_access_key, p.s3_secret_key),
      redirectGets: c.STORAGE_REDIRECT_GETS,
    };
  }
  const r = RadosGWParams.safeParse(params);
  if (!r.success) return void issues.push(...zodIssues(at, r.error));
  const p = r.data;
  const endpoint = buildEndpoint(p.hostname, p.port, p.is_secure);
  const bad = checkEndpoint(endpoint);
  if (bad) return void issues.push({ path: [...at, 'hostname'], message: bad });
  return {
    driver: 's3',
    bucket: p.bucket_name,
    prefix: prefixFrom(p.storage_path),
    endpoint,
    region: DEFAULT_REGION,
    forcePathStyle: true,
    credentials: credentials(p.access_key, p.secret_key),
    redirectGets: c.STORAGE_REDIRECT_GETS,
  };
}

const S3_KEYS = ['S3_BUCKET', 'S3_ENDPOINT', 'S3_REGION', 'S3_ACCESS_KEY', 'S3_SECRET_KEY', 'S3_PATH_STYLE'] as const;

/** The storage to use, or the problems that prevent choosing one (each naming its key). */
export function resolveStorage(c: StorageConfigKeys): { settings?: StorageSettings; issues: StorageIssue[] } {
  const issues: StorageIssue[] = [];
  const s3KeysSet = S3_KEYS.filter((k) => c[k] !== undefined);

  if (c.DISTRIBUTED_STORAGE_CONFIG !== undefined) {
    for (const k of ['STORAGE_DRIVER', 'STORAGE_PATH', ...s3KeysSet] as const) {
      if (c[k] !== undefined) issues.push({ path: [k], message: 'cannot be combined with DISTRIBUTED_STORAGE_CONFIG: use one or the other' });
    }
    const locations = Object.keys(c.DISTRIBUTED_STORAGE_CONFIG);
    const resolved = new Map<string, StorageSettings | undefined>();
    for (const loc of locations) resolved.set(loc, fromQuayLocation(['DISTRIBUTED_STORAGE_CONFIG', loc], c.DISTRIBUTED_STORAGE_CONFIG[loc], c, issues));
    let chosen: string | undefined;
    if (c.DISTRIBUTED_STORAGE_PREFERENCE.length > 0) {
      chosen = c.DISTRIBUTED_STORAGE_PREFERENCE[0];
      const unknown = c.DISTRIBUTED_STORAGE_PREFERENCE.filter((l) => !locations.includes(l));
      if (unknown.length) issues.push({ path: ['DISTRIBUTED_STORAGE_PREFERENCE'], message: `names locations not in DISTRIBUTED_STORAGE_CONFIG: ${unknown.join(', ')}` });
    } else if (locations.length === 1) {
      chosen = locations[0];
    } else {
      issues.push({
        path: ['DISTRIBUTED_STORAGE_PREFERENCE'],
        message: locations.length === 0 ? 'DISTRIBUTED_STORAGE_CONFIG has no location' : `required to choose among the locations ${locations.join(', ')}`,
      });
    }
    const settings = chosen !== undefined ? resolved.get(chosen) : undefined;
    return issues.length || !settings ? { issues } : { settings, issues };
  }

  const driver = c.STORAGE_DRIVER ?? 'filesystem';
  if (driver === 'filesystem') {
    if (s3KeysSet.length) {
      for (const k of s3KeysSet) {
        issues.push({ path: [k], message: c.STORAGE_DRIVER ? 'only used with STORAGE_DRIVER=s3' : 'set STORAGE_DRIVER=s3 to use S3 storage' });
      }
      return { issues };
    }
    return { settings: { driver: 'filesystem', root: c.STORAGE_PATH ?? path.join(c.DATA_DIR, 'storage') }, issues };
  }

  if (!c.S3_BUCKET) issues.push({ path: ['S3_BUCKET'], message: 'required when STORAGE_DRIVER=s3' });
  if (!!c.S3_ACCESS_KEY !== !!c.S3_SECRET_KEY) {
    issues.push({ path: [c.S3_ACCESS_KEY ? 'S3_SECRET_KEY' : 'S3_ACCESS_KEY'], message: 'S3_ACCESS_KEY and S3_SECRET_KEY go together (or leave both unset for the AWS default credentials)' });
  }
  const bad = c.S3_ENDPOINT !== undefined ? checkEndpoint(c.S3_ENDPOINT) : undefined;
  if (bad) issues.push({ path: ['S3_ENDPOINT'], message: bad });
  if (issues.length) return { issues };
  const endpoint = c.S3_ENDPOINT?.replace(/\/+$/, '');
  return {
    settings: {
      driver: 's3',
      bucket: c.S3_BUCKET!,
      prefix: prefixFrom(c.STORAGE_PATH),
      endpoint,
      region: c.S3_REGION ?? DEFAULT_REGION,
      forcePathStyle: c.S3_PATH_STYLE ?? pathStyleFor(endpoint),
      credentials: credentials(c.S3_ACCESS_KEY, c.S3_SECRET_KEY),
      redirectGets: c.STORAGE_REDIRECT_GETS,
    },
    issues,
  };
}

/** A one-line description for the startup log; never contains a secret. */
export function describeStorage(s: StorageSettings): string {
  if (s.driver === 'filesystem') return `filesystem in ${path.resolve(s.root)}`;
  const where = s.endpoint ?? `AWS ${s.region}`;
  return `S3 bucket ${s.bucket}${s.prefix ? ` under ${s.prefix}` : ''} at ${where}${s.redirectGets ? ', GETs redirected to presigned URLs' : ''}`;
}
