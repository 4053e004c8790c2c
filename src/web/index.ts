// Routes outside the /api/v1 catalogue that real clients use: sessions, OAuth, health, docs.
import type { FastifyInstance } from 'fastify';
import { headerSafeUrl } from '../lib/error-handler.js';
import { docsRoutes } from './docs.js';
import { emailLinkRoutes } from './email-links.js';
import { healthRoutes } from './health.js';
import { initializeRoute } from './initialize.js';
import { inviteRoutes } from './invite.js';
import { oauthRoutes } from './oauth.js';
import { sessionRoutes } from './session-pages.js';
import { keyServerRoutes } from './keys.js';
import { exportedLogsRoutes } from './exported-logs.js';
import { repoEmailRoutes } from './repo-email.js';

export async function webRoutes(app: FastifyInstance): Promise<void> {
  // Redirects here carry URLs built from request input (redirect_uri, next): whatever they hold,
  // the Location header is written percent-encoded, never refused by Node halfway through a reply.
  app.addHook('onSend', (_req, reply, payload, done) => {
    const location = reply.getHeader('location');
    if (typeof location === 'string') reply.header('location', headerSafeUrl(location));
    done(null, payload);
  });
  await app.register(sessionRoutes);
  await app.register(oauthRoutes);
  await app.register(healthRoutes);
  await app.register(docsRoutes);
  await app.register(initializeRoute);
  await app.register(emailLinkRoutes);
  await app.register(inviteRoutes);
  await app.register(keyServerRoutes);
  await app.register(exportedLogsRoutes);
  await app.register(repoEmailRoutes);
}
