/**
 * The store's one request vocabulary (TiKV's kvrpcpb shape): `StoreRequest`, a closed union
 * discriminated by `type`, and the answer of each request type (`ResponseOf<K>`). The store
 * (`Store.handle`), its RPC server and codec, the client's services (in-process, remote,
 * simulated) all carry these same values; nothing else names a request's fields.
 *
 * Every answer is a region `Result`, so a service that fails below the region layer (a lost
 * link, a store that could not run the request) can still answer with a retryable region
 * error. Bad input (an unknown type, a field of the wrong type) is not an answer: `handle`
 * rejects with `StoreRequestError`.
 */
import type { GcRegisterResult, OperatorStep, PdApplyResult, Peer, RegionEpoch, ScheduleConfig, StoreMeta } from '@peerkv/pd';
import type { ConfChangeSingle } from '@peerkv/raft';
import type { KvPair } from '@peerkv/storage';
import type { KvOp } from './command.ts';
import type { StoreStatus } from './options.ts';
import type { Result } from './peer.ts';
import type { ReadConsistency } from './request-options.ts';
import type { PdRequest, PdRouteAnswer } from './rpc/pd-codec.ts';
import type { Mutation, TxnStatus } from '@peerkv/txn';
import type { CdcCursor, TxnAnswer, TxnCdcResult, TxnCommitMode, TxnCommitResult, TxnDetectDeadlockRequest, TxnGetResult, TxnHeartbeatResult, TxnGcResult, TxnPessimisticLockResult, TxnPrewriteResult, TxnScanResult, TxnSecondaryLocksResult, TxnStaleReadResult, TxnReadIndexResult } from './txn/types.ts';

export type { CdcCursor, CdcEvent, TxnCdcResult, DeadlockRequestKind, TxnAnswer, TxnCommitMode, TxnCommitResult, TxnDetectDeadlockRequest, TxnError, TxnGcResult, TxnGetResult, TxnHeartbeatResult, TxnPessimisticLockResult, TxnPrewriteResult, TxnScanResult, TxnSecondaryLocksResult, TxnStaleReadResult, TxnUnsupportedError, DataIsNotReadyError } from './txn/types.ts';

/** A scan range (`limit` may be `Infinity`: unbounded). */
export interface ScanRange {
  start: Uint8Array;
  /** Exclusive; unbounded when absent or empty. */
  end?: Uint8Array;
  limit: number;
  reverse?: boolean;
}

/** One membership change of `changePeers`. */
export interface PeerChange {
  type: ConfChangeSingle['type'];
  peer: Peer;
}

/** Fields every timed request carries: the store-side timeout (absent = the store's default). */
export interface Timed {
  /** Store-side timeout of the request, ms. */
  timeoutMs?: number;
}

/**
 * Fields of a request the store answers at once: `timeoutMs` is only the caller's deadline
 * (a remote service's wait for the answer); it is not sent.
 */
export interface Untimed {
  /** How long a remote caller waits for the answer, ms. */
  timeoutMs?: number;
}

/** The data and admin requests (the PD requests are `PdRequest`, `rpc/pd-codec.ts`). */
export type DataRequest =
  /** Replicates and applies `ops` under (clientId, seq); `ackFloor`: see `dedup.ts`. */
  | ({ type: 'write'; regionId: number; epoch: RegionEpoch; clientId: string; seq: number; ackFloor?: number; ops: KvOp[] } & Timed)
  /** One key, read on an engine snapshot once `consistency` is satisfied. */
  | ({ type: 'get'; regionId: number; epoch: RegionEpoch; key: Uint8Array; consistency: ReadConsistency } & Timed)
  /** [start, end) ∩ region, up to `limit` pairs, on one engine snapshot. */
  | ({ type: 'scan'; regionId: number; epoch: RegionEpoch; range: ScanRange; consistency: ReadConsistency } & Timed)
  /** Membership change by joint consensus on the region's leader. */
  | ({ type: 'changePeers'; regionId: number; changes: PeerChange[] } & Timed)
  /** Splits at `splitKey`; the right half gets `newRegionId` and `newPeerIds` (one per current peer, same order). */
  | ({ type: 'split'; regionId: number; epoch: RegionEpoch; splitKey: Uint8Array; newRegionId: number; newPeerIds: number[] } & Timed)
  /** Asks the region's leader here to hand leadership to `peerId` (ok once asked). */
  | ({ type: 'transferLeader'; regionId: number; peerId: number } & Untimed)
  /** Starts an election for the region on this replica (ok once started). */
  | ({ type: 'campaign'; regionId: number } & Untimed)
  /** The store's status. */
  | ({ type: 'status' } & Untimed)
  /**
   * Marks the store draining (PD keeps leaders off it; every leadership here is handed to the
   * most caught-up other voter now, `Store.drain`) or, with `draining: false`, serving again.
   * Ok once marked (not once the leaderships moved). Not persisted: a restart serves again.
   */
  | ({ type: 'setDraining'; draining: boolean } & Untimed)
  /**
   * Rotates the data key to `keyId` (`Store.rotateDataKey`): this store seals with it from now
   * on and proposes the switch in the regions it leads; the others follow as the switch entries
   * spread (`data-key-switch.ts`). Ok once rotated here. Admin, and only for a caller that
   * proved the data key (`AUTH_ADMIN_DATA_KEY`).
   */
  | ({ type: 'rotateDataKey'; keyId: number } & Untimed)
  | TxnRequest;

