/**
 * The browser runtime's wire protocol (page ↔ host tab over BroadcastChannel, host page ↔ its
 * Worker over comlink): one routed request (`TabRequest`) and one reply shape (`Reply`). A
 * `TabRequest` names its table (`kind`) and carries a typed request of that table,
 * discriminated by `type` like the store's `StoreRequest`:
 *
 * - `kv`: a `ClientRequest`, what the host's `PeerKV` client serves (reads, writes, a
 *   transaction's reads and commit, timestamps, the routing of a tab's lock requests), each
 *   answered as `ClientResponses[type]`;
 * - `tab`: a `TabOnlyRequest`, what only a host tab has (its `status`, change feed watches);
 * - `hook`: a `HookRequest`, the test hooks (refused unless the host opened with `testHooks`).
 *
 * Each table has one field check per type (`request-check.ts`) and one handler per type
 * (`serve-request.ts` for `kv` and the watches, the runtime for `status` and hooks). Every
 * value is structured-cloneable (Uint8Array keys and values), which is the protocol's codec.
 */
import type { PeerKVErrorKind } from '../errors.ts';
import type { KvPair, RegionRoute } from '../services.ts';
import type { RegionRequestOutcome, TabTxnRequest } from '../txn/routing.ts';
import type { JoinProgress } from '@peerkv/pd';
import type { QuorumStatus, WriteTraceSummary, ReadConsistency, SnapshotProgress as StoreSnapshotProgress, SnapshotTransferStatus, StoreCounters, StoreStatus, TxnAnswer } from '@peerkv/store';
import type { WriteStamp } from './tab-writes.ts';
import type { WatchEvent } from '../txn/watch.ts';
import type { TraceSummary } from '../trace.ts';

/** Pairs a `scan` request may return in one array (a larger `limit` is clamped). */
export const SCAN_ARRAY_PAIRS_MAX = 10_000;

/**
 * A request the host's `PeerKV` client serves for a tab (table `kv`). A write's `stamp` (the
 * calling tab's id and write number, the same on every resend) makes it apply at most once
 * across host failovers.
 */
