/**
 * PD requests and responses of the store RPC: what a remote store's `PdClient` and a remote
 * client's routing service ask any store, and the bodies of their answers. Request types
 * 9..16, 18..19, 21 and response types 7..15 of the store RPC (`request-codec.ts`/`response-codec.ts`
 * write the header and call the body codecs here). Paired write/read; bad bytes throw only
 * `StoreRpcDecodeError`.
 */
import { GC_SERVICE_ID_BYTES_MAX, PdDecodeError, checkedScheduleConfig, readScheduleConfig, writeScheduleConfig, type GcRegisterError, type GcRegisterResult, type OperatorStep, type PdApplyResult, type ScheduleConfig } from '@peerkv/pd';
import {
  ADDRESS_BYTES_MAX,
  readLabels,
  readPeer,
  readRegion,
  readRegionHeartbeat,
  readStoreMeta,
  readStorePublicKey,
  readStoreStats,
  readTimestamp,
  writeClipped,
  writeLabels,
  writePeer,
  writeRegion,
  writeRegionHeartbeat,
  writeStoreMeta,
  writeStorePublicKey,
  writeStoreStats,
  writeTimestamp,
  type ByteReader,
  type ByteWriter,
  type Peer,
  type Region,
  type RegionHeartbeat,
  type StoreMeta,
  type StoreStats,
} from '@peerkv/proto';
import type { Result } from '../peer.ts';
import { StoreRpcDecodeError } from './errors.ts';
import { readApply, readResult, readStep, readTimeout, writeApply, writeResult, writeStep, writeTimeout } from './pd-fields.ts';
import { RPC_KEY_BYTES_MAX } from './wire.ts';

/** Timestamps one `pdGetTimestamps` may ask for. */
export const RPC_TIMESTAMPS_MAX = 1 << 16;

/** A request to the placement driver, sent to any store (the PD leader's store runs writes). */
export type PdRequest =
  | { type: 'pdStoreHeartbeat'; stats: StoreStats; timeoutMs?: number }
  | { type: 'pdRegionHeartbeat'; heartbeat: RegionHeartbeat; timeoutMs?: number }
  | { type: 'pdAllocId'; timeoutMs?: number }
  /** `publicKey`: the store's identity key (PD records it once, `PutStoreCommand`). */
  | { type: 'pdPutStore'; storeId: number; address: string; labels: Record<string, string>; timeoutMs?: number; publicKey?: Uint8Array }
  | { type: 'pdGetRegion'; key: Uint8Array }
  | { type: 'pdGetRegionById'; regionId: number }
  | { type: 'pdGetStore'; storeId: number }
  | { type: 'pdGetTimestamps'; count: number; timeoutMs?: number }
  /** PD's GC safe point as the answering replica has applied it (any replica answers; it may lag, never lead). */
  | { type: 'pdGetGcSafePoint' }
  /**
   * Registers (or refreshes) `serviceId`'s oldest live start ts for `ttlMs` on the PD leader;
   * `ttlMs` 0 removes the registration (`GcSafePointKeeper.register`).
   */
  | { type: 'pdRegisterGcService'; serviceId: string; minStartTs: bigint; ttlMs: number; timeoutMs?: number }
  /** PD's schedule config (`ScheduleConfig`) as the answering replica has applied it (sent to PD's leader, like the safe point's readers). */
  | { type: 'pdGetScheduleConfig' };

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
  | { type: 'pdTimestamps'; result: Result<{ first: bigint; count: number }> }
  | { type: 'pdGcSafePoint'; result: Result<bigint> }
  | { type: 'pdGcRegister'; result: Result<GcRegisterResult> }
  | { type: 'pdScheduleConfig'; result: Result<ScheduleConfig> };

/** Wire order of a refused registration's kinds (append only). */
const GC_REGISTER_ERROR_KINDS: readonly GcRegisterError['kind'][] = ['NotLeader', 'SafePointPassed', 'TooManyServices', 'InvalidArgument'];
/** Bytes of an `InvalidArgument` registration's reason on the wire (clipped). */
const GC_REGISTER_REASON_BYTES_MAX = 256;

/** A PD request of type `K`. */
export type PdRequestOf<K extends PdRequest['type']> = Extract<PdRequest, { type: K }>;

/** The paired body writer and reader of one PD request type (the header is the request table's, `request-codec.ts`). */
export interface PdRequestBody<K extends PdRequest['type']> {
  write(w: ByteWriter, q: PdRequestOf<K>): void;
  read(r: ByteReader): PdRequestOf<K>;
}

