/**
 * One device of the cross-engine spec: a browser process of either engine on its own
 * persistent profile, on the runtime fixture page (`tests/e2e/browser/fixture`), its store
 * serving. Chromium is driven by Playwright, Firefox by puppeteer-core over WebDriver BiDi
 * (`tests/firefox.ts`); `run` hides the difference. `kill` SIGKILLs the browser (no unload, no
 * goodbye to its peers); opening the same name again restarts it on the same profile.
 */
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page as PlaywrightPage } from '@playwright/test';
import type { Browser, Page as PuppeteerPage } from 'puppeteer-core';
import { CHROMIUM_ARGS, chromiumPath } from '../../chromium.ts';
import { launchFirefox } from '../../firefox.ts';
import { browserPid } from '../browser/browser-pid.ts';

/** The browser engines a device can run. */
export type Engine = 'chromium' | 'firefox';

/** Longest wait for the fixture page to load and its store to serve, ms. */
export const DEVICE_OPEN_MS_MAX = 60_000;

export interface EngineDevice {
  name: string;
  engine: Engine;
  /** Its profile directory. */
  dir: string;
  storeId: number;
  /** How its store opened (`bootstrapped`, `joined`, `reopened`). */
  opened: string;
  /** Runs `fn(arg)` in the page (both drivers serialize `arg` and the result). */
  run<A, R>(fn: (arg: A) => R | Promise<R>, arg: A): Promise<R>;
  /** Opens another tab of this browser on the same page (it attaches to the host tab's store). */
  newTab(): Promise<Tab>;
  /** SIGKILLs the browser and resolves once its driver has seen it go. */
  kill(): Promise<void>;
  /** Closes the browser (best effort). */
  close(): Promise<void>;
}

/** A tab of a device's browser on the fixture page. */
export interface Tab {
  /** Runs `fn(arg)` in the page (both drivers serialize `arg` and the result). */
  run<A, R>(fn: (arg: A) => R | Promise<R>, arg: A): Promise<R>;
  close(): Promise<void>;
}

interface Driven {
  first: Tab;
  newTab(): Promise<Tab>;
  kill(): Promise<void>;
  close(): Promise<void>;
}

/** The fixture page's harness is installed (`harness.ts` sets the marker last). */
const harnessReady = () => document.getElementById('state')?.textContent === 'ready';

async function driveChromium(name: string, dir: string, url: string): Promise<Driven> {
  const ctx: BrowserContext = await chromium.launchPersistentContext(dir, { executablePath: chromiumPath(), args: CHROMIUM_ARGS, headless: true, permissions: ['camera', 'microphone'] });
  const tab = async (page: PlaywrightPage): Promise<Tab> => {
    page.on('pageerror', (e) => console.log(`page ${name}: ${e.message}`));
    await page.goto(url);
    await page.waitForFunction(harnessReady, undefined, { timeout: DEVICE_OPEN_MS_MAX });
    return { run: (fn, arg) => page.evaluate(fn as (a: unknown) => unknown, arg) as never, close: () => page.close() };
  };
  return {
    first: await tab(ctx.pages()[0] ?? (await ctx.newPage())),
    newTab: async () => tab(await ctx.newPage()),
    kill: async () => {
      const gone = new Promise((r) => ctx.once('close', r));
      process.kill(browserPid(dir), 'SIGKILL');
      await gone;
    },
    close: () => ctx.close(),
  };
}

async function driveFirefox(name: string, dir: string, url: string): Promise<Driven> {
  const browser: Browser = await launchFirefox({ userDataDir: dir });
  const tab = async (page: PuppeteerPage): Promise<Tab> => {
    page.on('pageerror', (e) => console.log(`page ${name}: ${e instanceof Error ? e.message : String(e)}`));
    await page.goto(url);
    await page.waitForFunction(harnessReady, { timeout: DEVICE_OPEN_MS_MAX });
    return { run: (fn, arg) => page.evaluate(fn as (a: unknown) => unknown, arg) as never, close: () => page.close() };
  };
  return {
    first: await tab((await browser.pages())[0] ?? (await browser.newPage())),
    newTab: async () => tab(await browser.newPage()),
    kill: async () => {
      const pid = browser.process()?.pid;
      if (pid === undefined) throw new Error(`no Firefox process for ${name}`);
      const gone = new Promise((r) => browser.once('disconnected', r));
      // puppeteer starts Firefox as a process group leader: the content processes go with it.
      process.kill(-pid, 'SIGKILL');
      await gone;
    },
    close: () => browser.close(),
  };
}

/**
 * Starts browser `name` of `engine` on profile `root/name` at `url`, records its `close` in
 * `opened` (the spec closes them all at the end) and waits for its store to serve (a put of
 * `hello/<name>` from its first tab that succeeds, within `DEVICE_OPEN_MS_MAX`).
 */
export async function openEngineDevice(root: string, name: string, engine: Engine, url: string, opened: Array<() => Promise<void>>): Promise<EngineDevice> {
  const dir = join(root, name);
  const d = engine === 'chromium' ? await driveChromium(name, dir, url) : await driveFirefox(name, dir, url);
  opened.push(() => d.close().catch(() => undefined));
  const { run } = d.first;
  // The first put that succeeds says the store serves (created, joined or reopened). Until
  // its links to the other stores are up it can fail ('no quorum', 'no reachable replica'):
  // seen for up to 8 s under load right after a join or a restart. Each failure is printed.
  const deadline = performance.now() + DEVICE_OPEN_MS_MAX;
  for (let attempt = 1; ; attempt++) {
    try {
      await run((nm) => window.harness.put(`hello/${nm}`, 'x'), name);
      break;
    } catch (e) {
      console.log(`device ${name}: first put, attempt ${attempt}, failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
      if (performance.now() > deadline) throw e;
    }
  }
  const st = await run(() => window.harness.status(), undefined);
  return { name, engine, dir, storeId: st.localStoreId!, opened: st.opened, run, newTab: d.newTab, kill: d.kill, close: d.close };
}
