// Repository notifications (part2 §5): the events, the methods, and the `notification` job that
// delivers one event to one notification. After Quay's notifications/notificationevent.py,
// notifications/notificationmethod.py and workers/notificationworker/.
//
//   a change (push…) ─ same transaction ─► one job per matching notification (spawnRepoEvent)
//   worker ─► notification still there and < 3 failures? ─► event filter (ref-regex, level)
//          ─► method: webhook | slack (src/lib/outbound.ts) | email (app.mailer) | quay_notification
//          ─► success: failures back to 0 │ failure: failures + 1, the job retries with backoff
//
// - At least once: the job row commits with the change and is deleted only after the delivery, so
//   a crash or restart mid-delivery runs it again (receivers dedupe on X-Notification-Delivery,
//   which is the job id and stays the same across attempts; in-app notifications dedupe on it).
// - A notification with 3 failures (Quay's limit) is skipped, its queued events dropped, until
//   resetRepositoryNotificationFailures; a success starts the count again (as Quay's worker).
// - Delivery never happens in a request: a failing endpoint cannot slow a push.
// - Webhooks are signed: `X-Notification-Signature: sha256=<hex HMAC-SHA256 of the body>` under
//   the notification's `config.secret` (chosen at creation or generated then). Quay signs nothing.
import { createHmac } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Db } from '../db/index.js';
import {
  clearNotificationFailures,
  findEnabledNotification,
  incrementNotificationFailures,
  insertUserNotification,
  listEventNotificationUuids,
  type DeliverableNotification,
} from '../db/notifications.js';
import { postJson, safeUrl, type OutboundConfig } from '../lib/outbound.js';
import type { Job } from './queue.js';
import type { JobContext, JobHandler } from './worker.js';

export const NOTIFICATION_QUEUE = 'notification';
/** Quay's NOTIFICATION_SEND_TIMEOUT default. */
export const SEND_TIMEOUT_MS = 10_000;
export const SIGNATURE_HEADER = 'X-Notification-Signature';
export const DELIVERY_HEADER = 'X-Notification-Delivery';
export const EVENT_HEADER = 'X-Notification-Event';

/** A job's body: Quay's notification_data. */
export interface NotificationJob {
  notification_uuid: string;
  event_data: Record<string, unknown>;
  performer_data: Record<string, unknown>;
}

type Level = 'info' | 'warning' | 'error' | 'success' | 'primary';
type EventData = Record<string, any>;

interface EventSpec {
  level(d: EventData): Level;
  summary(d: EventData): string;
  /** Extra fields of the sample the test endpoint sends. */
  sample(eventConfig: Record<string, unknown>): { extra: EventData; subpage?: string };
  /** Why `eventConfig` is not acceptable (Quay accepts anything; these are the keys it reads). */
  invalidConfig?(eventConfig: Record<string, unknown>): string | undefined;
  shouldPerform?(d: EventData, eventConfig: Record<string, unknown>): boolean;
}

// ---- Events ----

/** util/secscan.py PRIORITY_LEVELS, by index. */
const PRIORITIES = ['Critical', 'High', 'Medium', 'Low', 'Negligible', 'Unknown'] as const;

const buildSummary = (what: string) => (d: EventData) => `${what} for repository ${d.repository} [${String(d.build_id ?? '').slice(0, 7)}]`;

function buildSample(extra: EventData) {
  return () => ({
    extra: {
      build_id: 'fake-build-id',
      build_name: 'some-fake-build',
      docker_tags: ['latest', 'foo', 'bar'],
      trigger_id: '1245634',
      trigger_kind: 'GitHub',
      trigger_metadata: { default_branch: 'master', ref: 'refs/heads/somebranch', commit: '42d4a62c53350993ea41069e9f2cfdefb0df097d' },
      ...extra,
    },
    subpage: '/build/fake-build-id',
  });
}

function refRegexInvalid(c: Record<string, unknown>): string | undefined {
  const r = c['ref-regex'];
  if (r === undefined || r === null || r === '') return undefined;
  if (typeof r !== 'string') return 'ref-regex must be a string';
  try {
    new RegExp(r);
  } catch {
    return `Invalid ref-regex: ${r}`;
  }
  return undefined;
}

