// The one place that reads process.env. Settings come from the environment and, optionally, from a
// Quay-style config.yaml named by CONFIG_FILE (Quay's key names). The environment wins over the file.
// One zod schema coerces, applies defaults and reports every problem before the server listens.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

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
    /** How long validated tokens and organization lists are cached per process (0 disables). */
    AUTH_CACHE_SECONDS: durationOr(5),
    LOCAL_OAUTH_HANDLER: z.string().startsWith('/').default('/oauth/localapp'),
    AUTHENTICATION_TYPE: z.literal('Database').default('Database'),
    FEATURE_USER_INITIALIZE: bool(true),
    FEATURE_ANONYMOUS_ACCESS: bool(true),
    FEATURE_SUPER_USERS: bool(true),
    FEATURE_APP_SPECIFIC_TOKENS: bool(true),
    FEATURE_USER_CREATION: bool(true),
    FEATURE_DIRECT_LOGIN: bool(true),
    /** Entity search matches usernames by prefix; off: only exact names. */
    FEATURE_PARTIAL_USER_AUTOCOMPLETE: bool(true),
    /** Users and orgs may change their time-machine window, to one of TAG_EXPIRATION_OPTIONS. */
    FEATURE_CHANGE_TAG_EXPIRATION: bool(true),
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
  })
  .superRefine((c, ctx) => {
    if (c.FEATURE_MAILING && !c.MAIL_SERVER) {
      ctx.addIssue({ code: 'custom', path: ['MAIL_SERVER'], message: 'required when FEATURE_MAILING is true' });
    }
    if (c.MAIL_USE_AUTH && !(c.MAIL_USERNAME && c.MAIL_PASSWORD)) {
      ctx.addIssue({ code: 'custom', path: ['MAIL_USERNAME'], message: 'MAIL_USERNAME and MAIL_PASSWORD are required when MAIL_USE_AUTH is true' });
    }
  })
  .transform((c) => ({ ...c, SERVER_HOSTNAME: c.SERVER_HOSTNAME ?? `localhost:${c.PORT || 8080}` }));

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
