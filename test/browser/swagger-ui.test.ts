// swagger-ui at /api/docs in a real browser: Authorize through this server's OAuth implicit flow
// (popup → sign-in page → consent page → oauth2-redirect.html), then "Try it out" on
// GET /api/v1/user/ with the token swagger-ui received. Needs Debian's chromium at /usr/bin/chromium.
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestApp } from '../helpers/app.js';
import { CHROMIUM, haveChromium, launchChromium, listeningApp } from '../helpers/browser.js';
import { makeUser, type TestUser } from '../helpers/factories.js';

if (!haveChromium) {
  console.warn(`[swagger-ui browser test] SKIPPED: ${CHROMIUM} is missing (apt-get install chromium); .ci/run installs it.`);
}

/** Scrolls the page down step by step until `target` is rendered (bounded). */
async function scrollUntilAttached(page: Page, target: Locator): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if ((await target.count()) > 0) {
      await target.scrollIntoViewIfNeeded();
      return;
    }
    await page.mouse.wheel(0, 600);
    await page.waitForTimeout(50);
  }
  throw new Error('scrolled to the end of swagger-ui without finding the operation');
}

async function shot(page: Page | undefined, name: string): Promise<void> {
  if (!page || page.isClosed()) return;
  const file = path.join(tmpdir(), `swagger-ui-${name}-${Date.now()}.png`);
  await page.screenshot({ path: file, fullPage: false }).catch(() => undefined);
  console.warn(`[swagger-ui browser test] screenshot: ${file}`);
}

