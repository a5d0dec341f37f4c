/**
 * PD requests and responses of the store RPC: what a remote store's `PdClient` and a remote
 * client's routing service ask any store, and the bodies of their answers. Request types
 * 9..16 and response types 7..12 of the store RPC (`request-codec.ts`/`response-codec.ts`
 * write the header and call the body codecs here). Paired write/read; bad bytes throw only
 * `StoreRpcDecodeError`.
 */
import type { OperatorStep, PdApplyResult, PdError, Peer, Region, RegionHeartbeat, StoreMeta, StoreState, StoreStats } from '@peerkv/pd';
import type { ByteReader, ByteWriter } from '@peerkv/transport';
import type { Result } from '../peer.ts';
import { StoreRpcDecodeError } from './errors.ts';
import { RPC_KEY_BYTES_MAX, RPC_REGIONS_MAX, RPC_STRING_BYTES_MAX, readPeer, readRegion, readRegionError, writeClipped, writePeer, writeRegion, writeRegionError } from './wire.ts';

/** Labels in one store's metadata. */
export const RPC_LABELS_MAX = 64;
/** Timestamps one `pdGetTimestamps` may ask for. */
export const RPC_TIMESTAMPS_MAX = 1 << 16;

/** A request to the placement driver, sent to any store (the PD leader's store runs writes). */
export type PdRequest =
  | { type: 'pdStoreHeartbeat'; stats: StoreStats; timeoutMs?: number }
  | { type: 'pdRegionHeartbeat'; heartbeat: RegionHeartbeat; timeoutMs?: number }
  | { type: 'pdAllocId'; timeoutMs?: number }
  | { type: 'pdPutStore'; storeId: number; address: string; labels: Record<string, string>; timeoutMs?: number }
  | { type: 'pdGetRegion'; key: Uint8Array }
  | { type: 'pdGetRegionById'; regionId: number }
  | { type: 'pdGetStore'; storeId: number }
  | { type: 'pdGetTimestamps'; count: number; timeoutMs?: number };

/** Wire numbers of the PD request types (after the data requests 1..8; append only). */
export const PD_REQUEST_TYPES = {
  pdStoreHeartbeat: 9,
  pdRegionHeartbeat: 10,
  pdAllocId: 11,
  pdPutStore: 12,
  pdGetRegion: 13,
  pdGetRegionById: 14,
  pdGetStore: 15,
  pdGetTimestamps: 16,
} as const;

/** A route as PD's state has it: the region and the leader of its last heartbeat. */
export interface PdRouteAnswer {
  region: Region;
  leader?: Peer;
}

/** A PD answer. A routing read of something PD does not know is `ok` with `undefined`. */
export type PdResponse =
  | { type: 'pdApply'; result: Result<PdApplyResult> }
  | { type: 'pdStep'; result: Result<{ step?: OperatorStep }> }
  | { type: 'pdId'; result: Result<number> }
  | { type: 'pdRoute'; result: Result<PdRouteAnswer | undefined> }
  | { type: 'pdStore'; result: Result<StoreMeta | undefined> }
  | { type: 'pdTimestamps'; result: Result<{ first: bigint; count: number }> };

/** Wire numbers of the PD response types (after the data responses 1..6; append only). */
export const PD_RESPONSE_TYPES = { pdApply: 7, pdStep: 8, pdId: 9, pdRoute: 10, pdStore: 11, pdTimestamps: 12 } as const;

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

function readEnum<T>(r: ByteReader, values: readonly T[], what: string): T {
  const i = r.varUint();
  if (i >= values.length) throw new StoreRpcDecodeError('Malformed', `${what} ${i}`);
  return values[i];
}

function writeTimeout(w: ByteWriter, timeoutMs: number | undefined): void {
  w.varUint(timeoutMs === undefined ? 0 : Math.max(0, Math.floor(timeoutMs)) + 1);
}

function readTimeout(r: ByteReader): { timeoutMs?: number } {
  const v = r.varUint();
  return v === 0 ? {} : { timeoutMs: v - 1 };
}

function writeIds(w: ByteWriter, ids: readonly number[]): void {
  w.varUint(ids.length);
  for (const id of ids) w.varUint(id);
}

function readIds(r: ByteReader, what: string): number[] {
  const n = r.count(RPC_REGIONS_MAX, 1, what);
  return Array.from({ length: n }, () => r.varUint());
}

function writeLabels(w: ByteWriter, labels: Record<string, string>): void {
  const entries = Object.entries(labels);
  w.varUint(entries.length);
  for (const [k, v] of entries) {
    writeClipped(w, k, RPC_STRING_BYTES_MAX);
    writeClipped(w, v, RPC_STRING_BYTES_MAX);
  }
}

