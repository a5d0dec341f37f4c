/**
 * Issue 10, defect 10 ("a cluster that lost its quorum never comes back"), as the demo showed
 * it: two Chromium processes on persistent profiles (A and B, one store each, WebRTC through
 * the real signaling server) form a cluster and write; A closes; B reloads: its store must
 * reopen from IndexedDB without a quorum, `status().quorum` must say it waits for one, and a
 * write or a linearizable read must fail `NoQuorum` in bounded time (a stale read still
 * answers); A reopens on its profile: within `RECOVERY_MS_MAX` both serve writes and reads
 * again, with every earlier write there. Prints `quorum-loss e2e: ... recovered in <ms> ms`.
 *
 * Run with `node tests/run-e2e.mjs tests/e2e/browser/quorum-loss.spec.ts`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, expect, test, type BrowserContext, type Page } from '@playwright/test';
import { CHROMIUM_ARGS, chromiumPath } from '../../chromium.ts';
import { useNetServers } from './net-servers.ts';
import { until } from '../until.ts';

/** Keys written while both stores are up. */
const KEYS = 200;
/** Time from A's restart until both browsers serve writes and reads again, ms. */
const RECOVERY_MS_MAX = 30_000;
/** Longest time a call needing the leader may take to fail while there is no quorum, ms. */
const NO_QUORUM_FAIL_MS_MAX = 40_000;

const servers = useNetServers();

/** A call's outcome in the page: `ok`, or the error's kind and message. */
type Outcome = { ok: true; value?: string } | { ok: false; kind: string; message: string };

async function attempt(page: Page, op: 'put' | 'get' | 'staleGet', key: string): Promise<Outcome> {
  return page.evaluate(
    async ([o, k]) => {
      const fail = (e: unknown) => ({ ok: false as const, kind: String((e as { kind?: string }).kind), message: String((e as Error).message) });
      try {
        if (o === 'put') {
          await window.harness.put(k, 'v');
          return { ok: true as const };
        }
        if (o === 'get') return { ok: true as const, value: await window.harness.get(k) };
        const v = await window.harness.kv.get(new TextEncoder().encode(k), { consistency: 'stale' });
        return { ok: true as const, value: v ? new TextDecoder().decode(v) : undefined };
      } catch (e) {
        return fail(e);
      }
    },
    [op, key] as const,
  );
}

