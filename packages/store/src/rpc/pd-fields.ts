/**
 * Field codecs of the PD requests and responses (`pd-codec.ts`): store stats, region
 * heartbeats, labels, apply results with PD's refusals, operator steps, store metadata and
 * TSO timestamps. Paired write/read; readers throw only `StoreRpcDecodeError` (through
 * `decoding`).
 */
import type { OperatorStep, PdApplyResult, PdError, RegionHeartbeat, StoreMeta, StoreState, StoreStats } from '@peerkv/pd';
import type { ByteReader, ByteWriter } from '@peerkv/transport';
import type { Result } from '../peer.ts';
import { StoreRpcDecodeError } from './errors.ts';
import { RPC_KEY_BYTES_MAX, RPC_REGIONS_MAX, RPC_STRING_BYTES_MAX, readPeer, readRegion, readRegionError, writeClipped, writePeer, writeRegion, writeRegionError } from './wire.ts';

/** Labels in one store's metadata. */
export const RPC_LABELS_MAX = 64;

const STORE_STATES: readonly StoreState[] = ['up', 'offline', 'tombstone'];
const APPLY_KINDS: readonly PdApplyResult['kind'][] = ['bootstrapped', 'idsAllocated', 'tsoWindowSaved', 'storePut', 'storeUpdated', 'regionUpdated', 'configSet', 'refused'];
const PD_ERROR_KINDS: readonly PdError['kind'][] = [
  'AlreadyBootstrapped',
  'NotBootstrapped',
  'MalformedCommand',
  'InvalidArgument',
  'StoreNotFound',
  'StoreTombstoned',
  'InvalidStoreStateChange',
  'StoreNotEmpty',
  'StaleRegion',
  'StaleTerm',
];
const STEP_KINDS: readonly OperatorStep['kind'][] = ['addLearner', 'promoteLearner', 'removePeer', 'transferLeader', 'splitRegion'];

/** Reads an enum index into `values`; out of range is `Malformed`. */
export function readEnum<T>(r: ByteReader, values: readonly T[], what: string): T {
  const i = r.varUint();
  if (i >= values.length) throw new StoreRpcDecodeError('Malformed', `${what} ${i}`);
  return values[i];
}

/** `timeoutMs` as `varUint(ms + 1)`, 0 when absent. */
export function writeTimeout(w: ByteWriter, timeoutMs: number | undefined): void {
  w.varUint(timeoutMs === undefined ? 0 : Math.max(0, Math.floor(timeoutMs)) + 1);
}

/** Reads what `writeTimeout` wrote. */
export function readTimeout(r: ByteReader): { timeoutMs?: number } {
  const v = r.varUint();
  return v === 0 ? {} : { timeoutMs: v - 1 };
}

/** A count, then ids. */
export function writeIds(w: ByteWriter, ids: readonly number[]): void {
  w.varUint(ids.length);
  for (const id of ids) w.varUint(id);
}

/** Reads what `writeIds` wrote (at most `RPC_REGIONS_MAX`). */
export function readIds(r: ByteReader, what: string): number[] {
  const n = r.count(RPC_REGIONS_MAX, 1, what);
  return Array.from({ length: n }, () => r.varUint());
}

/** A count, then (key, value) strings, each clipped to `RPC_STRING_BYTES_MAX`. */
export function writeLabels(w: ByteWriter, labels: Record<string, string>): void {
  const entries = Object.entries(labels);
  w.varUint(entries.length);
  for (const [k, v] of entries) {
    writeClipped(w, k, RPC_STRING_BYTES_MAX);
    writeClipped(w, v, RPC_STRING_BYTES_MAX);
  }
}

/** Reads what `writeLabels` wrote (at most `RPC_LABELS_MAX`). */
export function readLabels(r: ByteReader): Record<string, string> {
  const n = r.count(RPC_LABELS_MAX, 2, 'labels');
  const out: Record<string, string> = {};
  for (let i = 0; i < n; i++) {
    const k = r.string(RPC_STRING_BYTES_MAX, 'label key');
    out[k] = r.string(RPC_STRING_BYTES_MAX, 'label value');
  }
  return out;
}

/** A store heartbeat's stats. */
export function writeStats(w: ByteWriter, s: StoreStats): void {
  for (const n of [s.storeId, s.capacityBytes, s.usedBytes, s.availableBytes, s.regionCount, s.leaderCount]) w.varUint(n);
  w.u8(s.draining ? 1 : 0);
}

/** Reads what `writeStats` wrote. */
export function readStats(r: ByteReader): StoreStats {
  const [storeId, capacityBytes, usedBytes, availableBytes, regionCount, leaderCount] = [r.varUint(), r.varUint(), r.varUint(), r.varUint(), r.varUint(), r.varUint()];
  return { storeId, capacityBytes, usedBytes, availableBytes, regionCount, leaderCount, draining: r.bool() };
}

