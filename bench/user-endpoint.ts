// Benchmark: GET /api/v1/user/ with a Bearer token on our real server, side by side with a bare
// Fastify 5 route answering a JSON object of the same shape and size. Each server runs in its own
// child process on 127.0.0.1 (by default pinned to CPU 1, the load generator to CPU 0); autocannon
// generates the load from this process. Prints req/s, p50/p99 latency, server CPU per request,
// database queries per request, and the ratio ours/bare. Stops by itself and cleans up its children
// and, with --db postgres, its scratch database.
//
//   npx tsx bench/user-endpoint.ts [--db pglite|postgres] [--database-url URL] [--duration 10]
//       [--warmup 3] [--connections 10] [--rounds 1] [--target both|ours|bare] [--scope '...']
//       [--log-level silent] [--no-pin] [--cpu-prof DIR] [--json FILE]
//
// Every request goes to 127.0.0.1 only; durations and connection counts are capped.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  checkDatabase,
  ChildMeter,
  childSpec,
  cpuTimes,
  DEFAULT_PG_URL,
  FULL_SCOPE,
  fmt as f,
  followParent,
  generateLoad,
  intOption,
  machineLine,
  median,
  parseCommandLine,
  pinSelf,
  QueryCounter,
  Run,
  runMain,
  ServerChild,
  startOurApp,
  summarizeProfile,
  table,
  UsageError,
  waitQuiet,
  type DbKind,
  type Load,
} from './lib.js';

const SELF = fileURLToPath(import.meta.url);
const ROUTE = '/api/v1/user/';
const LIMITS = { duration: 120, warmup: 60, connections: 256, rounds: 10, pipelining: 16 };

type Target = 'bare' | 'ours';

const USAGE = `Usage: npx tsx bench/user-endpoint.ts [options]   (or: npm run bench -- [options])

  --db pglite|postgres     database behind our server (default pglite, in memory)
  --database-url URL       Postgres server for --db postgres (default ${DEFAULT_PG_URL});
                           a scratch database bench_<random> is created on it and dropped afterwards
  --duration S             measured seconds per target (default 10, max ${LIMITS.duration})
  --warmup S               unmeasured warm-up seconds per target (default 3, max ${LIMITS.warmup})
  --connections N          concurrent connections (default 10, max ${LIMITS.connections})
  --pipelining N           requests in flight per connection (default 1)
  --rounds N               repeat bare+ours N times, fresh servers each time; the median is reported (default 1)
  --target both|ours|bare  what to measure (default both)
  --scope "S S"            scopes of the benchmark token (default: all but super:user)
  --orgs N                 organizations the benchmark user belongs to (default 0)
  --log-level L            our server's LOG_LEVEL (default silent; logs go to /dev/null)
  --no-pin                 do not pin the load generator to CPU 0 and the servers to CPU 1
  --no-count-queries       do not count database queries (a no-op Kysely plugin on our server)
  --cpu-prof DIR           write a V8 CPU profile of each server during the measured window to DIR
                           and print a summary of where its time went
  --wait-quiet S           before each target, wait up to S seconds for other processes to leave the
                           machine idle (under 20% of a core for 3 s in a row); default 0 (do not wait)
  --json FILE              also write the results as JSON
  -h, --help`;

// ------------------------------------------------------------------------------------------------
// Options

interface Options {
  db: DbKind;
  databaseUrl: string;
  duration: number;
  warmup: number;
  connections: number;
  pipelining: number;
  rounds: number;
  targets: Target[];
  scope: string;
  orgs: number;
  logLevel: string;
  pin: boolean;
  countQueries: boolean;
  cpuProf?: string;
  json?: string;
  waitQuiet: number;
}

