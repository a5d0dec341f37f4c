/**
 * Issue 5's Node integration test: stores on LevelDB (classic-level) in temp directories
 * form a PD-driven cluster, 10,000 keys are written across several regions, a store is
 * killed, PD rebuilds its replicas on a fourth store, and every key reads back.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LevelEngine } from '@peerkv/storage/level';
import { PdCluster, PeerKV, codec } from '../src/index.ts';

async function until(what: string, cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for: ${what}`);
}

describe('PD-driven cluster on LevelDB', () => {
  it('writes 10,000 keys across regions, loses a store, rebuilds on a fourth, reads all back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'peerkv-level-'));
    const c = new PdCluster({
      openEngine: (name, cfs) => LevelEngine.open({ location: join(dir, name), columnFamilies: cfs }),
      store: { tickIntervalMs: 20, heartbeatIntervalTicks: 5, hibernateAfterTicks: 1_000_000, requestTimeoutMs: 3000, logGcThresholdEntries: 500, logGcKeepEntries: 50 },
      schedule: { maxStoreDownTimeMs: 800, regionSplitKeys: 2500, operatorTimeoutMs: 20_000 },
    });
    try {
      await c.bootstrap('node-a', { device: 'a' });
      const b = await c.join('node-b', { device: 'b' });
      await c.join('node-c', { device: 'c' });
      const allOnThree = (exclude?: number): boolean => {
        const pd = [...c.stores.values()].find((s) => s.pdIsLeader())?.pdState();
        const groups = [pd?.pdGroup?.region, ...c.regions()];
        return groups.every((r) => r !== undefined && r.peers.length === 3 && r.peers.every((p) => p.role === 'voter' && p.storeId !== exclude));
      };
      await until('3 replicas', () => allOnThree(), 30_000);

      const kv = new PeerKV({ pd: c, stores: c });
      const n = 10_000;
      const batch = 200;
      for (let i = 0; i < n; i += batch) {
        await kv.batchPut(Array.from({ length: batch }, (_, j) => ({ key: codec.text(`user${String(i + j).padStart(6, '0')}`), value: codec.text(`value-${i + j}`) })));
      }
      await until('several regions', () => c.regions().length >= 3, 30_000);

      await c.join('node-d', { device: 'd' });
      await c.kill(b.storeId);
      await until('replicas rebuilt on the fourth store', () => allOnThree(b.storeId), 60_000);

      let count = 0;
      for await (const p of kv.scan({ start: codec.text('user'), end: codec.text('usez') })) {
        expect(codec.fromText(p.value)).toBe(`value-${Number(codec.fromText(p.key).slice(4))}`);
        count++;
      }
      expect(count).toBe(n);
      console.log(`level integration: ${n} keys in ${c.regions().length} regions, rebuilt after losing store ${b.storeId}`);
    } finally {
      await c.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
