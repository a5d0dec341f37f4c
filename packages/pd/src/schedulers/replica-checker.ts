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
 *  5. a replica moves where the group's `placementScore` rises: onto another engine while the
 *     full replicas span fewer than `enginesWanted` (`replicaEnginesMin`), else apart from a
 *     replica sharing its isolation label when a store with a new label exists.
 * Witness peers (on witness stores) are counted apart from full ones (`wantedPlacement`): a
 * full replica is only ever replaced by, added as or moved to a full one on a full store, a
 * witness by a witness on a witness store; a third full store gets a full replica first, and
 * the witness goes only once `maxReplicas` full replicas can stay ("2 full + 1 witness"
 * becomes 3 full). A full replica is never removed while the others left cannot answer, so a
 * witness is never the only copy of any data.
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
import { compareTuples, pickLeaderTarget, pickTargetStore, placementScore, sharesLabel } from './placement.ts';

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

/** Replicas of one kind wanted: full ones up to maxReplicas (fewer when fewer full stores can hold one), witnesses per `wantedPlacement`. */
function wanted(ctx: CheckContext, witness: boolean): number {
  const w = ctx.view.wantedPlacement(ctx.maxReplicas);
  return witness ? w.witness : w.full;
}

/** Whether `p` is a witness exactly when `witness` says so. */
function ofKind(p: Peer, witness: boolean): boolean {
  return Boolean(p.witness) === witness;
}

function checkLearners(ctx: CheckContext): Operator | null {
  const { view, info } = ctx;
  const learner = info.region.peers.find((p) => p.role === 'learner');
  if (learner === undefined) return null;
  const kind = Boolean(learner.witness);
  const voters = info.region.peers.filter((p) => p.role === 'voter' && ofKind(p, kind) && view.peerCanStay(p)).length;
  if (view.peerCanStay(learner) && !view.peerDamaged(info.region.id, learner) && voters < wanted(ctx, kind)) {
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
    const store = pickTargetStore(view, staying, storeIds(peers), Boolean(source.witness));
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
  const voters = ctx.info.region.peers.filter((p) => p !== victim && p.role === 'voter');
  return voters.filter((p) => answersNow(ctx, p)).length > voters.length / 2;
}

/** Whether `p` answers now: its store can keep it and heard from lately, and the leader reports it neither down, pending nor damaged. */
function answersNow(ctx: CheckContext, p: Peer): boolean {
  const { view, info } = ctx;
  const suspectMs = view.config.maxStoreDownTimeMs / 2;
  return view.peerCanStay(p) && (view.store(p.storeId)?.heartbeatAgeMs ?? Infinity) <= suspectMs && !info.downPeers.includes(p.id) && !info.pendingPeers.includes(p.id) && !view.peerDamaged(info.region.id, p);
}

function addMissing(ctx: CheckContext): Operator | null {
  const { view, info } = ctx;
  const peers = info.region.peers;
  // Full replicas first: a witness joins only a group that has its full replicas.
  for (const witness of [false, true]) {
    const have = peers.filter((p) => ofKind(p, witness)).length;
    if (have >= wanted(ctx, witness)) continue;
    const store = pickTargetStore(view, storeIds(peers.filter((p) => view.peerCanStay(p))), storeIds(peers), witness);
    if (store === undefined) continue;
    const peerId = view.input.allocId();
    if (peerId === undefined) return null;
    const what = witness ? 'witness' : 'replica';
    return addVoterOperator(origin(ctx, 'addReplica', `add ${what} on store ${store.id} (${have} < ${wanted(ctx, witness)})`), store.id, peerId, witness);
  }
  return null;
}

/**
 * The peers one of which is extra: the witnesses when more than `wantedPlacement` wants (a
 * third full store holds a replica by now: `addMissing` runs first; or no witness store can
 * hold one), else every full replica when the group is past `maxReplicas`; empty when
 * nothing is extra. `removeExtra` still removes none that the group's quorum needs.
 */
function extraPool(ctx: CheckContext): Peer[] {
  const peers = ctx.info.region.peers;
  const witnesses = peers.filter((p) => p.witness);
  if (witnesses.length > wanted(ctx, true)) return witnesses;
  return peers.length > ctx.maxReplicas ? peers.filter((p) => !p.witness) : [];
}

function removeExtra(ctx: CheckContext): Operator | null {
  const { view, info } = ctx;
  const peers = info.region.peers;
  const pool = extraPool(ctx);
  if (pool.length === 0) return null;
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
    // Never below the engines wanted while another victim keeps them (`placementScore`).
    placementScore(view, all.filter((id) => id !== p.storeId))[0] < placementScore(view, all)[0] ? 1 : 0,
    sharesLabel(view, p.storeId, all) ? 0 : 1,
    p.id === info.leader?.id ? 1 : 0,
    -(view.store(p.storeId)?.regionCount ?? 0),
    -p.storeId,
  ];
  // Never remove a peer when the voters left would have no quorum of stores that answer now,
  // nor a full replica unless another full one answers: a witness is never the only copy.
  const keeps = (victim: Peer): boolean =>
    quorumWithout(ctx, victim) && (victim.witness === true || peers.some((p) => p !== victim && p.role === 'voter' && !p.witness && answersNow(ctx, p)));
  const victim = [...pool].sort((a, b) => compareTuples(key(a), key(b))).find(keeps);
  if (victim === undefined) return null;
  const leaderTarget = victim.id === info.leader?.id ? pickLeaderTarget(view, info) : undefined;
  if (victim.id === info.leader?.id && leaderTarget === undefined) return null;
  const why = victim.witness ? `remove witness ${victim.id} (${peers.length - pool.length} full replicas)` : `remove extra peer ${victim.id} (${peers.length} > ${ctx.maxReplicas})`;
  return removePeerOperator(origin(ctx, 'removeReplica', why), victim, leaderTarget?.storeId);
}

