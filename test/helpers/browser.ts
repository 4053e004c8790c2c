// Debian's chromium driven by playwright-core, and a server listening on a real loopback port for
// it to visit. Tests skip (with a warning) where /usr/bin/chromium is missing; .ci/run installs it.
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { chromium, type Browser } from 'playwright-core';
import type { ConfigInput } from '../../src/config.js';
import { testApp, type TestApp } from './app.js';

export const CHROMIUM = '/usr/bin/chromium';
export const haveChromium = existsSync(CHROMIUM);

/** A free loopback port, picked before the app is built so SERVER_HOSTNAME can name it. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** The app listening on 127.0.0.1 with its own address as SERVER_HOSTNAME; `base` is its URL. */
export async function listeningApp(overrides: Partial<ConfigInput> = {}): Promise<{ t: TestApp; base: string }> {
  const port = await freePort();
  const t = await testApp({ SERVER_HOSTNAME: `127.0.0.1:${port}`, PORT: port, ...overrides });
  await t.app.listen({ host: '127.0.0.1', port });
  return { t, base: `http://127.0.0.1:${port}` };
}

/** Chromium with the flags that keep it off the network (see shared/field-notes.md). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
