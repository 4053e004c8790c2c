// Benchmark: the namespace-sized read paths on our real server. One organization is seeded with
// repositories and users (plus teams, grants, stars and public repositories, so the visibility
// predicate has real work to do) straight through Kysely in batches, then these are measured with
// autocannon from this process, the server running in a child process on 127.0.0.1 (by default the
// load generator pinned to CPU 0, the server to CPU 1):
//
//   list p1     GET /api/v1/repository?namespace=<org>                    (listRepos, first page)
//   list pK     the same list at page K (the deepest page the small namespace has), via next_page
//   list deep   the same list at page --deep-page (default 50), via next_page
//   repo        GET /api/v1/repository/<org>/<repo>                       (getRepo, team-read repo)
//   entities    GET /api/v1/entities/<prefix>?namespace=<org>&includeTeams=true
//
// first with --small-repos repositories (default 1,000), then after growing the same namespace to
// --repos (default 10,000), so the cost of a page can be compared as the namespace grows and as
// the page number grows. Prints req/s, p50/p99 latency, server CPU per request, database queries
// per request (a no-op Kysely plugin counts them) and, with --explain, EXPLAIN ANALYZE of every
// SELECT each endpoint runs, compiled from the very query nodes the server executed.
//
//   npx tsx bench/namespaces.ts [--db pglite|postgres] [--database-url URL] [--duration 5]
//       [--warmup 2] [--connections 10] [--repos 10000] [--small-repos 1000] [--users 1000]
//       [--deep-page 50] [--explain] [--wait-quiet S] [--json FILE]
//
// Every request goes to 127.0.0.1 only; durations, connection counts and data sizes are capped.
// Stops by itself and cleans up its children and, with --db postgres, its scratch database.
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  checkDatabase,
  ChildMeter,
  childSpec,
  cpuTimes,
  DEFAULT_PG_URL,
  FULL_SCOPE as SCOPE,
  fmt as f,
  followParent,
  generateLoad,
  intOption,
  machineLine,
  parseCommandLine,
  pinSelf,
  QueryCounter,
  Run,
  runMain,
  ServerChild,
  startOurApp,
  table,
  UsageError,
  waitQuiet,
  type DbKind,
  type Load,
} from './lib.js';

const SELF = fileURLToPath(import.meta.url);
const API = '/api/v1';
const ORG = 'benchorg';
const OTHER_ORG = 'otherorg';
const LIMITS = { duration: 60, warmup: 30, connections: 128, repos: 50_000, users: 10_000, deepPage: 400 };
const BATCH = 1000;

const USAGE = `Usage: npx tsx bench/namespaces.ts [options]

  --db pglite|postgres     database behind our server (default pglite, in memory)
  --database-url URL       Postgres server for --db postgres (default ${DEFAULT_PG_URL});
                           a scratch database bench_<random> is created on it and dropped afterwards
  --duration S             measured seconds per endpoint (default 5, max ${LIMITS.duration})
  --warmup S               unmeasured warm-up seconds per endpoint (default 2, max ${LIMITS.warmup})
  --connections N          concurrent connections (default 10, max ${LIMITS.connections})
  --repos N                repositories in the organization for the large run (default 10000, max ${LIMITS.repos})
  --small-repos N          repositories for the small run (default 1000; 0 skips the small run)
  --other-repos N          repositories of a second organization, interleaved by id with ours (default 0)
  --users N                users in the organization's teams (default 1000, max ${LIMITS.users})
  --deep-page N            the page the "deep" list run hammers (default 50)
  --prefix P               entity prefix (default member012: 10 users at --users >= 130)
  --explain                print EXPLAIN (ANALYZE, BUFFERS) of each endpoint's SELECTs at the large size
  --keep-db                with --db postgres, keep the seeded scratch database for manual EXPLAIN
                           (its name is printed; drop it yourself afterwards)
  --log-level L            our server's LOG_LEVEL (default silent)
  --no-pin                 do not pin the load generator to CPU 0 and the server to CPU 1
  --no-count-queries       do not count database queries
  --wait-quiet S           before each endpoint, wait up to S seconds for other processes to leave the
                           machine idle (under 20% of a core for 3 s in a row); default 0 (do not wait)
  --retries N              re-measure an endpoint up to N times when other processes (not our server,
                           the load generator or, with postgres, our database's backends) used more
                           than 25% of a core during it (default 2 with --wait-quiet, else 0)
  --json FILE              also write the results as JSON
  -h, --help

What gets seeded (i = 0..N-1 is the repository's index, named repo-NNNNN):
  org ${ORG}; users member0000..; teams owners (admin: 2 users), readers (member: the benchmark user
  and every 4th user; read on i%10<6), builders (creator; write on i%3=0), auditors (member; read on
  i%7=0); every repository has an admin grant for its creator (a user); the benchmark user also has a
  direct write grant on i%20=7 and stars i%50=0; i%10=9 is public. The benchmark user therefore sees
  65% of the organization's repositories in listRepos (which lists public ones only with public=true).`;

