// Benchmark: the audit-log read paths on our real server over a large log table (issue 11). Many
// organizations (default 1,000) are seeded with an owners team and three repositories each, and
// the audit table log_entry (partitioned by month, migrations/20261211T000000_log_partitions.ts)
// with --rows entries (default 1,000,000 on PostgreSQL) spread evenly in time over the last 90
// days, straight through SQL in batches (insert ... select ... from generate_series), after the
// month partitions of that range have been created (ensureLogPartitions, so nothing waits in
// log_entry_default); then VACUUM ANALYZE, and the days and hours that are over counted into
// log_count as the log-maintenance job keeps them (src/db/log-counts.ts). These are then measured with autocannon from this
// process, the server running in a child process on 127.0.0.1 (by default the load generator
// pinned to CPU 0, the server to CPU 1), each over the last 30 days (starttime/endtime):
//
//   org p1      GET /api/v1/organization/<org>/logs?starttime=..&endtime=..        (listOrgLogs)
//   org deep    the same at page --deep-page (default 50), its next_page token found by following
//               next_page from page 1 on the client side; that one request is then repeated
//   aggregate   GET /api/v1/organization/<org>/aggregatelogs?starttime=..&endtime=.. (30 days)
//   super agg   GET /api/v1/superuser/aggregatelogs?starttime=..&endtime=..  (every namespace)
//               (after the first request the server holds every counted period's counts in
//               memory, src/db/log-counts.ts: the aggregations measure that steady state)
//   super p1    GET /api/v1/superuser/logs?starttime=..&endtime=..   (listAllLogs, every namespace)
//
// <org> is the organization of rank --org-rank (default 1, the busiest). Entries are spread over
// the organizations by a Zipf-like law (weight of rank r about r^-0.8): at 1,000 organizations the
// busiest holds 5% of the entries (50,000 at 1,000,000), the median one about 0.05%. The benchmark
// user is an owner (admin team) of <org>, listed in SUPER_USERS, and its token has the scopes
// org:admin and super:user (the org endpoints check team membership: FEATURE_SUPERUSERS_FULL_ACCESS
// is off). Prints req/s, p50/p99 latency, server CPU per request, database queries per request (a
// no-op Kysely plugin counts them), whether each p99 is under the issue's aim of 50 ms, and, with
// --explain, EXPLAIN ANALYZE of every SELECT each endpoint runs, compiled from the very query nodes
// the server executed, with the month partitions each plan reads (partition pruning) and the
// indexes it uses.
//
// Unlike the other endpoint benchmarks this one has no peer side by side: there is no Quay to run
// here, so the figures stand on their own against the 50 ms p99 aim.
//
//   npx tsx bench/logs.ts [--db postgres|pglite] [--database-url URL] [--rows 1000000]
//       [--namespaces 1000] [--org-rank 1] [--deep-page 50] [--duration 5] [--warmup 2]
//       [--connections 10] [--explain] [--wait-quiet S] [--json FILE]
//
// Every request goes to 127.0.0.1 only; durations, connection counts and data sizes are capped.
// Stops by itself and cleans up its children and, with --db postgres, its scratch database.
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { endpointUsage, fmt, intOption, namespaceRow, pageCosts, parseEndpointArgs, parseLoadOptions, parseRunOptions, runEndpointBench, UsageError } from './lib.js';
import type { BenchServer, Endpoint, EndpointOptions, ExplainItem, ExplainNotes, Measurement, ReportSpec, SeedingChildSpec, SeedingContext } from './lib.js';

const SELF = fileURLToPath(import.meta.url);
const API = '/api/v1';
/** Org admin for the org logs, super:user for the superuser's. */
const SCOPE = 'org:admin super:user';
const LIMITS = { duration: 60, warmup: 30, connections: 128, rowsPostgres: 2_000_000, rowsPglite: 300_000, namespaces: 10_000, deepPage: 500 };
const DEFAULT_ROWS = { postgres: 1_000_000, pglite: 100_000 };
/** The issue's aim for every p99. */
const AIM_P99_MS = 50;
const PER_PAGE = 20;
const SPAN_DAYS = 90;
const WINDOW_DAYS = 30;
const DAY_MS = 86_400_000;
/** Entries per INSERT statement. */
const BATCH = 50_000;
/** The Zipf-like exponent of the entries' spread over the organizations (weight of rank r ~ r^-S). */
const SKEW = 0.8;
const PERFORMERS = ['alice', 'bob', 'carol', 'dave', 'erin'];
const REPO_NAMES = ['app', 'api', 'worker'];
/** Share of entries without a performer (anonymous pulls, system actions). */
const ANONYMOUS = 0.05;

