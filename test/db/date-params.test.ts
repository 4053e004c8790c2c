// Date parameters on embedded PGlite (src/db/index.ts pgDateParam): years past 9999 are written
// as PostgreSQL reads them (PGlite's own toISOString form, "+010000-…", is refused).
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, pgDateParam, type Database } from '../../src/db/index.js';

let database: Database;
beforeAll(async () => {
  database = await openDatabase({ pgliteDir: 'memory' });
});
afterAll(() => database?.close());

describe('date parameters on PGlite', () => {
  it('writes years of four digits as toISOString does, and longer ones without the sign', () => {
    expect(pgDateParam(new Date(Date.UTC(2026, 11, 5, 1, 2, 3, 4)))).toBe('2026-12-05T01:02:03.004Z');
    expect(pgDateParam(new Date(Date.UTC(10000, 0, 1)))).toBe('10000-01-01T00:00:00.000Z');
    expect(pgDateParam(new Date(8.64e15))).toBe('275760-09-13T00:00:00.000Z');
    expect(pgDateParam('2026-01-01')).toBe('2026-01-01');
    expect(() => pgDateParam(new Date(NaN))).toThrow(TypeError);
  });

  it('round-trips dates past year 9999 through timestamptz, timestamp and date parameters', async () => {
    for (const ms of [Date.UTC(9999, 11, 31, 23, 59, 59, 999), Date.UTC(10000, 0, 1), 1e15, 8.64e15]) {
      const d = new Date(ms);
      const r = await sql<{ tz: Date; y: number }>`select ${d}::timestamptz as tz, extract(year from ${d}::timestamp)::int as y, ${d}::date as day`.execute(database.db);
      expect(new Date(r.rows[0].tz).getTime()).toBe(ms);
      expect(r.rows[0].y).toBe(d.getUTCFullYear());
    }
  });
});
