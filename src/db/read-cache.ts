// Reads of the /v2 pull path (a repository by name, the manifest a tag points at) kept in memory,
// for a database that only this process can change: PGlite, embedded in this process (on disk it
// is locked to one process, src/db/lock.ts; in memory nothing else can reach it). On PGlite every
// query runs on the server's own thread at 0.3–1 ms each, so a pull that needs none is several
// times faster; on PostgreSQL, where other replicas write too, there is no such cache.
//
// Correctness does not depend on knowing which write changes which read. Every statement this
// process sends through Kysely passes the cache's plugin; any statement that may change data bumps
// one generation counter, before it runs and again after it returns, and an entry is used only
// while the generation is the one read before its query was sent. So a write anywhere, by any
// code, empties the cache; a read racing a write is never kept. The only writes that do not count
// are plain inserts, updates and deletes of tables no cached read depends on (audit rows, jobs,
// upload sessions), which the pull path and the job worker make all the time. Reads whose answer
// depends on the clock (a tag's lifetime) carry the instant their answer stops being true.
//
// Size: at most 10,000 entries and 64 MiB of values (a manifest is at most 4 MiB); the oldest go
// first.
import {
  type KyselyPlugin,
  type OperationNode,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  type QueryResult,
  type RootOperationNode,
  type UnknownRow,
} from 'kysely';


/** Tables no cached read depends on: writes to them leave the cache as it is. */
const UNRELATED_TABLES = new Set(['log_entry', 'job', 'blob_upload']);

interface Entry {
  generation: number;
  value: unknown;
  /** Epoch milliseconds at which the value stops being true (a tag's lifetime end), or Infinity. */
  until: number;
  bytes: number;
}

export interface Cached<T> {
  value: T;
  /** When the answer stops being true whatever is written (epoch ms); default: never. */
  until?: number;
  /** An estimate of the value's size, for the cache's byte bound; default 256. */
  bytes?: number;
}

function tableName(node: OperationNode | undefined): string | undefined {
  if (node?.kind !== 'TableNode') return undefined;
  return (node as unknown as { table: { identifier: { name: string } } }).table.identifier.name;
}

/** Whether a statement cannot change what a cached read returns. */
function leavesCacheAlone(node: RootOperationNode): boolean {
  switch (node.kind) {
    case 'SelectQueryNode':
      return true;
    case 'RawNode': {
      // `sql` templates: a plain SELECT reads; anything else may write.
      const first = (node as unknown as { sqlFragments: readonly string[] }).sqlFragments[0] ?? '';
      return /^\s*select\b/i.test(first);
    }
    case 'InsertQueryNode':
      return !node.with && UNRELATED_TABLES.has(tableName(node.into) ?? '');
    case 'UpdateQueryNode':
      return !node.with && !node.from && UNRELATED_TABLES.has(tableName(node.table) ?? '');
    case 'DeleteQueryNode':
      return !node.with && !node.using && node.from.froms.length === 1 && UNRELATED_TABLES.has(tableName(node.from.froms[0]) ?? '');
    default:
      return false;
  }
}

export class ReadCache {
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private generation = 0;
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;
  /** Hits and misses since start (tests and benchmarks read them). */
  readonly stats = { hits: 0, misses: 0 };

  constructor(limits: { maxEntries?: number; maxBytes?: number } = {}) {
    this.maxEntries = limits.maxEntries ?? 10_000;
    this.maxBytes = limits.maxBytes ?? 64 * 1024 * 1024;
  }

  /** Query ids (one object per execution) of the writes in flight. */
  private readonly writes = new WeakSet<object>();

  /** The Kysely plugin that sees every statement (installed on the root instance). */
  readonly plugin: KyselyPlugin = {
    transformQuery: (args: PluginTransformQueryArgs): RootOperationNode => {
      if (!leavesCacheAlone(args.node)) {
        this.writes.add(args.queryId);
        this.invalidate();
      }
      return args.node;
    },
    transformResult: async (args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> => {
      // A write bumps again once it has run: a read sent while it ran is not kept.
      if (this.writes.has(args.queryId)) this.invalidate();
      return args.result;
    },
  };

  /** Forgets everything (every write does this). */
  invalidate(): void {
    this.generation++;
    if (this.entries.size) {
      this.entries.clear();
      this.bytes = 0;
    }
  }

  /**
   * The value under `key`, from memory while no write happened since it was read and `until` has
   * not passed; otherwise from `load`, kept when no write ran meanwhile. Keys are the caller's:
   * prefix them with what they read (`repo:`, `tag:`).
   */
  async get<T>(key: string, load: () => Promise<Cached<T>>, now = Date.now()): Promise<T> {
    const e = this.entries.get(key);
    if (e && e.generation === this.generation && now < e.until) {
      this.stats.hits++;
      return e.value as T;
    }
    if (e) this.drop(key, e);
    this.stats.misses++;
    const generation = this.generation;
    const got = await load();
    // Shared by every later request: frozen, so that code changing it fails loudly in tests.
    if (typeof got.value === 'object' && got.value !== null) Object.freeze(got.value);
    if (generation === this.generation) this.put(key, { generation, value: got.value, until: got.until ?? Infinity, bytes: got.bytes ?? 256 });
    return got.value;
  }

  /** Entries held, and the estimated bytes of their values. */
  get size(): { entries: number; bytes: number } {
    return { entries: this.entries.size, bytes: this.bytes };
  }

  private put(key: string, e: Entry): void {
    if (e.bytes > this.maxBytes / 4) return;
    const old = this.entries.get(key);
    if (old) this.drop(key, old);
    this.entries.set(key, e);
    this.bytes += e.bytes;
    for (const [k, v] of this.entries) {
      if (this.entries.size <= this.maxEntries && this.bytes <= this.maxBytes) break;
      this.drop(k, v);
    }
  }

  private drop(key: string, e: Entry): void {
    this.entries.delete(key);
    this.bytes -= e.bytes;
  }
}

/** `cache.get(key, load)`, or just `load()` where there is no cache (PostgreSQL). */
export async function readThrough<T>(cache: ReadCache | undefined, key: string, load: () => Promise<Cached<T>>): Promise<T> {
  return cache ? cache.get(key, load) : (await load()).value;
}
