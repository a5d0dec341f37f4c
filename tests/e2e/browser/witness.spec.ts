/**
 * Issue 14: "Two browsers and a witness: close A, and B keeps reading and writing." Two
 * Chromium processes on persistent profiles (A and B, one store each, WebRTC through the real
 * signaling server) and a witness store (`peerkv-store --witness`, a Node process, started
 * first: it waits for the cluster). A creates the cluster, B and the witness join; PD places
 * every region on A and B as full replicas and on the witness as a witness. Both write; A
 * closes; B keeps writing and reading (linearizably) within `FAILOVER_MS_MAX`, with every
 * earlier write there, and the witness never leads. Prints
 * `witness e2e (<model>): B writes again <ms> ms after A closed`, once on the raw data model and
 * once on mvcc (the demo's default), where B also needs timestamps from PD with A gone.
 *
 * Run with `node tests/run-e2e.mjs tests/e2e/browser/witness.spec.ts`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, expect, test, type BrowserContext, type Page } from '@playwright/test';
import { CHROMIUM_ARGS, chromiumPath } from '../../chromium.ts';
import { StoreProcess } from '../store-process.ts';
import { useNetServers } from './net-servers.ts';
import { until } from '../until.ts';

/** Keys written while both browsers are up. */
const KEYS = 100;
/** Time from A's close until B's first write and linearizable read succeed, ms. */
const FAILOVER_MS_MAX = 30_000;

const servers = useNetServers();

test('two browsers and a witness: close A, and B keeps reading and writing', async () => {
  test.setTimeout(240_000);
  await closeA('raw');
});

test('the same on the mvcc data model (the demo default): B writes with timestamps from PD alone with the witness', async () => {
  test.setTimeout(240_000);
  await closeA('mvcc');
});

/** The scenario of both tests, on the stores' data model `model` (the fixture page and the witness alike). */
async function closeA(model: 'raw' | 'mvcc'): Promise<void> {
  const t0 = performance.now();
  const phase = (what: string) => console.log(`witness e2e (${model}): ${what} at ${Math.round(performance.now() - t0)} ms`);
  const root = mkdtempSync(join(tmpdir(), 'peerkv-witness-'));
  const cluster = `witness-${Date.now().toString(36)}`;
  const contexts = new Set<BrowserContext>();
  const witness = new StoreProcess(['--witness', '--data', join(root, 'witness'), '--cluster', cluster, '--secret', 'e2e-secret', '--signaling', servers.signalingUrl(), '--tick-ms', '50', '--drain-wait-ms', '200', '--data-model', model]);
  const url = model === 'mvcc' ? `${servers.fixtureUrl(cluster)}&mvcc` : servers.fixtureUrl(cluster);
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
    const a = await launch('a');
    await a.page.evaluate(() => window.harness.put('hello/a', 'x'));
    const b = await launch('b');
    await b.page.evaluate(() => window.harness.put('hello/b', 'x'));
    const w = await witness.serving(90_000);
    expect(w.started).toBe('joined');
    const [idA, idB] = [(await status(a.page)).localStoreId!, (await status(b.page)).localStoreId!];
    const three = JSON.stringify([idA, idB, w.storeId].sort((x, y) => x - y));
    for (const d of [a, b]) {
      await until('every region on A, B and the witness', async () => {
        const v = Object.values(await d.page.evaluate(() => window.harness.localVoters()));
        return v.length >= 2 && v.every((x) => JSON.stringify(x) === three);
      }, 90_000);
    }
    const witnessFlags = await b.page.evaluate(async () => (await window.harness.status()).stores.find((s) => s.local)!.regions.flatMap((r) => r.peers.filter((p) => p.witness).map((p) => p.storeId)));
    expect(new Set(witnessFlags)).toEqual(new Set([w.storeId]));
    expect(await a.page.evaluate(([n]) => window.harness.putRange('k', 0, n, 8), [KEYS / 2] as const)).toBe(KEYS / 2);
    expect(await b.page.evaluate(([n, m]) => window.harness.putRange('k', n, m, 8), [KEYS / 2, KEYS] as const)).toBe(KEYS / 2);
    phase(`stores ${idA} (A), ${idB} (B) and witness ${w.storeId} hold every region; ${KEYS} keys written`);

    await a.ctx.close();
    contexts.delete(a.ctx);
    const closedAt = performance.now();
    phase('A closed');
    for (let i = 0; ; i++) {
      const ok = await b.page.evaluate(
        async ([k]) => {
          try {
            await window.harness.put(k, 'after');
            return (await window.harness.get(k)) === 'after';
          } catch {
            return false;
          }
        },
        [`after/${i}`] as const,
      );
      if (ok) break;
      if (performance.now() - closedAt > FAILOVER_MS_MAX) throw new Error(`B does not write and read ${FAILOVER_MS_MAX} ms after A closed`);
    }
    const failoverMs = Math.round(performance.now() - closedAt);
    console.log(`witness e2e (${model}): B writes again ${failoverMs} ms after A closed`);
    expect(await b.page.evaluate(([n]) => window.harness.putRange('more', 0, n, 8), [20] as const)).toBe(20);
    expect((await b.page.evaluate(() => window.harness.keys('k'))).length).toBe(KEYS);
    expect(await b.page.evaluate(() => Promise.all([window.harness.get('hello/a'), window.harness.get('k00099')]))).toEqual(['x', 'v99']);
    const leaders = await b.page.evaluate(async () => (await window.harness.status()).stores.flatMap((s) => s.regions.filter((r) => r.role === 'leader').map(() => s.storeId)));
    expect(leaders).not.toContain(w.storeId);
    phase('B read and wrote everything alone with the witness');
  } finally {
    for (const c of contexts) await c.close().catch(() => undefined);
    witness.kill('SIGTERM');
    await witness.exited;
    rmSync(root, { recursive: true, force: true });
  }
}
