// Response serialization: every response is checked against its route's zod schema, as before, but
// through a checker-and-writer compiled once per schema instead of a zod parse followed by
// JSON.stringify on every request (bench/user-endpoint.ts measured that pair at about 6 µs of a 50 µs
// request).
//
// The compiled writer must say exactly what fastify-type-provider-zod's serializerCompiler says:
// `JSON.stringify(safeParse(schema, data).data)`. So it follows zod's output rules, not the
// handler's object: a plain z.object() writes only its declared keys, in declaration order; a
// z.looseObject() then appends the other enumerable keys (for...in order); z.strictObject() rejects
// them; an optional key whose value is undefined is left out; a union answers with its first option
// that accepts the value. It covers the schema kinds our routes use (object, array, record with
// string keys, union, optional, nullable, string, number with format checks, boolean, null, literal,
// enum, unknown/any). Everything else (transforms, pipes, defaults, refinements, string checks,
// dates, lazy, discriminated unions…) makes the whole schema fall back to zod's serializer, so a
// schema is never half-compiled.
//
// Failure stays zod's: whenever the compiled writer rejects a value, or meets something it does not
// model (a symbol key, an extra key that would reorder the output, a custom toJSON, an exception),
// the request goes through zod's serializer, which then answers exactly as it always did: the same
// output, or the same ResponseSerializationError (a logged 500 in lib/error-handler.ts).
import type { FastifySerializerCompiler } from 'fastify';
import { serializerCompiler as zodSerializerCompiler } from 'fastify-type-provider-zod';
import { $ZodType, globalConfig, isRecursiveSchema, memoizer, util } from 'zod/v4/core';

type RouteSchema = Parameters<typeof zodSerializerCompiler>[0];
/** A compiled writer: the response's JSON text, or null when zod must decide. */
export type FastSerializer = (data: unknown) => string | null;

class Unsupported extends Error {}

interface ZodInternals {
  def: Record<string, unknown> & { type: string; checks?: unknown[] };
  traits: Set<string>;
  optin?: 'optional' | 'defaulted';
  optout?: 'optional';
}
const internals = (s: unknown): ZodInternals => (s as { _zod: ZodInternals })._zod;