/** Quay's BaseBuildEvent.should_perform: with a ref-regex, only builds whose git ref matches it (from the start). */
function refRegexMatches(d: EventData, c: Record<string, unknown>): boolean {
  const r = c['ref-regex'];
  if (!r) return true;
  const ref = d.trigger_metadata?.ref;
  if (typeof ref !== 'string') return false;
  try {
    const m = new RegExp(String(r)).exec(ref);
    return m !== null && m.index === 0;
  } catch {
    return false;
  }
}

const mirrorSample = () => ({ extra: { message: 'TEST NOTIFICATION' } });

export const EVENTS: Readonly<Record<string, EventSpec>> = {
  repo_push: {
    level: () => 'primary',
    summary: (d) => `Repository ${d.repository} updated`,
    sample: () => ({ extra: { updated_tags: ['latest', 'foo'], pruned_image_count: 3 } }),
  },
  repo_mirror_sync_started: { level: () => 'info', summary: (d) => `Repository Mirror started for ${d.message}`, sample: mirrorSample },
  repo_mirror_sync_success: { level: () => 'success', summary: (d) => `Repository Mirror success for ${d.message}`, sample: mirrorSample },
  repo_mirror_sync_failed: { level: () => 'error', summary: (d) => `Repository Mirror failed for ${d.message}`, sample: mirrorSample },
  vulnerability_found: {
    level: (d) => {
      const p = d.vulnerability?.priority;
      return p === 'Critical' ? 'error' : p === 'High' || p === 'Medium' ? 'warning' : 'info';
    },
    summary: (d) => `${d.vulnerability?.priority} vulnerability detected in repository ${d.repository} in ${(d.tags ?? []).length} tags`,
    sample: (c) => {
      const idx = Number(c.level ?? 0);
      return {
        extra: {
          tags: ['latest', 'prod', 'foo', 'bar', 'baz'],
          image: 'some-image-id',
          vulnerability: {
            id: 'CVE-FAKE-CVE',
            description: 'A futurist vulnerability',
            link: 'https://security-tracker.debian.org/tracker/CVE-FAKE-CVE',
            priority: PRIORITIES[Number.isInteger(idx) && idx >= 0 && idx < PRIORITIES.length ? idx : 0],
          },
        },
      };
    },
    invalidConfig: (c) => {
      if (c.level === undefined || c.level === null || c.level === '') return undefined;
      const n = typeof c.level === 'string' && /^\d+$/.test(c.level) ? Number(c.level) : c.level;
      return Number.isInteger(n) && (n as number) >= 0 && (n as number) < PRIORITIES.length ? undefined : 'level must be a severity index from 0 (Critical) to 5 (Unknown)';
    },
    // Quay's VulnerabilityFoundEvent.should_perform: fires when the severity index is at most the level.
    shouldPerform: (d, c) => {
      if (c.level === undefined || c.level === null || c.level === '') return true;
      if ('vulnerable_index_report_created' in d) return true;
      const found = PRIORITIES.indexOf(d.vulnerability?.priority ?? 'Unknown');
      return found >= 0 && found <= Number(c.level);
    },
  },
  build_queued: {
    level: () => 'info',
    summary: buildSummary('Build queued'),
    sample: buildSample({ is_manual: false }),
    invalidConfig: refRegexInvalid,
    shouldPerform: refRegexMatches,
  },
  build_start: { level: () => 'info', summary: buildSummary('Build started'), sample: buildSample({}), invalidConfig: refRegexInvalid, shouldPerform: refRegexMatches },
  build_success: {
    level: () => 'success',
    summary: buildSummary('Build succeeded'),
    sample: buildSample({ image_id: '1245657346' }),
    invalidConfig: refRegexInvalid,
    shouldPerform: refRegexMatches,
  },
  build_failure: {
    level: () => 'error',
    summary: buildSummary('Build failure'),
    sample: buildSample({ error_message: 'This is a fake error message' }),
    invalidConfig: refRegexInvalid,
    shouldPerform: refRegexMatches,
  },
  build_cancelled: {
    level: () => 'info',
    summary: buildSummary('Build cancelled'),
    sample: buildSample({ image_id: '1245657346' }),
    invalidConfig: refRegexInvalid,
    shouldPerform: refRegexMatches,
  },
};

