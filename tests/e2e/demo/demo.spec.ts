/**
 * Demo smoke test: the demo served by Vite (its own config), two tabs of one profile; an item
 * added in one tab appears in the other, checking it shows there too, the dashboard lists
 * three stores and a region with a leader, a split adds a region, a stopped store shows down
 * while the list keeps working, and when the hosting tab closes the other takes over with the
 * list intact; screenshots go to tests/artifacts/.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, expect, test, type Page } from '@playwright/test';
import { CHROMIUM_ARGS, chromiumPath } from '../../chromium.ts';
import { REPO_ROOT, startVite, type ViteFixture } from '../browser/vite-server.ts';

const ARTIFACTS = join(REPO_ROOT, 'tests', 'artifacts');
let vite: ViteFixture;
let userDataDir: string;

test.beforeAll(async () => {
  vite = await startVite({ demo: true });
  userDataDir = mkdtempSync(join(tmpdir(), 'peerkv-demo-'));
  mkdirSync(ARTIFACTS, { recursive: true });
});

test.afterAll(async () => {
  await vite?.close();
  rmSync(userDataDir, { recursive: true, force: true });
});

test('an item added in one tab shows up in another; the dashboard shows the cluster', async () => {
  const ctx = await chromium.launchPersistentContext(userDataDir, {
    executablePath: chromiumPath(),
    args: CHROMIUM_ARGS,
    headless: true,
    viewport: { width: 1280, height: 800 },
  });
  const open = async (): Promise<Page> => {
    const p = await ctx.newPage();
    p.on('pageerror', (e) => console.log(`pageerror: ${e.message}`));
    await p.goto(vite.url);
    await expect(p.locator('body[data-ready="true"]')).toHaveCount(1);
    return p;
  };
  const a = await open();
  const b = await open();
  await a.fill('#item', 'oat milk');
  await a.click('#add button[type=submit]');
  await a.fill('#item', 'sourdough bread');
  await a.press('#item', 'Enter');
  await expect(b.locator('#items li .text')).toHaveText(['oat milk', 'sourdough bread'], { timeout: 30_000 });
  await b.locator('#items li', { hasText: 'oat milk' }).locator('input[type=checkbox]').check();
  await expect(a.locator('#items li.done .text')).toHaveText(['oat milk'], { timeout: 30_000 });

  await expect(a.locator('.store')).toHaveCount(3, { timeout: 30_000 });
  await expect(a.locator('#regions tbody tr td:nth-child(4)').first()).toContainText('store', { timeout: 30_000 });
  await expect(a.locator('#host')).toContainText('this tab hosts', { timeout: 30_000 });
  await expect(b.locator('#host')).toContainText('attached to host tab', { timeout: 30_000 });
  // The controls: split the region, stop a store; the list keeps working from the other tab.
  await a.click('#split');
  await expect(a.locator('#regions tbody tr')).toHaveCount(2, { timeout: 30_000 });
  await a.locator('.store[data-store="3"] button', { hasText: 'Stop' }).click();
  await expect(a.locator('.store[data-store="3"] .badge.down')).toHaveCount(1, { timeout: 30_000 });
  await b.fill('#item', 'apples');
  await b.press('#item', 'Enter');
  await expect(a.locator('#items li .text')).toHaveText(['oat milk', 'sourdough bread', 'apples'], { timeout: 30_000 });
  await a.screenshot({ path: join(ARTIFACTS, 'demo-host-tab.png'), fullPage: true });
  await b.screenshot({ path: join(ARTIFACTS, 'demo-attached-tab.png'), fullPage: true });

  // The hosting tab closes: the other takes over with the list intact and keeps writing.
  await a.close({ runBeforeUnload: true });
  await expect(b.locator('#host')).toContainText('this tab hosts', { timeout: 30_000 });
  await b.fill('#item', 'coffee');
  await b.press('#item', 'Enter');
  await expect(b.locator('#items li .text')).toHaveText(['oat milk', 'sourdough bread', 'apples', 'coffee'], { timeout: 30_000 });
  await expect(b.locator('#events')).toContainText('this tab became the host');
  await b.screenshot({ path: join(ARTIFACTS, 'demo-after-failover.png'), fullPage: true });
  await ctx.close();
});
