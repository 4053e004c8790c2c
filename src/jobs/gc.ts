// Garbage collection: removes manifests no tag, index or subject keeps alive, repository links
// older than the grace period that no manifest of their repository needs, and blobs nothing
// references any more, from the database and from storage. What counts as alive is written once,
// in src/db/gc.ts. The sweep runs as the `gc` job (enqueued every GC_INTERVAL by src/jobs/schedule.ts
// and after a repository deletion) and from the `gc` command.
//
// Order: ended tags → manifests → links → blobs, so that a manifest collected in a sweep frees its
// blobs in the same sweep (when their grace has passed too).
//
// Removing a blob never races a push (the push's half is claimBlob in src/db/blobs.ts and the
// manifest PUT in src/registry/manifests.ts):
//
//   collector                                   push
//   ─────────                                   ────
//   trx: lock row FOR UPDATE (skip locked),     claimBlob: insert, or last_used = now unless
//        re-check unreferenced + unlinked +            `deleting` (then wait for the row to go)
//        unused since now − grace,              manifest PUT: lock its blobs FOR SHARE,
//        set deleting (last_used = mark time)          refuse any marked `deleting`
//   commit
//   storage.delete(blobKey)                     (waiting…)
//   delete the row                              claim again: a new row; the bytes are written again
//
// Either the push's claim or reference commits first (the re-check sees it and the blob stays), or
// the mark does (the push waits and stores the blob again once the row is gone). A mark whose
// collector stopped (a crash) is finished by a later sweep once it is older than
// ABANDONED_MARK_MS; younger marks belong to a collector still at work, whose own storage delete
// could otherwise land after a push re-created the blob.
//
// Every batch is its own short statement or transaction, storage I/O happens outside them (PGlite
// has one connection), and every step can be repeated: the job is idempotent when a lease expires
// mid-run and the sweep runs again.
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import {
  deleteEndedTags,
  deleteGarbageManifests,
  deleteMarkedBlob,
  deleteStaleLinks,
  filterGarbageManifests,
  findBlobsToRemove,
  markBlobsDeleting,
  pageBlobIds,
  pageManifestIds,
  type DoomedBlob,
} from '../db/gc.js';
import type { DB, Trx } from '../db/index.js';
import { blobKey, type BlobDriver } from '../storage/index.js';
import { GC_QUEUE, GC_SWEEP_KEY, requestNow, UPLOAD_CANCEL_QUEUE } from './schedule.js';
import type { JobHandler } from './worker.js';
import { listRepositoryUploads } from '../db/gc.js';

/** A mark older than this has no collector at work on it any more (jobs renew their lease every 40 s). */
export const ABANDONED_MARK_MS = 10 * 60_000;
const PAGE = 1000;
/** Blobs marked at once: a push of one of them waits until its row goes (claimBlob polls for 5 s). */
const BLOB_BATCH = 50;
const STORAGE_PARALLELISM = 4;

export interface GcDeps {
  db: Kysely<DB>;
  storage: BlobDriver;
  log?: FastifyBaseLogger;
}

export interface GcOptions {
  /** GC_GRACE_PERIOD, in seconds. */
  graceS: number;
  /** The sweep's clock, ms since the epoch (default: now). Tests move it forward instead of waiting. */
  now?: number;
  /** Rows per page (default 1000). */
  pageSize?: number;
  /** Aborted when the job's lease is lost or the worker stops: the sweep stops between batches. */
  signal?: AbortSignal;
}

export interface GcResult {
  /** Tag rows past their time-machine window (or expired hidden tags) removed. */
  tags: number;
  manifests: number;
  links: number;
  blobs: number;
  /** Bytes of the removed blobs. */
  bytes: number;
}

function checkSignal(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('garbage collection aborted');
}

