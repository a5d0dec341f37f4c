/**
 * What a store is configured with and what it reports: its options and every named limit,
 * the transport and timer seams, its status and counters, its identity and the errors it
 * throws. No behaviour lives here.
 */
import type { GcConfig, OperatorEvent, Peer, RegionEpoch, SchedulerOptions } from '@peerkv/pd';
import type { KeyError } from '@peerkv/proto';
import type { Config as RaftConfig } from '@peerkv/raft';
import type { Durability, KvEngine } from '@peerkv/storage';
import { systemClock, type Clock, type RegionMessage } from '@peerkv/transport';
import type { ApplyObserver } from './apply.ts';
import type { DataModel } from './keys.ts';
import type { StoreTestMutations } from './mutations.ts';
import type { EntryCipher, EntryKeyring } from './sealing.ts';

/**
 * The MAC the proofs are made with: HMAC-SHA-256 under the data-proof key. WebCrypto's by
 * default (`dataProofMacOf` of a `CryptoKey`); the simulator passes a synchronous one
 * (`node:crypto`'s HMAC), since WebCrypto completes on a thread pool outside its virtual
 * scheduler and a seed would not replay.
 */
export interface DataProofMac {
  sign(data: Uint8Array<ArrayBuffer>): Promise<Uint8Array>;
  verify(mac: Uint8Array, data: Uint8Array<ArrayBuffer>): Promise<boolean>;
}

import type { WriteTraceSummary } from './write-trace.ts';
import type { PdClient } from './pd-client.ts';
import { PD_REGION_ID } from './pd-host.ts';


/**
 * Ids a new cluster starts with (PD, stores, regions and peers share one id space, so they
 * are distinct); PD allocates every later id above them.
 */
export const BOOTSTRAP_IDS = { pdRegion: PD_REGION_ID, store: 2, dataRegion: 3, pdPeer: 4, dataPeer: 5 } as const;

/** Heartbeat intervals a replica goes without a leader (or without a message) before it asks PD whether it was removed. */
export const STALE_CHECK_HEARTBEATS = 3;
/** Default of `StoreOptions.hibernatingHeartbeatIntervalTicks`. */
export const HIBERNATING_HEARTBEAT_INTERVAL_TICKS = 600;
/** A hibernating replica (silent by design) asks this many times less often. */
export const STALE_CHECK_HIBERNATING_FACTOR = 10;

/** Keys counted per region for heartbeats and split-key choice. */
export const REGION_KEYS_COUNT_MAX = 200_000;

/** PD heartbeats a written region's size and key count are reused for before they are counted again (unwritten: until it is). */
export const REGION_SIZE_RECOUNT_HEARTBEATS = 4;

/** Vote requests kept for regions a pending split will create here (see `Store.pendingVotes`). */
export const PENDING_VOTES_MAX = 256;

/**
 * Replicas created on demand (an uninitialized replica made for a leader message of a region
 * the store does not host) that may wait for their first snapshot at once, per store. More
 * are refused (counted `refused.pendingReplicasFull`): a flood of messages for made-up region
 * ids creates at most this many replicas and region logs. The leader of a real one sends again.
 */
export const PENDING_REPLICAS_MAX = 128;
/** Of `PENDING_REPLICAS_MAX`, those one sending store may have made, replicas (`refused.pendingReplicasPerSenderFull`). */
export const PENDING_REPLICAS_PER_SENDER_MAX = 32;
/**
 * Store heartbeats a replica made on demand may go without a message from its group, still
 * uninitialized, before the store asks PD about it: if PD lists no such peer in the region and
 * the replica never voted, it is dropped (`refused.pendingReplicasReclaimed`), so forged
 * replicas do not hold the caps above for ever.
 */
export const PENDING_REPLICA_SILENT_HEARTBEATS = 10;

/** Attempts of an id or timestamp request (each may wait for one Raft round). */
export const PD_ALLOC_ATTEMPTS_MAX = 50;

/** The first log index of every region: a fresh peer always starts from a snapshot (TiKV's RAFT_INIT_LOG_INDEX). */
export const RAFT_INIT_INDEX = 5;
export const RAFT_INIT_TERM = 5;

/** Where the store sends Raft messages (the transport adapter). */
export interface StoreTransport {
  send(toStoreId: number, messages: RegionMessage[]): void;
}

/** The store's timers: PeerKV's one `Clock` (a simulator passes its virtual one). */
export type Timers = Clock;

/** The platform's wall clock and timers (`systemClock`). */
export const REAL_TIMERS: Timers = systemClock;