/**
 * The transactional requests (Percolator; `handlers/txn.ts`, `handlers/txn-locks.ts`): each runs on the region's leader
 * under per-key latches, on an engine snapshot taken after a ReadIndex, and proposes the
 * action's writes as one `txn` command. Timestamps are TSO timestamps (`bigint`).
 */
export type TxnRequest =
  /** Locks `mutations` (distinct keys, all in the region) for the transaction `startTs`. */
  | ({
      type: 'txnPrewrite';
      regionId: number;
      epoch: RegionEpoch;
      mutations: Mutation[];
      primary: Uint8Array;
      startTs: bigint;
      lockTtlMs: number;
      /** Keys in the whole transaction (a hint recorded in each lock). */
      txnSize: number;
      /** The pessimistic transaction's for-update ts; absent or `0n`: optimistic. */
      forUpdateTs?: bigint;
      /** 2PC: the locks' least commit ts (default: one above the start and for-update ts). */
      minCommitTs?: bigint;
      mode: TxnCommitMode;
      /**
       * A queued offline transaction's read ts (≤ `startTs`): another transaction's `put` or
       * `delete` committed after it on any of the keys is a `WriteConflict` (txn's `TxnProps.readTs`).
       */
      readTs?: bigint;
    } & Timed)
  /** Commits `keys` of the transaction `startTs` at `commitTs` (> `startTs`). */
  | ({ type: 'txnCommit'; regionId: number; epoch: RegionEpoch; keys: Uint8Array[]; startTs: bigint; commitTs: bigint } & Timed)
  /** Rolls back `keys` of the transaction `startTs` (a rollback record stays on each). */
  | ({ type: 'txnRollback'; regionId: number; epoch: RegionEpoch; keys: Uint8Array[]; startTs: bigint } & Timed)
  /** Checks (may roll back an expired lock, or push its `minCommitTs` past `callerStartTs`) the transaction `lockTs` on its primary. */
  | ({
      type: 'txnCheckStatus';
      regionId: number;
      epoch: RegionEpoch;
      primaryKey: Uint8Array;
      lockTs: bigint;
      /** The reader's start ts, to push past (`0n`: no push). */
      callerStartTs: bigint;
      /** "Now", a fresh TSO ts: a lock's TTL is judged against it. */
      currentTs: bigint;
      rollbackIfNotExist: boolean;
      forceSyncCommit?: boolean;
    } & Timed)
  /** Commits (`commitTs` given) or rolls back (absent) the locks of the transaction `startTs` on `keys` (empty: every one in the region). */
  | ({ type: 'txnResolveLock'; regionId: number; epoch: RegionEpoch; keys: Uint8Array[]; startTs: bigint; commitTs?: bigint } & Timed)
  /** Raises the TTL of the transaction `startTs`'s primary lock to `adviseTtlMs`. */
  | ({ type: 'txnHeartbeat'; regionId: number; epoch: RegionEpoch; primaryKey: Uint8Array; startTs: bigint; adviseTtlMs: number } & Timed)
  /** Reads `key` as of `ts`; a lock that may commit at or below `ts` is `KeyIsLocked` (the client resolves it). */
  | ({ type: 'txnGet'; regionId: number; epoch: RegionEpoch; key: Uint8Array; ts: bigint; bypassLocks?: bigint[] } & Timed)
  /** Reads [start, end) ∩ region as of `ts`, up to `limit` pairs; stops at a hiding lock with `KeyIsLocked`. */
  | ({ type: 'txnScan'; regionId: number; epoch: RegionEpoch; start: Uint8Array; end?: Uint8Array; limit: number; ts: bigint; bypassLocks?: bigint[] } & Timed)
  /** For an async-commit resolver: each secondary's state; one the prewrite never reached is rolled back now. */
  | ({ type: 'txnCheckSecondaryLocks'; regionId: number; epoch: RegionEpoch; keys: Uint8Array[]; startTs: bigint } & Timed)
  /** Takes pessimistic locks on `keys` at `forUpdateTs` (another transaction's lock is `KeyIsLocked`, see `waitTimeoutMs`). */
  | ({
      type: 'txnPessimisticLock';
      regionId: number;
      epoch: RegionEpoch;
      keys: Uint8Array[];
      primary: Uint8Array;
      startTs: bigint;
      forUpdateTs: bigint;
      lockTtlMs: number;
      /**
       * How long to wait for another transaction's lock to be released, ms (0: `KeyIsLocked` at
       * once); a wait that closes a deadlock answers `Deadlock`, one that times out `KeyIsLocked`.
       */
      waitTimeoutMs: number;
      /** Require every key to have no live value (`AlreadyExist`). */
      shouldNotExist?: boolean;
      /** Answer each key's newest value with its lock (`SELECT … FOR UPDATE`). */
      returnValues?: boolean;
      /** For an async-commit transaction, the locks' least commit ts. */
      minCommitTs?: bigint;
    } & Timed)
  /** Drops the transaction's pessimistic locks on `keys` taken at or below `forUpdateTs` (a failed statement). */
  | ({ type: 'txnPessimisticRollback'; regionId: number; epoch: RegionEpoch; keys: Uint8Array[]; startTs: bigint; forUpdateTs: bigint } & Timed)
  /**
   * Drops the versions no read at or above `safePoint` sees, from `startKey` (default: the
   * region's start) for at most `pagesMax` bounded pages; answers `nextKey` when more remains.
   */
  | ({ type: 'txnGc'; regionId: number; epoch: RegionEpoch; safePoint: bigint; startKey?: Uint8Array; pagesMax?: number } & Timed)
  /**
   * A stale read on any replica (leader, follower, learner), from its own state with no leader
   * and no quorum: `key` at `ts` (absent: the replica's resolved ts), every lock ignored. A `ts`
   * above the replica's resolved ts is `DataIsNotReady` (`handlers/stale-read.ts`).
   */
  | ({ type: 'txnStaleGet'; regionId: number; epoch: RegionEpoch; key: Uint8Array; ts?: bigint } & Timed)
  /** A stale scan of [start, end) ∩ region, up to `limit` pairs; as `txnStaleGet`. */
  | ({ type: 'txnStaleScan'; regionId: number; epoch: RegionEpoch; start: Uint8Array; end?: Uint8Array; limit: number; ts?: bigint } & Timed)
  /**
   * A change feed pull (TiKV CDC's incremental scan, `handlers/cdc.ts`), served by the
   * region's leader: the committed puts and deletes of [start, end) ∩ region with commitTs in
   * (fromTs, R] (R: the leader's resolved ts), ordered by commitTs then key, skipping those at
   * `cursor.commitTs` with keys ≤ `cursor.key`; at most `eventsMax` events and about
   * `bytesMax` bytes (at least one event). With nothing new it waits up to `waitMs` for R to
   * move past `fromTs` (long poll).
   */
  | ({
      type: 'txnCdcPull';
      regionId: number;
      epoch: RegionEpoch;
      start: Uint8Array;
      end?: Uint8Array;
      fromTs: bigint;
      cursor?: CdcCursor;
      eventsMax: number;
      bytesMax: number;
      waitMs: number;
    } & Timed)
  /**
   * The first half of a replica read (TiKV's follower read with its ReadIndex context), on the
   * leader: raises `maxTs` to `ts`, refuses a live in-memory lock in [start, end) at or below
   * `ts` (`KeyIsLocked`), confirms leadership (ReadIndex) and answers the applied index a
   * replica must reach to serve a read at `ts` (`handlers/replica-read.ts`).
   */
  | ({ type: 'txnReadIndex'; regionId: number; epoch: RegionEpoch; start: Uint8Array; end?: Uint8Array; ts: bigint } & Timed)
  /** The second half on any replica: waits until it applied `appliedIndex`, then reads `key` at `ts` from its own state, locks checked as on the leader. */
  | ({ type: 'txnReplicaGet'; regionId: number; epoch: RegionEpoch; key: Uint8Array; ts: bigint; appliedIndex: number; bypassLocks?: bigint[] } & Timed)
  /** As `txnReplicaGet`, a scan of [start, end) ∩ region, up to `limit` pairs. */
  | ({ type: 'txnReplicaScan'; regionId: number; epoch: RegionEpoch; start: Uint8Array; end?: Uint8Array; limit: number; ts: bigint; appliedIndex: number; bypassLocks?: bigint[] } & Timed)
  /** To the deadlock detector (`txn/types.ts`). */
  | TxnDetectDeadlockRequest;

