// The README's coverage table must say exactly which guide operations are served.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SERVED_OPERATIONS } from '../src/api/index.js';
import { GUIDE_OPERATIONS } from '../src/api/operations.js';

describe('README coverage table', () => {
  const readme = readFileSync('README.md', 'utf8');
  const rows = new Map<string, string>();
  for (const line of readme.split('\n')) {
    const m = /^\| (\w+) \| (GET|POST|PUT|DELETE) \| `([^`]+)` \| (\w+) \| ([^|]+) \|$/.exec(line);
    if (m) rows.set(m[4], m[5].trim());
  }

  it('lists every guide operation with its real status', () => {
    const expected = new Map(GUIDE_OPERATIONS.map((o) => [o.operationId, SERVED_OPERATIONS.has(o.operationId) ? 'served' : '501 not yet']));
    expect(Object.fromEntries(rows)).toEqual(Object.fromEntries(expected));
  });

  it('states the served count', () => {
    const served = GUIDE_OPERATIONS.filter((o) => SERVED_OPERATIONS.has(o.operationId)).length;
    expect(readme).toContain(`Served: ${served} of ${GUIDE_OPERATIONS.length}`);
  });
});
