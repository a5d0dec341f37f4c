/**
 * The cluster simulator reaches the requested-snapshot path (store snapshot-request.ts): with
 * `stagedChunkLossChance`, pending applies find staged chunks gone, the replicas ask their
 * leaders for the snapshot again, and the run still converges with no violation.
 */
import { describe, expect, it } from 'vitest';
import { runClusterSeed } from '../src/cluster/index.ts';

describe('cluster mode with lost staged snapshots', () => {
  it('loses staged chunks (and drops snapshot sends) and still converges with no violation', async () => {
    let lost = 0;
    let dropped = 0;
    for (const seed of [1, 2, 3]) {
      const r = await runClusterSeed(seed, { stagedChunkLossChance: 0.1, netSnapshotDropRate: 0.02 });
      expect(r.violations).toEqual([]);
      lost += r.faults.stagedChunksLost;
      dropped += r.faults.snapshotDrops;
    }
    expect(lost).toBeGreaterThan(0);
    expect(dropped).toBeGreaterThan(0);
  }, 120_000);
});
