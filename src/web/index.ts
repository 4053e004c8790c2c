// Routes outside the /api/v1 catalogue that real clients use: sessions, OAuth, health, docs.
import type { FastifyInstance } from 'fastify';
import { docsRoutes } from './docs.js';
import { emailLinkRoutes } from './email-links.js';
import { healthRoutes } from './health.js';
import { initializeRoute } from './initialize.js';
import { inviteRoutes } from './invite.js';
import { oauthRoutes } from './oauth.js';
import { sessionRoutes } from './session-pages.js';

export async function webRoutes(app: FastifyInstance): Promise<void> {
  await app.register(sessionRoutes);
  await app.register(oauthRoutes);
  await app.register(healthRoutes);
  await app.register(docsRoutes);
  await app.register(initializeRoute);
  await app.register(emailLinkRoutes);
  await app.register(inviteRoutes);
}
