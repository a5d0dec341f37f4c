/**
 * Cluster-mode mutation tests: each deliberate store bug (`StoreTestMutations`), each bug of the
 * browser runtime's serving path the simulated tabs go through (`TabServeTestMutations`) and the
 * lying-disk harness mutation must be caught within a bounded number of seeds of the default
 * run (`npm run sim -- --cluster --mutation M` finds the same seed), and the seed that caught
 * it must pass without the mutation, so the violation is the bug's doing.
 *
 * Each bound is the first catching seed measured over seeds 1..60, with a margin (product
 * changes reshuffle histories); the catch rate in that range is noted beside it (measured at
 * 1f13f48 and again at b9c7215).
 */
import { describe, expect, it } from 'vitest';
import type { ClusterMutationName } from '../src/cluster/cli-cluster.ts';
import { mutationOptions, runClusterSeed, type ClusterViolationKind } from '../src/cluster/index.ts';

interface MutationCase {
  name: ClusterMutationName;
  /** Seeds tried before the mutation must have been caught. */
  seedsMax: number;
  /** The checks expected to catch it (any one will do). */
  caughtBy: readonly ClusterViolationKind[];
  /** Why it is (or is not) caught, and how often. */
  note: string;
}

const CASES: readonly MutationCase[] = [
  { name: 'dedupOff', seedsMax: 8, caughtBy: ['linearizability'], note: 'lost answers and tab resends re-apply writes; 31 of 60 seeds, first at 1' },
  { name: 'splitDedupAfterBatch', seedsMax: 8, caughtBy: ['divergence', 'linearizability'], note: 'replicas that batch the split differently hold different dedup records; 28 of 60, first at 1' },
  { name: 'snapshotWithoutDedup', seedsMax: 4, caughtBy: ['divergence', 'linearizability'], note: 'a replica built from a snapshot lacks the dedup records; 60 of 60' },
  { name: 'ackBeforePersist', seedsMax: 40, caughtBy: ['storeError', 'linearizability', 'divergence', 'liveness'], note: 'a crash loses an acknowledged append (a follower asked to commit past its log); 9 then 7 of 60, first at 6' },
  { name: 'workSetMissesStep', seedsMax: 2, caughtBy: ['storeError'], note: "a stepped message leaves its replica out of the round's work set; the store's verifyWorkSet check stops the store at the next round; seeds 1, 2 and 3 of 3" },
  { name: 'stampDropped', seedsMax: 12, caughtBy: ['linearizability'], note: "the browser runtime's serveClient drops a tab's stamp: a resend through another host applies the put or delete again; 8 of 20 (5, 6, 7, 9, 10, 18, 19, 20), first at 5 with stamped puts only; 10 of 12 (1-6, 8, 9, 10, 12) since tabs also delete and their hosts die mid-request" },
  { name: 'batchStampDropped', seedsMax: 4, caughtBy: ['linearizability'], note: "serveClient drops the stamp of a tab's batch put, batch delete or range delete (only the simulated tabs' multi-key writes reach it): a resend through another host applies it again; 9 of 12 (1, 2, 3, 5, 6, 7, 8, 10, 11), first at 1" },
  { name: 'snapshotWithoutDataKeySwitch', seedsMax: 4, caughtBy: ['dataKeySwitch'], note: "a replica built from a snapshot past its region's data-key switch names no switch where the others name it (the nemesis rotates data keys); 6 of 8 (1, 2, 3, 6, 7, 8), first at 1" },
  { name: 'rotationResumeOff', seedsMax: 8, caughtBy: ['dataKeySwitch'], note: 'a store crashed right after it acknowledged a rotation (the rotate fault crashes a share of them) forgets it and seals with the old key; 10 of 40, first at 6 (6, 7, 8, 11, 21, 23, 29, 30, 32, 33)' },
  { name: 'sealWithFirstDataKey', seedsMax: 4, caughtBy: ['dataKeySwitch'], note: "leaders seal under key 0 after their region switched: replicas apply entries under a key older than the switch; 3 of the first 4 (1, 2, 3)" },
  { name: 'unsyncedDisk', seedsMax: 6, caughtBy: ['storeError', 'linearizability', 'liveness', 'divergence', 'regionCoverage'], note: 'power cuts lose acknowledged Raft writes; 9 of 10' },
];

/**
 * Not caught reliably by random seeds; each is caught instead by a scenario that steers the
 * messages into its window (packages/client/test/store-mutations.test.ts).
 * - `restartedReadContext`: a read context reused after a restart only matters when the old
 *   incarnation's request is still pending at the leader (about one round trip) when the new
 *   one arrives, with a write acknowledged in between. Merges at the leader were seen (about
 *   one per ten seeds) but never with the commit index moved on.
 * - `sealBeforeTermApplied`: a store restarted with a data-key switch in its log and not
 *   applied, then elected, sealing before its first entry of the term applies: seed 45 of the
 *   first 50; steered in packages/store/test/sealing.test.ts.
 * - `dataKeyForwardOff`: without forwarding, a switch still reaches a leader once it follows a
 *   switched region or its store leads nothing and a region it follows gets a new leader, so by
 *   the end every region switched (0 of 40 seeds): it costs time, which no check bounds.
 *   Steered in sealing.test.ts (the leader never switches).
 * - `retireIgnoresLog`: a store retiring keys its own log still needs stops only if it then
 *   meets an entry under one; the simulator retires with every store up and converged, when no
 *   replica is behind its switch (0 of 6 seeds). Steered in sealing.test.ts (a follower behind
 *   an old-key entry retires the key, and stops on the entry).
 * - `readIndexWithoutTermCommit`: a new leader answers ReadIndex before its first commit about
 *   2-3 times a seed, and with log entries it does not know are committed about half of those,
 *   but the read must be of a key written there and acknowledged before the read began, and be
 *   served before the no-op commits. Caught once in 60 seeds at 1f13f48 (seed 11), never in 60
 *   at b9c7215 (vote messages now carry the commit index, which narrows the window).
 */
async function firstCaught(c: MutationCase): Promise<{ seed: number; kinds: ClusterViolationKind[] } | undefined> {
  for (let seed = 1; seed <= c.seedsMax; seed++) {
    const r = await runClusterSeed(seed, { mutations: mutationOptions(c.name) });
    if (r.violations.length > 0) return { seed, kinds: r.violations.map((v) => v.kind) };
  }
  return undefined;
}

describe('cluster mutation tests: the simulator finds deliberate store and disk bugs', () => {
  for (const c of CASES) {
    it(`${c.name} is caught within ${c.seedsMax} seeds (${c.note})`, async () => {
      const found = await firstCaught(c);
      expect(found, `${c.name} was not caught in ${c.seedsMax} seeds`).toBeDefined();
      expect(found!.kinds.some((k) => c.caughtBy.includes(k)), `caught by ${found!.kinds.join(', ')}`).toBe(true);
      const clean = await runClusterSeed(found!.seed);
      expect(clean.violations.map((v) => `${v.kind}: ${v.message.split('\n')[0]}`)).toEqual([]);
    }, 600_000);
  }
});
