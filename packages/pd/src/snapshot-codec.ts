/**
 * Bytes for a PD snapshot (`PdStateMachine.snapshot` / `restore`): the same compact binary
 * encoding as commands, led by a format version byte. Stores are written by id and regions
 * by start key, so two replicas with the same state produce the same bytes.
 *
 * Optional sections follow the regions, each led by its varUint tag (`SNAPSHOT_SECTIONS`,
 * append only) and written only when it holds something other than its default: a snapshot
 * from before a section existed simply lacks it and reads as the default, and a state that
 * never used it keeps the bytes it had before.
 */
import {
  ByteWriter,
  readPeer,
  readRegion,
  readRegionReport,
  readStoreMeta,
  readStorePublicKeyField,
  readStoreStats,
  readTimestamp,
  writePeer,
  writeRegion,
  writeRegionReport,
  writeStoreMeta,
  writeStoreStats,
  writeTimestamp,
  type ByteReader,
} from '@peerkv/proto';
import { checkedScheduleConfig, readScheduleConfig, writeScheduleConfig } from './codec/config-codec.ts';
import { DEFAULT_SCHEDULE_CONFIG } from './config.ts';
import { pdDecoding } from './codec/decoding.ts';
import { PdDecodeError } from './errors.ts';
import { SNAPSHOT_ITEMS_MAX } from './limits.ts';
import type { StoreInfo } from './pd-state.ts';
import { PdState } from './pd-state.ts';
import type { RegionInfo } from './region-tree.ts';

/** Snapshot format version (bumped on incompatible changes). */
export const PD_SNAPSHOT_FORMAT = 1;

/** Tags of the optional sections after the regions (append only). */
export const SNAPSHOT_SECTIONS = {
  /** `gcSafePoint` (a timestamp), when above 0. */
  gcSafePoint: 1,
  /** Stores' identity public keys, when any store has one: a count, then (store id, key) in store id order. */
  storeKeys: 2,
  /** `config.replicaEnginesMin` (a varUint), when not the default. */
  replicaEnginesMin: 3,
} as const;

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

/** The store keys section (store metas are written without their keys, as before keys existed). */
function writeStoreKeysSection(w: ByteWriter, stores: readonly StoreInfo[]): void {
  const keyed = stores.filter((st) => st.meta.publicKey !== undefined);
  if (keyed.length === 0) return;
  w.varUint(SNAPSHOT_SECTIONS.storeKeys);
  w.varUint(keyed.length);
  for (const st of keyed) {
    w.varUint(st.meta.id);
    w.bytes(st.meta.publicKey as Uint8Array);
  }
}

function readStoreKeysSection(r: ByteReader, s: PdState): void {
  const n = r.varUintMax(SNAPSHOT_ITEMS_MAX, 'store key count');
  for (let i = 0; i < n; i++) {
    const id = r.varUint();
    const key = readStorePublicKeyField(r);
    const store = s.stores.get(id);
    if (store === undefined) throw new PdDecodeError('Invalid', `a key for store ${id}, which the snapshot does not have`);
    if (store.meta.publicKey !== undefined) throw new PdDecodeError('Invalid', `two keys for store ${id}`);
    store.meta.publicKey = key;
  }
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
  if (s.gcSafePoint > 0n) {
    w.varUint(SNAPSHOT_SECTIONS.gcSafePoint);
    writeTimestamp(w, s.gcSafePoint);
  }
  writeStoreKeysSection(w, stores);
  if (s.config.replicaEnginesMin !== DEFAULT_SCHEDULE_CONFIG.replicaEnginesMin) {
    w.varUint(SNAPSHOT_SECTIONS.replicaEnginesMin);
    w.varUint(s.config.replicaEnginesMin);
  }
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
  readSections(r, s);
  return s;
}

/** The optional sections, in tag order, each at most once. */
function readSections(r: ByteReader, s: PdState): void {
  let lastTag = 0;
  while (r.remaining > 0) {
    const tag = r.varUint();
    // Tag 0 is no section: bytes past the regions that are not a section.
    if (tag === 0) throw new PdDecodeError('TrailingBytes', 'bytes after the regions that are no section');
    if (tag <= lastTag) throw new PdDecodeError('Invalid', `snapshot section ${tag} after ${lastTag}`);
    lastTag = tag;
    switch (tag) {
      case SNAPSHOT_SECTIONS.gcSafePoint:
        s.gcSafePoint = readTimestamp(r);
        break;
      case SNAPSHOT_SECTIONS.storeKeys:
        readStoreKeysSection(r, s);
        break;
      case SNAPSHOT_SECTIONS.replicaEnginesMin:
        s.config = checkedScheduleConfig({ ...s.config, replicaEnginesMin: r.varUint() });
        break;
      default:
        throw new PdDecodeError('UnknownTag', `snapshot section ${tag}`);
    }
  }
}
