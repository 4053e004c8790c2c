// Audit-log exports (part1 §7.0 "Export flow"), as the `log-export` job: every entry of the window
// for a namespace or repository is written to storage as one JSON document, then the link is POSTed
// to `callback_url` (through the SSRF guard, src/lib/outbound.ts) and mailed to `callback_email`.
// Each destination is a `log-export-deliver` job of its own. The link is the storage's own presigned URL where the driver has one (S3), else
// <app>/exportedlogs/<id>?expires=…&signature=… (src/web/exported-logs.ts); either works for
// EXPORT_LINK_TTL_S. The document is deleted by a follow-up job once the link has expired.
//
// Idempotent: a retry (a callback that failed) reuses the document already written.
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { listLogEntries, type LogCursor, type LogFilter } from '../db/logs.js';
import { logView } from '../api/log-view.js';
import { formatDate } from '../lib/dates.js';
import { postJson } from '../lib/outbound.js';
import { logExportMail } from '../mail/templates.js';
import type { JobHandler } from './worker.js';

export const LOG_EXPORT_QUEUE = 'log-export';
export const LOG_EXPORT_CLEANUP_QUEUE = 'log-export-cleanup';
export const LOG_EXPORT_DELIVER_QUEUE = 'log-export-deliver';
/** How long an export's link works (Quay's EXPORT_ACTION_LOGS_SECONDS default: 1 hour). */
export const EXPORT_LINK_TTL_S = 3600;
const BATCH = 500;

export interface LogExportBody {
  exportId: string;
  /** ISO instants of the window [start, end). */
  start: string;
  end: string;
  namespace: string;
  accountId?: number;
  repository?: string | null;
  repositoryId?: number;
  excludeKinds?: string[];
  callbackUrl?: string;
  callbackEmail?: string;
}

export const exportKey = (exportId: string) => `exportedlogs/${exportId}.json`;

/** The signature of a download link: the export and its expiry, under the server's key. */
export function exportSignature(app: FastifyInstance, exportId: string, expires: number): string {
  return app.secrets.mac('exported-logs', `${exportId}\0${expires}`);
}

/** The document, streamed: `{"export_id", "details", "logs": [..., {"terminator": true}]}`. */
function exportDocument(app: FastifyInstance, b: LogExportBody, filter: LogFilter): Readable {
  async function* chunks(): AsyncGenerator<Buffer> {
    const details = {
      start_time: formatDate(filter.start),
      end_time: formatDate(filter.end),
      namespace: b.namespace,
      repository: b.repository ?? null,
    };
    yield Buffer.from(`{"export_id":${JSON.stringify(b.exportId)},"details":${JSON.stringify(details)},"logs":[`);
    let after: LogCursor | undefined;
    for (;;) {
      const rows = await listLogEntries(app.db, filter, after, BATCH);
      if (rows.length) yield Buffer.from(rows.map((r) => `${JSON.stringify(logView(r, false))},`).join(''));
      if (rows.length < BATCH) break;
      const last = rows[rows.length - 1];
      after = { datetime: last.cursor, id: last.id };
    }
    yield Buffer.from('{"terminator":true}]}');
  }
  return Readable.from(chunks());
}

export function logExportHandler(app: FastifyInstance): JobHandler<LogExportBody> {
  return {
    queue: LOG_EXPORT_QUEUE,
    retries: 3,
    leaseS: 300,
    async handle(job) {
      const b = job.body;
      const filter: LogFilter = {
        start: new Date(b.start),
        end: new Date(b.end),
        ...(b.accountId !== undefined ? { accountId: b.accountId } : {}),
        ...(b.repositoryId !== undefined ? { repositoryId: b.repositoryId } : {}),
        ...(b.excludeKinds ? { excludeKinds: b.excludeKinds } : {}),
      };
      const key = exportKey(b.exportId);
      if (!(await app.storage.stat(key))) {
        await app.storage.write(key, exportDocument(app, b, filter));
        await app.jobs.enqueue(app.db, LOG_EXPORT_CLEANUP_QUEUE, { exportId: b.exportId }, { availableAfter: EXPORT_LINK_TTL_S + 60 });
      }
      const url = await downloadUrl(app, b.exportId);
      const result: ExportResult = {
        export_id: b.exportId,
        start_time: formatDate(filter.start),
        end_time: formatDate(filter.end),
        namespace: b.namespace,
        repository: b.repository ?? null,
        exported_data_url: url,
        status: 'success',
      };
      // Each destination is its own job, retried on its own: a failing callback never mails twice.
      await app.jobs.transaction(async (trx) => {
        if (b.callbackUrl) await app.jobs.enqueue(trx, LOG_EXPORT_DELIVER_QUEUE, { to: 'callback', address: b.callbackUrl, result });
        if (b.callbackEmail) await app.jobs.enqueue(trx, LOG_EXPORT_DELIVER_QUEUE, { to: 'email', address: b.callbackEmail, result });
      });
    },
  };
}

interface ExportResult {
  export_id: string;
  start_time: string | null;
  end_time: string | null;
  namespace: string;
  repository: string | null;
  exported_data_url: string;
  status: 'success';
}

interface DeliverBody {
  to: 'callback' | 'email';
  address: string;
  result: ExportResult;
}

/** POSTs the result to the callback (Quay retries any answer but 200) or mails the link. */
export function logExportDeliverHandler(app: FastifyInstance): JobHandler<DeliverBody> {
  return {
    queue: LOG_EXPORT_DELIVER_QUEUE,
    retries: 5,
    async handle(job) {
      const { to, address, result } = job.body;
      if (to === 'callback') {
        const res = await postJson(address, result, { config: app.config });
        if (res.status !== 200) throw new Error(`the export callback answered ${res.status}`);
        return;
      }
      if (!app.mailer) return;
      const target = result.repository ? `${result.namespace}/${result.repository}` : result.namespace;
      await app.mailer.send(
        logExportMail({ registry: app.config.REGISTRY_TITLE, to: address, exportId: result.export_id, target, url: result.exported_data_url, status: result.status }),
      );
    },
  };
}

async function downloadUrl(app: FastifyInstance, exportId: string): Promise<string> {
  const presigned = await app.storage.presignedGetUrl(exportKey(exportId), EXPORT_LINK_TTL_S);
  if (presigned) return presigned;
  const expires = Math.floor(Date.now() / 1000) + EXPORT_LINK_TTL_S;
  return `${app.baseUrl}/exportedlogs/${exportId}?expires=${expires}&signature=${exportSignature(app, exportId, expires)}`;
}

export function logExportCleanupHandler(app: FastifyInstance): JobHandler<{ exportId: string }> {
  return {
    queue: LOG_EXPORT_CLEANUP_QUEUE,
    async handle(job) {
      if (typeof job.body?.exportId === 'string' && /^[0-9a-f-]{36}$/.test(job.body.exportId)) await app.storage.delete(exportKey(job.body.exportId));
    },
  };
}
