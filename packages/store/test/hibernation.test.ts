/**
 * Hibernation: idle, caught-up regions stop ticking, so a store with many idle regions does
 * no per-region work on a tick; a request wakes its region.
 */
import { describe, expect, it } from 'vitest';
import type { Region } from '@peerkv/pd';
import { MemoryEngine } from '@peerkv/storage';
import { LocalRouter, STORE_CFS, Store } from '../src/index.ts';

function region(id: number): Region {
  const k = (n: number): Uint8Array => new TextEncoder().encode(`r${String(n).padStart(5, '0')}`);
  return { id, startKey: k(id), endKey: k(id + 1), epoch: { confVer: 1, version: 1 }, peers: [{ id: 100_000 + id, storeId: 1, role: 'voter' }] };
}

describe('hibernation', () => {
  it('stops ticking 500 idle regions and wakes one on a write', async () => {
    const router = new LocalRouter();
    const engine = await MemoryEngine.open({ columnFamilies: STORE_CFS });
    const s = await Store.open({ storeId: 1, clusterId: 'h', engine, transport: router.transportFor(1), tickIntervalMs: 5, hibernateAfterTicks: 20 });
    router.register(s);
    try {
      const n = 500;
      for (let id = 2; id < 2 + n; id++) {
        await s.createRegion(region(id));
        s.campaign(id);
      }
      const asleep = (): number => s.status().regions.filter((r) => r.hibernating).length;
      for (let i = 0; i < 400 && asleep() < n; i++) await new Promise((r) => setTimeout(r, 10));
      expect(asleep()).toBe(n);
      const rounds = s.status().counters.rounds;
      await new Promise((r) => setTimeout(r, 100));
      // Twenty ticks later no region produced work.
      expect(s.status().counters.rounds).toBe(rounds);
      const target = region(77);
      const w = await s.write(77, target.epoch, 'c', 1, [{ type: 'put', cf: 'default', key: target.startKey, value: new Uint8Array([1]) }]);
      expect(w.ok).toBe(true);
      expect(s.status().regions.find((r) => r.regionId === 77)!.hibernating).toBe(false);
      expect(asleep()).toBe(n - 1);
    } finally {
      await s.close();
    }
  });
});
