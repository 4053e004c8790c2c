// SUPERUSER section (part2 §10, §10.15): users, organizations, logs, builds. Not served yet.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import * as keys from './keys.js';

export const OPERATIONS = [...keys.OPERATIONS] as const;

export const superuserRoutes: FastifyPluginAsyncZod = async (app) => {
  await app.register(keys.serviceKeyRoutes);
};