/** Kinds and their weights (out of 100): mostly pulls and pushes, as on a real registry. `repo`: the entry names a repository. */
const KINDS: { kind: string; weight: number; repo: boolean }[] = [
  { kind: 'pull_repo', weight: 55, repo: true },
  { kind: 'push_repo', weight: 20, repo: true },
  { kind: 'create_tag', weight: 6, repo: true },
  { kind: 'move_tag', weight: 4, repo: true },
  { kind: 'delete_tag', weight: 3, repo: true },
  { kind: 'change_repo_permission', weight: 2, repo: true },
  { kind: 'change_repo_visibility', weight: 1, repo: true },
  { kind: 'create_repo', weight: 1, repo: true },
  { kind: 'org_add_team_member', weight: 2, repo: false },
  { kind: 'org_remove_team_member', weight: 1, repo: false },
  { kind: 'create_robot', weight: 1, repo: false },
  { kind: 'org_set_team_role', weight: 1, repo: false },
  { kind: 'create_application', weight: 1, repo: false },
  { kind: 'login_success', weight: 2, repo: false },
];

const orgName = (i: number) => `logorg${String(i).padStart(4, '0')}`;

const USAGE = endpointUsage(
  'bench/logs.ts',
  LIMITS,
  `  --rows N                 audit entries seeded (default ${DEFAULT_ROWS.postgres} with postgres, max ${LIMITS.rowsPostgres};
                           ${DEFAULT_ROWS.pglite} with pglite, max ${LIMITS.rowsPglite})
  --namespaces N           organizations the entries are spread over (default 1000, max ${LIMITS.namespaces})
  --org-rank N             the organization measured, by its share of the entries (default 1: the busiest)
  --deep-page N            the page of the org list the "org deep" run hammers (default 50, max ${LIMITS.deepPage};
                           capped to the last page of the 30-day window)`,
  `What gets seeded: organizations ${orgName(0)}.. (rank 1 first), each with an owners team (one of
the users ${PERFORMERS.join(', ')}) and the repositories ${REPO_NAMES.join(', ')}. The benchmark
user is an owner of the measured organization and listed in SUPER_USERS; token scopes ${SCOPE}.
Then --rows audit entries, evenly spaced over the last ${SPAN_DAYS} days (ids in time order, as an
append-only table has them), each given to an organization by a Zipf-like law (weight of rank r
~ r^-${SKEW}), with kinds weighted as on a registry (${KINDS.slice(0, 2).map((k) => `${k.kind} ${k.weight}%`).join(', ')}, ...), a
performer among those users (${ANONYMOUS * 100}% none), a repository for repository kinds, an IP and
metadata such as {"repo": "app", "namespace": "${orgName(0)}", "tag": "v7"}. The month partitions
of the range are created first; VACUUM ANALYZE afterwards, and the days and hours that are over counted (log_count). Every request covers the last ${WINDOW_DAYS} days.`,
);

// ------------------------------------------------------------------------------------------------
// Options

interface Options extends EndpointOptions {
  rows: number;
  namespaces: number;
  orgRank: number;
  deepPage: number;
}

function parseOptions(argv: string[]): Options | 'help' {
  const values = parseEndpointArgs(argv, {
    rows: { type: 'string' },
    namespaces: { type: 'string' },
    'org-rank': { type: 'string' },
    'deep-page': { type: 'string' },
  });
  if (values === 'help') return 'help';
  const maxRows = values.db === 'postgres' ? LIMITS.rowsPostgres : LIMITS.rowsPglite;
  const namespaces = intOption('namespaces', values.namespaces, 1000, 10, LIMITS.namespaces);
  const rows = intOption('rows', values.rows, DEFAULT_ROWS[values.db], 1000, maxRows);
  if (rows < namespaces * 10) throw new UsageError('--rows must be at least 10 per namespace');
  return {
    ...parseLoadOptions(values, LIMITS),
    rows,
    namespaces,
    orgRank: intOption('org-rank', values['org-rank'], 1, 1, namespaces),
    deepPage: intOption('deep-page', values['deep-page'], 50, 2, LIMITS.deepPage),
    ...parseRunOptions(values),
  };
}