export type ClientRequest =
  | ({ type: 'get'; key: Uint8Array } & ReadFields)
  | ({ type: 'batchGet'; keys: Uint8Array[] } & ReadFields)
  | { type: 'put'; key: Uint8Array; value: Uint8Array; stamp?: WriteStamp }
  | { type: 'delete'; key: Uint8Array; stamp?: WriteStamp }
  | { type: 'batchPut'; pairs: KvPair[]; stamp?: WriteStamp }
  | { type: 'batchDelete'; keys: Uint8Array[]; stamp?: WriteStamp }
  | { type: 'deleteRange'; start: Uint8Array; end: Uint8Array; stamp?: WriteStamp }
  | ({ type: 'scan'; start?: Uint8Array; end?: Uint8Array; limit?: number; reverse?: boolean } & ReadFields)
  /** A fresh TSO timestamp from the host's client (batched with the host's other callers). */
  | { type: 'getTimestamp' }
  /** A transaction's read: `key` as of `ts` (a TSO timestamp; locks met are resolved by the host). */
  | { type: 'snapshotGet'; ts: bigint; key: Uint8Array }
  /** A transaction's scan: [start, end) as of `ts`, at most `limit` pairs (clamped to `SCAN_ARRAY_PAIRS_MAX`). */
  | { type: 'snapshotScan'; ts: bigint; start?: Uint8Array; end?: Uint8Array; limit?: number }
  /**
   * Commits a transaction whose function ran in the calling tab: its writes, read at `startTs`.
   * Idempotent per `startTs` (sent again to a new host, its prewrites find their own locks).
   */
  | { type: 'commitTxn'; startTs: bigint; mutations: TxnMutation[]; lockTtlMs?: number; onePc?: boolean; asyncCommit?: boolean; beganAgoMs?: number; forUpdateTs?: bigint }
  /**
   * A pessimistic transaction's request about locks from the calling tab (`TAB_TXN_REQUEST_TYPES`:
   * take or drop pessimistic locks, heartbeat the primary, and what resolving a lock met takes),
   * without its region: the host sends it to the leader of the region holding `locate` (checking
   * it still holds every one of `keys`), following region errors, and answers how that ended.
   * `request` is the store's own `StoreRequest` of that type, less its region and epoch.
   */
  | { type: 'txnRegionRequest'; locate: Uint8Array; keys?: Uint8Array[]; request: TabTxnRequest }
  /** The region holding `key` and its leader, as the host's client routes it. */
  | { type: 'txnRoute'; key: Uint8Array }
  /**
   * A scan from the host store's own replica at its resolved ts (mvcc), with no leader and no
   * quorum: `maxStaleness` ms old at most (`Infinity`, sent as absent: whatever it has), or at
   * `readTs`. The reply says the ts the data is as of.
   */
  | { type: 'staleScan'; start?: Uint8Array; end?: Uint8Array; limit?: number; maxStaleness?: number; readTs?: bigint }
  /**
   * `keys` read at one timestamp by the host's client as `PeerKV.staleSnapshot` reads them
   * (`readTs`, or `maxStaleness` ms old at most; one of the two). The reply says the ts the
   * values are as of (a tab's `snapshot({ maxStaleness })` reads on at it).
   */
  | { type: 'staleBatchGet'; keys: Uint8Array[]; maxStaleness?: number; readTs?: bigint }
  /**
   * Commits a transaction the calling tab queued while the quorum was away (`PeerKV.commitQueuedTxn`):
   * 2PC at `startTs`, its reads (`lock` mutations) and writes checked since `readTs`, each range
   * re-read at the commit ts and compared with its digest. `WriteConflict` names the keys.
   */
  | { type: 'commitQueuedTxn'; startTs: bigint; mutations: QueuedMutation[]; readTs: bigint; ranges: { start: Uint8Array; end: Uint8Array; digest: Uint8Array }[]; lockTtlMs?: number; beganAgoMs?: number }
  /** Decides a queued transaction's commit attempt whose answer never came, on its primary (`PeerKV.decideTxnAttempt`). */
  | { type: 'decideTxnAttempt'; startTs: bigint; primary: Uint8Array };

/**
 * How a `get`, `batchGet` or `scan` reads, as `PeerKV`'s `ReadOptions`: `consistency`, or a read
 * at a timestamp (mvcc): at `readTs`, or at most `maxStaleness` ms old (one of the two).
 */
export interface ReadFields {
  consistency?: ReadConsistency;
  /** mvcc: read at this TSO timestamp, from the nearest replica when its resolved ts covers it. */
  readTs?: bigint;
  /** mvcc: data at most this old is fine, ms: the nearest replica if its resolved ts is that fresh, else the leader (`Infinity`: whatever it has). */
  maxStaleness?: number;
}

/** The `ReadFields` of `o` that are given, and no other field (a request carries only these). */
export function readFieldsOf(o: ReadFields): ReadFields {
  return {
    ...(o.consistency !== undefined ? { consistency: o.consistency } : {}),
    ...(o.readTs !== undefined ? { readTs: o.readTs } : {}),
    ...(o.maxStaleness !== undefined ? { maxStaleness: o.maxStaleness } : {}),
  };
}

/** The client request types. */
export type ClientRequestType = ClientRequest['type'];

/** The client request of type `T`. */
export type ClientRequestOf<T extends ClientRequestType> = Extract<ClientRequest, { type: T }>;

/**
 * What only a host tab serves (table `tab`): the cluster's status as the host sees it, and a
 * change feed subscription held on the host for the calling tab (`host-watches.ts`).
 */
export type TabOnlyRequest =
  | { type: 'status' }
  /**
   * Starts a change feed of [start, end) (an absent end: unbounded) on the host (`kv.watch`,
   * `host-watches.ts`): changes with commitTs above `fromTs` (a fresh ts when absent), at most
   * `bufferEventsMax` items waiting for the tab. Answers its id and start ts.
   */
  | { type: 'watchOpen'; start: Uint8Array; end?: Uint8Array; fromTs?: bigint; bufferEventsMax?: number }
  /** The next items of a watch: up to `eventsMax`, waiting up to `waitMs` for the first. `WatchGone`: the host does not run it. */
  | { type: 'watchNext'; watchId: string; eventsMax?: number; waitMs?: number }
  /** Stops a watch (an unknown id is no error). */
  | { type: 'watchClose'; watchId: string }
  /** Turns the host's trace on (recording afresh) or off (`host-trace.ts`); answers what it recorded until then. */
  | { type: 'trace'; on: boolean };