export const METHODS = ['webhook', 'email', 'slack', 'quay_notification', 'flowdock', 'hipchat'] as const;
export type MethodName = (typeof METHODS)[number];

/** Quay's build_repository_event_data: what every repository event carries. */
export function repositoryEventData(
  config: { PREFERRED_URL_SCHEME: string; SERVER_HOSTNAME: string },
  namespace: string,
  repo: string,
  extra: EventData = {},
  subpage?: string,
): EventData {
  const full = `${namespace}/${repo}`;
  let homepage = `${config.PREFERRED_URL_SCHEME}://${config.SERVER_HOSTNAME}/repository/${full}`;
  if (subpage) homepage += subpage.startsWith('/') ? subpage : `/${subpage}`;
  return { repository: full, namespace, name: repo, docker_url: `${config.SERVER_HOSTNAME}/${full}`, homepage, ...extra };
}

/** Quay's build_notification_data performer part, from whoever caused the event. */
export function performerData(actor: { user: { id: number; username: string } | null; token: { id: number | string; clientId: string; applicationName: string } | null } | null): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (actor?.token) {
    out.oauth_token_id = actor.token.id;
    out.oauth_token_application_id = actor.token.clientId;
    out.oauth_token_application = actor.token.applicationName;
  }
  if (actor?.user) {
    out.entity_id = actor.user.id;
    out.entity_name = actor.user.username;
  }
  return out;
}

/**
 * Queues `event` for every notification of the repository that listens to it, in the caller's
 * transaction (so it commits with the change). One index probe; nothing else when there is none.
 * Returns how many were queued: the caller nudges the worker after its commit when > 0.
 */
export async function spawnRepoEvent(
  app: FastifyInstance,
  trx: Db,
  repo: { id: number; name: string; namespace_name: string },
  event: string,
  extra: EventData,
  performer: Record<string, unknown> = {},
): Promise<number> {
  const uuids = await listEventNotificationUuids(trx, repo.id, event);
  if (uuids.length === 0) return 0;
  const eventData = repositoryEventData(app.config, repo.namespace_name, repo.name, extra);
  for (const uuid of uuids) {
    await app.jobs.enqueue<NotificationJob>(trx, NOTIFICATION_QUEUE, { notification_uuid: uuid, event_data: eventData, performer_data: performer });
  }
  return uuids.length;
}

/** The sample event the test endpoint sends (Quay's get_sample_data). */
export function sampleEventData(config: { PREFERRED_URL_SCHEME: string; SERVER_HOSTNAME: string }, namespace: string, repo: string, event: string, eventConfig: Record<string, unknown>): EventData {
  const { extra, subpage } = EVENTS[event]!.sample(eventConfig);
  return repositoryEventData(config, namespace, repo, extra, subpage);
}

// ---- Webhook templates (Quay's util/jsontemplate.py: `${path}` replaced by the event's value) ----

export class TemplateError extends Error {}

type PathStep = { field: string } | { index: number } | { all: true };