// ------------------------------------------------------------------------------------------------
// The window every request covers: the last 30 days (Quay's MM/DD/YYYY, UTC), as logWindow()
// reads it: [start midnight, end midnight + 1 day).

function windowDates(now = new Date()) {
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  const start = new Date(today - (WINDOW_DAYS - 1) * DAY_MS);
  const end = new Date(today);
  const mdy = (d: Date) => `${String(d.getUTCMonth() + 1).padStart(2, '0')}/${String(d.getUTCDate()).padStart(2, '0')}/${d.getUTCFullYear()}`;
  return { query: `starttime=${encodeURIComponent(mdy(start))}&endtime=${encodeURIComponent(mdy(end))}`, from: start, to: new Date(today + DAY_MS) };
}

// ------------------------------------------------------------------------------------------------
// Child side: one server, driven over the IPC channel (serveSeededChild() in lib.ts).

interface ChildSpec extends SeedingChildSpec {
  namespaces: number;
  orgRank: number;
}

/** How many entries, and the window (ISO instants) to count the measured organization's in. */
type Seed = { rows: number; from: string; to: string };
type Seeded = { partitions: string[]; rows: Record<string, number> };

/** Seeds the organizations, their teams and repositories; the `seed` message seeds the entries. */
async function seeder(spec: ChildSpec, { db: raw, user: benchUser }: SeedingContext): Promise<(m: Seed) => Promise<Seeded>> {
  const { sql } = await import('kysely');
  const { ensureLogPartitions } = await import('../src/db/log-partitions.js');
  const { countSettledLogPeriods } = await import('../src/db/log-counts.js');

  // --- the performers, the organizations (rank 1 first), their owners teams and repositories
  const performers = await raw
    .insertInto('namespace')
    .values(PERFORMERS.map((n) => namespaceRow(n, false)))
    .returning('id')
    .execute();
  const performerIds = performers.map((p) => p.id);
  const orgIds: number[] = [];
  for (let from = 0; from < spec.namespaces; from += 1000) {
    const rows = [];
    for (let i = from; i < Math.min(spec.namespaces, from + 1000); i++) rows.push(namespaceRow(orgName(i), true));
    orgIds.push(...(await raw.insertInto('namespace').values(rows).returning('id').execute()).map((r) => r.id));
  }
  const repoIds: number[] = [];
  for (let from = 0; from < orgIds.length; from += 1000) {
    const chunk = orgIds.slice(from, from + 1000);
    const teams = await raw
      .insertInto('team')
      .values(chunk.map((id) => ({ organization_id: id, name: 'owners', role: 'admin' as const })))
      .returning(['id', 'organization_id'])
      .execute();
    const members = teams.map((t, k) => ({ team_id: t.id, user_id: performerIds[(from + k) % performerIds.length] }));
    const measured = teams.find((t) => t.organization_id === orgIds[spec.orgRank - 1]);
    if (measured) members.push({ team_id: measured.id, user_id: benchUser.id });
    await raw.insertInto('team_member').values(members).execute();
    // Repository ids in (organization, name) order: repoIds[org index * 3 + k] is REPO_NAMES[k] of that organization.
    const repos = chunk.flatMap((id, k) =>
      REPO_NAMES.map((name) => ({ namespace_id: id, name, visibility: 'private' as const, description: `Seeded by bench/logs.ts for ${orgName(from + k)}`, badge_token: randomUUID() })),
    );
    const inserted = await raw.insertInto('repository').values(repos).returning('id').execute();
    repoIds.push(...inserted.map((r) => r.id));
  }

  return async (m) => {
    const now = Date.now();
    const t0 = now - SPAN_DAYS * DAY_MS;
    // The month partitions from the oldest entry's month through two months ahead (as the
    // migration and the maintenance job keep them); the newer ones exist already.
    const oldest = new Date(t0);
    const current = new Date(now);
    const ahead = (current.getUTCFullYear() - oldest.getUTCFullYear()) * 12 + current.getUTCMonth() - oldest.getUTCMonth() + 2;
    await ensureLogPartitions(raw, oldest, ahead);

    // Entry g (0..rows-1) at t0 + (g + 0.5) * step: evenly spaced, ids in time order. Its
    // organization, kind, performer and IP come from multiplicative hashes of g (deterministic
    // and well spread); the organization's rank from the inverse of the Zipf-like law's CDF,
    // ((N+1)^(1-S) - 1) * u + 1 = rank^(1-S).
    const stepUs = ((SPAN_DAYS * DAY_MS) / m.rows) * 1000;
    const kindSlots: string[] = [];
    const repoSlots: number[] = [];
    for (const k of KINDS) {
      for (let i = 0; i < k.weight; i++) {
        kindSlots.push(k.kind);
        repoSlots.push(k.repo ? 1 : 0);
      }
    }
    const orgNames = orgIds.map((_, i) => orgName(i));
    const e = 1 - SKEW;
    for (let from = 0; from < m.rows; from += BATCH) {
      const to = Math.min(m.rows, from + BATCH);
      await sql`
        insert into log_entry (kind, account_id, performer_id, repository_id, ip, datetime, metadata)
        select x.kind,
               (${orgIds}::int[])[x.rank],
               case when x.p < ${ANONYMOUS} then null else (${performerIds}::int[])[1 + floor(x.q * ${performerIds.length})::int] end,
               case when x.repo = 1 then (${repoIds}::int[])[(x.rank - 1) * ${REPO_NAMES.length} + 1 + x.r] end,
               '10.' || (x.w / 65536 % 256) || '.' || (x.w / 256 % 256) || '.' || (x.w % 256),
               ${new Date(t0).toISOString()}::timestamptz + ((x.g + 0.5) * ${stepUs}::float8) * interval '1 microsecond',
               case when x.repo = 1
                 then jsonb_build_object('repo', (${REPO_NAMES}::text[])[1 + x.r], 'namespace', (${orgNames}::text[])[x.rank], 'tag', 'v' || (x.g % 40))
                 else jsonb_build_object('namespace', (${orgNames}::text[])[x.rank], 'team', 'owners')
               end
        from (
          select h.g, h.p, h.q, h.w, h.w % ${REPO_NAMES.length} as r,
                 (${kindSlots}::text[])[1 + floor(h.v * ${kindSlots.length})::int] as kind,
                 (${repoSlots}::int[])[1 + floor(h.v * ${repoSlots.length})::int] as repo,
                 least(${orgIds.length}, floor(power(1 + h.u * (power(${orgIds.length + 1}::float8, ${e}) - 1), ${1 / e}))::int) as rank
          from (
            select g,
                   (g * 2654435761 % 4294967296)::float8 / 4294967296 as u,
                   (g * 2246822519 % 4294967296)::float8 / 4294967296 as v,
                   (g * 3266489917 % 4294967296)::float8 / 4294967296 as p,
                   (g * 668265263 % 4294967296)::float8 / 4294967296 as q,
                   g * 374761393 % 16777216 as w
            from generate_series(${String(from)}::int8, ${String(to - 1)}::int8) g
          ) h
        ) x
        order by x.g`.execute(raw);
    }
    // Fresh statistics and a vacuumed table (visibility map set for index-only scans), as
    // autovacuum would eventually leave them: plans should not depend on luck, and no autovacuum
    // run (whose CPU counts as our database's) should land in a measurement right after seeding.
    await sql`vacuum (analyze) log_entry, namespace, team, team_member, repository`.execute(raw);
    // The counts of the days and hours that are over, as the log-maintenance job keeps them every
    // 10 minutes (src/db/log-counts.ts); the aggregations read the current hour from the entries.
    const countStart = performance.now();
    const counted = (await countSettledLogPeriods(raw, { limit: 1000 })).length;
    const countMs = Math.round(performance.now() - countStart);
    await sql`vacuum (analyze) log_count, log_counted`.execute(raw);

    const one = async (q: import('kysely').RawBuilder<{ n: string | number }>) => Number((await q.execute(raw)).rows[0].n);
    const parts = await sql<{ name: string; n: string }>`
      select c.relname as name, coalesce(e.n, 0) as n
      from pg_inherits i join pg_class c on c.oid = i.inhrelid join pg_class p on p.oid = i.inhparent
      left join (select tableoid, count(*) as n from log_entry group by tableoid) e on e.tableoid = c.oid
      where p.relname = 'log_entry' order by c.relname`.execute(raw);
    const orgId = orgIds[spec.orgRank - 1];
    return {
      partitions: parts.rows.map((r) => `${r.name} ${r.n}`),
      rows: {
        log_entry: await one(sql`select count(*) as n from log_entry`),
        log_entry_default: await one(sql`select count(*) as n from log_entry_default`),
        organizations: orgIds.length,
        org_entries: await one(sql`select count(*) as n from log_entry where account_id = ${orgId}`),
        org_window: await one(sql`select count(*) as n from log_entry where account_id = ${orgId} and datetime >= ${m.from}::timestamptz and datetime < ${m.to}::timestamptz`),
        all_window: await one(sql`select count(*) as n from log_entry where datetime >= ${m.from}::timestamptz and datetime < ${m.to}::timestamptz`),
        counted_periods: counted,
        counting_ms: countMs,
        log_count: await one(sql`select count(*) as n from log_count`),
      },
    };
  };
}

