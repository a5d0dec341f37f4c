/**
 * Paired writers/readers for the cluster metadata (`meta.ts`) inside PD commands and
 * snapshots: peers, epochs, regions, store metas, store stats and region heartbeats.
 * Enums are one byte each, in the order of the tables below (append only).
 * Every number is a non-negative safe integer (sizes in bytes, rates in whole bytes/s).
 */
import { PdDecodeError } from '../errors.ts';
import {
  ADDRESS_BYTES_MAX,
  KEY_BYTES_MAX,
  LABEL_BYTES_MAX,
  LABELS_PER_STORE_MAX,
  PEER_LIST_MAX,
  PEERS_PER_REGION_MAX,
} from '../limits.ts';
import type {
  Peer,
  PeerId,
  PeerRole,
  Region,
  RegionEpoch,
  RegionHeartbeat,
  StoreLabels,
  StoreMeta,
  StoreState,
  StoreStats,
} from '../meta.ts';
import type { ByteReader, ByteWriter } from './bytes.ts';

/** Wire order of peer roles (append only). */
const PEER_ROLES: readonly PeerRole[] = ['voter', 'learner', 'incomingVoter', 'demotingVoter'];
/** Wire order of store states (append only). */
const STORE_STATES: readonly StoreState[] = ['up', 'offline', 'tombstone'];

/** Writes one of `table`'s values as its index byte. */
export function writeEnum<T>(w: ByteWriter, table: readonly T[], v: T): void {
  const i = table.indexOf(v);
  if (i < 0) throw new RangeError(`unknown enum value ${String(v)}`);
  w.u8(i);
}

/** Reads an index byte back into `table`'s value. */
export function readEnum<T>(r: ByteReader, table: readonly T[], what: string): T {
  const i = r.u8();
  if (i >= table.length) throw new PdDecodeError('UnknownTag', `${what} tag ${i}`);
  return table[i];
}

/** Writes a store state (paired with `readStoreState`). */
export function writeStoreState(w: ByteWriter, s: StoreState): void {
  writeEnum(w, STORE_STATES, s);
}

/** Reads a store state written by `writeStoreState`. */
export function readStoreState(r: ByteReader): StoreState {
  return readEnum(r, STORE_STATES, 'store state');
}

/** Writes a peer (paired with `readPeer`). */
export function writePeer(w: ByteWriter, p: Peer): void {
  w.varUint(p.id);
  w.varUint(p.storeId);
  writeEnum(w, PEER_ROLES, p.role);
}

/** Reads a peer written by `writePeer`. */
export function readPeer(r: ByteReader): Peer {
  const id = r.varUint();
  const storeId = r.varUint();
  return { id, storeId, role: readEnum(r, PEER_ROLES, 'peer role') };
}

/** Writes a peers (paired with `readPeers`). */
export function writePeers(w: ByteWriter, peers: readonly Peer[]): void {
  w.varUint(peers.length);
  for (const p of peers) writePeer(w, p);
}

/** Reads a peers written by `writePeers`. */
export function readPeers(r: ByteReader): Peer[] {
  const n = r.boundedUint(PEERS_PER_REGION_MAX, 'peer count');
  const out: Peer[] = [];
  for (let i = 0; i < n; i++) out.push(readPeer(r));
  return out;
}

/** Writes a id list (paired with `readIdList`). */
export function writeIdList(w: ByteWriter, ids: readonly number[]): void {
  w.varUint(ids.length);
  for (const id of ids) w.varUint(id);
}

/** Reads a id list written by `writeIdList`. */
export function readIdList(r: ByteReader): PeerId[] {
  const n = r.boundedUint(PEER_LIST_MAX, 'peer id list length');
  const out: PeerId[] = [];
  for (let i = 0; i < n; i++) out.push(r.varUint());
  return out;
}

/** Writes a epoch (paired with `readEpoch`). */
export function writeEpoch(w: ByteWriter, e: RegionEpoch): void {
  w.varUint(e.confVer);
  w.varUint(e.version);
}