/** One full sweep; returns what it removed. */
export async function collectGarbage(deps: GcDeps, opts: GcOptions): Promise<GcResult> {
  if (!(Number.isFinite(opts.graceS) && opts.graceS >= 0)) throw new TypeError(`graceS must be a non-negative number, got ${opts.graceS}`);
  const now = opts.now ?? Date.now();
  const page = opts.pageSize ?? PAGE;
  const result: GcResult = { tags: 0, manifests: 0, links: 0, blobs: 0, bytes: 0 };
  result.tags = await collectEndedTags(deps, now, page, opts.signal);
  result.manifests = await collectManifests(deps, now, page, opts.signal);
  const cutoff = new Date(now - opts.graceS * 1000);
  result.links = await collectLinks(deps, cutoff, page, opts.signal);
  const blobs = await collectBlobs(deps, cutoff, new Date(now), page, opts.signal);
  result.blobs = blobs.count;
  result.bytes = blobs.bytes;
  return result;
}

async function collectEndedTags(deps: GcDeps, now: number, page: number, signal?: AbortSignal): Promise<number> {
  let total = 0;
  let cursor: { endMs: number; id: number } | undefined;
  for (;;) {
    checkSignal(signal);
    const r = await deleteEndedTags(deps.db, now, page, cursor);
    total += r.deleted;
    if (r.scanned < page) return total;
    cursor = r.cursor;
  }
}

/**
 * One pass over every manifest, then over what the deletions orphaned (an index's children, a
 * subject's referrers), until nothing more goes.
 */
async function collectManifests(deps: GcDeps, now: number, page: number, signal?: AbortSignal): Promise<number> {
  let total = 0;
  let orphans = new Set<number>();
  const remove = async (ids: number[]) => {
    for (let i = 0; i < ids.length; i += page) {
      checkSignal(signal);
      const batch = ids.slice(i, i + page);
      const r = await deps.db.transaction().execute((trx: Trx) => deleteGarbageManifests(trx, batch, now));
      total += r.deleted.length;
      for (const id of r.orphans) orphans.add(id);
    }
  };
  let after = 0;
  for (;;) {
    checkSignal(signal);
    const ids = await pageManifestIds(deps.db, after, page);
    if (ids.length === 0) break;
    after = ids[ids.length - 1];
    await remove(await filterGarbageManifests(deps.db, ids, now));
  }
  while (orphans.size) {
    const next = [...orphans];
    orphans = new Set();
    for (let i = 0; i < next.length; i += page) {
      checkSignal(signal);
      await remove(await filterGarbageManifests(deps.db, next.slice(i, i + page), now));
    }
  }
  return total;
}

async function collectLinks(deps: GcDeps, cutoff: Date, page: number, signal?: AbortSignal): Promise<number> {
  let total = 0;
  let cursor: { repositoryId: number; blobId: number } | undefined;
  for (;;) {
    checkSignal(signal);
    const r = await deleteStaleLinks(deps.db, cutoff, page, cursor);
    total += r.deleted;
    if (r.scanned < page) return total;
    cursor = r.cursor;
  }
}

async function collectBlobs(deps: GcDeps, cutoff: Date, now: Date, page: number, signal?: AbortSignal): Promise<{ count: number; bytes: number }> {
  const out = { count: 0, bytes: 0 };
  const staleBefore = new Date(now.getTime() - ABANDONED_MARK_MS);
  let after = 0;
  for (;;) {
    checkSignal(signal);
    const ids = await pageBlobIds(deps.db, after, page);
    if (ids.length === 0) return out;
    after = ids[ids.length - 1];
    const { garbage, abandoned } = await findBlobsToRemove(deps.db, ids, cutoff, staleBefore);
    if (abandoned.length) {
      deps.log?.warn({ blobs: abandoned.map((b) => b.digest).slice(0, 10), count: abandoned.length }, 'finishing blob removals a stopped collector left');
      add(out, await removeMarkedBlobs(deps, abandoned));
    }
    for (let i = 0; i < garbage.length; i += BLOB_BATCH) {
      checkSignal(signal);
      const marked = await deps.db.transaction().execute((trx: Trx) => markBlobsDeleting(trx, garbage.slice(i, i + BLOB_BATCH), cutoff, now));
      // Once marked, finished without looking at the signal: pushes of these blobs wait meanwhile.
      add(out, await removeMarkedBlobs(deps, marked));
    }
  }
}

