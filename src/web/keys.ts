// Quay's key server (/keys): the public service keys as JWKS. Not served yet.
import type { FastifyPluginAsync } from 'fastify';

export const keyServerRoutes: FastifyPluginAsync = async () => {};
