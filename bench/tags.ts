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
import { fileURLToPath } from 'node:url';
import { endpointUsage, intOption, namespaceRow, pageCosts, parseEndpointArgs, parseLoadOptions, parseRunOptions, runEndpointBench, UsageError } from './lib.js';
import type { BenchServer, Endpoint, EndpointOptions, ExplainNotes, Measurement, ReportSpec, SeedingChildSpec, SeedingContext } from './lib.js';

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

const USAGE = endpointUsage(
  'bench/tags.ts',
  LIMITS,
  `  --tags N                 tags (tag-00001..) in the repository for the large run (default 10000, max ${LIMITS.tags})
  --small-tags N           tags for the small run (default 1000; 0 skips the small run)
  --moves N                lifetimes of the tag "${MOVED}" (default 1000, max ${LIMITS.moves}): N-1 ended, the last open
  --deep-page N            the page of the whole history the "list deep" run hammers (default 100;
                           capped to the last page that has a next one)
  --history-page N         the page of "${MOVED}"'s history the "history" deep run hammers (default 5; capped likewise)`,
  `What gets seeded: org ${ORG} with the private repository ${REPO} (the benchmark user has a direct read
grant on it, and a token with scope ${SCOPE}); two OCI image manifests (one layer each); tags
tag-00001..tag-NNNNN, live, tag i starting i minutes after a fixed point in the past (the tags added
when the repository grows are the newest); the tag ${MOVED} with --moves contiguous lifetimes spread
over the first --small-tags tags' minutes (half a minute off theirs), alternating between the two
manifests, the last one open. Nothing is hidden, so listRepoTags' history has N + moves lifetimes.`,
);

// ------------------------------------------------------------------------------------------------
// Options

interface Options extends EndpointOptions {
  tags: number;
  smallTags: number;
  moves: number;
  deepPage: number;
  historyPage: number;
}

