/**
 * Which region heartbeats are worth a Raft proposal. PD keeps region metadata in its
 * replicated state; a heartbeat that changes nothing a reader or scheduler relies on (same
 * epoch, term, leader, peer lists, statistics within a ratio) need not go through Raft, however
 * long ago the last one went (PD persists a region heartbeat only when its meta or statistics
 * changed, as TiKV's PD does). A region's `lastHeartbeatMs` is so the time of its last change
 * PD recorded. There was a refresh of unchanged heartbeats once a minute: with 10,000 idle
 * regions it was 10,000 proposals a minute for no change (issue 16, `bench:idle`). The operator
 * controller still sees every heartbeat (`Scheduler.onRegionHeartbeat`).
 *
 * Store heartbeats likewise: one whose stats changed goes through Raft; an unchanged one only
 * refreshes the store's liveness in the PD leader's memory (`PdLeader.onStoreHeartbeat`), and
 * through Raft once the recorded time is `1 / STORE_HEARTBEAT_PERSIST_DIVISOR` of
 * `maxStoreDownTimeMs` old, so a new PD leader never finds a live store silent past half the
 * down time, the age at which it is suspect (replica-checker.ts). Proposing every store's
 * heartbeat each second was PD's Raft log's whole idle traffic, with a saved PD snapshot every
 * 64 entries (issue 16, `bench:idle`).
 */
import type { Peer, PeerId, RegionHeartbeat, StoreStats } from './meta.ts';
import type { RegionInfo } from './region-tree.ts';
import type { PdStateMachine } from './state-machine.ts';

/** How much a heartbeat's statistics must change to be proposed. */
export interface HeartbeatFilterConfig {
  /** Propose when size, keys or write rate moved by more than this fraction. */
  statsChangeRatio: number;
}

/** Defaults: a 10% change of the statistics. */
export const DEFAULT_HEARTBEAT_FILTER_CONFIG: Readonly<HeartbeatFilterConfig> = Object.freeze({
  statsChangeRatio: 0.1,
});

function samePeers(a: readonly Peer[], b: readonly Peer[]): boolean {
  return a.length === b.length && a.every((p, i) => p.id === b[i].id && p.storeId === b[i].storeId && p.role === b[i].role);
}

function sameIds(a: readonly PeerId[], b: readonly PeerId[]): boolean {
  return a.length === b.length && a.every((id, i) => id === b[i]);
}

function moved(before: number, after: number, ratio: number): boolean {
  return Math.abs(after - before) > ratio * Math.max(before, 1);
}

function statsMoved(known: RegionInfo, hb: RegionHeartbeat, ratio: number): boolean {
  return (
    moved(known.approximateSizeBytes, hb.approximateSizeBytes, ratio) ||
    moved(known.approximateKeys, hb.approximateKeys, ratio) ||
    moved(known.writtenBytesPerSec, hb.writtenBytesPerSec, ratio)
  );
}

/** Whether the PD leader should propose `hb` as a `regionHeartbeat` command now. */
export function shouldProposeRegionHeartbeat(sm: PdStateMachine, hb: RegionHeartbeat, config: HeartbeatFilterConfig = DEFAULT_HEARTBEAT_FILTER_CONFIG): boolean {
  const known = sm.getReplicatedRegionById(hb.region.id);
  if (known === undefined) return true;
  const r = known.region;
  if (r.epoch.version !== hb.region.epoch.version || r.epoch.confVer !== hb.region.epoch.confVer) return true;
  if (known.term !== hb.term || known.leader?.id !== hb.leader.id || !samePeers(r.peers, hb.region.peers)) return true;
  if (!sameIds(known.downPeers, hb.downPeers) || !sameIds(known.pendingPeers, hb.pendingPeers)) return true;
  return statsMoved(known, hb, config.statsChangeRatio);
}

/**
 * A store's recorded heartbeat is refreshed through Raft once older than `maxStoreDownTimeMs`
 * over this (37.5 s at the default 5 min; a new leader judges a store suspect at half of it).
 */
export const STORE_HEARTBEAT_PERSIST_DIVISOR = 8;

function sameDamaged(a: readonly number[] | undefined, b: readonly number[] | undefined): boolean {
  return sameIds(a ?? [], b ?? []);
}

/** Whether the PD leader at `nowMs` should propose a store heartbeat of `stats` as a `storeHeartbeat` command. */
export function shouldProposeStoreHeartbeat(sm: PdStateMachine, stats: StoreStats, nowMs: number, config: HeartbeatFilterConfig = DEFAULT_HEARTBEAT_FILTER_CONFIG): boolean {
  const known = sm.getStore(stats.storeId);
  // Unknown and tombstoned stores are refused by the apply handler, which says why.
  if (known === undefined || known.meta.state === 'tombstone' || known.stats === undefined) return true;
  if (nowMs - known.lastHeartbeatMs >= sm.config.maxStoreDownTimeMs / STORE_HEARTBEAT_PERSIST_DIVISOR) return true;
  const k = known.stats;
  if (k.draining !== stats.draining || !sameDamaged(k.damagedRegionIds, stats.damagedRegionIds)) return true;
  if (k.capacityBytes !== stats.capacityBytes || k.regionCount !== stats.regionCount || k.leaderCount !== stats.leaderCount) return true;
  return moved(k.usedBytes, stats.usedBytes, config.statsChangeRatio) || moved(k.availableBytes, stats.availableBytes, config.statsChangeRatio);
}