// ------------------------------------------------------------------------------------------------
// Options

interface Options {
  db: DbKind;
  databaseUrl: string;
  duration: number;
  warmup: number;
  connections: number;
  repos: number;
  smallRepos: number;
  otherRepos: number;
  users: number;
  deepPage: number;
  prefix: string;
  explain: boolean;
  keepDb: boolean;
  logLevel: string;
  pin: boolean;
  countQueries: boolean;
  waitQuiet: number;
  retries: number;
  json?: string;
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
      repos: { type: 'string' },
      'small-repos': { type: 'string' },
      'other-repos': { type: 'string' },
      users: { type: 'string' },
      'deep-page': { type: 'string' },
      prefix: { type: 'string', default: 'member012' },
      explain: { type: 'boolean', default: false },
      'keep-db': { type: 'boolean', default: false },
      'log-level': { type: 'string', default: 'silent' },
      'no-pin': { type: 'boolean', default: false },
      'no-count-queries': { type: 'boolean', default: false },
      'wait-quiet': { type: 'string' },
      retries: { type: 'string' },
      json: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) return 'help';
  const databaseUrl = values['database-url']!;
  const db = checkDatabase(values.db, databaseUrl);
  const repos = intOption('repos', values.repos, 10_000, 100, LIMITS.repos);
  const smallRepos = intOption('small-repos', values['small-repos'], Math.min(1000, repos), 0, repos);
  if (!/^[a-z0-9_-]{1,40}$/.test(values.prefix!)) throw new UsageError('--prefix must be 1-40 characters of [a-z0-9_-]');
  return {
    db,
    databaseUrl,
    duration: intOption('duration', values.duration, 5, 1, LIMITS.duration),
    warmup: intOption('warmup', values.warmup, 2, 0, LIMITS.warmup),
    connections: intOption('connections', values.connections, 10, 1, LIMITS.connections),
    repos,
    smallRepos,
    otherRepos: intOption('other-repos', values['other-repos'], 0, 0, LIMITS.repos),
    users: intOption('users', values.users, 1000, 10, LIMITS.users),
    deepPage: intOption('deep-page', values['deep-page'], 50, 2, LIMITS.deepPage),
    prefix: values.prefix!,
    explain: values.explain!,
    keepDb: values['keep-db']!,
    logLevel: values['log-level']!,
    pin: !values['no-pin'],
    countQueries: !values['no-count-queries'],
    waitQuiet: intOption('wait-quiet', values['wait-quiet'], 0, 0, 600),
    retries: intOption('retries', values.retries, values['wait-quiet'] ? 2 : 0, 0, 5),
    json: values.json,
  };
}

// ------------------------------------------------------------------------------------------------
// Seeding rules (shared by the child, which seeds, and the parent, which predicts what is visible)

const repoName = (i: number) => `repo-${String(i).padStart(5, '0')}`;
const userName = (i: number) => `member${String(i).padStart(4, '0')}`;
const isPublic = (i: number) => i % 10 === 9;
const readersRead = (i: number) => i % 10 < 6;
const buildersWrite = (i: number) => i % 3 === 0;
const auditorsRead = (i: number) => i % 7 === 0;
const benchDirect = (i: number) => i % 20 === 7;
const benchStar = (i: number) => i % 50 === 0;
/** What listRepos?namespace= shows the benchmark user (no public=true, so grants only). */
const benchListed = (i: number) => readersRead(i) || benchDirect(i);
/** A private repository the benchmark user reads through the readers team only. */
function teamReadRepo(n: number): number {
  for (let i = Math.floor(n / 2) + 1; i < n; i++) if (readersRead(i) && !isPublic(i) && !benchDirect(i) && !buildersWrite(i)) return i;
  return 1;
}

// ------------------------------------------------------------------------------------------------
// Child side: one server, driven over the IPC channel.

interface ChildSpec {
  db: DbKind;
  url?: string;
  users: number;
  logLevel: string;
  countQueries: boolean;
}

interface ExplainItem {
  key: string;
  sql: string;
  params: unknown[];
  plan: string;
  execMs: number;
  seqScans: string[];
}

type ToChild =
  | { type: 'seed'; repos: number; otherRepos: number }
  | { type: 'reset' }
  | { type: 'stats' }
  | { type: 'capture' }
  | { type: 'explain' }
  | { type: 'stop' };
