import { describe, expect, it } from 'vitest';
import { ClusterView, OperatorController, balanceLeaders } from '../src/index.ts';
import { peer } from './helpers.ts';
import { regionsOn, SimCluster } from './sim-cluster.ts';

const MIN = 60_000;

describe('replica checker', () => {
  it('grows a lone replica to three on distinct devices, preferring a new device over fewer regions', () => {
    // Stores: 1 (d1, bootstrap), 102 (d1), 103 (d2), 104 (d3).
    const c = new SimCluster(['d1', 'd2', 'd3']);
    c.run(12);
    expect(c.storesOf(2)).toEqual([1, 103, 104]);
    expect(c.regions.get(2)!.region.peers.every((p) => p.role === 'voter')).toBe(true);
  });

  it('rebuilds the peers of a store down past maxStoreDownTimeMs on the fourth store: add first, then remove', () => {
    // A wide region tolerance keeps balance-region out of this test.
    const c = new SimCluster(['d2', 'd3', 'd4'], { maxStoreDownTimeMs: 5 * MIN, regionScheduleTolerance: 100 });
    c.setRegions(regionsOn(3, [1, 102, 103]));
    c.run(2);
    c.down.add(103);
    c.run(4, MIN);
    expect(c.log.filter((l) => l.startsWith('replaceReplica'))).toEqual([]);
    c.run(20, MIN);
    for (const id of c.regions.keys()) expect(c.storesOf(id)).toEqual([1, 102, 104]);
    const replace = c.log.filter((l) => l.startsWith('replaceReplica'));
    expect(replace).toHaveLength(3);
    const ev = c.scheduler.operators.takeEvents().filter((e) => e.operator.kind === 'replaceReplica');
    expect(ev.map((e) => e.outcome)).toEqual(['success', 'success', 'success']);
    expect(ev[0].operator.steps.map((s) => s.kind)).toEqual(['addLearner', 'promoteLearner', 'removePeer']);
  });

  it('does not count a store as down until maxStoreDownTimeMs after this PD leader took over', () => {
    const c = new SimCluster(['d2', 'd3', 'd4'], { maxStoreDownTimeMs: 5 * MIN });
    c.setRegions(regionsOn(1, [1, 102, 103]));
    c.down.add(103);
    c.nowMs = 30 * MIN;
    c.leaderSinceMs = 29 * MIN;
    c.run(3, MIN);
    expect(c.storesOf(2)).toEqual([1, 102, 103]);
    c.run(8, MIN);
    expect(c.storesOf(2)).toEqual([1, 102, 104]);
  });

  it('cancels an operator whose learner waits on a store that went down, and places the replica elsewhere (cluster seed 30)', () => {
    const c = new SimCluster(['d2', 'd3', 'd4', 'd5'], { maxStoreDownTimeMs: 5 * MIN, regionScheduleTolerance: 100 });
    c.setRegions(regionsOn(1, [1, 102, 103]));
    c.run(2);
    c.down.add(103);
    const r = c.regions.get(2)!;
    let learner = undefined as (typeof r.region.peers)[number] | undefined;
    for (let i = 0; i < 20 && !learner; i++) {
      c.run(1, MIN);
      learner = r.region.peers.find((p) => p.role === 'learner');
    }
    expect(learner).toBeDefined();
    // The learner's store dies before it catches up.
    r.pending = [learner!.id];
    c.down.add(learner!.storeId);
    c.run(12, MIN);
    const stores = c.storesOf(2);
    expect(stores).not.toContain(learner!.storeId);
    expect(stores).not.toContain(103);
    expect(stores).toHaveLength(3);
    const outcomes = c.scheduler.operators.takeEvents().map((e) => e.outcome);
    expect(outcomes).toContain('cancelled');
    expect(outcomes).not.toContain('timeout');
  });

  it('cancels an operator whose learner its store reports damaged, and places the replica elsewhere', () => {
    const c = new SimCluster(['d2', 'd3', 'd4', 'd5'], { regionScheduleTolerance: 100 });
    c.setRegions(regionsOn(1, [1, 102]));
    const r = c.regions.get(2)!;
    let learner = undefined as (typeof r.region.peers)[number] | undefined;
    for (let i = 0; i < 20 && !learner; i++) {
      c.run(1);
      learner = r.region.peers.find((p) => p.role === 'learner');
    }
    expect(learner).toBeDefined();
    // The learner's snapshot cannot be applied: it stays pending, and its store says so.
    r.pending = [learner!.id];
    c.damaged.set(learner!.storeId, new Set([2]));
    c.run(8);
    expect(r.region.peers.map((p) => p.id)).not.toContain(learner!.id);
    expect(c.storesOf(2)).toHaveLength(3);
    const outcomes = c.scheduler.operators.takeEvents().map((e) => e.outcome);
    expect(outcomes).toContain('cancelled');
    expect(outcomes).not.toContain('timeout');
  });

  it('waits when no store can take the replacement', () => {
    const c = new SimCluster(['d2', 'd3'], { maxStoreDownTimeMs: MIN });
    c.setRegions(regionsOn(1, [1, 102, 103]));
    c.down.add(103);
    c.run(10, MIN);
    expect(c.storesOf(2)).toEqual([1, 102, 103]);
    expect(c.log.filter((l) => !l.startsWith('pdGroup'))).toEqual([]);
  });

  it('replaces a replica its store reports damaged on another store: add first, then remove', () => {
    const c = new SimCluster(['d2', 'd3', 'd4'], { regionScheduleTolerance: 100 });
    c.setRegions(regionsOn(1, [1, 102, 103]));
    c.damaged.set(103, new Set([2]));
    c.run(6);
    expect(c.storesOf(2)).toEqual([1, 102, 104]);
    expect(c.log.filter((l) => l.startsWith('replaceReplica'))).toHaveLength(1);
    expect(c.damaged.size).toBe(0);
  });

  it('with no other store, removes a damaged replica alone, then adds a new one on its store', () => {
    const c = new SimCluster(['d2', 'd3'], { regionScheduleTolerance: 100 });
    c.setRegions(regionsOn(1, [1, 102, 103]));
    const before = c.regions.get(2)!.region.peers.find((p) => p.storeId === 103)!;
    c.damaged.set(103, new Set([2]));
    c.run(8);
    expect(c.storesOf(2)).toEqual([1, 102, 103]);
    const after = c.regions.get(2)!.region.peers.find((p) => p.storeId === 103)!;
    expect(after.id).not.toBe(before.id);
    expect(after.role).toBe('voter');
  });

  it('keeps a damaged replica while the voters left would lack a quorum that answers', () => {
    const c = new SimCluster(['d2', 'd3'], { maxStoreDownTimeMs: 10 * MIN, regionScheduleTolerance: 100 });
    c.setRegions(regionsOn(1, [1, 102, 103]));
    c.run(1);
    // 102 is silent past half the down time (suspect, not down), then 103's replica is damaged:
    // removing it would leave 1 and a silent 102.
    const peerOn103 = (): number => c.regions.get(2)!.region.peers.find((p) => p.storeId === 103)!.id;
    const damagedPeer = peerOn103();
    c.down.add(102);
    c.run(6, MIN);
    c.damaged.set(103, new Set([2]));
    c.run(3, MIN);
    expect(c.log.filter((l) => l.startsWith('replaceReplica'))).toEqual([]);
    expect(peerOn103()).toBe(damagedPeer);
    // 102 answers again: the damaged replica goes, and a new one takes its place.
    c.down.delete(102);
    c.run(8);
    expect(c.storesOf(2)).toEqual([1, 102, 103]);
    expect(peerOn103()).not.toBe(damagedPeer);
    expect(c.damaged.size).toBe(0);
  });

  it('removes extra replicas, preferring one that shares a device and is not the leader', () => {
    const c = new SimCluster(['d2', 'd3', 'd2']);
    c.setRegions(regionsOn(1, [1, 102, 103, 104], 102));
    c.run(5);
    expect(c.storesOf(2)).toEqual([1, 102, 103]);
  });

  it('removes no extra replica while the voters left would lack a quorum of answering stores', () => {
    const c = new SimCluster(['d2', 'd3', 'd4'], { maxStoreDownTimeMs: 5 * MIN, regionScheduleTolerance: 100 });
    // Three stores go silent (past half the down time: suspect, not yet down).
    c.setRegions(regionsOn(1, [102]));
    c.down.add(1);
    c.down.add(103);
    c.down.add(104);
    c.run(3, MIN);
    // Then PD hears of four voters led on 102: any removal leaves at most one answering voter
    // of three, so nothing is removed (a removal would strand the region without a quorum).
    c.setRegions(regionsOn(1, [1, 102, 103, 104], 102).map((x) => ({ ...x, region: { ...x.region, epoch: { confVer: 50, version: 5 } } })));
    const before = c.log.length;
    c.run(3, 10_000);
    expect(c.log.slice(before).filter((l) => l.startsWith('removeReplica'))).toEqual([]);
    expect(c.storesOf(2)).toEqual([1, 102, 103, 104]);
    // Two come back: a silent one is removed, leaving two answering voters of three.
    c.down.delete(1);
    c.down.delete(103);
    c.run(6, 10_000);
    expect(c.storesOf(2)).toEqual([1, 102, 103]);
  });

  it('of two silent stores, removes the extra replica on the one silent longer (a dead voter never outlives a live one)', () => {
    const c = new SimCluster(['d2', 'd3', 'd4'], { maxStoreDownTimeMs: 10 * MIN, regionScheduleTolerance: 100 });
    c.setRegions(regionsOn(1, [102, 103, 104], 102));
    // Store 1 dies; later store 103 misses heartbeats too. Both are past half the down time
    // (suspect), neither is down yet; store 1 has been silent longer.
    c.down.add(1);
    c.run(3, MIN);
    c.down.add(103);
    c.run(6, MIN);
    c.setRegions(regionsOn(1, [1, 102, 103, 104], 102).map((x) => ({ ...x, region: { ...x.region, epoch: { confVer: 50, version: 5 } } })));
    const before = c.log.length;
    c.run(6, 10_000);
    const removals = c.log.slice(before).filter((l) => l.startsWith('removeReplica'));
    expect(removals.length).toBeGreaterThan(0);
    expect(c.storesOf(2)).toEqual([102, 103, 104]);
  });

  it('moves a replica apart from a device twin when a new device is available', () => {
    const c = new SimCluster(['d1', 'd2', 'd3']);
    c.setRegions(regionsOn(1, [1, 102, 103]));
    c.run(8);
    expect(c.storesOf(2)).toEqual([1, 103, 104]);
    expect(c.log.some((l) => l.startsWith('placement'))).toBe(true);
  });

  it('promotes a leftover learner when voters are missing, waits while it catches up, removes a surplus one', () => {
    const c = new SimCluster(['d2', 'd3', 'd4']);
    const [r] = regionsOn(1, [1, 102]);
    const learner = peer(7000, 103, 'learner');
    c.setRegions([{ ...r, region: { ...r.region, peers: [...r.region.peers, learner] }, pending: [7000] }]);
    const kinds = (out: ReturnType<SimCluster['schedule']>): string[] => out.added.filter((a) => a.operator.regionId === 2).map((a) => JSON.stringify(a.operator.steps));
    expect(kinds(c.schedule())).toEqual([]);
    c.regions.get(2)!.pending = [];
    c.heartbeatRegions(false);
    expect(kinds(c.schedule())).toEqual([JSON.stringify([{ kind: 'promoteLearner', storeId: 103, peerId: 7000 }])]);

    const d = new SimCluster(['d2', 'd3', 'd4']);
    const [full] = regionsOn(1, [1, 102, 103]);
    d.setRegions([{ ...full, region: { ...full.region, peers: [...full.region.peers, peer(7001, 104, 'learner')] } }]);
    const steps = d.schedule().added.filter((a) => a.operator.regionId === 2).map((a) => a.operator.steps);
    expect(steps).toEqual([[{ kind: 'removePeer', storeId: 104, peerId: 7001 }]]);
  });

  it('moves the peers of an offline store away, then proposes its tombstone', () => {
    const c = new SimCluster(['d2', 'd3', 'd4']);
    c.setRegions(regionsOn(2, [1, 102, 103], 103));
    c.sm.apply({ kind: 'setStoreState', storeId: 103, state: 'offline', force: false });
    c.run(15);
    for (const id of c.regions.keys()) expect(c.storesOf(id)).toEqual([1, 102, 104]);
    expect(c.sm.getStore(103)?.meta.state).toBe('tombstone');
  });

  it('grows, repairs and shrinks PD own group with pdReplicas', () => {
    const c = new SimCluster(['d2', 'd3', 'd4', 'd5'], { maxStoreDownTimeMs: MIN });
    c.run(12);
    expect(c.storesOf(100)).toHaveLength(3);
    c.sm.apply({ kind: 'setScheduleConfig', config: { ...c.sm.config, pdReplicas: 5 } });
    c.run(12);
    expect(c.storesOf(100)).toEqual([1, 102, 103, 104, 105]);
    c.sm.apply({ kind: 'setScheduleConfig', config: { ...c.sm.config, pdReplicas: 3 } });
    c.run(12);
    expect(c.storesOf(100)).toHaveLength(3);
    const kept = c.storesOf(100);
    const victim = kept.find((s) => s !== c.pdGroup.leader.storeId)!;
    c.down.add(victim);
    c.run(12, MIN);
    expect(c.storesOf(100)).toHaveLength(3);
    expect(c.storesOf(100)).not.toContain(victim);
  });
});