function readLabels(r: ByteReader): Record<string, string> {
  const n = r.count(RPC_LABELS_MAX, 2, 'labels');
  const out: Record<string, string> = {};
  for (let i = 0; i < n; i++) {
    const k = r.string(RPC_STRING_BYTES_MAX, 'label key');
    out[k] = r.string(RPC_STRING_BYTES_MAX, 'label value');
  }
  return out;
}

function writeStats(w: ByteWriter, s: StoreStats): void {
  for (const n of [s.storeId, s.capacityBytes, s.usedBytes, s.availableBytes, s.regionCount, s.leaderCount]) w.varUint(n);
  w.u8(s.draining ? 1 : 0);
}

function readStats(r: ByteReader): StoreStats {
  const [storeId, capacityBytes, usedBytes, availableBytes, regionCount, leaderCount] = [r.varUint(), r.varUint(), r.varUint(), r.varUint(), r.varUint(), r.varUint()];
  return { storeId, capacityBytes, usedBytes, availableBytes, regionCount, leaderCount, draining: r.bool() };
}

function writeHeartbeat(w: ByteWriter, hb: RegionHeartbeat): void {
  writeRegion(w, hb.region);
  writePeer(w, hb.leader);
  writeIds(w, hb.downPeers);
  writeIds(w, hb.pendingPeers);
  for (const n of [hb.approximateSizeBytes, hb.approximateKeys, hb.writtenBytesPerSec, hb.term]) w.varUint(n);
}

function readHeartbeat(r: ByteReader): RegionHeartbeat {
  const region = readRegion(r);
  const leader = readPeer(r);
  const downPeers = readIds(r, 'down peers');
  const pendingPeers = readIds(r, 'pending peers');
  const [approximateSizeBytes, approximateKeys, writtenBytesPerSec, term] = [r.varUint(), r.varUint(), r.varUint(), r.varUint()];
  return { region, leader, downPeers, pendingPeers, approximateSizeBytes, approximateKeys, writtenBytesPerSec, term };
}

/** Writes the body of a PD request (after its header). */
export function writePdRequestBody(w: ByteWriter, q: PdRequest): void {
  switch (q.type) {
    case 'pdStoreHeartbeat':
      writeStats(w, q.stats);
      return writeTimeout(w, q.timeoutMs);
    case 'pdRegionHeartbeat':
      writeHeartbeat(w, q.heartbeat);
      return writeTimeout(w, q.timeoutMs);
    case 'pdAllocId':
      return writeTimeout(w, q.timeoutMs);
    case 'pdPutStore':
      w.varUint(q.storeId);
      writeClipped(w, q.address, RPC_STRING_BYTES_MAX);
      writeLabels(w, q.labels);
      return writeTimeout(w, q.timeoutMs);
    case 'pdGetRegion':
      return w.bytes(q.key);
    case 'pdGetRegionById':
      return w.varUint(q.regionId);
    case 'pdGetStore':
      return w.varUint(q.storeId);
    case 'pdGetTimestamps':
      w.varUint(q.count);
      return writeTimeout(w, q.timeoutMs);
  }
}

/** Whether a request type number is a PD request. */
export function isPdRequestType(type: number): boolean {
  return type >= PD_REQUEST_TYPES.pdStoreHeartbeat && type <= PD_REQUEST_TYPES.pdGetTimestamps;
}

/** Reads the body of the PD request of wire type `type`. */
export function readPdRequestBody(r: ByteReader, type: number): PdRequest {
  switch (type) {
    case PD_REQUEST_TYPES.pdStoreHeartbeat:
      return { type: 'pdStoreHeartbeat', stats: readStats(r), ...readTimeout(r) };
    case PD_REQUEST_TYPES.pdRegionHeartbeat:
      return { type: 'pdRegionHeartbeat', heartbeat: readHeartbeat(r), ...readTimeout(r) };
    case PD_REQUEST_TYPES.pdAllocId:
      return { type: 'pdAllocId', ...readTimeout(r) };
    case PD_REQUEST_TYPES.pdPutStore: {
      const storeId = r.varUint();
      const address = r.string(RPC_STRING_BYTES_MAX, 'address');
      return { type: 'pdPutStore', storeId, address, labels: readLabels(r), ...readTimeout(r) };
    }
    case PD_REQUEST_TYPES.pdGetRegion:
      return { type: 'pdGetRegion', key: r.bytes(RPC_KEY_BYTES_MAX, 'key') };
    case PD_REQUEST_TYPES.pdGetRegionById:
      return { type: 'pdGetRegionById', regionId: r.varUint() };
    case PD_REQUEST_TYPES.pdGetStore:
      return { type: 'pdGetStore', storeId: r.varUint() };
    case PD_REQUEST_TYPES.pdGetTimestamps: {
      const count = r.varUint();
      if (count > RPC_TIMESTAMPS_MAX) throw new StoreRpcDecodeError('LimitExceeded', `timestamp count ${count}`);
      return { type: 'pdGetTimestamps', count, ...readTimeout(r) };
    }
    default:
      throw new StoreRpcDecodeError('UnknownType', `request type ${type}`);
  }
}

