// LOGS section (part1 §7): the audit entries of the caller's account, an organization or a
// repository, listed 20 a page or counted per kind and day. The shared window, views and pages are
// in log-view.ts; the superuser's instance-wide lists are in superuser/index.ts.
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { orgAccess, repoAccess, userAccess } from '../auth/access.js';
import type { LogFilter } from '../db/logs.js';
import { findNamespaceByName } from '../db/users.js';
import type { Namespace, Repository } from '../db/schema.js';
import { LOG_EXPORT_QUEUE, type LogExportBody } from '../jobs/log-export.js';
import { invalidRequest, notFound } from '../lib/api-error.js';
import { logAction } from '../lib/audit.js';
import { isEmailAddress } from '../lib/email.js';
import { checkOutboundUrl } from '../lib/outbound.js';
import { firstString } from '../lib/validation.js';
import { AggregateView, emptyLogPage, logAggregate, logPage, LogPageView, logWindow } from './log-view.js';
import { RepoParams } from './repository/schemas.js';

export const OPERATIONS = [
  'listUserLogs',
  'getAggregateUserLogs',
  'exportUserLogs',
  'listOrgLogs',
  'getAggregateOrgLogs',
  'exportOrgLogs',
  'listRepoLogs',
  'getAggregateRepoLogs',
  'exportRepoLogs',
] as const;

const TAGS = ['logs'];

/** Kinds the user logs leave out (part1 §7.0): the service keys belong to no user. */
export const SERVICE_KEY_KINDS = [
  'service_key_create',
  'service_key_approve',
  'service_key_delete',
  'service_key_modify',
  'service_key_extend',
  'service_key_rotate',
] as const;

const Window = {
  starttime: firstString.describe('Earliest time for logs. Format: "%m/%d/%Y" in UTC.'),
  endtime: firstString.describe('Latest time for logs. Format: "%m/%d/%Y" in UTC.'),
};
const Performer = { performer: firstString.describe('Username for which to filter logs.') };
const NextPage = { next_page: firstString.describe('The page token for the next page') };

const OrgParams = z.object({ orgname: z.string().describe('The name of the organization') });

const ExportLogs = z
  .object({
    callback_url: z.string().optional().describe('The callback URL to invoke with a link to the exported logs'),
    callback_email: z.string().optional().describe('The e-mail address at which to e-mail a link to the exported logs'),
  })
  .meta({ id: 'ExportLogs', description: 'Configuration for an export logs operation' });
const ExportView = z.object({ export_id: z.string() });

/**
 * Queues an export of the window's entries of a namespace or repository (part1 §7.0 "Export
 * flow"; src/jobs/log-export.ts does the work). The dates come from the query; the body says where
 * the link goes. An end before the start is an ApiError here, unlike the lists.
 */
async function queueExport(
  app: FastifyInstance,
  req: FastifyRequest,
  query: { starttime?: string; endtime?: string },
  body: z.infer<typeof ExportLogs>,
  target: { namespace: Namespace; repository?: Repository; excludeKinds?: readonly string[] },
): Promise<{ export_id: string }> {
  let w;
  try {
    w = logWindow(query.starttime, query.endtime);
  } catch {
    throw invalidRequest('Invalid time span selected');
  }
  const { callback_url: url, callback_email: email } = body;
  if (url !== undefined && url !== '') {
    const checked = await checkOutboundUrl(url, app.config);
    if (!checked.ok) throw invalidRequest('Invalid callback URL', { reason: checked.reason });
  }
  if (email !== undefined && email !== '' && !isEmailAddress(email)) throw invalidRequest('Invalid callback e-mail');
  const exportId = randomUUID();
  const { namespace: ns, repository: repo } = target;
  const job: LogExportBody = {
    exportId,
    start: w.start.toISOString(),
    end: w.end.toISOString(),
    namespace: ns.username,
    ...(repo ? { repository: repo.name, repositoryId: repo.id } : { accountId: ns.id }),
    ...(target.excludeKinds ? { excludeKinds: [...target.excludeKinds] } : {}),
    ...(url ? { callbackUrl: url } : {}),
    ...(email ? { callbackEmail: email } : {}),
  };
  await app.jobs.transaction(async (trx) => {
    await app.jobs.enqueue(trx, LOG_EXPORT_QUEUE, job);
    await logAction(trx, req.auth, 'export_logs_success', { accountId: ns.id, repositoryId: repo?.id ?? null }, {
      'date/time': new Date().toISOString(),
      export_id: exportId,
      message: 'queued for export',
      url: url || null,
      email: email || null,
      ...(repo ? { repo: repo.name } : {}),
    });
  });
  return { export_id: exportId };
}

/**
 * The performer filter: the user or robot of that name. An unknown name matches nothing in a list
 * (Quay crashes) and is ignored by an aggregation (as Quay).
 */
async function performerFilter(app: FastifyInstance, name: string | undefined, unknown: 'none' | 'ignore'): Promise<Partial<LogFilter> | null> {
  if (!name) return {};
  const p = await findNamespaceByName(app.db, name);
  if (p && !p.organization) return { performerId: p.id };
  return unknown === 'none' ? null : {};
}