type FromChild =
  | { type: 'ready'; port: number; token: string; username: string }
  | { type: 'seeded'; repos: number; otherRepos: number; ms: number; rows: Record<string, number> }
  | { type: 'stats'; cpuUs: number; wallMs: number; queries: number; byQuery: Record<string, number> }
  | { type: 'explained'; items: ExplainItem[] }
  | { type: 'ack' }
  | { type: 'error'; message: string };

async function runChild(spec: ChildSpec): Promise<void> {
  const send = (m: FromChild) => process.send!(m);
  followParent();

  const { sql, CompiledQuery } = await import('kysely');
  type Db = import('kysely').Kysely<import('../src/db/schema.js').DB>;

  const counter = new QueryCounter();
  const meter = new ChildMeter(counter);
  // Without counting, the counter still captures the queries that --explain replays.
  const plugin = spec.countQueries ? counter : counter.captureOnly();
  // The benchmark user and its token, as test/helpers/factories.ts tokenFor() makes them.
  const { app, opened, user: benchUser, token } = await startOurApp({ db: spec.db, url: spec.url, logLevel: spec.logLevel, plugin, scope: SCOPE });
  const username = benchUser.username;
  const raw: Db = opened.db;

  // --- the organizations, users and teams
  const nsRow = (name: string, organization: boolean) => ({
    uuid: randomUUID(),
    username: name,
    email: `${name}@example.com`,
    organization,
    verified: true,
    password_hash: null,
    last_invalid_login: null,
    given_name: null,
    family_name: null,
    company: null,
    location: null,
  });
  const org = await raw.insertInto('namespace').values(nsRow(ORG, true)).returning('id').executeTakeFirstOrThrow();
  const other = await raw.insertInto('namespace').values(nsRow(OTHER_ORG, true)).returning('id').executeTakeFirstOrThrow();
  const userIds: number[] = [];
  for (let from = 0; from < spec.users; from += BATCH) {
    const rows = [];
    for (let i = from; i < Math.min(spec.users, from + BATCH); i++) rows.push(nsRow(userName(i), false));
    const ids = await raw.insertInto('namespace').values(rows).returning('id').execute();
    userIds.push(...ids.map((r) => r.id));
  }
  const team = async (name: string, role: 'admin' | 'creator' | 'member', members: number[]) => {
    const t = await raw.insertInto('team').values({ organization_id: org.id, name, role }).returning('id').executeTakeFirstOrThrow();
    for (let from = 0; from < members.length; from += BATCH) {
      await raw.insertInto('team_member').values(members.slice(from, from + BATCH).map((user_id) => ({ team_id: t.id, user_id }))).execute();
    }
    return t.id;
  };
  await team('owners', 'admin', userIds.slice(0, 2));
  const readers = await team('readers', 'member', [benchUser.id, ...userIds.filter((_, i) => i % 4 === 0)]);
  const builders = await team('builders', 'creator', userIds.filter((_, i) => i % 4 === 1));
  const auditors = await team('auditors', 'member', userIds.filter((_, i) => i % 4 === 2));
  const otherTeam = await raw.insertInto('team').values({ organization_id: other.id, name: 'owners', role: 'admin' }).returning('id').executeTakeFirstOrThrow();
  await raw.insertInto('team_member').values({ team_id: otherTeam.id, user_id: userIds[userIds.length - 1] }).execute();

  let seeded = 0;
  let seededOther = 0;

  /** Grows ours to `target` repositories and the other org to `otherTarget`, interleaving their ids. */
  async function seed(target: number, otherTarget: number): Promise<Record<string, number>> {
    const ours = target - seeded;
    const theirs = Math.max(0, otherTarget - seededOther);
    type Item = { org: 'ours' | 'other'; i: number };
    let otherCount = 0;
    const ordered: Item[] = [];
    {
      let o = 0;
      for (let k = 0; k < ours; k++) {
        ordered.push({ org: 'ours', i: seeded + k });
        const due = Math.floor(((k + 1) * theirs) / ours);
        while (o < due) ordered.push({ org: 'other', i: seededOther + o++ });
      }
      while (o < theirs) ordered.push({ org: 'other', i: seededOther + o++ });
      otherCount = o;
    }
    let perms = 0;
    let stars = 0;
    for (let from = 0; from < ordered.length; from += BATCH) {
      const chunk = ordered.slice(from, from + BATCH);
      const inserted = await raw
        .insertInto('repository')
        .values(
          chunk.map((it) => ({
            namespace_id: it.org === 'ours' ? org.id : other.id,
            name: repoName(it.i),
            visibility: isPublic(it.i) ? ('public' as const) : ('private' as const),
            description: `Repository ${it.i} of ${it.org === 'ours' ? ORG : OTHER_ORG}, seeded by bench/namespaces.ts`,
            badge_token: randomUUID(),
          })),
        )
        .returning(['id', 'name', 'namespace_id'])
        .execute();
      const permRows: { repository_id: number; user_id: number | null; team_id: number | null; role: 'read' | 'write' | 'admin' }[] = [];
      const starRows: { user_id: number; repository_id: number }[] = [];
      inserted.forEach((r, k) => {
        const it = chunk[k];
        // The creator's admin grant, as createRepo makes it.
        permRows.push({ repository_id: r.id, user_id: userIds[(it.i * 7) % userIds.length], team_id: null, role: 'admin' });
        if (it.org !== 'ours') return;
        if (readersRead(it.i)) permRows.push({ repository_id: r.id, user_id: null, team_id: readers, role: 'read' });
        if (buildersWrite(it.i)) permRows.push({ repository_id: r.id, user_id: null, team_id: builders, role: 'write' });
        if (auditorsRead(it.i)) permRows.push({ repository_id: r.id, user_id: null, team_id: auditors, role: 'read' });
        if (benchDirect(it.i)) permRows.push({ repository_id: r.id, user_id: benchUser.id, team_id: null, role: 'write' });
        if (benchStar(it.i)) starRows.push({ user_id: benchUser.id, repository_id: r.id });
      });
      for (let p = 0; p < permRows.length; p += BATCH) await raw.insertInto('repository_permission').values(permRows.slice(p, p + BATCH)).execute();
      if (starRows.length) await raw.insertInto('star').values(starRows).execute();
      perms += permRows.length;
      stars += starRows.length;
    }
    seeded = target;
    seededOther += otherCount;
    // Fresh statistics, as autovacuum would eventually gather them: plans should not depend on luck.
    await sql`analyze`.execute(raw);
    const count = async (t: 'repository' | 'repository_permission' | 'namespace' | 'team_member' | 'star') =>
      Number((await raw.selectFrom(t).select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow()).n);
    return {
      new_repos: ordered.length,
      new_permissions: perms,
      new_stars: stars,
      repository: await count('repository'),
      repository_permission: await count('repository_permission'),
      namespace: await count('namespace'),
      team_member: await count('team_member'),
      star: await count('star'),
    };
  }

  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as { port: number }).port;

  /** EXPLAIN ANALYZE of every captured SELECT, compiled exactly as the server ran it. */
  async function explainCaptured(): Promise<ExplainItem[]> {
    const nodes = counter.stopCapture();
    const out: ExplainItem[] = [];
    const executor = raw.getExecutor();
    for (const { node, queryId, key } of nodes) {
      const compiled = executor.compileQuery(node as never, queryId as never);
      if (!/^\s*(select|with)\b/i.test(compiled.sql)) continue;
      const res = await raw.executeQuery(CompiledQuery.raw(`explain (analyze, buffers, verbose off) ${compiled.sql}`, [...compiled.parameters]));
      const lines = (res.rows as Record<string, string>[]).map((r) => Object.values(r)[0]);
      const exec = lines.map((l) => /Execution Time: ([\d.]+) ms/.exec(l)).find(Boolean);
      const seqScans = lines.map((l) => /Seq Scan on (\w+)(?: (\w+))?/.exec(l)).filter((m): m is RegExpExecArray => !!m).map((m) => (m[2] && m[2] !== m[1] ? `${m[1]} ${m[2]}` : m[1]));
      out.push({ key, sql: compiled.sql, params: [...compiled.parameters], plan: lines.join('\n'), execMs: exec ? Number(exec[1]) : NaN, seqScans });
    }
    return out;
  }

  process.on('message', (m: ToChild) => {
    void (async () => {
      switch (m.type) {
        case 'seed': {
          const t0 = performance.now();
          const rows = await seed(m.repos, m.otherRepos);
          send({ type: 'seeded', repos: seeded, otherRepos: seededOther, ms: performance.now() - t0, rows });
          break;
        }
        case 'reset':
          meter.reset();
          send({ type: 'ack' });
          break;
        case 'stats':
          send(meter.stats());
          break;
        case 'capture':
          counter.startCapture();
          send({ type: 'ack' });
          break;
        case 'explain':
          send({ type: 'explained', items: await explainCaptured() });
          break;
        case 'stop':
          await app.close();
          await opened.close();
          process.exit(0);
      }
    })().catch((err: Error) => send({ type: 'error', message: err.stack ?? err.message }));
  });
  send({ type: 'ready', port, token, username });
}