function add(out: { count: number; bytes: number }, r: { count: number; bytes: number }) {
  out.count += r.count;
  out.bytes += r.bytes;
}

/**
 * The second half of a removal, for rows already marked `deleting`: the bytes, then the row, each
 * blob as soon as its bytes are gone (a push waiting for it goes on at once). Idempotent.
 */
export async function removeMarkedBlobs(deps: Pick<GcDeps, 'db' | 'storage'>, blobs: readonly DoomedBlob[]): Promise<{ count: number; bytes: number }> {
  const out = { count: 0, bytes: 0 };
  let next = 0;
  let failure: unknown;
  const worker = async () => {
    while (next < blobs.length && failure === undefined) {
      const b = blobs[next++];
      try {
        await deps.storage.delete(blobKey(b.digest));
        if (await deleteMarkedBlob(deps.db, b.id)) {
          out.count++;
          out.bytes += b.size;
        }
      } catch (err) {
        // The mark stays; a later sweep finishes it once it is old enough (ABANDONED_MARK_MS).
        failure ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(STORAGE_PARALLELISM, blobs.length) }, worker));
  if (failure !== undefined) throw failure;
  return out;
}

/** The `gc` job: one sweep with the app's GC_GRACE_PERIOD. */
export function gcHandler(app: FastifyInstance): JobHandler {
  return {
    queue: GC_QUEUE,
    leaseS: 120,
    async handle(_job, ctx) {
      const started = Date.now();
      const r = await collectGarbage({ db: app.db, storage: app.storage, log: ctx.log }, { graceS: app.config.GC_GRACE_PERIOD, signal: ctx.signal });
      const removed = r.tags + r.manifests + r.links + r.blobs;
      ctx.log[removed ? 'info' : 'debug']({ ...r, ms: Date.now() - started }, 'garbage collection finished');
    },
  };
}

/**
 * For a repository deletion, in its transaction (before the repository row goes, since its upload
 * rows go with it): enqueues the removal of its upload sessions' bytes, which no row will remember.
 * Sessions a request is writing to right now are cancelled once that request's lease has ended.
 * Call `requestGarbageCollection` after the commit for its manifests and blobs.
 */
export async function queueRepositoryCleanup(app: FastifyInstance, trx: Trx, repositoryId: number): Promise<void> {
  const uploads = await listRepositoryUploads(trx, repositoryId);
  const now = Date.now();
  const idle = uploads.filter((u) => !u.leaseExpires || u.leaseExpires.getTime() <= now);
  const busy = uploads.filter((u) => u.leaseExpires && u.leaseExpires.getTime() > now);
  const CHUNK = 200;
  for (let i = 0; i < idle.length; i += CHUNK) {
    await app.jobs.enqueue(trx, UPLOAD_CANCEL_QUEUE, { states: idle.slice(i, i + CHUNK).map((u) => u.storageState) });
  }
  if (busy.length) {
    const lastLeaseEnd = Math.max(...busy.map((u) => u.leaseExpires!.getTime()));
    for (let i = 0; i < busy.length; i += CHUNK) {
      await app.jobs.enqueue(trx, UPLOAD_CANCEL_QUEUE, { states: busy.slice(i, i + CHUNK).map((u) => u.storageState) }, { availableAfter: (lastLeaseEnd - now) / 1000 + 5 });
    }
  }
}

/** Makes a garbage-collection sweep claimable now (one waiting sweep is pulled forward; a running one is left alone). */
export async function requestGarbageCollection(app: FastifyInstance): Promise<void> {
  if (!app.jobs.queues.includes(GC_QUEUE)) return;
  await requestNow(app.db, { queue: GC_QUEUE, key: GC_SWEEP_KEY });
  app.jobs.nudge();
}