// ------------------------------------------------------------------------------------------------
// Parent side: seed, measure, report (runEndpointBench() in lib.ts starts the server and prints).

type Server = BenchServer<Seed, Seeded>;

type LogsBody = { logs?: { kind: string; datetime: string | null; metadata?: { namespace?: string }; namespace?: { name: string } }[]; next_page?: string };
type AggregateBody = { aggregated?: { kind: string; count: number; datetime: string | null }[] };

/**
 * A page of 20 (or `n`), newest first, inside [from, to), with a next_page when `more`; with
 * `org` every entry is that organization's (metadata) and carries no namespace, without it every
 * entry carries its namespace (the superuser's view); `before`: every entry older than that.
 */
function pageCheck(o: { n: number; more: boolean; from: Date; to: Date; org?: string; before?: number }) {
  return (json: unknown) => {
    const b = json as LogsBody;
    if (!Array.isArray(b?.logs)) return `no logs array: ${JSON.stringify(json).slice(0, 200)}`;
    if (b.logs.length !== o.n) return `${b.logs.length} entries, expected ${o.n}`;
    if (!!b.next_page !== o.more) return `next_page ${b.next_page ? 'present' : 'absent'}, expected ${o.more ? 'present' : 'absent'}`;
    let prev = Infinity;
    for (const l of b.logs) {
      const t = Date.parse(l.datetime ?? '');
      if (!(t >= o.from.getTime() && t < o.to.getTime())) return `an entry at ${l.datetime}, outside the window`;
      if (t > prev) return 'entries not newest first';
      if (o.before !== undefined && t > o.before) return `an entry at ${l.datetime}, newer than the pages before`;
      prev = t;
      if (o.org && (l.metadata?.namespace !== o.org || l.namespace)) return `an entry not of ${o.org}, or with a namespace: ${JSON.stringify(l).slice(0, 200)}`;
      if (!o.org && !l.namespace) return 'an entry without its namespace in the superuser list';
    }
    return undefined;
  };
}

