import { describe, expect, it } from 'vitest';
import type { PdCommand, Peer } from '../src/index.ts';
import { ClusterView, OperatorController, PD_PROMPT_ROUNDS_PER_SECOND_MAX, PdLeader, PdStateMachine, STORE_HEARTBEAT_PERSIST_DIVISOR, encodePdCommand, shouldProposeRegionHeartbeat, shouldProposeStoreHeartbeat, type StoreStats } from '../src/index.ts';
import { bootstrapCommand, bootstrapped, heartbeat, peer, region } from './helpers.ts';

/** Two PD replicas sharing one committed log. */
function twoReplicas(): { log: Uint8Array[]; replicas: { sm: PdStateMachine; leader: PdLeader; applied: number }[]; commit: (cmds: PdCommand[]) => void; catchUp: (i: number) => void } {
  const log: Uint8Array[] = [encodePdCommand(bootstrapCommand(0))];
  const replicas = [101, 102].map((id) => {
    const sm = PdStateMachine.create();
    return { sm, leader: new PdLeader(sm, id, { scheduleIntervalMs: 1000 }), applied: 0 };
  });
  const catchUp = (i: number): void => {
    const r = replicas[i];
    while (r.applied < log.length) r.leader.onApplied(r.sm.applyEntry(log[r.applied++]));
  };
  const commit = (cmds: PdCommand[]): void => {
    log.push(...cmds.map(encodePdCommand));
  };
  catchUp(0);
  catchUp(1);
  return { log, replicas, commit, catchUp };
}

/** Replica 0 of `twoReplicas` leading since time 0, with a new store joined at 0 on each of `devices`. */
function leadingWithNewStores(devices: string[]): ReturnType<typeof twoReplicas> & { a: PdLeader } {
  const two = twoReplicas();
  const a = two.replicas[0].leader;
  a.becomeLeader(2, 0);
  two.commit(a.tick(0).commands);
  two.catchUp(0);
  two.commit(devices.map((device): PdCommand => ({ kind: 'putStore', storeId: 0, address: device, labels: { device }, nowMs: 0 })));
  two.catchUp(0);
  return { ...two, a };
}

describe('PdLeader', () => {
  it('proposes a TSO window and an id batch, then serves both from memory', () => {
    const { replicas, commit, catchUp } = twoReplicas();
    const a = replicas[0].leader;
    a.becomeLeader(2, 1_000_000);
    expect(a.getTimestamps(1, 1_000_000).kind).toBe('error');
    expect(a.allocId()).toBeUndefined();
    const tick = a.tick(1_000_000);
    expect(tick.commands.map((c) => c.kind)).toEqual(['tsoSaveWindow', 'allocIds']);
    commit(tick.commands);
    catchUp(0);
    expect(a.getTimestamps(10, 1_000_000).kind).toBe('ok');
    expect(a.allocId()).toBe(102);
    expect(a.tick(1_000_100).commands).toEqual([]);
  });

  it('a new leader serves timestamps above the old one and ids the old one never had', () => {
    const { replicas, commit, catchUp } = twoReplicas();
    const [a, b] = [replicas[0].leader, replicas[1].leader];
    a.becomeLeader(2, 5_000);
    commit(a.tick(5_000).commands);
    catchUp(0);
    const lastA = a.getTimestamps(100, 5_000);
    const idA = a.allocId()!;
    a.stepDown(5_001);
    catchUp(1);
    // b's clock is far behind a's.
    b.becomeLeader(3, 1_000);
    commit(b.tick(1_000).commands);
    catchUp(1);
    const firstB = b.getTimestamps(1, 1_000);
    if (lastA.kind !== 'ok' || firstB.kind !== 'ok') throw new Error('no timestamps');
    expect(firstB.first > lastA.last).toBe(true);
    expect(b.allocId()).toBeGreaterThan(idA + 999);
    expect(a.getTimestamps(1, 5_002).kind).toBe('error');
  });

  it('proposes no id batch before the cluster is bootstrapped (it would be refused, and its retry wait)', () => {
    const sm = PdStateMachine.create();
    const a = new PdLeader(sm, 101, { scheduleIntervalMs: 1000 });
    a.becomeLeader(2, 0);
    expect(a.tick(0).commands.map((c) => c.kind)).not.toContain('allocIds');
    sm.apply(bootstrapCommand(0));
    expect(a.tick(10).commands.map((c) => c.kind)).toContain('allocIds');
  });

  it('runs a scheduling round at most every scheduleIntervalMs', () => {
    const { a } = leadingWithNewStores(['d2']);
    expect(a.tick(500).added).toEqual([]);
    const round = a.tick(1000);
    expect(round.added.map((x) => x.operator.kind)).toContain('addReplica');
  });

  it('runs a round at once when an operator ended, before the interval (a second new store waits for the first one\'s operator)', () => {
    const { a, commit, catchUp } = leadingWithNewStores(['d2', 'd3']);
    const first = a.tick(1000).added.find((x) => x.operator.regionId === 2);
    const [add] = first!.operator.steps;
    if (add.kind !== 'addLearner') throw new Error(`first step ${add.kind}`);
    // The leader's heartbeats show the learner caught up, then promoted: the operator ends.
    const seen = (peers: Peer[], confVer: number, nowMs: number) => {
      const hb = heartbeat(region(2, '', '', peers, { confVer, version: 1 }), peer(3, 1));
      commit([{ kind: 'regionHeartbeat', heartbeat: hb, nowMs }]);
      catchUp(0);
      return a.onRegionHeartbeat(hb, nowMs);
    };
    expect(seen([peer(3, 1), peer(add.peerId, add.storeId, 'learner')], 2, 1100)).toMatchObject({ kind: 'promoteLearner' });
    expect(a.roundWanted).toBe(false);
    expect(seen([peer(3, 1), peer(add.peerId, add.storeId)], 3, 1200)).toBeNull();
    expect(a.roundWanted).toBe(true);
    // 300 ms after the last round, well inside the interval: the next replica goes to the other store now.
    const next = a.tick(1300).added.find((x) => x.operator.regionId === 2);
    expect(next?.operator.steps[0]).toMatchObject({ kind: 'addLearner' });
    expect(next?.operator.steps[0]).not.toMatchObject({ storeId: add.storeId });
    expect(a.roundWanted).toBe(false);
    expect(a.tick(1400).added).toEqual([]);
  });
});