// ---- Responses -------------------------------------------------------------------------------

function writeResult<T>(w: ByteWriter, result: Result<T>, writeValue: (v: T) => void): void {
  w.u8(result.ok ? 1 : 0);
  if (result.ok) writeValue(result.value);
  else writeRegionError(w, result.error);
}

function readResult<T>(r: ByteReader, readValue: () => T): Result<T> {
  return r.bool() ? { ok: true, value: readValue() } : { ok: false, error: readRegionError(r) };
}

function writePdError(w: ByteWriter, e: PdError): void {
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

function readPdError(r: ByteReader): PdError {
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

function writeApply(w: ByteWriter, a: PdApplyResult): void {
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

function readApply(r: ByteReader): PdApplyResult {
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

function writeStep(w: ByteWriter, s: OperatorStep): void {
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

function readStep(r: ByteReader): OperatorStep {
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

function writeStoreMeta(w: ByteWriter, m: StoreMeta): void {
  w.varUint(m.id);
  writeClipped(w, m.address, RPC_STRING_BYTES_MAX);
  writeLabels(w, m.labels);
  w.varUint(STORE_STATES.indexOf(m.state));
}

function readStoreMeta(r: ByteReader): StoreMeta {
  const id = r.varUint();
  const address = r.string(RPC_STRING_BYTES_MAX, 'address');
  const labels = readLabels(r);
  return { id, address, labels, state: readEnum(r, STORE_STATES, 'store state') };
}

/** A TSO timestamp as two varUints (high and low 32 bits). */
function writeTimestamp(w: ByteWriter, ts: bigint): void {
  w.varUint(Number(ts >> 32n));
  w.varUint(Number(ts & 0xffffffffn));
}

function readTimestamp(r: ByteReader): bigint {
  const hi = BigInt(r.varUint());
  const lo = r.varUint();
  if (lo > 0xffffffff) throw new StoreRpcDecodeError('Malformed', `timestamp low bits ${lo}`);
  return (hi << 32n) | BigInt(lo);
}

/** Writes the body of a PD response (after its header). */
export function writePdResponseBody(w: ByteWriter, s: PdResponse): void {
  switch (s.type) {
    case 'pdApply':
      return writeResult(w, s.result, (a) => writeApply(w, a));
    case 'pdStep':
      return writeResult(w, s.result, (v) => {
        w.u8(v.step ? 1 : 0);
        if (v.step) writeStep(w, v.step);
      });
    case 'pdId':
      return writeResult(w, s.result, (id) => w.varUint(id));
    case 'pdRoute':
      return writeResult(w, s.result, (v) => {
        w.u8(v ? 1 : 0);
        if (!v) return;
        writeRegion(w, v.region);
        w.u8(v.leader ? 1 : 0);
        if (v.leader) writePeer(w, v.leader);
      });
    case 'pdStore':
      return writeResult(w, s.result, (m) => {
        w.u8(m ? 1 : 0);
        if (m) writeStoreMeta(w, m);
      });
    case 'pdTimestamps':
      return writeResult(w, s.result, (v) => {
        writeTimestamp(w, v.first);
        w.varUint(v.count);
      });
  }
}

/** Whether a response type number is a PD response. */
export function isPdResponseType(type: number): boolean {
  return type >= PD_RESPONSE_TYPES.pdApply && type <= PD_RESPONSE_TYPES.pdTimestamps;
}

function readRoute(r: ByteReader): PdRouteAnswer | undefined {
  if (!r.bool()) return undefined;
  const region = readRegion(r);
  return r.bool() ? { region, leader: readPeer(r) } : { region };
}

/** Reads the body of the PD response of wire type `type`. */
export function readPdResponseBody(r: ByteReader, type: number): PdResponse {
  switch (type) {
    case PD_RESPONSE_TYPES.pdApply:
      return { type: 'pdApply', result: readResult(r, () => readApply(r)) };
    case PD_RESPONSE_TYPES.pdStep:
      return { type: 'pdStep', result: readResult(r, () => (r.bool() ? { step: readStep(r) } : {})) };
    case PD_RESPONSE_TYPES.pdId:
      return { type: 'pdId', result: readResult(r, () => r.varUint()) };
    case PD_RESPONSE_TYPES.pdRoute:
      return { type: 'pdRoute', result: readResult(r, () => readRoute(r)) };
    case PD_RESPONSE_TYPES.pdStore:
      return { type: 'pdStore', result: readResult(r, () => (r.bool() ? readStoreMeta(r) : undefined)) };
    case PD_RESPONSE_TYPES.pdTimestamps:
      return {
        type: 'pdTimestamps',
        result: readResult(r, () => {
          const first = readTimestamp(r);
          return { first, count: r.varUint() };
        }),
      };
    default:
      throw new StoreRpcDecodeError('UnknownType', `response type ${type}`);
  }
}
