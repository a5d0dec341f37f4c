/**
 * A store's join progress as PD's region records show it: "k of n regions placed here, m
 * caught up". Pure: it reads the regions' peers (and PD's pending peers) and the stores, and
 * owns the one definition the dashboard and `peerkv status` share.
 *
 * - `placed` (k): data regions with a replica (voter or learner) on the store.
 * - `caughtUp` (m): of those, replicas that are voters and not pending (the region's leader
 *   does not report them behind: the snapshot arrived and was applied, and the learner was
 *   promoted).
 * - `target` (n): the replicas PD places on the store once it is done:
 *   `max(placed, share)`, where `share` is what the store holds after PD's own rules run on
 *   the region counts as they will be once the moves in flight end:
 *   1. each region settles at its wanted full replicas (a region with one replica too many
 *      is mid-move: the extra is taken off its peer on the fullest other store, the source
 *      balance-region picks; a region with too few gets the missing ones on the emptiest
 *      stores without it, as the replica checker places them);
 *   2. balance-region then moves one replica at a time from the fullest store (ties: the
 *      highest id) to the emptiest store that can receive (ties: the lowest id) while they
 *      differ by more than `regionScheduleTolerance`, never a second replica of a region to
 *      one store (a store holds at most one per region).
 *   This is balance-region's own stop rule (`schedulers/region-schedulers.ts`) run on counts,
 *   so `n` is exact when every move is allowed; label isolation or engine spread can forbid a
 *   move PD would otherwise make, and then the store stays `joining` with `k < n` (PD is not
 *   going to place the rest). With `balanceRegionBy: 'bytes'` PD balances used bytes, not
 *   counts, and `n` is only the count estimate.
 * - `joined`: `m == n` (every replica PD means to place here is placed and caught up).
 *
 * Only stores that hold full replicas count (state `up`, not a witness store): witness stores
 * are placed by the replica checker and never balanced; for them `n = k`.
 */
import { isWitnessStore, type Peer, type StoreMeta } from './meta.ts';
import type { PdStateMachine } from './state-machine.ts';

/** One store's join progress (see the module header). */
export interface JoinProgress {
  /** Data regions with a replica on the store (k). */
  placed: number;
  /** Of those, voters PD does not report pending (m). */
  caughtUp: number;
  /** Replicas PD places on the store when done (n ≥ k ≥ m). */
  target: number;
  /** `caughtUp === target`. */
  joined: boolean;
}

/** What `joinProgress` reads: the data regions with their peers and pending peer ids, and the stores. */
export interface JoinInput {
  regions: readonly { peers: readonly Peer[]; pendingPeers?: readonly number[] }[];
  /** Every store PD knows (tombstones may be left out). */
  stores: readonly { meta: StoreMeta; draining?: boolean }[];
  /** `ScheduleConfig.maxReplicas`. */
  maxReplicas: number;
  /** `ScheduleConfig.regionScheduleTolerance`. */
  tolerance: number;
}

/** `joinProgress`'s input from a PD replica's state: its data regions, stores (no tombstones) and schedule config. */
export function joinInputOf(sm: PdStateMachine): JoinInput {
  const config = sm.config;
  return {
    regions: sm.allRegions().map((i) => ({ peers: i.region.peers, pendingPeers: i.pendingPeers })),
    stores: sm.listStores().map((s) => ({ meta: s.meta, ...(s.stats?.draining ? { draining: true } : {}) })),
    maxReplicas: config.maxReplicas,
    tolerance: config.regionScheduleTolerance,
  };
}

/** `storeId`'s join progress (see the module header). */
export function joinProgress(input: JoinInput, storeId: number): JoinProgress {
  let placed = 0;
  let caughtUp = 0;
  for (const r of input.regions) {
    const p = r.peers.find((x) => x.storeId === storeId);
    if (p === undefined) continue;
    placed++;
    if (p.role === 'voter' && !(r.pendingPeers ?? []).includes(p.id)) caughtUp++;
  }
  const share = balancedShares(input).get(storeId);
  const target = Math.max(placed, share ?? placed);
  return { placed, caughtUp, target, joined: caughtUp === target };
}

/** Every balanced store's count once the moves in flight end and balance-region stops (steps 1 and 2 of the header). */
export function balancedShares(input: JoinInput): Map<number, number> {
  const balanced = input.stores.filter((s) => s.meta.state === 'up' && !isWitnessStore(s.meta.labels));
  const receives = new Map(balanced.map((s) => [s.meta.id, s.draining !== true]));
  const counts = new Map(balanced.map((s) => [s.meta.id, 0]));
  const holders = input.regions.map((r) => new Set(r.peers.filter((p) => counts.has(p.storeId)).map((p) => p.storeId)));
  // Step 1a: count every replica on a balanced store.
  for (const h of holders) for (const id of h) counts.set(id, counts.get(id)! + 1);
  input.regions.forEach((r, i) => {
    const h = holders[i];
    const wanted = Math.max(0, input.maxReplicas - r.peers.filter((p) => !counts.has(p.storeId)).length);
    // Step 1b: a region mid-move loses its replica on the fullest holder that is not the newest (a learner).
    while (h.size > wanted) {
      const learners = new Set(r.peers.filter((p) => p.role === 'learner').map((p) => p.storeId));
      const from = pick([...h].filter((id) => !learners.has(id) || [...h].every((x) => learners.has(x))), counts, 'fullest');
      if (from === undefined) break;
      h.delete(from);
      counts.set(from, counts.get(from)! - 1);
    }
    // Step 1c: an under-replicated region gains replicas on the emptiest stores without it.
    while (h.size < wanted) {
      const to = pick([...counts.keys()].filter((id) => receives.get(id) && !h.has(id)), counts, 'emptiest');
      if (to === undefined) break;
      h.add(to);
      counts.set(to, counts.get(to)! + 1);
    }
  });
  // Step 2: balance-region's loop on counts. Each move lowers the sum of squares, so it ends; the bound is a guard.
  const regions = input.regions.length;
  for (let moves = 0; moves <= regions * Math.max(1, input.maxReplicas); moves++) {
    const source = pick([...counts.keys()], counts, 'fullest');
    const targets = [...counts.keys()].filter((id) => receives.get(id) && counts.get(id)! < regions).sort((a, b) => counts.get(a)! - counts.get(b)! || a - b);
    const target = targets[0];
    if (source === undefined || target === undefined || counts.get(source)! - counts.get(target)! <= input.tolerance) break;
    counts.set(source, counts.get(source)! - 1);
    counts.set(target, counts.get(target)! + 1);
  }
  return counts;
}

/** The fullest (ties: the highest id) or emptiest (ties: the lowest id) of `ids`. */
function pick(ids: number[], counts: Map<number, number>, which: 'fullest' | 'emptiest'): number | undefined {
  let best: number | undefined;
  for (const id of ids) {
    if (best === undefined) {
      best = id;
      continue;
    }
    const d = counts.get(id)! - counts.get(best)!;
    if (which === 'fullest' ? d > 0 || (d === 0 && id > best) : d < 0 || (d === 0 && id < best)) best = id;
  }
  return best;
}
