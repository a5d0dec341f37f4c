/**
 * Store responses and their binary codec: `varUint type, varUint version, body`. A response
 * is a region `Result` (of nothing, a value, or pairs), an acknowledgement, a store status,
 * a txn or PD answer, or a `StoreRpcFailure` when the server could not run the request. Each
 * response type is one entry of a table (`RESPONSE_BODIES`: wire number, paired write/read);
 * how each request type's answer travels as one of them is its `AnswerCodec` (`ANSWERS`). The
 * only error `decodeStoreResponse` throws is `StoreRpcDecodeError`.
 */
import type { ByteReader } from '@peerkv/transport';
import { ByteWriter } from '@peerkv/transport';
import type { Result } from '../peer.ts';
import { SNAPSHOT_PROGRESS_REGIONS_MAX, type SnapshotProgress, type StoreCounters, type StoreStatus } from '../options.ts';
import { StoreRpcDecodeError, type StoreRpcFailure, type StoreRpcFailureKind } from './errors.ts';
import { readTxnAnswer, writeTxnAnswer, type TxnValue, type TxnValueShape } from '../txn/codec.ts';
import type { TxnAnswer } from '../txn/types.ts';
import { readTimestamp, writeTimestamp } from '@peerkv/proto';
import { PD_RESPONSE_BODIES, type PdResponse } from './pd-codec.ts';
import {
  RPC_KEY_BYTES_MAX,
  RPC_PAIRS_MAX,
  RPC_REGIONS_MAX,
  RPC_STRING_BYTES_MAX,
  RPC_TEXT_BYTES_MAX,
  RPC_VALUE_BYTES_MAX,
  STORE_RPC_VERSION,
  decoding,
  readHeader,
  readRegion,
  readRegionError,
  writeClipped,
  writeHeader,
  writeRegion,
  writeRegionError,
} from './wire.ts';

/** One key-value pair of a scan. */
export interface RpcKvPair {
  key: Uint8Array;
  value: Uint8Array;
}

/** A response from one store. */
export type StoreResponse =
  /** Of write, changePeers and split. */
  | { type: 'unit'; result: Result<void> }
  /** Of get. */
  | { type: 'value'; result: Result<Uint8Array | undefined> }
  /** Of scan. */
  | { type: 'pairs'; result: Result<RpcKvPair[]> }
  /** Of transferLeader and campaign (fire and forget on the store). */
  | { type: 'ack' }
  /** Of status. */
  | { type: 'status'; status: StoreStatus }
  /** The server could not run the request. */
  | { type: 'failure'; failure: StoreRpcFailure }
  /** Of the txn requests (`txn/codec.ts`): a region result of a txn answer. */
  | { type: 'txn'; result: Result<TxnAnswer<TxnValue>> }
  /** Of the PD requests (`pd-codec.ts`). */
  | PdResponse;

const FAILURE_KINDS: readonly StoreRpcFailureKind[] = ['BadRequest', 'StoreClosed', 'Internal', 'Forbidden', 'DataKeyUnproven'];
const COUNTER_NAMES: readonly (keyof StoreCounters)[] = ['rounds', 'writes', 'snapshotsGenerated', 'snapshotsInstalled', 'logCompactions'];

/** Writes `u8 ok`, then the value (ok) or the region error. */
function writeResult<T>(w: ByteWriter, result: Result<T>, writeValue: (v: T) => void): void {
  w.u8(result.ok ? 1 : 0);
  if (result.ok) writeValue(result.value);
  else writeRegionError(w, result.error);
}

function readResult<T>(r: ByteReader, readValue: () => T): Result<T> {
  return r.bool() ? { ok: true, value: readValue() } : { ok: false, error: readRegionError(r) };
}

function writePairs(w: ByteWriter, pairs: readonly RpcKvPair[]): void {
  w.varUint(pairs.length);
  for (const p of pairs) {
    w.bytes(p.key);
    w.bytes(p.value);
  }
}

function readPairs(r: ByteReader): RpcKvPair[] {
  const n = r.count(RPC_PAIRS_MAX, 2, 'pairs');
  return Array.from({ length: n }, () => ({ key: r.bytes(RPC_KEY_BYTES_MAX, 'key'), value: r.bytes(RPC_VALUE_BYTES_MAX, 'value') }));
}