/** A region heartbeat. */
export function writeHeartbeat(w: ByteWriter, hb: RegionHeartbeat): void {
  writeRegion(w, hb.region);
  writePeer(w, hb.leader);
  writeIds(w, hb.downPeers);
  writeIds(w, hb.pendingPeers);
  for (const n of [hb.approximateSizeBytes, hb.approximateKeys, hb.writtenBytesPerSec, hb.term]) w.varUint(n);
}

/** Reads what `writeHeartbeat` wrote. */
export function readHeartbeat(r: ByteReader): RegionHeartbeat {
  const region = readRegion(r);
  const leader = readPeer(r);
  const downPeers = readIds(r, 'down peers');
  const pendingPeers = readIds(r, 'pending peers');
  const [approximateSizeBytes, approximateKeys, writtenBytesPerSec, term] = [r.varUint(), r.varUint(), r.varUint(), r.varUint()];
  return { region, leader, downPeers, pendingPeers, approximateSizeBytes, approximateKeys, writtenBytesPerSec, term };
}

/** `u8 ok`, then the value or the region error. */
export function writeResult<T>(w: ByteWriter, result: Result<T>, writeValue: (v: T) => void): void {
  w.u8(result.ok ? 1 : 0);
  if (result.ok) writeValue(result.value);
  else writeRegionError(w, result.error);
}

/** Reads what `writeResult` wrote. */
export function readResult<T>(r: ByteReader, readValue: () => T): Result<T> {
  return r.bool() ? { ok: true, value: readValue() } : { ok: false, error: readRegionError(r) };
}

/** A PD refusal: kind index, then its fields. */
export function writePdError(w: ByteWriter, e: PdError): void {
  w.varUint(PD_ERROR_KINDS.indexOf(e.kind));
  switch (e.kind) {
    case 'AlreadyBootstrapped':
      return w.varUint(e.clusterId);
    case 'NotBootstrapped':
      return;
    case 'MalformedCommand':
    case 'InvalidArgument':
      return writeClipped(w, e.reason, RPC_STRING_BYTES_MAX);
    case 'StoreNotFound':
    case 'StoreTombstoned':
      return w.varUint(e.storeId);
    case 'InvalidStoreStateChange':
      w.varUint(e.storeId);
      w.varUint(STORE_STATES.indexOf(e.from));
      return w.varUint(STORE_STATES.indexOf(e.to));
    case 'StoreNotEmpty':
      w.varUint(e.storeId);
      return w.varUint(e.peerCount);
    case 'StaleRegion':
      w.varUint(e.regionId);
      return writeRegion(w, e.current);
    case 'StaleTerm':
      for (const n of [e.regionId, e.term, e.knownTerm]) w.varUint(n);
  }
}

/** Reads what `writePdError` wrote. */
export function readPdError(r: ByteReader): PdError {
  const kind = readEnum(r, PD_ERROR_KINDS, 'PD error kind');
  switch (kind) {
    case 'AlreadyBootstrapped':
      return { kind, clusterId: r.varUint() };
    case 'NotBootstrapped':
      return { kind };
    case 'MalformedCommand':
    case 'InvalidArgument':
      return { kind, reason: r.string(RPC_STRING_BYTES_MAX, 'reason') };
    case 'StoreNotFound':
    case 'StoreTombstoned':
      return { kind, storeId: r.varUint() };
    case 'InvalidStoreStateChange': {
      const storeId = r.varUint();
      const from = readEnum(r, STORE_STATES, 'store state');
      return { kind, storeId, from, to: readEnum(r, STORE_STATES, 'store state') };
    }
    case 'StoreNotEmpty': {
      const storeId = r.varUint();
      return { kind, storeId, peerCount: r.varUint() };
    }
    case 'StaleRegion': {
      const regionId = r.varUint();
      return { kind, regionId, current: readRegion(r) };
    }
    case 'StaleTerm': {
      const [regionId, term, knownTerm] = [r.varUint(), r.varUint(), r.varUint()];
      return { kind, regionId, term, knownTerm };
    }
  }
}

