/**
 * WebRTC end to end in Chromium, through the real signaling server: two browser contexts,
 * then two separate browser processes, exchange 10,000 messages each way (none lost,
 * duplicated or reordered); a third process with the wrong secret delivers nothing.
 * Request/response round trips (small and chunked payloads, both ways) over WebRTC between
 * contexts and over BroadcastChannel between two tabs.
 */
import { chromium, expect, test } from '@playwright/test';
import type { Browser, Page } from '@playwright/test';
import { CHROMIUM_ARGS, chromiumPath } from '../../chromium.ts';
import type { Fixture } from './serve.ts';
import { startFixture } from './serve.ts';
import type { ReceiveSummary, RoundTripSummary, StartOptions } from './fixture/harness.ts';

type Harness = {
  start(o: StartOptions): Promise<void>;
  waitPeers(ids: number[], timeoutMs: number): Promise<boolean>;
  sendSeq(target: number, n: number): Promise<number>;
  trySend(target: number, n: number): number;
  waitCount(from: number, n: number, timeoutMs: number): Promise<ReceiveSummary>;
  summary(from: number): ReceiveSummary;
  senders(): number[];
  peers(): number[];
  counters(): { drops: Record<string, number>; messagesReceived: number; rpc: Record<string, number> } | undefined;
  roundTrips(target: number, n: number, payloadBytes: number): Promise<RoundTripSummary>;
  requestKind(target: number, timeoutMs: number): Promise<string>;
};

const N = 10_000;
const CLUSTER = 'e2e-cluster';
let fx: Fixture;

test.beforeAll(async () => {
  fx = await startFixture();
});
test.afterAll(async () => {
  await fx.close();
});

async function startStore(page: Page, storeId: number, secret = 'correct horse', kind: 'webrtc' | 'bc' = 'webrtc'): Promise<void> {
  page.on('pageerror', (e) => console.error(`page ${storeId}: ${e.message}`));
  await page.goto(fx.pageUrl);
  await page.evaluate((o) => (window as unknown as { harness: Harness }).harness.start(o), { kind, storeId, clusterId: CLUSTER, secret, signalingUrl: fx.signalingUrl });
}

function h<T>(page: Page, fn: (h: Harness, arg: any) => T | Promise<T>, arg?: unknown): Promise<T> {
  return page.evaluate(([src, a]) => {
    const f = new Function(`return (${src})`)() as (h: unknown, a: unknown) => unknown;
    return f((window as unknown as { harness: unknown }).harness, a);
  }, [fn.toString(), arg] as const) as Promise<T>;
}

async function exchange(a: Page, b: Page): Promise<void> {
  expect(await h(a, (x, ids) => x.waitPeers(ids, 30_000), [2])).toBe(true);
  expect(await h(b, (x, ids) => x.waitPeers(ids, 30_000), [1])).toBe(true);
  const [sentA, sentB] = await Promise.all([h(a, (x, n) => x.sendSeq(2, n), N), h(b, (x, n) => x.sendSeq(1, n), N)]);
  expect([sentA, sentB]).toEqual([N, N]);
  const [atB, atA] = await Promise.all([h(b, (x, n) => x.waitCount(1, n, 60_000), N), h(a, (x, n) => x.waitCount(2, n, 60_000), N)]);
  expect(atB).toEqual({ count: N, exactSequence: true, duplicates: 0 });
  expect(atA).toEqual({ count: N, exactSequence: true, duplicates: 0 });
}

test('two browser contexts exchange 10,000 messages each way over WebRTC', async ({ browser }) => {
  const ctxA = await browser.newContext();
  const ctxB = await browser.newContext();
  const a = await ctxA.newPage();
  const b = await ctxB.newPage();
  await startStore(a, 1);
  await startStore(b, 2);
  await exchange(a, b);
  const m = fx.signaling.metrics();
  expect(m.topics).toBe(1);
  expect(m.drops.messageTooBig + m.drops.rateLimited).toBe(0);
  await ctxA.close();
  await ctxB.close();
});

test('two browser processes exchange 10,000 messages each way; a wrong-secret process delivers nothing', async () => {
  const launch = () => chromium.launch({ executablePath: chromiumPath(), args: CHROMIUM_ARGS });
  const browsers: Browser[] = [await launch(), await launch(), await launch()];
  try {
    const [a, b, evil] = await Promise.all(browsers.map((br) => br.newPage({ permissions: ['camera', 'microphone'] })));
    await startStore(a, 1);
    await startStore(b, 2);
    await exchange(a, b);
    await startStore(evil, 3, 'wrong secret');
    // The intruder's sealed announces reach both members and fail to open there.
    await expect.poll(async () => (await h(a, (x) => x.counters()))?.drops.signalingDecryptFailed ?? 0, { timeout: 30_000 }).toBeGreaterThan(0);
    await expect.poll(async () => (await h(b, (x) => x.counters()))?.drops.signalingDecryptFailed ?? 0, { timeout: 30_000 }).toBeGreaterThan(0);
    const queued = (await h(evil, (x) => x.trySend(1, 50))) + (await h(evil, (x) => x.trySend(2, 50)));
    expect(queued).toBe(0);
    expect((await h(evil, (x) => x.counters()))?.drops.peerUnreachable).toBe(100);
    expect(await h(evil, (x) => x.peers())).toEqual([]);
    for (const member of [a, b]) {
      expect(await h(member, (x) => x.peers())).not.toContain(3);
      expect(await h(member, (x) => x.summary(3))).toEqual({ count: 0, exactSequence: true, duplicates: 0 });
    }
  } finally {
    for (const br of browsers) await br.close();
  }
});

/** 100 small and 5 chunked (100 KB) requests each way, every echo exact; then a typed error. */
async function roundTrips(a: Page, b: Page): Promise<void> {
  expect(await h(a, (x, ids) => x.waitPeers(ids, 30_000), [2])).toBe(true);
  expect(await h(b, (x, ids) => x.waitPeers(ids, 30_000), [1])).toBe(true);
  const [small, smallBack, big, bigBack] = await Promise.all([
    h(a, (x) => x.roundTrips(2, 100, 32)),
    h(b, (x) => x.roundTrips(1, 100, 32)),
    h(a, (x) => x.roundTrips(2, 5, 100_000)),
    h(b, (x) => x.roundTrips(1, 5, 100_000)),
  ]);
  expect([small, smallBack]).toEqual([{ ok: 100, badEcho: 0, errors: [] }, { ok: 100, badEcho: 0, errors: [] }]);
  expect([big, bigBack]).toEqual([{ ok: 5, badEcho: 0, errors: [] }, { ok: 5, badEcho: 0, errors: [] }]);
  expect(await h(a, (x) => x.requestKind(7, 1000))).toBe('Unreachable');
  expect((await h(a, (x) => x.counters()))?.rpc).toMatchObject({ requestsSucceeded: 105, requestsServed: 105, requestsFailed: 1 });
}

test('request/response round trips over WebRTC (two contexts) and over BroadcastChannel (two tabs)', async ({ browser }) => {
  const ctxA = await browser.newContext();
  const ctxB = await browser.newContext();
  await startStore(await ctxA.newPage(), 1);
  await startStore(await ctxB.newPage(), 2);
  await roundTrips(ctxA.pages()[0], ctxB.pages()[0]);
  await ctxA.close();
  await ctxB.close();
  const tabs = await browser.newContext();
  const [t1, t2] = [await tabs.newPage(), await tabs.newPage()];
  await startStore(t1, 1, 'correct horse', 'bc');
  await startStore(t2, 2, 'correct horse', 'bc');
  await roundTrips(t1, t2);
  await tabs.close();
});
