// Routes outside the /api/v1 catalogue that real clients use: sessions, OAuth, health, docs.
import type { FastifyInstance } from 'fastify';
import { docsRoutes } from './docs.js';
import { healthRoutes } from './health.js';
import { initializeRoute } from './initialize.js';
import { oauthRoutes } from './oauth.js';
import { sessionRoutes } from './session-pages.js';

export async function webRoutes(app: FastifyInstance): Promise<void> {
  await app.register(sessionRoutes);
  await app.register(oauthRoutes);
  await app.register(healthRoutes);
  await app.register(docsRoutes);
  await app.register(initializeRoute);
}