/** Store settings; every limit is named with its unit. */
/** Default of `StoreOptions.safeTsIntervalMs`, ms. */
export const SAFE_TS_INTERVAL_MS_DEFAULT = 1000;

/** A lock as a reader meets it (`KeyIsLocked`). */
export type LockMet = Extract<KeyError, { kind: 'KeyIsLocked' }>;

/**
 * Resolves locks for the GC worker that it cannot resolve itself: a client's lock resolver
 * (`PeerKV.gcLockResolver()`), which asks each transaction's primary and commits or rolls
 * back the locks as it decided. A lock still alive is left alone.
 */
export interface GcLockResolver {
  resolveLocks(locks: LockMet[]): Promise<void>;
}

export interface StoreOptions {
  storeId: number;
  clusterId: string;
  /** Opened with the column families `storeColumnFamilies(dataColumnFamilies)` (`dataColumnFamiliesOf(dataModel)` by default: `storeColumnFamilies(MVCC_DATA_CFS)` for the default `mvcc`, `STORE_CFS` for `raw`). */
  engine: KvEngine;
  /**
   * The column families holding region data (default: those of `dataModel`, `dataColumnFamiliesOf`:
   * `default`, `lock` and `write` for `mvcc`, `['default']` for `raw`). Commands name theirs; split, snapshots, destroy, size heartbeats and digests
   * carry every one. Fixed for the life of a cluster: every store declares the same list.
   */
  dataColumnFamilies?: readonly string[];
  /**
   * What the data column families hold (data-model.ts): `mvcc` encoded keys (default,
   * `DATA_MODEL_DEFAULT`; the txn requests; needs `default`, `lock` and `write`) or `raw` user
   * keys (the `write`, `get` and `scan` requests; the benchmark baseline). Recorded in the engine at first open: reopening with the other model
   * is a `StoreConfigError`. Fixed for the life of a cluster: every store declares the same.
   */
  dataModel?: DataModel;
  /**
   * See every command a data region applies on this store, with its writes, their column
   * families and its index, once durable (the change feed hooks in here; `Store.observeApply`
   * adds one later).
   */
  applyObservers?: readonly ApplyObserver[];
  transport: StoreTransport;
  /** Wall-clock ms between ticks. */
  tickIntervalMs?: number;
  /** Raft settings for every peer (ticks are store ticks). */
  raft?: Partial<Pick<RaftConfig, 'electionTicks' | 'heartbeatTicks' | 'maxSizePerMsgBytes' | 'maxInflightMsgs' | 'maxUncommittedEntriesBytes' | 'preVote' | 'checkQuorum' | 'readOnly'>>;
  /**
   * Durability of every Raft write. `strict` (default) keeps votes and acks safe across power
   * loss; `relaxed` is faster but a power cut may lose acknowledged writes.
   */
  durability?: Durability;
  timers?: Timers;
  /** Seeds the peers' election-timeout randomness. */
  seed?: number;
  /** Compact a region's log once it holds more entries than this. */
  logGcThresholdEntries?: number;
  /** Entries kept behind the applied index when compacting (lagging followers catch up from them). */
  logGcKeepEntries?: number;
  /**
   * A leader keeps the log entries a follower still needs while it lags by at most this
   * many entries (it catches up from the log); a follower further behind gets a snapshot.
   * Default: four times `logGcThresholdEntries`.
   */
  logGcLagEntriesMax?: number;
  /** Ticks without new entries after which a caught-up region stops ticking. */
  hibernateAfterTicks?: number;
  /** Default per-request timeout, ms. */
  requestTimeoutMs?: number;
  /** Requests waiting in one region before new ones get `ServerIsBusy`. */
  pendingRequestsPerRegionMax?: number;
  /** Replicas created on demand that may wait for their first snapshot at once (default `PENDING_REPLICAS_MAX`). */
  pendingReplicasMax?: number;
  /** Of those, the ones one sending store may have made (default `PENDING_REPLICAS_PER_SENDER_MAX`). */
  pendingReplicasPerSenderMax?: number;
  /** Wall clock for PD (TSO, heartbeat times); `Date.now` by default. */
  now?: () => number;
  /** Reaches the PD leader for heartbeats and ids; without it the store runs unscheduled. */
  pdClient?: PdClient;
  /** Ticks between heartbeats to PD. */
  heartbeatIntervalTicks?: number;
  /**
   * Ticks between two heartbeats of a hibernating region this store leads, while nothing about
   * it changed (default `HIBERNATING_HEARTBEAT_INTERVAL_TICKS`: 60 s at 100 ms ticks, TiKV's
   * region heartbeat interval); an awake region heartbeats at every store heartbeat. PD answers
   * an operator's first step with a heartbeat, so this also bounds how long an operator for an
   * idle region waits to start (its later steps wake the region). Regions take turns by id, so
   * the heartbeats of many idle regions spread over the interval.
   */
  hibernatingHeartbeatIntervalTicks?: number;
  /**
   * How often the leader of an mvcc region advances its resolved ts (stale reads at or below
   * it are served by any replica), ms; 0 turns it off. Default `SAFE_TS_INTERVAL_MS_DEFAULT`.
   */
  safeTsIntervalMs?: number;
  /** How peers reach this store (reported to PD). */
  address?: string;
  /** Placement labels (e.g. `device`, `browser`). */
  labels?: Record<string, string>;
  /**
   * This store is a witness store (TiKV's witness): every replica it hosts votes and keeps the
   * Raft log but applies no user data, never leads and serves no read (`WitnessRegionMachine`).
   * It registers with the label `witness=true`, so PD places only witness peers on it (at most
   * one per region, beside two full replicas). It never bootstraps a cluster. Default false.
   */
  witness?: boolean;
  /**
   * Seals the payload of each write and txn entry this store proposes and opens those it
   * applies (`sealing.ts`): `webCryptoEntryCipher(deriveMemberKeys(...).dataKey)`. Every full
   * store of a cluster that seals needs it (a sealed entry stops a replica without it); a
   * witness store must not have it (`StoreConfigError`). Default: none, entries are plain.
   * A keyring (`DataKeyring`) holds several data keys by key id: it seals with the current one
   * and opens an entry under whichever its header names (a rotation: `Store.rotateDataKey`).
   */
  entryCipher?: EntryCipher | EntryKeyring;
  /**
   * Serve the requests that read or write user data (`needsDataKey`) only to callers that
   * proved on their link that they hold the data key (`rpc/data-key-proof.ts`):
   * `deriveMemberKeys(...).dataProofKey`. Without it a witness credential's holder, whose link
   * proves only the membership key, is served data like any member. Callers prove through
   * `withDataKeyProof`. A witness store must not have it (`StoreConfigError`). A `DataProofMac`
   * is the same HMAC by other means (the simulator's synchronous one). Default: none.
   */
  dataProofKey?: CryptoKey | DataProofMac;
  /** Storage capacity reported to PD, bytes (a browser passes its storage estimate). */
  capacityBytes?: number;
  /** Snapshot transfer limits (chunk size, flow control, receive bounds); defaults in snapshot.ts. */
  snapshotTransfer?: Partial<SnapshotTransferLimits>;
  /** The GC safe point's knobs on this store's PD replica when it leads (`GcConfig`: life time, registration TTLs); PD's defaults when absent. */
  pdGc?: Partial<GcConfig>;
  /**
   * Told the operators PD's scheduler finished (with their outcome: success, timeout, stale,
   * cancelled) while this store's PD replica leads, after each scheduling round (the simulator
   * counts repairs with it). Not told when absent.
   */
  pdOperatorObserver?: (events: readonly OperatorEvent[]) => void;
  /**
   * The scheduler's knobs on this store's PD replica when it leads (`SchedulerOptions`: balance
   * batches, the checkers' patrol and dirty set); PD's defaults when absent. The simulator
   * shrinks the patrol so the dirty set carries its repairs.
   */
  pdScheduler?: Partial<SchedulerOptions>;
  /** Time between two rounds of this store's GC worker, ms (`GC_WORKER_INTERVAL_MS` when absent). */
  gcIntervalMs?: number;
  /**
   * Resolves the expired locks the GC worker cannot resolve with its own handlers (a primary on
   * another store, async commit): a client's lock resolver (`PeerKV.gcLockResolver()`). Without
   * one those locks hold GC back until a reader resolves them (`gc-worker.ts`).
   */
  gcLockResolver?: GcLockResolver;
  /**
   * Checks before each round that no replica outside the round's work set has a Ready (a missed
   * wakeup: a replica with work that no round would visit); one found stops the store with an
   * assertion. It walks every replica each round, the cost the work set saves: for tests and
   * the simulator. Default false.
   */
  verifyWorkSet?: boolean;
  /** The clock of the write-latency trace (`status().writeTrace`); monotonic (`performance.now`) by default. */
  traceClock?: Clock;
  /** Test-only deliberate bugs (the simulator's mutation suite); never set outside tests. */
  unsafeTestMutations?: StoreTestMutations;
}