function parseOptions(argv: string[]): Options | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      db: { type: 'string', default: 'pglite' },
      'database-url': { type: 'string', default: DEFAULT_PG_URL },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      pipelining: { type: 'string' },
      rounds: { type: 'string' },
      target: { type: 'string', default: 'both' },
      scope: { type: 'string', default: FULL_SCOPE },
      orgs: { type: 'string' },
      'log-level': { type: 'string', default: 'silent' },
      'no-pin': { type: 'boolean', default: false },
      'no-count-queries': { type: 'boolean', default: false },
      'cpu-prof': { type: 'string' },
      json: { type: 'string' },
      'wait-quiet': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) return 'help';
  const databaseUrl = values['database-url']!;
  const db = checkDatabase(values.db, databaseUrl);
  const target = values.target;
  if (target !== 'both' && target !== 'ours' && target !== 'bare') throw new UsageError('--target must be both, ours or bare');
  return {
    db,
    databaseUrl,
    duration: intOption('duration', values.duration, 10, 1, LIMITS.duration),
    warmup: intOption('warmup', values.warmup, 3, 0, LIMITS.warmup),
    connections: intOption('connections', values.connections, 10, 1, LIMITS.connections),
    pipelining: intOption('pipelining', values.pipelining, 1, 1, LIMITS.pipelining),
    rounds: intOption('rounds', values.rounds, 1, 1, LIMITS.rounds),
    targets: target === 'both' ? ['bare', 'ours'] : [target],
    scope: values.scope!,
    orgs: intOption('orgs', values.orgs, 0, 0, 100),
    logLevel: values['log-level']!,
    pin: !values['no-pin'],
    countQueries: !values['no-count-queries'],
    cpuProf: values['cpu-prof'] ? path.resolve(values['cpu-prof']) : undefined,
    json: values.json,
    waitQuiet: intOption('wait-quiet', values['wait-quiet'], 0, 0, 600),
  };
}

// ------------------------------------------------------------------------------------------------
// Child side: one server per process, driven over the IPC channel.

interface ChildSpec {
  target: Target;
  db: DbKind;
  /** Postgres URL of the scratch database (--db postgres). */
  url?: string;
  scope: string;
  orgs: number;
  logLevel: string;
  countQueries: boolean;
}

type ToChild = { type: 'reset' } | { type: 'stats' } | { type: 'profile-start' } | { type: 'profile-stop'; file: string } | { type: 'stop' };
type FromChild =
  | { type: 'ready'; port: number; token?: string }
  | { type: 'stats'; cpuUs: number; wallMs: number; queries: number; byQuery: Record<string, number> }
  | { type: 'profile'; file: string }
  | { type: 'ack' }
  | { type: 'error'; message: string };

/** The user view a bare route answers: the same keys as ours for a user:admin token, similar values. */
function bareUserView() {
  const avatar = { name: 'benchuser1a2b3c4d', hash: 'c0ffee'.padEnd(64, '0123456789abcdef'), color: '#9467bd', kind: 'user' };
  return {
    anonymous: false,
    username: 'benchuser1a2b3c4d',
    avatar,
    can_create_repo: true,
    is_me: true,
    verified: true,
    email: 'benchuser1a2b3c4d@example.com',
    logins: [],
    invoice_email: false,
    invoice_email_address: null,
    preferred_namespace: false,
    tag_expiration_s: 1209600,
    prompts: [],
    company: null,
    family_name: null,
    given_name: null,
    location: null,
    is_free_account: true,
    has_password_set: true,
    organizations: [],
  };
}

