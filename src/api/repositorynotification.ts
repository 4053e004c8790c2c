// REPOSITORYNOTIFICATION (part2 §5): a repository's notifications, after Quay's
// endpoints/api/repositorynotification.py. Every route needs AdminRepo, the GETs included.
// Deliveries are jobs (src/jobs/notifications.ts, which also holds the events and methods).
// Where this differs from Quay:
// - a uuid is looked up within the path's repository only (Quay's get and test look it up
//   globally, part2 §17.2);
// - an unknown method or event is a 400 "Unable to find method/event: x" (Quay: 500);
// - webhook and Slack URLs go through the SSRF guard (src/lib/outbound.ts): a target that is not
//   public, or not resolvable, is refused unless NOTIFICATION_ALLOWED_HOSTS allows it (Quay refuses
//   only the names `localhost` and `127.0.0.1`); Quay's message "Invalid webhook URL" is kept,
//   with the reason after it;
// - a webhook gets `config.secret` (given, or generated here) under which deliveries are signed;
// - eventConfig keys that Quay reads (build `ref-regex`, vulnerability `level`) are checked.
// The e-mail method needs an address authorized for the repository: Quay's repoemail section
// (endpoints/api/repoemail.py, internal, only with FEATURE_MAILING) lives here too, with the
// confirmation page in src/web/repo-email.ts. Codes are stored as hashes, so asking again mails a
// new code (Quay mails the same one).
import type { FastifyRequest } from 'fastify';
import type { Trx } from '../db/index.js';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { repoAccess } from '../auth/access.js';
import { randomString } from '../auth/crypto.js';
import type { Db } from '../db/index.js';
import {
  deleteRepoNotification,
  findAuthorizedEmail,
  insertAuthorizedEmail,
  findRepoNotification,
  insertRepoNotification,
  listRepoNotifications,
  resetRepoNotificationFailures,
  type RepoNotification,
} from '../db/notifications.js';
import { invalidRequest, message, notFound } from '../lib/api-error.js';
import { isEmailAddress } from '../lib/email.js';
import { deliverOrUndo } from '../mail/mailer.js';
import { logAction } from '../lib/audit.js';
import { checkOutboundUrl, type OutboundConfig } from '../lib/outbound.js';
import {
  EVENTS,
  findTargets,
  METHODS,
  NOTIFICATION_QUEUE,
  parseTemplate,
  performerData,
  sampleEventData,
  type MethodName,
  type NotificationJob,
} from '../jobs/notifications.js';

export const OPERATIONS = [
  'createRepoNotification',
  'listRepoNotifications',
  'getRepoNotification',
  'deleteRepoNotification',
  'testRepoNotification',
  'resetRepositoryNotificationFailures',
] as const;

const TAGS = ['repositorynotification'];

const RepoParams = z.object({ namespace: z.string(), repository: z.string() });
const NotificationParams = z.object({ namespace: z.string(), repository: z.string(), uuid: z.string().describe('The UUID of the notification') });

const JsonObject = z.record(z.string(), z.unknown());

const NotificationCreateRequest = z
  .looseObject({
    event: z.string().describe('The event on which the notification will respond'),
    method: z.string().describe('The method of notification (such as email or web callback)'),
    config: JsonObject.describe('JSON config information for the specific method of notification'),
    eventConfig: JsonObject.describe('JSON config information for the specific event of notification'),
    title: z.string().max(255).optional().describe('The human-readable title of the notification'),
  })
  .meta({ id: 'NotificationCreateRequest', description: 'Information for creating a notification on a repository' });

const NotificationView = z
  .object({
    uuid: z.string(),
    title: z.string().nullable(),
    event: z.string(),
    method: z.string(),
    config: JsonObject,
    event_config: JsonObject,
    number_of_failures: z.number().int(),
  })
  .meta({ id: 'RepositoryNotificationView' });

export function toNotificationView(n: RepoNotification): z.infer<typeof NotificationView> {
  return {
    uuid: n.uuid,
    title: n.title,
    event: n.event,
    method: n.method,
    config: (n.config ?? {}) as Record<string, unknown>,
    event_config: (n.event_config ?? {}) as Record<string, unknown>,
    number_of_failures: n.number_of_failures,
  };
}

/** The repository of the path, or 404: only its namespace's admins get this far without one. */
function target(req: FastifyRequest) {
  const { repository: repo, namespace: ns } = req.target;
  if (!repo || !ns) throw notFound();
  return { repo, ns };
}

