/**
 * Issue 5: a store in Chromium joins a cluster of Node `peerkv-store` processes. The real
 * signaling server runs in the test process; one Node store bootstraps, one joins; the page
 * (IndexedDB, the browser's own WebRTC) joins through PD under a temporary id. PD's group
 * and the data region grow to three voters including the browser's store; a write from the
 * page is read by a Node-side client and a write from Node is read in the page (and is on
 * the page's own replica).
 *
 * Run with `node tests/run-e2e.mjs tests/e2e/net/node-browser.spec.ts`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { BOOTSTRAP_IDS, randomTempStoreId } from '@peerkv/store';
import { PeerKV, RemotePdService, RemoteStoreResolver, codec } from 'peerkv';
import { nodeWebRtcTransport } from '../../../packages/store/src/net/node-webrtc.ts';
import type { RegionSummary } from './fixture/page.ts';
import { StoreProcess, net, startNetFixture, until } from './serve.ts';

const SECRET = 'net-e2e-secret';
const t = codec.text;
const s = codec.fromText;

test('a Chromium store joins two Node stores; writes cross both ways', async ({ browser }) => {
  const t0 = performance.now();
  const phase = (what: string) => console.log(`net e2e node+browser: ${what} at ${Math.round(performance.now() - t0)} ms`);
  const cleanups: (() => unknown)[] = [];
  try {
    const fx = await startNetFixture();
    cleanups.push(() => fx.close());
    const root = mkdtempSync(join(tmpdir(), 'peerkv-net-e2e-'));
    cleanups.push(() => rmSync(root, { recursive: true, force: true }));
    const cluster = `net-${randomTempStoreId()}`;
    const argsOf = (name: string, extra: string[] = []) => ['--data', join(root, name), '--cluster', cluster, '--secret', SECRET, '--signaling', fx.signalingUrl, '--label', `device=${name}`, '--tick-ms', '50', '--drain-wait-ms', '200', '--bootstrap-probe-ms', '1000', ...extra];
    const a = new StoreProcess(argsOf('a', ['--bootstrap']));
    cleanups.push(() => a.kill('SIGKILL'));
    expect(await a.serving()).toEqual({ storeId: BOOTSTRAP_IDS.store, started: 'bootstrapped' });
    const b = new StoreProcess(argsOf('b'));
    cleanups.push(() => b.kill('SIGKILL'));
    const sb = await b.serving();
    expect(sb.started).toBe('joined');
    phase('2 Node stores serving');

    const ctx = await browser.newContext();
    cleanups.push(() => ctx.close());
    const page = await ctx.newPage();
    page.on('pageerror', (e) => console.error(`page: ${e.message}`));
    await page.goto(fx.pageUrl);
    const me = await net(page, 'start', { clusterId: cluster, secret: SECRET, signalingUrl: fx.signalingUrl, labels: { device: 'chromium' }, store: { tickIntervalMs: 50 }, joinTimeoutMs: 30_000 });
    expect(me.started).toBe('joined');
    const ids = [BOOTSTRAP_IDS.store, sb.storeId, me.storeId].sort((x, y) => x - y);
    expect(new Set(ids).size).toBe(3);
    phase(`browser store ${me.storeId} joined`);

    // PD's group and the data region: three voters, the browser's store among them, as the page sees them and as PD routes.
    const threeVoters = (rs: RegionSummary[]) => rs.length >= 2 && rs.every((r) => JSON.stringify(r.voters) === JSON.stringify(ids));
    await until('3 voters incl. the browser store on the page', async () => threeVoters(await net(page, 'regions')), 60_000);
    await until('PD routes the data to 3 voters incl. the browser', async () => JSON.stringify(await net(page, 'routeVoters', 'x')) === JSON.stringify(ids), 20_000);
    expect(await net(page, 'stoppedReason')).toBeUndefined();
    phase('3 voters of PD and data incl. the browser');

    // A client in Node (its own WebRTC under a temporary id).
    const tr = await nodeWebRtcTransport({ localStoreId: randomTempStoreId(), clusterId: cluster, secret: SECRET, signalingUrl: fx.signalingUrl, iceServers: [] });
    cleanups.push(() => tr.close());
    await until('the Node client reaches the 3 stores', () => ids.every((id) => tr.peers().includes(id)), 60_000).catch((e: Error) => {
      throw new Error(`${e.message}; peers: ${JSON.stringify(tr.peers())}`);
    });
    phase('the Node client reaches the 3 stores');
    const stores = new RemoteStoreResolver(tr, { requestTimeoutMs: 2000, reachable: () => tr.peers() });
    const pd = new RemotePdService(tr, { candidates: () => tr.peers(), budgetMs: 10_000, attemptTimeoutMs: 2000 });
    const kv = new PeerKV({ pd, stores, requestTimeoutMs: 2000 });
    cleanups.push(() => kv.close());
    expect((await pd.getStore(me.storeId))?.labels).toEqual({ device: 'chromium' });

    for (let i = 0; i < 20; i++) await net(page, 'put', `from-browser-${i}`, `b${i}`);
    for (const i of [0, 7, 19]) expect(s((await kv.get(t(`from-browser-${i}`)))!)).toBe(`b${i}`);
    for (let i = 0; i < 20; i++) await kv.put(t(`from-node-${i}`), t(`n${i}`));
    for (const i of [0, 7, 19]) expect(await net(page, 'get', `from-node-${i}`)).toBe(`n${i}`);
    await until('the page\'s own replica holds the Node write', async () => (await net(page, 'getLocal', 'from-node-19')) === 'n19', 20_000);
    phase('writes cross both ways');

    await net(page, 'close');
    for (const p of [a, b]) p.kill('SIGTERM');
    expect(await Promise.all([a.exited, b.exited])).toEqual([0, 0]);
    phase('closed');
  } finally {
    for (const c of cleanups.reverse()) await c();
  }
});