// ------------------------------------------------------------------------------------------------
// Parent side: start the server, seed, generate load, report.

interface Server {
  proc: ServerChild<ToChild, FromChild>;
  port: number;
  token: string;
  username: string;
  /** With --db postgres: a connection to the scratch database, to find our backends' pids. */
  pg?: import('pg').Client;
}

/** CPU seconds (user + system) of a process so far, from /proc; undefined once it is gone. */
function procCpuS(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}

/** The backends serving our scratch database (not the probe connection itself), with their CPU so far. */
async function dbBackends(s: Server): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  if (!s.pg) return out;
  const r = await s.pg.query<{ pid: number }>('select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()');
  for (const { pid } of r.rows) {
    const cpu = procCpuS(pid);
    if (cpu !== undefined) out.set(pid, cpu);
  }
  return out;
}

async function startServer(spec: ChildSpec, o: Options): Promise<Server> {
  const { server, ready } = await ServerChild.start<ToChild, FromChild>(SELF, spec, o.pin ? 1 : undefined);
  return { proc: server, port: ready.port, token: ready.token, username: ready.username };
}

/** GET `urlPath` as the benchmark user for `seconds`. */
function runLoad(s: Server, o: Options, urlPath: string, seconds: number): Promise<Load> {
  return generateLoad({ port: s.port, path: urlPath, token: s.token, connections: o.connections, seconds });
}