/** A request to one store. */
export type StoreRequest = DataRequest | PdRequest;

/** The request types. */
export type StoreRequestType = StoreRequest['type'];

/** The request of type `K`. */
export type RequestOf<K extends StoreRequestType> = Extract<StoreRequest, { type: K }>;

/** The answer of each request type. */
export interface StoreResponses {
  write: Result<void>;
  get: Result<Uint8Array | undefined>;
  scan: Result<KvPair[]>;
  changePeers: Result<void>;
  split: Result<void>;
  transferLeader: Result<void>;
  campaign: Result<void>;
  status: Result<StoreStatus>;
  setDraining: Result<void>;
  rotateDataKey: Result<void>;
  pdStoreHeartbeat: Result<PdApplyResult>;
  pdRegionHeartbeat: Result<{ step?: OperatorStep }>;
  pdAllocId: Result<number>;
  pdPutStore: Result<PdApplyResult>;
  pdGetRegion: Result<PdRouteAnswer | undefined>;
  pdGetRegionById: Result<PdRouteAnswer | undefined>;
  pdGetStore: Result<StoreMeta | undefined>;
  pdGetTimestamps: Result<{ first: bigint; count: number }>;
  pdGetGcSafePoint: Result<bigint>;
  pdGetScheduleConfig: Result<ScheduleConfig>;
  pdRegisterGcService: Result<GcRegisterResult>;
  txnPrewrite: Result<TxnAnswer<TxnPrewriteResult>>;
  txnCommit: Result<TxnAnswer<TxnCommitResult>>;
  txnRollback: Result<TxnAnswer<void>>;
  txnCheckStatus: Result<TxnAnswer<TxnStatus>>;
  txnResolveLock: Result<TxnAnswer<void>>;
  txnHeartbeat: Result<TxnAnswer<TxnHeartbeatResult>>;
  txnGet: Result<TxnAnswer<TxnGetResult>>;
  txnScan: Result<TxnAnswer<TxnScanResult>>;
  txnCheckSecondaryLocks: Result<TxnAnswer<TxnSecondaryLocksResult>>;
  txnPessimisticLock: Result<TxnAnswer<TxnPessimisticLockResult>>;
  txnPessimisticRollback: Result<TxnAnswer<void>>;
  txnGc: Result<TxnAnswer<TxnGcResult>>;
  txnStaleGet: Result<TxnAnswer<TxnStaleReadResult>>;
  txnStaleScan: Result<TxnAnswer<TxnStaleReadResult>>;
  txnCdcPull: Result<TxnAnswer<TxnCdcResult>>;
  txnReadIndex: Result<TxnAnswer<TxnReadIndexResult>>;
  txnReplicaGet: Result<TxnAnswer<TxnGetResult>>;
  txnReplicaScan: Result<TxnAnswer<TxnScanResult>>;
  txnDetectDeadlock: Result<TxnAnswer<void>>;
}

