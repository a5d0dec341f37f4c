/**
 * Region placement: balance-region moves a replica from the store with the highest score to
 * the one with the lowest (score: region count, or used bytes, per `balanceRegionBy`) while
 * they differ by more than the tolerance, never making a region's `placementScore` (engines,
 * then isolation label spread) worse; the
 * split checker asks for a split of regions past `regionSplitSizeBytes` or `regionSplitKeys`.
 */
import type { Peer } from '../meta.ts';
import { movePeerOperator, splitOperator } from '../operator/build.ts';
import type { Operator } from '../operator/types.ts';
import type { RegionInfo } from '../region-tree.ts';
import type { ClusterView, StoreView } from './cluster-view.ts';
import type { RegionFree, SubmitOperator } from './leader-schedulers.ts';
import { compareTuples, placementScore } from './placement.ts';

/** Of `regions` (this round's checked regions), those at or past the split thresholds. */
export function checkSplits(view: ClusterView, regions: readonly RegionInfo[], free: RegionFree, submit: SubmitOperator): void {
  const { regionSplitSizeBytes, regionSplitKeys } = view.config;
  for (const info of regions) {
    if (!free(info) || info.leader === undefined) continue;
    if (info.approximateSizeBytes < regionSplitSizeBytes && info.approximateKeys < regionSplitKeys) continue;
    const desc = `split: ${info.approximateSizeBytes} bytes, ${info.approximateKeys} keys`;
    submit(splitOperator({ info, kind: 'split', desc, nowMs: view.nowMs }));
  }
}

function score(view: ClusterView, s: StoreView): number {
  return view.config.balanceRegionBy === 'bytes' ? s.usedBytes : s.regionCount;
}

/** How much one region moves the score. */
function weight(view: ClusterView, info: RegionInfo): number {
  return view.config.balanceRegionBy === 'bytes' ? info.approximateSizeBytes : 1;
}

function tolerance(view: ClusterView): number {
  return view.config.balanceRegionBy === 'bytes' ? view.config.regionScheduleToleranceBytes : view.config.regionScheduleTolerance;
}

/** Up to `batchMax` replica moves, each counted (by `submit`) before the next is chosen. */
export function balanceRegions(view: ClusterView, free: RegionFree, submit: SubmitOperator, batchMax: number): void {
  for (let i = 0; i < batchMax; i++) {
    const op = balanceOneRegion(view, free);
    if (op === null || !submit(op)) return;
  }
}

function balanceOneRegion(view: ClusterView, free: RegionFree): Operator | null {
  // Witness stores hold witness peers only, placed by the replica checker: never balanced.
  const stores = [...view.stores.values()].filter((s) => s.canHold && !s.witness);
  const targets = stores.filter((s) => s.canReceive).sort((a, b) => compareTuples([score(view, a), a.id], [score(view, b), b.id]));
  const sources = [...stores].sort((a, b) => compareTuples([score(view, b), b.id], [score(view, a), a.id]));
  const source = sources[0];
  if (source === undefined) return null;
  for (const target of targets) {
    const diff = score(view, source) - score(view, target);
    if (diff <= tolerance(view)) return null;
    const found = regionToMove(view, free, source, target, diff);
    if (found === undefined) continue;
    const peerId = view.input.allocId();
    if (peerId === undefined) return null;
    const desc = `balance regions: store ${source.id} → store ${target.id} (${view.config.balanceRegionBy} ${score(view, source)} vs ${score(view, target)})`;
    return movePeerOperator({ info: found.info, kind: 'balanceRegion', desc, nowMs: view.nowMs }, found.peer, target.id, peerId);
  }
  return null;
}

/**
 * A free, fully healthy and fully replicated region with a peer on `source`, none on `target`, whose move keeps
 * the placement score and shrinks the gap (its weight is below the difference).
 */
function regionToMove(view: ClusterView, free: RegionFree, source: StoreView, target: StoreView, diff: number): { info: RegionInfo; peer: Peer } | undefined {
  for (const info of view.regions()) {
    if (!free(info) || info.leader === undefined || info.pendingPeers.length > 0 || info.downPeers.length > 0) continue;
    const peers = info.region.peers;
    const peer = peers.find((p) => p.storeId === source.id);
    if (peer === undefined || peers.some((p) => p.storeId === target.id) || !peers.every((p) => view.peerCanStay(p))) continue;
    // Only fully replicated regions move: the replica checker finishes its work first.
    if (peers.length !== view.wantedReplicas(view.config.maxReplicas) || weight(view, info) >= diff) continue;
    const all = peers.map((p) => p.storeId);
    const after = all.map((s) => (s === source.id ? target.id : s));
    // Never a worse spread (engines, then isolation domains): the replica checker would move it back.
    if (compareTuples(placementScore(view, after), placementScore(view, all)) < 0) continue;
    return { info, peer };
  }
  return undefined;
}
