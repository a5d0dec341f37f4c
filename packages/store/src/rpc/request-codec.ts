/**
 * The store's request table: one entry per request type (`STORE_REQUEST_CODECS`) with its
 * wire number, its body writer and reader (paired), its field check for requests that did not
 * come through the reader, how its answer travels, and who may send it over RPC (`auth`,
 * applied by `authorize.ts`), and how a remote caller waits on an attempt (`attempt`,
 * `request-attempt.ts`: leader-served, RTO-bounded, sent from a tab). A request on the wire is `varUint type, varUint version, body`;
 * the only error `decodeStoreRequest` throws is `StoreRpcDecodeError`. Everything that carries
 * requests derives from this table and the handler table (`handlers/index.ts`): the RPC server,
 * `RemoteKvService` (its RTO and leader waits), the PD caller, the browser host's forwarding
 * (`TAB_REQUEST_TYPES`). Adding a request is its type
 * (`request-types.ts`), one entry here and one handler.
 */
import { STALE_REQUEST_BODIES } from '../txn/stale-codec.ts';
import { CDC_REQUEST_BODY } from '../txn/cdc-codec.ts';
import { REPLICA_REQUEST_BODIES } from '../txn/replica-codec.ts';
import { GC_SERVICE_ID_BYTES_MAX } from '@peerkv/pd';
import type { ConfChangeSingle } from '@peerkv/raft';
import { ByteWriter, type ByteReader } from '@peerkv/transport';
import type { ReadConsistency } from '../request-options.ts';
import { fieldsOf, type FieldCheck } from '../request-check.ts';
import { StoreRequestError, type RequestOf, type ResponseOf, type ScanRange, type StoreRequest, type StoreRequestType } from '../request-types.ts';
import { StoreRpcDecodeError } from './errors.ts';
import { SEAL_KEY_ID_MAX } from '../sealing.ts';
import { PD_REQUEST_BODIES, RPC_TIMESTAMPS_MAX, type PdRequest } from './pd-codec.ts';
import { ATTEMPT_CONSISTENT_POINT, ATTEMPT_CONSISTENT_SCAN, ATTEMPT_DEFAULT, ATTEMPT_LEADER_LONG, ATTEMPT_LEADER_LONG_TAB, ATTEMPT_LEADER_ROUND, ATTEMPT_LEADER_ROUND_TAB, type RequestAttempt } from './request-attempt.ts';
import { AUTH_ADMIN, AUTH_ADMIN_DATA_KEY, AUTH_CHANGE, AUTH_CHANGE_META, AUTH_JOIN, AUTH_READ, AUTH_READ_META, AUTH_SELF, type RequestAuth } from './request-auth.ts';
import { ANSWERS, txnAnswer, type AnswerCodec } from './response-codec.ts';
import { TXN_VALUE_SHAPES, type TxnValueShape } from '../txn/codec.ts';
import { TXN_REQUEST_BODIES } from '../txn/codec-requests.ts';
import { TXN_DETECT_DEADLOCK_BODY } from '../txn/codec-deadlock.ts';
import { RPC_KEY_BYTES_MAX, RPC_PEERS_MAX, RPC_STRING_BYTES_MAX, decoding, readEpoch, readHeader, readOps, readPeer, writeEpoch, writeHeader, writeOps, writePeer } from './wire.ts';

export type { PeerChange, ScanRange, StoreRequest } from '../request-types.ts';

/** The codec of requests of type `K`. */
export interface RequestCodec<K extends StoreRequestType> {
  /** Wire number (append only). */
  readonly tag: number;
  /** Whether the request carries a store-side `timeoutMs` (a remote caller always sends one). */
  readonly timed: boolean;
  /** Who may send it over RPC (`request-auth.ts`; `authorize.ts` applies it). */
  readonly auth: RequestAuth;
  /** How a remote caller waits on an attempt (absent: `ATTEMPT_DEFAULT`, the safe side of each choice). */
  readonly attempt?: RequestAttempt;
  /** Writes the body (after the header). */
  write(w: ByteWriter, q: RequestOf<K>): void;
  /** Reads the body; throws on malformed input (`decoding` makes that `StoreRpcDecodeError`). */
  read(r: ByteReader): RequestOf<K>;
  /** Checks the fields of an unchecked request (`f` wraps it); throws `StoreRequestError`. */
  check(f: FieldCheck): void;
  /** How the answer travels. */
  readonly answer: AnswerCodec<ResponseOf<K>>;
}

