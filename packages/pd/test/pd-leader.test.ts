import { describe, expect, it } from 'vitest';
import type { PdCommand } from '../src/index.ts';
import { PdLeader, PdStateMachine, encodePdCommand, shouldProposeRegionHeartbeat } from '../src/index.ts';
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

  it('runs a scheduling round at most every scheduleIntervalMs', () => {
    const { replicas, commit, catchUp } = twoReplicas();
    const a = replicas[0].leader;
    a.becomeLeader(2, 0);
    commit(a.tick(0).commands);
    catchUp(0);
    commit([{ kind: 'putStore', storeId: 0, address: 'x', labels: { device: 'd2' }, nowMs: 0 }]);
    catchUp(0);
    expect(a.tick(500).added).toEqual([]);
    const round = a.tick(1000);
    expect(round.added.map((x) => x.operator.kind)).toContain('addReplica');
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