async function getJson(s: Server, urlPath: string): Promise<{ status: number; body: string; json: unknown }> {
  const res = await fetch(`http://127.0.0.1:${s.port}${urlPath}`, { headers: { authorization: `Bearer ${s.token}` } });
  const body = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    json = undefined;
  }
  return { status: res.status, body, json };
}

interface Endpoint {
  label: string;
  /** Page number for list endpoints. */
  page?: number;
  url: string;
  check: (json: unknown) => string | undefined;
}

type ListBody = { repositories?: { name: string; namespace: string }[]; next_page?: string };

const listUrl = (next?: string) => `${API}/repository?namespace=${ORG}${next ? `&next_page=${encodeURIComponent(next)}` : ''}`;

/**
 * Follows next_page from the first page to each wanted page (1-based); returns the URL of each
 * page reached (a wanted page past the end maps to the last full page) and the page count walked.
 */
async function pageUrls(s: Server, wanted: number[]): Promise<{ urls: Map<number, { page: number; url: string; first: string }>; lastPage: number; listed: number }> {
  const max = Math.max(...wanted);
  const urls = new Map<number, { page: number; url: string; first: string }>();
  let url = listUrl();
  let page = 1;
  let listed = 0;
  const reached: { page: number; url: string; first: string }[] = [];
  for (;;) {
    const r = await getJson(s, url);
    if (r.status !== 200) throw new Error(`GET ${url} answered ${r.status}: ${r.body.slice(0, 300)}`);
    const b = r.json as ListBody;
    if (!b.repositories?.length) throw new Error(`page ${page} is empty: ${r.body.slice(0, 300)}`);
    listed += b.repositories.length;
    reached.push({ page, url, first: b.repositories[0].name });
    if (!b.next_page || page >= max) break;
    url = listUrl(b.next_page);
    page++;
  }
  // A wanted page past the end maps to the last full page (the one before the last), so that page
  // sizes stay comparable.
  for (const w of wanted) urls.set(w, w <= reached.length ? reached[w - 1] : reached[Math.max(0, reached.length - 2)]);
  return { urls, lastPage: reached.length, listed };
}

interface Measurement extends Load {
  size: number;
  label: string;
  page?: number;
  url: string;
  bodyBytes: number;
  serverCpuPct: number;
  serverCpuUsPerReq: number;
  loadgenCpuPct: number;
  /** Our database's backends (postgres only), % of one core. */
  dbCpuPct: number;
  otherCpuPct: number;
  quiet: boolean;
  attempts: number;
  queriesPerReq?: number;
  byQuery?: Record<string, number>;
}

async function measure(s: Server, o: Options, size: number, e: Endpoint): Promise<Measurement> {
  let m: Measurement | undefined;
  for (let attempt = 1; attempt <= o.retries + 1; attempt++) {
    m = { ...(await measureOnce(s, o, size, e)), attempts: attempt };
    if (!(m.otherCpuPct > 25) && m.quiet) break;
    if (attempt <= o.retries) process.stderr.write(`  (other processes used ${f(m.otherCpuPct)}% of a core: measuring again)\n`);
  }
  return m!;
}

