/**
 * Apply handler for region heartbeats, with TiKV's staleness rules: a heartbeat is refused
 * when its epoch is older than PD's copy of the same region in either dimension (`version`
 * and `confVer` compared separately), when an overlapping region has a newer `version`, or
 * when the epoch is equal but the Raft term went backwards. An accepted heartbeat replaces
 * every overlapping region, so the known ranges stay disjoint.
 */
import type { PdApplyResult, RegionHeartbeatCommand } from '../command.ts';
import type { Peer, Region, RegionHeartbeat } from '../meta.ts';
import { compareKeys, isEpochStale } from '../meta.ts';
import type { PdState } from '../pd-state.ts';
import type { RegionInfo } from '../region-tree.ts';

/** A refusal for a malformed argument. */
export function invalid(reason: string): PdApplyResult {
  return { kind: 'refused', error: { kind: 'InvalidArgument', reason } };
}

/** Why a region is malformed (empty range, duplicate peers), or null. */
export function regionProblem(region: Region): string | null {
  if (region.endKey.length !== 0 && compareKeys(region.startKey, region.endKey) >= 0) return 'region range is empty';
  if (region.peers.length === 0) return 'region has no peers';
  if (new Set(region.peers.map((p) => p.id)).size !== region.peers.length) return 'duplicate peer ids';
  if (new Set(region.peers.map((p) => p.storeId)).size !== region.peers.length) return 'two peers on one store';
  return null;
}

/** A fresh `RegionInfo` for a region PD creates itself (bootstrap). */
export function newRegionInfo(region: Region, leader: Peer | undefined, nowMs: number): RegionInfo {
  return {
    region: copyRegion(region),
    leader: leader && { ...leader },
    downPeers: [],
    pendingPeers: [],
    approximateSizeBytes: 0,
    approximateKeys: 0,
    writtenBytesPerSec: 0,
    term: 0,
    lastHeartbeatMs: nowMs,
  };
}

/** A deep copy, so the state never aliases a caller's objects. */
export function copyRegion(r: Region): Region {
  return { id: r.id, startKey: r.startKey.slice(), endKey: r.endKey.slice(), epoch: { ...r.epoch }, peers: r.peers.map((p) => ({ ...p })) };
}

function infoFromHeartbeat(hb: RegionHeartbeat, nowMs: number): RegionInfo {
  return {
    region: copyRegion(hb.region),
    leader: { ...hb.leader },
    downPeers: [...hb.downPeers],
    pendingPeers: [...hb.pendingPeers],
    approximateSizeBytes: hb.approximateSizeBytes,
    approximateKeys: hb.approximateKeys,
    writtenBytesPerSec: hb.writtenBytesPerSec,
    term: hb.term,
    lastHeartbeatMs: nowMs,
  };
}

/** The refusal for `hb` against PD's copy of the same region, or null when it may replace it. */
function staleAgainst(hb: RegionHeartbeat, known: RegionInfo | undefined): PdApplyResult | null {
  if (known === undefined) return null;
  const { epoch, id } = hb.region;
  if (isEpochStale(epoch, known.region.epoch)) return { kind: 'refused', error: { kind: 'StaleRegion', regionId: id, current: copyRegion(known.region) } };
  const sameEpoch = epoch.version === known.region.epoch.version && epoch.confVer === known.region.epoch.confVer;
  if (sameEpoch && hb.term < known.term) {
    return { kind: 'refused', error: { kind: 'StaleTerm', regionId: id, term: hb.term, knownTerm: known.term } };
  }
  return null;
}

function heartbeatProblem(hb: RegionHeartbeat): string | null {
  const problem = regionProblem(hb.region);
  if (problem !== null) return problem;
  const leader = hb.region.peers.find((p) => p.id === hb.leader.id);
  if (leader === undefined || leader.storeId !== hb.leader.storeId) return 'leader is not a peer of the region';
  return null;
}

/** Accepts a region heartbeat unless stale (see the module header); PD's own group is kept apart. */
export function applyRegionHeartbeat(s: PdState, cmd: RegionHeartbeatCommand): PdApplyResult {
  if (!s.bootstrapped || s.pdGroup === undefined) return { kind: 'refused', error: { kind: 'NotBootstrapped' } };
  const hb = cmd.heartbeat;
  const problem = heartbeatProblem(hb);
  if (problem !== null) return invalid(problem);
  if (hb.region.id === s.pdGroup.region.id) return applyPdGroupHeartbeat(s, cmd);
  const stale = staleAgainst(hb, s.regions.getById(hb.region.id));
  if (stale !== null) return stale;
  for (const o of s.regions.scan(hb.region.startKey, hb.region.endKey)) {
    if (o.region.id !== hb.region.id && hb.region.epoch.version < o.region.epoch.version) {
      return { kind: 'refused', error: { kind: 'StaleRegion', regionId: hb.region.id, current: copyRegion(o.region) } };
    }
  }
  const removedRegionIds = s.regions.upsert(infoFromHeartbeat(hb, cmd.nowMs));
  return { kind: 'regionUpdated', regionId: hb.region.id, removedRegionIds };
}

/** PD's own group has no key range: only its epoch and term are checked. */
function applyPdGroupHeartbeat(s: PdState, cmd: RegionHeartbeatCommand): PdApplyResult {
  const stale = staleAgainst(cmd.heartbeat, s.pdGroup);
  if (stale !== null) return stale;
  const info = infoFromHeartbeat(cmd.heartbeat, cmd.nowMs);
  info.region = { ...info.region, startKey: new Uint8Array(0), endKey: new Uint8Array(0) };
  s.pdGroup = info;
  return { kind: 'regionUpdated', regionId: info.region.id, removedRegionIds: [] };
}
