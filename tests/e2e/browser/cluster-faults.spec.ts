/**
 * Faults inside the embedded cluster of one tab (test hooks): the leader's store stops and
 * writes resume on the others (the gap is printed), then it restarts and catches up; one
 * store is partitioned away, writes continue on the majority, and after healing every store
 * reaches the same applied index and the data is complete.
 */
import { expect, test, type Page } from '@playwright/test';
import type { WriterResult } from './fixture/harness.ts';
import { startVite, type ViteFixture } from './vite-server.ts';

let vite: ViteFixture;

test.beforeAll(async () => {
  vite = await startVite();
});

test.afterAll(async () => {
  await vite?.close();
});

async function open(page: Page, cluster: string, model: 'raw' | 'mvcc' = 'raw'): Promise<void> {
  page.on('pageerror', (e) => console.log(`pageerror: ${e.message}`));
  await page.goto(`${vite.url}tests/e2e/browser/fixture/index.html?embedded&cluster=${cluster}${model === 'mvcc' ? '&mvcc' : ''}`);
  await page.waitForFunction(() => document.getElementById('state')?.textContent === 'ready');
  await page.evaluate(() => window.harness.put('w/seed', 'x'));
}

/** Runs the writer across `fault`, until it has `after` more acknowledgements; returns what it acked. */
async function writeAcross(page: Page, fault: 'stopStore' | 'partitionStore', storeId: number, after: number): Promise<WriterResult> {
  await page.evaluate(() => window.harness.startWriter('w/'));
  const acked = () => page.evaluate(() => window.harness.ackedCount());
  await expect.poll(acked, { timeout: 30_000 }).toBeGreaterThanOrEqual(5);
  const faultAt = await page.evaluate(([op, id]) => window.harness.fault(op, id), [fault, storeId] as const);
  const n = await acked();
  await expect.poll(acked, { timeout: 30_000 }).toBeGreaterThanOrEqual(n + after);
  const r = await page.evaluate((at) => window.harness.stopWriter(at), faultAt);
  expect(r.resumeMs).toBeGreaterThanOrEqual(0);
  expect(r.errors).toEqual([]);
  return r;
}

async function expectConverged(page: Page, acked: string[]): Promise<void> {
  await expect.poll(async () => (await page.evaluate(() => window.harness.converged())).ok, { timeout: 30_000 }).toBe(true);
  const keys = await page.evaluate(() => window.harness.keys('w/'));
  expect(keys).toEqual(['w/seed', ...acked].sort());
}

for (const model of ['raw', 'mvcc'] as const) {
test(`the leader store stops: writes resume on the others; it restarts and catches up (${model})`, async ({ page }) => {
  await open(page, `stop-leader-${model}`, model);
  const leader = (await page.evaluate(() => window.harness.leaderStore('w/')))!;
  expect(leader).toBeGreaterThan(0);
  const r = await writeAcross(page, 'stopStore', leader, 15);
  const st = await page.evaluate(() => window.harness.status());
  expect(st.stores.find((s) => s.storeId === leader)!.up).toBe(false);
  const newLeader = await page.evaluate(() => window.harness.leaderStore('w/'));
  expect(newLeader).not.toBe(leader);
  console.log(`cluster-faults (${model}): leader store ${leader} stopped; writes resumed on store ${newLeader}: first write issued after the stop acknowledged ${r.resumeMs} ms after it; longest gap between acknowledged writes ${r.gapMsMax} ms`);
  await page.evaluate((id) => window.harness.kv.startStore(id), leader);
  await page.evaluate(() => window.harness.put('w/zz-after-restart', 'y'));
  await expectConverged(page, [...r.acked, 'w/zz-after-restart']);
  const applied = (await page.evaluate(() => window.harness.converged())).applied;
  console.log(`cluster-faults (${model}): store ${leader} caught up; applied index per region ${JSON.stringify(applied)}`);
});
}

test('a partitioned store: writes continue on the majority; after healing all stores converge', async ({ page }) => {
  await open(page, 'partition');
  const leader = (await page.evaluate(() => window.harness.leaderStore('w/')))!;
  const r = await writeAcross(page, 'partitionStore', leader, 15);
  const st = await page.evaluate(() => window.harness.status());
  expect(st.stores.find((s) => s.storeId === leader)!.partitioned).toBe(true);
  // The majority elected a leader of its own; the cut-off store cannot commit anything.
  const majorityLeader = await page.evaluate(() => window.harness.leaderStore('w/'));
  expect(majorityLeader).not.toBe(leader);
  const { applied } = await page.evaluate(() => window.harness.converged());
  const lagging = Object.values(applied).some((a) => new Set(a).size > 1);
  expect(lagging).toBe(true);
  console.log(`cluster-faults: store ${leader} partitioned; writes continued on store ${majorityLeader}: resumed ${r.resumeMs} ms after the cut, longest gap ${r.gapMsMax} ms; applied while cut ${JSON.stringify(applied)}`);
  await page.evaluate(() => window.harness.kv.heal());
  await expectConverged(page, r.acked);
  console.log(`cluster-faults: healed; applied index per region ${JSON.stringify((await page.evaluate(() => window.harness.converged())).applied)}`);
});

test('openBrowser() with no options opens the profile\'s networked store of cluster default; test hooks stay off', async ({ page }) => {
  page.on('pageerror', (e) => console.log(`pageerror: ${e.message}`));
  await page.goto(`${vite.url}tests/e2e/browser/fixture/index.html?defaults`);
  await page.waitForFunction(() => document.getElementById('state')?.textContent === 'ready');
  await page.evaluate(() => window.harness.put('d/1', 'one'));
  expect(await page.evaluate(() => window.harness.get('d/1'))).toBe('one');
  const st = await page.evaluate(() => window.harness.status());
  expect(st.cluster).toBe('default');
  expect(st.mode).toBe('net');
  expect(st.stores.filter((s) => s.local).map((s) => s.database)).toEqual(['peerkv:default:store']);
  expect(st.testHooks).toBe(false);
  expect(st.isHost).toBe(true);
  expect(st.storage?.quotaBytes).toBeGreaterThan(0);
  expect(['boolean', 'string']).toContain(typeof st.persisted);
  const err = await page.evaluate((id) => window.harness.kv.stopStore(id).then(() => 'stopped', (e: { kind?: string }) => e.kind), st.localStoreId!);
  expect(err).toBe('HooksDisabled');
});
