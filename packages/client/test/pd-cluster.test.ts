/**
 * A PD-driven cluster in one process: one store bootstraps, three more join; PD grows its
 * own group and the data region to three replicas, splits regions as data grows, rebuilds
 * the replicas of a killed store on the spare store, and every acknowledged write reads back.
 */
import { describe, expect, it } from 'vitest';
import { MemoryDisk, MemoryEngine } from '@peerkv/storage';
import { PD_REGION_ID } from '@peerkv/store';
import { PdCluster, PeerKV, codec } from '../src/index.ts';

async function until(what: string, cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for: ${what}`);
}

describe('PD-driven cluster', () => {
  it('replicates to 3, splits, and rebuilds a dead store\'s replicas on a spare store', async () => {
    const disks = new Map<string, MemoryDisk>();
    const c = new PdCluster({
      openEngine: async (name, cfs) => {
        if (!disks.has(name)) disks.set(name, new MemoryDisk());
        return MemoryEngine.open({ columnFamilies: cfs, disk: disks.get(name) });
      },
      store: { tickIntervalMs: 10, heartbeatIntervalTicks: 5, hibernateAfterTicks: 1_000_000, requestTimeoutMs: 2000, logGcThresholdEntries: 200, logGcKeepEntries: 20 },
      schedule: { maxStoreDownTimeMs: 600, regionSplitKeys: 400, operatorTimeoutMs: 10_000 },
    });
    try {
      const first = await c.bootstrap('dev-a', { device: 'a' });
      const kv = new PeerKV({ pd: c, stores: c });
      await kv.put(codec.text('hello'), codec.text('one store works alone'));
      const b = await c.join('dev-b', { device: 'b' });
      const d = await c.join('dev-c', { device: 'c' });
      expect(new Set([first.storeId, b.storeId, d.storeId]).size).toBe(3);

      const replicasOnThree = (): boolean => {
        const pd = [...c.stores.values()].find((s) => s.pdIsLeader())?.pdState();
        const groups = [pd?.pdGroup?.region, ...c.regions()];
        return groups.every((r) => r !== undefined && r.peers.length === 3 && r.peers.every((p) => p.role === 'voter'));
      };
      await until('3 replicas of PD and data', replicasOnThree);
      const st = await kv.status();
      expect(st.stores.length).toBe(3);
      expect(st.stores.every((x) => x.up && x.regions.some((r) => r.regionId === PD_REGION_ID))).toBe(true);
      expect(st.stores.flatMap((x) => x.regions).filter((r) => r.role === 'leader').length).toBeGreaterThanOrEqual(2);

      const n = 1500;
      for (let i = 0; i < n; i += 50) {
        await kv.batchPut(Array.from({ length: 50 }, (_, j) => ({ key: codec.text(`key${String(i + j).padStart(5, '0')}`), value: codec.text(`v${i + j}`) })));
      }
      await until('regions split', () => c.regions().length >= 3);

      const spare = await c.join('dev-d', { device: 'd' });
      const victim = b.storeId;
      await c.kill(victim);
      await until('replicas rebuilt without the dead store', () => {
        const pd = [...c.stores.values()].find((s) => s.pdIsLeader())?.pdState();
        const groups = [pd?.pdGroup?.region, ...c.regions()];
        return groups.every((r) => r !== undefined && r.peers.length === 3 && r.peers.every((p) => p.storeId !== victim && p.role === 'voter'));
      }, 30_000).catch((e) => {
        const leader = [...c.stores.values()].find((s) => s.pdIsLeader());
        const pd = leader?.pdState();
        console.log('pd leader', leader?.storeId, 'ops', JSON.stringify(leader?.pdOperators()));
        console.log('pdGroup', JSON.stringify(pd?.pdGroup?.region.peers), 'leader', JSON.stringify(pd?.pdGroup?.leader));
        for (const r of c.regions()) console.log('region', r.id, JSON.stringify(r.peers), JSON.stringify(pd?.getRegionById(r.id)?.leader));
        for (const st of pd?.listStores() ?? []) console.log('store', st.meta.id, st.meta.state, st.lastHeartbeatMs, Date.now());
        for (const s of c.stores.values()) console.log('store status', s.storeId, JSON.stringify(s.status().regions.map((r) => [r.regionId, r.role, r.term, r.peers.map((p) => p.storeId)])));
        throw e;
      });
      expect(spare.regionIds().length).toBeGreaterThan(0);
      expect(spare.regionIds()).toContain(PD_REGION_ID);

      let count = 0;
      for await (const p of kv.scan({ start: codec.text('key'), end: codec.text('kez') })) {
        expect(codec.fromText(p.value)).toBe(`v${Number(codec.fromText(p.key).slice(3))}`);
        count++;
      }
      expect(count).toBe(n);
      expect(codec.fromText((await kv.get(codec.text('hello')))!)).toBe('one store works alone');
      for (const s of c.stores.values()) expect(s.status().stoppedReason).toBeUndefined();
    } finally {
      await c.close();
    }
  }, 90_000);
});