describe('PdLeader.onStoreJoined', () => {
  /** Replica 0 leading since 0 with its first round run at 0; `join(device, nowMs)` commits a new store's putStore. */
  function leading(): ReturnType<typeof twoReplicas> & { a: PdLeader; join: (device: string, nowMs: number) => void } {
    const two = leadingWithNewStores([]);
    const join = (device: string, nowMs: number): void => {
      two.commit([{ kind: 'putStore', storeId: 0, address: device, labels: { device }, nowMs }]);
      two.catchUp(0);
    };
    return { ...two, join };
  }

  it('runs a round at once for a new store, well inside the round interval', () => {
    const { a, join } = leading();
    join('d2', 100);
    // The periodic tick would wait for the interval (the last round ran at 0).
    expect(a.tick(100).added).toEqual([]);
    const round = a.onStoreJoined(100);
    const add = round.added.find((x) => x.operator.regionId === 2)?.operator.steps[0];
    expect(add).toMatchObject({ kind: 'addLearner' });
    expect(add).not.toMatchObject({ storeId: 1 });
  });

  it(`runs at most ${PD_PROMPT_ROUNDS_PER_SECOND_MAX} prompt rounds a second on its clock; a capped join is taken by the next tick`, () => {
    const { a, join } = leading();
    const spacingMs = 1000 / PD_PROMPT_ROUNDS_PER_SECOND_MAX;
    join('d2', 100);
    expect(a.onStoreJoined(100).added.length).toBeGreaterThan(0);
    a.scheduler.lastRound = { checked: -1, dirty: 0, all: false };
    join('d3', 100 + spacingMs - 1);
    expect(a.onStoreJoined(100 + spacingMs - 1)).toEqual({ commands: [], added: [] });
    expect(a.scheduler.lastRound.checked).toBe(-1);
    expect(a.roundWanted).toBe(true);
    // The next tick runs the capped join's round although the interval has not passed.
    a.tick(100 + spacingMs);
    expect(a.scheduler.lastRound.checked).not.toBe(-1);
    expect(a.roundWanted).toBe(false);
    a.scheduler.lastRound = { checked: -1, dirty: 0, all: false };
    // One spacing after the last prompt round, a join runs its round again.
    join('d4', 100 + spacingMs);
    a.onStoreJoined(100 + spacingMs);
    expect(a.scheduler.lastRound.checked).not.toBe(-1);
  });

  it('waits for an id batch when the allocator is low (a new leader has none), then runs the round once it applied', () => {
    const two = twoReplicas();
    const a = two.replicas[0].leader;
    a.becomeLeader(2, 0);
    two.commit([{ kind: 'putStore', storeId: 0, address: 'd2', labels: { device: 'd2' }, nowMs: 0 }]);
    two.catchUp(0);
    const waiting = a.onStoreJoined(100);
    expect(waiting.commands.map((c) => c.kind)).toEqual(['allocIds']);
    expect(waiting.added).toEqual([]);
    expect(a.roundWanted).toBe(true);
    two.commit(waiting.commands);
    two.catchUp(0);
    const round = a.onStoreJoined(101);
    expect(round.added.find((x) => x.operator.regionId === 2)?.operator.steps[0]).toMatchObject({ kind: 'addLearner' });
    expect(a.roundWanted).toBe(false);
  });

  it('does nothing off the leader', () => {
    const { replicas } = twoReplicas();
    expect(replicas[1].leader.onStoreJoined(100)).toEqual({ commands: [], added: [] });
    expect(replicas[1].leader.roundWanted).toBe(false);
  });
});