/** Every PD request type's body. */
export const PD_REQUEST_BODIES: { readonly [K in PdRequest['type']]: PdRequestBody<K> } = {
  pdStoreHeartbeat: {
    write(w, q) {
      writeStoreStats(w, q.stats);
      writeTimeout(w, q.timeoutMs);
    },
    read: (r) => ({ type: 'pdStoreHeartbeat', stats: readStoreStats(r), ...readTimeout(r) }),
  },
  pdRegionHeartbeat: {
    write(w, q) {
      writeRegionHeartbeat(w, q.heartbeat);
      writeTimeout(w, q.timeoutMs);
    },
    read: (r) => ({ type: 'pdRegionHeartbeat', heartbeat: readRegionHeartbeat(r), ...readTimeout(r) }),
  },
  pdAllocId: {
    write: (w, q) => writeTimeout(w, q.timeoutMs),
    read: (r) => ({ type: 'pdAllocId', ...readTimeout(r) }),
  },
  pdPutStore: {
    write(w, q) {
      w.varUint(q.storeId);
      writeClipped(w, q.address, ADDRESS_BYTES_MAX);
      writeLabels(w, q.labels);
      writeTimeout(w, q.timeoutMs);
      // Last: a request from before store keys ends here.
      writeStorePublicKey(w, q.publicKey);
    },
    read(r) {
      const storeId = r.varUint();
      const address = r.string(ADDRESS_BYTES_MAX, 'address');
      const labels = readLabels(r);
      const timeout = readTimeout(r);
      const publicKey = readStorePublicKey(r);
      return { type: 'pdPutStore', storeId, address, labels, ...timeout, ...(publicKey ? { publicKey } : {}) };
    },
  },
  pdGetRegion: {
    write: (w, q) => w.bytes(q.key),
    read: (r) => ({ type: 'pdGetRegion', key: r.bytes(RPC_KEY_BYTES_MAX, 'key') }),
  },
  pdGetRegionById: {
    write: (w, q) => w.varUint(q.regionId),
    read: (r) => ({ type: 'pdGetRegionById', regionId: r.varUint() }),
  },
  pdGetStore: {
    write: (w, q) => w.varUint(q.storeId),
    read: (r) => ({ type: 'pdGetStore', storeId: r.varUint() }),
  },
  pdGetTimestamps: {
    write(w, q) {
      w.varUint(q.count);
      writeTimeout(w, q.timeoutMs);
    },
    read(r) {
      const count = r.varUint();
      if (count > RPC_TIMESTAMPS_MAX) throw new StoreRpcDecodeError('LimitExceeded', `timestamp count ${count}`);
      return { type: 'pdGetTimestamps', count, ...readTimeout(r) };
    },
  },
  pdGetGcSafePoint: {
    write: () => {},
    read: () => ({ type: 'pdGetGcSafePoint' }),
  },
  pdRegisterGcService: {
    write(w, q) {
      w.string(q.serviceId);
      writeTimestamp(w, q.minStartTs);
      w.varUint(q.ttlMs);
      writeTimeout(w, q.timeoutMs);
    },
    read(r) {
      // The keeper bounds a service id in characters; a character is at most 4 UTF-8 bytes.
      const serviceId = r.string(4 * GC_SERVICE_ID_BYTES_MAX, 'service id');
      const minStartTs = readTimestamp(r);
      return { type: 'pdRegisterGcService', serviceId, minStartTs, ttlMs: r.varUint(), ...readTimeout(r) };
    },
  },
  pdGetScheduleConfig: {
    write: () => {},
    read: () => ({ type: 'pdGetScheduleConfig' }),
  },
};

// ---- Responses -------------------------------------------------------------------------------

function writeGcRegister(w: ByteWriter, v: GcRegisterResult): void {
  w.bool(v.kind === 'ok');
  if (v.kind === 'ok') {
    writeTimestamp(w, v.gcSafePoint);
    return w.varUint(v.ttlMs);
  }
  const e = v.error;
  w.varUint(GC_REGISTER_ERROR_KINDS.indexOf(e.kind));
  if (e.kind === 'SafePointPassed') writeTimestamp(w, e.gcSafePoint);
  else if (e.kind === 'TooManyServices') w.varUint(e.servicesMax);
  else if (e.kind === 'InvalidArgument') writeClipped(w, e.reason, GC_REGISTER_REASON_BYTES_MAX);
}

function readGcRegister(r: ByteReader): GcRegisterResult {
  if (r.bool()) {
    const gcSafePoint = readTimestamp(r);
    return { kind: 'ok', gcSafePoint, ttlMs: r.varUint() };
  }
  const i = r.varUint();
  const kind = GC_REGISTER_ERROR_KINDS[i];
  if (kind === undefined) throw new StoreRpcDecodeError('Malformed', `gc registration error ${i}`);
  switch (kind) {
    case 'NotLeader':
      return { kind: 'error', error: { kind } };
    case 'SafePointPassed':
      return { kind: 'error', error: { kind, gcSafePoint: readTimestamp(r) } };
    case 'TooManyServices':
      return { kind: 'error', error: { kind, servicesMax: r.varUint() } };
    case 'InvalidArgument':
      return { kind: 'error', error: { kind, reason: r.string(GC_REGISTER_REASON_BYTES_MAX, 'reason') } };
  }
}