/** One key of a queued transaction's commit: a write, or a key it read (`lock`). */
export type QueuedMutation = TxnMutation | { op: 'lock'; key: Uint8Array };

/**
 * One mutation of a transaction sent for commit: a write, or (pessimistic) a key locked and not
 * written. `pessimistic`: the key holds the transaction's pessimistic lock (needs `forUpdateTs`).
 */
export type TxnMutation = ({ op: 'put'; key: Uint8Array; value: Uint8Array } | { op: 'delete'; key: Uint8Array } | { op: 'lock'; key: Uint8Array }) & { pessimistic?: boolean };

export { TAB_TXN_REQUEST_TYPES, type TabTxnRequest } from '../txn/routing.ts';

/**
 * Test hooks (table `hook`): refused with `HooksDisabled` unless the host opened with
 * `testHooks: true`. In the networked runtime `stopStore`/`startStore` name the host's own
 * store, `partitionStore(own id)` cuts it off from every member and `partitionStore(other)`
 * from that one; `partition` cuts it off from a set of stores; `slowDisk` delays its engine
 * writes.
 */
export type HookRequest =
  | { type: 'stopStore'; storeId: number }
  | { type: 'startStore'; storeId: number }
  | { type: 'partitionStore'; storeId: number }
  | { type: 'partition'; storeIds: number[] }
  | { type: 'heal' }
  | { type: 'slowDisk'; delayMs: number }
  | { type: 'splitRegion'; splitKey: Uint8Array };

/** One request on the tab protocol: the table it belongs to and a typed request of that table. */
export type TabRequest = { kind: 'kv'; request: ClientRequest } | { kind: 'tab'; request: TabOnlyRequest } | { kind: 'hook'; request: HookRequest };

/** The tables of the tab protocol. */
export type TabRequestKind = TabRequest['kind'];

/** `request` on the tab protocol (table `kv`). */
export function kvRequest(request: ClientRequest): TabRequest {
  return { kind: 'kv', request };
}

/** `request` on the tab protocol (table `tab`). */
export function tabRequest(request: TabOnlyRequest): TabRequest {
  return { kind: 'tab', request };
}

/** `request` on the tab protocol (table `hook`). */
export function hookRequest(request: HookRequest): TabRequest {
  return { kind: 'hook', request };
}

/** The value of a successful reply to each client request type (`Reply.value`): reads their values, writes nothing. */
export interface ClientResponses {
  get: Uint8Array | undefined;
  batchGet: (Uint8Array | undefined)[];
  put: void;
  delete: void;
  batchPut: void;
  batchDelete: void;
  deleteRange: void;
  scan: KvPair[];
  /** A bigint (structured-cloneable), strictly above every timestamp the host's client handed out before. */
  getTimestamp: bigint;
  snapshotGet: Uint8Array | undefined;
  snapshotScan: KvPair[];
  commitTxn: { commitTs: bigint; onePc: boolean };
  /** How the host's retry loop ended: the store's answer, or why not (see `RegionRequestOutcome`). */
  txnRegionRequest: RegionRequestOutcome<TxnAnswer<unknown>>;
  txnRoute: RegionRoute;
  staleScan: { ts: bigint | undefined; pairs: KvPair[] };
  staleBatchGet: { ts: bigint | undefined; values: (Uint8Array | undefined)[] };
  commitQueuedTxn: { commitTs: bigint };
  decideTxnAttempt: { committed?: bigint };
}

/** The value of a successful reply to each tab-only request type: `status` the cluster as the host sees it (`BrowserStatus` once the host tab added its view). */
export interface TabOnlyResponses {
  status: ClusterStatus;
  watchOpen: { watchId: string; fromTs: bigint };
  watchNext: WatchBatch;
  watchClose: void;
  trace: TraceView;
}

