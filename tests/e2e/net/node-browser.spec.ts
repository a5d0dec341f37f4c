/**
 * A Chromium profile's store (the default browser runtime: `openBrowser` with signaling, the
 * store in the host tab's Worker, its WebRTC peers in the page) joins a cluster of Node
 * `peerkv-store` processes. The real signaling server runs in the test process; one Node
 * store bootstraps, one joins; the browser's empty store hears members during its probe and
 * joins through PD. PD's group and the data region grow to three voters including the
 * browser's store; a write from the page is read by a Node-side client and a write from Node
 * is read in the page (and is on the page's own replica).
 *
 * Run with `node tests/run-e2e.mjs tests/e2e/net/node-browser.spec.ts`.
 */
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { BOOTSTRAP_IDS, randomTempStoreId } from '@peerkv/store';
import { PeerKV, RemotePdService, RemoteStoreResolver, codec } from 'peerkv';
import { nodeWebRtcTransport } from '@peerkv/node';
import { bootstrapAndJoin } from '../store-process.ts';
import { startNetSetup } from './net-setup.ts';
import { until } from '../until.ts';

const SECRET = 'net-e2e-secret';
const t = codec.text;
const s = codec.fromText;

test('a Chromium store joins two Node stores; writes cross both ways', async ({ browser }) => {
  test.setTimeout(150_000);
  const t0 = performance.now();
  const phase = (what: string) => console.log(`net e2e node+browser: ${what} at ${Math.round(performance.now() - t0)} ms`);
  const cleanups: (() => unknown)[] = [];
  try {
    const { signalingUrl, viteUrl, root } = await startNetSetup('peerkv-net-e2e-', cleanups);
    const cluster = `net-${randomTempStoreId()}`;
    const argsOf = (name: string, extra: string[] = []) => ['--data', join(root, name), '--cluster', cluster, '--secret', SECRET, '--signaling', signalingUrl, '--label', `device=${name}`, '--tick-ms', '50', '--drain-wait-ms', '200', '--bootstrap-probe-ms', '1000', '--data-model', 'raw', ...extra];
    const { a, b, bStoreId } = await bootstrapAndJoin(argsOf, cleanups);
    phase('2 Node stores serving');

    const ctx = await browser.newContext();
    cleanups.push(() => ctx.close());
    const page = await ctx.newPage();
    page.on('pageerror', (e) => console.error(`page: ${e.message}`));
    await page.goto(`${viteUrl}tests/e2e/browser/fixture/index.html?cluster=${cluster}&secret=${SECRET}&signaling=${encodeURIComponent(signalingUrl)}&device=chromium&probeMs=3000`);
    await page.waitForFunction(() => document.getElementById('state')?.textContent === 'ready');
    await page.evaluate(() => window.harness.put('hello', 'x'));
    const me = await page.evaluate(() => window.harness.status());
    expect(me.opened).toBe('joined');
    const myId = me.localStoreId!;
    const ids = [BOOTSTRAP_IDS.store, bStoreId, myId].sort((x, y) => x - y);
    expect(new Set(ids).size).toBe(3);
    phase(`browser store ${myId} joined`);

    // PD's group and the data region: three voters, the browser's store among them.
    await until('3 voters incl. the browser store on the page', async () => {
      const v = Object.values(await page.evaluate(() => window.harness.localVoters()));
      return v.length >= 2 && v.every((x) => JSON.stringify(x) === JSON.stringify(ids));
    }, 60_000);
    expect((await page.evaluate(() => window.harness.status())).stores.find((x) => x.local)?.stoppedReason).toBeUndefined();
    phase('3 voters of PD and data incl. the browser');

    // A client in Node (its own WebRTC under a temporary id).
    const tr = await nodeWebRtcTransport({ localStoreId: randomTempStoreId(), clusterId: cluster, secret: SECRET, signalingUrl, iceServers: [] });
    cleanups.push(() => tr.close());
    await until('the Node client reaches the 3 stores', () => ids.every((id) => tr.peers().includes(id)), 60_000).catch((e: Error) => {
      throw new Error(`${e.message}; peers: ${JSON.stringify(tr.peers())}`);
    });
    phase('the Node client reaches the 3 stores');
    const stores = new RemoteStoreResolver(tr, { requestTimeoutMs: 2000, reachable: () => tr.peers() });
    const pd = new RemotePdService(tr, { candidates: () => tr.peers(), budgetMs: 10_000, attemptTimeoutMs: 2000 });
    const kv = new PeerKV({ pd, stores, requestTimeoutMs: 2000, dataModel: 'raw' });
    cleanups.push(() => kv.close());
    // The engine label is read in the store's Worker (navigator.userAgentData / userAgent).
    expect((await pd.getStore(myId))?.labels).toEqual({ device: 'chromium', engine: 'chromium' });

    for (let i = 0; i < 20; i++) await page.evaluate((j) => window.harness.put(`from-browser-${j}`, `b${j}`), i);
    for (const i of [0, 7, 19]) expect(s((await kv.get(t(`from-browser-${i}`)))!)).toBe(`b${i}`);
    for (let i = 0; i < 20; i++) await kv.put(t(`from-node-${i}`), t(`n${i}`));
    for (const i of [0, 7, 19]) expect(await page.evaluate((j) => window.harness.get(`from-node-${j}`), i)).toBe(`n${i}`);
    await until('the page\'s own replica holds the Node write', async () => (await page.evaluate(() => window.harness.digest('from-node-', true))).count === 20, 20_000);
    phase('writes cross both ways');

    await page.close();
    for (const p of [a, b]) p.kill('SIGTERM');
    expect(await Promise.all([a.exited, b.exited])).toEqual([0, 0]);
    phase('closed');
  } finally {
    for (const c of cleanups.reverse()) await c();
  }
});
