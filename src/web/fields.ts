// Declared inputs of the web routes (pages, the OAuth provider, /user/initialize). They read
// loosely typed query strings and forms, so each field is "the first value, as a string, within
// this length"; unknown fields pass. Declaring them routes every web input through the same
// validation (and the hostile-input walk) as the API's.
import { z } from 'zod';

const first = (v: unknown) => (Array.isArray(v) ? v[0] : v);

/** Field lengths for values this server echoes, stores or puts in a redirect. */
export const WEB_FIELD = {
  short: 64,
  name: 255,
  token: 512,
  url: 2048,
  secret: 65536,
} as const;

/** A query or form object whose listed fields are optional strings of at most the given length. */
export function webFields(fields: Record<string, number>) {
  return z.looseObject(Object.fromEntries(Object.entries(fields).map(([k, max]) => [k, z.preprocess(first, z.string().max(max).optional())])));
}

/** The same, for a body that may be absent. */
export function webBody(fields: Record<string, number>) {
  return webFields(fields).nullish();
}