/** A JSONPath subset: `a.b`, `a[0]`, `a[*]`, `a.*`, `a."b c"`, optionally from `$`. */
function parsePath(expr: string): PathStep[] {
  const e = expr.trim();
  if (!e) throw new TemplateError('Empty expression found');
  const bad = (pos: number) => new TemplateError(`For expression \`${expr}\`: unexpected character at position ${pos}`);
  const steps: PathStep[] = [];
  // Each step: `.name`, `.*`, `[n]`, `[*]`, `."quoted"` (the dot is optional for the first step).
  const re = /(\.)?\s*(?:([A-Za-z_][A-Za-z0-9_-]*)|(\*)|"([^"]*)"|'([^']*)')|\[\s*(?:(\d+)|(\*))\s*\]/y;
  let pos = 0;
  if (e.startsWith('$')) pos = 1;
  let first = true;
  while (pos < e.length) {
    while (e[pos] === ' ') pos++;
    if (pos >= e.length) break;
    re.lastIndex = pos;
    const m = re.exec(e);
    if (!m || m[0].length === 0) throw bad(pos);
    const bracket = m[6] !== undefined || m[7] !== undefined;
    // A name needs a dot before it unless it starts the path (`a.b`, not `a b`).
    if (!bracket && !m[1] && !(first && pos === (e.startsWith('$') ? -1 : 0))) throw bad(pos);
    if (m[2] !== undefined) steps.push({ field: m[2] });
    else if (m[4] !== undefined) steps.push({ field: m[4] });
    else if (m[5] !== undefined) steps.push({ field: m[5] });
    else if (m[6] !== undefined) steps.push({ index: Number(m[6]) });
    else steps.push({ all: true });
    first = false;
    pos = re.lastIndex;
  }
  return steps;
}

function findPath(steps: PathStep[], data: unknown): unknown[] {
  let cur: unknown[] = [data];
  for (const s of steps) {
    const next: unknown[] = [];
    for (const v of cur) {
      if ('field' in s) {
        if (v && typeof v === 'object' && !Array.isArray(v) && Object.prototype.hasOwnProperty.call(v, s.field)) next.push((v as Record<string, unknown>)[s.field]);
      } else if ('index' in s) {
        if (Array.isArray(v) && s.index < v.length) next.push(v[s.index]);
      } else if (Array.isArray(v)) next.push(...v);
      else if (v && typeof v === 'object') next.push(...Object.values(v));
    }
    cur = next;
  }
  return cur;
}

const INLINE = /\$\{([^}]*)\}/g;

function inline(expr: string, data: unknown): unknown {
  const found = findPath(parsePath(expr), data);
  if (found.length === 0) return null;
  return found.length > 1 ? found : found[0];
}

function applyString(s: string, data: unknown): unknown {
  const whole = /^\$\{([^}]*)\}$/.exec(s);
  if (whole) return inline(whole[1], data);
  return s.replace(INLINE, (_m, expr: string) => {
    const r = inline(expr, data);
    if (r === null || r === undefined) return '(none)';
    if (Array.isArray(r)) return r.map((x) => pyStr(x)).join(',');
    return pyStr(r);
  });
}

function pyStr(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v === true) return 'True';
  if (v === false) return 'False';
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

function applyTemplate(obj: unknown, data: unknown): unknown {
  if (typeof obj === 'string') return applyString(obj, data);
  if (Array.isArray(obj)) return obj.map((x) => applyTemplate(x, data));
  if (obj && typeof obj === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(obj)) out[String(applyString(k, data))] = applyTemplate(v, data);
    return out;
  }
  return obj;
}

/** Parses and checks a template (Quay's JSONTemplate: applied once to {} to find bad expressions). */
export function parseTemplate(template: string): unknown {
  let parsed: unknown;
  try {
    parsed = JSON.parse(template);
  } catch (err) {
    throw new TemplateError(`Could not parse template: ${(err as Error).message}`);
  }
  applyTemplate(parsed, {});
  return parsed;
}

export function renderTemplate(template: string, data: unknown): unknown {
  return applyTemplate(parseTemplate(template), data);
}

// ---- Messages (Quay renders templates/events/<event>.html; these say the same, shorter) ----

const esc = (s: unknown) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function messageLines(event: string, d: EventData): string[] {
  const lines: string[] = [];
  if (event === 'repo_push' && Array.isArray(d.updated_tags) && d.updated_tags.length) lines.push(`Tags updated: ${d.updated_tags.join(', ')}`);
  if (event.startsWith('build_') && Array.isArray(d.docker_tags)) lines.push(`Tags: ${d.docker_tags.join(', ')}`);
  if (d.error_message) lines.push(`Error: ${d.error_message}`);
  if (event === 'vulnerability_found' && d.vulnerability) lines.push(`${d.vulnerability.id}: ${d.vulnerability.description ?? ''}`);
  if (event.startsWith('repo_mirror_sync_') && d.message) lines.push(String(d.message));
  return lines;
}

