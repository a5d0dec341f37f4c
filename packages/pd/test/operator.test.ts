import { describe, expect, it } from 'vitest';
import type { Operator, RegionStatus } from '../src/index.ts';
import { OperatorController, movePeerOperator, newRegionInfoForTest, operatorStoreIds, splitOperator, transferLeaderOperator } from './operator-helpers.ts';
import { peer, region } from './helpers.ts';

const LIMITS = { operatorsMax: 3, operatorsPerStoreMax: 2, operatorTimeoutMs: 10_000 };

function status(id: number, peers = [peer(10, 1), peer(11, 2), peer(12, 3)], epoch = { confVer: 3, version: 4 }, leaderStore = 1, pendingPeers: number[] = []): RegionStatus {
  const r = region(id, '', '', peers, epoch);
  return { region: r, leader: peers.find((p) => p.storeId === leaderStore), pendingPeers };
}

function move(id: number, from = peer(12, 3), toStore = 4, newPeer = 20, nowMs = 0): Operator {
  return movePeerOperator({ info: newRegionInfoForTest(status(id)), kind: 'balanceRegion', desc: 't', nowMs }, from, toStore, newPeer);
}

describe('operators', () => {
  it('a move adds a learner, promotes it, moves leadership when the source leads, then removes the source', () => {
    expect(move(1).steps.map((s) => s.kind)).toEqual(['addLearner', 'promoteLearner', 'removePeer']);
    expect(move(1, peer(10, 1)).steps.map((s) => s.kind)).toEqual(['addLearner', 'promoteLearner', 'transferLeader', 'removePeer']);
    expect(operatorStoreIds(move(1, peer(10, 1)))).toEqual([1, 4]);
  });

  it('advances step by step on heartbeats and succeeds when all steps show done', () => {
    const c = new OperatorController(LIMITS);
    expect(c.add(move(1)).kind).toBe('added');
    expect(c.dispatch(status(1), 1)).toEqual({ kind: 'addLearner', storeId: 4, peerId: 20 });
    const withLearner = [peer(10, 1), peer(11, 2), peer(12, 3), peer(20, 4, 'learner')];
    expect(c.dispatch(status(1, withLearner, { confVer: 4, version: 4 }, 1, [20]), 2)?.kind).toBe('addLearner');
    expect(c.dispatch(status(1, withLearner, { confVer: 4, version: 4 }), 3)?.kind).toBe('promoteLearner');
    const promoted = [peer(10, 1), peer(11, 2), peer(12, 3), peer(20, 4)];
    expect(c.dispatch(status(1, promoted, { confVer: 5, version: 4 }), 4)).toEqual({ kind: 'removePeer', storeId: 3, peerId: 12 });
    expect(c.dispatch(status(1, [peer(10, 1), peer(11, 2), peer(20, 4)], { confVer: 6, version: 4 }), 5)).toBeNull();
    expect(c.takeEvents().map((e) => e.outcome)).toEqual(['success']);
    expect(c.size).toBe(0);
  });

  it('goes stale when the region splits or changes membership beyond its own steps', () => {
    const c = new OperatorController(LIMITS);
    c.add(move(1));
    expect(c.dispatch(status(1, undefined, { confVer: 3, version: 5 }), 1)).toBeNull();
    c.add(move(2));
    expect(c.dispatch(status(2, undefined, { confVer: 10, version: 4 }), 1)).toBeNull();
    expect(c.takeEvents().map((e) => e.outcome)).toEqual(['stale', 'stale']);
  });

  it('goes stale when made from a view that missed a finished change (cluster seed 91)', () => {
    // PD still saw four voters at confVer 3 and made "remove the extra peer 12"; peer 11 had
    // already been removed (confVer 4). Removing 12 too would leave two voters.
    const c = new OperatorController(LIMITS);
    const op: Operator = { regionId: 1, kind: 'removeReplica', desc: 'remove extra peer 12', steps: [{ kind: 'removePeer', storeId: 3, peerId: 12 }], epoch: { confVer: 3, version: 4 }, createdAtMs: 0 };
    expect(c.add(op).kind).toBe('added');
    expect(c.dispatch(status(1, [peer(10, 1), peer(12, 3), peer(20, 4)], { confVer: 4, version: 4 }), 1)).toBeNull();
    expect(c.takeEvents().map((e) => e.outcome)).toEqual(['stale']);
    // Its own step half done (the region in the joint configuration it entered) is not stale.
    expect(c.add(op).kind).toBe('added');
    expect(c.dispatch(status(1, [peer(10, 1), peer(11, 2), peer(20, 4), peer(12, 3, 'demotingVoter')], { confVer: 4, version: 4 }), 2)).toEqual(op.steps[0]);
  });

  it('a split operator succeeds when the version grows', () => {
    const c = new OperatorController(LIMITS);
    c.add(splitOperator({ info: newRegionInfoForTest(status(1)), kind: 'split', desc: 't', nowMs: 0 }));
    expect(c.dispatch(status(1), 1)).toEqual({ kind: 'splitRegion' });
    expect(c.dispatch(status(1, undefined, { confVer: 3, version: 5 }), 2)).toBeNull();
    expect(c.takeEvents()[0].outcome).toBe('success');
  });

  it('times out on a heartbeat or on a tick', () => {
    const c = new OperatorController(LIMITS);
    c.add(move(1));
    c.add(transferLeaderOperator({ info: newRegionInfoForTest(status(2)), kind: 'balanceLeader', desc: 't', nowMs: 0 }, 1, 2));
    expect(c.dispatch(status(1), 10_001)).toBeNull();
    c.checkTimeouts(10_000);
    expect(c.size).toBe(1);
    c.checkTimeouts(10_001);
    expect(c.takeEvents().map((e) => [e.operator.regionId, e.outcome])).toEqual([
      [1, 'timeout'],
      [2, 'timeout'],
    ]);
  });

  it('enforces one operator per region, operatorsMax and operatorsPerStoreMax', () => {
    const c = new OperatorController(LIMITS);
    expect(c.add(move(1, peer(12, 3), 4))).toEqual({ kind: 'added', operatorId: 1 });
    expect(c.add(move(1, peer(12, 3), 5))).toEqual({ kind: 'refused', reason: 'RegionBusy' });
    expect(c.add(move(2, peer(12, 3), 5)).kind).toBe('added');
    expect(c.add(move(3, peer(12, 3), 6))).toEqual({ kind: 'refused', reason: 'StoreLimitReached' });
    expect(c.add(move(3, peer(11, 2), 6)).kind).toBe('added');
    expect(c.add(move(4, peer(11, 2), 7))).toEqual({ kind: 'refused', reason: 'OperatorsMaxReached' });
    expect(c.storeLoad(3)).toBe(2);
    c.cancel(1, 0);
    expect(c.add(move(4, peer(12, 3), 7)).kind).toBe('added');
  });
});

describe('late heartbeats', () => {
  it('a heartbeat older than the operator is ignored, not judged stale', () => {
    const c = new OperatorController(LIMITS);
    c.add(move(1));
    expect(c.dispatch(status(1, undefined, { confVer: 2, version: 4 }), 1)).toBeNull();
    expect(c.dispatch(status(1, undefined, { confVer: 3, version: 3 }), 1)).toBeNull();
    expect(c.size).toBe(1);
    expect(c.takeEvents()).toEqual([]);
    expect(c.dispatch(status(1), 2)?.kind).toBe('addLearner');
  });
});