function writeStatus(w: ByteWriter, s: StoreStatus): void {
  w.varUint(s.storeId);
  w.u8(s.stoppedReason === undefined ? 0 : 1);
  if (s.stoppedReason !== undefined) writeClipped(w, s.stoppedReason, RPC_TEXT_BYTES_MAX);
  for (const name of COUNTER_NAMES) w.varUint(s.counters[name]);
  w.varUint(s.regions.length);
  for (const g of s.regions) {
    // The replica's peer id, then its region as every other message writes one.
    w.varUint(g.peerId);
    writeRegion(w, { id: g.regionId, startKey: g.startKey, endKey: g.endKey, epoch: g.epoch, peers: g.peers });
    writeClipped(w, g.role, RPC_STRING_BYTES_MAX);
    for (const n of [g.term, g.lead, g.commit, g.applied]) w.varUint(n);
    // Flags: 1 hibernating, 2 a safe ts follows.
    w.u8((g.hibernating ? REGION_HIBERNATING : 0) | (g.safeTs !== undefined ? REGION_SAFE_TS : 0));
    if (g.safeTs !== undefined) writeTimestamp(w, g.safeTs);
  }
  // An optional tail (a status without it, as older stores send, decodes unchanged).
  const p = s.snapshotProgress;
  if (p === undefined) return;
  for (const n of [p.sending, p.receiving, p.bytesSent, p.bytesReceived]) w.varUint(n);
  const applying = p.applying.slice(0, SNAPSHOT_PROGRESS_REGIONS_MAX);
  w.varUint(applying.length);
  for (const a of applying) {
    for (const n of [a.regionId, a.chunksApplied, a.chunks]) w.varUint(n);
    w.u8(a.failed === undefined ? 0 : 1);
    if (a.failed !== undefined) writeClipped(w, a.failed, RPC_STRING_BYTES_MAX);
  }
}

function readSnapshotProgress(r: ByteReader): SnapshotProgress {
  const [sending, receiving, bytesSent, bytesReceived] = [r.varUint(), r.varUint(), r.varUint(), r.varUint()];
  const n = r.count(SNAPSHOT_PROGRESS_REGIONS_MAX, 4, 'applying regions');
  const applying = Array.from({ length: n }, () => {
    const [regionId, chunksApplied, chunks] = [r.varUint(), r.varUint(), r.varUint()];
    const failed = r.bool() ? r.string(RPC_STRING_BYTES_MAX, 'apply failure') : undefined;
    return failed === undefined ? { regionId, chunksApplied, chunks } : { regionId, chunksApplied, chunks, failed };
  });
  return { sending, receiving, bytesSent, bytesReceived, applying };
}

type RegionStatus = StoreStatus['regions'][number];

/** Region status flags (the byte was the hibernating bool: old statuses decode unchanged). */
const REGION_HIBERNATING = 1;
const REGION_SAFE_TS = 2;

function readRegionStatus(r: ByteReader): RegionStatus {
  const peerId = r.varUint();
  const { id: regionId, startKey, endKey, epoch, peers } = readRegion(r);
  const role = r.string(RPC_STRING_BYTES_MAX, 'role');
  const [term, lead, commit, applied] = [r.varUint(), r.varUint(), r.varUint(), r.varUint()];
  const flags = r.u8();
  if ((flags & ~(REGION_HIBERNATING | REGION_SAFE_TS)) !== 0) throw new StoreRpcDecodeError('Malformed', `region status flags ${flags}`);
  const status: RegionStatus = { regionId, peerId, startKey, endKey, epoch, peers, role, term, lead, commit, applied, hibernating: (flags & REGION_HIBERNATING) !== 0 };
  if ((flags & REGION_SAFE_TS) !== 0) status.safeTs = readTimestamp(r);
  return status;
}