/** The value of a successful reply to a hook: nothing, or what it did (`splitRegion`, `partition*`). */
export type HookResponses = { readonly [T in HookRequest['type']]: unknown };

/** The value of a successful reply to a client request of type `T`. */
export type ClientResponseOf<T extends ClientRequestType> = ClientResponses[T];

/** The value of a successful reply to a tab-only request of type `T`. */
export type TabOnlyResponseOf<T extends TabOnlyRequest['type']> = TabOnlyResponses[T];

/**
 * Sends a client request to the host and resolves with its answer, or rejects with a
 * `BrowserKvError`: the tab side's `handle`, one level above the store's `StoreService.handle`.
 */
export type ClientCall = <Q extends ClientRequest>(request: Q) => Promise<ClientResponseOf<Q['type']>>;

/** As `ClientCall`, for the tab-only requests. */
export type TabOnlyCall = <Q extends TabOnlyRequest>(request: Q) => Promise<TabOnlyResponseOf<Q['type']>>;

/** A client request that changes data. */
export type WriteRequest = ClientRequestOf<'put' | 'delete' | 'batchPut' | 'batchDelete' | 'deleteRange'>;

/** The client request types that change data (their success is announced to every tab). */
export const WRITE_TYPES: ReadonlySet<ClientRequestType> = new Set(['put', 'delete', 'batchPut', 'batchDelete', 'deleteRange']);

/**
 * The client request types whose success changes data: the writes, and a transaction's commit
 * (each announced to every tab; one sent and never answered is `Undetermined`).
 */
export const CHANGE_TYPES: ReadonlySet<ClientRequestType> = new Set([...WRITE_TYPES, 'commitTxn', 'commitQueuedTxn']);

/** Narrows a client request to a write. */
export function isWrite(req: ClientRequest): req is WriteRequest {
  return WRITE_TYPES.has(req.type);
}

/** The client request a tab request carries when it is one that changes data. */
export function changeOf(req: TabRequest): ClientRequest | undefined {
  return req.kind === 'kv' && CHANGE_TYPES.has(req.request.type) ? req.request : undefined;
}

/** Why a browser call failed. */
export type BrowserErrorKind =
  | PeerKVErrorKind
  /** A test hook was called on a host opened without `testHooks`. */
  | 'HooksDisabled'
  /** A hook's argument names no such store or no key, or the store is already in that state. */
  | 'InvalidHook'
  /** A region error ended a hook (split refused, no leader for the region). */
  | 'RegionError'
  /** No host answered within `requestDeadlineMs`. */
  | 'Timeout'
  /**
   * The request ran out of retries while the host's store reaches no quorum (too few voters of
   * a region, or of PD, are up): see `status().quorum`; it works again once they are back.
   */
  | 'NoQuorum'
  /**
   * The host does not run the watch a tab asked about (the host changed, or the watch idled
   * out); the tab's watch opens it again from its last watermark by itself.
   */
  | 'WatchGone'
  /**
   * The host's store will not open: its database keeps another invite's anchors
   * (`PeerKeyAnchorConflictError`, met by a background open; no attempt follows). Open it with
   * the invite it was first opened with, or none.
   */
  | 'AnchorConflict'
  /** The runtime itself failed (Worker crashed, storage could not open). */
  | 'Internal';

/** What `watchNext` answers: items in order; `done` once the watch ended (after `error`, if it failed). */
export interface WatchBatch {
  events: WatchEvent[];
  done: boolean;
  error?: WireError;
}

/** An error as it crosses the wire. */
export interface WireError {
  kind: BrowserErrorKind;
  message: string;
  /** The keys a `WriteConflict` names (a queued transaction's commit). */
  keys?: Uint8Array[];
}

/** The answer to one request. */
export type Reply = { ok: true; value: unknown } | { ok: false; error: WireError };

/** A browser call that failed, with a typed `kind`. */
export class BrowserKvError extends Error {
  override readonly name = 'BrowserKvError';
  constructor(
    readonly kind: BrowserErrorKind,
    message: string,
    /** The keys a `WriteConflict` or `QueuedTxnConflict` is about. */
    readonly keys?: Uint8Array[],
  ) {
    super(message);
  }
}

