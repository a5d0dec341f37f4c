/**
 * Leader placement: drain-leader moves every leader (PD's group included) off stores that
 * are draining (a tab closing) or offline; balance-leader moves leaders from the store with the most to the one
 * with the fewest while they differ by more than `leaderScheduleTolerance`, leaving alone the
 * regions short of replicas (`shortOfReplicas`).
 */
import type { StoreId } from '../meta.ts';
import { transferLeaderOperator } from '../operator/build.ts';
import type { Operator } from '../operator/types.ts';
import type { RegionInfo } from '../region-tree.ts';
import type { ClusterView, StoreView } from './cluster-view.ts';
import { compareTuples, pickLeaderTarget } from './placement.ts';

/** Whether a region may get a new operator this round. */
export type RegionFree = (info: RegionInfo) => boolean;

/** Hands an operator to the controller; false when refused (limits), which ends a batch. */
export type SubmitOperator = (op: Operator) => boolean;

/**
 * Leaders on draining or offline stores (PD's own group first), each moved to a healthy
 * voter with the fewest leaders.
 */
export function drainLeaders(view: ClusterView, free: RegionFree, submit: SubmitOperator): void {
  const pd = view.input.sm.pdGroup;
  for (const info of pd === undefined ? view.regions() : [pd, ...view.regions()]) {
    const from = info.leader && view.store(info.leader.storeId);
    if (from === undefined || !free(info) || !(from.isDraining || from.meta.state === 'offline')) continue;
    const to = pickLeaderTarget(view, info);
    if (to === undefined) continue;
    const why = from.isDraining ? 'draining' : 'offline';
    submit(transferLeaderOperator({ info, kind: 'drainLeader', desc: `move leader off ${why} store ${from.id}`, nowMs: view.nowMs }, from.id, to.storeId));
  }
}

/** Stores that may take part in leader balance. */
function leaderBalanceStores(view: ClusterView): StoreView[] {
  return [...view.stores.values()].filter((s) => s.canReceive);
}

/**
 * Up to `batchMax` leader moves from the most loaded to the least loaded store. Each move
 * is counted (by `submit`) before the next is chosen, so the round converges instead of overshooting.
 */
export function balanceLeaders(view: ClusterView, free: RegionFree, submit: SubmitOperator, batchMax: number): void {
  for (let i = 0; i < batchMax; i++) {
    const op = balanceOneLeader(view, free);
    if (op === null || !submit(op)) return;
  }
}

function balanceOneLeader(view: ClusterView, free: RegionFree): Operator | null {
  const stores = leaderBalanceStores(view);
  if (stores.length < 2) return null;
  const byLoad = [...stores].sort((a, b) => compareTuples([a.leaderCount, a.id], [b.leaderCount, b.id]));
  const source = byLoad[byLoad.length - 1];
  for (const target of byLoad) {
    if (source.leaderCount - target.leaderCount <= view.config.leaderScheduleTolerance) return null;
    const info = regionToMove(view, free, source.id, target.id);
    if (info === undefined) continue;
    const desc = `balance leaders: store ${source.id} (${source.leaderCount}) → store ${target.id} (${target.leaderCount})`;
    return transferLeaderOperator({ info, kind: 'balanceLeader', desc, nowMs: view.nowMs }, source.id, target.id);
  }
  return null;
}

/**
 * A free region led on `from` with a caught-up voter on `to`, not short of replicas: a region
 * with fewer voters than it wants is being repaired (or grown for a joining store) by its
 * leader, and a leader move in between stalls the repair for an election and a heartbeat
 * (issue 16: the joining store's replica waited on it).
 */
function regionToMove(view: ClusterView, free: RegionFree, from: StoreId, to: StoreId): RegionInfo | undefined {
  const wanted = view.wantedReplicas(view.config.maxReplicas);
  return view.regions().find((info) => {
    if (info.leader?.storeId !== from || !free(info) || shortOfReplicas(view, info, wanted)) return false;
    const peer = info.region.peers.find((p) => p.storeId === to);
    return peer !== undefined && peer.role === 'voter' && !info.pendingPeers.includes(peer.id) && !info.downPeers.includes(peer.id);
  });
}

/** Whether `info` has fewer voters on stores that can keep them than the `wanted` replicas. */
function shortOfReplicas(view: ClusterView, info: RegionInfo, wanted: number): boolean {
  return info.region.peers.filter((p) => p.role === 'voter' && view.peerCanStay(p)).length < wanted;
}