async function measureOnce(s: Server, o: Options, size: number, e: Endpoint): Promise<Omit<Measurement, 'attempts'>> {
  const quiet = o.waitQuiet > 0 ? await waitQuiet(o.waitQuiet) : true;
  process.stderr.write(`[${size} repos] ${e.label}${e.page ? ` (page ${e.page})` : ''}: `);
  const r = await getJson(s, e.url);
  if (r.status !== 200) throw new Error(`GET ${e.url} answered ${r.status}: ${r.body.slice(0, 300)}`);
  const bad = e.check(r.json);
  if (bad) throw new Error(`GET ${e.url}: ${bad}`);
  if (o.warmup > 0) {
    process.stderr.write(`warm-up ${o.warmup}s... `);
    await runLoad(s, o, e.url, o.warmup);
  }
  await s.proc.ask({ type: 'reset' }, 'ack');
  process.stderr.write(`measuring ${o.duration}s... `);
  const db0 = await dbBackends(s);
  const machine0 = cpuTimes();
  const self0 = process.cpuUsage();
  const load = await runLoad(s, o, e.url, o.duration);
  const self = process.cpuUsage(self0);
  const machine1 = cpuTimes();
  let dbCpuS = 0;
  for (const [pid, before] of db0) {
    const after = procCpuS(pid);
    if (after !== undefined) dbCpuS += after - before;
  }
  const dbCpuPct = (dbCpuS / load.seconds) * 100;
  const stats = await s.proc.ask({ type: 'stats' }, 'stats');
  const serverCpuPct = (stats.cpuUs / 1000 / stats.wallMs) * 100;
  const loadgenCpuPct = ((self.user + self.system) / 1000 / (load.seconds * 1000)) * 100;
  process.stderr.write(`${load.rps.toFixed(0)} req/s\n`);
  return {
    size,
    label: e.label,
    page: e.page,
    url: e.url,
    ...load,
    bodyBytes: Buffer.byteLength(r.body),
    serverCpuPct,
    serverCpuUsPerReq: stats.cpuUs / Math.max(1, load.requests),
    loadgenCpuPct,
    dbCpuPct,
    otherCpuPct:
      machine0 && machine1
        ? Math.max(0, ((machine1.busy - machine0.busy) / (machine1.total - machine0.total)) * os.cpus().length * 100 - serverCpuPct - loadgenCpuPct - dbCpuPct)
        : NaN,
    quiet,
    queriesPerReq: o.countQueries ? stats.queries / Math.max(1, load.requests) : undefined,
    byQuery: o.countQueries ? stats.byQuery : undefined,
  };
}

function listCheck(expectNext: boolean) {
  return (json: unknown) => {
    const b = json as ListBody;
    if (!Array.isArray(b?.repositories) || b.repositories.length === 0) return 'no repositories listed';
    if (b.repositories.some((r) => r.namespace !== ORG)) return 'a repository of another namespace was listed';
    if (expectNext && !b.next_page) return 'no next_page on a page that should have one';
    return undefined;
  };
}

async function endpointsFor(s: Server, o: Options, size: number, pageK: number | undefined, prefix: string): Promise<{ endpoints: Endpoint[]; lastPage: number; listed: number }> {
  const wanted = [1, o.deepPage, ...(pageK ? [pageK] : [])];
  const { urls, lastPage, listed } = await pageUrls(s, wanted);
  const endpoints: Endpoint[] = [{ label: 'list p1', page: 1, url: urls.get(1)!.url, check: listCheck(lastPage > 1) }];
  if (pageK && pageK > 1 && pageK < o.deepPage) {
    const k = urls.get(pageK)!;
    endpoints.push({ label: 'list pK', page: k.page, url: k.url, check: listCheck(k.page < lastPage) });
  }
  const deep = urls.get(o.deepPage)!;
  if (deep.page > 1) endpoints.push({ label: 'list deep', page: deep.page, url: deep.url, check: listCheck(deep.page < lastPage) });
  const repo = repoName(teamReadRepo(size));
  endpoints.push({
    label: 'repo',
    url: `${API}/repository/${ORG}/${repo}`,
    check: (json) => {
      const b = json as { name?: string; is_public?: boolean; can_write?: boolean };
      return b?.name === repo && b.is_public === false ? undefined : `unexpected repository view ${JSON.stringify(json).slice(0, 200)}`;
    },
  });
  endpoints.push({
    label: 'entities',
    url: `${API}/entities/${prefix}?namespace=${ORG}&includeTeams=true`,
    check: (json) => {
      const b = json as { results?: { name: string; kind: string; is_org_member?: boolean }[] };
      if (!Array.isArray(b?.results) || b.results.length === 0) return `no entities matched: ${JSON.stringify(json).slice(0, 200)}`;
      return undefined;
    },
  });
  return { endpoints, lastPage, listed };
}

// --- Report -------------------------------------------------------------------------------------

