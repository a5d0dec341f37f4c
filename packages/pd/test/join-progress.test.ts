import { describe, expect, it } from 'vitest';
import { balancedShares, joinInputOf, joinProgress, type JoinInput, type Peer, type StoreMeta } from '../src/index.ts';
import { regionsOn, SimCluster } from './sim-cluster.ts';

const store = (id: number, labels: Record<string, string> = {}): { meta: StoreMeta } => ({ meta: { id, address: `s${id}`, labels, state: 'up' } });
let nextPeerId = 1000;
const on = (storeId: number, role: Peer['role'] = 'voter'): Peer => ({ id: nextPeerId++, storeId, role });
/** `count` regions with a voter on each of `stores`. */
const regions = (count: number, stores: number[]): JoinInput['regions'] => Array.from({ length: count }, () => ({ peers: stores.map((s) => on(s)) }));

describe('joinProgress', () => {
  it('an empty store joining three stores of six regions: 0 of 3, then 3 of 3 (balance-region stops at 5,5,5,3 with tolerance 2)', () => {
    const input: JoinInput = { regions: regions(6, [1, 2, 3]), stores: [1, 2, 3, 4].map((id) => store(id)), maxReplicas: 3, tolerance: 2 };
    expect(joinProgress(input, 4)).toEqual({ placed: 0, caughtUp: 0, target: 3, joined: false });
    expect([...balancedShares(input).values()]).toEqual([5, 5, 5, 3]);
    // Established stores are already at (or above) their share: joined.
    expect(joinProgress(input, 1)).toEqual({ placed: 6, caughtUp: 6, target: 6, joined: true });
  });

  it('a move in flight: the learner counts as placed, not caught up, and the target does not move', () => {
    const rs = regions(6, [1, 2, 3]) as { peers: Peer[]; pendingPeers?: number[] }[];
    const learner = on(4, 'learner');
    rs[0] = { peers: [...rs[0].peers, learner], pendingPeers: [learner.id] };
    const input: JoinInput = { regions: rs, stores: [1, 2, 3, 4].map((id) => store(id)), maxReplicas: 3, tolerance: 2 };
    expect(joinProgress(input, 4)).toEqual({ placed: 1, caughtUp: 0, target: 3, joined: false });
    // Promoted but still reported pending (behind its leader): placed, not caught up.
    rs[0].peers[3] = { ...learner, role: 'voter' };
    expect(joinProgress(input, 4)).toEqual({ placed: 1, caughtUp: 0, target: 3, joined: false });
    rs[0].pendingPeers = [];
    expect(joinProgress(input, 4)).toEqual({ placed: 1, caughtUp: 1, target: 3, joined: false });
  });

  it('three regions moved and caught up: joined', () => {
    const rs = [...regions(3, [1, 2, 3]), ...regions(1, [4, 2, 3]), ...regions(1, [1, 4, 3]), ...regions(1, [1, 2, 4])];
    const input: JoinInput = { regions: rs, stores: [1, 2, 3, 4].map((id) => store(id)), maxReplicas: 3, tolerance: 2 };
    expect(joinProgress(input, 4)).toEqual({ placed: 3, caughtUp: 3, target: 3, joined: true });
  });

  it('under-replicated regions are counted as the replica checker will place them', () => {
    // Two stores, three regions of two replicas each, a third store joins: every region gains a replica on it.
    const input: JoinInput = { regions: regions(3, [1, 2]), stores: [1, 2, 3].map((id) => store(id)), maxReplicas: 3, tolerance: 2 };
    expect(joinProgress(input, 3)).toEqual({ placed: 0, caughtUp: 0, target: 3, joined: false });
  });

  it('a witness store, a draining store and an unknown store are given what they hold', () => {
    const stores = [store(1), store(2), store(3), store(4, { witness: 'true' }), { ...store(5), draining: true }];
    const input: JoinInput = { regions: regions(6, [1, 2, 3]), stores, maxReplicas: 3, tolerance: 2 };
    expect(joinProgress(input, 4)).toEqual({ placed: 0, caughtUp: 0, target: 0, joined: true });
    expect(joinProgress(input, 5)).toEqual({ placed: 0, caughtUp: 0, target: 0, joined: true });
    expect(joinProgress(input, 9)).toEqual({ placed: 0, caughtUp: 0, target: 0, joined: true });
    // The tolerance decides the share: with 0, balance-region evens the four stores out (18 replicas: 5,5,4,4).
    expect(joinProgress({ ...input, stores: [1, 2, 3, 4].map((id) => store(id)), tolerance: 0 }, 4).target).toBe(4);
  });
});

describe('joinProgress against PD\'s scheduler', () => {
  /** Data replicas on `storeId` in the model. */
  const countOn = (c: SimCluster, storeId: number): number => [...c.regions.values()].filter((r) => r.region.peers.some((p) => p.storeId === storeId)).length;

  it('n is the count PD\'s own rounds leave on a joining store, for 3-5 stores, 4-20 regions, tolerance 0-3', () => {
    const cases: string[] = [];
    for (const storesBefore of [3, 4, 5])
      for (const regionCount of [4, 9, 20])
        for (const tolerance of [0, 1, 2, 3]) {
          const c = new SimCluster(Array.from({ length: storesBefore - 1 }, (_, i) => `d${i + 2}`), { regionScheduleTolerance: tolerance });
          c.setRegions(regionsOn(regionCount, c.storeIds.slice(0, 3)));
          c.run(300);
          const joiner = c.join(`d${storesBefore + 1}`);
          const first = joinProgress(joinInputOf(c.sm), joiner);
          let last = first;
          for (let round = 0; round < 400 && !last.joined; round++) {
            c.run(1);
            const p = joinProgress(joinInputOf(c.sm), joiner);
            expect(p.caughtUp).toBeLessThanOrEqual(p.placed);
            expect(p.placed).toBeLessThanOrEqual(p.target);
            // n holds while the moves run (a region mid-move is counted as it will settle).
            if (p.target !== first.target) cases.push(`n moved: ${first.target} → ${p.target} at placed ${p.placed}`);
            last = p;
          }
          c.run(50);
          const settled = joinProgress(joinInputOf(c.sm), joiner);
          cases.push(`${storesBefore}+1 stores, ${regionCount} regions, tolerance ${tolerance}: n=${first.target}, placed ${countOn(c, joiner)}`);
          expect({ first: first.placed, n: first.target, joined: settled.joined, onStore: countOn(c, joiner) }, cases.at(-1)).toEqual({ first: 0, n: countOn(c, joiner), joined: true, onStore: first.target });
        }
    expect(cases.filter((x) => x.startsWith('n moved'))).toEqual([]);
    expect(cases).toHaveLength(36);
  });
});
