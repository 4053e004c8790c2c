// Periodic upkeep of a serving process: expired sessions and stale throttle rows are deleted, and
// the embedded database is checkpointed (PGlite runs PostgreSQL in single-user mode, which never
// checkpoints by itself: without this its write-ahead log grows until the server stops, and a
// crash replays all of it).
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import type { Db } from '../db/index.js';
import { deleteExpiredSessions } from '../db/sessions.js';
import { sweepFailures } from '../services/throttle.js';

const SWEEP_EVERY_MS = 3600_000;
const CHECKPOINT_EVERY_MS = 300_000;

/** Deletes expired sessions and throttle rows nobody is waiting on any more. */
export async function sweepExpired(db: Db, now = Date.now()): Promise<{ sessions: number; failures: number }> {
  return { sessions: await deleteExpiredSessions(db), failures: await sweepFailures(db, now) };
}

export function startMaintenance(app: FastifyInstance): void {
  const log = app.log.child({ component: 'maintenance' });
  const timers = [
    setInterval(() => {
      sweepExpired(app.db).catch((err) => log.warn({ err }, 'sweep of expired sessions failed'));
    }, SWEEP_EVERY_MS),
  ];
  if (app.database.kind === 'pglite') {
    timers.push(
      setInterval(() => {
        sql`checkpoint`.execute(app.db).catch((err) => log.warn({ err }, 'checkpoint failed'));
      }, CHECKPOINT_EVERY_MS),
    );
  }
  for (const t of timers) t.unref();
  app.addHook('onClose', async () => timers.forEach(clearInterval));
}