/**
 * Runs a change of one notification of the path's repository and, when it found one, writes its
 * log kind with Quay's metadata, in one transaction. Returns the notification, or undefined.
 */
async function changeAndLog(
  req: FastifyRequest,
  kind: 'delete_repo_notification' | 'reset_repo_notification',
  change: (trx: Trx) => Promise<RepoNotification | undefined>,
): Promise<RepoNotification | undefined> {
  const { repo, ns } = target(req);
  return req.server.db.transaction().execute(async (trx) => {
    const n = await change(trx);
    if (!n) return undefined;
    await logAction(trx, req.auth, kind, { accountId: ns.id, repositoryId: repo.id }, {
      repo: repo.name,
      namespace: ns.username,
      notification_id: n.uuid,
      event: n.event,
      method: n.method,
    });
    return n;
  });
}

const notFoundFor = (ns: string, repo: string, uuid: string) => invalidRequest(`No repository notification found for: ${ns}, ${repo}, ${uuid}`);

/**
 * Quay's NotificationMethod.validate for each method, returning the config to store (a webhook's
 * generated secret added). Throws a 400 with Quay's message.
 */
async function validateMethod(
  db: Db,
  outbound: OutboundConfig,
  method: MethodName,
  ns: { username: string },
  repo: { id: number },
  config: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const str = (k: string) => (typeof config[k] === 'string' ? (config[k] as string) : config[k] === undefined || config[k] === null ? '' : undefined);
  switch (method) {
    case 'webhook': {
      const url = str('url');
      if (url === undefined) throw invalidRequest('Invalid webhook URL');
      if (!url) throw invalidRequest('Missing webhook URL');
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        throw invalidRequest('Invalid webhook URL');
      }
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw invalidRequest('Invalid webhook URL');
      const checked = await checkOutboundUrl(url, outbound);
      if (!checked.ok) throw invalidRequest(`Invalid webhook URL: ${checked.reason}`);
      const template = config.template;
      if (template !== undefined && template !== null && template !== '') {
        if (typeof template !== 'string') throw invalidRequest('Could not parse template: the template must be a string of JSON');
        try {
          parseTemplate(template);
        } catch (err) {
          throw invalidRequest((err as Error).message);
        }
      }
      const secret = config.secret;
      if (secret !== undefined && secret !== null && (typeof secret !== 'string' || secret.length < 16 || secret.length > 256)) {
        throw invalidRequest('Invalid webhook secret: expected a string of 16 to 256 characters');
      }
      return { ...config, secret: typeof secret === 'string' ? secret : randomString(40) };
    }
    case 'email': {
      const email = str('email');
      if (!email) throw invalidRequest('Missing e-mail address');
      const record = await findAuthorizedEmail(db, repo.id, email);
      if (!record || !record.confirmed) throw invalidRequest('The specified e-mail address is not authorized to receive notifications for this repository');
      return config;
    }
    case 'slack': {
      const url = str('url');
      if (!url) throw invalidRequest('Missing Slack Callback URL');
      const checked = await checkOutboundUrl(url, outbound);
      if (!checked.ok) throw invalidRequest(`Invalid Slack Callback URL: ${checked.reason}`);
      return config;
    }
    case 'quay_notification': {
      const r = await findTargets(db, ns.username, config);
      if ('error' in r) throw invalidRequest(r.error);
      return config;
    }
    case 'flowdock':
      if (!str('flow_api_token')) throw invalidRequest('Missing Flowdock API Token');
      return config;
    case 'hipchat':
      if (!str('notification_token')) throw invalidRequest('Missing Hipchat Room Notification Token');
      if (!str('room_id') && typeof config.room_id !== 'number') throw invalidRequest('Missing Hipchat Room ID');
      return config;
  }
}

const AuthorizedEmailParams = z.object({ namespace: z.string(), repository: z.string(), email: z.string().describe('The e-mail address') });
const AuthorizedEmailView = z
  .object({ email: z.string(), repository: z.string(), namespace: z.string(), confirmed: z.boolean() })
  .meta({ id: 'RepositoryAuthorizedEmailView' });

