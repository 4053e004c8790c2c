// In-app notifications (part2 §14.6; Quay's endpoints/api/user.py UserNotificationList and
// UserNotification, internal routes used by its UI): what quay_notification deliveries and team
// invitations leave for a user, plus those of the organizations the user administers.
// UserAdmin on the caller's own account, as Quay's require_user_admin.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { userAccess } from '../auth/access.js';
import { findUserNotification, listUserNotifications, setNotificationDismissed, type UserNotificationRow } from '../db/notifications.js';
import { notFound } from '../lib/api-error.js';
import { formatDate } from '../lib/dates.js';
import { intParam } from '../lib/validation.js';

/** Not guide operations (internal in Quay); listed for completeness. */
export const OPERATIONS = [] as const;

const TAGS = ['user'];

const UserNotificationView = z
  .object({
    id: z.string(),
    organization: z.string().nullable(),
    kind: z.string(),
    created: z.string(),
    metadata: z.record(z.string(), z.unknown()),
    dismissed: z.boolean(),
  })
  .meta({ id: 'UserNotificationView' });

/** Quay's notification_view. */
function toView(n: UserNotificationRow): z.infer<typeof UserNotificationView> {
  return {
    id: n.uuid,
    organization: n.target_is_org ? n.target_username : null,
    kind: n.kind,
    created: formatDate(n.created)!,
    metadata: (n.metadata ?? {}) as Record<string, unknown>,
    dismissed: n.dismissed,
  };
}

const UuidParams = z.object({ uuid: z.string().describe('The uuid of the user notification') });

const UpdateNotification = z
  .looseObject({ dismissed: z.boolean().optional().describe('Whether the notification is dismissed by the user') })
  .meta({ id: 'UpdateNotification', description: 'Information for updating a notification' });

export const userNotificationRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/user/notifications',
    {
      config: { access: userAccess('admin', { internal: true }) },
      schema: {
        operationId: 'listUserNotifications',
        tags: TAGS,
        description: "List the calling user's notifications, newest first.",
        querystring: z.object({
          page: intParam('Offset page number. (int)').describe('Offset page number. (int)'),
          limit: intParam('Limit on the number of results (int)').describe('Limit on the number of results (int)'),
        }),
        response: { 200: z.object({ notifications: z.array(UserNotificationView), additional: z.boolean() }) },
      },
    },
    async (req) => {
      // Quay: page defaults to 0 and pages from 1 (peewee's paginate: page 0 and 1 are the first);
      // limit defaults to 5. A limit below 1 returns nothing; it is capped so no page is huge.
      const limit = Math.min(Math.max(req.query.limit ?? 5, 0), 100);
      const page = Math.max(req.query.page ?? 0, 1);
      const offset = Math.min((page - 1) * limit, 1e9);
      const rows = limit === 0 ? [] : await listUserNotifications(app.db, req.auth.user!.id, { offset, limit: limit + 1 });
      return { notifications: rows.slice(0, limit).map(toView), additional: rows.length > limit };
    },
  );

  app.get(
    '/user/notifications/:uuid',
    {
      config: { access: userAccess('admin', { internal: true }) },
      schema: {
        operationId: 'getUserNotification',
        tags: TAGS,
        description: 'Get one of the calling user’s notifications.',
        params: UuidParams,
        response: { 200: UserNotificationView },
      },
    },
    async (req) => {
      const n = await findUserNotification(app.db, req.auth.user!.id, req.params.uuid);
      if (!n) throw notFound();
      return toView(n);
    },
  );

  app.put(
    '/user/notifications/:uuid',
    {
      config: { access: userAccess('admin', { internal: true }) },
      schema: {
        operationId: 'updateUserNotification',
        tags: TAGS,
        description: 'Dismiss (or restore) one of the calling user’s notifications.',
        params: UuidParams,
        body: UpdateNotification,
        response: { 200: UserNotificationView },
      },
    },
    async (req) => {
      const n = await findUserNotification(app.db, req.auth.user!.id, req.params.uuid);
      if (!n) throw notFound();
      // Quay: a body without `dismissed` un-dismisses it (`.get("dismissed", False)`).
      const dismissed = req.body.dismissed ?? false;
      await setNotificationDismissed(app.db, n.id, dismissed);
      return toView({ ...n, dismissed });
    },
  );
};
