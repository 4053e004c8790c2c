// The one place that reads process.env. Settings come from the environment and, optionally, from a
// Quay-style config.yaml named by CONFIG_FILE (Quay's key names). The environment wins over the file.
// One zod schema coerces, applies defaults and reports every problem before the server listens.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { resolveStorage } from './storage/settings.js';
import { invalidAllowEntries } from './lib/outbound.js';

const bool = (dflt: boolean) =>
  z
    .union([z.boolean(), z.string(), z.number()])
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return dflt;
      if (typeof v === 'boolean') return v;
      const s = String(v).trim().toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(s)) return true;
      if (['false', '0', 'no', 'off'].includes(s)) return false;
      ctx.addIssue({ code: 'custom', message: `expected a boolean (true/false), got ${JSON.stringify(v)}` });
      return z.NEVER;
    });

const list = z
  .union([z.array(z.string()), z.string()])
  .optional()
  .transform((v) =>
    (Array.isArray(v) ? v : (v ?? '').split(','))
      .map((s) => s.trim())
      .filter((s) => s.length > 0),
  );

// "10m", "2h", "30s", "1d", "2w" or a number of seconds, as Quay's duration settings.
export function parseDuration(v: string | number): number | undefined {
  if (typeof v === 'number') return v;
  const m = /^\s*(\d+)\s*([smhdw]?)\s*$/.exec(v);
  if (!m) return undefined;
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[m[2] as '' | 's' | 'm' | 'h' | 'd' | 'w'];
  return Number(m[1]) * unit;
}
const durationOr = <T extends number | null>(dflt: T) =>
  z
    .union([z.string(), z.number()])
    .optional()
    .nullable()
    .transform((v, ctx): number | T => {
      if (v === undefined || v === null || v === '') return dflt;
      const s = parseDuration(v);
      if (s === undefined) {
        ctx.addIssue({ code: 'custom', message: `expected a duration such as 600, 10m, 2h, 1d or 2w, got ${JSON.stringify(v)}` });
        return z.NEVER;
      }
      return s;
    });

const hostname = z
  .string()
  .regex(/^[A-Za-z0-9.\-]+(:\d{1,5})?$/, 'expected host or host:port, without a scheme or path');

