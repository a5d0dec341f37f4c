/**
 * PD's GC safe point through a real store hosting PD: a client reads it (`PdCluster`), it
 * never moves back, and it is still there after the store restarts from its engine (PD's
 * log and snapshot replayed).
 */
import { describe, expect, it } from 'vitest';
import { MemoryDisk, MemoryEngine } from '@peerkv/storage';
import { PdCluster } from '../src/index.ts';

async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for: ${what}`);
}

describe('GC safe point in a PD-driven cluster', () => {
  it('is read by clients, never moves back, and survives a restart', async () => {
    const disks = new Map<string, MemoryDisk>();
    const c = new PdCluster({
      openEngine: async (name, cfs) => {
        if (!disks.has(name)) disks.set(name, new MemoryDisk());
        return MemoryEngine.open({ columnFamilies: cfs, disk: disks.get(name) });
      },
      store: { tickIntervalMs: 10 },
    });
    try {
      const store = await c.bootstrap('dev-a');
      expect(await c.getGcSafePoint()).toBe(0n);
      const sp = (1_763_000_000_000n << 18n) | 3n;
      const r = await store.pdPropose({ kind: 'setGcSafePoint', safePoint: sp });
      expect(r).toEqual({ ok: true, value: { kind: 'gcSafePointSet', gcSafePoint: sp, advanced: true } });
      expect(await c.getGcSafePoint()).toBe(sp);
      const lower = await store.pdPropose({ kind: 'setGcSafePoint', safePoint: sp - 10n });
      expect(lower).toEqual({ ok: true, value: { kind: 'gcSafePointSet', gcSafePoint: sp, advanced: false } });
      expect(await c.getGcSafePoint()).toBe(sp);

      await c.kill(store.storeId);
      await expect(c.getGcSafePoint()).rejects.toMatchObject({ kind: 'Unavailable' });
      const back = await c.join('dev-a');
      await until('PD replayed', () => back.pdState() !== undefined);
      expect(await c.getGcSafePoint()).toBe(sp);
    } finally {
      await c.close();
    }
  });
});