test('two browsers lose their quorum (A closes, B reloads alone), B opens and says so, A comes back: both serve again with all data', async () => {
  test.setTimeout(240_000);
  const t0 = performance.now();
  const phase = (what: string) => console.log(`quorum-loss e2e: ${what} at ${Math.round(performance.now() - t0)} ms`);
  const root = mkdtempSync(join(tmpdir(), 'peerkv-quorum-'));
  const cluster = `quorum-${Date.now().toString(36)}`;
  const contexts = new Set<BrowserContext>();
  const url = servers.fixtureUrl(cluster);
  const ready = (page: Page) => page.waitForFunction(() => document.getElementById('state')?.textContent === 'ready', undefined, { timeout: 60_000 });
  const launch = async (name: string): Promise<{ ctx: BrowserContext; page: Page }> => {
    const ctx = await chromium.launchPersistentContext(join(root, name), { executablePath: chromiumPath(), args: CHROMIUM_ARGS, headless: true, permissions: ['camera', 'microphone'] });
    contexts.add(ctx);
    const page = ctx.pages()[0] ?? (await ctx.newPage());
    page.on('pageerror', (e) => console.log(`page ${name}: ${e.message}`));
    await page.goto(url);
    await ready(page);
    return { ctx, page };
  };
  const status = (page: Page) => page.evaluate(() => window.harness.status());
  try {
    // A creates the cluster, B joins; both hold a voter of every region, then both write.
    let a = await launch('a');
    await a.page.evaluate(() => window.harness.put('hello/a', 'x'));
    let b = await launch('b');
    await b.page.evaluate(() => window.harness.put('hello/b', 'x'));
    const [idA, idB] = [(await status(a.page)).localStoreId!, (await status(b.page)).localStoreId!];
    const both = JSON.stringify([idA, idB].sort((x, y) => x - y));
    for (const d of [a, b]) {
      await until('every region on the two stores', async () => {
        const v = Object.values(await d.page.evaluate(() => window.harness.localVoters()));
        return v.length >= 2 && v.every((x) => JSON.stringify(x) === both);
      });
    }
    expect(await a.page.evaluate(([n]) => window.harness.putRange('k', 0, n, 8), [KEYS / 2] as const)).toBe(KEYS / 2);
    expect(await b.page.evaluate(([n, m]) => window.harness.putRange('k', n, m, 8), [KEYS / 2, KEYS] as const)).toBe(KEYS / 2);
    await until('both see the quorum', async () => (await Promise.all([a, b].map((d) => status(d.page)))).every((s) => s.quorum?.state === 'ok'));
    phase(`stores ${idA} (A) and ${idB} (B) hold every region; ${KEYS} keys written`);

    // A closes; B reloads: its store reopens alone from IndexedDB.
    await a.ctx.close();
    contexts.delete(a.ctx);
    phase('A closed');
    const reloadAt = performance.now();
    await b.page.reload();
    await ready(b.page);
    const alone = await status(b.page);
    expect({ storeId: alone.localStoreId, opened: alone.opened, isHost: alone.isHost }).toEqual({ storeId: idB, opened: 'reopened', isHost: true });
    phase(`B reopened alone in ${Math.round(performance.now() - reloadAt)} ms (store open ${alone.openMs} ms)`);
    await until('B says it waits for a quorum', async () => {
      const q = (await status(b.page)).quorum;
      return q?.state === 'waiting' && q.attempts >= 1 && typeof q.lastError === 'string';
    });
    const waiting = (await status(b.page)).quorum!;
    console.log(`quorum-loss e2e: B's quorum ${JSON.stringify(waiting)}`);
    expect(waiting.unreachableStores).toContain(idA);

    // What needs the leader fails with a clear error, in bounded time; a stale read answers.
    for (const op of ['put', 'get'] as const) {
      const at = performance.now();
      const r = await attempt(b.page, op, 'k00000');
      const ms = Math.round(performance.now() - at);
      console.log(`quorum-loss e2e: ${op} without a quorum: ${JSON.stringify(r)} after ${ms} ms`);
      expect(r).toMatchObject({ ok: false, kind: 'NoQuorum' });
      expect(ms).toBeLessThan(NO_QUORUM_FAIL_MS_MAX);
    }
    expect(await attempt(b.page, 'staleGet', 'k00000')).toEqual({ ok: true, value: 'v0' });

    // A reopens on its profile: both serve writes and reads again within RECOVERY_MS_MAX.
    const backAt = performance.now();
    a = await launch('a');
    const aOpen = await status(a.page);
    expect({ storeId: aOpen.localStoreId, opened: aOpen.opened }).toEqual({ storeId: idA, opened: 'reopened' });
    phase(`A reopened in ${Math.round(performance.now() - backAt)} ms`);
    const serving = async (page: Page, tag: string): Promise<void> => {
      for (let i = 0; ; i++) {
        const w = await attempt(page, 'put', `after/${tag}/${i}`);
        if (w.ok && (await attempt(page, 'get', `after/${tag}/${i}`)).ok) return;
        if (performance.now() - backAt > RECOVERY_MS_MAX) throw new Error(`${tag} does not serve ${RECOVERY_MS_MAX} ms after A restarted: ${JSON.stringify(w)}`);
      }
    };
    await Promise.all([serving(a.page, 'a'), serving(b.page, 'b')]);
    const recoveredMs = Math.round(performance.now() - backAt);
    console.log(`quorum-loss e2e: both browsers serve writes and reads again; recovered in ${recoveredMs} ms after A restarted`);
    expect(recoveredMs).toBeLessThan(RECOVERY_MS_MAX);

    // Every earlier write is there, on both, read linearizably; both report the quorum back.
    for (const d of [a, b]) {
      const keys = await d.page.evaluate(() => window.harness.keys('k'));
      expect(keys.length).toBe(KEYS);
      expect(await d.page.evaluate(() => window.harness.get('k00199'))).toBe('v199');
      expect(await d.page.evaluate(() => Promise.all([window.harness.get('hello/a'), window.harness.get('hello/b')]))).toEqual(['x', 'x']);
      await until('status says the quorum is back', async () => (await status(d.page)).quorum?.state === 'ok', 20_000);
    }
    phase('all data on both; quorum ok on both');
  } finally {
    for (const c of contexts) await c.close().catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
  }
});
