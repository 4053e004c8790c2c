// The user view (src/api/user-view.ts): the fields that come from the account's own row.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp, type TestApp } from '../helpers/app.js';
import { bearer, makeUser, signIn, tokenFor } from '../helpers/factories.js';

let t: TestApp;
beforeAll(async () => {
  t = await testApp();
});
afterAll(() => t?.close());

describe('GET /api/v1/user/ (getLoggedInUser): invoicing', () => {
  it("reports the user's stored invoice_email and invoice_email_address to the user's own admin view", async () => {
    const u = await makeUser(t);
    await t.app.db.updateTable('namespace').set({ invoice_email: true, invoice_email_address: 'billing@corp.example' }).where('id', '=', u.id).execute();
    const viaToken = (await t.inject({ url: '/api/v1/user/', headers: bearer(await tokenFor(t, u, 'user:admin')) })).json();
    expect(viaToken).toMatchObject({ username: u.username, invoice_email: true, invoice_email_address: 'billing@corp.example' });
    const viaSession = (await t.inject({ url: '/api/v1/user/', headers: (await signIn(t, u)).headers })).json();
    expect(viaSession).toMatchObject({ invoice_email: true, invoice_email_address: 'billing@corp.example' });
  });

  it('reports the defaults (false, null) for an account that never set them, and nothing to a user:read token', async () => {
    const u = await makeUser(t);
    const body = (await t.inject({ url: '/api/v1/user/', headers: bearer(await tokenFor(t, u, 'user:admin')) })).json();
    expect(body).toMatchObject({ invoice_email: false, invoice_email_address: null });
    const narrow = (await t.inject({ url: '/api/v1/user/', headers: bearer(await tokenFor(t, u, 'user:read')) })).json();
    expect(narrow).not.toHaveProperty('invoice_email');
    expect(narrow).not.toHaveProperty('invoice_email_address');
  });
});
