/**
 * One browser of a networked spec: a Chromium process on its own persistent profile (a
 * device), on the fixture page of a cluster, its store serving. `openDevice` starts one and
 * records its context in `contexts` (closed by the spec); `browserPid(dir)` kills it.
 */
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from '@playwright/test';
import { CHROMIUM_ARGS, chromiumPath } from '../../chromium.ts';

export interface Device {
  name: string;
  /** Its profile directory. */
  dir: string;
  ctx: BrowserContext;
  page: Page;
  storeId: number;
  /** How its store opened (`bootstrapped`, `joined`, `reopened`). */
  opened: string;
}

/** Starts browser `name` (profile `root/name`) on `url` and waits for its store to serve (a put of `hello/<name>`). */
export async function openDevice(root: string, name: string, url: string, contexts: BrowserContext[]): Promise<Device> {
  const dir = join(root, name);
  const ctx = await chromium.launchPersistentContext(dir, { executablePath: chromiumPath(), args: CHROMIUM_ARGS, headless: true, permissions: ['camera', 'microphone'] });
  contexts.push(ctx);
  const page = ctx.pages()[0] ?? (await ctx.newPage());
  page.on('pageerror', (e) => console.log(`page ${name}: ${e.message}`));
  await page.goto(url);
  await page.waitForFunction(() => document.getElementById('state')?.textContent === 'ready', undefined, { timeout: 60_000 });
  await page.evaluate((nm) => window.harness.put(`hello/${nm}`, 'x'), name);
  const st = await page.evaluate(() => window.harness.status());
  return { name, dir, ctx, page, storeId: st.localStoreId!, opened: st.opened };
}
