// The committed documents under openapi/ must match what the routes generate. After changing a
// route, refresh them with `npm run openapi:update` (UPDATE_OPENAPI=1) and commit the result.
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp, type TestApp } from './helpers/app.js';

const DOCS = [
  { file: 'openapi/quay-api.json', url: '/api/v1/discovery' },
  { file: 'openapi/openapi.json', url: '/api/v1/openapi.json' },
];

let t: TestApp;
beforeAll(async () => {
  // The committed documents describe a default install (SERVER_HOSTNAME localhost:8080, http).
  t = await testApp();
});
afterAll(() => t?.close());

describe('committed API documents', () => {
  it.each(DOCS)('$file is up to date with the routes', async ({ file, url }) => {
    const generated = JSON.stringify((await t.inject(url)).json(), null, 2) + '\n';
    if (process.env.UPDATE_OPENAPI) writeFileSync(file, generated);
    let committed = '';
    try {
      committed = readFileSync(file, 'utf8');
    } catch {
      // missing: fails below
    }
    expect(committed, `${file} is stale: run npm run openapi:update`).toBe(generated);
  });
});
