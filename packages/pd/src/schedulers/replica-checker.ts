/**
 * The replica checker (TiKV's `replica_checker`), for data regions (`maxReplicas`) and PD's
 * own group (`pdReplicas`). In order, for a region with no running operator:
 *  1. a leftover learner is promoted when voters are missing, else removed;
 *  2. a peer on a store that cannot keep it (down past `maxStoreDownTimeMs`, offline,
 *     tombstone, unknown) is replaced: a new peer is added first, then the old one removed;
 *     so is a damaged replica (its store reports that it cannot serve: a received snapshot
 *     whose staged stream is lost), and when no other store can take it, it is removed alone
 *     (if the voters left have a quorum that answers) and step 3 adds a new one, on its store
 *     too once the old replica is gone;
 *  3. missing replicas are added, up to min(maxReplicas, stores that can hold one);
 *  4. replicas beyond `maxReplicas` are removed (unhealthy first, then those sharing a label);
 *  5. two replicas sharing an isolation label move apart when a store with a new label exists.
 * A region whose leader is unknown or sits on a down store is left until a live leader
 * reports it (operators are carried out by the leader), and so is one with a learner still
 * catching up.
 */
import type { Peer } from '../meta.ts';
import type { OperatorOrigin } from '../operator/build.ts';
import { addVoterOperator, movePeerOperator, promoteLearnerOperator, removePeerOperator } from '../operator/build.ts';
import type { Operator, OperatorKind } from '../operator/types.ts';
import type { RegionInfo } from '../region-tree.ts';
import type { ClusterView } from './cluster-view.ts';
import { compareTuples, distinctDomains, pickLeaderTarget, pickTargetStore, sharesLabel } from './placement.ts';

/** Which group a check is for: data regions keep `maxReplicas`, PD's group `pdReplicas`. */
export type ReplicaTarget = 'data' | 'pdGroup';

/** The operator the region needs now, or null. */
export function checkReplicas(view: ClusterView, info: RegionInfo, target: ReplicaTarget): Operator | null {
  const { peers } = info.region;
  if (peers.some((p) => p.role === 'incomingVoter' || p.role === 'demotingVoter')) return null;
  const leaderStore = info.leader && view.store(info.leader.storeId);
  if (leaderStore === undefined || leaderStore.isDown) return null;
  const maxReplicas = target === 'pdGroup' ? view.config.pdReplicas : view.config.maxReplicas;
  const ctx: CheckContext = { view, info, maxReplicas, pd: target === 'pdGroup' };
  // A learner still catching up (e.g. from an operator a previous PD leader started): wait for it.
  if (peers.some((p) => p.role === 'learner' && info.pendingPeers.includes(p.id) && view.peerCanStay(p) && !view.peerDamaged(info.region.id, p))) return null;
  return checkLearners(ctx) ?? replaceUnhealthy(ctx) ?? addMissing(ctx) ?? removeExtra(ctx) ?? improvePlacement(ctx);
}

interface CheckContext {
  view: ClusterView;
  info: RegionInfo;
  maxReplicas: number;
  pd: boolean;
}

function origin(ctx: CheckContext, kind: OperatorKind, desc: string): OperatorOrigin {
  return { info: ctx.info, kind: ctx.pd ? 'pdGroup' : kind, desc, nowMs: ctx.view.nowMs };
}

function storeIds(peers: readonly Peer[]): number[] {
  return peers.map((p) => p.storeId);
}

/** Replicas wanted: maxReplicas, or fewer when fewer stores can hold one. */
function wanted(ctx: CheckContext): number {
  return ctx.view.wantedReplicas(ctx.maxReplicas);
}

function checkLearners(ctx: CheckContext): Operator | null {
  const { view, info } = ctx;
  const learner = info.region.peers.find((p) => p.role === 'learner');
  if (learner === undefined) return null;
  const voters = info.region.peers.filter((p) => p.role === 'voter' && view.peerCanStay(p)).length;
  if (view.peerCanStay(learner) && !view.peerDamaged(info.region.id, learner) && voters < wanted(ctx)) {
    return promoteLearnerOperator(origin(ctx, 'addReplica', `promote leftover learner ${learner.id}`), learner.storeId, learner.id);
  }
  return removePeerOperator(origin(ctx, 'removeReplica', `remove leftover learner ${learner.id}`), learner, undefined);
}

function replaceUnhealthy(ctx: CheckContext): Operator | null {
  const { view, info } = ctx;
  const peers = info.region.peers;
  const damaged = (p: Peer): boolean => view.peerDamaged(info.region.id, p) && p.id !== info.leader?.id;
  const bad = peers.filter((p) => !view.peerCanStay(p) || damaged(p)).sort((a, b) => a.id - b.id);
  for (const source of bad) {
    const staying = storeIds(peers.filter((p) => view.peerCanStay(p) && !damaged(p)));
    const store = pickTargetStore(view, staying, storeIds(peers));
    const peerId = store && view.input.allocId();
    const why = damaged(source) ? `damaged replica ${source.id} on store ${source.storeId}` : `peer ${source.id} on unhealthy store ${source.storeId}`;
    if (store !== undefined && peerId !== undefined) {
      return movePeerOperator(origin(ctx, 'replaceReplica', `replace ${why}`), source, store.id, peerId);
    }
    // No other store: a damaged replica goes alone (it serves nothing and holds up no quorum it
    // answers for), unless the voters left would lack a quorum that answers.
    if (damaged(source) && quorumWithout(ctx, source)) return removePeerOperator(origin(ctx, 'replaceReplica', `remove ${why}`), source, undefined);
  }
  return null;
}

