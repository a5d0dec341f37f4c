/**
 * A store joins a running 3-store cluster of several regions; its join progress, read from
 * the PD leader's state (`joinProgress`, what the dashboard's PD view shows), goes from
 * "0 of n placed" to "n of n placed, n caught up", and n is what PD actually placed on it.
 */
import { describe, expect, it } from 'vitest';
import { joinInputOf, joinProgress, type JoinProgress } from '@peerkv/pd';
import { PD_REGION_ID } from '@peerkv/store';
import { MemoryEngine } from '@peerkv/storage';
import { PdCluster, PeerKV, codec } from '../src/index.ts';
import { until } from './until.ts';

describe('store join progress', () => {
  it('goes from 0 of n to n of n as PD moves replicas onto a joining store', async () => {
    const c = new PdCluster({
      openEngine: (_name, cfs) => MemoryEngine.open({ columnFamilies: cfs }),
      store: { tickIntervalMs: 10, heartbeatIntervalTicks: 5, hibernateAfterTicks: 1_000_000, requestTimeoutMs: 2000, logGcThresholdEntries: 200, logGcKeepEntries: 20 },
      schedule: { regionSplitKeys: 150, operatorTimeoutMs: 10_000 },
    });
    const pd = () => [...c.stores.values()].find((s) => s.pdIsLeader())?.pdState();
    try {
      await c.bootstrap('dev-a', { device: 'a' });
      const kv = new PeerKV({ pd: c, stores: c });
      await c.join('dev-b', { device: 'b' });
      await c.join('dev-c', { device: 'c' });
      for (let i = 0; i < 1200; i += 50) {
        await kv.batchPut(Array.from({ length: 50 }, (_, j) => ({ key: codec.text(`key${String(i + j).padStart(5, '0')}`), value: codec.text(`v${i + j}`.repeat(20)) })));
      }
      const settled = (): boolean => {
        const sm = pd();
        return sm !== undefined && sm.allRegions().length >= 5 && sm.allRegions().every((i) => i.region.peers.length === 3 && i.region.peers.every((p) => p.role === 'voter') && i.pendingPeers.length === 0);
      };
      await until('several regions on three voters each', settled, 30_000);
      // Splits end: the region count holds for a second (n is then fixed from the first sample on).
      let regions = pd()!.allRegions().length;
      let sameSince = Date.now();
      await until('no more splits', () => {
        const now = pd()?.allRegions().length ?? 0;
        if (now !== regions) [regions, sameSince] = [now, Date.now()];
        return settled() && Date.now() - sameSince > 1000;
      });

      // Sampled from before the join: the first sample is taken as soon as PD records the new store.
      const before = new Set(c.stores.keys());
      const samples: JoinProgress[] = [];
      const sample = (): JoinProgress | undefined => {
        const sm = pd();
        const joiner = sm?.listStores().find((s) => !before.has(s.meta.id));
        if (!sm || !joiner) return undefined;
        const p = joinProgress(joinInputOf(sm), joiner.meta.id);
        const last = samples.at(-1);
        if (!last || JSON.stringify(last) !== JSON.stringify(p)) samples.push(p);
        return p;
      };
      const sampler = setInterval(sample, 5);
      const d = await c.join('dev-d', { device: 'd' }).finally(() => clearInterval(sampler));
      await until('the joining store is placed and caught up', () => sample()?.joined === true, 30_000);
      const final = samples.at(-1)!;
      const first = samples[0];
      expect(first.placed).toBe(0);
      expect(first.target).toBeGreaterThan(0);
      expect(first.joined).toBe(false);
      // n was known from the start: PD's balanced share of the regions, not a count that grows.
      expect(samples.every((s) => s.target === first.target)).toBe(true);
      expect(final).toEqual({ placed: final.target, caughtUp: final.target, target: final.target, joined: true });
      // n is what PD placed: the joining store holds exactly that many data replicas, and stays there.
      const dataReplicas = (): number => d.regionIds().filter((id) => id !== PD_REGION_ID).length;
      expect(dataReplicas()).toBe(final.target);
      // Progress only moves forward: placed and caught up never fall, and every sample keeps m ≤ k ≤ n.
      for (let i = 0; i < samples.length; i++) {
        const s = samples[i];
        expect(s.caughtUp).toBeLessThanOrEqual(s.placed);
        expect(s.placed).toBeLessThanOrEqual(s.target);
        if (i > 0) expect(s.caughtUp).toBeGreaterThanOrEqual(samples[i - 1].caughtUp);
      }
      console.log('join progress samples', samples.map((s) => `${s.placed}/${s.caughtUp}/${s.target}`).join(' '));
      // The balanced state holds: another few rounds move nothing more onto it.
      await new Promise((r) => setTimeout(r, 500));
      expect(sample()).toEqual(final);
      expect(dataReplicas()).toBe(final.target);
    } finally {
      await c.close();
    }
  }, 90_000);
});
