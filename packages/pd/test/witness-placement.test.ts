/**
 * Placement with a witness store (label `witness=true`): "2 full + 1 witness" while two full
 * stores exist, a full replica first and then the witness out when a third full store joins,
 * never a leader on the witness, and never a full replica removed or replaced by a witness so
 * that a witness would be the only copy of the data.
 */
import { describe, expect, it } from 'vitest';
import type { Peer } from '../src/index.ts';
import { SimCluster } from './sim-cluster.ts';

const MIN = 60_000;

function peersOf(c: SimCluster, id: number): Peer[] {
  const r = id === c.pdGroup.region.id ? c.pdGroup : c.regions.get(id)!;
  return r.region.peers;
}
const witnessesOf = (c: SimCluster, id: number): number[] => peersOf(c, id).filter((p) => p.witness).map((p) => p.storeId);
const fullOf = (c: SimCluster, id: number): number[] => peersOf(c, id).filter((p) => !p.witness).map((p) => p.storeId).sort((a, b) => a - b);

describe('witness placement', () => {
  it('places 2 full replicas and 1 witness, for data regions and for PD', () => {
    const c = new SimCluster(['d2']);
    const w = c.join('server', true);
    c.run(16);
    for (const id of [2, c.pdGroup.region.id]) {
      expect(fullOf(c, id)).toEqual([1, c.storeIds[1]]);
      expect(witnessesOf(c, id)).toEqual([w]);
      expect(peersOf(c, id).every((p) => p.role === 'voter')).toBe(true);
    }
    expect(c.regions.get(2)!.leader.witness).toBeUndefined();
  });

  it('gives a lone full store no witness (one full replica and a witness would need both)', () => {
    const c = new SimCluster([]);
    c.join('server', true);
    c.run(10);
    expect(peersOf(c, 2).map((p) => p.storeId)).toEqual([1]);
  });

  it('promotes: a third full store gets a full replica first, then the witness leaves', () => {
    const c = new SimCluster(['d2'], { regionScheduleTolerance: 100 });
    const w = c.join('server', true);
    c.run(16);
    expect(witnessesOf(c, 2)).toEqual([w]);
    const third = c.join('d3');
    // Never fewer than 2 full replicas on the way, and the witness leaves only after the third arrived.
    for (let i = 0; i < 20; i++) {
      c.run(1);
      const full = peersOf(c, 2).filter((p) => !p.witness && p.role === 'voter').length;
      expect(full).toBeGreaterThanOrEqual(2);
      if (witnessesOf(c, 2).length === 0) expect(full).toBe(3);
    }
    expect(fullOf(c, 2)).toEqual([1, c.storeIds[1], third]);
    expect(witnessesOf(c, 2)).toEqual([]);
    const kinds = c.log.filter((l) => l.includes('witness')).map((l) => l.split(':')[0]);
    expect(kinds).toContain('addReplica');
    expect(kinds).toContain('removeReplica');
  });

  it('never replaces a down full replica with a witness, nor drops it leaving the witness with one full replica', () => {
    const c = new SimCluster(['d2'], { maxStoreDownTimeMs: 5 * MIN });
    const w = c.join('server', true);
    c.run(16);
    const second = c.storeIds[1];
    c.down.add(second);
    c.run(30, MIN);
    expect(fullOf(c, 2)).toEqual([1, second]);
    expect(witnessesOf(c, 2)).toEqual([w]);
    // A new full store takes the down replica's place; the witness stays (still 2 full).
    const fresh = c.join('d4');
    c.run(30, MIN);
    expect(fullOf(c, 2)).toEqual([1, fresh]);
    expect(witnessesOf(c, 2)).toEqual([w]);
  });

  it('drops the witness of a witness store that is gone for good, and never a full replica for it', () => {
    const c = new SimCluster(['d2'], { maxStoreDownTimeMs: 5 * MIN });
    const w = c.join('server', true);
    c.run(16);
    expect(witnessesOf(c, 2)).toEqual([w]);
    c.down.add(w);
    c.run(30, MIN);
    expect(witnessesOf(c, 2)).toEqual([]);
    expect(fullOf(c, 2)).toEqual([1, c.storeIds[1]]);
    // A new witness store gets the witness back.
    const w2 = c.join('server2', true);
    c.run(20, MIN);
    expect(witnessesOf(c, 2)).toEqual([w2]);
  });

  it('never moves leadership to the witness (drain picks the other full replica)', () => {
    const c = new SimCluster(['d2']);
    c.join('server', true);
    c.run(16);
    c.draining.add(1);
    c.run(10);
    const leader = c.regions.get(2)!.leader;
    expect(leader.storeId).toBe(c.storeIds[1]);
    expect(leader.witness).toBeUndefined();
  });
});