const CONSISTENCIES: readonly ReadConsistency[] = ['linearizable', 'follower', 'stale'];
const CHANGE_TYPES: readonly ConfChangeSingle['type'][] = ['addNode', 'removeNode', 'addLearnerNode'];

/** `timeoutMs` as `varUint(ms + 1)`, 0 when absent. */
function writeTimeout(w: ByteWriter, t: { timeoutMs?: number }): void {
  w.varUint(t.timeoutMs === undefined ? 0 : Math.max(0, Math.floor(t.timeoutMs)) + 1);
}

function readTimeout(r: ByteReader): { timeoutMs?: number } {
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

function checkScanRange(f: FieldCheck): void {
  const range = f.object('range');
  f.bytes('range.start', RPC_KEY_BYTES_MAX, range.start);
  f.optBytes('range.end', range.end);
  f.limit('range.limit', range.limit);
  f.optBool('range.reverse', range.reverse);
}

/** The PD requests' entries: bodies in `pd-codec.ts`, checks of their top-level fields here. */
function pd<K extends PdRequest['type']>(type: K, head: { tag: number; timed: boolean; auth: RequestAuth }, check: (f: FieldCheck) => void, answer: AnswerCodec<ResponseOf<K>>): RequestCodec<K> {
  const body = PD_REQUEST_BODIES[type];
  return {
    ...head,
    write: (w, q) => body.write(w, q as never),
    read: (r) => body.read(r) as RequestOf<K>,
    check: (f) => {
      check(f);
      if (head.timed) f.timeout();
    },
    answer,
  };
}

/**
 * A txn request's entry: its body in `txn/codec-requests.ts`; the check here covers the region fields
 * (its handler checks the txn fields: timestamps, mutations, key lists, `txn/check.ts`).
 */
function txn<K extends Extract<StoreRequestType, `txn${string}`>, V, A extends RequestAttempt = typeof ATTEMPT_DEFAULT>(
  tag: number,
  body: { write(w: ByteWriter, q: RequestOf<K>): void; read(r: ByteReader): RequestOf<K> },
  shape: TxnValueShape<V>,
  auth: RequestAuth,
  attempt: A = ATTEMPT_DEFAULT as A,
): RequestCodec<K> & { readonly attempt: A } {
  return {
    tag,
    timed: true,
    auth,
    attempt,
    write: (w, q) => body.write(w, q),
    read: (r) => body.read(r),
    check(f) {
      f.uint('regionId');
      f.epoch();
      f.timeout();
    },
    answer: txnAnswer(shape) as unknown as AnswerCodec<ResponseOf<K>>,
  };
}

/** One codec per request type. */
type RequestTable = { readonly [K in StoreRequestType]: RequestCodec<K> };

/** The table as written, with each entry's literal `attempt` (for `TabRequestType`). */
const REQUEST_TABLE = {
  write: {
    tag: 1,
    timed: true,
    auth: AUTH_CHANGE,
    attempt: ATTEMPT_LEADER_ROUND,
    write(w, q) {
      w.varUint(q.regionId);
      writeEpoch(w, q.epoch);
      w.string(q.clientId);
      w.varUint(q.seq);
      w.varUint(q.ackFloor ?? 0);
      writeOps(w, q.ops);
      writeTimeout(w, q);
    },
    read(r) {
      const regionId = r.varUint();
      const epoch = readEpoch(r);
      const clientId = r.string(RPC_STRING_BYTES_MAX, 'client id');
      const seq = r.varUint();
      const ackFloor = r.varUint();
      return { type: 'write', regionId, epoch, clientId, seq, ackFloor, ops: readOps(r), ...readTimeout(r) };
    },
    check(f) {
      f.uint('regionId');
      f.epoch();
      f.string('clientId', RPC_STRING_BYTES_MAX);
      f.uint('seq');
      f.optUint('ackFloor');
      f.ops();
      f.timeout();
    },
    answer: ANSWERS.unit,
  },
  get: {
    tag: 2,
    timed: true,
    auth: AUTH_READ,
    attempt: ATTEMPT_CONSISTENT_POINT,
    write(w, q) {
      w.varUint(q.regionId);
      writeEpoch(w, q.epoch);
      w.bytes(q.key);
      w.varUint(CONSISTENCIES.indexOf(q.consistency));
      writeTimeout(w, q);
    },
    read(r) {
      const regionId = r.varUint();
      const epoch = readEpoch(r);
      const key = r.bytes(RPC_KEY_BYTES_MAX, 'key');
      return { type: 'get', regionId, epoch, key, consistency: readEnum(r, CONSISTENCIES, 'consistency'), ...readTimeout(r) };
    },
    check(f) {
      f.uint('regionId');
      f.epoch();
      f.bytes('key');
      f.oneOf('consistency', CONSISTENCIES);
      f.timeout();
    },
    answer: ANSWERS.value,
  },
  scan: {
    tag: 3,
    timed: true,
    auth: AUTH_READ,
    attempt: ATTEMPT_CONSISTENT_SCAN,
    write(w, q) {
      w.varUint(q.regionId);
      writeEpoch(w, q.epoch);
      w.bytes(q.range.start);
      w.u8(q.range.end === undefined ? 0 : 1);
      if (q.range.end !== undefined) w.bytes(q.range.end);
      writeLimit(w, q.range.limit);
      w.u8(q.range.reverse ? 1 : 0);
      w.varUint(CONSISTENCIES.indexOf(q.consistency));
      writeTimeout(w, q);
    },
    read(r) {
      const regionId = r.varUint();
      const epoch = readEpoch(r);
      const start = r.bytes(RPC_KEY_BYTES_MAX, 'start');
      const end = r.bool() ? r.bytes(RPC_KEY_BYTES_MAX, 'end') : undefined;
      const limit = readLimit(r);
      const reverse = r.bool();
      const range: ScanRange = end === undefined ? { start, limit, reverse } : { start, end, limit, reverse };
      return { type: 'scan', regionId, epoch, range, consistency: readEnum(r, CONSISTENCIES, 'consistency'), ...readTimeout(r) };
    },
    check(f) {
      f.uint('regionId');
      f.epoch();
      checkScanRange(f);
      f.oneOf('consistency', CONSISTENCIES);
      f.timeout();
    },
    answer: ANSWERS.pairs,
  },
  changePeers: {
    tag: 4,
    timed: true,
    auth: AUTH_ADMIN,
    write(w, q) {
      w.varUint(q.regionId);
      w.varUint(q.changes.length);
      for (const c of q.changes) {
        w.varUint(CHANGE_TYPES.indexOf(c.type));
        writePeer(w, c.peer);
      }
      writeTimeout(w, q);
    },
    read(r) {
      const regionId = r.varUint();
      const n = r.count(RPC_PEERS_MAX, 4, 'changes');
      const changes = Array.from({ length: n }, () => ({ type: readEnum(r, CHANGE_TYPES, 'change type'), peer: readPeer(r) }));
      return { type: 'changePeers', regionId, changes, ...readTimeout(r) };
    },
    check(f) {
      f.uint('regionId');
      f.array('changes', RPC_PEERS_MAX, (item, n) => {
        const c = f.object(n, item);
        f.oneOf(`${n}.type`, CHANGE_TYPES, c.type);
        f.peer(`${n}.peer`, c.peer);
      });
      f.timeout();
    },
    answer: ANSWERS.unit,
  },
  split: {
    tag: 5,
    timed: true,
    auth: AUTH_ADMIN,
    write(w, q) {
      w.varUint(q.regionId);
      writeEpoch(w, q.epoch);
      w.bytes(q.splitKey);
      w.varUint(q.newRegionId);
      w.varUint(q.newPeerIds.length);
      for (const id of q.newPeerIds) w.varUint(id);
      writeTimeout(w, q);
    },
    read(r) {
      const regionId = r.varUint();
      const epoch = readEpoch(r);
      const splitKey = r.bytes(RPC_KEY_BYTES_MAX, 'split key');
      const newRegionId = r.varUint();
      const n = r.count(RPC_PEERS_MAX, 1, 'new peer ids');
      const newPeerIds = Array.from({ length: n }, () => r.varUint());
      return { type: 'split', regionId, epoch, splitKey, newRegionId, newPeerIds, ...readTimeout(r) };
    },
    check(f) {
      f.uint('regionId');
      f.epoch();
      f.bytes('splitKey');
      f.uint('newRegionId');
      f.peerIds('newPeerIds');
      f.timeout();
    },
    answer: ANSWERS.unit,
  },
  transferLeader: {
    tag: 6,
    timed: false,
    auth: AUTH_ADMIN,
    write(w, q) {
      w.varUint(q.regionId);
      w.varUint(q.peerId);
    },
    read(r) {
      const regionId = r.varUint();
      return { type: 'transferLeader', regionId, peerId: r.varUint() };
    },
    check(f) {
      f.uint('regionId');
      f.uint('peerId');
      f.timeout();
    },
    answer: ANSWERS.ack,
  },
  campaign: {
    tag: 7,
    timed: false,
    auth: AUTH_ADMIN,
    write: (w, q) => w.varUint(q.regionId),
    read: (r) => ({ type: 'campaign', regionId: r.varUint() }),
    check(f) {
      f.uint('regionId');
      f.timeout();
    },
    answer: ANSWERS.ack,
  },
  status: {
    tag: 8,
    timed: false,
    auth: AUTH_READ_META,
    write: () => {},
    read: () => ({ type: 'status' }),
    check: (f) => f.timeout(),
    answer: ANSWERS.status,
  },
  // 20: after the PD requests (9..19), before the txn ones (32..).
  setDraining: {
    tag: 20,
    timed: false,
    auth: AUTH_ADMIN,
    write: (w, q) => w.varUint(q.draining ? 1 : 0),
    read(r) {
      const v = r.varUint();
      if (v > 1) throw new StoreRpcDecodeError('Malformed', `setDraining: draining is 0 or 1, got ${v}`);
      return { type: 'setDraining', draining: v === 1 };
    },
    check(f) {
      f.bool('draining');
      f.timeout();
    },
    answer: ANSWERS.ack,
  },
  // 22: after the PD requests (9..21), before the txn ones (32..).
  rotateDataKey: {
    tag: 22,
    timed: false,
    auth: AUTH_ADMIN_DATA_KEY,
    write: (w, q) => w.varUint(q.keyId),
    read: (r) => ({ type: 'rotateDataKey', keyId: r.varUint() }),
    check(f) {
      f.uint('keyId', undefined, SEAL_KEY_ID_MAX);
      f.timeout();
    },
    answer: ANSWERS.ack,
  },
  pdStoreHeartbeat: pd('pdStoreHeartbeat', { tag: 9, timed: true, auth: AUTH_SELF }, (f) => void f.object('stats'), ANSWERS.pdApply),
  pdRegionHeartbeat: pd('pdRegionHeartbeat', { tag: 10, timed: true, auth: AUTH_SELF }, (f) => void f.object('heartbeat'), ANSWERS.pdStep),
  pdAllocId: pd('pdAllocId', { tag: 11, timed: true, auth: AUTH_CHANGE_META }, () => {}, ANSWERS.pdId),
  pdPutStore: pd(
    'pdPutStore',
    { tag: 12, timed: true, auth: AUTH_JOIN },
    (f) => {
      f.uint('storeId');
      f.string('address', RPC_STRING_BYTES_MAX);
      f.object('labels');
    },
    ANSWERS.pdApply,
  ),
  pdGetRegion: pd('pdGetRegion', { tag: 13, timed: false, auth: AUTH_READ_META }, (f) => void f.bytes('key'), ANSWERS.pdRoute),
  pdGetRegionById: pd('pdGetRegionById', { tag: 14, timed: false, auth: AUTH_READ_META }, (f) => void f.uint('regionId'), ANSWERS.pdRoute),
  pdGetStore: pd('pdGetStore', { tag: 15, timed: false, auth: AUTH_READ_META }, (f) => void f.uint('storeId'), ANSWERS.pdStore),
  pdGetTimestamps: pd('pdGetTimestamps', { tag: 16, timed: true, auth: AUTH_CHANGE_META }, (f) => void f.uint('count', undefined, RPC_TIMESTAMPS_MAX), ANSWERS.pdTimestamps),
  pdGetGcSafePoint: pd('pdGetGcSafePoint', { tag: 18, timed: false, auth: AUTH_READ_META }, () => {}, ANSWERS.pdGcSafePoint),
  pdGetScheduleConfig: pd('pdGetScheduleConfig', { tag: 21, timed: false, auth: AUTH_READ_META }, () => {}, ANSWERS.pdScheduleConfig),
  pdRegisterGcService: pd(
    'pdRegisterGcService',
    { tag: 19, timed: true, auth: AUTH_CHANGE_META },
    (f) => {
      f.string('serviceId', GC_SERVICE_ID_BYTES_MAX);
      f.uint('ttlMs');
    },
    ANSWERS.pdGcRegister,
  ),
  // The txn requests are numbered from 32: 17 stays unknown, as older peers and tests know it.
  txnPrewrite: txn(32, TXN_REQUEST_BODIES.txnPrewrite, TXN_VALUE_SHAPES.prewrite, AUTH_CHANGE, ATTEMPT_LEADER_ROUND),
  txnCommit: txn(33, TXN_REQUEST_BODIES.txnCommit, TXN_VALUE_SHAPES.commit, AUTH_CHANGE, ATTEMPT_LEADER_ROUND),
  txnRollback: txn(34, TXN_REQUEST_BODIES.txnRollback, TXN_VALUE_SHAPES.unit, AUTH_CHANGE, ATTEMPT_LEADER_ROUND),
  txnCheckStatus: txn(35, TXN_REQUEST_BODIES.txnCheckStatus, TXN_VALUE_SHAPES.status, AUTH_CHANGE, ATTEMPT_LEADER_ROUND_TAB),
  txnResolveLock: txn(36, TXN_REQUEST_BODIES.txnResolveLock, TXN_VALUE_SHAPES.unit, AUTH_CHANGE, ATTEMPT_LEADER_ROUND_TAB),
  txnHeartbeat: txn(37, TXN_REQUEST_BODIES.txnHeartbeat, TXN_VALUE_SHAPES.heartbeat, AUTH_CHANGE, ATTEMPT_LEADER_ROUND_TAB),
  txnGet: txn(38, TXN_REQUEST_BODIES.txnGet, TXN_VALUE_SHAPES.get, AUTH_READ, ATTEMPT_LEADER_ROUND),
  txnScan: txn(39, TXN_REQUEST_BODIES.txnScan, TXN_VALUE_SHAPES.scan, AUTH_READ, ATTEMPT_LEADER_LONG),
  txnCheckSecondaryLocks: txn(40, TXN_REQUEST_BODIES.txnCheckSecondaryLocks, TXN_VALUE_SHAPES.secondaries, AUTH_CHANGE, ATTEMPT_LEADER_ROUND_TAB),
  txnPessimisticLock: txn(41, TXN_REQUEST_BODIES.txnPessimisticLock, TXN_VALUE_SHAPES.pessimisticLock, AUTH_CHANGE, ATTEMPT_LEADER_LONG_TAB),
  txnPessimisticRollback: txn(42, TXN_REQUEST_BODIES.txnPessimisticRollback, TXN_VALUE_SHAPES.unit, AUTH_CHANGE, ATTEMPT_LEADER_ROUND_TAB),
  txnGc: txn(43, TXN_REQUEST_BODIES.txnGc, TXN_VALUE_SHAPES.gc, AUTH_CHANGE),
  // Addressed to the detector, not to a region: its handler checks the txn fields.
  txnDetectDeadlock: {
    tag: 44,
    timed: true,
    auth: AUTH_CHANGE,
    write: (w, q) => TXN_DETECT_DEADLOCK_BODY.write(w, q),
    read: (r) => TXN_DETECT_DEADLOCK_BODY.read(r),
    check: (f) => f.timeout(),
    answer: txnAnswer(TXN_VALUE_SHAPES.unit) as unknown as AnswerCodec<ResponseOf<'txnDetectDeadlock'>>,
  },
  txnStaleGet: txn(45, STALE_REQUEST_BODIES.txnStaleGet, TXN_VALUE_SHAPES.stale, AUTH_READ),
  txnStaleScan: txn(46, STALE_REQUEST_BODIES.txnStaleScan, TXN_VALUE_SHAPES.stale, AUTH_READ),
  txnCdcPull: txn(47, CDC_REQUEST_BODY, TXN_VALUE_SHAPES.cdc, AUTH_READ, ATTEMPT_LEADER_LONG),
  // The replica reads (issue 14's follower and closest reads) are numbered from 50.
  txnReadIndex: txn(50, REPLICA_REQUEST_BODIES.txnReadIndex, TXN_VALUE_SHAPES.readIndex, AUTH_READ, ATTEMPT_LEADER_ROUND),
  txnReplicaGet: txn(51, REPLICA_REQUEST_BODIES.txnReplicaGet, TXN_VALUE_SHAPES.get, AUTH_READ),
  txnReplicaScan: txn(52, REPLICA_REQUEST_BODIES.txnReplicaScan, TXN_VALUE_SHAPES.scan, AUTH_READ),
} satisfies RequestTable;

/** Every request type's codec (see `RequestCodec`). */
export const STORE_REQUEST_CODECS: RequestTable = REQUEST_TABLE;

/** The request types whose entry lets a browser tab's transaction send them through its host (`attempt.tab`). */
export type TabRequestType = { [K in StoreRequestType]: (typeof REQUEST_TABLE)[K] extends { readonly attempt: { readonly tab: true } } ? K : never }[StoreRequestType];

/** The request types a browser tab's transaction may send through its host, in table order (`attempt.tab`). */
export const TAB_REQUEST_TYPES = (Object.keys(STORE_REQUEST_CODECS) as StoreRequestType[]).filter((t) => attemptOf(t).tab) as readonly TabRequestType[];

/** How a remote caller waits on an attempt of `type` (`ATTEMPT_DEFAULT` when its entry names none). */
export function attemptOf(type: StoreRequestType): RequestAttempt {
  return STORE_REQUEST_CODECS[type].attempt ?? ATTEMPT_DEFAULT;
}

/** Whether only its region's leader serves `q` (news of a leader on another store ends its wait). */
export function leaderServes(q: StoreRequest, attempt: RequestAttempt = attemptOf(q.type)): boolean {
  if (attempt.leader === 'linearizable') return 'consistency' in q && q.consistency === 'linearizable';
  return attempt.leader === 'always';
}

/** Whether `q`'s attempts follow the store's measured RTO: a leader serves it in one round. */
export function rtoBounded(q: StoreRequest, attempt: RequestAttempt = attemptOf(q.type)): boolean {
  return attempt.rto && leaderServes(q, attempt);
}

/** Wire numbers of the request types (append only). */
export const STORE_REQUEST_TYPES = Object.fromEntries(Object.entries(STORE_REQUEST_CODECS).map(([type, c]) => [type, c.tag])) as { readonly [K in StoreRequestType]: number };

const CODEC_BY_TAG = new Map<number, RequestCodec<StoreRequestType>>(Object.values(STORE_REQUEST_CODECS).map((c) => [c.tag, c as RequestCodec<StoreRequestType>]));

/** The codec of request type `type`, if there is one (`type` may come from anywhere). */
export function requestCodecOf(type: unknown): RequestCodec<StoreRequestType> | undefined {
  return typeof type === 'string' && Object.hasOwn(STORE_REQUEST_CODECS, type) ? (STORE_REQUEST_CODECS[type as StoreRequestType] as RequestCodec<StoreRequestType>) : undefined;
}

/**
 * Checks a request from an untyped source (an in-process caller, a tab): a known `type` and
 * fields of the right types and limits. Returns it typed; throws only `StoreRequestError`.
 */
export function checkStoreRequest(q: unknown): StoreRequest {
  const type = (q as { type?: unknown } | null | undefined)?.type;
  const codec = requestCodecOf(type);
  if (!codec) throw new StoreRequestError('UnknownType', `request type ${typeof type === 'string' ? `'${type.slice(0, 64)}'` : typeof type}`);
  codec.check(fieldsOf(q, String(type)));
  return q as StoreRequest;
}

/** Writes one request. */
export function writeStoreRequest(w: ByteWriter, q: StoreRequest): void {
  const codec = STORE_REQUEST_CODECS[q.type] as RequestCodec<StoreRequestType>;
  writeHeader(w, codec.tag);
  codec.write(w, q);
}

/** Reads one request (the whole of `r`'s remaining bytes must be it). */
export function readStoreRequest(r: ByteReader): StoreRequest {
  const tag = readHeader(r, (t) => CODEC_BY_TAG.has(t), 'request');
  return CODEC_BY_TAG.get(tag)!.read(r);
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
