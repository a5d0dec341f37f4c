/**
 * Paired writers/readers of the cluster metadata (`meta.ts`): peers, epochs, regions, labels,
 * store metas, store stats and region heartbeats. The one encoding of these types: the
 * store's Raft log and region state, PD's commands and snapshots, and the store RPC all use
 * it. Enums are varUint indexes into the tables below (append only). Every number is a
 * non-negative safe integer (sizes in bytes, rates in whole bytes/s).
 */
import { decode, encode, type ByteReader, type ByteWriter } from './bytes.ts';
import { readEnum, writeEnum } from './enum-codec.ts';
import { DecodeError } from './errors.ts';
import { ADDRESS_BYTES_MAX, DAMAGED_REGIONS_MAX, KEY_BYTES_MAX, LABEL_BYTES_MAX, LABELS_MAX, PEERS_MAX, STORE_PUBLIC_KEY_BYTES } from './limits.ts';
import type { Peer, PeerId, PeerRole, Region, RegionEpoch, RegionHeartbeat, StoreLabels, StoreMeta, StoreState, StoreStats } from './meta.ts';

/** Wire order of peer roles (append only). */
export const PEER_ROLES: readonly PeerRole[] = ['voter', 'learner', 'incomingVoter', 'demotingVoter'];
/** Wire order of store states (append only). */
export const STORE_STATES: readonly StoreState[] = ['up', 'offline', 'tombstone'];

/** Fewest bytes a peer takes (id, store id, role: one byte each). */
const PEER_BYTES_MIN = 3;
/** Fewest bytes a label takes (two empty strings). */
const LABEL_ENTRY_BYTES_MIN = 2;

/** Writes a store state (paired with `readStoreState`). */
export function writeStoreState(w: ByteWriter, s: StoreState): void {
  writeEnum(w, STORE_STATES, s);
}

/** Reads a store state written by `writeStoreState`. */
export function readStoreState(r: ByteReader): StoreState {
  return readEnum(r, STORE_STATES, 'store state');
}

/** The store label a witness store registers with (value `'true'`): PD places only witness peers on it. */
export const WITNESS_LABEL = 'witness';

/** Whether a store with these labels is a witness store. */
export function isWitnessStore(labels: StoreLabels): boolean {
  return labels[WITNESS_LABEL] === 'true';
}

/**
 * The store label naming the runtime a store runs in (`RUNTIME_ENGINES`): each engine has its
 * own storage, WebRTC stack, timer throttling and eviction rules, so PD can keep a region's
 * replicas on more than one (`ScheduleConfig.replicaEnginesMin`).
 */
export const ENGINE_LABEL = 'engine';

/** The store label naming the device (browser profile or host) a store runs on: PD's default isolation label. */
export const DEVICE_LABEL = 'device';

/** The runtimes a store reports as its `engine` label. */
export const RUNTIME_ENGINES = ['chromium', 'firefox', 'webkit', 'node'] as const;

/** A runtime a store reports as its `engine` label. */
export type RuntimeEngine = (typeof RUNTIME_ENGINES)[number];

/**
 * Added to a witness peer's role index (one byte still): records written before witnesses
 * existed read back as full replicas, and a role table of up to 64 entries stays addressable.
 */
export const PEER_WITNESS_FLAG = 64;

/** Writes a peer: id, store id, role index (+ `PEER_WITNESS_FLAG` for a witness) (paired with `readPeer`). */
export function writePeer(w: ByteWriter, p: Peer): void {
  w.varUint(p.id);
  w.varUint(p.storeId);
  const role = PEER_ROLES.indexOf(p.role);
  if (role < 0) throw new RangeError(`unknown enum value ${String(p.role)}`);
  w.varUint(role + (p.witness ? PEER_WITNESS_FLAG : 0));
}

/** Reads a peer written by `writePeer`. */
export function readPeer(r: ByteReader): Peer {
  const id = r.varUint();
  const storeId = r.varUint();
  const v = r.varUint();
  const witness = v >= PEER_WITNESS_FLAG && v < 2 * PEER_WITNESS_FLAG;
  const role = witness ? v - PEER_WITNESS_FLAG : v;
  if (role >= PEER_ROLES.length) throw new DecodeError('UnknownTag', `peer role ${v}`);
  return witness ? { id, storeId, role: PEER_ROLES[role], witness: true } : { id, storeId, role: PEER_ROLES[role] };
}

