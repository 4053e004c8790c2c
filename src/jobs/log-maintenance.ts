// The audit table's upkeep, as the `log-maintenance` job (every 10 minutes, src/jobs/schedule.ts):
// the coming months' partitions are created, with FEATURE_ACTION_LOG_ROTATION the months older
// than ACTION_LOG_ROTATION_THRESHOLD are dropped (src/db/log-partitions.ts), and the days and
// hours that are over are counted for the aggregations (src/db/log-counts.ts). Every start also
// creates the coming months (src/app.ts), so a server without a worker still partitions; without
// a worker nothing is counted and the aggregations read the entries themselves.
import type { FastifyInstance } from 'fastify';
import { countSettledLogPeriods } from '../db/log-counts.js';
import { dropLogPartitionsBefore, ensureLogPartitions } from '../db/log-partitions.js';
import { LOG_MAINTENANCE_QUEUE } from './schedule.js';
import type { JobHandler } from './worker.js';

export function logMaintenanceHandler(app: FastifyInstance): JobHandler {
  return {
    queue: LOG_MAINTENANCE_QUEUE,
    retries: 3,
    async handle(_job, ctx) {
      const now = new Date();
      const created = await ensureLogPartitions(app.db, now);
      let dropped: string[] = [];
      if (app.config.FEATURE_ACTION_LOG_ROTATION) {
        dropped = await dropLogPartitionsBefore(app.db, new Date(now.getTime() - app.config.ACTION_LOG_ROTATION_THRESHOLD * 1000));
      }
      const counted = (await countSettledLogPeriods(app.db, { signal: ctx.signal })).length;
      if (created.length || dropped.length || counted) ctx.log.info({ created, dropped, counted }, 'audit log maintained');
    },
  };
}