/** Limits of snapshot transfers (defaults: `SNAPSHOT_CHUNK_BYTES_MAX` and its neighbours in snapshot.ts). */
export interface SnapshotTransferLimits {
  /** Stream bytes per chunk. */
  chunkBytesMax: number;
  /** Chunks sent and not yet acknowledged, per transfer (flow control). */
  chunksInflightMax: number;
  /** Largest snapshot stream received, bytes (larger ones are refused before any chunk is sent). */
  snapshotBytesMax: number;
  /** Snapshots received at once. */
  receivingMax: number;
  /** Snapshots sent at once. */
  sendingMax: number;
  /** A receive with no chunk for this long is dropped, ms. */
  receiveTimeoutMs: number;
  /** Unacknowledged chunks (or the header) are sent again after this long, ms. */
  resendMs: number;
  /** Resends without progress before the sender reports the transfer failed. */
  resendsMax: number;
  /**
   * A replica whose accepted snapshot was lost before it was applied asks its leader for a new
   * one this often, ms (not while a snapshot of the region is arriving).
   */
  requestIntervalMs: number;
  /**
   * Such requests before the replica also reports itself damaged to PD, which replaces it
   * where the quorum allows; it keeps asking every `requestIntervalMs` meanwhile (PD cannot
   * replace a replica every quorum left needs). 0: report at once and never ask the leader
   * (PD's replacement only: a replica the quorum needs then stays lost).
   */
  requestsMax: number;
  /** Bytes of one incoming transfer held in memory until staged on disk (at least one chunk is always taken). */
  stagingBufferBytesMax: number;
  /** Staged stream bytes one write of a pending apply covers (whole chunks, at least one). */
  applyBatchBytesMax: number;
}