describe('shouldProposeRegionHeartbeat', () => {
  it('skips unchanged heartbeats however old the last one is, proposes any change', () => {
    const sm = bootstrapped(0);
    const r = region(2, '', '', [peer(3, 1)], { confVer: 1, version: 1 });
    const hb = heartbeat(r, peer(3, 1), { term: 4, approximateSizeBytes: 1000 });
    expect(shouldProposeRegionHeartbeat(sm, hb)).toBe(true);
    sm.apply({ kind: 'regionHeartbeat', heartbeat: hb, nowMs: 0 });
    expect(shouldProposeRegionHeartbeat(sm, hb)).toBe(false);
    expect(shouldProposeRegionHeartbeat(sm, { ...hb, approximateSizeBytes: 1050 })).toBe(false);
    expect(shouldProposeRegionHeartbeat(sm, { ...hb, approximateSizeBytes: 2000 })).toBe(true);
    expect(shouldProposeRegionHeartbeat(sm, { ...hb, term: 5 })).toBe(true);
    expect(shouldProposeRegionHeartbeat(sm, { ...hb, pendingPeers: [3] })).toBe(true);
    expect(shouldProposeRegionHeartbeat(sm, { ...hb, leader: peer(4, 2) })).toBe(true);
    expect(shouldProposeRegionHeartbeat(sm, { ...hb, region: { ...r, epoch: { confVer: 2, version: 1 } } })).toBe(true);
  });
});

describe('shouldProposeStoreHeartbeat', () => {
  const stats: StoreStats = { storeId: 1, capacityBytes: 1000, usedBytes: 100, availableBytes: 900, regionCount: 2, leaderCount: 1, draining: false };

  it('skips an unchanged heartbeat until the recorded one is maxStoreDownTimeMs / STORE_HEARTBEAT_PERSIST_DIVISOR old, proposes any change', () => {
    const sm = bootstrapped(0);
    // The bootstrap recorded no stats yet.
    expect(shouldProposeStoreHeartbeat(sm, stats, 0)).toBe(true);
    sm.apply({ kind: 'storeHeartbeat', stats, nowMs: 0 });
    const persistMs = sm.config.maxStoreDownTimeMs / STORE_HEARTBEAT_PERSIST_DIVISOR;
    expect(shouldProposeStoreHeartbeat(sm, stats, persistMs - 1)).toBe(false);
    expect(shouldProposeStoreHeartbeat(sm, stats, persistMs)).toBe(true);
    expect(shouldProposeStoreHeartbeat(sm, { ...stats, usedBytes: 105, availableBytes: 895 }, 1)).toBe(false);
    expect(shouldProposeStoreHeartbeat(sm, { ...stats, usedBytes: 200, availableBytes: 800 }, 1)).toBe(true);
    expect(shouldProposeStoreHeartbeat(sm, { ...stats, draining: true }, 1)).toBe(true);
    expect(shouldProposeStoreHeartbeat(sm, { ...stats, damagedRegionIds: [2] }, 1)).toBe(true);
    expect(shouldProposeStoreHeartbeat(sm, { ...stats, leaderCount: 2 }, 1)).toBe(true);
    expect(shouldProposeStoreHeartbeat(sm, { ...stats, regionCount: 3 }, 1)).toBe(true);
    // Unknown stores go through Raft, whose apply refuses them by name.
    expect(shouldProposeStoreHeartbeat(sm, { ...stats, storeId: 9 }, 1)).toBe(true);
  });

  it("a heartbeat kept in the leader's memory keeps its store up; without it the store is down after maxStoreDownTimeMs", () => {
    const sm = bootstrapped(0);
    sm.apply({ kind: 'storeHeartbeat', stats, nowMs: 0 });
    const nowMs = sm.config.maxStoreDownTimeMs + 1000;
    const view = (storeHeartbeatsMs?: Map<number, number>): ClusterView =>
      new ClusterView({ sm, nowMs, leaderSinceMs: 0, allocId: () => undefined, ...(storeHeartbeatsMs ? { storeHeartbeatsMs } : {}) }, new OperatorController(sm.config));
    expect(view().store(1)!.isDown).toBe(true);
    const fresh = view(new Map([[1, nowMs - 500]])).store(1)!;
    expect(fresh.isDown).toBe(false);
    expect(fresh.heartbeatAgeMs).toBe(500);
  });
});