async function runChild(spec: ChildSpec): Promise<void> {
  const send = (m: FromChild) => process.send!(m);
  followParent();

  let closeServer: () => Promise<void>;
  let port: number;
  let token: string | undefined;
  const meter = new ChildMeter(new QueryCounter());

  if (spec.target === 'bare') {
    const { default: fastify } = await import('fastify');
    const app = fastify();
    app.get(ROUTE, async () => bareUserView());
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as { port: number }).port;
    closeServer = () => app.close();
  } else {
    const ours = await startOurApp({ db: spec.db, url: spec.url, logLevel: spec.logLevel, plugin: spec.countQueries ? meter.counter : undefined, scope: spec.scope });
    const { app, opened, user } = ours;
    token = ours.token;
    for (let i = 0; i < spec.orgs; i++) {
      const org = await app.db
        .insertInto('namespace')
        .values({ uuid: crypto.randomUUID(), username: `${user.username}org${i}`, email: `${user.username}org${i}@example.com`, organization: true, verified: true, password_hash: null, last_invalid_login: null, given_name: null, family_name: null, company: null, location: null })
        .returning('id')
        .executeTakeFirstOrThrow();
      const team = await app.db.insertInto('team').values({ organization_id: org.id, name: 'owners', role: 'admin' }).returning('id').executeTakeFirstOrThrow();
      await app.db.insertInto('team_member').values({ team_id: team.id, user_id: user.id }).execute();
    }
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as { port: number }).port;
    closeServer = async () => {
      await app.close();
      await opened.close();
    };
  }

  let session: import('node:inspector/promises').Session | undefined;

  process.on('message', (m: ToChild) => {
    void (async () => {
      switch (m.type) {
        case 'reset':
          meter.reset();
          send({ type: 'ack' });
          break;
        case 'stats':
          send(meter.stats());
          break;
        case 'profile-start': {
          const inspector = await import('node:inspector/promises');
          session = new inspector.Session();
          session.connect();
          await session.post('Profiler.enable');
          await session.post('Profiler.setSamplingInterval', { interval: 100 });
          await session.post('Profiler.start');
          send({ type: 'ack' });
          break;
        }
        case 'profile-stop': {
          const { profile } = await session!.post('Profiler.stop');
          session!.disconnect();
          writeFileSync(m.file, JSON.stringify(profile));
          send({ type: 'profile', file: m.file });
          break;
        }
        case 'stop':
          await closeServer();
          process.exit(0);
      }
    })().catch((err: Error) => send({ type: 'error', message: err.stack ?? err.message }));
  });
  send({ type: 'ready', port, token });
}

// ------------------------------------------------------------------------------------------------
// Parent side: start servers, generate load, report.

interface Server {
  target: Target;
  proc: ServerChild<ToChild, FromChild>;
  port: number;
  token?: string;
}

async function startServer(spec: ChildSpec, o: Options): Promise<Server> {
  const { server, ready } = await ServerChild.start<ToChild, FromChild>(SELF, spec, o.pin ? 1 : undefined);
  return { target: spec.target, proc: server, port: ready.port, token: ready.token };
}

interface Measurement extends Load {
  target: Target;
  round: number;
  bodyBytes: number;
  /** Server process CPU over the measured window, as % of one core. */
  serverCpuPct: number;
  serverCpuUsPerReq: number;
  /** Load generator (this process) CPU, % of one core. */
  loadgenCpuPct: number;
  /** Everything else on the machine (Postgres backends, other processes), % of one core. */
  otherCpuPct: number;
  queriesPerReq?: number;
  byQuery?: Record<string, number>;
  profile?: string;
}