describe('leader schedulers', () => {
  it('moves every leader off a draining store', () => {
    const c = new SimCluster(['d2', 'd3']);
    c.setRegions(regionsOn(4, [1, 102, 103], 1));
    c.draining.add(1);
    c.run(4);
    expect(c.leaderCounts().get(1) ?? 0).toBe(0);
    expect(c.log.filter((l) => l.startsWith('drainLeader'))).toHaveLength(4);
    c.run(12);
    expect(c.storesOf(100)).toHaveLength(3);
    expect(c.pdGroup.leader.storeId).not.toBe(1);
    expect(c.log.filter((l) => l.startsWith('drainLeader: move leader off draining store 1'))).toHaveLength(5);
  });

  it('balances leaders to within the tolerance', () => {
    const c = new SimCluster(['d2', 'd3']);
    c.setRegions(regionsOn(6, [1, 102, 103], 1));
    c.run(6);
    expect([...c.leaderCounts().values()].sort()).toEqual([2, 2, 2]);
    const before = c.log.length;
    c.run(3);
    expect(c.log.length).toBe(before);
  });
});

describe('balance-leader and regions short of replicas', () => {
  /** The transfer-leader operators `balanceLeaders` starts in one round over `c`'s state, by region id. */
  function leaderMoves(c: SimCluster): number[] {
    const view = new ClusterView({ sm: c.sm, nowMs: c.nowMs, leaderSinceMs: 0, allocId: c.allocId }, new OperatorController(c.sm.config));
    const moved: number[] = [];
    balanceLeaders(view, () => true, (op) => (view.applyInfluence(op), moved.push(op.regionId), true), 8);
    return moved.sort((a, b) => a - b);
  }

  it('moves no leader of a region short of replicas (its repair runs on that leader)', () => {
    const c = new SimCluster(['d2', 'd3']);
    // Four regions of two voters where three are wanted, all led on store 1.
    c.setRegions(regionsOn(4, [1, 102], 1));
    expect(leaderMoves(c)).toEqual([]);
  });

  it('moves leaders of full regions beside short ones', () => {
    const c = new SimCluster(['d2', 'd3']);
    const short = regionsOn(4, [1, 102], 1).slice(0, 2);
    const full = regionsOn(4, [1, 102, 103], 1).slice(2);
    c.setRegions([...short, ...full]);
    const moved = leaderMoves(c);
    expect(moved.length).toBeGreaterThan(0);
    expect(moved.every((id) => full.some((r) => r.region.id === id))).toBe(true);
  });
});

