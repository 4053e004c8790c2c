// Benchmark: the TAG REST API's read paths on our real server, as the repository's history grows
// (issue 9). One organization with one image repository is seeded straight through Kysely in
// batches: two small OCI image manifests, N tags tag-00001.. (live, one lifetime each, starts a
// minute apart in the past) and one tag `moved` with --moves lifetimes (all ended but the last,
// contiguous, alternating between the two manifests, interleaved in time with the first tags).
// These are then measured with autocannon from this process, the server running in a child process
// on 127.0.0.1 (by default the load generator pinned to CPU 0, the server to CPU 1):
//
//   list p1      GET /api/v1/repository/<org>/<repo>/tag/?limit=50              (listRepoTags)
//   list pK      the same at page K, the deep page of the small run (large run only)
//   list deep    the same at page --deep-page (default 100; capped to the last page with a next one)
//   active p1    GET .../tag/?onlyActiveTags=true&limit=50
//   history p1   GET .../tag/?specificTag=moved&limit=100
//   history pH   the same at page --history-page (default 5)
//   repo         GET /api/v1/repository/<org>/<repo>                         (getRepo: <= 500 live tags)
//
// first with --small-tags tags (default 1,000), then after growing the same repository to --tags
// (default 10,000), so that the cost of each request can be compared as the repository grows
// ("flat": a large/small p50 ratio near 1.00; getRepo returns 500 tags at both sizes, so it is not
// expected to be as cheap as a page of 50, only as flat). Prints req/s, p50/p99 latency, server CPU
// per request, database queries per request (a no-op Kysely plugin counts them) and, with
// --explain, EXPLAIN ANALYZE of every SELECT each endpoint runs at the large size, compiled from
// the very query nodes the server executed, with the indexes each plan uses (tag_history for the
// repository's history newest first, tag_name_history for one name's).
//
//   npx tsx bench/tags.ts [--db pglite|postgres] [--database-url URL] [--duration 5] [--warmup 2]
//       [--connections 10] [--tags 10000] [--small-tags 1000] [--moves 1000] [--deep-page 100]
//       [--history-page 5] [--explain] [--wait-quiet S] [--json FILE]
//
// Every request goes to 127.0.0.1 only; durations, connection counts and data sizes are capped.
// Stops by itself and cleans up its children and, with --db postgres, its scratch database.
import { createHash, randomUUID } from 'node:crypto';
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
const REPO = 'tagged';
const MOVED = 'moved';
/** The benchmark user reads the repository through a direct read grant, with a read-only token. */
const SCOPE = 'repo:read';
const LIST_LIMIT = 50;
const HISTORY_LIMIT = 100;
/** getRepo's tags: at most this many (src/api/repository/index.ts). */
const GET_REPO_TAGS = 500;
const LIMITS = { duration: 60, warmup: 30, connections: 128, tags: 100_000, moves: 10_000, deepPage: 2000, historyPage: 100 };
const BATCH = 1000;
const MINUTE = 60_000;

const USAGE = `Usage: npx tsx bench/tags.ts [options]

  --db pglite|postgres     database behind our server (default pglite, in memory)
  --database-url URL       Postgres server for --db postgres (default ${DEFAULT_PG_URL});
                           a scratch database bench_<random> is created on it and dropped afterwards
  --duration S             measured seconds per endpoint (default 5, max ${LIMITS.duration})
  --warmup S               unmeasured warm-up seconds per endpoint (default 2, max ${LIMITS.warmup})
  --connections N          concurrent connections (default 10, max ${LIMITS.connections})
  --tags N                 tags (tag-00001..) in the repository for the large run (default 10000, max ${LIMITS.tags})
  --small-tags N           tags for the small run (default 1000; 0 skips the small run)
  --moves N                lifetimes of the tag "${MOVED}" (default 1000, max ${LIMITS.moves}): N-1 ended, the last open
  --deep-page N            the page of the whole history the "list deep" run hammers (default 100;
                           capped to the last page that has a next one)
  --history-page N         the page of "${MOVED}"'s history the "history" deep run hammers (default 5; capped likewise)
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

What gets seeded: org ${ORG} with the private repository ${REPO} (the benchmark user has a direct read
grant on it, and a token with scope ${SCOPE}); two OCI image manifests (one layer each); tags
tag-00001..tag-NNNNN, live, tag i starting i minutes after a fixed point in the past (the tags added
when the repository grows are the newest); the tag ${MOVED} with --moves contiguous lifetimes spread
over the first --small-tags tags' minutes (half a minute off theirs), alternating between the two
manifests, the last one open. Nothing is hidden, so listRepoTags' history has N + moves lifetimes.`;

