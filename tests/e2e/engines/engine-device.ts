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

/** Longest wait for the fixture page to load and its store to open (create, join or reopen), ms. */
export const DEVICE_OPEN_MS_MAX = 60_000;
/**
 * Longest wait from a device's store serving to its first acknowledged put, ms: what a user
 * who just opened the app would wait. (A store just joined or restarted could not reach one
 * other store for 7-16 s until a WebRTC dial that never connects was given up after 3 s
 * instead of 15 s: 56fa735 had allowed 60 s here meanwhile. Like `REACH_MS_MAX`, the bound admits
 * two dials given up in a row, 3 s then 6 s.)
 */
export const DEVICE_FIRST_PUT_MS_MAX = 10_000;
/** Poll period while a device's store opens, ms. */
const SERVING_POLL_MS = 100;

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

/** A device's browser, launched and its page ready, its store not necessarily serving yet. */
export interface LaunchedDevice {
  name: string;
  engine: Engine;
  dir: string;
  run: Tab['run'];
  newTab: Driven['newTab'];
  kill: Driven['kill'];
  close: Driven['close'];
}

/**
 * Starts browser `name` of `engine` on profile `root/name` at `url` and records its `close` in
 * `opened` (the spec closes them all at the end); returns once its fixture page is ready.
 */
export async function launchEngineDevice(root: string, name: string, engine: Engine, url: string, opened: Array<() => Promise<void>>): Promise<LaunchedDevice> {
  const dir = join(root, name);
  const d = engine === 'chromium' ? await driveChromium(name, dir, url) : await driveFirefox(name, dir, url);
  opened.push(() => d.close().catch(() => undefined));
  return { name, engine, dir, run: d.first.run, newTab: d.newTab, kill: d.kill, close: d.close };
}

/**
 * Waits for a launched device's store to serve (its status says opened, within
 * `DEVICE_OPEN_MS_MAX`: a join can take that long under load), then for a put of
 * `hello/<name>` from its first tab to succeed within `DEVICE_FIRST_PUT_MS_MAX` of that.
 */
export async function deviceServing(d: LaunchedDevice): Promise<EngineDevice> {
  const { run, name } = d;
  const openBy = performance.now() + DEVICE_OPEN_MS_MAX;
  let st = await run(() => window.harness.status(), undefined);
  while (st.opened === 'opening') {
    if (performance.now() > openBy) throw new Error(`device ${name}: its store did not open within ${DEVICE_OPEN_MS_MAX} ms (${JSON.stringify(st.openRetry ?? {})})`);
    await new Promise((r) => setTimeout(r, SERVING_POLL_MS));
    st = await run(() => window.harness.status(), undefined);
  }
  // Until its links to the other stores are up a put can fail ('no quorum', 'no reachable
  // replica'). Each failure is printed; past DEVICE_FIRST_PUT_MS_MAX the device fails.
  const servingAt = performance.now();
  for (let attempt = 1; ; attempt++) {
    try {
      await run((nm) => window.harness.put(`hello/${nm}`, 'x'), name);
      break;
    } catch (e) {
      console.log(`device ${name}: first put, attempt ${attempt}, failed after ${Math.round(performance.now() - servingAt)} ms: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
      if (performance.now() - servingAt > DEVICE_FIRST_PUT_MS_MAX) throw e;
    }
  }
  const firstPutMs = Math.round(performance.now() - servingAt);
  console.log(`device ${name}: store serving, first put acknowledged ${firstPutMs} ms later`);
  if (firstPutMs > DEVICE_FIRST_PUT_MS_MAX) throw new Error(`device ${name}: first put acknowledged ${firstPutMs} ms after its store served, more than ${DEVICE_FIRST_PUT_MS_MAX} ms`);
  st = await run(() => window.harness.status(), undefined);
  return { ...d, storeId: st.localStoreId!, opened: st.opened };
}

/** `launchEngineDevice`, then `deviceServing`. */
export async function openEngineDevice(root: string, name: string, engine: Engine, url: string, opened: Array<() => Promise<void>>): Promise<EngineDevice> {
  return deviceServing(await launchEngineDevice(root, name, engine, url, opened));
}
