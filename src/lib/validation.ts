// Zod validation for route schemas, with Quay's error texts: a body that fails its schema gives
// 400 invalid_request with a validator-style message ("'title' is a required property"); a bad
// query parameter gives 400 {message: {param: text}} (part1 §0.4, §0.8).
import type { FastifySchemaCompiler } from 'fastify';
import { z } from 'zod';
import { isEmailAddress } from './email.js';

/**
 * Length limits of stored strings. Where Quay has a CharField (names, titles, URIs, e-mail
 * addresses) its 255 characters; fields Quay keeps in unbounded TextFields (descriptions, message
 * bodies) are capped for every string of a request by the input guard (MAX_STRING_LENGTH).
 */
export const CHAR_FIELD_MAX = 255;

/** A string stored in one of Quay's CharFields. */
export const charField = () => z.string().max(CHAR_FIELD_MAX);

/** An e-mail address that may be left empty (or null) to mean "none". */
export const optionalEmail = () =>
  z
    .string()
    .max(CHAR_FIELD_MAX)
    .refine((s) => s.trim() === '' || isEmailAddress(s.trim()), 'Invalid email address');

export class RequestValidationError extends Error {
  readonly statusCode = 400;
  validationContext?: string;
  constructor(
    message: string,
    readonly param?: string,
    /** The message without its location suffix, for `{message: {param: text}}` query errors. */
    readonly bare: string = message,
  ) {
    super(message);
  }
}

function describe(issue: z.core.$ZodIssue, root: unknown): { message: string; param?: string; bare?: string } {
  const path = issue.path.map(String);
  const key = path[path.length - 1];
  let input: unknown = root;
  for (const p of issue.path) input = input && typeof input === 'object' ? (input as Record<PropertyKey, unknown>)[p] : undefined;
  if (issue.code === 'invalid_type' && path.length === 0 && (input === undefined || input === null)) {
    return { message: 'Missing JSON body' };
  }
  if (input === undefined && path.length > 0 && issue.code !== 'unrecognized_keys') {
    return { message: `'${key}' is a required property`, param: path[0] };
  }
  const where = path.length ? ` (at '${path.join('.')}')` : '';
  return { message: `${issue.message}${where}`, param: path[0], bare: issue.message };
}

/**
 * The first number in a validated value that PostgreSQL could not take as a bigint or that is not
 * exact (beyond 2^53), with its path: every route is guarded here, whatever its schema says.
 */
function numberProblem(v: unknown, path: string[] = [], depth = 0): { path: string[] } | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && Math.abs(v) <= Number.MAX_SAFE_INTEGER ? undefined : { path };
  if (v === null || typeof v !== 'object' || depth > 32) return undefined;
  for (const k in v) {
    const p = numberProblem((v as Record<string, unknown>)[k], [...path, k], depth + 1);
    if (p) return p;
  }
  return undefined;
}

export const zodValidatorCompiler: FastifySchemaCompiler<z.ZodType> =
  ({ schema }) =>
  (data) => {
    const r = schema.safeParse(data);
    if (r.success) {
      const bad = numberProblem(r.data);
      if (!bad) return { value: r.data };
      const where = bad.path.length ? ` (at '${bad.path.join('.')}')` : '';
      return { error: new RequestValidationError(`Value out of range${where}`, bad.path[0], 'Value out of range') };
    }
    const { message, param, bare } = describe(r.error.issues[0], data);
    return { error: new RequestValidationError(message, param, bare) };
  };

/** Quay's query booleans: false only for false/False/FALSE/0/null/"", anything else true. */
export const quayBool = z
  .preprocess((v) => (Array.isArray(v) ? v[0] : v), z.string().optional())
  .transform((s) => (s === undefined ? undefined : !['false', 'False', 'FALSE', '0', 'null', ''].includes(s)));

/** Repeated query parameters: the first value wins. */
export const firstString = z.preprocess((v) => (Array.isArray(v) ? v[0] : v), z.string().optional());

/** Quay's integer query parameters: strict (Python's int(): a sign and surrounding blanks allowed), with the parameter's help text as the 400 message. */
export const intParam = (help: string) =>
  z.preprocess(
    (v) => (Array.isArray(v) ? v[0] : v),
    z
      .string()
      .regex(/^\s*[+-]?\d+\s*$/, { error: help })
      .optional()
      .transform((s) => (s === undefined ? undefined : Number.parseInt(s, 10))),
  );
