/**
 * Which region heartbeats are worth a Raft proposal. PD keeps region metadata in its
 * replicated state; a heartbeat that changes nothing a reader or scheduler relies on (same
 * epoch, term, leader, peer lists, statistics within a ratio) need not go through Raft,
 * except once every `refreshMs` so `lastHeartbeatMs` stays fresh. The operator controller
 * should still see every heartbeat (`Scheduler.onRegionHeartbeat`).
 */
import type { Peer, PeerId, RegionHeartbeat } from './meta.ts';
import type { RegionInfo } from './region-tree.ts';
import type { PdStateMachine } from './state-machine.ts';

/** When a heartbeat is proposed even though nothing changed. */
export interface HeartbeatFilterConfig {
  /** Propose at least this often per region. */
  refreshMs: number;
  /** Propose when size, keys or write rate moved by more than this fraction. */
  statsChangeRatio: number;
}

/** Defaults: refresh every minute, or on a 10% change of the statistics. */
export const DEFAULT_HEARTBEAT_FILTER_CONFIG: Readonly<HeartbeatFilterConfig> = Object.freeze({
  refreshMs: 60_000,
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
export function shouldProposeRegionHeartbeat(
  sm: PdStateMachine,
  hb: RegionHeartbeat,
  nowMs: number,
  config: HeartbeatFilterConfig = DEFAULT_HEARTBEAT_FILTER_CONFIG,
): boolean {
  const known = hb.region.id === sm.pdRegionId ? sm.pdGroup : sm.getRegionById(hb.region.id);
  if (known === undefined) return true;
  const r = known.region;
  if (r.epoch.version !== hb.region.epoch.version || r.epoch.confVer !== hb.region.epoch.confVer) return true;
  if (known.term !== hb.term || known.leader?.id !== hb.leader.id || !samePeers(r.peers, hb.region.peers)) return true;
  if (!sameIds(known.downPeers, hb.downPeers) || !sameIds(known.pendingPeers, hb.pendingPeers)) return true;
  if (statsMoved(known, hb, config.statsChangeRatio)) return true;
  return nowMs - known.lastHeartbeatMs >= config.refreshMs;
}
