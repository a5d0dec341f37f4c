/**
 * Apply handlers for cluster-wide commands: bootstrap (once), id batches, the TSO bound and
 * the schedule config.
 */
import type { AllocIdsCommand, BootstrapCommand, PdApplyResult, SetScheduleConfigCommand, TsoSaveWindowCommand } from '../command.ts';
import { validateScheduleConfig } from '../config.ts';
import { ID_BATCH_MAX } from '../limits.ts';
import type { Region } from '../meta.ts';
import type { PdState } from '../pd-state.ts';
import { TSO_PHYSICAL_MS_MAX } from '../timestamp.ts';
import { invalid, newRegionInfo, regionProblem } from './region.ts';

/** PD's group as a region without a key range. */
function pdGroupRegion(cmd: BootstrapCommand): Region {
  const { regionId, epoch, peers } = cmd.pdGroup;
  return { id: regionId, startKey: new Uint8Array(0), endKey: new Uint8Array(0), epoch: { ...epoch }, peers };
}

/** Every id a bootstrap command assigns. */
function bootstrapIds(cmd: BootstrapCommand): number[] {
  const { store, region, pdGroup } = cmd;
  return [store.id, region.id, pdGroup.regionId, ...region.peers.map((p) => p.id), ...pdGroup.peers.map((p) => p.id)];
}

/** Why a bootstrap command is malformed, or null. */
function bootstrapProblem(cmd: BootstrapCommand): string | null {
  const { store, region, pdGroup } = cmd;
  if (cmd.clusterId <= 0) return 'clusterId must be positive';
  if (store.id <= 0) return 'store id must be positive';
  if (region.startKey.length !== 0 || region.endKey.length !== 0) return 'the first region must cover all keys';
  const problem = regionProblem(region);
  if (problem !== null) return problem;
  if (!region.peers.some((p) => p.storeId === store.id && p.role === 'voter')) return 'the first region needs a voter on the first store';
  const pdProblem = regionProblem(pdGroupRegion(cmd));
  if (pdProblem !== null) return `PD group: ${pdProblem}`;
  const ids = bootstrapIds(cmd);
  if (ids.some((id) => id <= 0)) return 'ids must be positive';
  if (new Set(ids).size !== ids.length) return 'store, region and peer ids must be distinct';
  return null;
}

/** Creates the cluster once; ids start past every id the bootstrap assigns. */
export function applyBootstrap(s: PdState, cmd: BootstrapCommand): PdApplyResult {
  if (s.bootstrapped) return { kind: 'refused', error: { kind: 'AlreadyBootstrapped', clusterId: s.clusterId } };
  const problem = bootstrapProblem(cmd);
  if (problem !== null) return invalid(problem);
  s.bootstrapped = true;
  s.clusterId = cmd.clusterId;
  s.stores.set(cmd.store.id, {
    meta: { ...cmd.store, labels: { ...cmd.store.labels }, state: 'up' },
    stats: undefined,
    lastHeartbeatMs: cmd.nowMs,
  });
  const leader = cmd.region.peers.find((p) => p.storeId === cmd.store.id);
  s.regions.upsert(newRegionInfo(cmd.region, leader, cmd.nowMs));
  s.pdGroup = newRegionInfo(pdGroupRegion(cmd), cmd.pdGroup.peers[0], cmd.nowMs);
  s.idHighWater = Math.max(s.idHighWater, ...bootstrapIds(cmd));
  return { kind: 'bootstrapped', clusterId: cmd.clusterId };
}

/** Grants the next `count` ids to the requester named in the command. */
export function applyAllocIds(s: PdState, cmd: AllocIdsCommand): PdApplyResult {
  if (!s.bootstrapped) return { kind: 'refused', error: { kind: 'NotBootstrapped' } };
  if (cmd.count < 1 || cmd.count > ID_BATCH_MAX) return invalid(`id batch must be 1..${ID_BATCH_MAX}`);
  if (s.idHighWater + cmd.count > Number.MAX_SAFE_INTEGER) return invalid('id space exhausted');
  const firstId = s.idHighWater + 1;
  s.idHighWater += cmd.count;
  return { kind: 'idsAllocated', firstId, lastId: s.idHighWater, requesterId: cmd.requesterId, requesterTerm: cmd.requesterTerm, requestSeq: cmd.requestSeq };
}

/** The bound only rises: an older, smaller window arriving late changes nothing. */
export function applyTsoSaveWindow(s: PdState, cmd: TsoSaveWindowCommand): PdApplyResult {
  if (cmd.maxPhysicalMs >= TSO_PHYSICAL_MS_MAX) return invalid('maxPhysicalMs past the timestamp range');
  s.maxPersistedPhysicalMs = Math.max(s.maxPersistedPhysicalMs, cmd.maxPhysicalMs);
  const { maxPhysicalMs, requesterId, requesterTerm } = cmd;
  return { kind: 'tsoWindowSaved', maxPhysicalMs, maxPersistedPhysicalMs: s.maxPersistedPhysicalMs, requesterId, requesterTerm };
}

/** Replaces the schedule config after validating it. */
export function applySetScheduleConfig(s: PdState, cmd: SetScheduleConfigCommand): PdApplyResult {
  const problem = validateScheduleConfig(cmd.config);
  if (problem !== null) return invalid(problem);
  s.config = { ...cmd.config };
  return { kind: 'configSet' };
}
