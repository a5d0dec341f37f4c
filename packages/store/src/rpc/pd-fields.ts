/**
 * Field codecs of the PD requests and responses (`pd-codec.ts`) that belong to the store
 * RPC: timeouts, id lists, results, apply results with PD's refusals and operator steps.
 * The cluster metadata they carry (regions, stores, labels, stats, heartbeats, timestamps)
 * is written by `@peerkv/proto`. Paired write/read; readers throw only `StoreRpcDecodeError`
 * (through `decoding`).
 */
import type { OperatorStep, PdApplyResult, PdError } from '@peerkv/pd';
import {
  LABELS_MAX,
  readEnum,
  readRegion,
  readRegionError,
  readStoreState,
  readTimestamp,
  writeClipped,
  writeEnum,
  writeRegion,
  writeRegionError,
  writeStoreState,
  writeTimestamp,
  type ByteReader,
  type ByteWriter,
} from '@peerkv/proto';
import type { Result } from '../peer.ts';
import { RPC_KEY_BYTES_MAX, RPC_REGIONS_MAX, RPC_STRING_BYTES_MAX } from './wire.ts';

/** Labels in one store's metadata (`@peerkv/proto`'s `LABELS_MAX`: PD refuses more). */
export const RPC_LABELS_MAX = LABELS_MAX;

const APPLY_KINDS: readonly PdApplyResult['kind'][] = ['bootstrapped', 'idsAllocated', 'tsoWindowSaved', 'storePut', 'storeUpdated', 'regionUpdated', 'configSet', 'refused', 'gcSafePointSet'];
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
  'StoreKeyMismatch',
];
const STEP_KINDS: readonly OperatorStep['kind'][] = ['addLearner', 'promoteLearner', 'removePeer', 'transferLeader', 'splitRegion'];

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

/** `bool ok`, then the value or the region error. */
export function writeResult<T>(w: ByteWriter, result: Result<T>, writeValue: (v: T) => void): void {
  w.bool(result.ok);
  if (result.ok) writeValue(result.value);
  else writeRegionError(w, result.error);
}

/** Reads what `writeResult` wrote. */
export function readResult<T>(r: ByteReader, readValue: () => T): Result<T> {
  return r.bool() ? { ok: true, value: readValue() } : { ok: false, error: readRegionError(r) };
}

/** A PD refusal: kind index, then its fields. */
export function writePdError(w: ByteWriter, e: PdError): void {
  writeEnum(w, PD_ERROR_KINDS, e.kind);
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
    case 'StoreKeyMismatch':
      return w.varUint(e.storeId);
    case 'InvalidStoreStateChange':
      w.varUint(e.storeId);
      writeStoreState(w, e.from);
      return writeStoreState(w, e.to);
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
    case 'StoreKeyMismatch':
      return { kind, storeId: r.varUint() };
    case 'InvalidStoreStateChange': {
      const storeId = r.varUint();
      const from = readStoreState(r);
      return { kind, storeId, from, to: readStoreState(r) };
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
  writeEnum(w, APPLY_KINDS, a.kind);
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
      w.bool(a.isNew);
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
    case 'gcSafePointSet':
      writeTimestamp(w, a.gcSafePoint);
      return w.bool(a.advanced);
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
    case 'gcSafePointSet': {
      const gcSafePoint = readTimestamp(r);
      return { kind, gcSafePoint, advanced: r.bool() };
    }
  }
}

/** An operator step: kind index, then its fields. */
export function writeStep(w: ByteWriter, s: OperatorStep): void {
  writeEnum(w, STEP_KINDS, s.kind);
  switch (s.kind) {
    case 'addLearner':
      w.varUint(s.storeId);
      w.varUint(s.peerId);
      return w.bool(Boolean(s.witness));
    case 'promoteLearner':
    case 'removePeer':
      w.varUint(s.storeId);
      return w.varUint(s.peerId);
    case 'transferLeader':
      w.varUint(s.fromStoreId);
      return w.varUint(s.toStoreId);
    case 'splitRegion':
      w.bool(Boolean(s.splitKey));
      if (s.splitKey) w.bytes(s.splitKey);
  }
}

/** Reads what `writeStep` wrote. */
export function readStep(r: ByteReader): OperatorStep {
  const kind = readEnum(r, STEP_KINDS, 'operator step kind');
  switch (kind) {
    case 'addLearner': {
      const storeId = r.varUint();
      const peerId = r.varUint();
      return r.bool() ? { kind, storeId, peerId, witness: true } : { kind, storeId, peerId };
    }
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