/** A PD apply result: kind index, then its fields. */
export function writeApply(w: ByteWriter, a: PdApplyResult): void {
  w.varUint(APPLY_KINDS.indexOf(a.kind));
  switch (a.kind) {
    case 'bootstrapped':
      return w.varUint(a.clusterId);
    case 'idsAllocated':
      for (const n of [a.firstId, a.lastId, a.requesterId, a.requesterTerm, a.requestSeq]) w.varUint(n);
      return;
    case 'tsoWindowSaved':
      for (const n of [a.maxPhysicalMs, a.maxPersistedPhysicalMs, a.requesterId, a.requesterTerm]) w.varUint(n);
      return;
    case 'storePut':
      w.varUint(a.storeId);
      w.u8(a.isNew ? 1 : 0);
      return writeIds(w, a.replacedStoreIds);
    case 'storeUpdated':
      return w.varUint(a.storeId);
    case 'regionUpdated':
      w.varUint(a.regionId);
      return writeIds(w, a.removedRegionIds);
    case 'configSet':
      return;
    case 'refused':
      return writePdError(w, a.error);
  }
}

/** Reads what `writeApply` wrote. */
export function readApply(r: ByteReader): PdApplyResult {
  const kind = readEnum(r, APPLY_KINDS, 'PD result kind');
  switch (kind) {
    case 'bootstrapped':
      return { kind, clusterId: r.varUint() };
    case 'idsAllocated': {
      const [firstId, lastId, requesterId, requesterTerm, requestSeq] = [r.varUint(), r.varUint(), r.varUint(), r.varUint(), r.varUint()];
      return { kind, firstId, lastId, requesterId, requesterTerm, requestSeq };
    }
    case 'tsoWindowSaved': {
      const [maxPhysicalMs, maxPersistedPhysicalMs, requesterId, requesterTerm] = [r.varUint(), r.varUint(), r.varUint(), r.varUint()];
      return { kind, maxPhysicalMs, maxPersistedPhysicalMs, requesterId, requesterTerm };
    }
    case 'storePut': {
      const storeId = r.varUint();
      const isNew = r.bool();
      return { kind, storeId, isNew, replacedStoreIds: readIds(r, 'replaced stores') };
    }
    case 'storeUpdated':
      return { kind, storeId: r.varUint() };
    case 'regionUpdated': {
      const regionId = r.varUint();
      return { kind, regionId, removedRegionIds: readIds(r, 'removed regions') };
    }
    case 'configSet':
      return { kind };
    case 'refused':
      return { kind, error: readPdError(r) };
  }
}

/** An operator step: kind index, then its fields. */
export function writeStep(w: ByteWriter, s: OperatorStep): void {
  w.varUint(STEP_KINDS.indexOf(s.kind));
  switch (s.kind) {
    case 'addLearner':
    case 'promoteLearner':
    case 'removePeer':
      w.varUint(s.storeId);
      return w.varUint(s.peerId);
    case 'transferLeader':
      w.varUint(s.fromStoreId);
      return w.varUint(s.toStoreId);
    case 'splitRegion':
      w.u8(s.splitKey ? 1 : 0);
      if (s.splitKey) w.bytes(s.splitKey);
  }
}

/** Reads what `writeStep` wrote. */
export function readStep(r: ByteReader): OperatorStep {
  const kind = readEnum(r, STEP_KINDS, 'operator step kind');
  switch (kind) {
    case 'addLearner':
    case 'promoteLearner':
    case 'removePeer': {
      const storeId = r.varUint();
      return { kind, storeId, peerId: r.varUint() };
    }
    case 'transferLeader': {
      const fromStoreId = r.varUint();
      return { kind, fromStoreId, toStoreId: r.varUint() };
    }
    case 'splitRegion':
      return r.bool() ? { kind, splitKey: r.bytes(RPC_KEY_BYTES_MAX, 'split key') } : { kind };
  }
}

/** A store as PD registers it. */
export function writeStoreMeta(w: ByteWriter, m: StoreMeta): void {
  w.varUint(m.id);
  writeClipped(w, m.address, RPC_STRING_BYTES_MAX);
  writeLabels(w, m.labels);
  w.varUint(STORE_STATES.indexOf(m.state));
}

/** Reads what `writeStoreMeta` wrote. */
export function readStoreMeta(r: ByteReader): StoreMeta {
  const id = r.varUint();
  const address = r.string(RPC_STRING_BYTES_MAX, 'address');
  const labels = readLabels(r);
  return { id, address, labels, state: readEnum(r, STORE_STATES, 'store state') };
}

/** A TSO timestamp as two varUints (high and low 32 bits). */
export function writeTimestamp(w: ByteWriter, ts: bigint): void {
  w.varUint(Number(ts >> 32n));
  w.varUint(Number(ts & 0xffffffffn));
}

/** Reads what `writeTimestamp` wrote. */
export function readTimestamp(r: ByteReader): bigint {
  const hi = BigInt(r.varUint());
  const lo = r.varUint();
  if (lo > 0xffffffff) throw new StoreRpcDecodeError('Malformed', `timestamp low bits ${lo}`);
  return (hi << 32n) | BigInt(lo);
}