describe.skipIf(!haveChromium)('swagger-ui at /api/docs (chromium)', () => {
  let t: TestApp;
  let browser: Browser;
  let base: string;
  let user: TestUser;

  beforeAll(async () => {
    ({ t, base } = await listeningApp());
    user = await makeUser(t);
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('authorizes through the OAuth popup (sign-in, consent) and runs getLoggedInUser with the Bearer token', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    context.setDefaultTimeout(15_000);
    const page = await context.newPage();
    let popup: Page | undefined;
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    const userRequests: { authorization?: string; xrw?: string }[] = [];
    page.on('request', (r) => {
      if (new URL(r.url()).pathname === '/api/v1/user/') {
        const h = r.headers();
        userRequests.push({ authorization: h.authorization, xrw: h['x-requested-with'] });
      }
    });

    try {
      await page.goto(`${base}/api/docs`);
      // The spec is loaded and rendered: the Authorize button appears with the security definitions.
      const authorizeBtn = page.locator('.scheme-container button.btn.authorize');
      await authorizeBtn.waitFor({ timeout: 20_000 });
      expect(await authorizeBtn.getAttribute('class')).toMatch(/\bunlocked\b/);
      await authorizeBtn.click();

      // The oauth2_implicit dialog: the authorization URL is this server's, pick user:read only.
      const dialog = page.locator('.modal-ux');
      await dialog.waitFor();
      await dialog.getByText(`${base}/oauth/authorize`).first().waitFor();
      const scope = dialog.locator('input[type=checkbox][data-value="user:read"]');
      // swagger-ui hides the input itself and styles its label as the checkbox: click the label.
      const scopeId = await scope.getAttribute('id');
      await dialog.locator(`label[for="${scopeId}"]`).click();
      expect(await scope.isChecked()).toBe(true);
      const checked = await dialog.locator('input[type=checkbox]:checked').evaluateAll((els) => els.map((e) => e.getAttribute('data-value')));
      expect(checked).toEqual(['user:read']);

      const popupPromise = page.waitForEvent('popup');
      await dialog.locator('.auth-btn-wrapper button.authorize').click();
      popup = await popupPromise;

      // No session yet: /oauth/authorize sends the browser to the sign-in page, which comes back.
      await popup.waitForURL((u) => u.pathname === '/signin');
      const next = new URL(popup.url()).searchParams.get('next') ?? '';
      expect(next.startsWith('/oauth/authorize?')).toBe(true);
      const authUrl = new URL(next, base);
      expect(authUrl.searchParams.get('client_id')).toBe('quay-compat-api-docs');
      expect(authUrl.searchParams.get('response_type')).toBe('token');
      expect(authUrl.searchParams.get('scope')).toBe('user:read');
      expect(authUrl.searchParams.get('redirect_uri')).toBe(`${base}/api/docs/oauth2-redirect.html`);

      await popup.fill('#username', user.username);
      await popup.fill('#password', user.password);
      await popup.click('#signin');

      // The consent page for the built-in application, with the one scope asked for.
      await popup.waitForURL((u) => u.pathname === '/oauth/authorize');
      await popup.locator('#authorize').waitFor();
      expect(await popup.locator('ul.scopes li').evaluateAll((els) => els.map((e) => e.getAttribute('data-scope')))).toEqual(['user:read']);
      expect(await popup.locator('#dangerous-warning').count()).toBe(0);
      expect(await popup.locator('main').innerText()).toContain(user.username);

      const closed = popup.waitForEvent('close', { timeout: 20_000 });
      await popup.click('#authorize');
      await closed; // oauth2-redirect.html hands the token to swagger-ui and closes the popup
      popup = undefined;

      // The dialog now shows the scheme as authorized (a Logout button instead of Authorize).
      await dialog.locator('.auth-btn-wrapper button', { hasText: 'Logout' }).waitFor();
      await dialog.locator('button.close-modal').click();
      await expect.poll(() => authorizeBtn.getAttribute('class')).toMatch(/(^|\s)locked(\s|$)/);

      // Try it out on GET /api/v1/user/. swagger-ui 5 virtualizes the operation list (only what is
      // near the viewport is in the DOM), so scroll down to it as a person would.
      const op = page.locator('#operations-user-getLoggedInUser');
      await scrollUntilAttached(page, op);
      await op.locator('.opblock-summary').first().click();
      await op.locator('button.try-out__btn').click();
      const responsePromise = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/v1/user/');
      await op.locator('button.execute').click();
      const response = await responsePromise;
      expect(response.status()).toBe(200);

      const live = op.locator('.live-responses-table');
      const row = live.locator('tbody tr.response').first();
      await row.waitFor();
      expect((await row.locator('.response-col_status').innerText()).trim()).toBe('200');
      const bodyText = await row.locator('.response-col_description pre').first().innerText();
      const shown = JSON.parse(bodyText);
      expect(shown).toMatchObject({ username: user.username, anonymous: false });

      expect(userRequests.length).toBeGreaterThan(0);
      const sent = userRequests[userRequests.length - 1];
      expect(sent.authorization).toMatch(/^Bearer \S+$/);
      expect(sent.xrw).toBe('XMLHttpRequest');
      // The token swagger-ui sent is a real token of the built-in app, for this user, with user:read.
      const probe = await t.inject({ url: '/api/v1/user/', headers: { authorization: sent.authorization! } });
      expect(probe.statusCode).toBe(200);
      expect(probe.json().username).toBe(user.username);
      const tokenName = sent.authorization!.slice('Bearer '.length, 'Bearer '.length + 20);
      const issued = await t.app.db
        .selectFrom('oauth_access_token')
        .innerJoin('oauth_application', 'oauth_application.id', 'oauth_access_token.application_id')
        .select(['oauth_access_token.scope', 'oauth_access_token.authorized_user_id', 'oauth_application.client_id'])
        .where('oauth_access_token.token_name', '=', tokenName)
        .executeTakeFirstOrThrow();
      expect(issued).toEqual({ scope: 'user:read', authorized_user_id: user.id, client_id: 'quay-compat-api-docs' });
      expect(pageErrors).toEqual([]);
    } catch (err) {
      await shot(popup, 'popup');
      await shot(page, 'page');
      throw err;
    } finally {
      await context.close();
    }
  }, 120_000);
});