function report(o: Options, ms: Measurement[]): string {
  const header = ['repos', 'endpoint', 'page', 'req/s', 'p50 ms', 'p99 ms', 'body B', 'non2xx/err', 'srv CPU%', 'srv µs/req', 'db CPU%', 'db µs/req', 'gen CPU%', 'other CPU%', 'queries/req'];
  const rows = [header];
  for (const m of ms) {
    rows.push([
      String(m.size),
      m.label,
      m.page ? String(m.page) : '',
      f(m.rps),
      f(m.p50, 2),
      f(m.p99, 2),
      String(m.bodyBytes),
      `${m.non2xx}/${m.errors + m.timeouts}`,
      f(m.serverCpuPct),
      f(m.serverCpuUsPerReq),
      o.db === 'postgres' ? f(m.dbCpuPct) : '-',
      o.db === 'postgres' ? f((m.dbCpuPct / 100 / m.rps) * 1e6) : '-',
      f(m.loadgenCpuPct),
      f(m.otherCpuPct),
      f(m.queriesPerReq, 2),
    ]);
  }
  const out = [table(rows, 2)];

  // Flat cost: the same endpoint (and the same page number) at the small and the large size.
  const sizes = [...new Set(ms.map((m) => m.size))].sort((a, b) => a - b);
  if (sizes.length === 2) {
    const [small, large] = sizes;
    out.push('', `cost as the namespace grows (${small} -> ${large} repositories; ratio large/small, 1.00 = flat; CPU = server${o.db === 'postgres' ? ' + database backends' : ''} per request):`);
    const crows = [['endpoint', 'page', `p50 @${small}`, `p50 @${large}`, 'p50 ratio', `CPU µs @${small}`, `CPU µs @${large}`, 'CPU ratio', `req/s @${small}`, `req/s @${large}`]];
    const totalUs = (m: Measurement) => m.serverCpuUsPerReq + (m.dbCpuPct / 100 / Math.max(1e-9, m.rps)) * 1e6;
    const key = (m: Measurement) => (m.label.startsWith('list') ? `list page ${m.page}` : m.label);
    for (const a of ms.filter((m) => m.size === small)) {
      const b = ms.find((m) => m.size === large && key(m) === key(a));
      if (!b) continue;
      crows.push([
        a.label.startsWith('list') ? 'list' : a.label,
        a.page ? String(a.page) : '',
        f(a.p50, 2),
        f(b.p50, 2),
        f(b.p50 / a.p50, 2),
        f(totalUs(a)),
        f(totalUs(b)),
        f(totalUs(b) / totalUs(a), 2),
        f(a.rps),
        f(b.rps),
      ]);
    }
    out.push(table(crows, 2));
  }
  const bySize = new Map<number, Measurement[]>();
  for (const m of ms) bySize.set(m.size, [...(bySize.get(m.size) ?? []), m]);
  for (const [size, list] of bySize) {
    const lists = list.filter((m) => m.label.startsWith('list'));
    if (lists.length > 1) {
      const p1 = lists[0];
      out.push(`cost by page number at ${size} repositories: ${lists.map((m) => `page ${m.page} p50 ${f(m.p50, 2)} ms (${f(m.p50 / p1.p50, 2)}x)`).join(', ')}`);
    }
  }

  out.push('', 'queries per request, by kind and first table:');
  for (const m of ms) {
    if (!m.byQuery) continue;
    const perReq = Object.entries(m.byQuery)
      .sort((a, b) => b[1] - a[1])
      .map(([k, n]) => `${k} ${(n / Math.max(1, m.requests)).toFixed(2)}`)
      .join(', ');
    out.push(`  ${String(m.size).padStart(6)} ${m.label.padEnd(9)}: ${perReq || 'none'}`);
  }
  for (const m of ms) {
    if (m.non2xx || m.errors || m.timeouts) out.push(`WARNING: ${m.size} ${m.label} had ${m.non2xx} non-2xx, ${m.errors} errors, ${m.timeouts} timeouts`);
    if (!m.quiet || m.otherCpuPct > 25) {
      out.push(`WARNING: the machine was not quiet during ${m.size} ${m.label} (other CPU ${f(m.otherCpuPct)}% of a core): numbers are noisy`);
    }
  }
  return out.join('\n');
}

function machineNotes(o: Options): string {
  return [
    machineLine(),
    `db ${o.db}; ${o.connections} connections, warm-up ${o.warmup}s, measured ${o.duration}s per endpoint`,
    o.pin ? 'pinned: load generator on CPU 0, server on CPU 1' + (o.db === 'postgres' ? ' (Postgres backends unpinned; their CPU is the db CPU% column)' : '') : 'not pinned',
    `org ${ORG}: ${o.smallRepos ? `${o.smallRepos} then ` : ''}${o.repos} repositories, ${o.users} users${o.otherRepos ? `; ${OTHER_ORG}: ${o.otherRepos} repositories interleaved` : ''}; token scopes: ${SCOPE}`,
  ].join('\n');
}