function emailBody(event: string, summary: string, d: EventData) {
  const lines = messageLines(event, d);
  return {
    text: [summary, ...lines, String(d.homepage ?? '')].join('\n'),
    html: `<p>${esc(summary)}</p>${lines.map((l) => `<p>${esc(l)}</p>`).join('')}<p><a href="${esc(d.homepage ?? '')}">${esc(d.repository ?? '')}</a></p>`,
  };
}

// ---- Methods ----

export class DeliveryError extends Error {
  override name = 'DeliveryError';
}

export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
}

interface Delivery {
  app: FastifyInstance;
  n: DeliverableNotification;
  job: Job<NotificationJob>;
  ctx: JobContext;
  spec: EventSpec;
}

async function post(d: Delivery, url: string, body: string, what: string, headers: Record<string, string> = {}): Promise<void> {
  const res = await postJson(url, body, {
    config: d.app.config as OutboundConfig,
    timeoutMs: SEND_TIMEOUT_MS,
    signal: d.ctx.signal,
    headers: { [DELIVERY_HEADER]: String(d.job.id), [EVENT_HEADER]: d.n.event, ...headers },
  }).catch((err) => {
    throw new DeliveryError(`${what}: ${(err as Error).message}`);
  });
  if (res.status < 200 || res.status >= 300) {
    const redirect = res.status >= 300 && res.status < 400 ? ' (redirects are not followed)' : '';
    throw new DeliveryError(`${res.status} response for ${what} to url: ${safeUrl(url)}${redirect}`);
  }
}

const PERFORM: Record<MethodName, (d: Delivery) => Promise<void>> = {
  async webhook(d) {
    const config = d.n.config as Record<string, unknown>;
    const url = typeof config.url === 'string' ? config.url : '';
    if (!url) throw new DeliveryError('the webhook has no URL');
    let payload: unknown = d.job.body.event_data;
    if (typeof config.template === 'string' && config.template) {
      try {
        payload = renderTemplate(config.template, payload);
      } catch (err) {
        throw new DeliveryError((err as Error).message);
      }
    }
    const body = JSON.stringify(payload);
    const secret = typeof config.secret === 'string' ? config.secret : '';
    await post(d, url, body, 'webhook', secret ? { [SIGNATURE_HEADER]: signBody(secret, body) } : {});
  },

  async slack(d) {
    const url = String((d.n.config as Record<string, unknown>).url ?? '');
    if (!url) throw new DeliveryError('the Slack notification has no callback URL');
    const data = d.job.body.event_data;
    const summary = d.spec.summary(data);
    const color = { info: '#ffffff', warning: 'warning', error: 'danger', success: 'good', primary: 'good' }[d.spec.level(data)];
    const lines = messageLines(d.n.event, data);
    const text = [`<${data.homepage}|${data.repository}>`, ...lines].join('\n');
    const payload = { text: summary, username: 'quayiobot', attachments: [{ fallback: summary, text, color, mrkdwn_in: ['text'] }] };
    await post(d, url, JSON.stringify(payload), 'Slack');
  },

  async email(d) {
    const to = String((d.n.config as Record<string, unknown>).email ?? '');
    if (!to) return; // Quay: no recipient, nothing to do
    const mailer = d.app.mailer;
    if (!mailer) throw new DeliveryError('e-mail notifications need FEATURE_MAILING and MAIL_SERVER');
    const data = d.job.body.event_data;
    const summary = d.spec.summary(data);
    try {
      await mailer.send({ to, subject: summary, ...emailBody(d.n.event, summary, data) });
    } catch (err) {
      throw new DeliveryError((err as Error).message);
    }
  },

  async quay_notification(d) {
    const targets = await findTargets(d.app.db, d.n.namespace_name, d.n.config as Record<string, unknown>);
    if ('error' in targets) throw new DeliveryError(targets.error);
    for (const id of new Set(targets.ids)) {
      await insertUserNotification(d.app.db, { kind: d.n.event, targetId: id, metadata: d.job.body.event_data, dedupeKey: `job:${d.job.id}` });
    }
  },

  // Both services are gone (HipChat closed in 2019, Flowdock in 2023); Quay would POST to their
  // dead APIs and fail. Say so instead, and count the failure like any other.
  async flowdock() {
    throw new DeliveryError('Flowdock has shut down; this notification cannot be delivered (use a webhook or Slack instead)');
  },
  async hipchat() {
    throw new DeliveryError('HipChat has shut down; this notification cannot be delivered (use a webhook or Slack instead)');
  },
};