/** The mail that asks an address to accept a repository's notifications (Quay's send_repo_authorization_email). */
export function repoAuthorizationMail(o: { baseUrl: string; registry: string; to: string; namespace: string; repository: string; code: string }) {
  const link = `${o.baseUrl}/authrepoemail?code=${encodeURIComponent(o.code)}`;
  const repo = `${o.namespace}/${o.repository}`;
  const text = `This e-mail address was entered to receive notifications for repository ${repo} on ${o.registry}.\n\nTo accept them, open:\n${link}\n\nIf you did not expect this, ignore this mail.`;
  const esc = (v: string) => v.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
  const html = `<p>This e-mail address was entered to receive notifications for repository <strong>${esc(repo)}</strong> on ${esc(o.registry)}.</p><p><a href="${esc(link)}">Verify e-mail</a></p><p>If you did not expect this, ignore this mail.</p>`;
  return { to: o.to, subject: `Please verify your e-mail address for repository ${repo}`, text, html };
}

export const repositoryNotificationRoutes: FastifyPluginAsyncZod = async (app) => {
  const outbound = app.config as OutboundConfig;

  // Quay's repoemail section: only with mail (show_if(features.MAILING)), internal.
  const mailer = app.mailer;
  if (mailer) {
    app.get(
      '/repository/:namespace/:repository/authorizedemail/:email',
      {
        config: { access: repoAccess('admin', { internal: true }) },
        schema: {
          operationId: 'checkRepoEmailAuthorized',
          tags: ['repoemail'],
          description: 'Checks to see if the given e-mail address is authorized on this repository.',
          params: AuthorizedEmailParams,
          response: { 200: AuthorizedEmailView },
        },
      },
      async (req) => {
        const { repo, ns } = target(req);
        const record = await findAuthorizedEmail(app.db, repo.id, req.params.email);
        if (!record) throw notFound();
        return { email: record.email, repository: repo.name, namespace: ns.username, confirmed: record.confirmed };
      },
    );

    app.post(
      '/repository/:namespace/:repository/authorizedemail/:email',
      {
        config: { access: repoAccess('admin', { internal: true }) },
        schema: {
          operationId: 'sendAuthorizeRepoEmail',
          tags: ['repoemail'],
          description: 'Starts the authorization process for an e-mail address on a repository.',
          params: AuthorizedEmailParams,
          response: { 200: AuthorizedEmailView },
        },
      },
      async (req) => {
        const { repo, ns } = target(req);
        const { email } = req.params;
        // Quay mails whatever it is given; an address that cannot be one is refused here.
        if (!isEmailAddress(email)) throw invalidRequest('Invalid e-mail address');
        const view = { email, repository: repo.name, namespace: ns.username };
        const existing = await findAuthorizedEmail(app.db, repo.id, email);
        if (existing?.confirmed) return { ...view, confirmed: true };
        const code = randomString(48);
        await insertAuthorizedEmail(app.db, repo.id, email, code);
        const mail = repoAuthorizationMail({ baseUrl: app.baseUrl, registry: app.config.REGISTRY_TITLE, to: email, namespace: ns.username, repository: repo.name, code });
        // When the mail server refuses it, a new pending record is removed again (the code reached nobody).
        await deliverOrUndo(mailer, req.log, mail, existing ? undefined : () => app.db.deleteFrom('repository_authorized_email').where('repository_id', '=', repo.id).where('email', '=', email).where('confirmed', '=', false).execute());
        return { ...view, confirmed: false };
      },
    );
  }

  app.post(
    '/repository/:namespace/:repository/notification/',
    {
      config: { access: repoAccess('admin') },
      schema: {
        operationId: 'createRepoNotification',
        tags: TAGS,
        description: 'Create a notification on the repository.',
        params: RepoParams,
        body: NotificationCreateRequest,
        response: { 201: NotificationView.describe('Successful creation') },
      },
    },
    async (req, reply) => {
      const { repo, ns } = target(req);
      const body = req.body;
      // Quay's order: the method is found and validates its config, then the event is looked up.
      if (!(METHODS as readonly string[]).includes(body.method)) throw invalidRequest(`Unable to find method: ${body.method}`);
      const config = await validateMethod(app.db, outbound, body.method as MethodName, ns, repo, body.config);
      const event = EVENTS[body.event];
      if (!event || !Object.prototype.hasOwnProperty.call(EVENTS, body.event)) throw invalidRequest(`Unable to find event: ${body.event}`);
      const bad = event.invalidConfig?.(body.eventConfig);
      if (bad) throw invalidRequest(bad);
      const created = await app.db.transaction().execute(async (trx) => {
        const n = await insertRepoNotification(trx, {
          repositoryId: repo.id,
          event: body.event,
          method: body.method,
          config,
          eventConfig: body.eventConfig,
          title: body.title ?? null,
        });
        await logAction(trx, req.auth, 'add_repo_notification', { accountId: ns.id, repositoryId: repo.id }, {
          repo: repo.name,
          namespace: ns.username,
          notification_id: n.uuid,
          event: n.event,
          method: n.method,
        });
        return n;
      });
      return reply.code(201).send(toNotificationView(created));
    },
  );

  app.get(
    '/repository/:namespace/:repository/notification/',
    {
      config: { access: repoAccess('admin') },
      schema: {
        operationId: 'listRepoNotifications',
        tags: TAGS,
        description: 'List the notifications for the specified repository.',
        params: RepoParams,
        response: { 200: z.object({ notifications: z.array(NotificationView) }) },
      },
    },
    async (req) => {
      const { repo } = target(req);
      return { notifications: (await listRepoNotifications(app.db, repo.id)).map(toNotificationView) };
    },
  );

  app.get(
    '/repository/:namespace/:repository/notification/:uuid',
    {
      config: { access: repoAccess('admin') },
      schema: {
        operationId: 'getRepoNotification',
        tags: TAGS,
        description: 'Get information for the specified notification.',
        params: NotificationParams,
        response: { 200: NotificationView },
      },
    },
    async (req) => {
      const { repo } = target(req);
      const n = await findRepoNotification(app.db, repo.id, req.params.uuid);
      if (!n) throw notFound();
      return toNotificationView(n);
    },
  );

  app.delete(
    '/repository/:namespace/:repository/notification/:uuid',
    {
      config: { access: repoAccess('admin') },
      schema: {
        operationId: 'deleteRepoNotification',
        tags: TAGS,
        description: 'Deletes the specified notification.',
        params: NotificationParams,
        response: { 204: z.null().describe('Deleted') },
      },
    },
    async (req, reply) => {
      const { repo, ns } = target(req);
      const { uuid } = req.params;
      const deleted = await changeAndLog(req, 'delete_repo_notification', (trx) => deleteRepoNotification(trx, repo.id, uuid));
      if (!deleted) throw notFoundFor(ns.username, repo.name, uuid);
      // Queued deliveries of it find it gone and end (src/jobs/notifications.ts).
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/repository/:namespace/:repository/notification/:uuid',
    {
      config: { access: repoAccess('admin') },
      schema: {
        operationId: 'resetRepositoryNotificationFailures',
        tags: TAGS,
        description: 'Resets repository notification to 0 failures.',
        params: NotificationParams,
        response: { 204: z.null().describe('Successful creation') },
      },
    },
    async (req, reply) => {
      const { repo, ns } = target(req);
      const { uuid } = req.params;
      const reset = await changeAndLog(req, 'reset_repo_notification', (trx) => resetRepoNotificationFailures(trx, repo.id, uuid));
      if (!reset) {
        // Quay: a uuid of another repository is a data-layer error ({message}); an unknown one an ApiError.
        const elsewhere = await app.db.selectFrom('repository_notification').select('id').where('uuid', '=', uuid).executeTakeFirst();
        if (elsewhere) throw message(400, `No repository notification found with uuid: ${uuid}`);
        throw notFoundFor(ns.username, repo.name, uuid);
      }
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/repository/:namespace/:repository/notification/:uuid/test',
    {
      config: { access: repoAccess('admin') },
      schema: {
        operationId: 'testRepoNotification',
        tags: TAGS,
        description: 'Queues a test notification for this repository.',
        params: NotificationParams,
        response: { 200: z.object({}) },
      },
    },
    async (req) => {
      const { repo, ns } = target(req);
      const { uuid } = req.params;
      const n = await findRepoNotification(app.db, repo.id, uuid);
      if (!n || !EVENTS[n.event]) throw notFoundFor(ns.username, repo.name, uuid);
      const job: NotificationJob = {
        notification_uuid: n.uuid,
        event_data: sampleEventData(app.config, ns.username, repo.name, n.event, (n.event_config ?? {}) as Record<string, unknown>),
        performer_data: performerData(req.auth),
      };
      await app.jobs.transaction((trx) => app.jobs.enqueue(trx, NOTIFICATION_QUEUE, job));
      return {};
    },
  );
};