function explainReport(endpoint: string, items: ExplainItem[]): string {
  const out = [`--- EXPLAIN ${endpoint}: ${items.length} SELECT(s)`];
  for (const it of items) {
    out.push(`  ${f(it.execMs, 3).padStart(8)} ms  ${it.key}${it.seqScans.length ? `  [Seq Scan: ${it.seqScans.join(', ')}]` : ''}`);
  }
  // The full plan of the costliest query, and of any with a sequential scan.
  const costliest = [...items].sort((a, b) => b.execMs - a.execMs)[0];
  for (const it of items) {
    if (it !== costliest && it.seqScans.length === 0) continue;
    out.push('', `  SQL: ${it.sql.replace(/\s+/g, ' ')}`, `  params: ${JSON.stringify(it.params)}`, it.plan.replace(/^/gm, '    '));
  }
  return out.join('\n');
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

  const runs = (opts.smallRepos ? 4 : 0) + 5;
  const run = new Run(
    runs * (opts.retries + 1) * (opts.warmup + opts.duration + (opts.waitQuiet || 0) + 30) + Math.ceil((opts.repos + opts.otherRepos) / 50) + 300,
    opts.keepDb,
  );
  try {
    const dbUrl = opts.db === 'postgres' ? await run.createScratchDatabase(opts.databaseUrl) : undefined;
    console.log(machineNotes(opts));
    process.stderr.write('starting server... ');
    const s = await startServer({ db: opts.db, url: dbUrl, users: opts.users, logLevel: opts.logLevel, countQueries: opts.countQueries }, opts);
    if (dbUrl) {
      const { default: pg } = await import('pg');
      s.pg = new pg.Client({ connectionString: dbUrl });
      // Dropping the scratch database on SIGINT ends this connection; that must not crash the run.
      s.pg.on('error', () => {});
      await s.pg.connect();
    }
    process.stderr.write('ready\n');
    const ms: Measurement[] = [];
    const explains: string[] = [];
    try {
      let pageK: number | undefined;
      const sizes = opts.smallRepos ? [opts.smallRepos, opts.repos] : [opts.repos];
      for (const size of sizes) {
        const other = Math.round((opts.otherRepos * size) / opts.repos);
        process.stderr.write(`seeding ${ORG} to ${size} repositories${other ? ` (${OTHER_ORG} to ${other})` : ''}... `);
        const seeded = await s.proc.ask({ type: 'seed', repos: size, otherRepos: other }, 'seeded', 600_000);
        process.stderr.write(`${(seeded.ms / 1000).toFixed(1)} s\n`);
        const { endpoints, lastPage, listed } = await endpointsFor(s, opts, size, size === opts.repos ? pageK : undefined, opts.prefix);
        const expected = Array.from({ length: size }, (_, i) => i).filter(benchListed).length;
        console.log(
          `\n${size} repositories: table rows ${JSON.stringify(seeded.rows)}; the benchmark user is listed ` +
            `${expected} of them (${Math.ceil(expected / 100)} pages); walked ${lastPage} page(s), ${listed} repositories`,
        );
        if (lastPage < Math.min(opts.deepPage, Math.ceil(expected / 100))) throw new Error(`next_page stopped at page ${lastPage}`);
        if (size === opts.smallRepos && size !== opts.repos) pageK = endpoints.find((e) => e.label === 'list deep')?.page;
        if (opts.explain && size === opts.repos) {
          // Before any load, so that no queued request of a load run is captured with these.
          for (const e of endpoints) {
            await s.proc.ask({ type: 'capture' }, 'ack');
            const r = await getJson(s, e.url);
            if (r.status !== 200) throw new Error(`GET ${e.url} answered ${r.status}`);
            const { items } = await s.proc.ask({ type: 'explain' }, 'explained', 120_000);
            explains.push(explainReport(`${e.label}${e.page ? ` (page ${e.page})` : ''} at ${size} repositories`, items));
          }
        }
        for (const e of endpoints) ms.push(await measure(s, opts, size, e));
      }
    } finally {
      await s.pg?.end().catch(() => {});
      await s.proc.stop();
    }
    console.log('');
    console.log(report(opts, ms));
    if (explains.length) console.log(`\n${explains.join('\n\n')}`);
    if (opts.json) {
      writeFileSync(opts.json, JSON.stringify({ options: opts, machine: { node: process.version, cpus: os.cpus().map((c) => c.model) }, measurements: ms }, null, 2));
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