export const logRoutes: FastifyPluginAsyncZod = async (app) => {
  // ---- The caller's account ----

  app.get(
    '/user/logs',
    {
      config: { access: userAccess('admin') },
      schema: {
        operationId: 'listUserLogs',
        tags: TAGS,
        description: 'List the logs for the current user.',
        querystring: z.object({ ...Window, ...Performer, ...NextPage }),
        response: { 200: LogPageView },
      },
    },
    async (req) => {
      const user = req.auth.user!;
      const w = logWindow(req.query.starttime, req.query.endtime);
      const performer = await performerFilter(app, req.query.performer, 'none');
      if (!performer) return emptyLogPage(w);
      return logPage(app, `user:${user.id}`, { ...w, ...performer, accountId: user.id, excludeKinds: SERVICE_KEY_KINDS }, req.query.next_page, false);
    },
  );

  app.get(
    '/user/aggregatelogs',
    {
      config: { access: userAccess('admin') },
      schema: {
        operationId: 'getAggregateUserLogs',
        tags: TAGS,
        description: 'Returns the aggregated logs for the current user.',
        querystring: z.object({ ...Window, ...Performer }),
        response: { 200: AggregateView },
      },
    },
    async (req) => {
      const w = logWindow(req.query.starttime, req.query.endtime);
      const performer = (await performerFilter(app, req.query.performer, 'ignore'))!;
      return logAggregate(app, { ...w, ...performer, accountId: req.auth.user!.id, excludeKinds: SERVICE_KEY_KINDS });
    },
  );

  // ---- An organization (or the caller's own namespace, which OrgAdmin covers) ----

  app.get(
    '/organization/:orgname/logs',
    {
      config: { access: orgAccess('admin') },
      schema: {
        operationId: 'listOrgLogs',
        tags: TAGS,
        description: 'List the logs for the specified organization.',
        params: OrgParams,
        querystring: z.object({ ...Window, ...Performer, ...NextPage }),
        response: { 200: LogPageView },
      },
    },
    async (req) => {
      const ns = req.target.namespace;
      if (!ns) throw notFound();
      const w = logWindow(req.query.starttime, req.query.endtime);
      const performer = await performerFilter(app, req.query.performer, 'none');
      if (!performer) return emptyLogPage(w);
      return logPage(app, `org:${ns.id}`, { ...w, ...performer, accountId: ns.id }, req.query.next_page, false);
    },
  );

  app.get(
    '/organization/:orgname/aggregatelogs',
    {
      config: { access: orgAccess('admin') },
      schema: {
        operationId: 'getAggregateOrgLogs',
        tags: TAGS,
        description: 'Gets the aggregated logs for the specified organization.',
        params: OrgParams,
        querystring: z.object({ ...Window, ...Performer }),
        response: { 200: AggregateView },
      },
    },
    async (req) => {
      const ns = req.target.namespace;
      if (!ns) throw notFound();
      const w = logWindow(req.query.starttime, req.query.endtime);
      const performer = (await performerFilter(app, req.query.performer, 'ignore'))!;
      return logAggregate(app, { ...w, ...performer, accountId: ns.id });
    },
  );

  // ---- A repository ----

  app.get(
    '/repository/:namespace/:repository/logs',
    {
      config: { access: repoAccess('admin') },
      schema: {
        operationId: 'listRepoLogs',
        tags: TAGS,
        description: 'List the logs for the specified repository.',
        params: RepoParams,
        querystring: z.object({ ...Window, ...NextPage }),
        response: { 200: LogPageView },
      },
    },
    async (req) => {
      const repo = req.target.repository;
      if (!repo) throw notFound();
      const w = logWindow(req.query.starttime, req.query.endtime);
      return logPage(app, `repo:${repo.id}`, { ...w, repositoryId: repo.id }, req.query.next_page, false);
    },
  );

  app.get(
    '/repository/:namespace/:repository/aggregatelogs',
    {
      config: { access: repoAccess('admin') },
      schema: {
        operationId: 'getAggregateRepoLogs',
        tags: TAGS,
        description: 'Returns the aggregated logs for the specified repository.',
        params: RepoParams,
        querystring: z.object(Window),
        response: { 200: AggregateView },
      },
    },
    async (req) => {
      const repo = req.target.repository;
      if (!repo) throw notFound();
      return logAggregate(app, { ...logWindow(req.query.starttime, req.query.endtime), repositoryId: repo.id });
    },
  );

  // ---- Exports ----

  app.post(
    '/user/exportlogs',
    {
      config: { access: userAccess('admin') },
      schema: {
        operationId: 'exportUserLogs',
        tags: TAGS,
        description: 'Queues an export of the logs for the current user.',
        querystring: z.object(Window),
        body: ExportLogs,
        response: { 200: ExportView },
      },
    },
    async (req) => queueExport(app, req, req.query, req.body, { namespace: req.auth.user!, excludeKinds: SERVICE_KEY_KINDS }),
  );

  app.post(
    '/organization/:orgname/exportlogs',
    {
      config: { access: orgAccess('admin') },
      schema: {
        operationId: 'exportOrgLogs',
        tags: TAGS,
        description: 'Exports the logs for the specified organization.',
        params: OrgParams,
        querystring: z.object(Window),
        body: ExportLogs,
        response: { 200: ExportView },
      },
    },
    async (req) => {
      const ns = req.target.namespace;
      if (!ns) throw invalidRequest('Invalid export request');
      return queueExport(app, req, req.query, req.body, { namespace: ns });
    },
  );

  app.post(
    '/repository/:namespace/:repository/exportlogs',
    {
      config: { access: repoAccess('admin') },
      schema: {
        operationId: 'exportRepoLogs',
        tags: TAGS,
        description: 'Queues an export of the logs for the specified repository.',
        params: RepoParams,
        querystring: z.object(Window),
        body: ExportLogs,
        response: { 200: ExportView },
      },
    },
    async (req) => {
      const { namespace: ns, repository: repo } = req.target;
      if (!ns || !repo) throw notFound();
      return queueExport(app, req, req.query, req.body, { namespace: ns, repository: repo });
    },
  );
};
