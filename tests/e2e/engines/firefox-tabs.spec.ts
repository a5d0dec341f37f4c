/**
 * The tab layer of the browser runtime in Firefox (issue 17): three tabs of one Firefox profile
 * elect one host with Web Locks; the others reach its Worker's store over BroadcastChannel and
 * write through it; the host tab closes while the others keep writing, another tab takes the
 * lock and reopens the store from IndexedDB, and every acknowledged write is there; then the
 * whole browser restarts on the same profile and the data is still there.
 *
 * Run with `node tests/run-e2e.mjs tests/e2e/engines/firefox-tabs.spec.ts`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import type { Browser, Page } from 'puppeteer-core';
import { launchFirefox } from '../../firefox.ts';
import { startVite, type ViteFixture } from '../browser/vite-server.ts';
import { until } from '../until.ts';

/** Keys each tab writes before the host leaves. */
const KEYS_EACH = 10;
/** Acknowledged writes each remaining tab must see past the host's departure. */
const ACKS_AFTER = 20;


let vite: ViteFixture;
let profile: string;

test.beforeAll(async () => {
  vite = await startVite();
  profile = mkdtempSync(join(tmpdir(), 'peerkv-firefox-tabs-'));
});

test.afterAll(async () => {
  await vite?.close();
  rmSync(profile, { recursive: true, force: true });
});

async function openTab(browser: Browser): Promise<Page> {
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.log(`pageerror: ${e instanceof Error ? e.message : String(e)}`));
  await page.goto(`${vite.url}tests/e2e/browser/fixture/index.html?cluster=firefox-tabs`);
  await page.waitForFunction(() => document.getElementById('state')?.textContent === 'ready', { timeout: 60_000 });
  return page;
}

/** The one host among `tabs` (fails unless exactly one tab hosts). */
async function hostIndex(tabs: Page[]): Promise<number> {
  const flags = await Promise.all(tabs.map((p) => p.evaluate(async () => (await window.harness.status()).isHost)));
  expect(flags.filter(Boolean)).toHaveLength(1);
  return flags.indexOf(true);
}

test('Firefox tabs share one host; the host tab closes, another takes over, and a browser restart keeps every acknowledged write', async () => {
  const t0 = performance.now();
  const phase = (what: string) => console.log(`firefox-tabs: ${what} at ${Math.round(performance.now() - t0)} ms`);
  let browser = await launchFirefox({ userDataDir: profile });
  try {
    phase('Firefox started');
    const tabs = await Promise.all([openTab(browser), openTab(browser), openTab(browser)]);
    phase('three tabs open');
    await Promise.all(tabs.map((p, i) => p.evaluate(async ([i, n]) => {
      for (let j = 0; j < n; j++) await window.harness.put(`before/t${i}/${j}`, `${i}:${j}`);
    }, [i, KEYS_EACH] as const)));
    const first = await tabs[0].evaluate(() => window.harness.status());
    expect(first.mode).toBe('net');
    expect(first.stores.filter((s) => s.local)).toHaveLength(1);
    expect(await tabs[2].evaluate(() => window.harness.keys('before/'))).toHaveLength(3 * KEYS_EACH);

    const host = await hostIndex(tabs);
    const rest = tabs.filter((_, i) => i !== host);
    await Promise.all(rest.map((p, i) => p.evaluate((i) => window.harness.startWriter(`during/w${i}/`), i)));
    const acked = () => Promise.all(rest.map((p) => p.evaluate(() => window.harness.ackedCount())));
    await until('both writers acknowledged writes', async () => (await acked()).every((n) => n >= 5));
    const closedAt = Date.now();
    await tabs[host].close({ runBeforeUnload: true });
    const atClose = await acked();
    await until('both writers acknowledged writes past the host tab closing', async () => (await acked()).every((n, i) => n >= atClose[i] + ACKS_AFTER), 30_000);
    const results = await Promise.all(rest.map((p) => p.evaluate((at) => window.harness.stopWriter(at), closedAt)));
    for (const r of results) expect(r.errors).toEqual([]);
    const newHost = rest[await hostIndex(rest)];
    const st = await newHost.evaluate(() => window.harness.status());
    expect(st.opened).toBe('reopened');
    console.log(
      `firefox-tabs: host tab closed; first write issued after the close acknowledged after ${results.map((r) => r.resumeMs).join(' / ')} ms; ` +
        `new host served ${st.takeoverMs} ms after its lock grant; acked across the failover ${results.reduce((n, r) => n + r.acked.length, 0)}`,
    );
    const expected = [...Array.from({ length: 3 }, (_, i) => Array.from({ length: KEYS_EACH }, (_, j) => `before/t${i}/${j}`)).flat(), ...results.flatMap((r) => r.acked)].sort();
    const all = async (p: Page) => [...(await p.evaluate(() => window.harness.keys('before/'))), ...(await p.evaluate(() => window.harness.keys('during/')))].sort();
    for (const p of rest) expect(await all(p)).toEqual(expected);
    phase('every acknowledged write read back');

    // The whole browser restarts on the same profile: the store reopens from IndexedDB.
    await browser.close();
    browser = await launchFirefox({ userDataDir: profile });
    const again = await openTab(browser);
    expect(await all(again)).toEqual(expected);
    expect((await again.evaluate(() => window.harness.status())).opened).toBe('reopened');
    phase('the restarted browser read every write back');
  } finally {
    await browser.close().catch(() => undefined);
  }
});
