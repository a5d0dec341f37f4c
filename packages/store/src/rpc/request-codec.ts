/**
 * Store requests and their binary codec: `varUint type, varUint version, body`. One request
 * type per public `Store` method a remote caller may use. Paired write/read; the only error
 * `decodeStoreRequest` throws is `StoreRpcDecodeError`.
 */
import type { Peer, RegionEpoch } from '@peerkv/pd';
import type { ConfChangeSingle } from '@peerkv/raft';
import { ByteWriter, type ByteReader } from '@peerkv/transport';
import type { KvOp } from '../command.ts';
import type { ReadConsistency } from '../request-options.ts';
import { StoreRpcDecodeError } from './errors.ts';
import { PD_REQUEST_TYPES, isPdRequestType, readPdRequestBody, writePdRequestBody, type PdRequest } from './pd-codec.ts';
import {
  RPC_KEY_BYTES_MAX,
  RPC_PEERS_MAX,
  RPC_STRING_BYTES_MAX,
  decoding,
  readEpoch,
  readHeader,
  readOps,
  readPeer,
  writeEpoch,
  writeHeader,
  writeOps,
  writePeer,
} from './wire.ts';

/** Fields every data request carries: the per-request store timeout (absent = the store's default). */
interface Timed {
  /** Server-side timeout of the request, ms. */
  timeoutMs?: number;
}

/** A scan range as `Store.scan` takes it (`limit` may be `Infinity`). */
export interface ScanRange {
  start: Uint8Array;
  end?: Uint8Array;
  limit: number;
  reverse?: boolean;
}

/** A peer change as `Store.changePeers` takes it. */
export interface PeerChange {
  type: ConfChangeSingle['type'];
  peer: Peer;
}

/** A request to one store. */
export type StoreRequest =
  | ({ type: 'write'; regionId: number; epoch: RegionEpoch; clientId: string; seq: number; ackFloor?: number; ops: KvOp[] } & Timed)
  | ({ type: 'get'; regionId: number; epoch: RegionEpoch; key: Uint8Array; consistency: ReadConsistency } & Timed)
  | ({ type: 'scan'; regionId: number; epoch: RegionEpoch; range: ScanRange; consistency: ReadConsistency } & Timed)
  | ({ type: 'changePeers'; regionId: number; changes: PeerChange[] } & Timed)
  | ({ type: 'split'; regionId: number; epoch: RegionEpoch; splitKey: Uint8Array; newRegionId: number; newPeerIds: number[] } & Timed)
  | { type: 'transferLeader'; regionId: number; peerId: number }
  | { type: 'campaign'; regionId: number }
  | { type: 'status' }
  | PdRequest;

/** Wire numbers of the request types (append only). */
export const STORE_REQUEST_TYPES = {
  write: 1,
  get: 2,
  scan: 3,
  changePeers: 4,
  split: 5,
  transferLeader: 6,
  campaign: 7,
  status: 8,
  ...PD_REQUEST_TYPES,
} as const;

const CONSISTENCIES: readonly ReadConsistency[] = ['linearizable', 'follower', 'stale'];
const CHANGE_TYPES: readonly ConfChangeSingle['type'][] = ['addNode', 'removeNode', 'addLearnerNode'];

/** `timeoutMs` as `varUint(ms + 1)`, 0 when absent. */
function writeTimeout(w: ByteWriter, t: Timed): void {
  w.varUint(t.timeoutMs === undefined ? 0 : Math.max(0, Math.floor(t.timeoutMs)) + 1);
}

function readTimeout(r: ByteReader): Timed {
  const v = r.varUint();
  return v === 0 ? {} : { timeoutMs: v - 1 };
}

function readEnum<T>(r: ByteReader, values: readonly T[], what: string): T {
  const i = r.varUint();
  if (i >= values.length) throw new StoreRpcDecodeError('Malformed', `${what} ${i}`);
  return values[i];
}

/** A scan limit as `varUint(limit + 1)`, 0 for unbounded (`Infinity`). */
function writeLimit(w: ByteWriter, limit: number): void {
  w.varUint(Number.isFinite(limit) ? Math.max(0, Math.floor(limit)) + 1 : 0);
}

function readLimit(r: ByteReader): number {
  const v = r.varUint();
  return v === 0 ? Infinity : v - 1;
}