async function measure(target: Target, round: number, o: Options, dbUrl: string | undefined): Promise<Measurement> {
  const spec: ChildSpec = { target, db: o.db, url: dbUrl, scope: o.scope, orgs: o.orgs, logLevel: o.logLevel, countQueries: o.countQueries };
  const label = target === 'ours' ? `ours (${o.db})` : 'bare fastify';
  if (o.waitQuiet > 0) await waitQuiet(o.waitQuiet);
  process.stderr.write(`[round ${round}] ${label}: starting server... `);
  const s = await startServer(spec, o);
  try {
    // One request first: the route must answer 200 with a user view, or the numbers mean nothing.
    const res = await fetch(`http://127.0.0.1:${s.port}${ROUTE}`, { headers: s.token ? { authorization: `Bearer ${s.token}` } : {} });
    const body = await res.text();
    if (res.status !== 200) throw new Error(`${label}: GET ${ROUTE} answered ${res.status}: ${body}`);
    const view = JSON.parse(body) as { username?: string; anonymous?: boolean };
    if (!view.username || view.anonymous !== false) throw new Error(`${label}: unexpected body ${body}`);

    const load = (seconds: number) => generateLoad({ port: s.port, path: ROUTE, token: s.token, connections: o.connections, pipelining: o.pipelining, seconds });
    if (o.warmup > 0) {
      process.stderr.write(`warm-up ${o.warmup}s... `);
      await load(o.warmup);
    }
    if (o.cpuProf) await s.proc.ask({ type: 'profile-start' }, 'ack');
    await s.proc.ask({ type: 'reset' }, 'ack');
    process.stderr.write(`measuring ${o.duration}s... `);
    const machine0 = cpuTimes();
    const self0 = process.cpuUsage();
    const measured = await load(o.duration);
    const self = process.cpuUsage(self0);
    const machine1 = cpuTimes();
    const stats = await s.proc.ask({ type: 'stats' }, 'stats');
    const serverCpuPct = (stats.cpuUs / 1000 / stats.wallMs) * 100;
    const loadgenCpuPct = ((self.user + self.system) / 1000 / (measured.seconds * 1000)) * 100;
    let profile: string | undefined;
    if (o.cpuProf) {
      mkdirSync(o.cpuProf, { recursive: true });
      const file = path.join(o.cpuProf, `${target}${target === 'ours' ? `-${o.db}` : ''}-r${round}.cpuprofile`);
      profile = (await s.proc.ask({ type: 'profile-stop', file }, 'profile')).file;
    }
    process.stderr.write('done\n');
    return {
      target,
      round,
      ...measured,
      bodyBytes: Buffer.byteLength(body),
      serverCpuPct,
      serverCpuUsPerReq: stats.cpuUs / Math.max(1, measured.requests),
      loadgenCpuPct,
      otherCpuPct: machine0 && machine1
        ? Math.max(0, ((machine1.busy - machine0.busy) / (machine1.total - machine0.total)) * os.cpus().length * 100 - serverCpuPct - loadgenCpuPct)
        : NaN,
      queriesPerReq: target === 'ours' && o.countQueries ? stats.queries / Math.max(1, measured.requests) : undefined,
      byQuery: target === 'ours' && o.countQueries ? stats.byQuery : undefined,
      profile,
    };
  } finally {
    await s.proc.stop();
  }
}

// --- Report -------------------------------------------------------------------------------------