/** Follows next_page from `url` (page 1) to page `wanted`, or the last page; the page reached, its URL and the oldest entry before it. */
async function followPages(s: Server, url: string, wanted: number): Promise<{ page: number; url: string; before: number; more: boolean; n: number }> {
  let page = 1;
  let cur = url;
  let before = Infinity;
  for (;;) {
    const r = await s.getJson(cur);
    if (r.status !== 200) throw new Error(`GET ${cur} answered ${r.status}: ${r.body.slice(0, 300)}`);
    const b = r.json as LogsBody;
    if (page >= wanted || !b.next_page) return { page, url: cur, before, more: !!b.next_page, n: b.logs?.length ?? 0 };
    const last = b.logs?.[b.logs.length - 1]?.datetime;
    before = Date.parse(last ?? '');
    cur = `${url}&next_page=${encodeURIComponent(b.next_page)}`;
    page++;
  }
}

/** The counts of an aggregation add up to the `expected` entries of the window, over at most its days. */
function aggregateCheck(expected: number) {
  return (json: unknown) => {
    const b = json as AggregateBody;
    if (!Array.isArray(b?.aggregated)) return `no aggregated array: ${JSON.stringify(json).slice(0, 200)}`;
    const total = b.aggregated.reduce((a, x) => a + x.count, 0);
    if (total !== expected) return `counts add up to ${total}, expected ${expected}`;
    const days = new Set(b.aggregated.map((x) => x.datetime)).size;
    return days > WINDOW_DAYS ? `${days} days, expected at most ${WINDOW_DAYS}` : undefined;
  };
}

