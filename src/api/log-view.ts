// The shared parts of Quay's log endpoints (part1 §7.0): the date window, the entry view, the
// aggregation view and the page of 20. Used by the superuser logs (part2 §10.3, §10.15).
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { aggregateLogEntries, listLogEntries, type LogCursor, type LogFilter, type LogRow } from '../db/logs.js';
import { message } from '../lib/api-error.js';
import { avatar } from '../lib/avatar.js';
import { formatDate } from '../lib/dates.js';
import { PAGE_TOKEN_TTL_S } from '../lib/pagination.js';
import { BAD_REQUEST } from './repository/schemas.js';
import { AvatarView } from './user-view.js';

export const LOGS_PER_PAGE = 20;
const DAY_MS = 86400_000;
/** 9999-12-31T23:59:59.999Z: dates are written with four-digit years. */
const LAST_INSTANT = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/**
 * Quay's `MM/DD/YYYY` (one-digit month and day accepted) as UTC midnight, and also an ISO 8601 date
 * (`YYYY-MM-DD`, UTC midnight) or date-time (that instant), which newer guides show; anything else
 * is ignored, as Quay ignores what it cannot parse.
 */
function parseLogDate(v: string | undefined): Date | undefined {
  const s = (v ?? '').trim();
  const us = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(s);
  const iso = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (us || iso) {
    const [year, month, day] = us ? [us[3], us[1], us[2]].map(Number) : [iso![1], iso![2], iso![3]].map(Number);
    const d = new Date(Date.UTC(year, month - 1, day));
    return d.getUTCMonth() === month - 1 && d.getUTCDate() === day && year >= 1900 ? d : undefined;
  }
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$/.test(s)) {
    const d = new Date(s);
    return Number.isNaN(d.getTime()) || d.getUTCFullYear() < 1900 || d.getTime() > LAST_INSTANT ? undefined : d;
  }
  return undefined;
}

/**
 * The window [start, end + 1 day): defaults start = now − 1 day, end = now. An end before the
 * start is Flask's plain 400.
 */
export function logWindow(starttime: string | undefined, endtime: string | undefined, now = new Date()): { start: Date; end: Date } {
  const start = parseLogDate(starttime) ?? new Date(now.getTime() - DAY_MS);
  // An end date of 12/31/9999 ("everything") ends with the last instant the database can take
  // as it is written: its next day is in year 10000.
  const end = new Date(Math.min((parseLogDate(endtime) ?? now).getTime() + DAY_MS, LAST_INSTANT));
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

// The `next_page` of a log list: where the page ended, sealed, expiring as Quay's tokens do.
interface LogPageToken {
  k: string;
  dt: string;
  id: number;
  exp: number;
}

function encodeLogCursor(app: FastifyInstance, kind: string, c: LogCursor): string {
  const body: LogPageToken = { k: kind, dt: c.datetime, id: c.id, exp: Date.now() + PAGE_TOKEN_TTL_S * 1000 };
  return app.secrets.encrypt(JSON.stringify(body));
}

/** The cursor in a token of this list, or undefined (first page) for a missing, foreign, expired or forged one. */
function decodeLogCursor(app: FastifyInstance, kind: string, token: string | undefined): LogCursor | undefined {
  const plain = token ? app.secrets.decrypt(token) : undefined;
  if (!plain) return undefined;
  try {
    const b = JSON.parse(plain) as Partial<LogPageToken>;
    if (b.k !== kind || typeof b.exp !== 'number' || b.exp < Date.now()) return undefined;
    if (typeof b.dt !== 'string' || b.dt.length > 64 || !Number.isSafeInteger(b.id)) return undefined;
    return { datetime: b.dt, id: b.id! };
  } catch {
    return undefined;
  }
}

/** A page with nothing on it (a performer filter naming nobody). */
export function emptyLogPage(w: { start: Date; end: Date }): z.infer<typeof LogPageView> {
  return { start_time: formatDate(w.start), end_time: formatDate(w.end), logs: [] };
}

/**
 * One page of a log list, newest first, with `next_page` while more may follow. `pageKind` names
 * the list (and its target), so a token of one list is never read by another.
 */
export async function logPage(
  app: FastifyInstance,
  pageKind: string,
  filter: LogFilter,
  nextPage: string | undefined,
  includeNamespace: boolean,
): Promise<z.infer<typeof LogPageView>> {
  const rows = await listLogEntries(app.db, filter, decodeLogCursor(app, pageKind, nextPage), LOGS_PER_PAGE + 1);
  const page = rows.slice(0, LOGS_PER_PAGE);
  const last = page[page.length - 1];
  return {
    start_time: formatDate(filter.start),
    end_time: formatDate(filter.end),
    logs: page.map((r) => logView(r, includeNamespace)),
    ...(rows.length > LOGS_PER_PAGE ? { next_page: encodeLogCursor(app, pageKind, { datetime: last.cursor, id: last.id }) } : {}),
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
  const days = new Map<number, string | null>();
  const dayDate = (day: number) => {
    let d = days.get(day);
    if (d === undefined) {
      const month = day < s.getUTCDate() ? s.getUTCMonth() + 1 : s.getUTCMonth();
      days.set(day, (d = formatDate(new Date(Date.UTC(s.getUTCFullYear(), month, day)))));
    }
    return d;
  };
  return { aggregated: rows.map((r) => ({ kind: r.kind, count: r.count, datetime: dayDate(r.day) })) };
}
