/**
 * Placement rules shared by the checkers and schedulers: keep a region's full replicas on at
 * least `enginesWanted` engines (the `engine` label, `replicaEnginesMin`), then spread them
 * across distinct values of the isolation label (`device` by default) where possible, then
 * prefer the store with the fewest regions; pick leadership targets among healthy voters with
 * the fewest leaders. Ties break by store id, so a round is deterministic.
 *
 * The two spreads are one lexicographic `placementScore` (TiKV scores location labels level by
 * level the same way; engine and device are not nested, so the engine rule is a floor, not a
 * level): the replica checker moves a replica only when the score rises and balance-region
 * only when it does not fall, so the two never undo each other's moves.
 */
import type { Peer, StoreId } from '../meta.ts';
import type { RegionInfo } from '../region-tree.ts';
import type { ClusterView, StoreView } from './cluster-view.ts';

/** The distinct values of `field` over `storeIds` (stores where it is undefined are left out). */
function valuesOf(view: ClusterView, storeIds: readonly StoreId[], field: 'label' | 'engine'): Set<string> {
  const out = new Set<string>();
  for (const id of storeIds) {
    const value = view.store(id)?.[field];
    if (value !== undefined) out.add(value);
  }
  return out;
}

/** Label values of `storeIds` (unlabelled stores are left out: each is distinct). */
function labelsOf(view: ClusterView, storeIds: readonly StoreId[]): Set<string> {
  return valuesOf(view, storeIds, 'label');
}

/** Engines of `storeIds` (unlabelled and witness stores count for none). */
function enginesOf(view: ClusterView, storeIds: readonly StoreId[]): Set<string> {
  return valuesOf(view, storeIds, 'engine');
}

/**
 * How well replicas on `storeIds` are placed: [engines spanned, up to `enginesWanted`;
 * distinct isolation domains]. Compared with `compareTuples`; higher is better.
 */
export function placementScore(view: ClusterView, storeIds: readonly StoreId[]): [number, number] {
  return [Math.min(enginesOf(view, storeIds).size, view.enginesWanted), distinctDomains(view, storeIds)];
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
 * `excludedStoreIds`, is a witness store exactly when `witness` asks for one, then a new
 * engine while the staying full replicas span fewer than `enginesWanted`, then a label value
 * not yet used, then fewest regions, then lowest id.
 */
export function pickTargetStore(view: ClusterView, stayingStoreIds: readonly StoreId[], excludedStoreIds: readonly StoreId[], witness = false): StoreView | undefined {
  const used = labelsOf(view, stayingStoreIds);
  const engines = enginesOf(view, stayingStoreIds);
  const engineShort = !witness && engines.size < view.enginesWanted;
  const candidates = [...view.stores.values()].filter((s) => s.canReceive && s.witness === witness && !excludedStoreIds.includes(s.id));
  const key = (s: StoreView): [number, number, number, number] => [
    engineShort && (s.engine === undefined || engines.has(s.engine)) ? 1 : 0,
    s.label !== undefined && used.has(s.label) ? 1 : 0,
    s.regionCount,
    s.id,
  ];
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