export const ConfigSchema = z
  .object({
    PORT: z.coerce.number().int().min(0).max(65535).default(8080),
    HOST: z.string().min(1).default('0.0.0.0'),
    DATA_DIR: z.string().min(1).default('./data'),
    DATABASE_URL: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'expected a postgres:// or postgresql:// URL')
      .optional(),
    /**
     * Durability of the embedded database (PGlite in DATA_DIR/db; ignored with DATABASE_URL).
     * `full`: each commit is fsynced before it is acknowledged, so acknowledged writes survive an
     * operating-system crash or power loss. `off`: PGlite's own default; acknowledged writes
     * survive the server being killed but not an OS crash, which can also corrupt the database.
     * `off` is faster for single-statement writes (bench/pglite-durability.ts).
     */
    EMBEDDED_DB_SYNC: z.enum(['full', 'off']).default('full'),
    SERVER_HOSTNAME: hostname.optional(),
    PREFERRED_URL_SCHEME: z.enum(['http', 'https']).default('http'),
    SUPER_USERS: list,
    /** Users who may read every superuser endpoint and every namespace's read endpoints, and change nothing. */
    GLOBAL_READONLY_SUPER_USERS: list,
    DATABASE_SECRET_KEY: z.string().min(16, 'must be at least 16 characters').optional(),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    REGISTRY_TITLE: z.string().default('Project Quay'),
    REGISTRY_TITLE_SHORT: z.string().default('Project Quay'),
    MAIL_DEFAULT_SENDER: z.string().default('admin@example.com'),
    CORS_ORIGIN: z.string().default('*'),
    BROWSER_API_CALLS_XHR_ONLY: bool(true),
    FRESH_LOGIN_TIMEOUT: durationOr(600),
    SESSION_TIMEOUT: durationOr(31 * 86400),
    APP_SPECIFIC_TOKEN_EXPIRATION: durationOr(null),
    /**
     * Audit-log rotation (Quay's names): with FEATURE_ACTION_LOG_ROTATION, entries older than
     * ACTION_LOG_ROTATION_THRESHOLD go, a whole month at a time (the table is partitioned by month).
     * Off by default: entries are kept.
     */
    FEATURE_ACTION_LOG_ROTATION: bool(false),
    ACTION_LOG_ROTATION_THRESHOLD: durationOr(30 * 86400),
    /** How long validated tokens and organization lists are cached per process (0 disables). */
    AUTH_CACHE_SECONDS: durationOr(5),
    /**
     * Rotation of the instance key that signs registry tokens (src/registry/service-keys.ts), in
     * minutes as Quay's keys. EXPIRATION: lifetime of each new instance key (0: keys never expire,
     * and a new one signs only after an administrator expires or deletes the current one).
     * REFRESH: how long a key signs before a new one takes over; the old one verifies until it
     * expires. A key never signs within 61 minutes of its expiry (a token lives an hour).
     */
    INSTANCE_SERVICE_KEY_EXPIRATION: z.coerce
      .number()
      .int()
      .refine((m) => m === 0 || m >= 65, 'expected 0 (never) or at least 65 minutes')
      .default(120),
    INSTANCE_SERVICE_KEY_REFRESH: z.coerce.number().int().min(1, 'at least 1 minute').default(55),
    LOCAL_OAUTH_HANDLER: z.string().startsWith('/').default('/oauth/localapp'),
    AUTHENTICATION_TYPE: z.literal('Database').default('Database'),
    FEATURE_USER_INITIALIZE: bool(true),
    FEATURE_ANONYMOUS_ACCESS: bool(true),
    FEATURE_SUPER_USERS: bool(true),
    /** Superusers (SUPER_USERS) may act on any namespace's repositories, teams and permissions as its admin would. */
    FEATURE_SUPERUSERS_FULL_ACCESS: bool(false),
    /** Users may rename their own account (changeUserDetails `username`); robots and repositories follow. */
    FEATURE_USER_RENAME: bool(false),
    /** Users may set given_name, family_name, company and location (changeUserDetails). */
    FEATURE_USER_METADATA: bool(false),
    FEATURE_APP_SPECIFIC_TOKENS: bool(true),
    FEATURE_USER_CREATION: bool(true),
    FEATURE_DIRECT_LOGIN: bool(true),
    /** Entity search matches usernames by prefix; off: only exact names. */
    FEATURE_PARTIAL_USER_AUTOCOMPLETE: bool(true),
    /** Users and orgs may change their time-machine window, to one of TAG_EXPIRATION_OPTIONS. */
    FEATURE_CHANGE_TAG_EXPIRATION: bool(true),
    /** The shortest and longest time after a tag's start that an expiration may set its end (clamped, as Quay). */
    LABELED_EXPIRATION_MINIMUM: durationOr(3600),
    LABELED_EXPIRATION_MAXIMUM: durationOr(104 * 7 * 86400),
    /** Label key prefixes reserved besides Quay's own (com.docker., io.quay, quay…): API labels may not use them. */
    LABEL_KEY_RESERVED_PREFIXES: list,
    TAG_EXPIRATION_OPTIONS: z
      .union([z.array(z.string()), z.string()])
      .optional()
      .transform((v, ctx) => {
        const list = (Array.isArray(v) ? v : (v ?? '0s,1d,1w,2w,4w').split(',')).map((s) => s.trim()).filter(Boolean);
        for (const o of list) {
          if (parseDuration(o) === undefined) {
            ctx.addIssue({ code: 'custom', message: `${JSON.stringify(o)} is not a duration such as 0s, 1d or 2w` });
            return z.NEVER;
          }
        }
        return list;
      }),
    /** Refuse to create robot accounts. */
    ROBOTS_DISALLOW: bool(false),
    /**
     * Mail: sign-up confirmation, password recovery and team invitations by e-mail, sent through
     * MAIL_SERVER. Off (the default), new users are verified at once and team members are added
     * directly.
     */
    FEATURE_MAILING: bool(false),
    /** With MAILING: adding a user who is in no team of the organization sends an invite instead. */
    FEATURE_REQUIRE_TEAM_INVITE: bool(true),
    MAIL_SERVER: z.string().min(1).optional(),
    MAIL_PORT: z.coerce.number().int().min(1).max(65535).default(587),
    /** STARTTLS when the server offers it; required when true. */
    MAIL_USE_TLS: bool(true),
    MAIL_USE_AUTH: bool(false),
    MAIL_USERNAME: z.string().optional(),
    MAIL_PASSWORD: z.string().optional(),
    /** Repository state changes (NORMAL, READ_ONLY, MIRROR): changeRepoState exists only when true. */
    FEATURE_REPO_MIRROR: bool(false),
    /** Registry (/v2): a one-segment name `x` means LIBRARY_NAMESPACE/x; off, it is refused (NAME_INVALID). */
    FEATURE_LIBRARY_SUPPORT: bool(true),
    LIBRARY_NAMESPACE: z.string().regex(/^[a-z0-9][.a-z0-9_-]{0,254}$/, 'expected a namespace name').default('library'),
    /** /v2/_catalog also lists public repositories (anonymous callers see only those). */
    FEATURE_PUBLIC_CATALOG: bool(false),
    /** Repositories created by a push (at /v2/auth) are private; false makes them public. */
    CREATE_PRIVATE_REPO_ON_PUSH: bool(true),
    /**
     * Requests per client IP and RATE_LIMIT_WINDOW to each credential endpoint (sign-in, the OAuth
     * token exchange, sign-up, account recovery); 0 turns the limit off.
     */
    RATE_LIMIT_PER_IP: z.coerce.number().int().min(0).max(1_000_000).default(30),
    RATE_LIMIT_WINDOW: durationOr(60),
    /**
     * Failed attempts on one account (or OAuth client, or mailed address), from all addresses, within
     * ACCOUNT_FAILURE_WINDOW, after which the addresses that failed on it must wait out the window.
     * Addresses without failures of their own are not refused (src/services/throttle.ts).
     */
    ACCOUNT_FAILURE_LIMIT: z.coerce.number().int().min(1).max(1_000_000).default(10),
    ACCOUNT_FAILURE_WINDOW: durationOr(900).pipe(z.number().max(86400, 'at most 1d')),
    /**
     * Whether to believe X-Forwarded-For for the client address (Fastify's trustProxy): `true`, a
     * number of hops, or a comma-separated list of proxy addresses/CIDRs. Set it behind a load
     * balancer, or every client shares the balancer's address for the per-IP limits.
     */
    TRUST_PROXY: z
      .union([z.boolean(), z.string(), z.number()])
      .optional()
      .transform((v, ctx): boolean | number | string[] => {
        if (v === undefined || v === '' || v === false) return false;
        if (v === true || v === 'true') return true;
        if (v === 'false') return false;
        if (typeof v === 'number' || /^\d+$/.test(v)) return Number(v);
        const list = v.split(',').map((s) => s.trim()).filter(Boolean);
        if (list.some((s) => !/^[0-9a-fA-F:.]+(\/\d{1,3})?$/.test(s))) {
          ctx.addIssue({ code: 'custom', message: 'expected true, a number of hops, or a list of IP addresses/CIDRs' });
          return z.NEVER;
        }
        return list;
      }),
    /**
     * Blob storage (src/storage/; settings.ts resolves these keys into `STORAGE`). Either Quay's
     * DISTRIBUTED_STORAGE_CONFIG, a map of location → [driver, {parameters}] with driver LocalStorage
     * {storage_path}, S3Storage {s3_bucket, storage_path, s3_access_key, s3_secret_key, host, port,
     * endpoint_url, s3_region} or RadosGWStorage {hostname, port, is_secure, storage_path,
     * access_key, secret_key, bucket_name} (a mapping in config.yaml, a JSON string in the
     * environment), used at its DISTRIBUTED_STORAGE_PREFERENCE location; or the simple keys
     * STORAGE_DRIVER and the rest. Neither: files under DATA_DIR/storage.
     */
    DISTRIBUTED_STORAGE_CONFIG: z
      .union([z.string(), z.record(z.string(), z.unknown())])
      .optional()
      .transform((v, ctx): Record<string, unknown> | undefined => {
        if (v === undefined || v === '') return undefined;
        if (typeof v !== 'string') return v;
        let doc: unknown;
        try {
          doc = JSON.parse(v);
        } catch {
          // JSON.parse's own message quotes the input, which may hold a secret key: say less.
          ctx.addIssue({ code: 'custom', message: 'is not valid JSON' });
          return z.NEVER;
        }
        if (typeof doc === 'object' && doc !== null && !Array.isArray(doc)) return doc as Record<string, unknown>;
        ctx.addIssue({ code: 'custom', message: 'expected a JSON object of location: [driver, {parameters}]' });
        return z.NEVER;
      }),
    /** Locations of DISTRIBUTED_STORAGE_CONFIG by preference; the first is used. */
    DISTRIBUTED_STORAGE_PREFERENCE: list,
    /** `filesystem` (the default) or `s3`. */
    STORAGE_DRIVER: z.enum(['filesystem', 's3']).optional(),
    /** filesystem: the root directory (default DATA_DIR/storage); s3: a key prefix in the bucket. */
    STORAGE_PATH: z.string().min(1).optional(),
    /**
     * s3: the bucket (required); the http(s) URL of a non-AWS service (Ceph RGW, MinIO…); the
     * region (us-east-1); the access and secret keys (both, or neither for the AWS SDK's default
     * chain); path-style addressing (default: on with S3_ENDPOINT unless it is AWS).
     */
    S3_BUCKET: z.string().min(1).optional(),
    S3_ENDPOINT: z.string().min(1).optional(),
    S3_REGION: z.string().min(1).optional(),
    S3_ACCESS_KEY: z.string().min(1).optional(),
    S3_SECRET_KEY: z.string().min(1).optional(),
    S3_PATH_STYLE: z
      .union([z.boolean(), z.string(), z.number()])
      .optional()
      .transform((v, ctx): boolean | undefined => {
        if (v === undefined || v === '') return undefined;
        const r = bool(false).safeParse(v);
        if (r.success) return r.data;
        ctx.addIssue({ code: 'custom', message: 'expected a boolean (true/false)' });
        return z.NEVER;
      }),
    /** s3: answer blob GETs with a 302 to a presigned URL; clients must be able to reach the endpoint. */
    STORAGE_REDIRECT_GETS: bool(false),
    /**
     * Background jobs (src/jobs/: a queue table claimed with FOR UPDATE SKIP LOCKED).
     * JOBS_IN_PROCESS: `serve` also runs the worker; false where separate `worker` processes do the
     * work. JOB_POLL_INTERVAL: how often an idle worker looks for jobs (a job enqueued by the same
     * process starts at once). JOB_CONCURRENCY: jobs one process runs at the same time.
     * JOB_SHUTDOWN_TIMEOUT: how long closing waits for running jobs before leaving them to run
     * again elsewhere once their leases expire.
     */
    JOBS_IN_PROCESS: bool(true),
    JOB_POLL_INTERVAL: durationOr(5).pipe(z.number().min(1, 'at least 1s').max(3600, 'at most 1h')),
    JOB_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(2),
    JOB_SHUTDOWN_TIMEOUT: durationOr(30).pipe(z.number().max(3600, 'at most 1h')),
    /**
     * Garbage collection (src/jobs/gc.ts). GC_GRACE_PERIOD: how long an unreferenced blob, an
     * upload's repository link or a blob a push just claimed is kept (Quay keeps an upload linked
     * for PUSH_TEMP_TAG_EXPIRATION_SEC, 1h); it must outlast the slowest push between its blob
     * upload and its manifest. GC_INTERVAL: how often the garbage-collection and upload-expiry
     * sweeps run (each once per interval across all replicas); 0 turns the periodic sweeps off.
     * UPLOAD_EXPIRY: an upload session without activity for this long is removed with its bytes
     * (Quay: BLOBUPLOAD_DELETION_DATE_THRESHOLD, 2 days).
     */
    GC_GRACE_PERIOD: durationOr(3600).pipe(z.number().min(60, 'at least 1m').max(30 * 86400, 'at most 30d')),
    GC_INTERVAL: durationOr(600).pipe(z.number().max(7 * 86400, 'at most 1w')),
    UPLOAD_EXPIRY: durationOr(86400).pipe(z.number().min(600, 'at least 10m').max(30 * 86400, 'at most 30d')),
    /**
     * Outbound calls to user-chosen URLs (notification webhooks and Slack callbacks,
     * src/lib/outbound.ts) refuse loopback, private, link-local, CGNAT, multicast and reserved
     * addresses; these host names, IP addresses or CIDR ranges (comma list) are allowed anyway.
     */
    NOTIFICATION_ALLOWED_HOSTS: list.superRefine((l, ctx) => {
      const bad = invalidAllowEntries(l);
      if (bad.length) ctx.addIssue({ code: 'custom', message: `expected host names, IP addresses or CIDR ranges, got ${bad.map((b) => JSON.stringify(b)).join(', ')}` });
    }),
  })
  .superRefine((c, ctx) => {
    if (c.FEATURE_MAILING && !c.MAIL_SERVER) {
      ctx.addIssue({ code: 'custom', path: ['MAIL_SERVER'], message: 'required when FEATURE_MAILING is true' });
    }
    if (c.MAIL_USE_AUTH && !(c.MAIL_USERNAME && c.MAIL_PASSWORD)) {
      ctx.addIssue({ code: 'custom', path: ['MAIL_USERNAME'], message: 'MAIL_USERNAME and MAIL_PASSWORD are required when MAIL_USE_AUTH is true' });
    }
    for (const i of resolveStorage(c).issues) ctx.addIssue({ code: 'custom', path: i.path, message: i.message });
  })
  .transform((c) => ({ ...c, SERVER_HOSTNAME: c.SERVER_HOSTNAME ?? `localhost:${c.PORT || 8080}`, STORAGE: resolveStorage(c).settings! }));

