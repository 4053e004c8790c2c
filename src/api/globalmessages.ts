// GLOBALMESSAGES (part1 §5): banner messages that superusers set for everyone.
import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { anonymousAccess, authenticatedAccess, isSuperuser } from '../auth/access.js';
import { invalidRequest, message, PlainError } from '../lib/api-error.js';

export const OPERATIONS = ['getGlobalMessages', 'createGlobalMessage', 'deleteGlobalMessage'] as const;

/** Flask's text for a bare abort(403): Quay answers non-superusers with it, as `{message}`. */
const FORBIDDEN_TEXT =
  "You don't have the permission to access the requested resource. It is either read-protected or not readable by the server.";

const MessageView = z
  .object({
    uuid: z.string(),
    content: z.string(),
    severity: z.enum(['info', 'warning', 'error']),
    media_type: z.enum(['text/plain', 'text/markdown']),
  })
  .meta({ id: 'GlobalMessage', description: 'A message shown to every user.' });

const CreateMessage = z
  .object({
    message: z
      .object({
        content: z.string().min(1).describe('The message text'),
        media_type: z.enum(['text/plain', 'text/markdown']).describe('The media type of the message'),
        severity: z.enum(['info', 'warning', 'error']).describe('The severity of the message'),
      })
      .optional()
      .describe('A single message'),
  })
  .meta({ id: 'CreateMessage', description: 'Create a new message' });

export const globalMessageRoutes: FastifyPluginAsyncZod = async (app) => {
  const { config } = app;

  app.get(
    '/messages',
    {
      config: { access: anonymousAccess() },
      schema: {
        operationId: 'getGlobalMessages',
        tags: ['globalmessages'],
        description: 'Return a super users messages.',
        response: { 200: z.object({ messages: z.array(MessageView) }) },
      },
    },
    async () => {
      const rows = await app.db.selectFrom('message').select(['uuid', 'content', 'severity', 'media_type']).orderBy('id').execute();
      return { messages: rows as z.infer<typeof MessageView>[] };
    },
  );

  app.post(
    '/messages',
    {
      config: { access: authenticatedAccess('super:user', { fresh: true }) },
      schema: {
        operationId: 'createGlobalMessage',
        tags: ['globalmessages'],
        description: 'Create a message.',
        body: CreateMessage,
        response: { 201: z.literal('').describe('Successful creation (empty body)') },
      },
    },
    async (req, reply) => {
      // Quay crashes (500) when the outer `message` key is missing; answer 400 instead.
      const m = req.body.message;
      if (!m) throw invalidRequest("'message' is a required property");
      if (!config.FEATURE_SUPER_USERS) throw message(404, 'Not Found');
      if (!isSuperuser(req, config)) throw new PlainError(403, { message: FORBIDDEN_TEXT });
      await app.db
        .insertInto('message')
        .values({ uuid: randomUUID(), content: m.content, severity: m.severity, media_type: m.media_type })
        .execute();
      // Quay answers 201 with an empty body here (endpoints/api/globalmessages.py).
      return reply.code(201).type('text/plain; charset=utf-8').send('');
    },
  );

  if (config.FEATURE_SUPER_USERS) {
    app.delete(
      '/message/:uuid',
      {
        config: { access: authenticatedAccess('super:user', { fresh: true }) },
        schema: {
          operationId: 'deleteGlobalMessage',
          tags: ['globalmessages'],
          description: 'Delete a message.',
          params: z.object({ uuid: z.string().describe('The uuid of the message') }),
          response: { 204: z.null().describe('Deleted') },
        },
      },
      async (req, reply) => {
        if (!isSuperuser(req, config)) throw new PlainError(403, { message: FORBIDDEN_TEXT });
        // 204 even when there is no such message, as Quay.
        await app.db.deleteFrom('message').where('uuid', '=', req.params.uuid).execute();
        return reply.code(204).send(null);
      },
    );
  }
};