async function endpointsFor(s: Server, o: Options, seeded: Seeded, w: ReturnType<typeof windowDates>): Promise<Endpoint[]> {
  const org = orgName(o.orgRank - 1);
  const inWindow = seeded.rows.org_window;
  const listUrl = `${API}/organization/${org}/logs?${w.query}`;
  const out: Endpoint[] = [
    { label: 'org p1', key: 'org page 1', page: 1, url: listUrl, check: pageCheck({ n: Math.min(PER_PAGE, inWindow), more: inWindow > PER_PAGE, from: w.from, to: w.to, org }) },
  ];
  // The deepest page at most --deep-page that is full (a last page of 20 has no next one when the
  // window holds a multiple of 20).
  const fullPages = Math.floor(inWindow / PER_PAGE);
  const wanted = Math.min(o.deepPage, fullPages);
  if (wanted > 1) {
    const deep = await followPages(s, listUrl, wanted);
    if (deep.page !== wanted) throw new Error(`next_page stopped at page ${deep.page}, expected to reach ${wanted} (${inWindow} entries in the window)`);
    out.push({
      label: 'org deep',
      key: `org page ${deep.page}`,
      page: deep.page,
      url: deep.url,
      check: pageCheck({ n: PER_PAGE, more: deep.page * PER_PAGE < inWindow, from: w.from, to: w.to, org, before: deep.before }),
    });
  }
  out.push({
    label: 'aggregate',
    key: 'aggregate',
    url: `${API}/organization/${org}/aggregatelogs?${w.query}`,
    check: aggregateCheck(inWindow),
  });
  const all = seeded.rows.all_window;
  out.push({
    label: 'super agg',
    key: 'super aggregate',
    url: `${API}/superuser/aggregatelogs?${w.query}`,
    check: aggregateCheck(all),
  });
  out.push({
    label: 'super p1',
    key: 'super page 1',
    page: 1,
    url: `${API}/superuser/logs?${w.query}`,
    check: pageCheck({ n: Math.min(PER_PAGE, all), more: all > PER_PAGE, from: w.from, to: w.to }),
  });
  return out;
}

/** An endpoint's name on the progress line and in its EXPLAIN heading. */
const title = (e: { label: string; page?: number }) => `${e.label}${e.page && e.page > 1 ? ` (page ${e.page})` : ''}`;

/** Seeds the entries and measures the endpoints. */
async function measureAll(s: Server, opts: Options): Promise<{ measurements: Measurement[]; explains: string[] }> {
  const w = windowDates();
  process.stderr.write(`seeding ${opts.rows} audit entries over ${opts.namespaces} organizations... `);
  const seeded = await s.seed({ rows: opts.rows, from: w.from.toISOString(), to: w.to.toISOString() });
  process.stderr.write(`${(seeded.ms / 1000).toFixed(1)} s\n`);
  const r = seeded.rows;
  if (r.log_entry < opts.rows) throw new Error(`seeded ${r.log_entry} entries, expected at least ${opts.rows}`);
  const org = orgName(opts.orgRank - 1);
  console.log(
    `\n${opts.rows} entries (seeded in ${(seeded.ms / 1000).toFixed(1)} s): ${JSON.stringify(r)}\n` +
      `partitions (entries): ${seeded.partitions.join(', ')}\n` +
      `${org} (rank ${opts.orgRank}): ${r.org_entries} entries, ${r.org_window} in the ${WINDOW_DAYS}-day window ` +
      `(${Math.ceil(r.org_window / PER_PAGE)} pages of ${PER_PAGE}); all organizations: ${r.all_window} in the window`,
  );
  allPartitions = seeded.partitions.map((p) => p.split(' ')[0]);
  if (r.log_entry_default > 0) console.log(`WARNING: ${r.log_entry_default} entries sit in log_entry_default`);
  const endpoints = await endpointsFor(s, opts, seeded, w);
  const explains: string[] = [];
  if (opts.explain) {
    // Before any load, so that no queued request of a load run is captured with these.
    explains.push(...(await s.explain(endpoints, (e) => `${title(e)} at ${opts.rows} entries: ${e.url.replace(/next_page=[^&]+/, 'next_page=<token>')}`, EXPLAIN)));
  }
  const ms: Measurement[] = [];
  for (const e of endpoints) ms.push(await s.measure(opts, opts.rows, e, `[${opts.rows} entries] ${title(e)}`));
  return { measurements: ms, explains };
}

