// The one place error replies are written. /api/v1 gets Quay's ApiError body; other surfaces get
// `{error}`/`{message}` as Quay's web routes do. Unknown errors are logged once and answered 500.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { appUrl } from '../config.js';
import { isApiRoute } from '../auth/hook.js';
import { ApiError, apiErrorBody, invalidRequest, notFound, PlainError } from './api-error.js';
import { RequestValidationError } from './validation.js';

export function installErrorHandlers(app: FastifyInstance): void {
  const base = appUrl(app.config);

  const sendApiError = (reply: FastifyReply, err: ApiError) =>
    reply.code(err.statusCode).type('application/json').send(apiErrorBody(err, base));

  app.setErrorHandler((error: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
    const api = isApiRoute(req.routeOptions.url) || req.url.startsWith('/api/');
    if (error instanceof ApiError) return sendApiError(reply, error);
    if (error instanceof PlainError) return reply.code(error.statusCode).headers(error.headers).send(error.body);
    if (error instanceof RequestValidationError) {
      if (error.validationContext === 'querystring' && error.param) {
        return reply.code(400).send({ message: { [error.param]: error.bare } });
      }
      return api ? sendApiError(reply, invalidRequest(error.message)) : reply.code(400).send({ error: error.message });
    }
    const status = error.statusCode ?? 500;
    if (status < 500) {
      // Fastify's own 4xx: malformed JSON, unsupported content type, body too large, …
      let detail = error.message;
      if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') detail = 'Missing JSON body';
      if (error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error.name === 'SyntaxError') detail = 'Invalid JSON body';
      if (!api) return reply.code(status).send({ error: detail });
      const code = status === 415 ? 400 : status;
      return sendApiError(reply, new ApiError('invalid_request', code, detail));
    }
    req.log.error({ err: error }, 'request failed');
    return reply.code(500).send({ message: 'Internal Server Error' });
  });

  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0];
    if (path.startsWith('/api/v1')) {
      // Quay's routes keep their trailing slash and redirect the slash-less form (308).
      const alt = path.endsWith('/') ? undefined : `${path}/`;
      if (alt && app.hasRoute({ url: alt, method: req.method as 'GET' })) {
        const qs = req.url.slice(path.length);
        return reply.code(308).header('location', alt + qs).send();
      }
      return sendApiError(reply, notFound());
    }
    return reply.code(404).send({ error: 'Not Found' });
  });
}