// Values the generated code closes over. `BAIL` is thrown to leave the compiled path altogether
// (even from inside a union, whose next option must not be tried instead).
const BAIL = Symbol('bail');
const ESCAPE = /[\u0000-\u001f"\\\ud800-\udfff]/;
const dateToJSON = Date.prototype.toJSON;

/** JSON text of a string: JSON.stringify's, without the call for the common case. */
function quote(s: string): string {
  return ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`;
}

/** JSON.stringify(x) for a value zod passes through untouched (z.unknown(), z.any(), loose keys). */
function anyJson(x: unknown): string | undefined {
  // JSON.stringify(output) would call a custom toJSON with the property name; here it would get ''.
  if ((typeof x === 'object' && x !== null) || typeof x === 'function') {
    const toJSON = (x as { toJSON?: unknown }).toJSON;
    if (toJSON !== undefined && toJSON !== dateToJSON) throw BAIL;
  } else if (typeof x === 'bigint') {
    throw BAIL;
  }
  return JSON.stringify(x);
}

/** zod's util.isPlainObject (records accept only these). */
const isPlainObject = util.isPlainObject as (o: unknown) => boolean;

/** A canonical array index sorts before other keys in an object, so the output order would change. */
const INDEX_LIKE = /^(?:0|[1-9]\d*)$/;

/** Record keys as zod iterates them (own enumerable string keys); a symbol key makes it bail. */
function recordKeys(o: object): string[] {
  if (Object.getOwnPropertySymbols(o).length) throw BAIL;
  return Object.keys(o);
}

interface Gen {
  /** Generated function declarations, and a counter naming them. */
  fns: string[];
  next: number;
  consts: unknown[];
  names: Map<unknown, string>;
}

function constRef(g: Gen, value: unknown): string {
  g.consts.push(value);
  return `c[${g.consts.length - 1}]`;
}

/** The checks zod runs on a schema after its type check. */
function checksOf(z: ZodInternals, schema: unknown): unknown[] {
  return [...(z.traits.has('$ZodCheck') ? [schema] : []), ...(z.def.checks ?? [])];
}

function noChecks(z: ZodInternals, schema: unknown, what: string): void {
  if (checksOf(z, schema).length) throw new Unsupported(`${what} with checks`);
}

/** Types that accept undefined as a value (so a missing required key must be tested with `in`). */
function acceptsUndefined(schema: unknown): boolean {
  const z = internals(schema);
  switch (z.def.type) {
    case 'unknown':
    case 'any':
    case 'optional':
      return true;
    case 'nullable':
      return acceptsUndefined(z.def.innerType);
    case 'union':
      return (z.def.options as unknown[]).some(acceptsUndefined);
    default:
      return false;
  }
}

/**
 * Statements that check the value in variable `x` and write its JSON text through `put(text)`, or
 * `none` when zod's output would be undefined (a missing optional, an unknown that is undefined).
 * On a wrong value they `return null`.
 */
function emit(g: Gen, schema: unknown, x: string, put: (t: string) => string, none: string): string {
  if (!(schema instanceof $ZodType)) throw new Unsupported('not a zod schema');
  const z = internals(schema);
  const def = z.def;
  if (def.coerce) throw new Unsupported(`coerced ${def.type}`);
  switch (def.type) {
    case 'string':
      noChecks(z, schema, 'string');
      return `if (typeof ${x} !== 'string') return null; ${put(`quote(${x})`)}`;
    case 'boolean':
      noChecks(z, schema, 'boolean');
      return `if (typeof ${x} !== 'boolean') return null; ${put(`(${x} ? 'true' : 'false')`)}`;
    case 'null':
      noChecks(z, schema, 'null');
      return `if (${x} !== null) return null; ${put(`'null'`)}`;
    case 'number': {
      let test = `typeof ${x} !== 'number' || !Number.isFinite(${x})`;
      for (const check of checksOf(z, schema)) {
        const cd = internals(check).def as { check?: string; format?: string; when?: unknown };
        const range = (util.NUMBER_FORMAT_RANGES as Record<string, [number, number]>)[cd.format ?? ''];
        if (cd.check !== 'number_format' || cd.when || !range) throw new Unsupported(`number check ${cd.check}`);
        if (cd.format!.includes('int')) test += ` || !Number.isSafeInteger(${x})`;
        test += ` || ${x} < ${range[0]} || ${x} > ${range[1]}`;
      }
      // A finite number's JSON text is its string form (-0 included: both give "0").
      return `if (${test}) return null; ${put(`('' + ${x})`)}`;
    }
    case 'literal':
    case 'enum': {
      noChecks(z, schema, def.type);
      const values: unknown[] = def.type === 'literal' ? (def.values as unknown[]) : (util.getEnumValues(def.entries as util.EnumLike) as unknown[]);
      for (const v of values) {
        if (!(typeof v === 'string' || typeof v === 'boolean' || v === null || (typeof v === 'number' && Number.isFinite(v)))) {
          throw new Unsupported(`${def.type} value ${String(v)}`);
        }
      }
      return `if (!${constRef(g, new Set(values))}.has(${x})) return null; ${put(`JSON.stringify(${x})`)}`;
    }
    case 'unknown':
    case 'any':
      noChecks(z, schema, def.type);
      return `{ const t = anyJson(${x}); if (t === undefined) { ${none} } else { ${put('t')} } }`;
    case 'optional':
      noChecks(z, schema, 'optional');
      if (z.traits.has('$ZodExactOptional') || internals(def.innerType).optin === 'defaulted') throw new Unsupported('exact or defaulted optional');
      return `if (${x} === undefined) { ${none} } else { ${emit(g, def.innerType, x, put, none)} }`;
    case 'nullable':
      noChecks(z, schema, 'nullable');
      return `if (${x} === null) { ${put(`'null'`)} } else { ${emit(g, def.innerType, x, put, none)} }`;
    case 'object':
    case 'array':
    case 'record':
    case 'union':
      return `{ const t = ${fnFor(g, schema)}(${x}); if (t === null) return null; ${put('t')} }`;
    default:
      throw new Unsupported(def.type);
  }
}

/** The name of a generated `(v) => string | null` for a container schema (one per schema instance). */
function fnFor(g: Gen, schema: unknown): string {
  const known = g.names.get(schema);
  if (known) return known;
  const name = `f${g.next++}`;
  g.names.set(schema, name);
  const z = internals(schema);
  noChecks(z, schema, z.def.type);
  let body: string;
  switch (z.def.type) {
    case 'object':
      body = objectBody(g, z.def);
      break;
    case 'array':
      body = [
        `if (!Array.isArray(v)) return null;`,
        `let s = '[';`,
        `for (let i = 0; i < v.length; i++) {`,
        `  if (i) s += ',';`,
        `  const x = v[i];`,
        `  ${emit(g, z.def.element, 'x', (t) => `s += ${t};`, `s += 'null';`)}`,
        `}`,
        `return s + ']';`,
      ].join('\n');
      break;
    case 'record': {
      const key = z.def.keyType;
      const kz = internals(key);
      if (!(key instanceof $ZodType) || kz.def.type !== 'string' || kz.def.coerce || checksOf(kz, key).length) {
        throw new Unsupported('record key other than z.string()');
      }
      body = [
        `if (!isPlainObject(v)) return null;`,
        `let s = '{';`,
        `for (const k of recordKeys(v)) {`,
        `  if (k === '__proto__') continue;`,
        `  if (k === 'toJSON') throw BAIL;`,
        `  const x = v[k];`,
        `  ${emit(g, z.def.valueType, 'x', (t) => `s += (s.length > 1 ? ',' : '') + quote(k) + ':' + ${t};`, '')}`,
        `}`,
        `return s + '}';`,
      ].join('\n');
      break;
    }
    case 'union': {
      if (z.def.discriminator !== undefined || z.def.inclusive === false) throw new Unsupported('discriminated or exclusive union');
      const options = z.def.options as unknown[];
      // zod answers with the first option that accepts the value.
      const tries = options.map((o) => {
        const oz = internals(o);
        if (oz.optin !== undefined || oz.optout !== undefined || acceptsUndefined(o)) throw new Unsupported('union option that may be undefined');
        return `{ const t = ${optionFn(g, o)}(v); if (t !== null) return t; }`;
      });
      body = `${tries.join('\n')}\nreturn null;`;
      break;
    }
    default:
      throw new Unsupported(z.def.type);
  }
  g.fns.push(`function ${name}(v) {\n${body}\n}`);
  return name;
}

/** A union option as its own generated function (it may be a primitive, unlike fnFor's schemas). */
function optionFn(g: Gen, schema: unknown): string {
  const name = `f${g.next++}`;
  const body = emit(g, schema, 'v', (t) => `return ${t};`, 'return null;');
  g.fns.push(`function ${name}(v) {\n${body}\n}`);
  return name;
}

function objectBody(g: Gen, def: ZodInternals['def']): string {
  const shape = def.shape as Record<string, unknown>;
  if (Object.getOwnPropertySymbols(shape).length) throw new Unsupported('symbol keys');
  const keys = Object.keys(shape);
  let mode: 'strip' | 'loose' | 'strict' = 'strip';
  if (def.catchall !== undefined) {
    const t = internals(def.catchall).def.type;
    if (t === 'unknown' && !checksOf(internals(def.catchall), def.catchall).length) mode = 'loose';
    else if (t === 'never') mode = 'strict';
    else throw new Unsupported(`catchall ${t}`);
  }
  const lines = [`if (typeof v !== 'object' || v === null || Array.isArray(v)) return null;`, `let s = '{';`];
  // Whether something was written before this key: 'no', 'yes', or only known at run time.
  let written: 'no' | 'yes' | 'maybe' = 'no';
  keys.forEach((key, i) => {
    if (key === '__proto__' || key === 'toJSON' || INDEX_LIKE.test(key)) throw new Unsupported(`key ${key}`);
    const prop = shape[key];
    const pz = internals(prop);
    const k = JSON.stringify(key);
    const optional = pz.optin === 'optional' && pz.optout === 'optional';
    if (!optional && (pz.optin !== undefined || pz.optout !== undefined)) throw new Unsupported(`key ${key}: optin ${pz.optin}, optout ${pz.optout}`);
    const sep = written === 'no' ? '' : written === 'yes' ? ',' : null;
    const label = sep === null ? `(s.length > 1 ? ',' : '') + ${JSON.stringify(`${k}:`)}` : JSON.stringify(`${sep}${k}:`);
    const x = `x${i}`;
    lines.push(`const ${x} = v[${k}];`);
    // A required key that is absent fails, even when its type would accept undefined.
    if (!optional && acceptsUndefined(prop)) lines.push(`if (!(${k} in v)) return null;`);
    lines.push(emit(g, prop, x, (t) => `s += ${label} + ${t};`, ''));
    const mayBeOmitted = optional || acceptsUndefined(prop);
    written = mayBeOmitted ? (written === 'yes' ? 'yes' : 'maybe') : 'yes';
  });
  if (mode !== 'strip') {
    const declared = constRef(g, new Set(keys));
    lines.push(`for (const k in v) {`, `  if (${declared}.has(k)) continue;`);
    if (mode === 'strict') {
      lines.push(`  return null;`);
    } else {
      lines.push(
        `  if (k === '__proto__') continue;`,
        // zod's output would place an index-like key first, and its own toJSON key would be called.
        `  if (k === 'toJSON' || INDEX_LIKE.test(k)) throw BAIL;`,
        `  const t = anyJson(v[k]);`,
        `  if (t !== undefined) s += (s.length > 1 ? ',' : '') + quote(k) + ':' + t;`,
      );
    }
    lines.push(`}`);
  }
  lines.push(`return s + '}';`);
  return lines.join('\n');
}

/**
 * Compiles a response schema, or says why it cannot. The writer returns the response's JSON text, or
 * null when the value must go through zod (it does not match, or the writer cannot vouch for it).
 */
export function compileFastSerializer(schema: unknown): { serialize: FastSerializer } | { unsupported: string } {
  if (!(schema instanceof $ZodType)) return { unsupported: 'not a zod schema' };
  // zod's default memoizer only acts on recursive schemas (it gives their parse cycle support);
  // those, and any other memoizer, stay with zod.
  if (globalConfig.memoizer && globalConfig.memoizer !== memoizer()) return { unsupported: 'custom zod memoizer' };
  if (isRecursiveSchema(schema)) return { unsupported: 'recursive schema' };
  const g: Gen = { fns: [], next: 0, consts: [], names: new Map() };
  let top: string;
  try {
    top = emit(g, schema, 'data', (t) => `return ${t};`, 'return null;');
  } catch (err) {
    if (err instanceof Unsupported) return { unsupported: err.message };
    throw err;
  }
  const source = `${g.fns.join('\n')}\nreturn function serialize(data) {\n${top}\n};`;
  const build = new Function('c', 'quote', 'anyJson', 'isPlainObject', 'recordKeys', 'INDEX_LIKE', 'BAIL', source) as (
    ...args: unknown[]
  ) => (data: unknown) => string | null;
  const compiled = build(g.consts, quote, anyJson, isPlainObject, recordKeys, INDEX_LIKE, BAIL);
  return {
    serialize: (data) => {
      try {
        return compiled(data);
      } catch {
        return null; // BAIL, a throwing getter, a BigInt inside unknown…: zod's path decides.
      }
    },
  };
}

// Shared schemas (UserView, Avatar, …) serve several routes and statuses: compile each once.
const compiledSchemas = new WeakMap<object, ReturnType<typeof compileFastSerializer>>();

function compiledFor(schema: object): ReturnType<typeof compileFastSerializer> {
  let compiled = compiledSchemas.get(schema);
  if (!compiled) {
    compiled = compileFastSerializer(schema);
    compiledSchemas.set(schema, compiled);
  }
  return compiled;
}

/** zod's `{ properties: schema }` form, as fastify-type-provider-zod resolves it. */
function resolveSchema(schema: unknown): $ZodType | undefined {
  if (schema instanceof $ZodType) return schema;
  const props = (schema as { properties?: unknown } | null)?.properties;
  return props instanceof $ZodType ? props : undefined;
}

/**
 * Fastify's serializer compiler: the compiled writer, with fastify-type-provider-zod's serializer
 * behind it for every value the writer does not vouch for and for every schema it cannot compile.
 */
export const responseSerializerCompiler: FastifySerializerCompiler<RouteSchema['schema']> = (routeSchema) => {
  const zodSerialize = zodSerializerCompiler(routeSchema);
  const schema = resolveSchema(routeSchema.schema);
  const compiled = schema === undefined ? undefined : compiledFor(schema);
  if (!compiled || 'unsupported' in compiled) return zodSerialize;
  const fast = compiled.serialize;
  return (data) => fast(data) ?? zodSerialize(data);
};