// ------------------------------------------------------------------------------------------------
// Options

interface Options {
  db: DbKind;
  databaseUrl: string;
  duration: number;
  warmup: number;
  connections: number;
  tags: number;
  smallTags: number;
  moves: number;
  deepPage: number;
  historyPage: number;
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
      tags: { type: 'string' },
      'small-tags': { type: 'string' },
      moves: { type: 'string' },
      'deep-page': { type: 'string' },
      'history-page': { type: 'string' },
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
  const tags = intOption('tags', values.tags, 10_000, 100, LIMITS.tags);
  const smallTags = intOption('small-tags', values['small-tags'], Math.min(1000, tags), 0, tags);
  if (smallTags > 0 && smallTags < 100) throw new UsageError('--small-tags must be 0 or at least 100');
  return {
    db,
    databaseUrl,
    duration: intOption('duration', values.duration, 5, 1, LIMITS.duration),
    warmup: intOption('warmup', values.warmup, 2, 0, LIMITS.warmup),
    connections: intOption('connections', values.connections, 10, 1, LIMITS.connections),
    tags,
    smallTags,
    moves: intOption('moves', values.moves, 1000, 2, LIMITS.moves),
    deepPage: intOption('deep-page', values['deep-page'], 100, 2, LIMITS.deepPage),
    historyPage: intOption('history-page', values['history-page'], 5, 2, LIMITS.historyPage),
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
// Seeding rules

const tagName = (i: number) => `tag-${String(i).padStart(5, '0')}`;

/** A small valid OCI image manifest (config and one layer; the blobs themselves are not stored). */
function imageManifest(n: number): Buffer {
  const digest = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;
  const config = `{"architecture":"amd64","os":"linux","bench":${n}}`;
  const layer = `layer ${n} of bench/tags.ts`;
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digest(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digest(layer), size: 1_000_000 + n }],
    }),
  );
}

// ------------------------------------------------------------------------------------------------
// Child side: one server, driven over the IPC channel.

interface ChildSpec {
  db: DbKind;
  url?: string;
  moves: number;
  /** Over how many of the first tags' minutes the moved tag's lifetimes are spread. */
  spread: number;
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
  indexes: string[];
}