/** Writes a count, then each peer (paired with `readPeers`). */
export function writePeers(w: ByteWriter, peers: readonly Peer[]): void {
  w.varUint(peers.length);
  for (const p of peers) writePeer(w, p);
}

/** Reads peers written by `writePeers` (at most `PEERS_MAX`). */
export function readPeers(r: ByteReader): Peer[] {
  const n = r.count(PEERS_MAX, PEER_BYTES_MIN, 'peers');
  const out: Peer[] = [];
  for (let i = 0; i < n; i++) out.push(readPeer(r));
  return out;
}

/** Writes a count, then each peer id (paired with `readPeerIds`). */
export function writePeerIds(w: ByteWriter, ids: readonly PeerId[]): void {
  w.varUint(ids.length);
  for (const id of ids) w.varUint(id);
}

/** Reads peer ids written by `writePeerIds` (at most `PEERS_MAX`). */
export function readPeerIds(r: ByteReader): PeerId[] {
  const n = r.count(PEERS_MAX, 1, 'peer ids');
  const out: PeerId[] = [];
  for (let i = 0; i < n; i++) out.push(r.varUint());
  return out;
}

/** Writes an epoch: confVer, version (paired with `readEpoch`). */
export function writeEpoch(w: ByteWriter, e: RegionEpoch): void {
  w.varUint(e.confVer);
  w.varUint(e.version);
}

/** Reads an epoch written by `writeEpoch`. */
export function readEpoch(r: ByteReader): RegionEpoch {
  const confVer = r.varUint();
  return { confVer, version: r.varUint() };
}

/** Writes a region: id, start key, end key, epoch, peers (paired with `readRegion`). */
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

/** Writes labels as a count and (key, value) strings, sorted by key so equal label sets give equal bytes. */
export function writeLabels(w: ByteWriter, labels: StoreLabels): void {
  const keys = Object.keys(labels).sort();
  w.varUint(keys.length);
  for (const k of keys) {
    w.string(k);
    w.string(labels[k]);
  }
}

/** Reads labels written by `writeLabels` (in any key order; at most `LABELS_MAX`, each string at most `LABEL_BYTES_MAX`). */
export function readLabels(r: ByteReader): StoreLabels {
  const n = r.count(LABELS_MAX, LABEL_ENTRY_BYTES_MIN, 'labels');
  const out: StoreLabels = {};
  for (let i = 0; i < n; i++) {
    const k = r.string(LABEL_BYTES_MAX, 'label key');
    out[k] = r.string(LABEL_BYTES_MAX, 'label value');
  }
  return out;
}

/**
 * Writes a store meta: id, address, labels, state (paired with `readStoreMeta`). Not its
 * public key: each encoding that carries one adds it where old readers never look (a PD
 * snapshot section, a command's or response's optional tail; `writeStorePublicKey`).
 */
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

/** Writes an optional store public key as an optional tail: nothing when absent (paired with `readStorePublicKey`). */
export function writeStorePublicKey(w: ByteWriter, key: Uint8Array | undefined): void {
  if (key !== undefined) w.bytes(key);
}

/**
 * Reads what `writeStorePublicKey` wrote at the end of a value: absent when no bytes are left
 * (a writer from before store keys), else exactly `STORE_PUBLIC_KEY_BYTES`.
 */
export function readStorePublicKey(r: ByteReader): Uint8Array | undefined {
  if (r.remaining === 0) return undefined;
  return readStorePublicKeyField(r);
}

/** Reads one store public key that must be there (`STORE_PUBLIC_KEY_BYTES`, a copy). */
export function readStorePublicKeyField(r: ByteReader): Uint8Array {
  const key = r.bytes(STORE_PUBLIC_KEY_BYTES, 'store public key');
  if (key.length !== STORE_PUBLIC_KEY_BYTES) throw new DecodeError('InvalidValue', `a store public key is ${STORE_PUBLIC_KEY_BYTES} bytes, not ${key.length}`);
  return new Uint8Array(key);
}

/** Bit 0 of the stats' last field: draining (the byte old stats wrote as a bool). */
const STATS_DRAINING = 1;
/** Bit 1: a list of damaged region ids follows. */
const STATS_DAMAGED = 2;