/**
 * The users (or the organization) a quay_notification reaches, as Quay's find_targets: a non-robot
 * user; the repository's own organization; or the members of a team of the repository's namespace.
 */
export async function findTargets(db: Db, namespace: string, config: Record<string, unknown>): Promise<{ ids: number[] } | { error: string }> {
  const target = config.target as { kind?: unknown; name?: unknown } | undefined;
  if (!target || typeof target !== 'object' || !target.kind) return { error: 'Missing target' };
  const name = typeof target.name === 'string' ? target.name : '';
  if (target.kind === 'user') {
    const u = await db.selectFrom('namespace').select('id').where('username', '=', name).where('organization', '=', false).where('robot', '=', false).executeTakeFirst();
    return u ? { ids: [u.id] } : { error: `Unknown user ${name}` };
  }
  if (target.kind === 'org') {
    const o = await db.selectFrom('namespace').select('id').where('username', '=', name).where('organization', '=', true).executeTakeFirst();
    if (!o) return { error: `Unknown organization ${name}` };
    // Quay's code returns a malformed tuple here (a 500); the message is what it meant.
    if (name !== namespace) return { error: 'Organization name must match repository namespace' };
    return { ids: [o.id] };
  }
  if (target.kind === 'team') {
    const team = await db
      .selectFrom('team')
      .innerJoin('namespace as org', 'org.id', 'team.organization_id')
      .select('team.id')
      .where('org.username', '=', namespace)
      .where('team.name', '=', name)
      .executeTakeFirst();
    if (!team) return { error: `Unknown team ${name}` };
    const members = await db
      .selectFrom('team_member')
      .innerJoin('namespace as u', 'u.id', 'team_member.user_id')
      .select('u.id')
      .where('team_member.team_id', '=', team.id)
      .where('u.robot', '=', false)
      .execute();
    return { ids: members.map((m) => m.id) };
  }
  return { error: 'Missing target' };
}

/** 30 s after the first failure (Quay's retry_after_seconds), doubling, at most 10 min, ±20%. */
export function notificationBackoff(attempt: number): number {
  return Math.min(30 * 2 ** Math.max(0, attempt - 1), 600) * (0.8 + Math.random() * 0.4);
}

export function notificationHandler(app: FastifyInstance): JobHandler<NotificationJob> {
  return {
    queue: NOTIFICATION_QUEUE,
    // Three failures disable the notification; the claims after that find it disabled and end the job.
    retries: 5,
    leaseS: 60,
    backoff: notificationBackoff,
    async handle(job, ctx) {
      const body = job.body;
      if (!body || typeof body.notification_uuid !== 'string') return;
      // Gone (deleted with its repository) or disabled by failures: nothing to deliver (Quay's get_enabled_notification).
      const n = await findEnabledNotification(app.db, body.notification_uuid);
      if (!n) return;
      const spec = EVENTS[n.event];
      const perform = PERFORM[n.method as MethodName];
      if (!spec || !perform) {
        await incrementNotificationFailures(app.db, n.id);
        throw new DeliveryError(`cannot deliver event ${n.event} by method ${n.method}`);
      }
      if (spec.shouldPerform && !spec.shouldPerform(body.event_data ?? {}, (n.event_config ?? {}) as Record<string, unknown>)) return;
      try {
        await perform({ app, n, job, ctx, spec });
      } catch (err) {
        // A shutdown aborting the request is not the endpoint's fault: the attempt is given back.
        // (The worker logs the failure.)
        if (!ctx.signal.aborted) await incrementNotificationFailures(app.db, n.id);
        throw err;
      }
      await clearNotificationFailures(app.db, n.id);
    },
  };
}
