// /api/v1: one route plugin per Quay section, CORS as Quay's, and 501s for what is not served yet.
import type { FastifyPluginAsync } from 'fastify';
import { anonymousAccess } from '../auth/access.js';
import * as appspecifictokens from './appspecifictokens.js';
import * as discovery from './discovery.js';
import * as error from './error.js';
import * as globalmessages from './globalmessages.js';
import * as image from './image.js';
import * as logs from './logs.js';
import * as manifest from './manifest.js';
import { notImplementedRoutes } from './not-implemented.js';
import * as permission from './permission.js';
import * as search from './search.js';
import * as robot from './robot/index.js';
import * as repository from './repository/index.js';
import * as repotoken from './repotoken.js';
import * as repositorynotification from './repositorynotification.js';
import * as userNotifications from './user-notifications.js';
import * as starred from './starred.js';
import * as tag from './tag.js';
import * as prototype from './prototype.js';
import * as team from './team.js';
import * as organization from './organization/index.js';
import * as user from './user.js';
import * as userAccount from './user-account.js';
import * as superuser from './superuser/index.js';

/** The guide operations this server serves; everything else in GUIDE_OPERATIONS answers 501. */
export const SERVED_OPERATIONS: ReadonlySet<string> = new Set<string>([
  ...appspecifictokens.OPERATIONS,
  ...discovery.OPERATIONS,
  ...error.OPERATIONS,
  ...globalmessages.OPERATIONS,
  ...prototype.OPERATIONS,
  ...team.OPERATIONS,
  ...organization.OPERATIONS,
  ...repository.OPERATIONS,
  ...repotoken.OPERATIONS,
  ...starred.OPERATIONS,
  ...manifest.OPERATIONS,
  ...logs.OPERATIONS,
  ...image.OPERATIONS,
  ...tag.OPERATIONS,
  ...robot.OPERATIONS,
  ...permission.OPERATIONS,
  ...search.OPERATIONS,
  ...user.OPERATIONS,
  ...userAccount.OPERATIONS,
  ...superuser.OPERATIONS,
  ...repositorynotification.OPERATIONS,
  ...userNotifications.OPERATIONS,
]);

const CORS_HEADERS = 'Authorization, Content-Type, X-Requested-With, X-CSRF-Token';
const CORS_METHODS = 'GET, HEAD, OPTIONS, POST, DELETE, PUT';

export const apiRoutes: FastifyPluginAsync = async (app) => {
  const origin = app.config.CORS_ORIGIN;

  // Every API response carries CORS headers, so a swagger-ui hosted elsewhere can call the API with
  // a Bearer token. Credentials (cookies) are only allowed for a single configured origin.
  // A callback hook, not an async one: it runs on every API request and needs no promise.
  app.addHook('onRequest', (req, reply, done) => {
    reply.header('Access-Control-Allow-Origin', origin);
    if (origin !== '*') {
      reply.header('Access-Control-Allow-Credentials', 'true');
      reply.header('Vary', 'Origin');
    }
    if (req.method === 'OPTIONS') {
      reply.header('Access-Control-Allow-Methods', CORS_METHODS);
      reply.header('Access-Control-Allow-Headers', req.headers['access-control-request-headers'] ?? CORS_HEADERS);
      reply.header('Access-Control-Max-Age', '21600');
    }
    done();
  });
  // Quay answers OPTIONS on any API resource with 200 and a null body.
  app.options('/*', { config: { access: anonymousAccess({ always: true, hidden: true, csrf: false }) } }, async (_req, reply) =>
    reply.type('application/json').send('null'),
  );

  await app.register(appspecifictokens.appTokenRoutes);
  await app.register(discovery.discoveryRoutes);
  await app.register(error.errorRoutes);
  await app.register(globalmessages.globalMessageRoutes);
  await app.register(user.userRoutes);
  await app.register(userAccount.userAccountRoutes);
  await app.register(superuser.superuserRoutes);
  await app.register(organization.organizationRoutes);
  await app.register(prototype.prototypeRoutes);
  await app.register(team.teamRoutes);
  await app.register(repository.repositoryRoutes);
  await app.register(repotoken.repoTokenRoutes);
  await app.register(starred.starredRoutes);
  await app.register(tag.tagRoutes);
  await app.register(manifest.manifestRoutes);
  await app.register(logs.logRoutes);
  await app.register(image.imageRoutes);
  await app.register(robot.robotRoutes);
  await app.register(permission.permissionRoutes);
  await app.register(search.searchRoutes);
  await app.register(repositorynotification.repositoryNotificationRoutes);
  await app.register(userNotifications.userNotificationRoutes);
  await app.register(notImplementedRoutes(SERVED_OPERATIONS));
};
