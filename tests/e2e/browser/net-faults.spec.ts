/**
 * Faults injected into the default runtime's stores through its test hooks, inside the
 * transport and the engine: three stores of one browser (`?store=a|b|c`, one tab each, each
 * store in its own Worker, linked over BroadcastChannel) form a cluster on their own. Store c
 * is cut off from a and b inside its transport: its write is not acknowledged and the majority
 * does not see it, while the majority keeps committing; after healing all three replicas hold
 * identical data. A slowed disk on one store delays nothing the majority needs, and the store
 * catches up once its disk is fast again.
 */
import { expect, test, type Page } from '@playwright/test';
import { startVite, type ViteFixture } from './vite-server.ts';
import { until } from '../until.ts';

let vite: ViteFixture;

test.beforeAll(async () => {
  vite = await startVite();
});

test.afterAll(async () => {
  await vite?.close();
});

interface StorePage {
  page: Page;
  id: number;
}

async function identical(stores: StorePage[], prefix: string): Promise<boolean> {
  const local = await Promise.all(stores.map((s) => s.page.evaluate((p) => window.harness.digest(p, true), prefix)));
  return local.every((x) => x.count === local[0].count && x.digest === local[0].digest);
}

test('a store partitioned inside its transport cannot commit, the majority can; healed, all converge; a slow disk is survived', async ({ browser }) => {
  const ctx = await browser.newContext();
  const cluster = `faults-${Date.now().toString(36)}`;
  const open = async (store: string): Promise<StorePage> => {
    const page = await ctx.newPage();
    page.on('pageerror', (e) => console.log(`page ${store}: ${e.message}`));
    await page.goto(`${vite.url}tests/e2e/browser/fixture/index.html?cluster=${cluster}&store=${store}&probeMs=800`);
    await page.waitForFunction(() => document.getElementById('state')?.textContent === 'ready');
    await page.evaluate((s) => window.harness.put(`hello/${s}`, s), store);
    return { page, id: (await page.evaluate(() => window.harness.status())).localStoreId! };
  };
  const a = await open('a');
  const [b, c] = await Promise.all([open('b'), open('c')]);
  const all = [a, b, c];
  const ids = all.map((s) => s.id).sort((x, y) => x - y);
  for (const s of all) {
    await until(`three voters everywhere at store ${s.id}`, async () => {
      const v = Object.values(await s.page.evaluate(() => window.harness.localVoters()));
      return v.length >= 2 && v.every((x) => JSON.stringify(x) === JSON.stringify(ids));
    });
  }

  // Cut c off from a and b inside c's transport; both sides see the links drop.
  await a.page.evaluate(() => window.harness.startWriter('maj/'));
  await c.page.evaluate((others) => window.harness.kv.partition(others), [a.id, b.id]);
  await until('a no longer counts c as a member', async () => !((await a.page.evaluate(() => window.harness.status())).members ?? []).includes(c.id));
  const minority = c.page.evaluate(() =>
    window.harness.kv.put(new TextEncoder().encode('minority'), new TextEncoder().encode('x')).then(
      () => 'acknowledged',
      (e: { kind?: string }) => e.kind ?? 'failed',
    ),
  );
  const settled = await Promise.race([minority, new Promise<string>((r) => setTimeout(() => r('pending'), 3000))]);
  expect(settled).not.toBe('acknowledged');
  expect(await a.page.evaluate(() => window.harness.get('minority'))).toBeUndefined();
  const before = await a.page.evaluate(() => window.harness.ackedCount());
  await until('the majority keeps committing', async () => (await a.page.evaluate(() => window.harness.ackedCount())) >= before + 20);
  const cutStatus = await c.page.evaluate(() => window.harness.status());
  expect(cutStatus.stores.filter((s) => s.partitioned).map((s) => s.storeId).sort()).toEqual([a.id, b.id].sort());

  await c.page.evaluate(() => window.harness.kv.heal());
  const w = await a.page.evaluate(() => window.harness.stopWriter());
  expect(w.errors).toEqual([]);
  const last = w.acked[w.acked.length - 1];
  await until('c reads the majority\'s last write', async () => (await c.page.evaluate((k) => window.harness.get(k), last)) !== undefined);
  console.log(`net-faults: store ${c.id} partitioned inside its transport; the majority acknowledged ${w.acked.length} writes meanwhile; the cut store's write: ${settled}, then ${await minority}`);
  await until('identical replicas after healing', () => identical(all, ''));

  // A slow disk on b: the majority (a and c) still commits; b catches up once fast again.
  await b.page.evaluate(() => window.harness.kv.slowDisk(300));
  expect((await b.page.evaluate(() => window.harness.status())).slowDiskMs).toBe(300);
  expect(await a.page.evaluate(() => window.harness.putRange('slow/', 0, 50, 4))).toBe(50);
  await b.page.evaluate(() => window.harness.kv.slowDisk(0));
  await until('identical replicas after the slow disk', () => identical(all, 'slow/'));
  const slowRefused = await b.page.evaluate(() => window.harness.kv.slowDisk(-1).then(() => 'ok', (e: { kind?: string }) => e.kind));
  expect(slowRefused).toBe('InvalidHook');
  await ctx.close();
});
