// The one place error replies are written, for every error: thrown by handlers, raised by Fastify
// (bad URLs, oversized bodies, unknown paths, unsupported media types, JSON syntax), refused by the
// input guard, or malformed at the HTTP level before Fastify sees a request. Each surface keeps one
// format:
//   /api/v1   Quay's ApiError body (status, error_message, title, error_type, detail, type). Where
//             Quay answers with another body ({message}, {error}, signin's flags), those keys are
//             kept beside the ApiError ones, so Quay's clients and ApiError readers both work.
//   /oauth/*  OAuth's {error, error_description}.
//   pages     the HTML error page for browsers (Accept: text/html), else {error}.
//   /v2       the OCI error envelope {errors: [{code, message, detail}]} (src/registry/errors.ts),
//             with Docker-Distribution-API-Version and, on 401, the Bearer challenge.
// No error body echoes the request URL. Unknown errors are logged once and answered 500.
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { API_VERSION_HEADER, bearerChallenge, codeForStatus, RegistryError, registryErrorBody, type ChallengeScope } from '../registry/errors.js';
import { messagePage } from '../web/pages.js';
import { ApiError, apiErrorBody, PlainError, type ApiErrorType } from './api-error.js';
import { InputError, isWellFormed } from './input-guard.js';
import { RequestValidationError } from './validation.js';

export type Surface = 'api' | 'oauth' | 'web' | 'registry';

export function surfaceOf(url: string): Surface {
  if (url.startsWith('/api/v1') && (url.length === 7 || url[7] === '/' || url[7] === '?')) return 'api';
  if (url.startsWith('/oauth/')) return 'oauth';
  if (isRegistryUrl(url)) return 'registry';
  return 'web';
}

/** Whether a request target is under /v2 (the registry protocol). */
export function isRegistryUrl(url: string): boolean {
  return url.startsWith('/v2') && (url.length === 3 || url[3] === '/' || url[3] === '?');
}

/** Quay's error type for a status that no handler chose a type for. */
export function errorTypeFor(status: number): ApiErrorType {
  if (status === 401) return 'invalid_token';
  if (status === 403) return 'insufficient_scope';
  if (status === 404 || status === 410) return 'not_found';
  if (status === 501) return 'not_implemented';
  if (status === 520) return 'downstream_issue';
  if (status >= 500) return 'internal_error';
  return 'invalid_request';
}

/** An error reduced to what every surface needs. */
interface Failure {
  status: number;
  errorType: ApiErrorType;
  detail: string;
  /** Quay's own body keys for this error (kept as they are on every surface). */
  body?: Record<string, unknown>;
  /** ApiError payload keys. */
  payload?: Record<string, unknown>;
  headers?: Record<string, string>;
  /** A RegistryError's own code, message, detail and challenge scope (the /v2 surface). */
  registry?: { code: string; message: string; detail: unknown; scope?: ChallengeScope };
}

const statusText = (status: number) => STATUS_CODES[status] ?? 'Error';

// Fastify's own 4xx, with texts that never repeat the URL or the request's headers.
const FASTIFY_TEXT: Record<string, string> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'Missing JSON body',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'Missing JSON body',
  FST_ERR_CTP_INVALID_JSON_BODY: 'Invalid JSON body',
  FST_ERR_CTP_BODY_TOO_LARGE: 'Request body is too large',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'The Content-Length header does not match the body',
  FST_ERR_CTP_INVALID_TYPE: 'Invalid Content-Type header',
  FST_ERR_CTP_EMPTY_TYPE: 'Missing Content-Type header',
  FST_ERR_BAD_URL: 'The request URL has a malformed percent-escape or one that is not UTF-8',
  FST_ERR_MAX_PARAM_LENGTH: 'A path parameter of the request URL is too long',
  FST_ERR_PROTO_POISONING: 'Invalid JSON body',
  FST_ERR_CONSTRUCTOR_POISONING: 'Invalid JSON body',
};

function toFailure(error: unknown, surface: Surface): Failure | undefined {
  if (error instanceof RegistryError) {
    const registry = { code: error.code, message: error.message, detail: error.detail, scope: error.scope };
    return { status: error.statusCode, errorType: errorTypeFor(error.statusCode), detail: error.message, headers: error.headers, registry };
  }
  if (error instanceof ApiError) {
    return { status: error.statusCode, errorType: error.errorType, detail: error.detail ?? statusText(error.statusCode), payload: error.payload };
  }
  if (error instanceof PlainError) {
    const b = error.body;
    const detail = typeof b.message === 'string' ? b.message : typeof b.error === 'string' ? b.error : statusText(error.statusCode);
    return { status: error.statusCode, errorType: errorTypeFor(error.statusCode), detail, body: b, headers: error.headers };
  }
  if (error instanceof InputError) return { status: error.statusCode, errorType: errorTypeFor(error.statusCode), detail: error.message };
  if (error instanceof RequestValidationError) {
    // Quay's reqparse answers a bad query parameter with {message: {param: text}} (part1 §0.8).
    const body = surface === 'api' && error.validationContext === 'querystring' && error.param ? { message: { [error.param]: error.bare } } : undefined;
    return { status: 400, errorType: 'invalid_request', detail: error.message, body };
  }
  const e = error as FastifyError;
  const status = typeof e?.statusCode === 'number' ? e.statusCode : 500;
  if (status >= 400 && status < 500) {
    const text = (e.code && FASTIFY_TEXT[e.code]) ?? (e.name === 'SyntaxError' ? 'Invalid JSON body' : statusText(status));
    // Quay 3.6 answers a body that is not JSON with 400 "Missing JSON body" (part1 §0.4).
    const code = surface === 'api' && status === 415 ? 400 : status;
    return { status: code, errorType: errorTypeFor(code), detail: text };
  }
  return undefined;
}

