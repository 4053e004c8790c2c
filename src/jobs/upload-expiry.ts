// Upload sessions nobody finishes: a client that went away leaves a blob_upload row and the bytes
// it sent under uploads/<uuid>/. The `upload-expiry` job (enqueued every GC_INTERVAL by
// src/jobs/schedule.ts) removes sessions without activity (`updated`) for UPLOAD_EXPIRY and
// without a live lease, bytes first; Quay's BlobUploadCleanupWorker does the same after
// BLOBUPLOAD_DELETION_DATE_THRESHOLD (2 days). The `upload-cancel` job removes the bytes of
// sessions whose rows are already gone (a deleted repository's: src/jobs/gc.ts
// queueRepositoryCleanup).
//
// A session is taken before its bytes go: the collector takes the row's write lease (as a PATCH or
// PUT does before it writes), so a request arriving meanwhile is refused (416, as for a session
// another request writes to) instead of appending to bytes being removed, and only then cancels
// the storage and deletes the row. A crash in between leaves a leased row: it is taken again once
// that lease has expired.
import { randomUUID } from 'node:crypto';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import { deleteLeasedUpload, findStaleUploads, leaseStaleUpload } from '../db/gc.js';
import type { DB } from '../db/index.js';
import { parseUploadState, StorageInvalidState, type BlobDriver } from '../storage/index.js';
import { UPLOAD_CANCEL_QUEUE, UPLOAD_EXPIRY_QUEUE } from './schedule.js';
import type { JobHandler } from './worker.js';

/** How long the collector holds a session it is removing. */
const COLLECTOR_LEASE_MS = 10 * 60_000;
const PAGE = 200;

export interface UploadExpiryDeps {
  db: Kysely<DB>;
  storage: BlobDriver;
  log?: FastifyBaseLogger;
}

export interface UploadExpiryOptions {
  /** UPLOAD_EXPIRY, in seconds. */
  expiryS: number;
  /** The sweep's clock, ms since the epoch (default: now). */
  now?: number;
  pageSize?: number;
  signal?: AbortSignal;
}

/**
 * Cancels an upload's storage. A state this driver cannot read (it belongs to another driver: the
 * storage configuration changed) is reported and skipped: its bytes are out of reach here.
 */
async function cancelStorage(storage: BlobDriver, raw: unknown, log?: FastifyBaseLogger): Promise<boolean> {
  let state;
  try {
    state = parseUploadState(raw);
    await storage.cancelUpload(state);
    return true;
  } catch (err) {
    // Not a state at all, or another driver's; anything else (I/O) fails the attempt.
    if (state !== undefined && !(err instanceof StorageInvalidState)) throw err;
    log?.warn({ err }, 'an upload session names storage this driver cannot read; its bytes are left where they are');
    return false;
  }
}

/** Removes stale sessions; returns how many. */
export async function expireUploads(deps: UploadExpiryDeps, opts: UploadExpiryOptions): Promise<number> {
  if (!(Number.isFinite(opts.expiryS) && opts.expiryS >= 0)) throw new TypeError(`expiryS must be a non-negative number, got ${opts.expiryS}`);
  const nowMs = opts.now ?? Date.now();
  const now = new Date(nowMs);
  const before = new Date(nowMs - opts.expiryS * 1000);
  const page = opts.pageSize ?? PAGE;
  let removed = 0;
  let after = 0;
  for (;;) {
    if (opts.signal?.aborted) throw opts.signal.reason;
    const stale = await findStaleUploads(deps.db, before, now, after, page);
    if (stale.length === 0) return removed;
    after = stale[stale.length - 1].id;
    for (const u of stale) {
      const token = `gc-${randomUUID()}`;
      const taken = await leaseStaleUpload(deps.db, u.id, token, before, now, new Date(nowMs + COLLECTOR_LEASE_MS));
      if (!taken) continue; // written to or leased meanwhile: not stale any more
      await cancelStorage(deps.storage, taken.storageState, deps.log);
      if (await deleteLeasedUpload(deps.db, u.id, token)) removed++;
    }
  }
}

/** The `upload-expiry` job: one sweep with the app's UPLOAD_EXPIRY. */
export function uploadExpiryHandler(app: FastifyInstance): JobHandler {
  return {
    queue: UPLOAD_EXPIRY_QUEUE,
    leaseS: 120,
    async handle(_job, ctx) {
      const n = await expireUploads({ db: app.db, storage: app.storage, log: ctx.log }, { expiryS: app.config.UPLOAD_EXPIRY, signal: ctx.signal });
      ctx.log[n ? 'info' : 'debug']({ uploads: n }, 'expired upload sessions removed');
    },
  };
}

/** Body of an `upload-cancel` job: the storage states (blob_upload.storage_state) to cancel. */
export interface UploadCancelBody {
  states: unknown[];
}

/** The `upload-cancel` job: cancels each state's storage (idempotent: cancelling twice is fine). */
export function uploadCancelHandler(app: FastifyInstance): JobHandler<UploadCancelBody> {
  return {
    queue: UPLOAD_CANCEL_QUEUE,
    async handle(job, ctx) {
      const states = Array.isArray(job.body?.states) ? job.body.states : [];
      let n = 0;
      for (const s of states) {
        if (ctx.signal.aborted) throw ctx.signal.reason;
        if (await cancelStorage(app.storage, s, ctx.log)) n++;
      }
      ctx.log.debug({ uploads: n }, 'cancelled the storage of removed upload sessions');
    },
  };
}
