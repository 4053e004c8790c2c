// The shared parts of Quay's log endpoints (part1 §7.0): the date window, the entry view, the
// aggregation view and the page of 20. Used by the superuser logs (part2 §10.3, §10.15).
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { aggregateLogEntries, listLogEntries, type LogFilter, type LogRow } from '../db/logs.js';
import { message } from '../lib/api-error.js';
import { avatar } from '../lib/avatar.js';
import { formatDate } from '../lib/dates.js';
import { decodePageToken, encodePageToken } from '../lib/pagination.js';
import { BAD_REQUEST } from './repository/schemas.js';
import { AvatarView } from './user-view.js';

export const LOGS_PER_PAGE = 20;
const DAY_MS = 86400_000;

/** `MM/DD/YYYY` (one-digit month and day accepted) as UTC midnight; anything else is ignored. */
function parseLogDate(v: string | undefined): Date | undefined {
  const m = /^\s*(\d{1,2})\/(\d{1,2})\/(\d{4})\s*$/.exec(v ?? '');
  if (!m) return undefined;
  const [month, day, year] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const d = new Date(Date.UTC(year, month - 1, day));
  return d.getUTCMonth() === month - 1 && d.getUTCDate() === day && year >= 1900 ? d : undefined;
}

/**
 * The window [start, end + 1 day): defaults start = now − 1 day, end = now. An end before the
 * start is Flask's plain 400.
 */
export function logWindow(starttime: string | undefined, endtime: string | undefined, now = new Date()): { start: Date; end: Date } {
  const start = parseLogDate(starttime) ?? new Date(now.getTime() - DAY_MS);
  const end = new Date((parseLogDate(endtime) ?? now).getTime() + DAY_MS);
  if (end < start) throw message(400, BAD_REQUEST);
  return { start, end };
}

const Performer = z.object({ kind: z.literal('user'), name: z.string(), is_robot: z.boolean(), avatar: AvatarView });
const LogNamespace = z.object({ kind: z.enum(['org', 'user']), name: z.string(), avatar: AvatarView });

/** One audit entry as the log endpoints show it (part1 §7.0). */
export const LogEntryView = z
  .object({
    kind: z.string(),
    metadata: z.unknown(),
    ip: z.string().nullable(),
    datetime: z.string().nullable(),
    performer: Performer.optional().describe('Absent for anonymous and system actions'),
    namespace: LogNamespace.optional().describe('Only in the superuser logs'),
  })
  .meta({ id: 'LogEntry', description: 'An audit log entry.' });
export type LogView = z.infer<typeof LogEntryView>;

export const LogPageView = z.object({
  start_time: z.string().nullable(),
  end_time: z.string().nullable(),
  logs: z.array(LogEntryView),
  next_page: z.string().optional(),
});

export const AggregateView = z.object({ aggregated: z.array(z.object({ kind: z.string(), count: z.number(), datetime: z.string().nullable() })) });

export function logView(r: LogRow, includeNamespace: boolean): LogView {
  const v: LogView = { kind: r.kind, metadata: r.metadata, ip: r.ip, datetime: formatDate(r.datetime) };
  if (r.performer_name !== null) {
    const robot = !!r.performer_robot;
    v.performer = { kind: 'user', name: r.performer_name, is_robot: robot, avatar: avatar(r.performer_name, r.performer_email, robot ? 'robot' : 'user') };
  }
  if (includeNamespace && r.account_name !== null) {
    const org = !!r.account_org;
    v.namespace = { kind: org ? 'org' : 'user', name: r.account_name, avatar: avatar(r.account_name, r.account_email, org ? 'org' : 'user') };
  }
  return v;
}

/** One page of a log list, newest first, with `next_page` while more may follow. */
export async function logPage(
  app: FastifyInstance,
  pageKind: string,
  filter: LogFilter,
  nextPage: string | undefined,
  includeNamespace: boolean,
): Promise<z.infer<typeof LogPageView>> {
  const before = decodePageToken(app.secrets, pageKind, nextPage);
  const rows = await listLogEntries(app.db, filter, before, LOGS_PER_PAGE + 1);
  const page = rows.slice(0, LOGS_PER_PAGE);
  return {
    start_time: formatDate(filter.start),
    end_time: formatDate(filter.end),
    logs: page.map((r) => logView(r, includeNamespace)),
    ...(rows.length > LOGS_PER_PAGE ? { next_page: encodePageToken(app.secrets, pageKind, page[page.length - 1].id) } : {}),
  };
}

/**
 * Counts by kind and day of the month; each day's `datetime` is that day's midnight in the start's
 * month, or the next month when the day number is below the start's. At most 31 days.
 */
export async function logAggregate(app: FastifyInstance, filter: LogFilter): Promise<z.infer<typeof AggregateView>> {
  if (filter.end.getTime() - filter.start.getTime() > 31 * DAY_MS) throw message(400, 'Invalid date range for logs');
  const rows = await aggregateLogEntries(app.db, filter);
  const s = filter.start;
  return {
    aggregated: rows.map((r) => {
      const month = r.day < s.getUTCDate() ? s.getUTCMonth() + 1 : s.getUTCMonth();
      return { kind: r.kind, count: r.count, datetime: formatDate(new Date(Date.UTC(s.getUTCFullYear(), month, r.day))) };
    }),
  };
}