/**
 * Writes store stats in field order, then a flags byte (draining; damaged regions follow), then
 * the damaged region ids (paired with `readStoreStats`). Stats with no damaged region write the
 * bytes stats did before the list existed, so old PD logs and snapshots decode unchanged.
 */
export function writeStoreStats(w: ByteWriter, s: StoreStats): void {
  w.varUint(s.storeId);
  w.varUint(s.capacityBytes);
  w.varUint(s.usedBytes);
  w.varUint(s.availableBytes);
  w.varUint(s.regionCount);
  w.varUint(s.leaderCount);
  const damaged = s.damagedRegionIds ?? [];
  if (damaged.length > DAMAGED_REGIONS_MAX) throw new RangeError(`${damaged.length} damaged regions, more than ${DAMAGED_REGIONS_MAX}`);
  w.u8((s.draining ? STATS_DRAINING : 0) | (damaged.length > 0 ? STATS_DAMAGED : 0));
  if (damaged.length > 0) {
    w.varUint(damaged.length);
    for (const id of damaged) w.varUint(id);
  }
}

/** Reads store stats written by `writeStoreStats`. */
export function readStoreStats(r: ByteReader): StoreStats {
  return {
    storeId: r.varUint(),
    capacityBytes: r.varUint(),
    usedBytes: r.varUint(),
    availableBytes: r.varUint(),
    regionCount: r.varUint(),
    leaderCount: r.varUint(),
    ...readStatsFlags(r),
  };
}

function readStatsFlags(r: ByteReader): Pick<StoreStats, 'draining' | 'damagedRegionIds'> {
  const flags = r.u8();
  if (flags > (STATS_DRAINING | STATS_DAMAGED)) throw new DecodeError('InvalidValue', `store stats flags ${flags}`);
  const draining = (flags & STATS_DRAINING) !== 0;
  if ((flags & STATS_DAMAGED) === 0) return { draining };
  const n = r.count(DAMAGED_REGIONS_MAX, 1, 'damaged regions');
  const damagedRegionIds: number[] = [];
  for (let i = 0; i < n; i++) damagedRegionIds.push(r.varUint());
  if (n === 0) throw new DecodeError('InvalidValue', 'an empty damaged region list is written as none');
  return { draining, damagedRegionIds };
}

/** What a region heartbeat reports besides the region and its leader (PD keeps it per region). */
export type RegionReport = Omit<RegionHeartbeat, 'region' | 'leader'>;

/** Writes a region report in field order (paired with `readRegionReport`). */
export function writeRegionReport(w: ByteWriter, report: RegionReport): void {
  writePeerIds(w, report.downPeers);
  writePeerIds(w, report.pendingPeers);
  w.varUint(report.approximateSizeBytes);
  w.varUint(report.approximateKeys);
  w.varUint(report.writtenBytesPerSec);
  w.varUint(report.term);
}

/** Reads a region report written by `writeRegionReport`. */
export function readRegionReport(r: ByteReader): RegionReport {
  return {
    downPeers: readPeerIds(r),
    pendingPeers: readPeerIds(r),
    approximateSizeBytes: r.varUint(),
    approximateKeys: r.varUint(),
    writtenBytesPerSec: r.varUint(),
    term: r.varUint(),
  };
}

/** Writes a region heartbeat: region, leader, report (paired with `readRegionHeartbeat`). */
export function writeRegionHeartbeat(w: ByteWriter, hb: RegionHeartbeat): void {
  writeRegion(w, hb.region);
  writePeer(w, hb.leader);
  writeRegionReport(w, hb);
}

/** Reads a region heartbeat written by `writeRegionHeartbeat`. */
export function readRegionHeartbeat(r: ByteReader): RegionHeartbeat {
  const region = readRegion(r);
  const leader = readPeer(r);
  return { region, leader, ...readRegionReport(r) };
}

/** A region as bytes on its own (persisted region state); paired with `decodeRegion`. */
export function encodeRegion(region: Region): Uint8Array {
  return encode(region, writeRegion);
}

/** Reads bytes written by `encodeRegion`: exactly one region. */
export function decodeRegion(bytes: Uint8Array): Region {
  return decode(bytes, readRegion, 'region');
}
