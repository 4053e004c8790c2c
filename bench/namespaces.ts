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
import { fileURLToPath } from 'node:url';
import { endpointUsage, FULL_SCOPE as SCOPE, intOption, namespaceRow, pageCosts, parseEndpointArgs, parseLoadOptions, parseRunOptions, runEndpointBench, UsageError } from './lib.js';
import type { BenchServer, Endpoint, EndpointOptions, ExplainNotes, Measurement, ReportSpec, SeedingChildSpec, SeedingContext } from './lib.js';

const SELF = fileURLToPath(import.meta.url);
const API = '/api/v1';
const ORG = 'benchorg';
const OTHER_ORG = 'otherorg';
const LIMITS = { duration: 60, warmup: 30, connections: 128, repos: 50_000, users: 10_000, deepPage: 400 };
const BATCH = 1000;

const USAGE = endpointUsage(
  'bench/namespaces.ts',
  LIMITS,
  `  --repos N                repositories in the organization for the large run (default 10000, max ${LIMITS.repos})
  --small-repos N          repositories for the small run (default 1000; 0 skips the small run)
  --other-repos N          repositories of a second organization, interleaved by id with ours (default 0)
  --users N                users in the organization's teams (default 1000, max ${LIMITS.users})
  --deep-page N            the page the "deep" list run hammers (default 50)
  --prefix P               entity prefix (default member012: 10 users at --users >= 130)`,
  `What gets seeded (i = 0..N-1 is the repository's index, named repo-NNNNN):
  org ${ORG}; users member0000..; teams owners (admin: 2 users), readers (member: the benchmark user
  and every 4th user; read on i%10<6), builders (creator; write on i%3=0), auditors (member; read on
  i%7=0); every repository has an admin grant for its creator (a user); the benchmark user also has a
  direct write grant on i%20=7 and stars i%50=0; i%10=9 is public. The benchmark user therefore sees
  65% of the organization's repositories in listRepos (which lists public ones only with public=true).`,
);

// ------------------------------------------------------------------------------------------------
// Options

interface Options extends EndpointOptions {
  repos: number;
  smallRepos: number;
  otherRepos: number;
  users: number;
  deepPage: number;
  prefix: string;
}