/** One region as a store sees it (the store's own status shape). */
export type RegionView = StoreStatus['regions'][number];

/** One store of the embedded cluster. */
export interface StoreView {
  storeId: number;
  /** IndexedDB database name (empty for another browser's or device's store). */
  database: string;
  /** This host's own store (networked runtime). */
  local?: boolean;
  /** The own store reports draining to PD (its host is leaving or long hidden). */
  draining?: boolean;
  up: boolean;
  partitioned: boolean;
  counters?: StoreCounters;
  stoppedReason?: string;
  regions: RegionView[];
  /**
   * Transaction locks in this store's `lock` column family (its replicas of every region),
   * counted up to `TXN_LOCKS_COUNTED_MAX` (the host's own store in the mvcc data model).
   */
  txnLocks?: number;
  /**
   * A store catching up by snapshot (a store joining, or a replica far behind): present while
   * it receives or applies one (see `snapshotProgress`). Stores this Worker runs, and in the
   * networked runtime the other stores too (their `StoreStatus.snapshotProgress` over RPC).
   */
  catchUp?: SnapshotProgress;
}

/**
 * A store's snapshot catch-up in progress: transfers being received now, the snapshot bytes
 * received since it started, and the regions applying a received snapshot with the staged
 * chunks applied of all (the receiving half of the store's `StoreStatus.snapshotProgress`).
 */
export type SnapshotProgress = Pick<StoreSnapshotProgress, 'receiving' | 'bytesReceived' | 'applying'>;

/**
 * The catch-up a store's snapshot counters show (`StoreStatus.snapshotTransfer`): undefined
 * when nothing is being received or applied.
 */
export function snapshotProgress(t: SnapshotTransferStatus | undefined): SnapshotProgress | undefined {
  if (!t || (t.receiving === 0 && t.applying.length === 0)) return undefined;
  return {
    receiving: t.receiving,
    bytesReceived: t.bytesReceived,
    applying: t.applying.map(({ regionId, chunksApplied, chunks, failed }) => ({ regionId, chunksApplied, chunks, ...(failed !== undefined ? { failed } : {}) })),
  };
}

/** Locks a host counts for `StoreView.txnLocks` at most. */
export const TXN_LOCKS_COUNTED_MAX = 1000;

/** What PD knows of stores and regions (as one PD replica has applied it). */
export interface PdView {
  stores: {
    storeId: number;
    address: string;
    labels: Record<string, string>;
    state: string;
    capacityBytes?: number;
    usedBytes?: number;
    draining?: boolean;
    /**
     * Its join progress as this PD replica's region records show it (`@peerkv/pd`'s
     * `joinProgress`: k of n regions placed, m caught up; `joined` once m = n), with the
     * snapshot bytes it received since it started (the host's own store, and the stores that
     * answered their status over RPC).
     */
    join?: JoinView;
  }[];
  regions: { regionId: number; leaderStoreId?: number; approximateSizeBytes: number; approximateKeys: number }[];
}

/** See `PdView`'s `join`. */
export type JoinView = JoinProgress & { bytesReceived?: number };