/** The answer of a request of type `K`. */
export type ResponseOf<K extends StoreRequestType> = StoreResponses[K];

/** What a call carries besides the request (never on the wire). */
export interface HandleOptions {
  /** Ends the wait (not the proposal) with a `Timeout` region error. */
  signal?: AbortSignal;
  /** The clock PD commands are stamped with, ms (default: the store's clock). */
  now?: () => number;
}

/**
 * Anything that answers store requests: a `Store`, a `RemoteKvService`, the simulator's
 * lossy link. `handle` rejects only with `StoreRequestError` (bad input) or, for a local
 * store, `StoreClosedError`.
 */
export interface StoreService {
  handle<Q extends StoreRequest>(request: Q, o?: HandleOptions): Promise<ResponseOf<Q['type']>>;
}

/** Why `handle` refused a request outright. */
export type StoreRequestErrorKind =
  /** `type` names no request. */
  | 'UnknownType'
  /** A field is missing or of the wrong type or range. */
  | 'BadField'
  /**
   * The request reads or writes keys of the other data model (data-model.ts): a raw `write`,
   * `get` or `scan` sent to an `mvcc` store. (A txn request to a `raw` store answers
   * `TxnUnsupported` instead, as a txn error.) Over RPC: `BadRequest`.
   */
  | 'WrongDataModel';

/** A request `handle` cannot run (from a buggy caller, a remote or a tab). `kind` is closed. */
export class StoreRequestError extends Error {
  override readonly name = 'StoreRequestError';

  constructor(
    readonly kind: StoreRequestErrorKind,
    detail: string,
  ) {
    super(`${kind}: ${detail}`);
  }
}
