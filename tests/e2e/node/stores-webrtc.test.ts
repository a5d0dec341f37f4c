/**
 * Three `peerkv-store` processes form a cluster over real WebRTC (`@roamhq/wrtc`) through
 * an in-process signaling server on 127.0.0.1: one bootstraps, two join through PD. A
 * client in the test process (its own WebRTC transport under a temporary id, routing by
 * `RemotePdService`, data by `RemoteStoreResolver`) waits for three replicas of PD and the
 * data, writes and reads; the bootstrap store's process is killed (SIGKILL), the client
 * keeps writing and reading; the process restarts from its directory and catches up.
 * Finally every process stops on SIGTERM (drain, close) with exit code 0.
 *
 * Run with `node tests/e2e/node/run.mjs` (enters a loopback-only network namespace as root).
 */
import { StoreProcess } from '../store-process.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SignalingServer } from '@peerkv/signaling';
import { BOOTSTRAP_IDS, PD_REGION_ID, randomTempStoreId } from '@peerkv/store';
import { PeerKV, RemotePdService, RemoteStoreResolver, codec } from 'peerkv';
import { nodeWebRtcTransport } from '@peerkv/node';

const t = codec.text;
const s = codec.fromText;
const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 40_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for: ${what}`);
}

/** Starts a store process that is killed when the suite ends. */
function startStore(args: string[]): StoreProcess {
  const p = new StoreProcess(args);
  cleanups.push(() => p.kill('SIGKILL'));
  return p;
}

describe('peerkv-store processes over WebRTC (Node, @roamhq/wrtc)', () => {
  it('form a cluster through PD, survive a killed process, and the restarted one catches up', async () => {
    const t0 = performance.now();
    const phase = (what: string) => console.log(`e2e node: ${what} at ${Math.round(performance.now() - t0)} ms`);
    const signaling = new SignalingServer();
    const addr = await signaling.listen(0, '127.0.0.1');
    cleanups.push(() => signaling.close());
    const url = `ws://127.0.0.1:${addr.port}`;
    const root = mkdtempSync(join(tmpdir(), 'peerkv-e2e-'));
    cleanups.push(() => rmSync(root, { recursive: true, force: true }));
    const cluster = `e2e-${randomTempStoreId()}`;
    const argsOf = (name: string, extra: string[] = []) => ['--data', join(root, name), '--cluster', cluster, '--secret', 'e2e-secret', '--signaling', url, '--label', `device=${name}`, '--tick-ms', '50', '--drain-wait-ms', '300', '--bootstrap-probe-ms', '1000', '--data-model', 'raw', ...extra];

    const a = startStore(argsOf('a', ['--bootstrap']));
    expect(await a.serving()).toEqual({ storeId: BOOTSTRAP_IDS.store, started: 'bootstrapped' });
    const b = startStore(argsOf('b'));
    const c = startStore(argsOf('c'));
    const [sb, sc] = [await b.serving(), await c.serving()];
    expect([sb.started, sc.started]).toEqual(['joined', 'joined']);
    const ids = [BOOTSTRAP_IDS.store, sb.storeId, sc.storeId];
    phase('3 stores serving');
    expect(new Set(ids).size).toBe(3);

    const tr = await nodeWebRtcTransport({ localStoreId: randomTempStoreId(), clusterId: cluster, secret: 'e2e-secret', signalingUrl: url, iceServers: [] });
    cleanups.push(() => tr.close());
    await until('the client is connected to the three stores', () => ids.every((id) => tr.peers().includes(id)));
    const stores = new RemoteStoreResolver(tr, { requestTimeoutMs: 2000, reachable: () => tr.peers() });
    const threeReplicas = async (): Promise<boolean> => {
      for (const id of ids) {
        const st = await stores.remote(id).status({ timeoutMs: 1000 });
        if (!st.ok) return false;
        const ok = [PD_REGION_ID, BOOTSTRAP_IDS.dataRegion].every((r) => st.value.regions.some((x) => x.regionId === r && x.peers.length === 3 && x.peers.every((p) => p.role === 'voter')));
        if (!ok) return false;
      }
      return true;
    };
    await until('3 replicas of PD and data on every store', threeReplicas, 60_000);
    phase('3 replicas of PD and data');

    const pd = new RemotePdService(tr, { candidates: () => tr.peers(), budgetMs: 10_000, attemptTimeoutMs: 2000 });
    const kv = new PeerKV({ pd, stores, requestTimeoutMs: 2000, dataModel: 'raw' });
    cleanups.push(() => kv.close());
    for (let i = 0; i < 20; i++) await kv.put(t(`k${i}`), t(`v${i}`));
    expect(s((await kv.get(t('k7')))!)).toBe('v7');
    expect((await pd.getStore(sb.storeId))?.labels).toEqual({ device: 'b', engine: 'node' });
    phase('20 writes read back');

    // Crash the bootstrap store's process; the other two keep serving.
    a.kill('SIGKILL');
    await a.exited;
    for (let i = 20; i < 30; i++) await kv.put(t(`k${i}`), t(`v${i}`));
    for (const i of [0, 19, 29]) expect(s((await kv.get(t(`k${i}`)))!)).toBe(`v${i}`);
    phase('10 writes with store 2 killed');

    // It restarts from its directory (the flag is ignored: the engine has an identity) and catches up.
    const a2 = startStore(argsOf('a', ['--bootstrap']));
    expect(await a2.serving()).toEqual({ storeId: BOOTSTRAP_IDS.store, started: 'restarted' });
    await kv.put(t('after'), t('restart'));
    const route = await pd.getRegion(t('after'));
    expect(route).toBeDefined();
    await until('the restarted store holds every write', async () => {
      const remote = stores.remote(BOOTSTRAP_IDS.store);
      const x = await remote.get(route!.region.id, route!.region.epoch, t('after'), 'stale', { timeoutMs: 1000 });
      const y = await remote.get(route!.region.id, route!.region.epoch, t('k29'), 'stale', { timeoutMs: 1000 });
      return x.ok && y.ok && x.value !== undefined && y.value !== undefined && s(x.value) === 'restart' && s(y.value) === 'v29';
    });
    phase('restarted store caught up');

    // Graceful stop: drain, close, exit 0.
    for (const p of [a2, b, c]) p.kill('SIGTERM');
    expect(await Promise.all([a2, b, c].map((p) => p.exited))).toEqual([0, 0, 0]);
    phase('all stopped by SIGTERM');
    expect(a2.lines.some((l) => l === 'peerkv-store: closed')).toBe(true);
  });
});
