/**
 * Placement rules shared by the checkers and schedulers: spread a region's replicas across
 * distinct values of the isolation label (`device` by default) where possible, then prefer
 * the store with the fewest regions; pick leadership targets among healthy voters with the
 * fewest leaders. Ties break by store id, so a round is deterministic.
 */
import type { Peer, StoreId } from '../meta.ts';
import type { RegionInfo } from '../region-tree.ts';
import type { ClusterView, StoreView } from './cluster-view.ts';

/** Label values of `storeIds` (unlabelled stores are left out: each is distinct). */
function labelsOf(view: ClusterView, storeIds: readonly StoreId[]): Set<string> {
  const out = new Set<string>();
  for (const id of storeIds) {
    const label = view.store(id)?.label;
    if (label !== undefined) out.add(label);
  }
  return out;
}

/** Whether `storeId` shares its label value with one of `others`. */
export function sharesLabel(view: ClusterView, storeId: StoreId, others: readonly StoreId[]): boolean {
  const label = view.store(storeId)?.label;
  return label !== undefined && labelsOf(view, others.filter((o) => o !== storeId)).has(label);
}

/** Distinct isolation domains among `storeIds` (each unlabelled store is its own). */
export function distinctDomains(view: ClusterView, storeIds: readonly StoreId[]): number {
  const unlabelled = storeIds.filter((id) => view.store(id)?.label === undefined).length;
  return labelsOf(view, storeIds).size + unlabelled;
}

/**
 * The best store for a new replica next to `stayingStoreIds`: it can receive, holds none of
 * `excludedStoreIds`, is a witness store exactly when `witness` asks for one, then a label
 * value not yet used, then fewest regions, then lowest id.
 */
export function pickTargetStore(view: ClusterView, stayingStoreIds: readonly StoreId[], excludedStoreIds: readonly StoreId[], witness = false): StoreView | undefined {
  const used = labelsOf(view, stayingStoreIds);
  const candidates = [...view.stores.values()].filter((s) => s.canReceive && s.witness === witness && !excludedStoreIds.includes(s.id));
  const key = (s: StoreView): [number, number, number] => [s.label !== undefined && used.has(s.label) ? 1 : 0, s.regionCount, s.id];
  candidates.sort((a, b) => compareTuples(key(a), key(b)));
  return candidates[0];
}

/** A voter to lead instead of the current leader: a full replica (never a witness), healthy, caught up, fewest leaders. */
export function pickLeaderTarget(view: ClusterView, info: RegionInfo, excludedStoreIds: readonly StoreId[] = []): Peer | undefined {
  const candidates = info.region.peers.filter((p) => {
    if (p.role !== 'voter' || p.witness || p.id === info.leader?.id || excludedStoreIds.includes(p.storeId)) return false;
    if (info.pendingPeers.includes(p.id) || info.downPeers.includes(p.id)) return false;
    return view.store(p.storeId)?.canReceive ?? false;
  });
  const key = (p: Peer): [number, number] => [view.store(p.storeId)!.leaderCount, p.storeId];
  candidates.sort((a, b) => compareTuples(key(a), key(b)));
  return candidates[0];
}

/** Lexicographic comparison of number tuples of equal length. */
export function compareTuples(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}
