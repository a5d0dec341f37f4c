/**
 * NAT traversal in the browser (issue 15): a Chromium profile's store opened with
 * `iceServers: [turn:…]` and `iceTransportPolicy: 'relay'` joins two Node `peerkv-store`
 * processes that are relay-only too, through a real TURN server (Debian's coturn) on
 * loopback. With relay-only ICE on both ends a data channel has no path but the TURN server:
 * the browser's store still joins (PD's group and the data region reach three voters including
 * it), its own replica holds its writes, every connected link of the page has a relay candidate
 * as the local end of its selected pair (read from `getStats()`), and coturn's log shows
 * allocations made after the browser opened. A page given `relay` without a TURN server
 * fails its open with a typed error instead of never connecting.
 *
 * Needs Debian's `coturn` (fails, does not skip, without it). Run with
 * `node tests/run-e2e.mjs tests/e2e/net/turn-browser.spec.ts`.
 */
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { BOOTSTRAP_IDS, randomTempStoreId } from '@peerkv/store';
import { bootstrapAndJoin } from '../store-process.ts';
import { startNetSetup } from './net-setup.ts';
import { TurnServer } from '../turn-server.ts';
import { until } from '../until.ts';

const SECRET = 'turn-browser-secret';

test('a Chromium store joins Node stores over relay-only ICE through coturn', async ({ browser }) => {
  test.setTimeout(150_000);
  const t0 = performance.now();
  const phase = (what: string) => console.log(`e2e turn-browser: ${what} at ${Math.round(performance.now() - t0)} ms`);
  const cleanups: (() => unknown)[] = [];
  try {
    const turn = await TurnServer.start();
    cleanups.push(() => turn.stop());
    const { signalingUrl, viteUrl, root } = await startNetSetup('peerkv-turn-browser-', cleanups);
    const cluster = `turnb-${randomTempStoreId()}`;
    const ice = ['--ice', turn.url, '--ice-username', turn.username, '--ice-credential', turn.credential, '--ice-relay-only'];
    const argsOf = (name: string, extra: string[] = []) => ['--data', join(root, name), '--cluster', cluster, '--secret', SECRET, '--signaling', signalingUrl, '--label', `device=${name}`, '--tick-ms', '50', '--drain-wait-ms', '200', '--bootstrap-probe-ms', '1000', '--data-model', 'raw', ...ice, ...extra];
    const { a, b, bStoreId } = await bootstrapAndJoin(argsOf, cleanups);
    const nodeAllocations = turn.successes('ALLOCATE');
    phase(`2 Node stores serving over relayed links (${nodeAllocations} allocations)`);

    const ctx = await browser.newContext();
    cleanups.push(() => ctx.close());
    const base = `${viteUrl}tests/e2e/browser/fixture/index.html?cluster=${cluster}&secret=${SECRET}&signaling=${encodeURIComponent(signalingUrl)}&device=chromium&probeMs=3000`;

    // `relay` with no TURN server could never connect: the open fails at once, typed.
    const bad = await ctx.newPage();
    const refused = bad.waitForEvent('pageerror', { timeout: 30_000 });
    await bad.goto(`${base}&store=misconfigured&relay&ice=${encodeURIComponent(JSON.stringify([{ urls: 'stun:127.0.0.1:3478' }]))}`);
    expect((await refused).message).toContain("iceTransportPolicy 'relay' needs a turn: or turns: server");
    await bad.close();

    const page = await ctx.newPage();
    page.on('pageerror', (e) => console.error(`page: ${e.message}`));
    // Keep the page's RTCPeerConnections (the store's WebRTC links are bridged to the page) to read their selected pairs.
    await page.addInitScript(() => {
      const Native = window.RTCPeerConnection;
      const pcs: RTCPeerConnection[] = [];
      (window as unknown as { __pcs: RTCPeerConnection[] }).__pcs = pcs;
      window.RTCPeerConnection = class extends Native {
        constructor(config?: RTCConfiguration) {
          super(config);
          pcs.push(this);
        }
      } as typeof RTCPeerConnection;
    });
    const iceServers = [{ urls: turn.url, username: turn.username, credential: turn.credential }];
    await page.goto(`${base}&relay&ice=${encodeURIComponent(JSON.stringify(iceServers))}`);
    await page.waitForFunction(() => document.getElementById('state')?.textContent === 'ready');
    await page.evaluate(() => window.harness.put('hello', 'x'));
    const me = await page.evaluate(() => window.harness.status());
    expect(me.opened).toBe('joined');
    const ids = [BOOTSTRAP_IDS.store, bStoreId, me.localStoreId!].sort((x, y) => x - y);
    expect(new Set(ids).size).toBe(3);
    phase(`browser store ${me.localStoreId} joined`);

    await until('3 voters incl. the browser store on the page', async () => {
      const v = Object.values(await page.evaluate(() => window.harness.localVoters()));
      return v.length >= 2 && v.every((x) => JSON.stringify(x) === JSON.stringify(ids));
    }, 60_000);
    phase('3 voters of PD and data incl. the browser');

    for (let i = 0; i < 10; i++) await page.evaluate((j) => window.harness.put(`from-browser-${j}`, `b${j}`), i);
    await until("the page's own replica holds its 10 writes", async () => (await page.evaluate(() => window.harness.digest('from-browser-', true))).count === 10, 20_000);
    // Every connected link of the page has a relay candidate as its local end of the selected pair.
    const local = await page.evaluate(async () => {
      const types: string[] = [];
      for (const pc of (window as unknown as { __pcs: RTCPeerConnection[] }).__pcs) {
        if (pc.connectionState !== 'connected') continue;
        const stats = [...(await pc.getStats()).values()] as { type: string; id: string; selectedCandidatePairId?: string; localCandidateId?: string; candidateType?: string }[];
        const pairId = stats.find((x) => x.type === 'transport')?.selectedCandidatePairId;
        const pair = stats.find((x) => x.id === pairId);
        types.push(stats.find((x) => x.id === pair?.localCandidateId)?.candidateType ?? 'none');
      }
      return types;
    });
    expect(local.length).toBeGreaterThanOrEqual(2);
    expect(local.every((x) => x === 'relay')).toBe(true);
    // The browser's links are relayed: its own allocations (two Node stores, each link's browser end) came after the Node stores'.
    expect(turn.successes('ALLOCATE')).toBeGreaterThanOrEqual(nodeAllocations + 2);
    expect(turn.successes('CHANNEL_BIND')).toBeGreaterThanOrEqual(3);
    phase(`coturn: ${turn.successes('ALLOCATE')} allocations, ${turn.successes('CHANNEL_BIND')} channel bindings`);

    await page.close();
    for (const p of [a, b]) p.kill('SIGTERM');
    expect(await Promise.all([a.exited, b.exited])).toEqual([0, 0]);
    phase('closed');
  } finally {
    for (const c of cleanups.reverse()) await c();
  }
});