/** Snapshot transfers of one store: monotonic counters, and the transfers in flight now. */
export interface SnapshotTransferStatus {
  sendsStarted: number;
  sendsSucceeded: number;
  sendsFailed: number;
  chunksSent: number;
  /** Chunks sent again (lost, or not acknowledged in time). */
  chunksResent: number;
  bytesSent: number;
  receivesStarted: number;
  /** Transfers whose every chunk arrived and matched the header (then stepped into Raft). */
  receivesCompleted: number;
  receivesFailed: number;
  chunksReceived: number;
  /** Chunks that arrived again or ahead of a missing one (dropped; acknowledged with what is held). */
  chunksIgnored: number;
  bytesReceived: number;
  /** Transfers refused or dropped by this store, by reason. */
  refused: Record<string, number>;
  /** Snapshot frames or headers that did not decode (dropped). */
  undecodable: number;
  sending: number;
  receiving: number;
  /** Chunks written to the staging area (each before it is acknowledged). */
  chunksStaged: number;
  /** Pending applies started (a snapshot Raft accepted, its Raft state and `applying` persisted). */
  appliesStarted: number;
  /** Pending applies resumed at open (the store stopped in the middle of one). */
  appliesResumed: number;
  /** Pending applies finished (the region is `normal` again, its staged chunks dropped). */
  appliesCompleted: number;
  /** Pending applies that could not finish (staged stream gone or corrupt): the region stays unserved. */
  appliesFailed: number;
  /** Engine writes of staged data into the data column families. */
  applyWrites: number;
  /** Regions applying now, with their progress (staged chunks applied of all). */
  applying: { regionId: number; index: number; chunksApplied: number; chunks: number; failed?: string }[];
  /** Requests for a new snapshot this store's damaged replicas sent to their leaders (absent: none). */
  requestsSent?: number;
  /** Such requests this store's leaders answered by sending a snapshot (absent: none). */
  requestsServed?: number;
  /** Damaged replicas whose requested snapshot arrived (its apply then started; absent: none). */
  requestsAnswered?: number;
}

/** Regions applying a snapshot that one `SnapshotProgress` lists at most. */
export const SNAPSHOT_PROGRESS_REGIONS_MAX = 64;

/** See `StoreStatus.snapshotProgress`. */
export interface SnapshotProgress {
  sending: number;
  receiving: number;
  bytesSent: number;
  bytesReceived: number;
  applying: { regionId: number; chunksApplied: number; chunks: number; failed?: string }[];
}

/** One region replica's state for the cross-replica consistency check. */
export interface RegionDigest {
  regionId: number;
  peerId: number;
  applied: number;
  epoch: RegionEpoch;
  /** 64-bit hash (hex) of the region's data pairs and dedup records, as of `applied`. */
  hash: string;
  /** Data pairs hashed. */
  keys: number;
  /** The region's data-key switch as of `applied` (`data-key-switch.ts`; key id 0 at index 0 before any). */
  dataKeySwitch: { keyId: number; index: number };
}

