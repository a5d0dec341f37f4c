/** BroadcastChannelTransport between two tabs of one browser profile, in Chromium. */
import { expect, test } from '@playwright/test';
import type { ReceiveSummary, StartOptions } from './fixture/harness.ts';
import { bundle, servePage } from './serve.ts';

type Harness = {
  start(o: StartOptions): Promise<void>;
  waitPeers(ids: number[], timeoutMs: number): Promise<boolean>;
  sendSeq(target: number, n: number): Promise<number>;
  waitCount(from: number, n: number, timeoutMs: number): Promise<ReceiveSummary>;
  peers(): number[];
};

test('two tabs exchange messages over BroadcastChannel and see each other leave', async ({ context }) => {
  const page = await servePage(await bundle(new URL('./fixture/harness.ts', import.meta.url).pathname));
  try {
    const [a, b] = [await context.newPage(), await context.newPage()];
    for (const [p, id] of [[a, 1], [b, 2]] as const) {
      await p.goto(page.url);
      await p.evaluate((o) => (window as unknown as { harness: Harness }).harness.start(o), { kind: 'bc' as const, storeId: id, clusterId: 'bc-e2e', secret: 's' });
    }
    expect(await a.evaluate((ids) => (window as unknown as Record<string, Harness>).harness.waitPeers(ids, 20_000), [2])).toBe(true);
    expect(await b.evaluate((ids) => (window as unknown as Record<string, Harness>).harness.waitPeers(ids, 20_000), [1])).toBe(true);
    const n = 5000;
    await Promise.all([
      a.evaluate((k) => (window as unknown as Record<string, Harness>).harness.sendSeq(2, k), n),
      b.evaluate((k) => (window as unknown as Record<string, Harness>).harness.sendSeq(1, k), n),
    ]);
    const atB = await b.evaluate((k) => (window as unknown as Record<string, Harness>).harness.waitCount(1, k, 30_000), n);
    const atA = await a.evaluate((k) => (window as unknown as Record<string, Harness>).harness.waitCount(2, k, 30_000), n);
    expect(atA).toEqual({ count: n, exactSequence: true, duplicates: 0 });
    expect(atB).toEqual({ count: n, exactSequence: true, duplicates: 0 });
    await b.close({ runBeforeUnload: true });
    await expect.poll(() => a.evaluate(() => (window as unknown as Record<string, Harness>).harness.peers()), { timeout: 20_000 }).toEqual([]);
  } finally {
    await page.close();
  }
});