type ToChild = { type: 'seed'; tags: number } | { type: 'reset' } | { type: 'stats' } | { type: 'capture' } | { type: 'explain' } | { type: 'stop' };
type FromChild =
  | { type: 'ready'; port: number; token: string; username: string }
  | { type: 'seeded'; tags: number; ms: number; rows: Record<string, number> }
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
  const { app, opened, user: benchUser, token } = await startOurApp({ db: spec.db, url: spec.url, logLevel: spec.logLevel, plugin, scope: SCOPE });
  const username = benchUser.username;
  const raw: Db = opened.db;

  // --- the organization, its repository (read-granted to the benchmark user) and two manifests
  const org = await raw
    .insertInto('namespace')
    .values({
      uuid: randomUUID(),
      username: ORG,
      email: `${ORG}@example.com`,
      organization: true,
      verified: true,
      password_hash: null,
      last_invalid_login: null,
      given_name: null,
      family_name: null,
      company: null,
      location: null,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  const repo = await raw
    .insertInto('repository')
    .values({ namespace_id: org.id, name: REPO, visibility: 'private', description: 'Seeded by bench/tags.ts', badge_token: randomUUID() })
    .returning('id')
    .executeTakeFirstOrThrow();
  await raw.insertInto('repository_permission').values({ repository_id: repo.id, user_id: benchUser.id, team_id: null, role: 'read' }).execute();
  const manifestIds: number[] = [];
  for (const n of [1, 2]) {
    const content = imageManifest(n);
    const m = await raw
      .insertInto('manifest')
      .values({
        repository_id: repo.id,
        digest: `sha256:${createHash('sha256').update(content).digest('hex')}`,
        media_type: 'application/vnd.oci.image.manifest.v1+json',
        artifact_type: null,
        subject_digest: null,
        config_media_type: 'application/vnd.oci.image.config.v1+json',
        size: content.length,
        content,
        layers_size: 1_000_000 + n,
        created: new Date(),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    manifestIds.push(Number(m.id));
  }

  // Every start is in the past: tag i starts at base + i minutes, the last possible one a minute ago.
  const base = Date.now() - (LIMITS.tags + 2) * MINUTE;
  const tagStart = (i: number) => base + i * MINUTE;
  // The moved tag's lifetimes: spread over tags 1..spread's minutes, half a minute off them.
  const movedStart = (k: number) => base + MINUTE + Math.floor((k * spec.spread * MINUTE) / spec.moves) + MINUTE / 2;

  let seeded = 0;
  let movedSeeded = false;

  async function insertTags(rows: { name: string; manifest_id: number; lifetime_start_ms: number; lifetime_end_ms: number | null }[]) {
    for (let from = 0; from < rows.length; from += BATCH) {
      await raw
        .insertInto('tag')
        .values(rows.slice(from, from + BATCH).map((r) => ({ ...r, repository_id: repo.id, hidden: false, reversion: false })))
        .execute();
    }
  }

  /** Grows the repository to `target` tags (and seeds the moved tag's history the first time). */
  async function seed(target: number): Promise<Record<string, number>> {
    if (!movedSeeded) {
      const rows = [];
      for (let k = 0; k < spec.moves; k++) {
        rows.push({
          name: MOVED,
          manifest_id: manifestIds[k % 2],
          lifetime_start_ms: movedStart(k),
          lifetime_end_ms: k + 1 < spec.moves ? movedStart(k + 1) : null,
        });
      }
      await insertTags(rows);
      movedSeeded = true;
    }
    const rows = [];
    for (let i = seeded + 1; i <= target; i++) rows.push({ name: tagName(i), manifest_id: manifestIds[0], lifetime_start_ms: tagStart(i), lifetime_end_ms: null });
    await insertTags(rows);
    seeded = Math.max(seeded, target);
    // Fresh statistics and a vacuumed table, as autovacuum would eventually leave them: plans should
    // not depend on luck, and no autovacuum run (whose CPU counts as our database's) or first read
    // setting hint bits should land in a measurement right after seeding.
    await sql`vacuum (analyze) tag, manifest`.execute(raw);
    const one = async (q: import('kysely').RawBuilder<{ n: string | number }>) => Number((await q.execute(raw)).rows[0].n);
    return {
      tag: await one(sql`select count(*) as n from tag`),
      live: await one(sql`select count(*) as n from tag where lifetime_end_ms is null`),
      [MOVED]: await one(sql`select count(*) as n from tag where name = ${MOVED}`),
      manifest: await one(sql`select count(*) as n from manifest`),
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
      const indexes = [...new Set(lines.map((l) => /(?:Index (?:Only )?Scan(?: Backward)? using|Bitmap Index Scan on) (\w+)/.exec(l)?.[1]).filter((x): x is string => !!x))];
      out.push({ key, sql: compiled.sql, params: [...compiled.parameters], plan: lines.join('\n'), execMs: exec ? Number(exec[1]) : NaN, seqScans, indexes });
    }
    return out;
  }

  process.on('message', (m: ToChild) => {
    void (async () => {
      switch (m.type) {
        case 'seed': {
          const t0 = performance.now();
          const rows = await seed(m.tags);
          send({ type: 'seeded', tags: seeded, ms: performance.now() - t0, rows });
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
  /** What the p50 ratio compares across sizes: the label, with the page number for pages. */
  key: string;
  page?: number;
  url: string;
  check: (json: unknown) => string | undefined;
}

type TagsBody = { tags?: { name: string; start_ts?: number; end_ts?: number; manifest_digest?: string }[]; page?: number; has_additional?: boolean };

const tagsUrl = (q: string) => `${API}/repository/${ORG}/${REPO}/tag/?${q}`;

function pageCheck(o: { n: number; more: boolean; name?: string; live?: boolean; open?: boolean }) {
  return (json: unknown) => {
    const b = json as TagsBody;
    if (!Array.isArray(b?.tags)) return `no tags array: ${JSON.stringify(json).slice(0, 200)}`;
    if (b.tags.length !== o.n) return `${b.tags.length} tags, expected ${o.n}`;
    if (b.has_additional !== o.more) return `has_additional ${b.has_additional}, expected ${o.more}`;
    if (o.name && b.tags.some((t) => t.name !== o.name)) return `a tag other than ${o.name} in its history`;
    if (o.live && b.tags.some((t) => t.end_ts !== undefined)) return 'an ended lifetime among the active tags';
    if (o.open !== undefined && (b.tags[0].end_ts === undefined) !== o.open) return `the first lifetime is ${o.open ? 'not ' : ''}open`;
    for (let i = 1; i < b.tags.length; i++) if ((b.tags[i].start_ts ?? 0) > (b.tags[i - 1].start_ts ?? 0)) return 'lifetimes not newest first';
    return undefined;
  };
}

/** The deepest page (of `limit`) at most `wanted` that is full and has a next one, of `total` rows. */
const cappedPage = (wanted: number, total: number, limit: number) => Math.max(1, Math.min(wanted, Math.floor((total - 1) / limit)));

function endpointsFor(o: Options, size: number, pageK: number | undefined): Endpoint[] {
  const history = size + o.moves;
  const live = size + 1;
  const deep = cappedPage(o.deepPage, history, LIST_LIMIT);
  const hPage = cappedPage(o.historyPage, o.moves, HISTORY_LIMIT);
  const list = (page: number, label: string): Endpoint => ({
    label,
    key: `list page ${page}`,
    page,
    url: tagsUrl(`limit=${LIST_LIMIT}${page > 1 ? `&page=${page}` : ''}`),
    check: pageCheck({ n: LIST_LIMIT, more: page * LIST_LIMIT < history }),
  });
  const out: Endpoint[] = [list(1, 'list p1')];
  if (pageK && pageK > 1 && pageK < deep) out.push(list(pageK, 'list pK'));
  if (deep > 1) out.push(list(deep, 'list deep'));
  out.push({
    label: 'active p1',
    key: 'active p1',
    page: 1,
    url: tagsUrl(`onlyActiveTags=true&limit=${LIST_LIMIT}`),
    check: pageCheck({ n: Math.min(LIST_LIMIT, live), more: live > LIST_LIMIT, live: true }),
  });
  out.push({
    label: 'history p1',
    key: 'history page 1',
    page: 1,
    url: tagsUrl(`specificTag=${MOVED}&limit=${HISTORY_LIMIT}`),
    check: pageCheck({ n: Math.min(HISTORY_LIMIT, o.moves), more: o.moves > HISTORY_LIMIT, name: MOVED, open: true }),
  });
  if (hPage > 1) {
    out.push({
      label: 'history pH',
      key: `history page ${hPage}`,
      page: hPage,
      url: tagsUrl(`specificTag=${MOVED}&limit=${HISTORY_LIMIT}&page=${hPage}`),
      check: pageCheck({ n: HISTORY_LIMIT, more: hPage * HISTORY_LIMIT < o.moves, name: MOVED, open: false }),
    });
  }
  out.push({
    label: 'repo',
    key: 'repo',
    url: `${API}/repository/${ORG}/${REPO}`,
    check: (json) => {
      const b = json as { name?: string; tags?: Record<string, unknown> };
      if (b?.name !== REPO || !b.tags) return `unexpected repository view ${JSON.stringify(json).slice(0, 200)}`;
      const n = Object.keys(b.tags).length;
      return n === Math.min(GET_REPO_TAGS, live) ? undefined : `getRepo listed ${n} tags, expected ${Math.min(GET_REPO_TAGS, live)}`;
    },
  });
  return out;
}

interface Measurement extends Load {
  size: number;
  label: string;
  key: string;
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
  process.stderr.write(`[${size} tags] ${e.label}${e.page && e.page > 1 ? ` (page ${e.page})` : ''}: `);
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
    key: e.key,
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

// --- Report -------------------------------------------------------------------------------------

function report(o: Options, ms: Measurement[]): string {
  const header = ['tags', 'endpoint', 'page', 'req/s', 'p50 ms', 'p99 ms', 'body B', 'non2xx/err', 'srv CPU%', 'srv µs/req', 'db CPU%', 'db µs/req', 'gen CPU%', 'other CPU%', 'queries/req'];
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
    out.push('', `cost as the repository grows (${small} -> ${large} tags; ratio large/small, 1.00 = flat; CPU = server${o.db === 'postgres' ? ' + database backends' : ''} per request):`);
    const crows = [['endpoint', 'page', `p50 @${small}`, `p50 @${large}`, 'p50 ratio', `p99 @${small}`, `p99 @${large}`, `CPU µs @${small}`, `CPU µs @${large}`, 'CPU ratio', `req/s @${small}`, `req/s @${large}`]];
    const totalUs = (m: Measurement) => m.serverCpuUsPerReq + (m.dbCpuPct / 100 / Math.max(1e-9, m.rps)) * 1e6;
    for (const a of ms.filter((m) => m.size === small)) {
      const b = ms.find((m) => m.size === large && m.key === a.key);
      if (!b) continue;
      crows.push([
        a.label.replace(/ p\w+$/, ''),
        a.page ? String(a.page) : '',
        f(a.p50, 2),
        f(b.p50, 2),
        f(b.p50 / a.p50, 2),
        f(a.p99, 2),
        f(b.p99, 2),
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
    for (const kind of ['list', 'history']) {
      const pages = list.filter((m) => m.label.startsWith(kind) && m.page);
      if (pages.length > 1) {
        const p1 = pages[0];
        out.push(`cost by page number (${kind}) at ${size} tags: ${pages.map((m) => `page ${m.page} p50 ${f(m.p50, 2)} ms (${f(m.p50 / p1.p50, 2)}x)`).join(', ')}`);
      }
    }
  }

  out.push('', 'queries per request, by kind and first table:');
  for (const m of ms) {
    if (!m.byQuery) continue;
    const perReq = Object.entries(m.byQuery)
      .sort((a, b) => b[1] - a[1])
      .map(([k, n]) => `${k} ${(n / Math.max(1, m.requests)).toFixed(2)}`)
      .join(', ');
    out.push(`  ${String(m.size).padStart(6)} ${m.label.padEnd(10)}: ${perReq || 'none'}`);
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
    `${ORG}/${REPO}: ${o.smallTags ? `${o.smallTags} then ` : ''}${o.tags} tags, and "${MOVED}" with ${o.moves} lifetimes; token scope: ${SCOPE}`,
  ].join('\n');
}

function explainReport(endpoint: string, items: ExplainItem[]): string {
  const out = [`--- EXPLAIN ${endpoint}: ${items.length} SELECT(s)`];
  for (const it of items) {
    const notes = [it.indexes.length ? `indexes: ${it.indexes.join(', ')}` : '', it.seqScans.length ? `Seq Scan: ${it.seqScans.join(', ')}` : ''].filter(Boolean);
    out.push(`  ${f(it.execMs, 3).padStart(8)} ms  ${it.key}${notes.length ? `  [${notes.join('; ')}]` : ''}`);
  }
  // The full plan of every query on tag (the ones this benchmark is about) and of the costliest
  // one. The other tables hold a row or two here, so their sequential scans are expected and only
  // listed above.
  const costliest = [...items].sort((a, b) => b.execMs - a.execMs)[0];
  for (const it of items) {
    if (it !== costliest && !/\btag$/.test(it.key)) continue;
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

  const runs = (opts.smallTags ? 7 : 0) + 8;
  const run = new Run(runs * (opts.retries + 1) * (opts.warmup + opts.duration + (opts.waitQuiet || 0) + 30) + Math.ceil((opts.tags + opts.moves) / 50) + 300, opts.keepDb);
  try {
    const dbUrl = opts.db === 'postgres' ? await run.createScratchDatabase(opts.databaseUrl) : undefined;
    console.log(machineNotes(opts));
    process.stderr.write('starting server... ');
    const s = await startServer(
      { db: opts.db, url: dbUrl, moves: opts.moves, spread: opts.smallTags || opts.tags, logLevel: opts.logLevel, countQueries: opts.countQueries },
      opts,
    );
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
      const sizes = opts.smallTags && opts.smallTags !== opts.tags ? [opts.smallTags, opts.tags] : [opts.tags];
      for (const size of sizes) {
        process.stderr.write(`seeding ${ORG}/${REPO} to ${size} tags... `);
        const seeded = await s.proc.ask({ type: 'seed', tags: size }, 'seeded', 600_000);
        process.stderr.write(`${(seeded.ms / 1000).toFixed(1)} s\n`);
        const expected = { tag: size + opts.moves, live: size + 1, [MOVED]: opts.moves, manifest: 2 };
        if (JSON.stringify(seeded.rows) !== JSON.stringify(expected)) throw new Error(`seeded ${JSON.stringify(seeded.rows)}, expected ${JSON.stringify(expected)}`);
        const endpoints = endpointsFor(opts, size, size === opts.tags ? pageK : undefined);
        console.log(`\n${size} tags: table rows ${JSON.stringify(seeded.rows)}; history ${size + opts.moves} lifetimes (${Math.ceil((size + opts.moves) / LIST_LIMIT)} pages of ${LIST_LIMIT})`);
        if (size !== opts.tags) pageK = endpoints.find((e) => e.label === 'list deep')?.page;
        if (opts.explain && size === opts.tags) {
          // Before any load, so that no queued request of a load run is captured with these.
          for (const e of endpoints) {
            await s.proc.ask({ type: 'capture' }, 'ack');
            const r = await getJson(s, e.url);
            if (r.status !== 200) throw new Error(`GET ${e.url} answered ${r.status}`);
            const { items } = await s.proc.ask({ type: 'explain' }, 'explained', 120_000);
            explains.push(explainReport(`${e.label}${e.page && e.page > 1 ? ` (page ${e.page})` : ''} at ${size} tags: ${e.url}`, items));
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