/** A schedule config as `pdScheduleConfig`'s writer sent it, checked (`PdDecodeError` as `Malformed`). */
function readScheduleConfigAnswer(r: ByteReader): ScheduleConfig {
  const c = { ...readScheduleConfig(r), replicaEnginesMin: r.varUint() };
  try {
    return checkedScheduleConfig(c);
  } catch (e) {
    if (e instanceof PdDecodeError) throw new StoreRpcDecodeError('Malformed', e.message);
    throw e;
  }
}

function readRoute(r: ByteReader): PdRouteAnswer | undefined {
  if (!r.bool()) return undefined;
  const region = readRegion(r);
  return r.bool() ? { region, leader: readPeer(r) } : { region };
}

/** A store meta or none; its public key is the answer's optional tail (absent from a store before keys). */
function readStoreAnswer(r: ByteReader): StoreMeta | undefined {
  if (!r.bool()) return undefined;
  const meta = readStoreMeta(r);
  const publicKey = readStorePublicKey(r);
  return publicKey ? { ...meta, publicKey } : meta;
}

/** A PD response of type `T`. */
export type PdResponseOf<T extends PdResponse['type']> = Extract<PdResponse, { type: T }>;

/** The wire number and paired body writer and reader of one PD response type (the header is `response-codec.ts`'s). */
export interface PdResponseBody<T extends PdResponse['type']> {
  /** Wire number (after the data responses 1..6; append only). */
  readonly tag: number;
  write(w: ByteWriter, s: PdResponseOf<T>): void;
  read(r: ByteReader): PdResponseOf<T>;
}

/** The value a PD response of type `T` carries in its result. */
type PdValueOf<T extends PdResponse['type']> = PdResponseOf<T>['result'] extends Result<infer V> ? V : never;

/** The body of a PD response type: its result, whose ok value `writeValue`/`readValue` carry. */
function resultBody<T extends PdResponse['type']>(type: T, tag: number, writeValue: (w: ByteWriter, v: PdValueOf<T>) => void, readValue: (r: ByteReader) => PdValueOf<T>): PdResponseBody<T> {
  return {
    tag,
    write: (w, s) => writeResult(w, s.result as Result<PdValueOf<T>>, (v) => writeValue(w, v)),
    read: (r) => ({ type, result: readResult(r, () => readValue(r)) }) as PdResponseOf<T>,
  };
}

function writeOptStep(w: ByteWriter, v: { step?: OperatorStep }): void {
  w.bool(Boolean(v.step));
  if (v.step) writeStep(w, v.step);
}

function writeRoute(w: ByteWriter, v: PdRouteAnswer | undefined): void {
  w.bool(Boolean(v));
  if (!v) return;
  writeRegion(w, v.region);
  w.bool(Boolean(v.leader));
  if (v.leader) writePeer(w, v.leader);
}

function writeStoreAnswer(w: ByteWriter, m: StoreMeta | undefined): void {
  w.bool(Boolean(m));
  if (!m) return;
  writeStoreMeta(w, m);
  writeStorePublicKey(w, m.publicKey); // last, see `readStoreAnswer`
}

/** The config's body, then its fields added later, always (a command writes them only off their defaults). */
function writeScheduleConfigAnswer(w: ByteWriter, c: ScheduleConfig): void {
  writeScheduleConfig(w, c);
  w.varUint(c.replicaEnginesMin);
}

/** Every PD response type's body (wire numbers after the data responses 1..6; append only). */
export const PD_RESPONSE_BODIES: { readonly [T in PdResponse['type']]: PdResponseBody<T> } = {
  pdApply: resultBody('pdApply', 7, writeApply, readApply),
  pdStep: resultBody('pdStep', 8, writeOptStep, (r) => (r.bool() ? { step: readStep(r) } : {})),
  pdId: resultBody('pdId', 9, (w, id) => w.varUint(id), (r) => r.varUint()),
  pdRoute: resultBody('pdRoute', 10, writeRoute, readRoute),
  pdStore: resultBody('pdStore', 11, writeStoreAnswer, readStoreAnswer),
  pdTimestamps: resultBody(
    'pdTimestamps',
    12,
    (w, v) => {
      writeTimestamp(w, v.first);
      w.varUint(v.count);
    },
    (r) => {
      const first = readTimestamp(r);
      return { first, count: r.varUint() };
    },
  ),
  pdGcSafePoint: resultBody('pdGcSafePoint', 13, writeTimestamp, readTimestamp),
  pdGcRegister: resultBody('pdGcRegister', 14, writeGcRegister, readGcRegister),
  pdScheduleConfig: resultBody('pdScheduleConfig', 15, writeScheduleConfigAnswer, readScheduleConfigAnswer),
};