function readStatus(r: ByteReader): StoreStatus {
  const storeId = r.varUint();
  const stoppedReason = r.bool() ? r.string(RPC_TEXT_BYTES_MAX, 'stopped reason') : undefined;
  const counters = {} as StoreCounters;
  for (const name of COUNTER_NAMES) counters[name] = r.varUint();
  const n = r.count(RPC_REGIONS_MAX, 16, 'regions');
  const regions = Array.from({ length: n }, () => readRegionStatus(r));
  const status: StoreStatus = stoppedReason === undefined ? { storeId, counters, regions } : { storeId, stoppedReason, counters, regions };
  if (r.remaining > 0) status.snapshotProgress = readSnapshotProgress(r);
  return status;
}

function readFailure(r: ByteReader): Extract<StoreResponse, { type: 'failure' }> {
  const i = r.varUint();
  const kind = FAILURE_KINDS[i];
  if (kind === undefined) throw new StoreRpcDecodeError('Malformed', `failure kind ${i}`);
  return { type: 'failure', failure: { kind, message: r.string(RPC_TEXT_BYTES_MAX, 'failure message') } };
}

/** A response of type `T`. */
type ResponseOfType<T extends StoreResponse['type']> = Extract<StoreResponse, { type: T }>;

/** The wire number and paired body writer and reader of one response type. */
interface ResponseBody<T extends StoreResponse['type']> {
  /** Wire number (append only). */
  readonly tag: number;
  write(w: ByteWriter, s: ResponseOfType<T>): void;
  read(r: ByteReader): ResponseOfType<T>;
}

/** Every response type's body: a new kind of answer is one entry here (and its `ANSWERS` codec below). */
const RESPONSE_BODIES: { readonly [T in StoreResponse['type']]: ResponseBody<T> } = {
  unit: {
    tag: 1,
    write: (w, s) => writeResult(w, s.result, () => {}),
    read: (r) => ({ type: 'unit', result: readResult(r, () => undefined) }),
  },
  value: {
    tag: 2,
    write: (w, s) =>
      writeResult(w, s.result, (v) => {
        w.u8(v === undefined ? 0 : 1);
        if (v !== undefined) w.bytes(v);
      }),
    read: (r) => ({ type: 'value', result: readResult(r, () => (r.bool() ? r.bytes(RPC_VALUE_BYTES_MAX, 'value') : undefined)) }),
  },
  pairs: {
    tag: 3,
    write: (w, s) => writeResult(w, s.result, (pairs) => writePairs(w, pairs)),
    read: (r) => ({ type: 'pairs', result: readResult(r, () => readPairs(r)) }),
  },
  ack: { tag: 4, write: () => {}, read: () => ({ type: 'ack' }) },
  status: {
    tag: 5,
    write: (w, s) => writeStatus(w, s.status),
    read: (r) => ({ type: 'status', status: readStatus(r) }),
  },
  failure: {
    tag: 6,
    write(w, s) {
      w.varUint(FAILURE_KINDS.indexOf(s.failure.kind));
      writeClipped(w, s.failure.message, RPC_TEXT_BYTES_MAX);
    },
    read: readFailure,
  },
  ...PD_RESPONSE_BODIES,
  txn: {
    tag: 32,
    write: (w, s) => writeResult(w, s.result, (a) => writeTxnAnswer(w, a)),
    read: (r) => ({ type: 'txn', result: readResult(r, () => readTxnAnswer(r)) }),
  },
};

/** Wire numbers of the response types (append only). */
export const STORE_RESPONSE_TYPES = Object.fromEntries(Object.entries(RESPONSE_BODIES).map(([type, b]) => [type, b.tag])) as { readonly [T in StoreResponse['type']]: number };

const BODY_BY_TAG = new Map<number, ResponseBody<StoreResponse['type']>>(Object.values(RESPONSE_BODIES).map((b) => [b.tag, b as ResponseBody<StoreResponse['type']>]));

/** Writes one response. */
export function writeStoreResponse(w: ByteWriter, s: StoreResponse): void {
  const body = RESPONSE_BODIES[s.type] as ResponseBody<StoreResponse['type']>;
  writeHeader(w, body.tag);
  body.write(w, s);
}

/** Reads one response (the whole of `r`'s remaining bytes must be it). */
export function readStoreResponse(r: ByteReader): StoreResponse {
  const tag = readHeader(r, (t) => BODY_BY_TAG.has(t), 'response');
  return BODY_BY_TAG.get(tag)!.read(r);
}

