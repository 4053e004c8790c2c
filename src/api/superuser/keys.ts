// SUPERUSER service keys (part2 §10.4, §10.5, §10.8–§10.11). Not served yet.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';

export const OPERATIONS = [] as const;

export const serviceKeyRoutes: FastifyPluginAsyncZod = async () => {};
