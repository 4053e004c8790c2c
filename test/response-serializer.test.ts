// The compiled response serializer (src/lib/response-serializer.ts) must say exactly what zod's
// serializer says (fastify-type-provider-zod: JSON.stringify of zod's parse), or step aside for it.
// Every response schema of every route is compiled and fed random values, right and wrong, from a
// fixed seed; schemas the compiler does not model must fall back to zod as a whole.
import { serializerCompiler } from 'fastify-type-provider-zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { compileFastSerializer } from '../src/lib/response-serializer.js';
import { testApp, type TestApp } from './helpers/app.js';
import { startMailbox, type Mailbox } from './helpers/smtp.js';

let seed = 1;
const rnd = () => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed / 0x7fffffff;
};
const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)];
const STR = ['', 'abc', 'a"b', 'x\\y', '\u0000', '\u001f', '\ud800', '\udc00x', '😀', 'ü€', 'x'.repeat(70), 'y\u2028', '123', 'toJSON', '__proto__', "it's", '\x7f'];
const NUM = [0, -0, 1, -1, 1.5, 2 ** 53, 2 ** 53 - 1, -(2 ** 53 - 1), NaN, Infinity, -Infinity, 1e308, 3e38, 4e38, 2147483648, -2147483649, 4294967296, 1e21, 5e-324];
const junk = () =>
  pick<unknown>([undefined, null, 0, 1.5, NaN, '', 'str', true, false, [], {}, [1, 'a'], { a: 1 }, new Date(0), 10n, () => 1, Symbol('s'), { toJSON: () => 'T' }, Object.create({ inh: 1 }), new Map()]);
const unknownValue = () =>
  pick<unknown>([undefined, null, 1, 'x', { a: 1, b: [1, undefined, () => 1] }, [1, undefined], new Date(0), { toJSON: (k: string) => `T${k}` }, () => 1, NaN, -0, { n: { toJSON: (k: string) => k } }, 10n]);

type Def = Record<string, any>;
/** A value shaped by the schema, with a small chance of a wrong value at every level. */
function gen(s: unknown, depth = 0, mutate = 0.03): unknown {
  if (rnd() < mutate) return junk();
  const d = (s as { _zod: { def: Def } })._zod.def;
  switch (d.type) {
    case 'string': return pick(STR);
    case 'number': return rnd() < 0.7 ? Math.floor(rnd() * 1000) : pick(NUM);
    case 'boolean': return rnd() < 0.5;
    case 'null': return null;
    case 'literal': return pick(d.values);
    case 'enum': return pick(Object.values(d.entries));
    case 'unknown': case 'any': return unknownValue();
    case 'optional': return rnd() < 0.3 ? undefined : gen(d.innerType, depth, mutate);
    case 'nullable': return rnd() < 0.2 ? null : gen(d.innerType, depth, mutate);
    case 'array': {
      const a = Array.from({ length: depth > 4 ? 0 : Math.floor(rnd() * 4) }, () => gen(d.element, depth + 1, mutate));
      if (rnd() < 0.02) a.length += 1; // a hole
      return a;
    }
    case 'union': return gen(pick(d.options), depth, mutate);
    case 'record': {
      const o: Record<PropertyKey, unknown> = {};
      for (let i = 0; i < (depth > 4 ? 0 : Math.floor(rnd() * 4)); i++) o[pick(['a', 'b', '1', '0', 'zz', 'x y', '__proto__', 'toJSON'])] = gen(d.valueType, depth + 1, mutate);
      if (rnd() < 0.02) o[Symbol('k')] = 1;
      if (rnd() < 0.02) Object.defineProperty(o, 'hidden', { value: 1, enumerable: false });
      return o;
    }
    case 'object': {
      const entries: [string, unknown][] = [];
      for (const k of Object.keys(d.shape)) {
        const v = gen(d.shape[k], depth + 1, mutate);
        if (v === undefined && rnd() < 0.5) continue; // absent rather than undefined
        entries.push([k, v]);
      }
      if (rnd() < 0.3) entries.push([pick(['extra', 'x', '5', 'toJSON', 'zeta', 'username', 'a b']), unknownValue()]);
      if (rnd() < 0.2) entries.sort(() => rnd() - 0.5);
      const o: Record<string, unknown> = rnd() < 0.03 ? Object.create({ inherited: 1, anonymous: true }) : {};
      for (const [k, v] of entries) o[k] = v;
      return rnd() < 0.02 ? new Date(0) : o;
    }
    default:
      throw new Error(`no generator for ${d.type}`);
  }
}