const OAUTH_NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };

function wantsHtml(req: FastifyRequest): boolean {
  return (req.headers.accept ?? '').includes('text/html');
}

/** Writes `f` in the format of the request's surface. */
function sendFailure(app: FastifyInstance, req: FastifyRequest, reply: FastifyReply, f: Failure): FastifyReply {
  const surface = surfaceOf(req.url);
  // Error bodies are written as they are: a route's response schema for the same status (a
  // documented 410, say) describes Quay's keys and must not strip the ApiError ones.
  reply.code(f.status).serializer(JSON.stringify);
  if (f.headers) reply.headers(f.headers);
  if (surface === 'registry') {
    // Every error, whatever raised it, in the OCI envelope; a 401 carries the challenge.
    reply.headers(API_VERSION_HEADER);
    if (f.status === 401) reply.header('WWW-Authenticate', bearerChallenge(app.baseUrl, app.config.SERVER_HOSTNAME, f.registry?.scope));
    const code = f.registry?.code ?? codeForStatus(f.status);
    return reply.type('application/json').send(registryErrorBody(code, f.registry?.message ?? f.detail, f.registry?.detail ?? {}));
  }
  if (surface === 'api') {
    const err = new ApiError(f.errorType, f.status, f.detail, f.payload);
    return reply.type('application/json').send({ ...apiErrorBody(err, app.baseUrl), ...f.body });
  }
  if (f.body) return reply.type('application/json').send(f.body);
  if (surface === 'oauth') {
    const error = f.status >= 500 ? 'server_error' : f.status === 401 ? 'access_denied' : 'invalid_request';
    return reply.headers(OAUTH_NO_STORE).type('application/json').send({ error, error_description: f.detail });
  }
  if (wantsHtml(req)) return messagePage(reply, f.status, statusText(f.status), f.detail);
  return reply.type('application/json').send({ error: f.detail });
}

function internalFailure(): Failure {
  return { status: 500, errorType: 'internal_error', detail: 'Internal Server Error' };
}

export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
    const f = toFailure(error, surfaceOf(req.url));
    if (f) return sendFailure(app, req, reply, f);
    req.log.error({ err: error }, 'request failed');
    return sendFailure(app, req, reply, internalFailure());
  });

  app.setNotFoundHandler((req, reply) => {
    const q = req.url.indexOf('?');
    const path = q >= 0 ? req.url.slice(0, q) : req.url;
    if (surfaceOf(path) === 'api') {
      // Quay's routes keep their trailing slash and redirect the slash-less form (308).
      const alt = path.endsWith('/') ? undefined : `${path}/`;
      if (alt && app.hasRoute({ url: alt, method: req.method as 'GET' })) {
        return reply.code(308).header('location', headerSafeUrl(alt + req.url.slice(path.length))).send();
      }
    }
    return sendFailure(app, req, reply, { status: 404, errorType: 'not_found', detail: 'Not Found' });
  });
}

/** Fastify's `frameworkErrors` option: router refusals (bad percent-escapes, overlong parameters). */
export function frameworkErrorHandler(app: () => FastifyInstance) {
  return (error: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
    const status = error.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 414 : error.code === 'FST_ERR_BAD_URL' ? 400 : 500;
    const f = status === 500 ? internalFailure() : { status, errorType: errorTypeFor(status), detail: FASTIFY_TEXT[error.code] ?? statusText(status) };
    if (status === 500) req.log.error({ err: error }, 'router failed');
    return sendFailure(app(), req, reply, f);
  };
}

/**
 * A URL made safe for a Location header: characters outside printable ASCII are percent-encoded
 * as UTF-8 (Node refuses them in headers, and CR/LF would split the header).
 */
export function headerSafeUrl(url: string): string {
  if (/^[\x21-\x7e]*$/.test(url)) return url;
  return url.replace(/[^\x21-\x7e]/gu, (c) => (isWellFormed(c) ? encodeURIComponent(c) : '%EF%BF%BD'));
}

/**
 * Fastify's `clientErrorHandler`: the request could not be parsed as HTTP (oversized URL or
 * headers, malformed syntax). Node gives only the bytes read so far; the request line tells which
 * surface the answer is for. An oversized request line answers 414, oversized headers 431.
 */
export function clientErrorHandler(baseUrl: () => string) {
  return (err: Error & { code?: string; rawPacket?: unknown }, socket: Socket) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const raw = Buffer.isBuffer(err.rawPacket) ? err.rawPacket.subarray(0, 16384).toString('latin1') : '';
    const firstLine = raw.split('\r\n', 1)[0];
    const target = firstLine.split(' ')[1] ?? '';
    let status = 400;
    if (err.code === 'HPE_HEADER_OVERFLOW') status = !raw.includes('\r\n') || firstLine.length > 8192 ? 414 : 431;
    else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') status = 408;
    const detail = status === 414 ? 'The request URL is too long' : status === 431 ? 'The request headers are too large' : status === 408 ? 'Request timeout' : 'Malformed HTTP request';
    const surface = surfaceOf(target);
    let body: string;
    if (surface === 'api') body = JSON.stringify(apiErrorBody(new ApiError(errorTypeFor(status), status, detail), baseUrl()));
    else if (surface === 'oauth') body = JSON.stringify({ error: 'invalid_request', error_description: detail });
    else if (surface === 'registry') body = JSON.stringify(registryErrorBody(codeForStatus(status), detail));
    else body = JSON.stringify({ error: detail });
    socket.end(
      `HTTP/1.1 ${status} ${statusText(status)}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  };
}