/**
 * Moves one full replica where it raises the group's `placementScore`: onto another engine
 * while the replicas span fewer than `enginesWanted`, else onto a new isolation domain (a
 * witness holds no data to isolate). Of all (source, target) pairs found, the best score wins;
 * ties go to the first source in order (sharing a label first, not the leader, most regions).
 * A move only ever raises the score, so moves end.
 */
function improvePlacement(ctx: CheckContext): Operator | null {
  const { view, info } = ctx;
  const peers = info.region.peers.filter((p) => !p.witness);
  const all = storeIds(peers);
  const before = placementScore(view, all);
  if (before[0] >= view.enginesWanted && before[1] === peers.length) return null;
  const key = (p: Peer): number[] => [sharesLabel(view, p.storeId, all) ? 0 : 1, p.id === info.leader?.id ? 1 : 0, -(view.store(p.storeId)?.regionCount ?? 0), -p.storeId];
  const sources = [...peers].sort((a, b) => compareTuples(key(a), key(b)));
  let best: { source: Peer; storeId: number; score: [number, number] } | undefined;
  for (const source of sources) {
    const staying = all.filter((s) => s !== source.storeId);
    const store = pickTargetStore(view, staying, storeIds(info.region.peers));
    if (store === undefined) continue;
    const score = placementScore(view, [...staying, store.id]);
    if (compareTuples(score, best?.score ?? before) > 0) best = { source, storeId: store.id, score };
  }
  if (best === undefined) return null;
  const peerId = view.input.allocId();
  if (peerId === undefined) return null;
  const why = best.score[0] > before[0] ? `${best.score[0]} engines` : `distinct ${view.config.isolationLabel}`;
  return movePeerOperator(origin(ctx, 'placement', `move peer ${best.source.id} to store ${best.storeId} for ${why}`), best.source, best.storeId, peerId);
}
