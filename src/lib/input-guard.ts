// The one gate every request's input passes before any handler, access check or query sees it.
// What it refuses, on every surface (each answers in its own error format, src/lib/error-handler.ts):
//   - URLs longer than MAX_URL_LENGTH (414) and path parameters longer than MAX_PARAM_LENGTH (414,
//     by the router through `frameworkErrors`); percent-escapes that are not valid UTF-8 (400);
//   - strings holding a NUL character or an unpaired UTF-16 surrogate, anywhere: path parameters,
//     query values and keys, JSON and form bodies (PostgreSQL cannot store NUL in text, and a lone
//     surrogate cannot be encoded as UTF-8);
//   - request bodies that are not valid UTF-8, JSON nested deeper than MAX_DEPTH, and strings
//     longer than MAX_STRING_LENGTH;
//   - after schema validation, numbers that are not finite or not safe integers (the zod validator,
//     src/lib/validation.ts), so no value PostgreSQL cannot hold as bigint reaches a query.
// Lengths of stored strings are declared per field in the route schemas (src/api/schemas.ts).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

export const MAX_URL_LENGTH = 8192;
/** Longest path parameter the router accepts; longer ones answer 414 (`frameworkErrors`). */
export const MAX_PARAM_LENGTH = 500;
const MAX_DEPTH = 32;
/**
 * The longest string a request body may hold anywhere: the cap on fields Quay stores in unbounded
 * TextFields (descriptions, message bodies). CharField-backed fields declare 255 in their schemas.
 */
export const MAX_STRING_LENGTH = 65536;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** A route's own cap on body strings, where Quay takes a larger opaque value (robot metadata). */
    maxStringLength?: number;
  }
}

/** Refusals of this module: a 4xx with a message that never echoes the input back. */
export class InputError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

// In a `u` regex a surrogate pair is one code point, so \p{Cs} matches only unpaired halves.
const LONE_SURROGATE = /\p{Cs}/u;

/** Whether the string can be encoded as UTF-8 (no unpaired surrogate). */
export function isWellFormed(s: string): boolean {
  return !LONE_SURROGATE.test(s);
}

/** Why a string cannot be accepted, or undefined. */
export function stringProblem(s: string): string | undefined {
  if (s.includes('\0')) return 'contains a NUL character';
  if (!isWellFormed(s)) return 'contains an unpaired UTF-16 surrogate';
  return undefined;
}

/** The first problem in a parsed JSON or form value (keys included), with where it is. */
export function valueProblem(v: unknown, where = 'body', maxLength = MAX_STRING_LENGTH, depth = 0): string | undefined {
  if (typeof v === 'string') {
    if (v.length > maxLength) return `${where} has a string longer than ${maxLength} characters`;
    const p = stringProblem(v);
    return p && `${where} ${p}`;
  }
  if (v === null || typeof v !== 'object') return undefined;
  if (depth >= MAX_DEPTH) return `${where} is nested too deeply`;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const p = valueProblem(v[i], where, maxLength, depth + 1);
      if (p) return p;
    }
    return undefined;
  }
  for (const k in v) {
    const kp = stringProblem(k);
    if (kp) return `${where} has a key that ${kp}`;
    const p = valueProblem((v as Record<string, unknown>)[k], where, maxLength, depth + 1);
    if (p) return p;
  }
  return undefined;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/** Decodes a request body, refusing bytes that are not UTF-8. */
export function decodeBody(buf: Buffer): string {
  try {
    return utf8.decode(buf);
  } catch {
    throw new InputError(400, 'The request body is not valid UTF-8');
  }
}

function decodeComponent(s: string): string | undefined {
  const plus = s.includes('+') ? s.replace(/\+/g, ' ') : s;
  if (!plus.includes('%')) return plus;
  try {
    return decodeURIComponent(plus);
  } catch {
    return undefined;
  }
}

/** Set on a parsed query when it had to be refused; the onRequest guard throws it. */
export const QUERY_PROBLEM = Symbol('queryProblem');

export type ParsedQuery = Record<string, string | string[]> & { [QUERY_PROBLEM]?: string };

/**
 * `application/x-www-form-urlencoded` parsing for query strings and form bodies. Repeated keys give
 * arrays (as fast-querystring's); a malformed percent-escape or an invalid string marks the result
 * instead of throwing, because the router calls this while matching, before any error handling.
 */
export function parseQuery(qs: string): ParsedQuery {
  const out = Object.create(null) as ParsedQuery;
  if (qs.length === 0) return out;
  for (const pair of qs.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const key = decodeComponent(eq < 0 ? pair : pair.slice(0, eq));
    const value = decodeComponent(eq < 0 ? '' : pair.slice(eq + 1));
    if (key === undefined || value === undefined) {
      out[QUERY_PROBLEM] = 'has a malformed percent-escape or one that is not UTF-8';
      return out;
    }
    const problem = stringProblem(key) ?? stringProblem(value);
    if (problem) {
      out[QUERY_PROBLEM] = problem;
      return out;
    }
    const prev = out[key];
    if (prev === undefined) out[key] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else out[key] = [prev, value];
  }
  return out;
}

/**
 * Installs the gate: the query parser, the onRequest check of the URL, the query and the path
 * parameters (before authentication, which looks the path's names up), and strict UTF-8 JSON and
 * form body parsers. Call before any other hook is added.
 */
export function installInputGuard(app: FastifyInstance): void {
  app.addHook('onRequest', (req: FastifyRequest, _reply: FastifyReply, done: (err?: Error) => void) => {
    if (req.url.length > MAX_URL_LENGTH) return done(new InputError(414, 'The request URL is too long'));
    const q = (req.query as ParsedQuery | undefined)?.[QUERY_PROBLEM];
    if (q) return done(new InputError(400, `The query string ${q}`));
    const params = req.params as Record<string, unknown> | undefined;
    if (params) {
      for (const k in params) {
        const v = params[k];
        const p = typeof v === 'string' ? stringProblem(v) : undefined;
        if (p) return done(new InputError(400, `A path parameter ${p}`));
      }
    }
    done();
  });

  // Clients send what Flask accepted: `Content-Type: application/json` with an empty body is a
  // request without a body, not a 400.
  const jsonParser = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body, done) => {
    let text: string;
    try {
      text = decodeBody(body as Buffer);
    } catch (err) {
      return done(err as Error, undefined);
    }
    if (text.trim() === '') return done(null, undefined);
    jsonParser(req, text, (err, parsed) => {
      if (err) return done(err, undefined);
      const p = valueProblem(parsed, 'body', req.routeOptions.config?.maxStringLength);
      return p ? done(new InputError(400, `The JSON ${p}`), undefined) : done(null, parsed);
    });
  });
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'buffer' }, (_req, body, done) => {
    let parsed: ParsedQuery;
    try {
      parsed = parseQuery(decodeBody(body as Buffer));
    } catch (err) {
      return done(err as Error, undefined);
    }
    const p = parsed[QUERY_PROBLEM];
    return p ? done(new InputError(400, `The form body ${p}`), undefined) : done(null, parsed);
  });
}
