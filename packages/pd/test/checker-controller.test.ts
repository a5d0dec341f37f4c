/**
 * The checker controller (issue 16): a scheduling round checks a bounded patrol batch plus the
 * dirty regions instead of every region. What it promises: a region a heartbeat changed, whose
 * operator ended or whose store changed is checked in the next round; a refused check is
 * retried in the next round; a region no event touches is checked within one patrol lap.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { SchedulerOptions } from '../src/index.ts';
import { CheckerController, compareKeys } from '../src/index.ts';
import { heartbeat } from './helpers.ts';
import type { SimRegion } from './sim-cluster.ts';
import { regionsOn, SimCluster } from './sim-cluster.ts';

/** Regions in this test's clusters. */
const REGIONS = 200;
/** The patrol visits this many a round: a lap is REGIONS / PER_ROUND = 20 rounds. */
const PER_ROUND = 10;
const LAP_ROUNDS = REGIONS / PER_ROUND;
const OPTIONS: Partial<SchedulerOptions> = { patrolRegionsPerRoundMin: PER_ROUND, patrolRegionsPerRoundMax: PER_ROUND };
const DOWN_MS = 10_000;

/** Stores 1, 102, 103 hold every region; 104 is spare (device d4). Settled: the first rounds' full checks are done. */
function settled(options: Partial<SchedulerOptions> = OPTIONS): SimCluster {
  const c = new SimCluster(['d2', 'd3', 'd4'], { maxStoreDownTimeMs: DOWN_MS, regionScheduleTolerance: 10_000, leaderScheduleTolerance: 10_000 }, options);
  c.setRegions(regionsOn(REGIONS, [1, 102, 103]));
  // PD's group grows to three replicas meanwhile.
  c.run(8);
  expect(c.storesOf(c.pdGroup.region.id)).toHaveLength(3);
  expect(c.scheduler.operators.size).toBe(0);
  return c;
}

/** The region the patrol visited last (just behind its cursor): the patrol comes back to it only after a lap. */
function justPatrolled(c: SimCluster): SimRegion {
  const cursor = c.scheduler.checkers.patrolCursor;
  const r = [...c.regions.values()].find((x) => compareKeys(x.region.endKey, cursor) === 0 && cursor.length > 0);
  expect(r).toBeDefined();
  return r!;
}

/** Drops the replica on store 103 from `r` (as a conf change the region's leader reports). */
function dropReplica(r: SimRegion): void {
  r.region = { ...r.region, peers: r.region.peers.filter((p) => p.storeId !== 103), epoch: { ...r.region.epoch, confVer: r.region.epoch.confVer + 1 } };
}