function report(o: Options, ms: Measurement[]): { text: string; ratio?: number } {
  const header = ['target', 'round', 'req/s', 'p50 ms', 'p99 ms', 'body B', 'non2xx/err', 'srv CPU%', 'srv µs/req', 'gen CPU%', 'other CPU%', 'queries/req'];
  const rows = [header];
  for (const m of ms) {
    rows.push([
      m.target === 'ours' ? `ours (${o.db})` : 'bare fastify',
      String(m.round),
      f(m.rps),
      f(m.p50, 2),
      f(m.p99, 2),
      String(m.bodyBytes),
      `${m.non2xx}/${m.errors + m.timeouts}`,
      f(m.serverCpuPct),
      f(m.serverCpuUsPerReq),
      f(m.loadgenCpuPct),
      f(m.otherCpuPct),
      f(m.queriesPerReq, 2),
    ]);
  }
  const out = [table(rows)];
  const pick = (t: Target) => ms.filter((m) => m.target === t);
  const bare = pick('bare');
  const ours = pick('ours');
  let ratio: number | undefined;
  if (bare.length && ours.length) {
    const med = (xs: Measurement[], k: 'rps' | 'p50' | 'p99' | 'serverCpuUsPerReq') => median(xs.map((x) => x[k]));
    ratio = med(ours, 'rps') / med(bare, 'rps');
    const verdict = ratio >= 0.6 ? 'meets the goal (>= 0.6)' : 'BELOW the goal of 0.6';
    out.push('');
    if (o.rounds > 1) {
      out.push(`medians over ${o.rounds} rounds: bare ${f(med(bare, 'rps'))} req/s, ours ${f(med(ours, 'rps'))} req/s`);
    }
    out.push(`ratio ours/bare (req/s): ${ratio.toFixed(3)}  -> ${verdict}`);
    out.push(`server CPU per request: ours ${f(med(ours, 'serverCpuUsPerReq'))} µs vs bare ${f(med(bare, 'serverCpuUsPerReq'))} µs (bare/ours ${(med(bare, 'serverCpuUsPerReq') / med(ours, 'serverCpuUsPerReq')).toFixed(3)})`);
  }
  const last = ours.at(-1);
  if (last?.byQuery) {
    const perReq = Object.entries(last.byQuery)
      .sort((a, b) => b[1] - a[1])
      .map(([k, n]) => `${k} ${(n / Math.max(1, last.requests)).toFixed(2)}`)
      .join(', ');
    out.push(`queries per request (ours, last round): ${perReq || 'none'}`);
  }
  for (const m of ms) {
    if (m.non2xx || m.errors || m.timeouts) out.push(`WARNING: ${m.target} round ${m.round} had ${m.non2xx} non-2xx, ${m.errors} errors, ${m.timeouts} timeouts`);
    if (m.otherCpuPct > 25 && !(m.target === 'ours' && o.db === 'postgres')) {
      out.push(`WARNING: other processes used ${f(m.otherCpuPct)}% of a core during ${m.target} round ${m.round}: the machine was not quiet, numbers are noisy`);
    }
    if (m.target === 'bare' && m.serverCpuPct < 85) {
      out.push(`WARNING: the bare server used only ${f(m.serverCpuPct)}% of a core: the load generator (${f(m.loadgenCpuPct)}% of a core) may be the limit, so the ratio is an upper bound`);
    }
  }
  return { text: out.join('\n'), ratio };
}

function machineNotes(o: Options): string {
  return [
    machineLine(),
    `${o.connections} connections, pipelining ${o.pipelining}, warm-up ${o.warmup}s, measured ${o.duration}s per target, ${o.rounds} round(s)`,
    o.pin ? 'pinned: load generator on CPU 0, server on CPU 1' + (o.db === 'postgres' ? ' (Postgres backends unpinned, they share both CPUs)' : '') : 'not pinned',
    `token scopes: ${o.scope}; user in ${o.orgs} organization(s); server LOG_LEVEL ${o.logLevel}`,
  ].join('\n');
}

// --- Main ---------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const spec = childSpec<ChildSpec>();
  if (spec) {
    await runChild(spec);
    return -1; // keep running; the parent stops us
  }
  const opts = parseCommandLine(parseOptions, USAGE);
  if (typeof opts === 'number') return opts;
  if (opts.pin) opts.pin = pinSelf();

  // Hard stop: nothing here may run longer than the work it was asked for plus generous start-up.
  const run = new Run(opts.rounds * opts.targets.length * (opts.warmup + opts.duration + 200) + 60);
  try {
    const dbUrl = opts.db === 'postgres' && opts.targets.includes('ours') ? await run.createScratchDatabase(opts.databaseUrl) : undefined;
    console.log(machineNotes(opts));
    const ms: Measurement[] = [];
    for (let round = 1; round <= opts.rounds; round++) {
      for (const target of opts.targets) ms.push(await measure(target, round, opts, dbUrl));
    }
    console.log('');
    const { text, ratio } = report(opts, ms);
    console.log(text);
    if (opts.cpuProf) {
      console.log('\nCPU profiles (measured window only):');
      for (const m of ms) if (m.profile) console.log(summarizeProfile(m.profile));
    }
    if (opts.json) {
      writeFileSync(opts.json, JSON.stringify({ options: opts, machine: { node: process.version, cpus: os.cpus().map((c) => c.model) }, ratio, measurements: ms }, null, 2));
    }
    return 0;
  } catch (err) {
    console.error(`\n${(err as Error).stack ?? err}`);
    return 1;
  } finally {
    await run.cleanup();
  }
}

runMain(main);