export type ConfigInput = z.input<typeof ConfigSchema>;
export type Config = z.output<typeof ConfigSchema> & { DATABASE_SECRET_KEY: string };

// Quay's config.yaml names that differ from ours.
const FILE_ALIASES: Record<string, string> = { DB_URI: 'DATABASE_URL' };

export class ConfigError extends Error {}

function formatIssues(issues: z.core.$ZodIssue[]): string {
  return issues.map((i) => `  - ${i.path.join('.') || '(config)'}: ${i.message}`).join('\n');
}

export function parseConfig(raw: Record<string, unknown>): z.output<typeof ConfigSchema> {
  const r = ConfigSchema.safeParse(raw);
  if (!r.success) throw new ConfigError(`Invalid configuration:\n${formatIssues(r.error.issues)}`);
  return r.data;
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`Invalid configuration:\n  - CONFIG_FILE: cannot read ${file}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`Invalid configuration:\n  - CONFIG_FILE: ${file} is not valid YAML: ${(err as Error).message}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ConfigError(`Invalid configuration:\n  - CONFIG_FILE: ${file} must be a YAML mapping of Quay config keys`);
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(doc)) out[FILE_ALIASES[k] ?? k] = v;
  return out;
}

const KNOWN_KEYS = Object.keys(ConfigSchema.in.shape);

// The secret key encrypts robot and app tokens at rest. When none is configured it is generated once
// and kept in DATA_DIR, so a restart can still read what was written before.
function ensureSecretKey(dataDir: string): string {
  const file = path.join(dataDir, 'secret_key');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(dataDir, { recursive: true });
  const key = randomBytes(32).toString('base64url');
  writeFileSync(file, key + '\n', { mode: 0o600 });
  return key;
}

/** Reads the environment (and CONFIG_FILE): the only reader of process.env in the project. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const fromFile = env.CONFIG_FILE ? readConfigFile(env.CONFIG_FILE) : {};
  const fromEnv: Record<string, unknown> = {};
  for (const k of KNOWN_KEYS) if (env[k] !== undefined) fromEnv[k] = env[k];
  const parsed = parseConfig({ ...fromFile, ...fromEnv });
  return { ...parsed, DATABASE_SECRET_KEY: parsed.DATABASE_SECRET_KEY ?? ensureSecretKey(parsed.DATA_DIR) };
}

export function appUrl(config: Pick<Config, 'PREFERRED_URL_SCHEME' | 'SERVER_HOSTNAME'>): string {
  return `${config.PREFERRED_URL_SCHEME}://${config.SERVER_HOSTNAME}`;
}
