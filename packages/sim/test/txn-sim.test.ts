/**
 * `--txn` mode: a few seeds of transactional workloads on whole clusters run clean (no SI
 * anomaly, no bad bank read, no cluster violation; simulated browser tabs among the clients,
 * their transactions through host tabs that die mid-request) with each transaction fault
 * (`txn-net.ts`: deaths, primary-leader crashes, slow commits; short TTLs, long reads, GC)
 * exercised, a seed replays to the same history, and each deliberate bug of `TXN_MUTATIONS` is
 * caught within a few seeds by the checks named beside it (how many of seeds 1..12 catch it at
 * 937637e, and the first; bounds keep a margin).
 * Two paths are reached on purpose in every seed, not by the schedule's luck (`txn-directed.ts`):
 * expired locks the stores hand to a client, and a queued transaction overtaken before its commit.
 */
import { describe, expect, it } from 'vitest';
import { runTxnSeed, txnMutationOptions, type TxnMutationName, type TxnViolation } from '../src/cluster/index.ts';

interface MutationCase {
  name: TxnMutationName;
  seedsMax: number;
  caughtBy: readonly TxnViolation['kind'][];
  note: string;
}

const CASES: readonly MutationCase[] = [
  { name: 'commitWithoutLockCheck', seedsMax: 6, caughtBy: ['si', 'bank'], note: 'a commit after a resolver rolled the primary back: lost updates, read skew; 5 of 12, first at 1' },
  { name: 'readIgnoringLocks', seedsMax: 8, caughtBy: ['si', 'bank'], note: 'reads around a lock that committed below them: read skew, torn bank totals; 4 of 12 (5, 6, 8, 11), first at 5; 5 of 12 before sealing (51fe3b0) moved the schedules' },
  { name: 'asyncCommitBelowMaxTs', seedsMax: 4, caughtBy: ['si', 'bank'], note: 'commits below a read already served: G-single-timestamp, lost updates; 11 of 12, first at 2' },
  { name: 'gcPastReader', seedsMax: 4, caughtBy: ['si', 'bank'], note: 'a long reader re-reads a collected version: internal and missing-account; 12 of 12' },
  { name: 'replayWrites', seedsMax: 4, caughtBy: ['si', 'bank'], note: 'old writes committed again after a conflict: lost updates (TiDB 2.1.7); 12 of 12' },
  // The directed steps (txn-directed.ts) overtake a queued transaction's read in every seed: 6 of 6 at seeds 1..6, each by all 3 rounds.
  { name: 'queuedIgnoresReadTs', seedsMax: 2, caughtBy: ['si'], note: 'a queued transaction commits over writes made since its read ts: lost updates; 6 of 6, first at 1' },
  // Caught by about 45% of seeds (7 of 16 at 925b381): 6 seeds missed it once in CI (at fcbb3f9, seeds 1..6 all clean), 10 miss it about 1 time in 400.
  { name: 'replicaReadSkipsMaxTs', seedsMax: 10, caughtBy: ['si', 'bank'], note: 'a replica read the leader did not raise maxTs for: torn bank totals, lost updates; 7 of 16, first at 1' },
  // Since pessimistic transactions also commit by 1PC and async commit (a different workload), 5 of 12 at dfdcbe8 and 4 of 12 with one scan fewer per 1PC prewrite.
  { name: 'pessimisticLockIgnoresConflict', seedsMax: 10, caughtBy: ['si', 'bank'], note: 'a lock granted over a newer commit, its value read from before it: lost updates through getForUpdate, torn bank totals; 4 of 12, first at 5' },
  // Issue 14's mutation: a region's resolved ts (its safe ts) advanced past a lock still held.
  { name: 'safeTsPastLocks', seedsMax: 2, caughtBy: ['feed'], note: 'the resolved ts passes a live lock, and the change feed vouches for its later commit below the watermark without delivering it; 12 of 12, first at 1' },
  { name: 'cdcSkipDeletes', seedsMax: 2, caughtBy: ['feed'], note: 'the change feed drops delete events: committed deletes missing below a watermark; 5 of 5' },
  { name: 'cdcBufferIgnoresFloor', seedsMax: 2, caughtBy: ['feed'], note: 'the change feed answers from its live buffer below its floor: commits applied before it began missing below a watermark; 3 of 3' },
  { name: 'cdcWatermarkAhead', seedsMax: 2, caughtBy: ['feed'], note: 'the change feed vouches past its resolved ts: commits missing below a watermark; 5 of 5' },
  { name: 'tabUndeterminedAsAborted', seedsMax: 4, caughtBy: ['si', 'bank'], note: 'a tab reports a commit it never heard back from as aborted and runs it again: aborted reads (G1a); 1 of 6, first at 1' },
  { name: 'tabWatchResumesAhead', seedsMax: 2, caughtBy: ['tabFeed'], note: 'a watching tab reopens its watch above the watermark it yielded after a host died: commits missing below a later watermark; 6 of 6, first at 1 (at 9448e91)' },
];

