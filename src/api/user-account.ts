// A user's own account (part2 §14.6): changeUserDetails, deleteCurrentUser, convertUserToOrganization,
// generateUserClientKey and the OAuth authorizations the user granted. Not served yet.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';

export const OPERATIONS = [] as const;

export const userAccountRoutes: FastifyPluginAsyncZod = async () => {};