/**
 * Where `Store.open` spent its time, ms on the trace clock (`StoreOptions.traceClock`), phase by
 * phase: what `bench:open` prints with `BENCH_OPEN_TRACE=1` (issue 16: an existing store opens
 * in ≤ 200 ms, asking no other store).
 */
export interface OpenTrace {
  /** The engine's identity and data model checked (and recorded, on a new engine). */
  identityMs: number;
  /** The boot counter bumped: one strict write. */
  bootMs: number;
  /** Every hosted region's log, dedup records and resolved ts read (`loadRegions`). */
  regionsMs: number;
  /** Interrupted snapshot applies resumed, the sole-voter elections started, ticking started. */
  resumeMs: number;
  totalMs: number;
  /** Replicas loaded. */
  regions: number;
  /** Replicas that were their region's only voter and campaigned at once (`campaignSoleVoters`). */
  elected: number;
}

/** What a witness store's data replicas saw (`StoreStatus.witnessEntries`). */
export interface WitnessEntryCounts {
  sealed: number;
  plain: number;
}

export interface StoreStatus {
  storeId: number;
  /** Why the store stopped, if it did (a failed write or a broken invariant). */
  stoppedReason?: string;
  /**
   * A witness store's data entries since it started: `sealed` payloads it kept without reading,
   * and `plain` write or txn commands it could read (entries proposed by a store without a data
   * key, or before sealing: sealing.ts). Absent on a full store.
   */
  witnessEntries?: WitnessEntryCounts;
  counters: StoreCounters;
  /**
   * Messages and requests this store refused, by reason (`pendingReplicasFull`,
   * `pendingReplicasPerSenderFull`; the RPC server's `forbidden*`; `raftFromTempId`), and
   * replicas made on demand dropped unused (`pendingReplicasReclaimed`). In-process only: not sent over RPC.
   */
  refused?: Record<string, number>;
  /** Chunked snapshot transfers (see `SnapshotTransferStatus`). In-process only. */
  snapshotTransfer?: SnapshotTransferStatus;
  /**
   * Snapshot progress as an operator watches a store catch up or join (sent over RPC; `peerkv
   * status`): transfers in flight, bytes moved so far, and each region applying a received
   * snapshot with its staged chunks applied of all (at most `SNAPSHOT_PROGRESS_REGIONS_MAX`).
   */
  snapshotProgress?: SnapshotProgress;
  /**
   * The change feed's live buffers (`txn/cdc-buffer.ts`), once this store served a pull:
   * regions buffered now, pages answered from a buffer and by scanning the engine, buffers
   * begun and dropped. In-process only: not sent over RPC.
   */
  cdc?: { regions: number; pagesFromBuffer: number; pagesScanned: number; buffersBegun: number; buffersDropped: number };
  /**
   * Where the writes this store's leaders answered spent their time, span by span
   * (`write-trace.ts`), over the last `WRITE_TRACE_SAMPLES_MAX`; absent before the first.
   * In-process only: not sent over RPC.
   */
  writeTrace?: WriteTraceSummary;
  regions: {
    regionId: number;
    peerId: number;
    startKey: Uint8Array;
    endKey: Uint8Array;
    epoch: RegionEpoch;
    peers: Peer[];
    role: string;
    term: number;
    lead: number;
    commit: number;
    applied: number;
    hibernating: boolean;
    /** Set while applying a received snapshot (serves nothing until done; progress in `snapshotTransfer.applying`). Not sent over RPC. */
    applyingSnapshot?: true;
    /** A witness replica (`StoreOptions.witness`). Not sent over RPC (the peers' `witness` flags are). */
    witness?: true;
    /**
     * The newest resolved ts this replica applied (mvcc regions; TiKV's safe ts): it serves
     * stale reads at or below it, and every change with commitTs ≤ it is in its state. Absent
     * until one applied (raw regions, PD's region).
     */
    safeTs?: bigint;
  }[];
}

/** Monotonic counters of one store. */
export interface StoreCounters {
  rounds: number;
  writes: number;
  snapshotsGenerated: number;
  snapshotsInstalled: number;
  logCompactions: number;
}

/** Who a store's engine belongs to. */
export interface StoreIdentity {
  storeId: number;
  clusterId: string;
}

/** The engine belongs to another store or cluster. */
export class StoreIdentityError extends Error {
  override readonly name = 'StoreIdentityError';
}

/** The store's options contradict each other or its engine (e.g. a data column family the engine lacks). */
export class StoreConfigError extends Error {
  override readonly name = 'StoreConfigError';
}

/** A request refused because the store is closed. */
export class StoreClosedError extends Error {
  override readonly name = 'StoreClosedError';
}