/** Encodes a response to fresh bytes. */
export function encodeStoreResponse(s: StoreResponse): Uint8Array {
  const w = new ByteWriter();
  writeStoreResponse(w, s);
  return w.finish();
}

/** Decodes a response; throws only `StoreRpcDecodeError`. */
export function decodeStoreResponse(bytes: Uint8Array): StoreResponse {
  return decoding('response', bytes, readStoreResponse);
}

// ---- Answers: how each request type's answer travels ----------------------------------------

/**
 * How the answer of a request type travels: the response type it is sent as, and the
 * conversions both ways (`fromWire` takes a response of type `type` only).
 */
export interface AnswerCodec<V> {
  readonly type: Exclude<StoreResponse['type'], 'failure'>;
  toWire(v: V): StoreResponse;
  fromWire(s: StoreResponse): V;
}

type ResultResponse = Extract<StoreResponse, { result: unknown }>;
/** The result each result-carrying response type holds. */
type ResultOf = { [S in ResultResponse as S['type']]: S['result'] };

function resultAnswer<T extends keyof ResultOf>(type: T): AnswerCodec<ResultOf[T]> {
  return {
    type,
    toWire: (result) => ({ type, result }) as StoreResponse,
    fromWire: (s) => (s as unknown as { result: ResultOf[T] }).result,
  };
}

/** An answer that is always ok has no error on the wire: an error result is the server's failure. */
function internal(e: { kind: string }): StoreResponse {
  return { type: 'failure', failure: { kind: 'Internal', message: `region error ${e.kind} where only ok is sent` } };
}

/** The answer codec of a txn request whose value has `shape` (every txn answer travels as `txn`). */
export function txnAnswer<V>(shape: TxnValueShape<V>): AnswerCodec<Result<TxnAnswer<V>>> {
  return {
    type: 'txn',
    toWire: (result) => {
      if (!result.ok) return { type: 'txn', result };
      const a = result.value;
      return { type: 'txn', result: { ok: true, value: a.ok ? { ok: true, value: shape.to(a.value) } : a } };
    },
    fromWire: (s) => {
      const result = (s as Extract<StoreResponse, { type: 'txn' }>).result;
      if (!result.ok) return result;
      const a = result.value;
      return { ok: true, value: a.ok ? { ok: true, value: shape.from(a.value) } : a };
    },
  };
}

/** The answer codecs, by the response type they travel as. */
export const ANSWERS = {
  unit: resultAnswer('unit'),
  value: resultAnswer('value'),
  pairs: resultAnswer('pairs'),
  /** Fire-and-forget requests: ok once the store has them. */
  ack: {
    type: 'ack',
    toWire: (r) => (r.ok ? { type: 'ack' } : internal(r.error)),
    fromWire: () => ({ ok: true, value: undefined }),
  } satisfies AnswerCodec<Result<void>>,
  status: {
    type: 'status',
    toWire: (r) => (r.ok ? { type: 'status', status: r.value } : internal(r.error)),
    fromWire: (s) => ({ ok: true, value: (s as Extract<StoreResponse, { type: 'status' }>).status }),
  } satisfies AnswerCodec<Result<StoreStatus>>,
  pdApply: resultAnswer('pdApply'),
  pdStep: resultAnswer('pdStep'),
  pdId: resultAnswer('pdId'),
  pdRoute: resultAnswer('pdRoute'),
  pdStore: resultAnswer('pdStore'),
  pdTimestamps: resultAnswer('pdTimestamps'),
  pdGcSafePoint: resultAnswer('pdGcSafePoint'),
  pdGcRegister: resultAnswer('pdGcRegister'),
  pdScheduleConfig: resultAnswer('pdScheduleConfig'),
} as const;

/**
 * Whether `bytes` is a `failure` of kind `DataKeyUnproven` (its header and kind are one byte
 * each: every value here is below 128), checked without decoding the whole response on each
 * answer `withDataKeyProof` sees.
 */
export function isDataKeyUnproven(bytes: Uint8Array): boolean {
  return bytes.length >= 3 && bytes[0] === STORE_RESPONSE_TYPES.failure && bytes[1] === STORE_RPC_VERSION && bytes[2] === FAILURE_KINDS.indexOf('DataKeyUnproven');
}