function parseOptions(argv: string[]): Options | 'help' {
  const values = parseEndpointArgs(argv, {
    repos: { type: 'string' },
    'small-repos': { type: 'string' },
    'other-repos': { type: 'string' },
    users: { type: 'string' },
    'deep-page': { type: 'string' },
    prefix: { type: 'string', default: 'member012' },
  });
  if (values === 'help') return 'help';
  const repos = intOption('repos', values.repos, 10_000, 100, LIMITS.repos);
  const smallRepos = intOption('small-repos', values['small-repos'], Math.min(1000, repos), 0, repos);
  if (!/^[a-z0-9_-]{1,40}$/.test(values.prefix!)) throw new UsageError('--prefix must be 1-40 characters of [a-z0-9_-]');
  return {
    ...parseLoadOptions(values, LIMITS),
    repos,
    smallRepos,
    otherRepos: intOption('other-repos', values['other-repos'], 0, 0, LIMITS.repos),
    users: intOption('users', values.users, 1000, 10, LIMITS.users),
    deepPage: intOption('deep-page', values['deep-page'], 50, 2, LIMITS.deepPage),
    prefix: values.prefix!,
    ...parseRunOptions(values),
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
// Child side: one server, driven over the IPC channel (serveSeededChild() in lib.ts).

interface ChildSpec extends SeedingChildSpec {
  users: number;
}

type Seed = { repos: number; otherRepos: number };
type Seeded = { repos: number; otherRepos: number; rows: Record<string, number> };

/** Seeds the organizations, users and teams; the `seed` messages grow the repositories. */
async function seeder(spec: ChildSpec, { db: raw, user: benchUser }: SeedingContext): Promise<(m: Seed) => Promise<Seeded>> {
  const { sql } = await import('kysely');

  // --- the organizations, users and teams
  const org = await raw.insertInto('namespace').values(namespaceRow(ORG, true)).returning('id').executeTakeFirstOrThrow();
  const other = await raw.insertInto('namespace').values(namespaceRow(OTHER_ORG, true)).returning('id').executeTakeFirstOrThrow();
  const userIds: number[] = [];
  for (let from = 0; from < spec.users; from += BATCH) {
    const rows = [];
    for (let i = from; i < Math.min(spec.users, from + BATCH); i++) rows.push(namespaceRow(userName(i), false));
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

  return async (m) => {
    const rows = await seed(m.repos, m.otherRepos);
    return { repos: seeded, otherRepos: seededOther, rows };
  };
}

// ------------------------------------------------------------------------------------------------
// Parent side: seed, measure, report (runEndpointBench() in lib.ts starts the server and prints).

type Server = BenchServer<Seed, Seeded>;

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
    const r = await s.getJson(url);
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

/** An endpoint's name on the progress line and in its EXPLAIN heading. */
const title = (e: Endpoint) => `${e.label}${e.page ? ` (page ${e.page})` : ''}`;

/** Seeds --small-repos then --repos repositories and measures the endpoints at each size. */
async function measureSizes(s: Server, opts: Options): Promise<{ measurements: Measurement[]; explains: string[] }> {
  const ms: Measurement[] = [];
  const explains: string[] = [];
  let pageK: number | undefined;
  const sizes = opts.smallRepos ? [opts.smallRepos, opts.repos] : [opts.repos];
  for (const size of sizes) {
    const other = Math.round((opts.otherRepos * size) / opts.repos);
    process.stderr.write(`seeding ${ORG} to ${size} repositories${other ? ` (${OTHER_ORG} to ${other})` : ''}... `);
    const seeded = await s.seed({ repos: size, otherRepos: other });
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
      explains.push(...(await s.explain(endpoints, (e) => `${title(e)} at ${size} repositories`, EXPLAIN)));
    }
    for (const e of endpoints) ms.push(await s.measure(opts, size, e, `[${size} repos] ${title(e)}`));
  }
  return { measurements: ms, explains };
}

// --- Report -------------------------------------------------------------------------------------

const isList = (m: Measurement) => m.label.startsWith('list');

const REPORT: ReportSpec = {
  sizeColumn: 'repos',
  // Flat cost: the same endpoint (and the same page number) at the small and the large size.
  comparison: { what: 'namespace', unit: 'repositories', key: (m) => (isList(m) ? `list page ${m.page}` : m.label), endpoint: (m) => (isList(m) ? 'list' : m.label) },
  pageLines: (size, list) => {
    const lists = list.filter(isList);
    return lists.length > 1 ? [`cost by page number at ${size} repositories: ${pageCosts(lists)}`] : [];
  },
  labelWidth: 9,
};

/** Sequential scans noted; the full plan of the costliest query, and of any with a sequential scan. */
const EXPLAIN: ExplainNotes = {
  notes: (it) => (it.seqScans.length ? [`Seq Scan: ${it.seqScans.join(', ')}`] : []),
  full: (it) => it.seqScans.length > 0,
};

// --- Main ---------------------------------------------------------------------------------------

runEndpointBench({
  script: SELF,
  scope: SCOPE,
  seeder,
  spec: (o, url) => ({ db: o.db, url, users: o.users, logLevel: o.logLevel, countQueries: o.countQueries }),
  usage: USAGE,
  parse: parseOptions,
  budget: (o) => ({ runs: (o.smallRepos ? 4 : 0) + 5, rows: o.repos + o.otherRepos }),
  seeded: (o) =>
    `org ${ORG}: ${o.smallRepos ? `${o.smallRepos} then ` : ''}${o.repos} repositories, ${o.users} users${o.otherRepos ? `; ${OTHER_ORG}: ${o.otherRepos} repositories interleaved` : ''}; token scopes: ${SCOPE}`,
  measure: measureSizes,
  report: REPORT,
});
