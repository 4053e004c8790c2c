// Command line: serve (default), migrate, and admin helpers to create a user and mint a token.
import { parseArgs } from 'node:util';
import { SCOPE_NAMES, parseScopeString } from './auth/scopes.js';
import { randomString, SecretBox, UPPER_DIGITS } from './auth/crypto.js';
import { DEFAULT_TOKEN_LIFETIME_S, mintAccessToken } from './auth/tokens.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { databaseOptions, migrateToLatest, openDatabase } from './db/index.js';
import { DatabaseInUseError } from './db/lock.js';
import { findApplicationByClientId, insertApplication } from './db/oauth.js';
import { findUserByLogin } from './db/users.js';
import { OWNER_ONLY_UMASK, restrictDataDir } from './lib/data-dir.js';
import { AccountError, createAccount } from './services/accounts.js';

const USAGE = `Usage: quay-compat <command> [options]

Commands:
  serve                                   start the server (the default)
  migrate                                 apply pending database migrations and exit
  worker                                  run only the job worker (no HTTP listener); SIGINT/SIGTERM
                                          stop it after running jobs finish (JOB_SHUTDOWN_TIMEOUT)
  gc                                      run one garbage-collection and upload-expiry sweep now
                                          (GC_GRACE_PERIOD, UPLOAD_EXPIRY) and print what it removed
  create-user <username> --password <p> [--email <e>]
                                          create a user (verified)
  create-token <username> [--scopes "<scope> <scope>"] [--expires-in <seconds>]
                                          mint an OAuth access token for a user and print it
                                          (scopes: ${SCOPE_NAMES.join(' ')}; default: all but super:user)

Configuration comes from the environment (and CONFIG_FILE); see the README.`;

async function withDb<T>(config: Config, fn: (db: Awaited<ReturnType<typeof openDatabase>>['db']) => Promise<T>): Promise<T> {
  const database = await openDatabase(databaseOptions(config));
  try {
    await migrateToLatest(database.db);
    return await fn(database.db);
  } finally {
    await database.close();
  }
}

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      password: { type: 'string' },
      email: { type: 'string' },
      scopes: { type: 'string' },
      'expires-in': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command = 'serve', ...rest] = positionals;
  if (values.help || command === 'help') {
    console.log(USAGE);
    return 0;
  }
  // Everything this process creates (DATA_DIR, the secret key, PGlite's files, the lock file) is
  // the owner's only; see src/lib/data-dir.ts.
  process.umask(OWNER_ONLY_UMASK);
  const config = loadConfig();
  const fixed = restrictDataDir(config.DATA_DIR, { embedded: !config.DATABASE_URL });
  if (fixed > 0) console.error(`Restricted ${fixed} files and directories in DATA_DIR ${config.DATA_DIR} to their owner (0700/0600).`);
  switch (command) {
    case 'serve': {
      const { startServer } = await import('./server.js');
      await startServer(config);
      return -1; // keep running
    }
    case 'worker': {
      const { startWorkerProcess } = await import('./jobs/process.js');
      await startWorkerProcess(config);
      return -1; // keep running until a signal
    }
    case 'gc': {
      const { createStorage } = await import('./storage/index.js');
      const { collectGarbage } = await import('./jobs/gc.js');
      const { expireUploads } = await import('./jobs/upload-expiry.js');
      const storage = await createStorage(config.STORAGE);
      try {
        const r = await withDb(config, async (db) => ({
          ...(await collectGarbage({ db, storage }, { graceS: config.GC_GRACE_PERIOD })),
          uploads: await expireUploads({ db, storage }, { expiryS: config.UPLOAD_EXPIRY }),
        }));
        console.log(
          `Removed ${r.manifests} manifests, ${r.blobs} blobs (${r.bytes} bytes), ${r.links} expired blob links, ` +
            `${r.tags} ended tags past their time-machine window and ${r.uploads} expired upload sessions.`,
        );
      } finally {
        await storage.close();
      }
      return 0;
    }
    case 'migrate': {
      const result = await withDb(config, async () => undefined);
      void result;
      console.log('Database is at the latest migration.');
      return 0;
    }
    case 'create-user': {
      const [username] = rest;
      if (!username || !values.password) {
        console.error('create-user needs <username> and --password\n\n' + USAGE);
        return 2;
      }
      const user = await withDb(config, (db) => createAccount(db, { username, password: values.password!, email: values.email }));
      console.log(`Created user ${user.username}`);
      return 0;
    }
    case 'create-token': {
      const [username] = rest;
      if (!username) {
        console.error('create-token needs <username>\n\n' + USAGE);
        return 2;
      }
      const scope = (values.scopes ?? SCOPE_NAMES.filter((s) => s !== 'super:user').join(' ')).trim().split(/[\s,]+/).join(' ');
      if (!parseScopeString(scope)) {
        console.error(`Invalid scopes "${values.scopes}". Known scopes: ${SCOPE_NAMES.join(' ')}`);
        return 2;
      }
      const lifetimeS = values['expires-in'] ? Number(values['expires-in']) : DEFAULT_TOKEN_LIFETIME_S;
      if (!Number.isInteger(lifetimeS) || lifetimeS <= 0) {
        console.error('--expires-in must be a positive number of seconds');
        return 2;
      }
      const token = await withDb(config, async (db) => {
        const user = await findUserByLogin(db, username);
        if (!user) throw new AccountError(`No such user: ${username}`);
        // Like /user/initialize: the user's own `automation` application, client_id = username.
        let automation = await findApplicationByClientId(db, user.username);
        automation ??= await insertApplication(db, {
          clientId: user.username,
          clientSecretEnc: new SecretBox(config.DATABASE_SECRET_KEY).encrypt(randomString(40, UPPER_DIGITS)),
          organizationId: user.id,
          name: 'automation',
        });
        return (await mintAccessToken(db, { applicationId: automation.id, userId: user.id, username: user.username, scope, lifetimeS })).token;
      });
      console.log(token);
      return 0;
    }
    default:
      console.error(`Unknown command: ${command}\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err) => {
    if (err instanceof ConfigError || err instanceof AccountError || err instanceof DatabaseInUseError) {
      console.error(err.message);
      process.exit(2);
    }
    console.error(err);
    process.exit(1);
  },
);
