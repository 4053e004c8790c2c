// The download link of an audit-log export when the storage has no presigned URLs of its own
// (src/jobs/log-export.ts): /exportedlogs/<export id>?expires=<unix s>&signature=<MAC>. The link is
// the credential, as Quay's: it works for whoever holds it, until it expires.
import type { FastifyInstance } from 'fastify';
import { safeEqual } from '../auth/crypto.js';
import { exportKey, exportSignature } from '../jobs/log-export.js';
import { message } from '../lib/api-error.js';

interface Query {
  expires?: string;
  signature?: string;
}

export async function exportedLogsRoutes(app: FastifyInstance): Promise<void> {
  app.get<{ Params: { exportId: string }; Querystring: Query }>('/exportedlogs/:exportId', async (req, reply) => {
    const { exportId } = req.params;
    const expires = Number(req.query.expires);
    const signature = typeof req.query.signature === 'string' ? req.query.signature : '';
    if (!/^[0-9a-f-]{36}$/.test(exportId) || !Number.isSafeInteger(expires) || !safeEqual(signature, exportSignature(app, exportId, expires))) {
      throw message(403, 'Invalid or expired link');
    }
    if (expires * 1000 <= Date.now()) throw message(403, 'Invalid or expired link');
    const key = exportKey(exportId);
    if (!(await app.storage.stat(key))) throw message(404, 'Not Found');
    reply.header('Content-Type', 'application/json').header('Cache-Control', 'private, no-store');
    reply.header('Content-Disposition', `attachment; filename="export-${exportId}.json"`);
    return reply.send(await app.storage.read(key));
  });
}