function parseOptions(argv: string[]): Options | 'help' {
  const values = parseEndpointArgs(argv, {
    tags: { type: 'string' },
    'small-tags': { type: 'string' },
    moves: { type: 'string' },
    'deep-page': { type: 'string' },
    'history-page': { type: 'string' },
  });
  if (values === 'help') return 'help';
  const tags = intOption('tags', values.tags, 10_000, 100, LIMITS.tags);
  const smallTags = intOption('small-tags', values['small-tags'], Math.min(1000, tags), 0, tags);
  if (smallTags > 0 && smallTags < 100) throw new UsageError('--small-tags must be 0 or at least 100');
  return {
    ...parseLoadOptions(values, LIMITS),
    tags,
    smallTags,
    moves: intOption('moves', values.moves, 1000, 2, LIMITS.moves),
    deepPage: intOption('deep-page', values['deep-page'], 100, 2, LIMITS.deepPage),
    historyPage: intOption('history-page', values['history-page'], 5, 2, LIMITS.historyPage),
    ...parseRunOptions(values),
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
// Child side: one server, driven over the IPC channel (serveSeededChild() in lib.ts).

interface ChildSpec extends SeedingChildSpec {
  moves: number;
  /** Over how many of the first tags' minutes the moved tag's lifetimes are spread. */
  spread: number;
}

type Seed = { tags: number };
type Seeded = { tags: number; rows: Record<string, number> };

/** Seeds the organization, its repository and two manifests; the `seed` messages grow the tags (the first also seeds the moved tag). */
async function seeder(spec: ChildSpec, { db: raw, user: benchUser }: SeedingContext): Promise<(m: Seed) => Promise<Seeded>> {
  const { sql } = await import('kysely');

  // --- the organization, its repository (read-granted to the benchmark user) and two manifests
  const org = await raw.insertInto('namespace').values(namespaceRow(ORG, true)).returning('id').executeTakeFirstOrThrow();
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

  return async (m) => {
    const rows = await seed(m.tags);
    return { tags: seeded, rows };
  };
}

// ------------------------------------------------------------------------------------------------
// Parent side: seed, measure, report (runEndpointBench() in lib.ts starts the server and prints).

type Server = BenchServer<Seed, Seeded>;

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

/** An endpoint's name on the progress line and in its EXPLAIN heading. */
const title = (e: Endpoint) => `${e.label}${e.page && e.page > 1 ? ` (page ${e.page})` : ''}`;

/** Seeds --small-tags then --tags tags and measures the endpoints at each size. */
async function measureSizes(s: Server, opts: Options): Promise<{ measurements: Measurement[]; explains: string[] }> {
  const ms: Measurement[] = [];
  const explains: string[] = [];
  let pageK: number | undefined;
  const sizes = opts.smallTags && opts.smallTags !== opts.tags ? [opts.smallTags, opts.tags] : [opts.tags];
  for (const size of sizes) {
    process.stderr.write(`seeding ${ORG}/${REPO} to ${size} tags... `);
    const seeded = await s.seed({ tags: size });
    process.stderr.write(`${(seeded.ms / 1000).toFixed(1)} s\n`);
    const expected = { tag: size + opts.moves, live: size + 1, [MOVED]: opts.moves, manifest: 2 };
    if (JSON.stringify(seeded.rows) !== JSON.stringify(expected)) throw new Error(`seeded ${JSON.stringify(seeded.rows)}, expected ${JSON.stringify(expected)}`);
    const endpoints = endpointsFor(opts, size, size === opts.tags ? pageK : undefined);
    console.log(`\n${size} tags: table rows ${JSON.stringify(seeded.rows)}; history ${size + opts.moves} lifetimes (${Math.ceil((size + opts.moves) / LIST_LIMIT)} pages of ${LIST_LIMIT})`);
    if (size !== opts.tags) pageK = endpoints.find((e) => e.label === 'list deep')?.page;
    if (opts.explain && size === opts.tags) {
      // Before any load, so that no queued request of a load run is captured with these.
      explains.push(...(await s.explain(endpoints, (e) => `${title(e)} at ${size} tags: ${e.url}`, EXPLAIN)));
    }
    for (const e of endpoints) ms.push(await s.measure(opts, size, e, `[${size} tags] ${title(e)}`));
  }
  return { measurements: ms, explains };
}

// --- Report -------------------------------------------------------------------------------------

const REPORT: ReportSpec = {
  sizeColumn: 'tags',
  // Flat cost: the same endpoint (and the same page number) at the small and the large size.
  comparison: { what: 'repository', unit: 'tags', key: (m) => m.key, endpoint: (m) => m.label.replace(/ p\w+$/, ''), p99: true },
  pageLines: (size, list) => {
    const out: string[] = [];
    for (const kind of ['list', 'history']) {
      const pages = list.filter((m) => m.label.startsWith(kind) && m.page);
      if (pages.length > 1) out.push(`cost by page number (${kind}) at ${size} tags: ${pageCosts(pages)}`);
    }
    return out;
  },
  labelWidth: 10,
};

/**
 * The indexes used and sequential scans noted; the full plan of every query on tag (the ones this
 * benchmark is about) and of the costliest one. The other tables hold a row or two here, so their
 * sequential scans are expected and only noted.
 */
const EXPLAIN: ExplainNotes = {
  notes: (it) => [it.indexes.length ? `indexes: ${it.indexes.join(', ')}` : '', it.seqScans.length ? `Seq Scan: ${it.seqScans.join(', ')}` : ''].filter(Boolean),
  full: (it) => /\btag$/.test(it.key),
};

// --- Main ---------------------------------------------------------------------------------------

runEndpointBench({
  script: SELF,
  scope: SCOPE,
  seeder,
  spec: (o, url) => ({ db: o.db, url, moves: o.moves, spread: o.smallTags || o.tags, logLevel: o.logLevel, countQueries: o.countQueries }),
  usage: USAGE,
  parse: parseOptions,
  budget: (o) => ({ runs: (o.smallTags ? 7 : 0) + 8, rows: o.tags + o.moves }),
  seeded: (o) => `${ORG}/${REPO}: ${o.smallTags ? `${o.smallTags} then ` : ''}${o.tags} tags, and "${MOVED}" with ${o.moves} lifetimes; token scope: ${SCOPE}`,
  measure: measureSizes,
  report: REPORT,
});