// --- Report -------------------------------------------------------------------------------------

const REPORT: ReportSpec = {
  sizeColumn: 'entries',
  // One size only: no size comparison.
  comparison: { what: 'log table', unit: 'entries', key: (m) => m.key, endpoint: (m) => m.label },
  pageLines: (size, list) => {
    const out: string[] = [];
    const pages = list.filter((m) => m.label.startsWith('org') && m.page);
    if (pages.length > 1) out.push(`cost by page number (org list) at ${size} entries: ${pageCosts(pages)}`);
    out.push(`p99 against the aim of ${AIM_P99_MS} ms at ${size} entries:`);
    for (const m of list) out.push(`  ${title(m).padEnd(18)} p99 ${fmt(m.p99, 2).padStart(7)} ms  ${m.p99 < AIM_P99_MS ? 'under' : 'OVER'} ${AIM_P99_MS} ms`);
    return out;
  },
  labelWidth: 9,
};

/** log_entry's partitions, as the seeder found them (set in the parent before EXPLAIN). */
let allPartitions: string[] = [];

/**
 * The partitions in a plan (scanned, or "never executed" once the newer ones filled the page), those pruned when it was planned (every other one: the parameters
 * are bound, so the window prunes at plan time), and those pruned at run time (Subplans Removed).
 */
function partitionNotes(it: ExplainItem): string[] {
  const parts = [...new Set([...it.plan.matchAll(/ on (log_entry_\w+)/g)].map((x) => x[1]))].sort();
  if (!parts.length) return [];
  const removed = [...it.plan.matchAll(/Subplans Removed: (\d+)/g)].reduce((a, x) => a + Number(x[1]), 0);
  const pruned = allPartitions.filter((p) => !parts.includes(p));
  const out = [`partitions in the plan: ${parts.join(', ')}`, `pruned at planning: ${pruned.length ? pruned.join(', ') : 'none'}`];
  if (removed) out.push(`${removed} more pruned at run time`);
  return out;
}

/**
 * The partitions read, the indexes used and sequential scans noted; the full plan of every query
 * on log_entry (the ones this benchmark is about) and of the costliest one.
 */
const EXPLAIN: ExplainNotes = {
  notes: (it) => [...partitionNotes(it), it.indexes.length ? `indexes: ${it.indexes.join(', ')}` : '', it.seqScans.length ? `Seq Scan: ${it.seqScans.join(', ')}` : ''].filter(Boolean),
  full: (it) => /\blog_(entry|count)$/.test(it.key),
};

// --- Main ---------------------------------------------------------------------------------------

runEndpointBench({
  script: SELF,
  scope: SCOPE,
  seeder,
  spec: (o, url): ChildSpec => ({ db: o.db, url, namespaces: o.namespaces, orgRank: o.orgRank, logLevel: o.logLevel, countQueries: o.countQueries, superUser: true }),
  usage: USAGE,
  parse: parseOptions,
  budget: (o) => ({ runs: 4, rows: o.rows }),
  seeded: (o) => `${o.rows} audit entries over ${SPAN_DAYS} days and ${o.namespaces} organizations; measured: ${orgName(o.orgRank - 1)} (rank ${o.orgRank}); token scopes: ${SCOPE}`,
  measure: measureAll,
  report: REPORT,
});