function writeBody(w: ByteWriter, q: StoreRequest): void {
  switch (q.type) {
    case 'write':
      w.varUint(q.regionId);
      writeEpoch(w, q.epoch);
      w.string(q.clientId);
      w.varUint(q.seq);
      w.varUint(q.ackFloor ?? 0);
      writeOps(w, q.ops);
      return writeTimeout(w, q);
    case 'get':
      w.varUint(q.regionId);
      writeEpoch(w, q.epoch);
      w.bytes(q.key);
      w.varUint(CONSISTENCIES.indexOf(q.consistency));
      return writeTimeout(w, q);
    case 'scan':
      w.varUint(q.regionId);
      writeEpoch(w, q.epoch);
      w.bytes(q.range.start);
      w.u8(q.range.end === undefined ? 0 : 1);
      if (q.range.end !== undefined) w.bytes(q.range.end);
      writeLimit(w, q.range.limit);
      w.u8(q.range.reverse ? 1 : 0);
      w.varUint(CONSISTENCIES.indexOf(q.consistency));
      return writeTimeout(w, q);
    case 'changePeers':
      w.varUint(q.regionId);
      w.varUint(q.changes.length);
      for (const c of q.changes) {
        w.varUint(CHANGE_TYPES.indexOf(c.type));
        writePeer(w, c.peer);
      }
      return writeTimeout(w, q);
    case 'split':
      w.varUint(q.regionId);
      writeEpoch(w, q.epoch);
      w.bytes(q.splitKey);
      w.varUint(q.newRegionId);
      w.varUint(q.newPeerIds.length);
      for (const id of q.newPeerIds) w.varUint(id);
      return writeTimeout(w, q);
    case 'transferLeader':
      w.varUint(q.regionId);
      return w.varUint(q.peerId);
    case 'campaign':
      return w.varUint(q.regionId);
    case 'status':
      return;
    default:
      return writePdRequestBody(w, q);
  }
}

function readScan(r: ByteReader): StoreRequest {
  const regionId = r.varUint();
  const epoch = readEpoch(r);
  const start = r.bytes(RPC_KEY_BYTES_MAX, 'start');
  const end = r.bool() ? r.bytes(RPC_KEY_BYTES_MAX, 'end') : undefined;
  const limit = readLimit(r);
  const reverse = r.bool();
  const range: ScanRange = end === undefined ? { start, limit, reverse } : { start, end, limit, reverse };
  return { type: 'scan', regionId, epoch, range, consistency: readEnum(r, CONSISTENCIES, 'consistency'), ...readTimeout(r) };
}

function readChangePeers(r: ByteReader): StoreRequest {
  const regionId = r.varUint();
  const n = r.count(RPC_PEERS_MAX, 4, 'changes');
  const changes = Array.from({ length: n }, () => ({ type: readEnum(r, CHANGE_TYPES, 'change type'), peer: readPeer(r) }));
  return { type: 'changePeers', regionId, changes, ...readTimeout(r) };
}

function readSplit(r: ByteReader): StoreRequest {
  const regionId = r.varUint();
  const epoch = readEpoch(r);
  const splitKey = r.bytes(RPC_KEY_BYTES_MAX, 'split key');
  const newRegionId = r.varUint();
  const n = r.count(RPC_PEERS_MAX, 1, 'new peer ids');
  const newPeerIds = Array.from({ length: n }, () => r.varUint());
  return { type: 'split', regionId, epoch, splitKey, newRegionId, newPeerIds, ...readTimeout(r) };
}

function readBody(r: ByteReader, type: number): StoreRequest {
  switch (type) {
    case STORE_REQUEST_TYPES.write: {
      const regionId = r.varUint();
      const epoch = readEpoch(r);
      const clientId = r.string(RPC_STRING_BYTES_MAX, 'client id');
      const seq = r.varUint();
      const ackFloor = r.varUint();
      return { type: 'write', regionId, epoch, clientId, seq, ackFloor, ops: readOps(r), ...readTimeout(r) };
    }
    case STORE_REQUEST_TYPES.get: {
      const regionId = r.varUint();
      const epoch = readEpoch(r);
      const key = r.bytes(RPC_KEY_BYTES_MAX, 'key');
      return { type: 'get', regionId, epoch, key, consistency: readEnum(r, CONSISTENCIES, 'consistency'), ...readTimeout(r) };
    }
    case STORE_REQUEST_TYPES.scan:
      return readScan(r);
    case STORE_REQUEST_TYPES.changePeers:
      return readChangePeers(r);
    case STORE_REQUEST_TYPES.split:
      return readSplit(r);
    case STORE_REQUEST_TYPES.transferLeader: {
      const regionId = r.varUint();
      return { type: 'transferLeader', regionId, peerId: r.varUint() };
    }
    case STORE_REQUEST_TYPES.campaign:
      return { type: 'campaign', regionId: r.varUint() };
    case STORE_REQUEST_TYPES.status:
      return { type: 'status' };
    default:
      if (isPdRequestType(type)) return readPdRequestBody(r, type);
      throw new StoreRpcDecodeError('UnknownType', `request type ${type}`);
  }
}

const KNOWN_REQUEST_TYPES = new Set<number>(Object.values(STORE_REQUEST_TYPES));

/** Writes one request. */
export function writeStoreRequest(w: ByteWriter, q: StoreRequest): void {
  writeHeader(w, STORE_REQUEST_TYPES[q.type]);
  writeBody(w, q);
}

/** Reads one request (the whole of `r`'s remaining bytes must be it). */
export function readStoreRequest(r: ByteReader): StoreRequest {
  return readBody(r, readHeader(r, (t) => KNOWN_REQUEST_TYPES.has(t), 'request'));
}

/** Encodes a request to fresh bytes. */
export function encodeStoreRequest(q: StoreRequest): Uint8Array {
  const w = new ByteWriter();
  writeStoreRequest(w, q);
  return w.finish();
}

/** Decodes a request; throws only `StoreRpcDecodeError`. */
export function decodeStoreRequest(bytes: Uint8Array): StoreRequest {
  return decoding('request', bytes, readStoreRequest);
}
