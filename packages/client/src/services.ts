/**
 * What the client talks to. A `KvService` is one store's request API: `handle(request)` of
 * the store's request vocabulary (`StoreRequest` → `ResponseOf<type>`), whether the store is
 * in-process (the `Store` itself), across the network (`RemoteKvService`) or behind the
 * simulator's lossy link. A `PdService` answers routing questions. The client never sees Raft.
 */
import type { GcRegisterResult, Peer, Region, StoreMeta } from '@peerkv/pd';
import type { StoreService } from '@peerkv/store';

export interface KvPair {
  key: Uint8Array;
  value: Uint8Array;
}

/** One store's request API: its id and `handle` (see `StoreService` in `@peerkv/store`). */
export interface KvService extends StoreService {
  readonly storeId: number;
}

/** A region and the peer PD believes leads it. */
export interface RegionRoute {
  region: Region;
  leader?: Peer;
}

/** How a timestamp request is asked: its abort, and how much retrying it may do by itself. */
export interface TsoCallOptions {
  signal?: AbortSignal;
  /**
   * One try (one round over PD's stores, no backoff of its own), within `timeoutMs` when
   * given: the caller retries. The client's `TsoBatcher` asks so, so its backoff is the one
   * retry loop and a PD without a quorum fails in one budget, not one budget per attempt.
   */
  once?: boolean;
  /** Longest the request may take, ms (the caller's budget left). */
  timeoutMs?: number;
}

/** Routing answers (PD, or a stand-in in tests). */
export interface PdService {
  getRegion(key: Uint8Array, o?: { signal?: AbortSignal }): Promise<RegionRoute | undefined>;
  getRegionById(regionId: number, o?: { signal?: AbortSignal }): Promise<RegionRoute | undefined>;
  getStore(storeId: number, o?: { signal?: AbortSignal }): Promise<StoreMeta | undefined>;
  /**
   * `count` consecutive TSO timestamps from the PD leader (the first is returned); throws
   * `PeerKVError('Unavailable')` with the region error when PD could not answer. Absent on
   * routing stand-ins without PD: `PeerKV.getTimestamp` then refuses with `Unavailable`.
   */
  getTimestamps?(count: number, o?: TsoCallOptions): Promise<{ first: bigint; count: number }>;
  /**
   * PD's GC safe point (a TSO timestamp; 0 until PD first moves it): versions below it may be
   * collected, so no read may use an older start ts. Absent where PD is not reachable this way.
   */
  getGcSafePoint?(o?: { signal?: AbortSignal }): Promise<bigint>;
  /**
   * Registers (or refreshes) `serviceId`'s oldest live start ts with the PD leader for `ttlMs`
   * (PD caps it at its `serviceTtlMsMax`): the safe point stays at or below `minStartTs` until
   * the registration expires. Answers the safe point, or why PD refused (`SafePointPassed`:
   * `minStartTs` is already below it; `TooManyServices`; `InvalidArgument`); throws
   * `PeerKVError('Unavailable')` when no PD leader answered. Absent where PD is not reachable.
   */
  registerGcService?(serviceId: string, minStartTs: bigint, ttlMs: number, o?: { signal?: AbortSignal }): Promise<GcRegisterResult>;
  /** Removes `serviceId`'s registration (nothing if it has none); `Unavailable` as above. */
  removeGcService?(serviceId: string, o?: { signal?: AbortSignal }): Promise<void>;
}

/** Finds the `KvService` of a store (a connection pool). */
export interface StoreResolver {
  store(storeId: number): KvService | undefined;
}

/** One store as `status()` shows it. */
export interface StoreStatusView {
  storeId: number;
  up: boolean;
  stoppedReason?: string;
  regions: {
    regionId: number;
    peerId: number;
    role: string;
    term: number;
    lead: number;
    commit: number;
    applied: number;
    epoch: { confVer: number; version: number };
    startKey: Uint8Array;
    endKey: Uint8Array;
    peers: { id: number; storeId: number; role: string }[];
  }[];
}

/** The cluster as the client can see it: stores, their region replicas, PD's operators. */
export interface ClusterStatus {
  stores: StoreStatusView[];
  /** Operators running on the PD leader (empty without PD). */
  operators: { regionId: number; kind: string; desc: string }[];
}

/** Where `PeerKV.status()` gets its answer. */
export interface StatusSource {
  clusterStatus(): Promise<ClusterStatus>;
}
