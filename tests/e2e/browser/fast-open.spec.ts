/**
 * Fast open (issue 16): a lone store (`openBrowser` defaults, no signaling) on a persistent
 * profile. Its first open creates the cluster without waiting for the bootstrap probe (no
 * member can exist: `bootstrap-probe.ts`); every later open reopens it from IndexedDB, which
 * never probes. Printed: `fast-open: create … reopen …` (the page is the Vite dev server's, so
 * the Worker's unbundled code load is part of every open; `bench:browser` measures the build).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, expect, test, type BrowserContext, type Page } from '@playwright/test';
import { CHROMIUM_ARGS, chromiumPath } from '../../chromium.ts';
import { startVite, type ViteFixture } from './vite-server.ts';
import { NET_BOOTSTRAP_PROBE_MS_DEFAULT } from '../../../packages/client/src/browser/net-host.ts';

let vite: ViteFixture;
let userDataDir: string;
/** Reopens measured after the first (creating) open. */
const REOPENS = 3;

test.beforeAll(async () => {
  vite = await startVite();
  userDataDir = mkdtempSync(join(tmpdir(), 'peerkv-fast-open-'));
});

test.afterAll(async () => {
  await vite?.close();
  rmSync(userDataDir, { recursive: true, force: true });
});

async function openPage(ctx: BrowserContext): Promise<Page> {
  const page = await ctx.newPage();
  page.on('pageerror', (e) => console.log(`pageerror: ${e.message}`));
  await page.goto(`${vite.url}tests/e2e/browser/fixture/open-timing.html`);
  await page.waitForFunction(() => document.getElementById('state')?.textContent === 'ready');
  return page;
}

test('a lone store is created and reopened without the bootstrap probe', async () => {
  const ctx = await chromium.launchPersistentContext(userDataDir, { executablePath: chromiumPath(), args: CHROMIUM_ARGS, headless: true });
  try {
    const page = await openPage(ctx);
    const created = await page.evaluate(() => window.openTiming.open('fast-open', 'k', true));
    expect(created.status.opened).toBe('bootstrapped');
    expect(created.readBytes).toBe(0);
    // The store itself (keys, engine, bootstrap) opened in less than the probe it skipped.
    expect(created.status.openMs).toBeLessThan(NET_BOOTSTRAP_PROBE_MS_DEFAULT);
    const reopens = [];
    for (let i = 0; i < REOPENS; i++) {
      const r = await page.evaluate(() => window.openTiming.open('fast-open', 'k', false));
      expect(r.status.opened).toBe('reopened');
      expect(r.readBytes).toBe(5);
      expect(r.status.openMs).toBeLessThan(NET_BOOTSTRAP_PROBE_MS_DEFAULT);
      reopens.push(r);
    }
    console.log(
      `fast-open: create ${created.readMs.toFixed(0)} ms (store open ${created.status.openMs} ms); ` +
        `reopen until a read answered ${reopens.map((r) => r.readMs.toFixed(0)).join(' / ')} ms ` +
        `(store open ${reopens.map((r) => r.status.openMs).join(' / ')} ms, lock grant to serving ${reopens.map((r) => r.status.takeoverMs).join(' / ')} ms)`,
    );
  } finally {
    await ctx.close();
  }
});
