/**
 * Bytes for a PD snapshot (`PdStateMachine.snapshot` / `restore`): the same compact binary
 * encoding as commands, led by a format version byte. Stores are written by id and regions
 * by start key, so two replicas with the same state produce the same bytes.
 */
import {
  ByteWriter,
  readPeer,
  readRegion,
  readRegionReport,
  readStoreMeta,
  readStoreStats,
  writePeer,
  writeRegion,
  writeRegionReport,
  writeStoreMeta,
  writeStoreStats,
  type ByteReader,
} from '@peerkv/proto';
import { readScheduleConfig, writeScheduleConfig } from './codec/config-codec.ts';
import { pdDecoding } from './codec/decoding.ts';
import { PdDecodeError } from './errors.ts';
import { SNAPSHOT_ITEMS_MAX } from './limits.ts';
import type { StoreInfo } from './pd-state.ts';
import { PdState } from './pd-state.ts';
import type { RegionInfo } from './region-tree.ts';

/** Snapshot format version (bumped on incompatible changes). */
export const PD_SNAPSHOT_FORMAT = 1;

function writeRegionInfo(w: ByteWriter, info: RegionInfo): void {
  writeRegion(w, info.region);
  w.bool(info.leader !== undefined);
  if (info.leader !== undefined) writePeer(w, info.leader);
  writeRegionReport(w, info);
  w.varUint(info.lastHeartbeatMs);
}

function readRegionInfo(r: ByteReader): RegionInfo {
  const region = readRegion(r);
  const leader = r.bool() ? readPeer(r) : undefined;
  const report = readRegionReport(r);
  return { region, leader, ...report, lastHeartbeatMs: r.varUint() };
}

function writeStoreInfo(w: ByteWriter, store: StoreInfo): void {
  writeStoreMeta(w, store.meta);
  w.bool(store.stats !== undefined);
  if (store.stats !== undefined) writeStoreStats(w, store.stats);
  w.varUint(store.lastHeartbeatMs);
}

function readStoreInfo(r: ByteReader): StoreInfo {
  const meta = readStoreMeta(r);
  const stats = r.bool() ? readStoreStats(r) : undefined;
  return { meta, stats, lastHeartbeatMs: r.varUint() };
}

/** Encodes the whole replicated state. */
export function encodePdSnapshot(s: PdState): Uint8Array {
  const w = new ByteWriter();
  w.u8(PD_SNAPSHOT_FORMAT);
  w.bool(s.bootstrapped);
  w.varUint(s.clusterId);
  w.varUint(s.idHighWater);
  w.varUint(s.maxPersistedPhysicalMs);
  writeScheduleConfig(w, s.config);
  const stores = s.sortedStores();
  w.varUint(stores.length);
  for (const store of stores) writeStoreInfo(w, store);
  w.bool(s.pdGroup !== undefined);
  if (s.pdGroup !== undefined) writeRegionInfo(w, s.pdGroup);
  const regions = s.regions.all();
  w.varUint(regions.length);
  for (const info of regions) writeRegionInfo(w, info);
  return w.finish();
}

/** Decodes a snapshot; throws `PdDecodeError` on malformed input or overlapping regions. */
export function decodePdSnapshot(data: Uint8Array): PdState {
  return pdDecoding(data, 'snapshot', readSnapshot);
}

function readSnapshot(r: ByteReader): PdState {
  const format = r.u8();
  if (format !== PD_SNAPSHOT_FORMAT) throw new PdDecodeError('UnknownTag', `snapshot format ${format}`);
  const s = new PdState();
  s.bootstrapped = r.bool();
  s.clusterId = r.varUint();
  s.idHighWater = r.varUint();
  s.maxPersistedPhysicalMs = r.varUint();
  s.config = readScheduleConfig(r);
  const storeCount = r.varUintMax(SNAPSHOT_ITEMS_MAX, 'store count');
  for (let i = 0; i < storeCount; i++) {
    const store = readStoreInfo(r);
    if (s.stores.has(store.meta.id)) throw new PdDecodeError('Invalid', `duplicate store ${store.meta.id}`);
    s.stores.set(store.meta.id, store);
  }
  s.pdGroup = r.bool() ? readRegionInfo(r) : undefined;
  const regionCount = r.varUintMax(SNAPSHOT_ITEMS_MAX, 'region count');
  for (let i = 0; i < regionCount; i++) {
    const removed = s.regions.upsert(readRegionInfo(r));
    if (removed.length > 0) throw new PdDecodeError('Invalid', 'overlapping regions in snapshot');
  }
  if (s.regions.size !== regionCount) throw new PdDecodeError('Invalid', 'duplicate region ids in snapshot');
  return s;
}