describe('sim --txn', () => {
  it('runs seeds clean, with every outcome kind and the faults exercised', { timeout: 120_000 }, async () => {
    const tabs = { tabTxns: 0, tabHostDeaths: 0, tabCloses: 0, tabUndetermined: 0 };
    const faults = { primaryLeaderCrashes: 0, clientDeaths: 0, slowCommits: 0, heartbeatsLost: 0, shortTtl: 0, longRead: 0, gcSafePoints: 0, gcStoreVersionsDropped: 0 };
    // Seed 16 for the primary-leader crash (planned for about 1.5% of transactions): seeds 1 and 2 have none.
    for (const seed of [1, 2, 16]) {
      const r = await runTxnSeed(seed);
      expect(r.violations.map((v) => `${v.kind}: ${v.message.slice(0, 400)}`), `seed ${seed}`).toEqual([]);
      expect(r.committed).toBeGreaterThan(20);
      expect(r.aborted).toBeGreaterThan(0);
      expect(r.bankReads).toBeGreaterThan(0);
      expect(r.regions).toBeGreaterThan(1);
      // The change feed delivered and was checked (its violations are in the list above).
      expect(r.feed.feedChecked).toBeGreaterThan(20);
      expect(r.feed.feedWatermarks).toBeGreaterThan(3);
      // The directed steps (txn-directed.ts): a transaction abandoned across stores whose expired
      // locks the stores handed to a client, and an overtaken queued transaction the stores refused.
      expect(r.workload.directedAbandoned, `seed ${seed}`).toBeGreaterThan(0);
      expect(r.storeLockResolution.locksHanded, `seed ${seed}`).toBeGreaterThan(0);
      expect(r.workload.directedOvertaken, `seed ${seed}`).toBeGreaterThan(0);
      expect(r.workload.directedQueuedRefused, `seed ${seed}`).toBeGreaterThan(0);
      for (const k of Object.keys(tabs) as (keyof typeof tabs)[]) tabs[k] += r.tabs[k];
      faults.primaryLeaderCrashes += r.net.primaryLeaderCrashes;
      faults.clientDeaths += r.net.clientDeaths;
      faults.slowCommits += r.net.slowCommits;
      faults.heartbeatsLost += r.net.heartbeatsLost;
      faults.shortTtl += r.workload.shortTtl;
      faults.longRead += r.workload.longRead;
      faults.gcSafePoints += r.gc.safePoints;
      faults.gcStoreVersionsDropped += r.gc.storeVersionsDropped;
    }
    // Every transaction fault of the run happened at least once over the seeds (counts at
    // seeds 1, 2, 16: crashes 0+0+3, deaths 4+1+1, slow commits 0+1+1, heartbeats lost 0+1+9,
    // short TTLs 19+13+10, long reads 2+2+2, safe points 3+3+1, versions the stores' GC dropped 0+6+0).
    for (const [fault, n] of Object.entries(faults)) expect(n, fault).toBeGreaterThan(0);
    // Tabs ran transactions through the hosts, hosts died holding their calls, tabs closed
    // mid-commit and reported those commits Undetermined (checked in the history above).
    expect(tabs.tabTxns).toBeGreaterThan(10);
    expect(tabs.tabHostDeaths).toBeGreaterThan(0);
    expect(tabs.tabCloses).toBeGreaterThan(0);
    expect(tabs.tabUndetermined).toBeGreaterThan(0);
  });

  it('replays a seed to the same history; without GC (seed 3) the stores still resolve through a client the expired locks whose primary another store leads', { timeout: 60_000 }, async () => {
    const a = await runTxnSeed(3);
    const b = await runTxnSeed(3);
    expect(b.historyHash).toBe(a.historyHash);
    // GC off in this seed: the stores' lock resolver is wired all the same (as every
    // deployment does), since their resolved ts needs it: a rolled-back transaction's secondary
    // locks, led away from its primary, held the feed's watermark below them for good without it
    // (sim --txn seed 39 on the idle branch's timeline).
    expect(a.gc.safePoints).toBe(0);
    // The directed steps abandon a transaction across stores in every seed (txn-directed.ts).
    expect(a.workload.directedAbandoned).toBeGreaterThan(0);
    expect(a.storeLockResolution.locksHanded).toBeGreaterThan(0);
    expect(a.violations.map((v) => `${v.kind}: ${v.message.slice(0, 400)}`)).toEqual([]);
  });

  it('seed 4 abandons a transaction across stores too, after arranging its regions (a split, a leader transfer)', { timeout: 60_000 }, async () => {
    // Seed 4 had directedAbandoned=0 before arrangeAcrossLeaders: one store led every region.
    const r = await runTxnSeed(4);
    expect(r.workload.directedAbandoned).toBeGreaterThan(0);
    expect(r.workload.directedSplits + r.workload.directedLeaderTransfers).toBeGreaterThan(0);
    expect(r.violations.map((v) => `${v.kind}: ${v.message.slice(0, 400)}`)).toEqual([]);
  });

  for (const c of CASES) {
    it(`catches mutation ${c.name} within ${c.seedsMax} seeds (${c.note})`, { timeout: 120_000 }, async () => {
      for (let seed = 1; seed <= c.seedsMax; seed++) {
        const r = await runTxnSeed(seed, txnMutationOptions(c.name));
        if (r.violations.some((v) => c.caughtBy.includes(v.kind))) return;
      }
      expect.fail(`mutation ${c.name} was not caught in seeds 1..${c.seedsMax}`);
    });
  }
});