/** Rounds until an operator for `regionId` is added (at most `max`), or undefined. */
function roundsUntilOperator(c: SimCluster, regionId: number, max: number): number | undefined {
  for (let i = 1; i <= max; i++) {
    c.heartbeatStores();
    c.heartbeatRegions(true);
    const out = c.schedule();
    c.nowMs += 1000;
    if (out.added.some((a) => a.operator.regionId === regionId)) return i;
  }
  return undefined;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('checker controller: patrol and dirty regions', () => {
  it('checks a bounded batch per round once settled, and every region in one lap', () => {
    const c = settled();
    const seen = new Set<number>();
    for (let i = 0; i < LAP_ROUNDS; i++) {
      const before = c.scheduler.checkers.patrolCursor;
      c.run(1);
      expect(c.scheduler.lastRound.all).toBe(false);
      expect(c.scheduler.lastRound.checked).toBeLessThanOrEqual(PER_ROUND);
      for (const info of c.sm.scanRegions(before, new Uint8Array(0), PER_ROUND)) seen.add(info.region.id);
    }
    expect(seen.size).toBe(REGIONS);
  });

  it('checks every region each round while they fit one batch (as before the patrol)', () => {
    const c = settled({ patrolRegionsPerRoundMin: REGIONS });
    c.run(2);
    expect(c.scheduler.lastRound).toEqual({ checked: REGIONS, dirty: 0, all: true });
  });

  it('checks a region whose heartbeat changed in the next round, not a lap later', () => {
    const c = settled();
    const r = justPatrolled(c);
    dropReplica(r);
    // The changed heartbeat is applied this round; the very next round adds the replica back.
    expect(roundsUntilOperator(c, r.region.id, LAP_ROUNDS)).toBe(1);
    expect(c.log.at(-1)).toMatch(/^addReplica: add replica on store 10[34]/);
  });

  it('without the dirty set, the same region waits for the patrol (the test above fails then)', () => {
    const c = settled();
    vi.spyOn(CheckerController.prototype, 'markDirty').mockImplementation(() => undefined);
    const r = justPatrolled(c);
    dropReplica(r);
    const rounds = roundsUntilOperator(c, r.region.id, LAP_ROUNDS + 1);
    expect(rounds).toBeGreaterThan(LAP_ROUNDS / 2);
  });

  it('finds a change no event reports within one patrol lap', () => {
    const c = settled();
    const r = justPatrolled(c);
    // PD's record changes without the scheduler hearing of it (applied straight to the state
    // machine): only the patrol can find it, and it does within a lap.
    dropReplica(r);
    c.sm.apply({ kind: 'regionHeartbeat', heartbeat: heartbeat(r.region, r.leader, { approximateSizeBytes: r.sizeBytes, approximateKeys: r.keys }), nowMs: c.nowMs });
    const rounds = roundsUntilOperator(c, r.region.id, LAP_ROUNDS + 1);
    expect(rounds).toBeDefined();
    expect(rounds!).toBeLessThanOrEqual(LAP_ROUNDS);
    expect(rounds!).toBeGreaterThan(1);
  });

  it('checks a region again in the next round when its operator ends', () => {
    const c = settled();
    const r = justPatrolled(c);
    // A change the scheduler does not hear of (applied straight to the state machine)...
    dropReplica(r);
    c.sm.apply({ kind: 'regionHeartbeat', heartbeat: heartbeat(r.region, r.leader, { approximateSizeBytes: r.sizeBytes, approximateKeys: r.keys }), nowMs: c.nowMs });
    // ...is seen in the next round once an operator on the region ends (here: cancelled).
    c.scheduler.operators.add({ regionId: r.region.id, kind: 'balanceLeader', desc: 'test', steps: [{ kind: 'transferLeader', fromStoreId: 1, toStoreId: 102 }], epoch: r.region.epoch, createdAtMs: c.nowMs });
    c.scheduler.operators.cancel(r.region.id, c.nowMs);
    expect(roundsUntilOperator(c, r.region.id, LAP_ROUNDS)).toBe(1);
  });

  it("replaces a dead store's replicas: every region is checked in the round the store is judged down, refused ones in each next round", () => {
    const c = settled();
    const lastHeartbeatMs = c.nowMs;
    c.down.add(103);
    // Rounds before the store counts as down (silent for more than maxStoreDownTimeMs): no replacement.
    const beforeDown = Math.floor(DOWN_MS / 1000);
    c.run(beforeDown);
    expect(c.log.filter((l) => l.startsWith('replaceReplica'))).toEqual([]);
    expect(c.nowMs - lastHeartbeatMs).toBe(DOWN_MS);
    // The next round judges it down: the store's change checks every region at once, and the
    // limits (4 operators per store) take the first replacements.
    c.run(1);
    expect(c.scheduler.lastRound.all).toBe(true);
    expect(c.log.filter((l) => l.startsWith('replaceReplica'))).toHaveLength(c.sm.config.operatorsPerStoreMax);
    // Refused ones stay dirty: each round starts as many as finished, so the 200 replacements
    // take about REGIONS / 4 × (rounds per replacement), never waiting a lap between batches
    // (REGIONS / 4 × LAP_ROUNDS = 1,000 rounds if they did).
    // Add the learner, promote it, remove the old peer, and the heartbeat that shows it done.
    const roundsPerReplace = 4;
    const bound = Math.ceil(REGIONS / c.sm.config.operatorsPerStoreMax) * (roundsPerReplace + 1);
    let rounds = 0;
    const onDead = (): number => [...c.regions.values()].filter((x) => x.region.peers.some((p) => p.storeId === 103)).length;
    while (onDead() > 0 && rounds < bound * 2) {
      c.run(1);
      rounds++;
      // Replacements keep running until every region is off the dead store.
      if (onDead() > 0) expect(c.scheduler.operators.size).toBeGreaterThan(0);
    }
    expect(onDead()).toBe(0);
    expect(rounds).toBeLessThanOrEqual(bound);
    for (const x of c.regions.values()) expect(x.region.peers.map((p) => p.storeId).sort((a, b) => a - b)).toEqual([1, 102, 104]);
  });

  it('checks the region a store reports damaged in the next round', () => {
    const c = settled();
    const r = justPatrolled(c);
    c.damaged.set(103, new Set([r.region.id]));
    // The round after the store heartbeat that reports it.
    const rounds = roundsUntilOperator(c, r.region.id, LAP_ROUNDS);
    expect(rounds).toBe(1);
    expect(c.log.at(-1)).toMatch(/replace damaged replica .* on store 103/);
  });

  it('keeps its dirty set bounded: past dirtyRegionsMax the next round checks every region', () => {
    const c = settled({ ...OPTIONS, dirtyRegionsMax: 3 });
    const ids = [...c.regions.keys()];
    for (const id of ids.slice(0, 3)) c.scheduler.checkers.markDirty(id);
    c.run(1);
    expect(c.scheduler.lastRound).toMatchObject({ all: false, dirty: 3 });
    for (const id of ids.slice(0, 4)) c.scheduler.checkers.markDirty(id);
    expect(c.scheduler.checkers.dirtyCount).toBe(0);
    c.run(1);
    expect(c.scheduler.lastRound).toEqual({ checked: REGIONS, dirty: 0, all: true });
  });

  it('checks at most dirtyRegionsPerRoundMax dirty regions a round, oldest first', () => {
    const c = settled({ ...OPTIONS, dirtyRegionsPerRoundMax: 4 });
    const ids = [...c.regions.keys()].slice(0, 6);
    for (const id of ids) c.scheduler.checkers.markDirty(id);
    c.run(1);
    expect(c.scheduler.lastRound.dirty).toBe(4);
    expect(c.scheduler.checkers.dirtyCount).toBe(2);
    c.run(1);
    expect(c.scheduler.lastRound.dirty).toBe(2);
    expect(c.scheduler.checkers.dirtyCount).toBe(0);
  });

  it('refuses bad options with a typed error', () => {
    expect(() => new CheckerController({ patrolRegionsPerRoundMin: 0 })).toThrow(RangeError);
    expect(() => new CheckerController({ patrolRegionsPerRoundMin: 10, patrolRegionsPerRoundMax: 5 })).toThrow(/must not exceed/);
    expect(new CheckerController().patrolRegionsPerRound(10_000)).toBe(128);
    expect(new CheckerController().patrolRegionsPerRound(120_000)).toBe(1000);
    expect(new CheckerController().patrolRegionsPerRound(10_000_000)).toBe(8192);
  });
});