/** Reads a epoch written by `writeEpoch`. */
export function readEpoch(r: ByteReader): RegionEpoch {
  const confVer = r.varUint();
  return { confVer, version: r.varUint() };
}

/** Writes a region (paired with `readRegion`). */
export function writeRegion(w: ByteWriter, region: Region): void {
  w.varUint(region.id);
  w.bytes(region.startKey);
  w.bytes(region.endKey);
  writeEpoch(w, region.epoch);
  writePeers(w, region.peers);
}

/** Reads a region written by `writeRegion`. */
export function readRegion(r: ByteReader): Region {
  const id = r.varUint();
  const startKey = r.bytes(KEY_BYTES_MAX, 'start key');
  const endKey = r.bytes(KEY_BYTES_MAX, 'end key');
  const epoch = readEpoch(r);
  return { id, startKey, endKey, epoch, peers: readPeers(r) };
}

/** Labels are written sorted by key, so equal label sets give equal bytes. */
export function writeLabels(w: ByteWriter, labels: StoreLabels): void {
  const keys = Object.keys(labels).sort();
  w.varUint(keys.length);
  for (const k of keys) {
    w.string(k);
    w.string(labels[k]);
  }
}

/** Reads a labels written by `writeLabels`. */
export function readLabels(r: ByteReader): StoreLabels {
  const n = r.boundedUint(LABELS_PER_STORE_MAX, 'label count');
  const out: StoreLabels = {};
  for (let i = 0; i < n; i++) {
    const k = r.string(LABEL_BYTES_MAX, 'label key');
    out[k] = r.string(LABEL_BYTES_MAX, 'label value');
  }
  return out;
}

/** Writes a store meta (paired with `readStoreMeta`). */
export function writeStoreMeta(w: ByteWriter, s: StoreMeta): void {
  w.varUint(s.id);
  w.string(s.address);
  writeLabels(w, s.labels);
  writeStoreState(w, s.state);
}

/** Reads a store meta written by `writeStoreMeta`. */
export function readStoreMeta(r: ByteReader): StoreMeta {
  const id = r.varUint();
  const address = r.string(ADDRESS_BYTES_MAX, 'address');
  const labels = readLabels(r);
  return { id, address, labels, state: readStoreState(r) };
}

/** Writes a store stats (paired with `readStoreStats`). */
export function writeStoreStats(w: ByteWriter, s: StoreStats): void {
  w.varUint(s.storeId);
  w.varUint(s.capacityBytes);
  w.varUint(s.usedBytes);
  w.varUint(s.availableBytes);
  w.varUint(s.regionCount);
  w.varUint(s.leaderCount);
  w.bool(s.draining);
}

/** Reads a store stats written by `writeStoreStats`. */
export function readStoreStats(r: ByteReader): StoreStats {
  return {
    storeId: r.varUint(),
    capacityBytes: r.varUint(),
    usedBytes: r.varUint(),
    availableBytes: r.varUint(),
    regionCount: r.varUint(),
    leaderCount: r.varUint(),
    draining: r.bool(),
  };
}

/** Writes a region heartbeat (paired with `readRegionHeartbeat`). */
export function writeRegionHeartbeat(w: ByteWriter, hb: RegionHeartbeat): void {
  writeRegion(w, hb.region);
  writePeer(w, hb.leader);
  writeIdList(w, hb.downPeers);
  writeIdList(w, hb.pendingPeers);
  w.varUint(hb.approximateSizeBytes);
  w.varUint(hb.approximateKeys);
  w.varUint(hb.writtenBytesPerSec);
  w.varUint(hb.term);
}

/** Reads a region heartbeat written by `writeRegionHeartbeat`. */
export function readRegionHeartbeat(r: ByteReader): RegionHeartbeat {
  return {
    region: readRegion(r),
    leader: readPeer(r),
    downPeers: readIdList(r),
    pendingPeers: readIdList(r),
    approximateSizeBytes: r.varUint(),
    approximateKeys: r.varUint(),
    writtenBytesPerSec: r.varUint(),
    term: r.varUint(),
  };
}
