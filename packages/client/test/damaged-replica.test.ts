/**
 * A replica whose received snapshot cannot be applied (its staged stream is lost) is damaged:
 * it serves nothing, its store reports it to PD (`StoreStats.damagedRegionIds`), and PD
 * replaces it. With only three stores there is nowhere else to put it, so PD removes it alone,
 * the store destroys it, and PD adds a new replica on the same store, which then catches up
 * and serves. Before, the region stayed short of a replica for good.
 */
import { describe, expect, it } from 'vitest';
import { ForwardingEngine, MemoryEngine } from '@peerkv/storage';
import { PdCluster, PeerKV, codec } from '../src/index.ts';

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

describe('a damaged replica (lost snapshot staging)', () => {
  it('is reported to PD, removed, and replaced by a new replica on the same store that serves', async () => {
    let losing: LosingStagingEngine | undefined;
    const c = new PdCluster({
      openEngine: async (name, cfs) => {
        const engine = await MemoryEngine.open({ columnFamilies: cfs });
        if (name !== 'node-c') return engine;
        losing = new LosingStagingEngine(engine);
        return losing;
      },
      store: { tickIntervalMs: 20, heartbeatIntervalTicks: 5, hibernateAfterTicks: 1_000_000, requestTimeoutMs: 3000 },
      schedule: { maxStoreDownTimeMs: 5_000, operatorTimeoutMs: 20_000 },
    });
    try {
      await c.bootstrap('node-a', { device: 'a' });
      await c.join('node-b', { device: 'b' });
      const kv = new PeerKV({ pd: c, stores: c });
      const n = 200;
      await kv.batchPut(Array.from({ length: n }, (_, i) => ({ key: codec.text(`k${String(i).padStart(4, '0')}`), value: codec.text(`v${i}`) })));
      expect(c.regions()).toHaveLength(1);
      const regionId = c.regions()[0].id;
      const cStore = await c.join('node-c', { device: 'c' });
      losing!.regionId = regionId;
      const peerOnC = (): number | undefined => c.regions()[0].peers.find((p) => p.storeId === cStore.storeId)?.id;

      // Its snapshot's staging is lost: the apply fails, the replica is damaged and reported.
      await until('the apply on store c failed', () => (cStore.status().snapshotTransfer?.appliesFailed ?? 0) >= 1, 30_000);
      expect(losing!.lost).toBeGreaterThan(0);
      const damagedPeer = cStore.status().regions.find((r) => r.regionId === regionId)?.peerId;
      expect(damagedPeer).toBeDefined();
      losing!.lose = false;

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
      await until('store c holds every key', async () => {
        let count = 0;
        for (let i = 0; i < n; i += 50) {
          const r = await cStore.get(regionId, region.epoch, codec.text(`k${String(i).padStart(4, '0')}`), 'stale');
          if (r.ok && r.value !== undefined && codec.fromText(r.value) === `v${i}`) count++;
        }
        return count === n / 50;
      }, 30_000);
      expect(codec.fromText((await kv.get(codec.text('k0199')))!)).toBe('v199');
    } finally {
      await c.close();
    }
  }, 120_000);
});
