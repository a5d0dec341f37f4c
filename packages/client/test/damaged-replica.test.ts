/**
 * A replica whose received snapshot cannot be applied (its staged stream is lost) serves
 * nothing and asks its leader for a new snapshot, which the leader streams again: the same
 * replica catches up and serves, PD replaces nothing (store snapshot-request.ts). Only when
 * those requests run out (`requestsMax`; 0 here in the second test) is it damaged: its store
 * reports it to PD (`StoreStats.damagedRegionIds`), and PD replaces it. With only three stores
 * there is nowhere else to put it, so PD removes it alone, the store destroys it, and PD adds
 * a new replica on the same store, which then catches up and serves.
 */
import { describe, expect, it } from 'vitest';
import { ForwardingEngine, MemoryEngine } from '@peerkv/storage';
import { PdCluster, PeerKV, codec } from '../src/index.ts';
import type { RegionEpoch } from '@peerkv/pd';

/** Staged snapshot chunks live in the meta cf under this first byte (store keys.ts). */
const STAGED_FIRST_BYTE = 0x6e;
const META_CF = 'meta';

async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for: ${what}`);
}

/** An engine that, while `lose` is set, has lost every staged chunk of data region `regionId`. */
class LosingStagingEngine extends ForwardingEngine {
  lose = true;
  lost = 0;
  regionId = 0;
  override async get(cf: string, key: Uint8Array): Promise<Uint8Array | undefined> {
    if (this.lose && cf === META_CF && key[0] === STAGED_FIRST_BYTE && new DataView(key.buffer, key.byteOffset).getBigUint64(1) === BigInt(this.regionId)) {
      this.lost++;
      return undefined;
    }
    return this.inner.get(cf, key);
  }
}

/** Reads every 50th of `n` keys on `store` itself (stale reads at its resolved ts are local): how many hold their value. */
type ClusterStore = Awaited<ReturnType<PdCluster['join']>>;

async function keysHeld(store: ClusterStore, regionId: number, epoch: RegionEpoch, n: number): Promise<number> {
  let count = 0;
  for (let i = 0; i < n; i += 50) if ((await localValue(store, regionId, epoch, `k${String(i).padStart(4, '0')}`)) === `v${i}`) count++;
  return count;
}

/** `key`'s value on `store`'s own replica, as of its resolved ts (a stale read: no leader asked). */
async function localValue(store: ClusterStore, regionId: number, epoch: RegionEpoch, key: string): Promise<string | undefined> {
  const r = await store.handle({ type: 'txnStaleGet', regionId, epoch, key: codec.text(key) });
  const value = r.ok && r.value.ok ? r.value.value.pairs[0]?.value : undefined;
  return value === undefined ? undefined : codec.fromText(value);
}

/** Three stores to be (a, b, and c whose staging reads of `losing().regionId` come back missing while `lose` is set). */
function cluster(snapshotTransfer: { requestIntervalMs?: number; requestsMax?: number }): PdCluster & { losing(): LosingStagingEngine } {
  let losing: LosingStagingEngine | undefined;
  const c = new PdCluster({
    openEngine: async (name, cfs) => {
      const engine = await MemoryEngine.open({ columnFamilies: cfs });
      if (name !== 'node-c') return engine;
      losing = new LosingStagingEngine(engine);
      return losing;
    },
    store: { tickIntervalMs: 20, heartbeatIntervalTicks: 5, hibernateAfterTicks: 1_000_000, requestTimeoutMs: 3000, snapshotTransfer },
    schedule: { maxStoreDownTimeMs: 5_000, operatorTimeoutMs: 20_000 },
  });
  return Object.assign(c, { losing: () => losing! });
}

describe('a replica whose snapshot staging was lost', () => {
  it('asks its leader, which sends the snapshot again: the same replica catches up and serves, PD replaces nothing', async () => {
    const c = cluster({ requestIntervalMs: 500 });
    try {
      const aStore = await c.bootstrap('node-a', { device: 'a' });
      const bStore = await c.join('node-b', { device: 'b' });
      const kv = new PeerKV({ pd: c, stores: c });
      const n = 200;
      await kv.batchPut(Array.from({ length: n }, (_, i) => ({ key: codec.text(`k${String(i).padStart(4, '0')}`), value: codec.text(`v${i}`) })));
      const regionId = c.regions()[0].id;
      const cStore = await c.join('node-c', { device: 'c' });
      c.losing().regionId = regionId;

      await until('the apply on store c failed', () => (cStore.status().snapshotTransfer?.appliesFailed ?? 0) >= 1, 30_000);
      const damagedPeer = cStore.status().regions.find((r) => r.regionId === regionId)?.peerId;
      expect(damagedPeer).toBeDefined();
      // More is written while it is out; the staging works again from now on.
      await kv.put(codec.text('k9999'), codec.text('late'));
      c.losing().lose = false;

      await until('store c applied a re-sent snapshot', () => {
        const r = cStore.status().regions.find((x) => x.regionId === regionId);
        return r !== undefined && !r.applyingSnapshot;
      }, 60_000);
      const st = cStore.status().snapshotTransfer!;
      expect(st.requestsSent).toBeGreaterThanOrEqual(1);
      expect(st.requestsAnswered).toBeGreaterThanOrEqual(1);
      expect(st.applying).toEqual([]);
      const served = [aStore, bStore].reduce((sum, s) => sum + (s.status().snapshotTransfer?.requestsServed ?? 0), 0);
      expect(served).toBeGreaterThanOrEqual(1);
      // The same replica, never reported, never replaced.
      expect(cStore.status().regions.find((x) => x.regionId === regionId)!.peerId).toBe(damagedPeer);
      expect(c.regions()[0].peers.find((p) => p.storeId === cStore.storeId)?.id).toBe(damagedPeer);

      const region = c.regions()[0];
      await until('store c holds every key', async () => (await keysHeld(cStore, regionId, region.epoch, n)) === n / 50, 30_000);
      // The late write shows once the replica's resolved ts passes its commit ts.
      await until('store c holds the late key', async () => (await localValue(cStore, regionId, region.epoch, 'k9999')) === 'late', 30_000);
      expect(c.regions()[0].peers.find((p) => p.storeId === cStore.storeId)?.id).toBe(damagedPeer);
    } finally {
      await c.close();
    }
  }, 120_000);

  it('with no requests left (requestsMax 0) is reported to PD, removed, and replaced by a new replica on the same store that serves', async () => {
    const c = cluster({ requestsMax: 0 });
    try {
      await c.bootstrap('node-a', { device: 'a' });
      await c.join('node-b', { device: 'b' });
      const kv = new PeerKV({ pd: c, stores: c });
      const n = 200;
      await kv.batchPut(Array.from({ length: n }, (_, i) => ({ key: codec.text(`k${String(i).padStart(4, '0')}`), value: codec.text(`v${i}`) })));
      expect(c.regions()).toHaveLength(1);
      const regionId = c.regions()[0].id;
      const cStore = await c.join('node-c', { device: 'c' });
      c.losing().regionId = regionId;
      const peerOnC = (): number | undefined => c.regions()[0].peers.find((p) => p.storeId === cStore.storeId)?.id;

      // Its snapshot's staging is lost: the apply fails, the replica is damaged and reported.
      await until('the apply on store c failed', () => (cStore.status().snapshotTransfer?.appliesFailed ?? 0) >= 1, 30_000);
      expect(c.losing().lost).toBeGreaterThan(0);
      const damagedPeer = cStore.status().regions.find((r) => r.regionId === regionId)?.peerId;
      expect(damagedPeer).toBeDefined();
      c.losing().lose = false;

      // PD removes it and adds a new one on store c (the only store without a replica).
      await until('a new replica on store c', () => {
        const id = peerOnC();
        return id !== undefined && id !== damagedPeer && c.regions()[0].peers.every((p) => p.role === 'voter') && c.regions()[0].peers.length === 3;
      }, 60_000);
      await until('store c applied its new replica', () => {
        const r = cStore.status().regions.find((x) => x.regionId === regionId);
        return r !== undefined && r.peerId !== damagedPeer && !r.applyingSnapshot;
      }, 30_000);
      expect(cStore.status().snapshotTransfer?.applying.filter((a) => a.failed !== undefined)).toEqual([]);

      // The new replica holds every key: read them on store c itself (stale reads are local).
      const region = c.regions()[0];
      await until('store c holds every key', async () => (await keysHeld(cStore, regionId, region.epoch, n)) === n / 50, 30_000);
      expect(codec.fromText((await kv.get(codec.text('k0199')))!)).toBe('v199');
    } finally {
      await c.close();
    }
  }, 120_000);
});