describe('region schedulers', () => {
  it('balances replicas onto a new store by region count, keeping devices distinct', () => {
    const c = new SimCluster(['d2', 'd3', 'd4']);
    c.setRegions(regionsOn(6, [1, 102, 103]));
    c.run(20);
    const counts = [1, 102, 103, 104].map((s) => [...c.regions.values()].filter((r) => r.region.peers.some((p) => p.storeId === s)).length);
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(2);
    expect(counts[3]).toBeGreaterThan(0);
    for (const id of c.regions.keys()) expect(new Set(c.storesOf(id)).size).toBe(3);
  });

  it('balances by used bytes: moves a big region off the fullest store', () => {
    const c = new SimCluster(['d2', 'd3', 'd4'], { balanceRegionBy: 'bytes', regionScheduleToleranceBytes: 1000 });
    const rs = regionsOn(4, [1, 102, 103]).map((r, i) => ({ ...r, sizeBytes: [50_000, 1000, 1000, 1000][i] }));
    c.setRegions(rs);
    c.run(10);
    expect(c.storesOf(2)).toContain(104);
    const moves = c.log.filter((l) => l.startsWith('balanceRegion')).length;
    expect(moves).toBeLessThanOrEqual(4);
    c.run(10);
    expect(c.log.filter((l) => l.startsWith('balanceRegion')).length).toBe(moves);
  });

  it('asks to split a region past the size or key threshold; the operator ends when the version grows', () => {
    const c = new SimCluster(['d2', 'd3'], { regionSplitSizeBytes: 1 << 20, regionSplitKeys: 1000 });
    const [a, b] = regionsOn(2, [1, 102, 103]);
    c.setRegions([{ ...a, sizeBytes: 2 << 20 }, { ...b, keys: 5000 }]);
    const out = c.schedule();
    const splits = out.added.filter((x) => x.operator.kind === 'split');
    expect(splits.map((x) => x.operator.regionId).sort()).toEqual([2, 3001]);
    expect(splits[0].operator.steps).toEqual([{ kind: 'splitRegion' }]);
    const r = c.regions.get(2)!;
    const grown = { ...r.region, endKey: new TextEncoder().encode('k0005'), epoch: { ...r.region.epoch, version: r.region.epoch.version + 1 } };
    expect(c.scheduler.onRegionHeartbeat({ region: grown, leader: r.leader, downPeers: [], pendingPeers: [], approximateSizeBytes: 1, approximateKeys: 1, writtenBytesPerSec: 0, term: 1 }, c.nowMs)).toBeNull();
    expect(c.scheduler.operators.takeEvents().find((e) => e.operator.regionId === 2)?.outcome).toBe('success');
  });
});