/**
 * Whether the voters other than `victim` have a quorum of peers that answer now. A voter on a
 * store that is down or silent is no help, nor one the leader reports down or pending
 * (lagging), nor a damaged one: wait for the group to heal first.
 */
function quorumWithout(ctx: CheckContext, victim: Peer): boolean {
  const { view, info } = ctx;
  const suspectMs = view.config.maxStoreDownTimeMs / 2;
  const answering = (p: Peer): boolean =>
    view.peerCanStay(p) && (view.store(p.storeId)?.heartbeatAgeMs ?? Infinity) <= suspectMs && !info.downPeers.includes(p.id) && !info.pendingPeers.includes(p.id) && !view.peerDamaged(info.region.id, p);
  const voters = info.region.peers.filter((p) => p !== victim && p.role === 'voter');
  return voters.filter(answering).length > voters.length / 2;
}

function addMissing(ctx: CheckContext): Operator | null {
  const { view, info } = ctx;
  const peers = info.region.peers;
  if (peers.length >= wanted(ctx)) return null;
  const store = pickTargetStore(view, storeIds(peers.filter((p) => view.peerCanStay(p))), storeIds(peers));
  const peerId = store && view.input.allocId();
  if (store === undefined || peerId === undefined) return null;
  return addVoterOperator(origin(ctx, 'addReplica', `add replica on store ${store.id} (${peers.length} < ${wanted(ctx)})`), store.id, peerId);
}

function removeExtra(ctx: CheckContext): Operator | null {
  const { view, info } = ctx;
  const peers = info.region.peers;
  if (peers.length <= ctx.maxReplicas) return null;
  const all = storeIds(peers);
  // A store silent for half the down time is suspect even before it counts as down (a new
  // PD leader waits a full down time before judging): remove its peer before a healthy one,
  // or a dead voter may stay while a live one goes (found by the cluster simulator).
  const suspectMs = view.config.maxStoreDownTimeMs / 2;
  const ageMs = (p: Peer): number => view.store(p.storeId)?.heartbeatAgeMs ?? Infinity;
  const key = (p: Peer): number[] => [
    view.peerCanStay(p) ? 1 : 0,
    ageMs(p) > suspectMs ? 0 : 1,
    // Of two suspects, the one silent longer goes first (a store that died seconds ago before
    // one that missed a heartbeat: otherwise a dead voter could stay while a live one goes and
    // leave the group in a joint config it can never leave; cluster seed 876).
    ageMs(p) > suspectMs ? -Math.min(ageMs(p), Number.MAX_SAFE_INTEGER) : 0,
    sharesLabel(view, p.storeId, all) ? 0 : 1,
    p.id === info.leader?.id ? 1 : 0,
    -(view.store(p.storeId)?.regionCount ?? 0),
    -p.storeId,
  ];
  // Never remove a peer when the voters left would have no quorum of stores that answer now.
  const victim = [...peers].sort((a, b) => compareTuples(key(a), key(b))).find((p) => quorumWithout(ctx, p));
  if (victim === undefined) return null;
  const leaderTarget = victim.id === info.leader?.id ? pickLeaderTarget(view, info) : undefined;
  if (victim.id === info.leader?.id && leaderTarget === undefined) return null;
  return removePeerOperator(origin(ctx, 'removeReplica', `remove extra peer ${victim.id} (${peers.length} > ${ctx.maxReplicas})`), victim, leaderTarget?.storeId);
}

function improvePlacement(ctx: CheckContext): Operator | null {
  const { view, info } = ctx;
  const peers = info.region.peers;
  const all = storeIds(peers);
  const before = distinctDomains(view, all);
  if (before === peers.length) return null;
  const key = (p: Peer): number[] => [p.id === info.leader?.id ? 1 : 0, -(view.store(p.storeId)?.regionCount ?? 0), -p.storeId];
  const sources = peers.filter((p) => sharesLabel(view, p.storeId, all)).sort((a, b) => compareTuples(key(a), key(b)));
  for (const source of sources) {
    const staying = all.filter((s) => s !== source.storeId);
    const store = pickTargetStore(view, staying, all);
    if (store === undefined || distinctDomains(view, [...staying, store.id]) <= before) continue;
    const peerId = view.input.allocId();
    if (peerId === undefined) return null;
    return movePeerOperator(origin(ctx, 'placement', `move peer ${source.id} to store ${store.id} for distinct ${view.config.isolationLabel}`), source, store.id, peerId);
  }
  return null;
}