/** Differences between the compiled writer and zod's serializer over `iterations` values. */
function compare(label: string, schema: unknown, iterations: number): { compiled: boolean; mismatches: string[]; fast: number } {
  const c = compileFastSerializer(schema);
  if ('unsupported' in c) return { compiled: false, mismatches: [], fast: 0 };
  const zodSerialize = serializerCompiler({ schema, method: 'GET', url: label, httpStatus: '200' } as never) as (v: unknown) => string;
  const mismatches: string[] = [];
  let fast = 0;
  for (let i = 0; i < iterations; i++) {
    const v = gen(schema, 0, i % 3 === 0 ? 0 : 0.03);
    const out = c.serialize(v);
    if (out === null) continue; // zod decides: the same result by construction
    fast++;
    let expected: string | undefined;
    try {
      expected = zodSerialize(v);
    } catch {
      expected = undefined;
    }
    if (out !== expected) mismatches.push(`${label}: compiled ${out?.slice(0, 80)} / zod ${expected?.slice(0, 80)}`);
  }
  return { compiled: true, mismatches, fast };
}

describe('compiled response serializer', () => {
  let t: TestApp;
  let mailbox: Mailbox;
  beforeAll(async () => {
    mailbox = await startMailbox();
    // Every feature that registers routes, so every response schema is seen.
    t = await testApp({ ...mailbox.config(), FEATURE_REPO_MIRROR: true, SUPER_USERS: 'root' });
  });
  afterAll(async () => {
    await t?.close();
    await mailbox?.close();
  });

  it('compiles every route response schema and writes exactly what zod writes', () => {
    const schemas = new Map<unknown, string>();
    for (const r of t.app.routeTable) {
      const responses = (r.schema?.response ?? {}) as Record<string, unknown>;
      for (const [status, s] of Object.entries(responses)) if (!schemas.has(s)) schemas.set(s, `${r.method} ${r.url} ${status}`);
    }
    expect(schemas.size).toBeGreaterThan(50);
    const notCompiled: string[] = [];
    const mismatches: string[] = [];
    let fast = 0;
    for (const [s, label] of schemas) {
      const r = compare(label, s, 400);
      if (!r.compiled) notCompiled.push(label);
      mismatches.push(...r.mismatches);
      fast += r.fast;
    }
    expect(notCompiled, 'schemas left to zod').toEqual([]);
    expect(mismatches.slice(0, 10)).toEqual([]);
    expect(fast).toBeGreaterThan(schemas.size * 100);
  });

  it('writes the same as zod for the shapes it models, edge cases included', () => {
    const shapes = {
      strict: z.strictObject({ a: z.string(), b: z.number().optional() }),
      record: z.record(z.string(), z.unknown()),
      recordOfInts: z.record(z.string(), z.int()),
      numbers: z.object({ a: z.int(), b: z.number().int(), c: z.int32(), d: z.uint32(), e: z.float32(), f: z.number() }),
      unionOfPrimitives: z.union([z.literal('Updated'), z.number(), z.null()]),
      unionOfObjects: z.union([z.object({ a: z.string() }), z.looseObject({ a: z.number() }), z.string()]),
      nested: z.object({ a: z.string().nullable().optional(), b: z.string().optional().nullable(), c: z.array(z.string().optional()), d: z.array(z.unknown()), e: z.unknown(), f: z.any().optional() }),
      enums: z.object({ k: z.enum(['a', 'b']), n: z.literal([1, 2, 'x']) }),
      looseEmpty: z.array(z.looseObject({})),
      string: z.string(),
      null: z.null(),
      unknown: z.unknown(),
      optional: z.string().optional(),
      array: z.array(z.number()),
    };
    for (const [name, s] of Object.entries(shapes)) {
      const r = compare(name, s, 2000);
      expect(r.compiled, name).toBe(true);
      expect(r.mismatches, name).toEqual([]);
    }
  });

  it('leaves to zod, as a whole, every schema kind it does not model', () => {
    const others = {
      transform: z.object({ a: z.string().transform((s) => s.length) }),
      default: z.object({ a: z.string().default('x') }),
      refine: z.object({ a: z.string() }).refine(() => true),
      email: z.object({ a: z.email() }),
      min: z.object({ a: z.string().min(1) }),
      date: z.object({ a: z.date() }),
      discriminated: z.discriminatedUnion('k', [z.object({ k: z.literal('a') }), z.object({ k: z.literal('b') })]),
      catchallString: z.object({}).catchall(z.string()),
    };
    for (const [name, s] of Object.entries(others)) expect(compare(name, s, 1).compiled, name).toBe(false);
  });
});