/** The cluster as the Worker sees it. */
export interface ClusterStatus {
  cluster: string;
  /** Which runtime serves: `net` (one store per profile, the default) or `embedded` (N stores in one Worker). */
  mode?: 'net' | 'embedded';
  /**
   * `bootstrapped`: this open created the cluster; `joined`: this empty store joined a running
   * cluster; `reopened`: the store(s) reloaded from IndexedDB; `opening`: the store failed to
   * open and is being opened again (see `openRetry`); `refused`: a background open met an
   * anchor conflict and nothing opens it again (requests fail `AnchorConflict`).
   */
  opened: 'bootstrapped' | 'joined' | 'reopened' | 'opening' | 'refused';
  /**
   * The host's store failed to open and is opened again in the background, backing off
   * (networked runtime); absent once it is open.
   */
  openRetry?: { attempts: number; lastError: string; nextAttemptInMs: number };
  /** Background opens refused for an anchor conflict (networked runtime; absent when none). */
  openRefused?: number;
  /**
   * Whether the host's store reaches a quorum: PD answers and every region on it has a leader
   * on a reachable store (networked runtime, while the store runs). `waiting` comes with the
   * failed checks in a row and the last reason; the store keeps checking with backoff.
   */
  quorum?: QuorumStatus;
  /** The host's own store (networked runtime). */
  localStoreId?: number;
  /** Member stores the host's store is connected to (networked runtime). */
  members?: number[];
  /**
   * The anchors an invite written from this host carries (`encodeInvite`'s `anchors`, at most
   * `INVITE_ANCHORS_MAX`): PD's voters and their keys as the host's PD replica records them,
   * else the anchors its store was opened with; absent when it knows neither (networked runtime).
   */
  inviteAnchors?: { storeId: number; publicKey: Uint8Array }[];
  /** What the host's store's key book did (`PeerKeyCounters`: refusals, `anchorRefused`, ...; networked runtime, while the store runs). */
  peerKeys?: Record<string, number>;
  /** The store hosting the PD leader, as the host's PD replica last heard. */
  pdLeaderStoreId?: number;
  /** PD operators running, when the host's store leads PD. */
  operators?: { regionId: number; kind: string; desc: string }[];
  /** The `slowDisk` hook's current delay, ms. */
  slowDiskMs?: number;
  /** PD's view, from the host store's PD replica when it holds one (networked runtime). */
  pd?: PdView;
  /** A fresh timestamp from PD's TSO (decimal; `physical << 18 | logical`), when PD answered in time. */
  tso?: string;
  /**
   * Time from open to the store(s) serving, ms: opened from IndexedDB (a networked restart
   * waits for no leader), created, or joined.
   */
  openMs: number;
  testHooks: boolean;
  stores: StoreView[];
  /** Requests served since this Worker started. */
  requests: { reads: number; writes: number; failed: number };
  /** The latency trace (`host-trace.ts`): the host's spans while tracing is on, and its stores' led writes. */
  trace?: TraceView;
}

/** Where a host's requests spent their time, span by span (`host-trace.ts`). */
export interface TraceView {
  /** Spans are being recorded (the `trace` request turned it on). */
  on: boolean;
  /** The host's spans (`host:<type>`) and its client's (`tso`, `route`, `send:<type>`); absent while off. */
  host?: TraceSummary;
  /** The writes this host's store led (of several stores, the one that led the most), span by span (`StoreStatus.writeTrace`). */
  store?: { storeId: number; summary: WriteTraceSummary };
}

/**
 * Whether the browser keeps the profile's storage under pressure: `navigator.storage.persist()`'s
 * answer, `unsupported` without that API, `pending` while the browser has not answered.
 */
export type Persistence = boolean | 'unsupported' | 'pending';

/** `status()`: the cluster plus the host tab's view of the profile. */
export interface BrowserStatus extends ClusterStatus {
  /** The tab hosting the Worker. */
  hostTabId: string;
  /** True when the calling tab is the host. */
  isHost: boolean;
  /** The host is leaving (pagehide); requests go to the next host. */
  draining: boolean;
  /** `navigator.storage.persist()`'s answer, `unsupported`, or `pending` until it answers (Firefox asks the user first). */
  persisted: Persistence;
  /** `navigator.storage.estimate()`, bytes. */
  storage?: { usageBytes: number; quotaBytes: number };
  /** Host elections this tab has seen (failovers + 1). */
  hostChanges: number;
  /** From the host's lock grant to serving (Worker start, stores reopened, leader elected), ms. */
  takeoverMs: number;
}

/** Wraps an unknown thrown value as a `WireError`. */
export function toWireError(e: unknown): WireError {
  if (e instanceof Error && 'kind' in e && typeof (e as { kind: unknown }).kind === 'string') {
    const keys = (e as { keys?: unknown }).keys;
    return { kind: (e as { kind: BrowserErrorKind }).kind, message: e.message, ...(Array.isArray(keys) ? { keys: keys as Uint8Array[] } : {}) };
  }
  return { kind: 'Internal', message: e instanceof Error ? e.message : String(e) };
}
