/**
 * `PeerKV`: the public key-value API. It routes each key to its region through the region
 * cache, sends the request to the region's leader (or a replica for follower and stale
 * reads), and retries region errors with backoff until its budget is spent. Writes carry
 * (clientId, seq) so retries apply at most once.
 */
import type { Peer, Region, RegionError } from '@peerkv/pd';
import { compareKeys, regionContainsKey } from '@peerkv/pd';
import { DEFAULT_CF } from '@peerkv/proto';
import type { GcLockResolver, KvOp, ReadConsistency, Result, StoreRequest, TxnAnswer } from '@peerkv/store';
import type { Mutation } from '@peerkv/txn';
import { CLIENT_LEASE_MS, CLIENT_WRITE_WINDOW_SEQS, DATA_MODEL_DEFAULT, StoreClosedError } from '@peerkv/store';
import { BACKOFF_DEFAULT, REAL_CLOCK, backoffDelayMs, sleepFor, type BackoffOptions, type Clock } from './backoff.ts';
import { PeerKVError } from './errors.ts';
import { RegionCache } from './region-cache.ts';
import type { ClusterStatus, KvPair, KvService, PdService, RegionRoute, StatusSource, StoreResolver } from './services.ts';
import { TsoBatcher } from './tso-batcher.ts';
import { tracedService, type SpanTrace } from './trace.ts';
import { LockResolver } from './txn/lock-resolver.ts';
import { REPLICA_READS, TAB_TXN_REQUEST_TYPES, type RegionRequestOutcome, type ReplicaRead, type TabTxnRequest, type TxnRouting } from './txn/routing.ts';
import { MvccKv } from './txn/mvcc-kv.ts';
import { GcRegistration } from './txn/gc-registration.ts';
import { SnapshotReader } from './txn/snapshot-reader.ts';
import { StaleReader, StaleSnapshot, type StalenessOptions } from './txn/stale-reader.ts';
import { Watch, watchArgs, type WatchOptions, type WatchRange } from './txn/watch.ts';
import { Committer, LOCK_TTL_MS_DEFAULT } from './txn/committer.ts';
import { LeaderWakeup } from './leader-wakeup.ts';
import { MemoryOfflineQueueStore, OFFLINE_QUEUE_BYTES_MAX_DEFAULT, OFFLINE_QUEUE_TXNS_MAX_DEFAULT, type OfflineQueueStore } from './txn/offline-queue.ts';
import { OFFLINE_DECIDE_MS_DEFAULT, OfflineTxns, type Mutator, type OfflineTxnOptions, type PendingTxn, type QueuedCommit, type QueuedTxnHandle } from './txn/offline-txns.ts';
import { commitQueuedTxn, decideTxnAttempt, offlineBackend } from './txn/offline-backend.ts';
import { Snapshot, TXN_KEYS_MAX, prefixEnd, runTransaction, type Transaction, type TransactionInfo, type TransactionOptions, type TxnBackend, type TxnCommitRequest } from './txn/transaction.ts';

/** Largest key, in bytes. */
export const KEY_BYTES_MAX = 64 * 1024;
/** Largest value, in bytes. */
export const VALUE_BYTES_MAX = 8 * 1024 * 1024;
/** Retries per call that skip the backoff (following a leader hint or a new epoch). */
export const IMMEDIATE_RETRIES_MAX = 3;
/** Pairs fetched per region request while scanning. */
export const SCAN_PAGE_PAIRS = 256;

export interface ClientOptions {
  pd: PdService;
  stores: StoreResolver;
  /** Unique per client instance; a random one when absent. */
  clientId?: string;
  backoff?: Partial<BackoffOptions>;
  /** Time and timers (the platform's wall clock by default; the simulator passes its virtual one). */
  clock?: Clock;
  /** A float in [0, 1) for backoff jitter (`Math.random` by default; the simulator passes a seeded one). */
  random?: () => number;
  /** Per-attempt request timeout, ms. */
  requestTimeoutMs?: number;
  /** Default read consistency. */
  consistency?: ReadConsistency;
  /** Answers `status()`; a LocalCluster or PdCluster passes itself. */
  statusSource?: StatusSource;
  /** Record this client's spans there from the start (`setTrace`; default: off). */
  trace?: SpanTrace;
  /** Pairs per scan request (paging); `SCAN_PAGE_PAIRS` by default. */
  scanPagePairs?: number;
  /** The store next to this client (same Worker or process): follower and stale reads go there when it holds a replica. */
  localStoreId?: number;
  /**
   * The local store's own replica of the region holding a key, as that store knows it
   * (`Store.regionForKey`: an initialized replica that holds data), if it has one. A read that
   * needs no leader (a stale read, `consistency: 'stale'`) goes there first, whatever the
   * cached and PD routes say: they can leave that replica out (a route cached before it was
   * added, a PD replica on this device that has not applied the change adding it and cannot
   * catch up while the leader's device is away), and the read would then find no replica
   * (issue 14). Needs `localStoreId`.
   */
  localRegion?: (key: Uint8Array) => Region | undefined;
  /**
   * The mvcc model: which replica serves `get`/`scan` and transactions' reads (default
   * `leader`; `follower`, `closest`: `ReplicaRead` in `txn/routing.ts`). Per read: `ReadOptions.replicaRead`.
   */
  replicaRead?: ReplicaRead;
  /**
   * The stores' data model (default `DATA_MODEL_DEFAULT`, `mvcc`): every read and write is
   * transactional: `get`/`scan` read at a fresh TSO timestamp, `put`/`delete` commit by 1PC,
   * `batchPut`/`deleteRange` are one atomic transaction (`txn/mvcc-kv.ts`). `raw` (keys as they
   * are, no PD timestamps) is for stores created raw and the benchmark baseline.
   */
  dataModel?: 'raw' | 'mvcc';
  /**
   * Where transactions queued while the quorum is away are kept (`offline: 'queue'`; default
   * `MemoryOfflineQueueStore`, lost with the process). A new client over the same store takes
   * the queue over.
   */
  offlineQueue?: OfflineQueueStore;
  /** How long a queueable transaction's start ts and reads may take before it is queued, ms (default `OFFLINE_DECIDE_MS_DEFAULT`). */
  offlineDecideMs?: number;
  /** Transactions the offline queue holds at most, rejected ones included (default `OFFLINE_QUEUE_TXNS_MAX_DEFAULT`). */
  offlineQueueTxnsMax?: number;
  /** Bytes the offline queue holds at most (default `OFFLINE_QUEUE_BYTES_MAX_DEFAULT`, 16 MiB). */
  offlineQueueBytesMax?: number;
  /**
   * Subscribes to the leader changes the store next to this client learns
   * (`Store.observeLeader`; returns the unsubscribe): each becomes the cached leader of its
   * region and wakes the retries of that region waiting out a backoff (`leader-wakeup.ts`), so
   * a request follows a new leader when it is elected, not when its backoff ends.
   */
  leaderNews?: (listener: (news: LeaderNewsOfRegion) => void) => () => void;
}

/** A region's new leader as a replica next to the client learned it (`LeaderNews` of `@peerkv/store`). */
export interface LeaderNewsOfRegion {
  regionId: number;
  leader: Peer;
}

/** A store whose request timed out is asked after the others for this long, ms. */
export const SUSPECT_STORE_MS = 3000;
/** Weight of a new sample in a store's smoothed round trip (EWMA). */
export const RTT_EWMA_WEIGHT = 0.2;
/** Round trip assumed for a store not measured yet, ms (a `closest` read prefers measured ones under it). */
export const RTT_UNKNOWN_MS = 1000;
/**
 * A replica that could not catch up to its leader's read index within a replica read's timeout
 * (`ReadIndexNotReady`) is asked after the region's other replicas for this long, ms. Only its
 * replica reads of that region: the store is alive and answered, so it is no suspect.
 */
export const REPLICA_BEHIND_MS = 3000;

export interface CallOptions {
  signal?: AbortSignal;
}

/**
 * A caller's own write identity: the write applies at most once per region under
 * (clientId, seq), also when the caller sends it again through another client (the browser
 * runtime's tabs resend a write to each new host tab). The caller never reuses a seq, numbers
 * each new write within `CLIENT_WRITE_WINDOW_SEQS` of its oldest unfinished one, and reports
 * in `ackFloor` the seq below which every write of it has a final answer.
 */
export interface WriteStamp {
  clientId: string;
  seq: number;
  /** Every seq below this is finished for the caller (0 or absent: acknowledges nothing). */
  ackFloor?: number;
}

/** Options of a single-key write. */
export interface WriteOptions extends CallOptions {
  /** Write under the caller's (clientId, seq) instead of this client's own. */
  stamp?: WriteStamp;
}

export interface ReadOptions extends CallOptions {
  /**
   * The raw model: how the replica serves the read. The mvcc model: `stale` is a read at the
   * nearest replica's resolved ts (as `maxStaleness: Infinity`); the others read at a fresh TSO
   * ts, where `replicaRead` says which replica serves it, and `follower` (with no `replicaRead`
   * named, here or as the client's) is `replicaRead: 'follower'`: a follower serves the data once
   * it applied the leader's read index, so the read is still linearizable.
   */
  consistency?: ReadConsistency;
  /**
   * The mvcc model: read at this TSO timestamp, from the nearest replica when its resolved ts
   * covers it. `readTs` or `maxStaleness`, not both (`InvalidArgument`). The value does not say
   * as of when: `snapshot({ maxStaleness })` does (its `ts`).
   */
  readTs?: bigint;
  /**
   * The mvcc model: data at most this old is fine, ms: served by the nearest replica if its
   * resolved ts is that fresh, else by the leader (`Infinity`: whatever the nearest replica has).
   */
  maxStaleness?: number;
  /** The mvcc model: which replica serves this read (default `ClientOptions.replicaRead`). */
  replicaRead?: ReplicaRead;
}

export interface ScanOptions extends ReadOptions {
  start?: Uint8Array;
  /** Exclusive; unbounded when absent or empty. */
  end?: Uint8Array;
  limit?: number;
  reverse?: boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Helpers for string and JSON values. */
export const codec = {
  text: (s: string): Uint8Array => encoder.encode(s),
  fromText: (b: Uint8Array): string => decoder.decode(b),
  json: (v: unknown): Uint8Array => encoder.encode(JSON.stringify(v)),
  fromJson: <T>(b: Uint8Array): T => JSON.parse(decoder.decode(b)) as T,
};

export class PeerKV {
  readonly clientId: string;
  private readonly cache = new RegionCache();
  private readonly backoff: BackoffOptions;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly pd: PdService;
  private readonly stores: StoreResolver;
  private readonly requestTimeoutMs: number;
  private readonly consistency: ReadConsistency;
  /** This client's write session id (a new one after a long idle time or an ended lease). */
  private sessionId: string;
  private sessions = 0;
  private seq = 0;
  /** Seqs of this session not finished yet (the oldest bounds the next seq and is the ack floor). */
  private readonly unfinished = new Set<number>();
  private readonly writeWaiters: (() => void)[] = [];
  /** Clock ms of this session's last write. */
  private lastWriteMs = Number.NEGATIVE_INFINITY;
  private closed = false;
  private readonly statusSource: StatusSource | undefined;
  private readonly localStoreId: number | undefined;
  private readonly localRegion: ((key: Uint8Array) => Region | undefined) | undefined;
  /** Stores whose request timed out, until when they are asked last (clock ms). */
  private readonly suspectStores = new Map<number, number>();
  /** Smoothed round trip of each store's answered requests, ms (what `closest` replica reads pick by). */
  private readonly rttMs = new Map<number, number>();
  /**
   * Replicas (peer ids) found behind (`markBehind`): until when they are asked last for replica
   * reads (clock ms), and whether their resolved ts was behind too (then stale reads ask them
   * last as well).
   */
  private readonly behindReplicas = new Map<number, { untilMs: number; safeTs: boolean }>();
  private readonly replicaRead: ReplicaRead;
  private readonly scanPagePairs: number;
  /** Batches `getTimestamp` callers into few PD requests (created on first use). */
  private tsoBatcher: TsoBatcher | undefined;
  /** The transaction layer's view of this client, and its lock resolver (created on first use). */
  private txn: { routing: TxnRouting; resolver: LockResolver; backend: TxnBackend } | undefined;
  /** The `mvcc` data model's API (absent: `raw`). */
  private readonly mvcc: MvccKv | undefined;
  private readonly offlineOptions: { store: OfflineQueueStore; decideMs: number; txnsMax: number; bytesMax: number };
  /** The offline queue (created on first use). */
  private offline: OfflineTxns | undefined;
  /** Where this client's spans go (`trace.ts`); undefined: tracing is off, and no span reads a clock. */
  private trace: SpanTrace | undefined;
  /** Retry pauses that news of their region's leader ends early. */
  private readonly wakeup: LeaderWakeup;
  /** Ends the `leaderNews` subscription. */
  private readonly stopLeaderNews: (() => void) | undefined;

  constructor(o: ClientOptions) {
    this.trace = o.trace;
    this.statusSource = o.statusSource ?? (isStatusSource(o.pd) ? o.pd : undefined);
    this.localStoreId = o.localStoreId;
    this.localRegion = o.localRegion;
    this.scanPagePairs = Math.max(1, o.scanPagePairs ?? SCAN_PAGE_PAIRS);
    this.pd = o.pd;
    this.stores = o.stores;
    this.clientId = o.clientId ?? randomId();
    this.sessionId = this.clientId;
    this.backoff = { ...BACKOFF_DEFAULT, ...o.backoff };
    this.clock = o.clock ?? REAL_CLOCK;
    this.random = o.random ?? Math.random;
    this.wakeup = new LeaderWakeup(this.clock);
    this.stopLeaderNews = o.leaderNews?.((news) => this.onLeaderNews(news));
    this.requestTimeoutMs = o.requestTimeoutMs ?? 5000;
    this.consistency = o.consistency ?? 'linearizable';
    // The mvcc model serves `consistency: 'follower'` as TiKV's follower read: a replica read
    // (`txnReadIndex` on the leader, the data from a follower), not a leader read.
    this.replicaRead = checkReplicaRead(o.replicaRead ?? (this.consistency === 'follower' ? 'follower' : 'leader'));
    if (o.dataModel !== undefined && o.dataModel !== 'raw' && o.dataModel !== 'mvcc') throw new PeerKVError('InvalidArgument', `dataModel is 'raw' or 'mvcc', not ${String(o.dataModel)}`);
    this.offlineOptions = {
      store: o.offlineQueue ?? new MemoryOfflineQueueStore(),
      decideMs: positiveInt('offlineDecideMs', o.offlineDecideMs ?? OFFLINE_DECIDE_MS_DEFAULT),
      txnsMax: positiveInt('offlineQueueTxnsMax', o.offlineQueueTxnsMax ?? OFFLINE_QUEUE_TXNS_MAX_DEFAULT),
      bytesMax: positiveInt('offlineQueueBytesMax', o.offlineQueueBytesMax ?? OFFLINE_QUEUE_BYTES_MAX_DEFAULT),
    };
    if ((o.dataModel ?? DATA_MODEL_DEFAULT) === 'mvcc') {
      const { routing, resolver, backend } = this.txnLayer();
      this.mvcc = new MvccKv(routing, resolver, VALUE_CHECKS, backend);
    }
  }

  /** A read's replica choice, checked (the client's default when absent). */
  private replicaReadOf(o: ReadOptions): ReplicaRead {
    if (o.replicaRead !== undefined) return checkReplicaRead(o.replicaRead);
    return o.consistency === 'follower' && this.replicaRead === 'leader' ? 'follower' : this.replicaRead;
  }

  /** The data model this client speaks (`ClientOptions.dataModel`). */
  get dataModel(): 'raw' | 'mvcc' {
    return this.mvcc ? 'mvcc' : 'raw';
  }

  // ------------------------------------------------------------------ reads

  async get(key: Uint8Array, o: ReadOptions = {}): Promise<Uint8Array | undefined> {
    const stale = this.staleReadOf(o);
    if (stale) return (await this.staleSnapshot(stale)).get(key, o);
    if (this.mvcc) return this.mvcc.get(key, this.replicaReadOf(o), o.signal);
    checkKey(key);
    const consistency = o.consistency ?? this.consistency;
    return this.withRegion(key, o.signal, consistency, (route, svc) =>
      svc.handle({ type: 'get', regionId: route.region.id, epoch: route.region.epoch, key, consistency, timeoutMs: this.requestTimeoutMs }, { signal: o.signal }),
    );
  }

  /** Reads many keys; missing keys map to undefined. */
  async batchGet(keys: Uint8Array[], o: ReadOptions = {}): Promise<(Uint8Array | undefined)[]> {
    const stale = this.staleReadOf(o);
    if (stale) return (await this.staleSnapshot(stale)).batchGet(keys, o);
    if (this.mvcc) return this.mvcc.batchGet(keys, this.replicaReadOf(o), o.signal);
    return Promise.all(keys.map((k) => this.get(k, o)));
  }

  /** Iterates pairs in [start, end), region by region, at most `limit`. */
  async *scan(o: ScanOptions = {}): AsyncIterableIterator<KvPair> {
    const start = o.start ?? new Uint8Array();
    const end = o.end ?? new Uint8Array();
    const stale = this.staleReadOf(o);
    if (stale) {
      if (o.reverse) throw new PeerKVError('InvalidArgument', 'a reverse scan is not served at a timestamp (readTs, maxStaleness, consistency stale) yet');
      yield* (await this.staleSnapshot(stale)).scan({ start, end, ...(o.limit !== undefined ? { limit: o.limit } : {}), ...(o.signal ? { signal: o.signal } : {}) });
      return;
    }
    if (this.mvcc) {
      yield* this.mvcc.scan(start, end, o.limit ?? Infinity, o.reverse === true, this.replicaReadOf(o), o.signal);
      return;
    }
    let remaining = o.limit ?? Infinity;
    const consistency = o.consistency ?? this.consistency;
    if (o.reverse) {
      // Page backwards, asking each time which region holds the keys just below `hi`: a split
      // between pages moves keys to another region, which this finds afresh (a list of regions
      // worked out once would silently skip the moved half).
      let hi = end;
      while (remaining > 0) {
        if (hi.length > 0 && compareKeys(hi, start) <= 0) return;
        const pageLimit = Math.min(remaining, this.scanPagePairs);
        let regionStart: Uint8Array = new Uint8Array();
        const pageEnd = hi;
        const pairs = await this.withRegion(() => this.routeBefore(start, pageEnd, o.signal), o.signal, consistency, (route, svc) => {
          regionStart = route.region.startKey;
          const range = { start, end: pageEnd, limit: pageLimit, reverse: true };
          return svc.handle({ type: 'scan', regionId: route.region.id, epoch: route.region.epoch, range, consistency, timeoutMs: this.requestTimeoutMs }, { signal: o.signal });
        });
        for (const p of pairs) {
          yield p;
          remaining--;
        }
        if (pairs.length === pageLimit) {
          hi = pairs[pairs.length - 1].key;
          continue;
        }
        if (regionStart.length === 0 || compareKeys(regionStart, start) <= 0) return;
        hi = regionStart;
      }
      return;
    }
    let cursor = start;
    while (remaining > 0) {
      const pageLimit = Math.min(remaining, this.scanPagePairs);
      const { pairs, regionEnd } = await this.scanFrom(cursor, end, pageLimit, consistency, o.signal);
      for (const p of pairs) {
        yield p;
        remaining--;
      }
      if (pairs.length === pageLimit) {
        // A full page: the region may hold more; continue right after the last key.
        cursor = successor(pairs[pairs.length - 1].key);
        continue;
      }
      if (regionEnd.length === 0 || (end.length > 0 && compareKeys(regionEnd, end) >= 0)) return;
      cursor = regionEnd;
    }
  }

  private async scanFrom(
    cursor: Uint8Array,
    end: Uint8Array,
    limit: number,
    consistency: ReadConsistency,
    signal?: AbortSignal,
  ): Promise<{ pairs: KvPair[]; regionEnd: Uint8Array }> {
    let regionEnd: Uint8Array = new Uint8Array();
    const pairs = await this.withRegion(cursor, signal, consistency, async (route, svc) => {
      regionEnd = route.region.endKey;
      const range = { start: cursor, end, limit };
      return svc.handle({ type: 'scan', regionId: route.region.id, epoch: route.region.epoch, range, consistency, timeoutMs: this.requestTimeoutMs }, { signal });
    });
    return { pairs, regionEnd };
  }

  /** The region holding the keys just below `hi` (unbounded when empty), at or after `start`. */
  private async routeBefore(start: Uint8Array, hi: Uint8Array, signal?: AbortSignal): Promise<RegionRoute> {
    const routes = await this.routesCovering(start, hi, signal);
    return routes[routes.length - 1];
  }

  /** The regions covering [start, end), in key order. */
  private async routesCovering(start: Uint8Array, end: Uint8Array, signal?: AbortSignal): Promise<RegionRoute[]> {
    const out: RegionRoute[] = [];
    let cursor = start;
    for (;;) {
      const route = await this.route(cursor, signal);
      out.push(route);
      const e = route.region.endKey;
      if (e.length === 0 || (end.length > 0 && compareKeys(e, end) >= 0)) return out;
      cursor = e;
    }
  }

  // ------------------------------------------------------------------ writes

  async put(key: Uint8Array, value: Uint8Array, o: WriteOptions = {}): Promise<void> {
    checkKey(key);
    checkValue(value);
    if (this.mvcc) return this.mvcc.write([{ op: 'put', key, value }], this.noStamp(o));
    await this.write([{ type: 'put', cf: DEFAULT_CF, key, value }], o.signal, o.stamp);
  }

  async delete(key: Uint8Array, o: WriteOptions = {}): Promise<void> {
    checkKey(key);
    if (this.mvcc) return this.mvcc.write([{ op: 'delete', key }], this.noStamp(o));
    await this.write([{ type: 'delete', cf: DEFAULT_CF, key }], o.signal, o.stamp);
  }

  /** Writes many pairs: atomic per region, not across regions (transactions are for that). */
  async batchPut(pairs: KvPair[], o: CallOptions = {}): Promise<void> {
    for (const p of pairs) {
      checkKey(p.key);
      checkValue(p.value);
    }
    if (pairs.length === 0) return;
    if (this.mvcc) return this.mvcc.write(pairs.map((p) => ({ op: 'put' as const, key: p.key, value: p.value })), o.signal);
    await this.write(
      pairs.map((p) => ({ type: 'put' as const, cf: DEFAULT_CF, key: p.key, value: p.value })),
      o.signal,
    );
  }

  /** Deletes every key in [start, end): one request per region, atomic per region. */
  async deleteRange(start: Uint8Array, end: Uint8Array, o: CallOptions = {}): Promise<void> {
    checkKey(start);
    if (compareKeys(start, end) >= 0) return;
    if (this.mvcc) return this.mvcc.deleteRange(start, end, o.signal);
    await this.write([{ type: 'deleteRange', cf: DEFAULT_CF, start, end }], o.signal);
  }

  /**
   * One logical write: one (session, seq) for all of it, also for the parts it is cut into per
   * region (each region applies its part at most once under that stamp; a split copies the
   * records to both halves, so a part re-cut after a split is still recognized). Resolves
   * once every part is applied; throws `Undetermined` if some part's outcome cannot be known.
   */
  private async write(ops: KvOp[], signal: AbortSignal | undefined, stamp?: WriteStamp): Promise<void> {
    if (stamp) {
      if (typeof stamp.clientId !== 'string' || stamp.clientId === '' || !Number.isSafeInteger(stamp.seq) || stamp.seq < 1) {
        throw new PeerKVError('InvalidArgument', 'a write stamp needs a clientId and a seq ≥ 1');
      }
      const ackFloor = stamp.ackFloor !== undefined && Number.isSafeInteger(stamp.ackFloor) && stamp.ackFloor > 0 ? Math.min(stamp.ackFloor, stamp.seq) : 0;
      // The caller keeps its own window and floor (see `WriteStamp`).
      const r = await this.writeParts(ops, signal, stamp.clientId, stamp.seq, () => ackFloor);
      if (r.kind !== 'applied') throw this.writeError(r, false);
      return;
    }
    for (let session = 0; ; session++) {
      const { sessionId, seq } = await this.beginWrite(signal);
      let r: WriteOutcome;
      try {
        r = await this.writeParts(ops, signal, sessionId, seq, () => this.ackFloor());
      } finally {
        this.endWrite(seq);
      }
      if (r.kind === 'applied') return;
      // The store no longer knows this session (its lease ended): nothing was sent that may
      // have applied, so start a new session and send the write again, once.
      if (r.kind === 'stale' && !r.ambiguous && session === 0) {
        this.rotateSession();
        continue;
      }
      throw this.writeError(r, true);
    }
  }

  /** A write stamp is the raw model's dedup identity; the mvcc model has none (a transaction is idempotent by its start ts). */
  private noStamp(o: WriteOptions): AbortSignal | undefined {
    if (o.stamp !== undefined) throw new PeerKVError('InvalidArgument', 'write stamps belong to the raw data model; an mvcc write is a transaction');
    return o.signal;
  }

  private writeError(r: Exclude<WriteOutcome, { kind: 'applied' }>, own: boolean): PeerKVError {
    const last = r.lastError;
    if (r.ambiguous) {
      return new PeerKVError('Undetermined', `the write may or may not have been applied (${r.kind === 'aborted' ? 'aborted' : last ? last.kind : 'no answer'} after it was sent)`, last);
    }
    if (r.kind === 'aborted') return new PeerKVError('Aborted', 'aborted');
    if (r.kind === 'stale') return new PeerKVError('RetryBudgetExhausted', `the store refused the write: ${last && last.kind === 'StaleWrite' ? last.reason : 'stale'}${own ? '' : ' (stamp)'}`, last);
    return new PeerKVError('RetryBudgetExhausted', `request failed after retries: ${last ? last.kind : 'no reachable replica'}`, last);
  }

  /**
   * Cuts `ops` by region and writes each part, re-cutting what a split moved, until all are
   * applied or the budget is spent.
   */
  private async writeParts(ops: KvOp[], signal: AbortSignal | undefined, clientId: string, seq: number, ackFloor: () => number): Promise<WriteOutcome> {
    let remaining = ops;
    let ambiguous = false;
    let lastError: RegionError | undefined;
    const started = this.clock.now();
    for (let round = 0; round < this.backoff.attemptsMax; round++) {
      if (signal?.aborted) return { kind: 'aborted', ambiguous, lastError };
      if (round > 0 && this.clock.now() - started > this.backoff.budgetMs) break;
      let groups: WriteGroup[];
      try {
        groups = await this.groupOps(remaining, signal);
      } catch (e) {
        if (e instanceof PeerKVError && e.kind === 'Unavailable') {
          await this.sleepQuietly(backoffDelayMs(this.backoff, round, this.random), signal);
          continue;
        }
        if (e instanceof PeerKVError && e.kind === 'Aborted') return { kind: 'aborted', ambiguous, lastError };
        throw e;
      }
      const results = await Promise.all(groups.map((g) => this.writeGroup(g, signal, clientId, seq, ackFloor)));
      const again: KvOp[] = [];
      for (let i = 0; i < groups.length; i++) {
        const r = results[i];
        if (r.kind === 'applied') continue;
        ambiguous ||= r.ambiguous;
        if (r.lastError) lastError = r.lastError;
        if (r.kind === 'regroup') {
          again.push(...groups[i].ops);
          continue;
        }
        return { kind: r.kind, ambiguous, lastError };
      }
      if (again.length === 0) return { kind: 'applied', ambiguous: false };
      remaining = again;
    }
    return { kind: 'failed', ambiguous, lastError };
  }

  /** The ops grouped by the region holding them in the cache or PD (a range delete is clipped per region). */
  private async groupOps(ops: KvOp[], signal?: AbortSignal): Promise<WriteGroup[]> {
    const groups = new Map<number, WriteGroup>();
    const add = (route: RegionRoute, op: KvOp): void => {
      const g = groups.get(route.region.id) ?? { route, ops: [] };
      g.ops.push(op);
      groups.set(route.region.id, g);
    };
    for (const op of ops) {
      if (op.type !== 'deleteRange') {
        add(await this.route(op.key, signal), op);
        continue;
      }
      for (const route of await this.routesCovering(op.start, op.end, signal)) add(route, clipRange(op, route.region));
    }
    return [...groups.values()];
  }

  /** One region's part: retried against that region until applied; `regroup` once a split moved some of its keys. */
  private async writeGroup(g: WriteGroup, signal: AbortSignal | undefined, clientId: string, seq: number, ackFloor: () => number): Promise<GroupOutcome> {
    const first = g.ops[0].type === 'deleteRange' ? g.ops[0].start : g.ops[0].key;
    const fits = (route: RegionRoute): boolean => g.ops.every((op) => opInRegion(op, route.region));
    const r = await this.withRegionOutcome(first, signal, 'linearizable', fits, (route, svc) =>
      svc.handle({ type: 'write', regionId: route.region.id, epoch: route.region.epoch, clientId, seq, ackFloor: ackFloor(), ops: g.ops, timeoutMs: this.requestTimeoutMs }, { signal }),
    );
    return r;
  }

  /** A new seq of this session, within `CLIENT_WRITE_WINDOW_SEQS` of the oldest unfinished one. */
  private async beginWrite(signal?: AbortSignal): Promise<{ sessionId: string; seq: number }> {
    while (this.seq + 1 >= this.ackFloor() + CLIENT_WRITE_WINDOW_SEQS) {
      await new Promise<void>((resolve) => this.writeWaiters.push(resolve));
      if (signal?.aborted) throw new PeerKVError('Aborted', 'aborted');
    }
    // A session idle for half a lease is replaced before the store could expire it.
    if (this.unfinished.size === 0 && this.clock.now() - this.lastWriteMs > CLIENT_LEASE_MS / 2 && this.seq > 0) this.rotateSession();
    this.lastWriteMs = this.clock.now();
    const seq = ++this.seq;
    this.unfinished.add(seq);
    return { sessionId: this.sessionId, seq };
  }

  private endWrite(seq: number): void {
    this.unfinished.delete(seq);
    this.lastWriteMs = this.clock.now();
    for (const w of this.writeWaiters.splice(0)) w();
  }

  /** Every seq of this session below this has a final answer (the ack sent with each write). */
  private ackFloor(): number {
    let min = this.seq + 1;
    for (const s of this.unfinished) if (s < min) min = s;
    return min;
  }

  /** Starts a new write session (a new dedup identity; only when nothing is unfinished). */
  private rotateSession(): void {
    if (this.unfinished.size > 0) return;
    this.sessionId = `${this.clientId}.${++this.sessions}`;
    this.seq = 0;
    this.unfinished.clear();
  }

  private async sleepQuietly(ms: number, signal?: AbortSignal): Promise<void> {
    try {
      await sleepFor(this.clock, ms, signal);
    } catch {
      /* aborted: the caller checks the signal */
    }
  }

  // ------------------------------------------------------------------ routing and retries

  /**
   * The region holding `key`: the cached route, else PD's. A route in doubt (`markStale`) is
   * asked of PD again, and kept when PD cannot answer (its replicas are still the best
   * knowledge: a store refuses a wrong epoch); `cachedOk` takes it as it is (a read that needs
   * no leader, on its first attempt: it should not wait for PD to read this device's replica).
   */
  private route(key: Uint8Array, signal?: AbortSignal, cachedOk = false): Promise<RegionRoute> {
    return this.trace === undefined ? this.lookupRoute(key, signal, cachedOk) : this.trace.time('route', () => this.lookupRoute(key, signal, cachedOk));
  }

  /** `route` untimed. */
  private async lookupRoute(key: Uint8Array, signal: AbortSignal | undefined, cachedOk: boolean): Promise<RegionRoute> {
    const cached = this.cache.locate(key);
    if (cached && (!cached.stale || cachedOk)) return cached.route;
    let route: RegionRoute | undefined;
    try {
      route = await this.pd.getRegion(key, { signal });
    } catch (e) {
      if (cached && e instanceof PeerKVError && e.kind === 'Unavailable' && !signal?.aborted) return cached.route;
      throw e;
    }
    if (!route) {
      if (cached) return cached.route;
      throw new PeerKVError('Unavailable', 'no region known for key');
    }
    this.cache.insert(route);
    // PD's answer may lag what the cache holds (a PD replica behind its leader): the cache keeps
    // the newer epoch, and that is the route to use.
    return this.cache.locate(key)?.route ?? route;
  }

  /**
   * Runs `fn` against the right store for `key`, handling region errors: NotLeader (follow
   * the hint), EpochNotMatch (refresh the cache), RegionNotFound/KeyNotInRegion (invalidate),
   * ServerIsBusy and Timeout (back off, try another replica). For reads.
   */
  private async withRegion<T>(
    key: Uint8Array | (() => Promise<RegionRoute>),
    signal: AbortSignal | undefined,
    consistency: ReadConsistency,
    fn: (route: RegionRoute, svc: KvService) => Promise<Result<T>>,
  ): Promise<T> {
    const r = await this.withRegionOutcome(key, signal, consistency, undefined, fn);
    if (r.kind === 'applied') return r.value;
    if (r.kind === 'aborted') throw new PeerKVError('Aborted', 'aborted');
    throw new PeerKVError('RetryBudgetExhausted', `request failed after retries: ${r.lastError ? r.lastError.kind : 'no reachable replica'}`, r.lastError);
  }

  /**
   * The retry loop behind every request. `locate` is the key whose region to ask (or a
   * function giving the route); `fits`, when given, says whether a (refreshed) route still
   * holds the whole request: if not, the caller must re-cut it (`regroup`). The outcome says
   * whether any attempt may have taken effect without an answer (`ambiguous`: a timeout, a
   * leader change while a proposal waited, an abort after sending).
   */
  private async withRegionOutcome<T>(
    locate: Uint8Array | (() => Promise<RegionRoute>),
    signal: AbortSignal | undefined,
    consistency: ReadConsistency,
    fits: ((route: RegionRoute) => boolean) | undefined,
    fn: (route: RegionRoute, svc: KvService) => Promise<Result<T>>,
  ): Promise<RequestOutcome<T>> {
    if (this.closed) throw new PeerKVError('Closed', 'client is closed');
    const started = this.clock.now();
    let lastError: RegionError | undefined;
    let ambiguous = false;
    let skipPeers = new Set<number>();
    let immediateRetries = 0;
    for (let attempt = 0; attempt < this.backoff.attemptsMax; attempt++) {
      if (signal?.aborted) return { kind: 'aborted', ambiguous, lastError };
      if (this.clock.now() - started > this.backoff.budgetMs) break;
      let route: RegionRoute;
      try {
        const own = consistency !== 'linearizable' && typeof locate !== 'function' ? this.ownReplicaRoute(locate, skipPeers) : undefined;
        route = own ?? (typeof locate === 'function' ? await locate() : await this.route(locate, signal, consistency !== 'linearizable' && attempt === 0));
      } catch (e) {
        if (e instanceof PeerKVError && e.kind === 'Unavailable') {
          if (!(await this.pause(backoffDelayMs(this.backoff, attempt, this.random), signal))) return { kind: 'aborted', ambiguous, lastError };
          continue;
        }
        if (e instanceof PeerKVError && e.kind === 'Aborted') return { kind: 'aborted', ambiguous, lastError };
        throw e;
      }
      if (fits && !fits(route)) return { kind: 'regroup', ambiguous, lastError };
      const newsMark = this.wakeup.mark();
      const picked = this.pickReachable(route, consistency, skipPeers);
      if (!picked) {
        // No replica to ask (the leader's store is gone): the route is in doubt, not wrong.
        this.cache.markStale(route.region.id);
        skipPeers = new Set();
        if ((await this.wakeup.pause(route.region.id, backoffDelayMs(this.backoff, attempt, this.random), signal, newsMark)) === 'aborted') return { kind: 'aborted', ambiguous, lastError };
        continue;
      }
      const { target } = picked;
      const svc = this.trace === undefined ? picked.svc : tracedService(picked.svc, this.trace);
      const sentAt = this.clock.now();
      const r = await answerOf(target.storeId, () => fn(route, svc));
      if (r.ok || r.error.kind !== 'Timeout') {
        this.suspectStores.delete(target.storeId);
        this.noteRtt(target.storeId, this.clock.now() - sentAt);
      }
      if (r.ok) {
        // A linearizable request served by a peer we did not think led: it leads now.
        if (consistency === 'linearizable' && route.leader?.id !== target.id) this.cache.setLeader(route.region.id, target);
        // An earlier attempt that went unanswered may have applied too (a txn prewrite: maybe committed by 1PC).
        return { kind: 'applied', value: r.value, ambiguous };
      }
      lastError = r.error;
      // No answer, or a proposal left waiting when leadership moved: it may still apply.
      if (r.error.kind === 'Timeout' || r.error.kind === 'MaybeCommitted') ambiguous = true;
      if (signal?.aborted) return { kind: 'aborted', ambiguous, lastError };
      if (r.error.kind === 'StaleWrite') return { kind: 'stale', ambiguous, lastError };
      // Following a hint or a refreshed epoch goes at once, a few times; then back off, until
      // the region's new leader is heard of (it is then the cached leader: ask it, skip no one).
      const retryNow = this.onRegionError(route, target, r.error, skipPeers) && ++immediateRetries <= IMMEDIATE_RETRIES_MAX;
      if (!retryNow) {
        const end = await this.wakeup.pause(route.region.id, backoffDelayMs(this.backoff, attempt, this.random) + busyMs(r.error), signal, newsMark);
        if (end === 'aborted') return { kind: 'aborted', ambiguous, lastError };
        if (end === 'news') skipPeers = new Set();
      }
    }
    return { kind: 'failed', ambiguous, lastError };
  }

  /**
   * The local store's own replica of the region holding `key` as a route (`localRegion`), unless
   * it is to be skipped: where a read that needs no leader goes first. Its region meta is that
   * replica's, so the store takes the epoch, and the replica is in the route even when the
   * cache and PD do not know of it yet.
   */
  private ownReplicaRoute(key: Uint8Array, skip: Set<number>): RegionRoute | undefined {
    if (this.localRegion === undefined || this.localStoreId === undefined) return undefined;
    const region = this.localRegion(key);
    const own = region?.peers.find((p) => p.storeId === this.localStoreId && !p.witness);
    if (region === undefined || own === undefined || skip.has(own.id) || this.isBehind(own, 'safeTs') || !regionContainsKey(region, key)) return undefined;
    return { region };
  }

  /**
   * What a replica read's answer says of its replica: no answer (`Timeout`) makes the store a
   * suspect; `ReadIndexNotReady` (the replica did not catch up in time: it waited, so the time
   * is no round trip) and `NotLeader` (a replica that cannot serve a read: a witness, one cut
   * off from its leader) mark the replica behind, and the store stays above suspicion; any
   * other answer is a round trip.
   */
  private onReplicaAnswer(peer: Peer, r: Result<unknown>, elapsedMs: number): void {
    if (!r.ok && r.error.kind === 'Timeout') {
      this.suspectStores.set(peer.storeId, this.clock.now() + SUSPECT_STORE_MS);
      return;
    }
    if (!r.ok && (r.error.kind === 'ReadIndexNotReady' || r.error.kind === 'NotLeader')) {
      this.markBehind(peer, false);
      return;
    }
    this.behindReplicas.delete(peer.id);
    this.noteRtt(peer.storeId, elapsedMs);
  }

  /**
   * `peer` is asked after its region's other replicas for `REPLICA_BEHIND_MS`: by replica reads,
   * and by stale reads too when its resolved ts was behind (`safeTs`: a stale read's
   * `DataIsNotReady`, or a resolved ts older than its bound). A replica that could not catch up to
   * a read index may still serve a stale read: its resolved ts may be recent enough.
   */
  private markBehind(peer: Peer, safeTs: boolean): void {
    const now = this.clock.now();
    for (const [id, b] of this.behindReplicas) if (b.untilMs <= now) this.behindReplicas.delete(id);
    const was = this.behindReplicas.get(peer.id);
    this.behindReplicas.set(peer.id, { untilMs: now + REPLICA_BEHIND_MS, safeTs: safeTs || (was !== undefined && was.untilMs > now && was.safeTs) });
  }

  /** True while `peer` is marked behind (`markBehind`); for `safeTs`, only when its resolved ts was. */
  private isBehind(peer: Peer, what: 'any' | 'safeTs' = 'any'): boolean {
    const b = this.behindReplicas.get(peer.id);
    return b !== undefined && b.untilMs > this.clock.now() && (what === 'any' || b.safeTs);
  }

  /** Folds one answered request's round trip into the store's smoothed RTT (EWMA, weight `RTT_EWMA_WEIGHT`). */
  private noteRtt(storeId: number, ms: number): void {
    const prev = this.rttMs.get(storeId);
    this.rttMs.set(storeId, prev === undefined ? ms : prev + RTT_EWMA_WEIGHT * (ms - prev));
  }

  /**
   * The replica a `follower`/`closest` read asks (`TxnRouting.askReplica`): this client's
   * store if it holds one, else the lowest smoothed RTT (a store not measured yet counts as
   * far, a suspect one as farther); `follower` leaves the leader out while another replica is
   * there. A replica found behind (`REPLICA_BEHIND_MS`) is left out while another is there, and
   * one in `skip` (asked already by this read) always. Never a witness: it holds no data and
   * refuses every read.
   */
  private pickReplica(route: RegionRoute, replicaRead: ReplicaRead, skip: ReadonlySet<number>): Peer | undefined {
    const now = this.clock.now();
    let peers = route.region.peers.filter((p) => !p.witness && !skip.has(p.id));
    const current = peers.filter((p) => !this.isBehind(p));
    if (current.length > 0) peers = current;
    if (replicaRead === 'follower' && route.leader) {
      const others = peers.filter((p) => p.id !== route.leader!.id);
      if (others.length > 0) peers = others;
    }
    const local = peers.find((p) => p.storeId === this.localStoreId);
    if (local) return local;
    const cost = (p: Peer): number => ((this.suspectStores.get(p.storeId) ?? -Infinity) > now ? 2 * RTT_UNKNOWN_MS : (this.rttMs.get(p.storeId) ?? RTT_UNKNOWN_MS));
    let best: Peer | undefined;
    for (const p of peers) if (best === undefined || cost(p) < cost(best)) best = p;
    return best;
  }

  /** Sleeps; false when the caller aborted meanwhile. */
  private async pause(ms: number, signal?: AbortSignal): Promise<boolean> {
    await this.sleepQuietly(ms, signal);
    return !signal?.aborted;
  }

  /**
   * `pickPeer`'s choice among the replicas whose store this client reaches now: one it cannot
   * reach (no link to its store: `StoreResolver.store` gives nothing) joins `skip`, and the
   * next is picked at once. Without that, each attempt picked the same unreachable replica
   * (the leader PD still names, or the first voter) and waited out a backoff for it. At most
   * one pick per replica; undefined when none is left.
   */
  private pickReachable(route: RegionRoute, consistency: ReadConsistency, skip: Set<number>): { target: Peer; svc: KvService } | undefined {
    for (let picks = 0; picks <= route.region.peers.length; picks++) {
      const target = this.pickPeer(route, consistency, skip);
      if (!target) return undefined;
      const svc = this.stores.store(target.storeId);
      if (svc) return { target, svc };
      if (skip.has(target.id)) return undefined; // pickPeer fell back to a skipped replica: none left
      skip.add(target.id);
    }
    return undefined;
  }

  /**
   * The replica to ask: the leader for a linearizable request (unless its store recently timed
   * out: then a voter elsewhere, whose `NotLeader` names the current leader), the local replica
   * for other reads, else a voter on a store not under suspicion. Other reads leave a replica
   * whose resolved ts was found behind (`markBehind`) out while another is there, the local one
   * too. A witness is asked only for a linearizable request (its `NotLeader` names the leader
   * too): it holds no data to read.
   */
  private pickPeer(route: RegionRoute, consistency: ReadConsistency, skip: Set<number>): Peer | undefined {
    const now = this.clock.now();
    const suspect = (p: Peer): boolean => (this.suspectStores.get(p.storeId) ?? -Infinity) > now;
    let peers = route.region.peers.filter((p) => !skip.has(p.id) && (consistency === 'linearizable' || !p.witness));
    if (consistency === 'linearizable' && route.leader && !skip.has(route.leader.id) && !suspect(route.leader)) return route.leader;
    if (consistency !== 'linearizable') {
      const current = peers.filter((p) => !this.isBehind(p, 'safeTs'));
      if (current.length > 0) peers = current;
      const local = peers.find((p) => p.storeId === this.localStoreId);
      if (local) return local;
    }
    return peers.find((p) => p.role === 'voter' && !suspect(p)) ?? (consistency === 'linearizable' && route.leader && !skip.has(route.leader.id) ? route.leader : undefined) ?? peers.find((p) => p.role === 'voter') ?? peers[0];
  }

  /** Updates routing from an error; returns true when the retry may go at once. */
  private onRegionError(route: RegionRoute, target: Peer, e: RegionError, skip: Set<number>): boolean {
    switch (e.kind) {
      case 'NotLeader':
      case 'MaybeCommitted':
        // (MaybeCommitted: leadership moved while the proposal waited; the caller has marked
        // the write ambiguous, and routing follows the new leader the same way.)
        if (e.leaderHint && e.leaderHint.id !== target.id) {
          // Fresh news beats an earlier "not the leader" (or a timeout) from the same peer.
          skip.delete(e.leaderHint.id);
          this.suspectStores.delete(e.leaderHint.storeId);
          this.cache.setLeader(route.region.id, e.leaderHint);
          return true;
        }
        skip.add(target.id);
        if (skip.size >= route.region.peers.length) {
          // No replica knows a leader (no quorum): ask PD, keeping the replicas meanwhile.
          skip.clear();
          this.cache.markStale(route.region.id);
        }
        return false;
      case 'EpochNotMatch':
        this.cache.invalidate(route.region.id);
        for (const r of e.currentRegions) this.cache.insert({ region: r });
        return true;
      case 'RegionNotFound':
      case 'KeyNotInRegion':
      case 'StoreNotMatch':
        this.cache.invalidate(route.region.id);
        return false;
      case 'ServerIsBusy':
      case 'StaleWrite':
        return false;
      case 'ReadIndexNotReady':
        // The store answered (it is no suspect) that no quorum confirmed the read in time: back
        // off and ask again; nothing was proposed, so this never makes a write ambiguous.
        return false;
      case 'Timeout': {
        // Asked last for a while, also after the route is refreshed (PD may still name it).
        const now = this.clock.now();
        this.suspectStores.set(target.storeId, now + SUSPECT_STORE_MS);
        skip.add(target.id);
        // Nobody left to ask: the cached peers may be out of date (membership changes do not
        // fail requests, so a route cached long ago can miss replicas added since): ask PD,
        // keeping the replicas in case PD cannot answer either.
        if (route.region.peers.every((p) => skip.has(p.id) || (this.suspectStores.get(p.storeId) ?? -Infinity) > now)) {
          skip.clear();
          this.cache.markStale(route.region.id);
        }
        return false;
      }
    }
  }

  /**
   * A leader change the store next to this client learned (`ClientOptions.leaderNews`): the
   * cached leader, no longer suspect, and the region's paused retries woken.
   */
  private onLeaderNews(news: LeaderNewsOfRegion): void {
    this.cache.learnLeader(news.regionId, news.leader);
    this.suspectStores.delete(news.leader.storeId);
    this.wakeup.wake(news.regionId);
  }

  /** Stores, their regions (leaders, terms, commit and applied indexes) and PD's running operators. */
  async status(): Promise<ClusterStatus> {
    if (!this.statusSource) throw new PeerKVError('Unavailable', 'no status source configured');
    return this.statusSource.clusterStatus();
  }

  // ------------------------------------------------------------------ TSO

  /**
   * A fresh timestamp from PD's TSO (`physicalMs << 18 | logical`), strictly above every one
   * this client got before. Concurrent callers share PD requests (`TsoBatcher`).
   */
  async getTimestamp(o: CallOptions = {}): Promise<bigint> {
    if (this.closed) throw new PeerKVError('Closed', 'client is closed');
    const pd = this.pd;
    if (!pd.getTimestamps) throw new PeerKVError('Unavailable', `this client's PD serves no timestamps${this.mvcc ? ": the mvcc data model needs them for every read and write (a cluster without PD, such as LocalCluster, is raw: name dataModel 'raw')" : ''}`);
    this.tsoBatcher ??= new TsoBatcher({ getTimestamps: (count, co) => pd.getTimestamps!(count, co) }, { clock: this.clock, random: this.random, backoff: this.backoff });
    const batcher = this.tsoBatcher;
    return this.trace === undefined ? batcher.getTimestamp(o) : this.trace.time('tso', () => batcher.getTimestamp(o));
  }

  /**
   * Starts recording this client's spans into `trace` (`trace.ts`: `tso`, `route`,
   * `send:<type>`), or stops with none. Off by default: the spans then read no clock.
   */
  setTrace(trace: SpanTrace | undefined): void {
    this.trace = trace;
  }

  // ------------------------------------------------------------------ transactions

  /**
   * Runs `fn` as a snapshot-isolation transaction and commits its writes (see
   * `txn/transaction.ts`): re-runs `fn` with a new start ts on `WriteConflict` or `TxnAborted`
   * (never replaying old writes), throws `Undetermined` when the commit's outcome is unknown.
   * The stores must serve transactions (the `mvcc` data model).
   */
  async transaction<T>(fn: (tx: Transaction) => Promise<T>, o?: TransactionOptions): Promise<T>;
  /**
   * `offline: 'queue'`: a normal transaction while the quorum answers; else `fn` runs against
   * this device's replica and the transaction is queued durably, to commit when the quorum is
   * back (`txn/offline-txns.ts`: re-run by its mutator or rejected if what it read changed).
   * Returns a handle whose `committed` settles then.
   */
  async transaction<T>(fn: (tx: Transaction) => Promise<T>, o: OfflineTxnOptions): Promise<QueuedTxnHandle<T>>;
  async transaction<T>(fn: (tx: Transaction) => Promise<T>, o: TransactionOptions | OfflineTxnOptions = {}): Promise<T | QueuedTxnHandle<T>> {
    if ('offline' in o && o.offline !== undefined) return this.offlineQueue().transaction(fn, o);
    return (await this.transactionWithInfo(fn, o)).value;
  }

  /** Registers a transaction function by name: `mutate(name, args)` runs it, and a queued one runs it again after a conflict (also after a restart). */
  registerMutator<A, T>(name: string, fn: Mutator<A, T>): void {
    this.offlineQueue().registerMutator(name, fn);
  }

  /** Runs the mutator `name` with `args` (JSON values) as a transaction that is queued while the quorum is away. */
  async mutate<A, T = unknown>(name: string, args: A, o: Partial<OfflineTxnOptions> = {}): Promise<QueuedTxnHandle<T>> {
    return this.offlineQueue().mutate<A, T>(name, args, { ...o, offline: 'queue' });
  }

  /** The transactions queued while the quorum was away (in queue order), rejected ones included until dismissed. */
  pending(): Promise<PendingTxn[]> {
    return this.offlineQueue().pending();
  }

  /** The outcome of the queued transaction `id`, also one queued by an earlier client over the same queue store. */
  whenSettled(id: string): Promise<{ commitTs: bigint; reran: boolean }> {
    return this.offlineQueue().whenSettled(id);
  }

  /** Removes a rejected queued transaction from `pending()`. */
  dismissPending(id: string): Promise<void> {
    return this.offlineQueue().dismissPending(id);
  }

  /** Commits what is queued, in order, as far as the quorum answers now (the queue also retries by itself). */
  drainQueue(): Promise<void> {
    return this.offlineQueue().drain();
  }

  /**
   * Commits a transaction that was queued while the quorum was away (`txn/offline-backend.ts`):
   * by 2PC with its reads checked since `readTs`; `WriteConflict` (with `keys`),
   * `SafePointPassed` or `TxnAborted` when it did not commit. For a browser host serving its tabs' queues.
   */
  commitQueuedTxn(c: QueuedCommit): Promise<{ commitTs: bigint }> {
    const { routing, resolver } = this.txnLayer();
    return commitQueuedTxn(routing, resolver, this.pd, c);
  }

  /** Decides a commit attempt whose answer never came, on its primary: `committed` at its ts, or rolled back (absent). */
  decideTxnAttempt(a: { startTs: bigint; primary: Uint8Array }): Promise<{ committed?: bigint }> {
    return decideTxnAttempt(this.txnLayer().routing, a);
  }

  private offlineQueue(): OfflineTxns {
    if (!this.mvcc) throw new PeerKVError('InvalidArgument', 'queued offline transactions need the mvcc data model');
    if (this.offline) return this.offline;
    const { routing, resolver, backend } = this.txnLayer();
    this.offline = new OfflineTxns(offlineBackend(routing, resolver, backend, this.pd), VALUE_CHECKS, this.offlineOptions);
    return this.offline;
  }

  /** `transaction`, also telling the start and commit ts and how many runs it took. */
  async transactionWithInfo<T>(fn: (tx: Transaction) => Promise<T>, o: TransactionOptions = {}): Promise<{ value: T; info: TransactionInfo }> {
    return runTransaction(this.txnLayer().backend, VALUE_CHECKS, fn, o);
  }

  /**
   * Commits the writes of a transaction whose function ran elsewhere (a browser tab): the
   * mutations (distinct keys) of the transaction `startTs`, read at that ts by the caller. The
   * same call again with the same `startTs` is idempotent (its prewrites find their own locks
   * or commit records). Throws `WriteConflict`/`TxnAborted` (nothing committed: run the
   * function again with a new start ts) or `Undetermined`.
   */
  async commitMutations(startTs: bigint, mutations: Mutation[], o: Partial<TxnCommitRequest> = {}): Promise<{ commitTs: bigint; onePc: boolean }> {
    if (typeof startTs !== 'bigint' || startTs <= 0n) throw new PeerKVError('InvalidArgument', 'startTs is a positive bigint TSO timestamp');
    if (!Array.isArray(mutations) || mutations.length === 0 || mutations.length > TXN_KEYS_MAX) throw new PeerKVError('InvalidArgument', `a commit carries 1 to ${TXN_KEYS_MAX} mutations`);
    const pessimistic = o.forUpdateTs !== undefined;
    if (pessimistic && (typeof o.forUpdateTs !== 'bigint' || o.forUpdateTs < startTs)) throw new PeerKVError('InvalidArgument', 'forUpdateTs is a bigint TSO timestamp at or above startTs');
    for (let i = 0; i < mutations.length; i++) {
      const m = mutations[i];
      checkKey(m.key);
      if (m.op === 'put') checkValue(m.value);
      else if (m.op !== 'delete' && !(pessimistic && m.op === 'lock')) throw new PeerKVError('InvalidArgument', `a committed mutation is a put or a delete${pessimistic ? ' or a lock' : ''}, not ${String((m as { op: unknown }).op)}`);
      if (m.pessimistic === true && !pessimistic) throw new PeerKVError('InvalidArgument', 'a pessimistic mutation needs forUpdateTs');
    }
    // A pessimistic transaction's first mutation is its primary (its first lock); else the smallest key.
    const sorted = pessimistic ? [mutations[0], ...mutations.slice(1).sort((a, b) => compareKeys(a.key, b.key))] : [...mutations].sort((a, b) => compareKeys(a.key, b.key));
    const byKey = [...sorted].sort((a, b) => compareKeys(a.key, b.key));
    for (let i = 1; i < byKey.length; i++) if (compareKeys(byKey[i - 1].key, byKey[i].key) === 0) throw new PeerKVError('InvalidArgument', 'a key appears twice in one commit');
    const lockTtlMs = o.lockTtlMs ?? LOCK_TTL_MS_DEFAULT;
    // A pessimistic commit converts its locks, by 1PC, async commit or 2PC (as `runTransaction` commits one).
    const how = { onePc: o.onePc ?? true, asyncCommit: o.asyncCommit ?? false, ...(pessimistic ? { forUpdateTs: o.forUpdateTs } : {}) };
    return this.txnLayer().backend.commit(startTs, sorted, { lockTtlMs, beganAtMs: o.beganAtMs ?? this.clock.now(), ...how, ...(o.signal ? { signal: o.signal } : {}) });
  }

  /**
   * For a browser host serving another tab's pessimistic transaction (`txnRegionRequest`): sends
   * `request` to the leader of the region holding `locate` (with `keys`, ending with `regroup`
   * when that region no longer holds them all), following region errors, and tells how it ended.
   */
  txnRegionRequest(locate: Uint8Array, keys: readonly Uint8Array[] | undefined, request: TabTxnRequest, signal?: AbortSignal): Promise<RegionRequestOutcome<TxnAnswer<unknown>>> {
    checkKey(locate);
    if (!TAB_TXN_REQUEST_TYPES.includes(request?.type)) throw new PeerKVError('InvalidArgument', `a forwarded txn request is one of ${TAB_TXN_REQUEST_TYPES.join(', ')}`);
    return this.txnLayer().routing.send(locate, keys, (route, svc) => svc.handle({ ...request, regionId: route.region.id, epoch: route.region.epoch } as StoreRequest, signal ? { signal } : {}) as Promise<Result<TxnAnswer<unknown>>>, signal);
  }

  /** For a browser host: the region holding `key` and its leader, as this client routes it (`txnRoute`). */
  txnRoute(key: Uint8Array, signal?: AbortSignal): Promise<RegionRoute> {
    checkKey(key);
    return this.route(key, signal);
  }

  /**
   * A read's stale-read options, if it is one: `readTs` or `maxStaleness`; or, on the mvcc
   * model, `consistency: 'stale'`, which asks what the raw model gives it (the nearest replica's
   * own state, no leader, no quorum): a read at that replica's resolved ts (`maxStaleness:
   * Infinity`). Before, mvcc ignored it and read at a fresh TSO ts from the leader, which fails
   * without a quorum, the case a stale read is for (issue 12).
   */
  private staleReadOf(o: ReadOptions): StalenessOptions | undefined {
    if (o.readTs !== undefined || o.maxStaleness !== undefined) {
      if (!this.mvcc) throw new PeerKVError('InvalidArgument', 'reads at a timestamp (readTs, maxStaleness) need the mvcc data model');
      return o;
    }
    return this.mvcc && (o.consistency ?? this.consistency) === 'stale' ? { maxStaleness: Infinity } : undefined;
  }

  /**
   * A read-only view served by the nearest replica (TiKV's Stale Read; `txn/stale-reader.ts`):
   * at `readTs`, or at the nearest replica's resolved ts if at most `maxStaleness` ms old
   * (`Infinity`: whatever it has, with no leader or quorum). Its `ts` says as of when.
   */
  async staleSnapshot(o: { readTs?: bigint; maxStaleness?: number }): Promise<StaleSnapshot> {
    const { routing, resolver } = this.txnLayer();
    return new StaleSnapshot(new StaleReader(routing, resolver, o), checkKey);
  }

  /**
   * The change feed of a key range (`txn/watch.ts`, TiKV CDC): an async iterator of its
   * committed `put`s and `delete`s with commitTs above `fromTs` (in the options or the range,
   * `watch({ prefix, fromTs })`; a fresh TSO ts when absent),
   * in commitTs order per key, and `resolved` watermarks (every change with commitTs ≤ `ts` was
   * yielded before). It follows leader changes and splits without loss, delivers at least once
   * (deduplicated by key and commitTs), and throws `WatchLagged` (with the ts to resume from)
   * when the consumer falls more than `bufferEventsMax` items behind. `break`, `return()` or
   * `signal` stop it. Needs the mvcc data model; works over any `KvService` (local or remote).
   */
  watch(range: WatchRange, o: WatchOptions = {}): Watch {
    if (!this.mvcc) throw new PeerKVError('InvalidArgument', 'watch needs the mvcc data model');
    const { bounds, options } = watchArgs(range, o, prefixEnd);
    if (bounds.start.length > KEY_BYTES_MAX || bounds.end.length > KEY_BYTES_MAX) throw new PeerKVError('InvalidArgument', `watch: a bound is over ${KEY_BYTES_MAX} bytes`);
    return new Watch(this.txnLayer().routing, bounds, options);
  }

  /**
   * A read-only view at `ts` (a fresh TSO timestamp when absent). A `ts` below PD's GC safe
   * point is refused (`InvalidArgument`): the versions it would need may be gone.
   */
  async snapshot(ts?: bigint, o?: CallOptions): Promise<Snapshot>;
  /** `snapshot({ maxStaleness })` / `snapshot({ readTs })`: the nearest replica's view (`staleSnapshot`). */
  async snapshot(o: StalenessOptions): Promise<StaleSnapshot>;
  async snapshot(arg?: bigint | StalenessOptions, co: CallOptions = {}): Promise<Snapshot | StaleSnapshot> {
    if (typeof arg === 'object' && arg !== null) return this.staleSnapshot(arg);
    const ts = arg;
    const o = co;
    const { routing, resolver } = this.txnLayer();
    if (ts !== undefined) {
      if (typeof ts !== 'bigint' || ts <= 0n) throw new PeerKVError('InvalidArgument', 'a snapshot ts is a positive bigint TSO timestamp');
      const safePoint = this.pd.getGcSafePoint ? await this.pd.getGcSafePoint({ signal: o.signal }) : 0n;
      if (ts < safePoint) throw new PeerKVError('InvalidArgument', `snapshot ts ${ts} is below the GC safe point ${safePoint}`);
    }
    const at = ts ?? (await this.getTimestamp(o));
    const reader = new SnapshotReader(routing, resolver, at, [], this.replicaRead);
    // An old ts is registered with PD before its first read (`SafePointPassed` if GC passed it).
    if (ts !== undefined) await routing.gc?.ensureCovered(at);
    return new Snapshot(reader, VALUE_CHECKS);
  }

  /**
   * This client's lock resolver as a store's GC worker uses it (`StoreOptions.gcLockResolver`):
   * the expired locks a store cannot resolve with its own handlers (a primary on another store,
   * async commit) are resolved as a reader would, through their primaries (a writer's view: no
   * push, a live lock is left alone). Each call resolves at most `RESOLVE_LOCKS_PER_CALL_MAX`.
   */
  gcLockResolver(): GcLockResolver {
    return { resolveLocks: async (locks) => void (await this.txnLayer().resolver.resolve(locks, 0n)) };
  }

  private txnLayer(): { routing: TxnRouting; resolver: LockResolver; backend: TxnBackend } {
    if (this.closed) throw new PeerKVError('Closed', 'client is closed');
    if (this.txn) return this.txn;
    const routing: TxnRouting = {
      clock: this.clock,
      random: this.random,
      backoff: this.backoff,
      requestTimeoutMs: this.requestTimeoutMs,
      send: async (locate, keys, fn, signal) => {
        const r = await this.withRegionOutcome(locate, signal, 'linearizable', fitsKeys(keys), fn);
        // The caller cuts its keys again from the same cache and PD view, which can keep cutting
        // them the same way (a PD that has not heard of a split): pause first, so that costs
        // time and yields to the timers that end it, instead of spinning (sim --txn seed 2).
        if (r.kind === 'regroup') await this.pause(this.backoff.baseMs, signal);
        return r;
      },
      sendToReplica: async (locate, keys, fn, signal) => {
        const r = await this.withRegionOutcome(locate, signal, 'stale', fitsKeys(keys), fn);
        if (r.kind === 'regroup') await this.pause(this.backoff.baseMs, signal);
        return r;
      },
      askReplica: async (route, replicaRead, fn, skip) => {
        const peer = this.pickReplica(route, replicaRead, skip ?? new Set());
        const found = peer ? this.stores.store(peer.storeId) : undefined;
        if (!peer || !found) return undefined;
        const svc = this.trace === undefined ? found : tracedService(found, this.trace);
        const sentAt = this.clock.now();
        const answer = await answerOf(peer.storeId, () => fn(svc));
        if (!wellFormedAnswer(answer)) throw new PeerKVError('Unavailable', `store ${peer.storeId} answered a replica read of region ${route.region.id} with a malformed answer`);
        this.onReplicaAnswer(peer, answer, this.clock.now() - sentAt);
        return { peer, answer };
      },
      markBehind: (peer) => this.markBehind(peer, true),
      route: (key, signal) => this.route(key, signal),
      getTimestamp: (o) => this.getTimestamp(o),
      ...(this.pd.registerGcService ? { gc: new GcRegistration(this.pd, this.clientId, this.clock, this.random) } : {}),
    };
    const resolver = new LockResolver(routing);
    const backend: TxnBackend = {
      clock: this.clock,
      random: this.random,
      backoff: this.backoff,
      begin: async (signal) => new SnapshotReader(routing, resolver, await this.getTimestamp({ signal }), [], this.replicaRead).pinned(),
      commit: async (startTs, mutations, co) => {
        await routing.gc?.ensureCovered(startTs);
        const r = await new Committer(routing, resolver, startTs, mutations, co).commit();
        return { commitTs: r.commitTs, onePc: r.onePc };
      },
    };
    this.txn = { routing, resolver, backend };
    return this.txn;
  }

  /**
   * Stops the client: later calls fail `Closed`. The returned promise settles once the GC
   * registration (mvcc) is removed from PD, best effort within PD's call budget; a caller that
   * closes the transport next awaits it first (`@peerkv/node`'s `close` does), others need not.
   */
  close(): Promise<void> {
    this.closed = true;
    this.stopLeaderNews?.();
    this.offline?.close();
    this.tsoBatcher?.close();
    return this.txn?.routing.gc?.close() ?? Promise.resolve();
  }
}

/** What a write's retry loop ended with. */
type WriteOutcome =
  | { kind: 'applied'; ambiguous: false }
  | { kind: 'failed' | 'stale' | 'aborted'; ambiguous: boolean; lastError?: RegionError };

/** One request's retry loop's end: a value, or why not and whether an attempt may have applied. */
type RequestOutcome<T> = RegionRequestOutcome<T>;

type GroupOutcome = RequestOutcome<void>;

/** Ops of one logical write bound for one region. */
interface WriteGroup {
  route: RegionRoute;
  ops: KvOp[];
}

/** Whether every key the op touches is in `region`. */
function opInRegion(op: KvOp, region: RegionRoute['region']): boolean {
  if (op.type !== 'deleteRange') return regionContainsKey(region, op.key);
  if (!regionContainsKey(region, op.start)) return false;
  return region.endKey.length === 0 || compareKeys(op.end, region.endKey) <= 0;
}

/** A range delete cut to the part inside `region`. */
function clipRange(op: Extract<KvOp, { type: 'deleteRange' }>, region: RegionRoute['region']): KvOp {
  const start = compareKeys(region.startKey, op.start) > 0 ? region.startKey : op.start;
  const end = region.endKey.length > 0 && compareKeys(region.endKey, op.end) < 0 ? region.endKey : op.end;
  return { type: 'deleteRange', cf: DEFAULT_CF, start, end };
}

function isStatusSource(x: unknown): x is StatusSource {
  return typeof (x as Partial<StatusSource>).clusterStatus === 'function';
}

function busyMs(e: RegionError): number {
  return e.kind === 'ServerIsBusy' ? e.backoffMs : 0;
}

function positiveInt(name: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 1) throw new PeerKVError('InvalidArgument', `${name} must be a positive integer`);
  return v;
}

function checkKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length === 0) throw new PeerKVError('InvalidArgument', 'key must be a non-empty Uint8Array');
  if (key.length > KEY_BYTES_MAX) throw new PeerKVError('InvalidArgument', `key is ${key.length} bytes, over ${KEY_BYTES_MAX}`);
}

function checkValue(value: Uint8Array): void {
  if (!(value instanceof Uint8Array)) throw new PeerKVError('InvalidArgument', 'value must be a Uint8Array');
  if (value.length > VALUE_BYTES_MAX) throw new PeerKVError('InvalidArgument', `value is ${value.length} bytes, over ${VALUE_BYTES_MAX}`);
}

const VALUE_CHECKS = { key: checkKey, value: checkValue };

/** Whether a route still holds every one of `keys` (undefined: no keys to hold). */
function fitsKeys(keys: readonly Uint8Array[] | undefined): ((route: RegionRoute) => boolean) | undefined {
  return keys === undefined ? undefined : (route) => keys.every((k) => regionContainsKey(route.region, k));
}

/** The smallest key greater than `key`. */
function successor(key: Uint8Array): Uint8Array {
  const out = new Uint8Array(key.length + 1);
  out.set(key);
  return out;
}

function randomId(): string {
  const c = globalThis.crypto;
  if (c?.randomUUID) return c.randomUUID();
  const b = new Uint8Array(16);
  c.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/**
 * A store's answer, where an in-process store that closed under the request (`StoreClosedError`)
 * counts as one that never answered (`Timeout`, so a write is ambiguous), as a remote store's
 * lost link does (`RemoteKvService`).
 */
async function answerOf<T>(storeId: number, call: () => Promise<Result<T>>): Promise<Result<T>> {
  try {
    return await call();
  } catch (e) {
    if (!(e instanceof StoreClosedError)) throw e;
    return { ok: false, error: { kind: 'Timeout', what: `store ${storeId} closed under the request: ${e.message}` } };
  }
}

/** True when `r` has the shape of a `Result` (an answer from a store is not trusted to). */
function wellFormedAnswer(r: unknown): boolean {
  if (typeof r !== 'object' || r === null || typeof (r as { ok?: unknown }).ok !== 'boolean') return false;
  if ((r as { ok: boolean }).ok) return true;
  const e = (r as { error?: unknown }).error;
  return typeof e === 'object' && e !== null && typeof (e as { kind?: unknown }).kind === 'string';
}

function checkReplicaRead(v: unknown): ReplicaRead {
  if (!REPLICA_READS.includes(v as ReplicaRead)) throw new PeerKVError('InvalidArgument', `replicaRead is one of ${REPLICA_READS.join(', ')}, not ${String(v)}`);
  return v as ReplicaRead;
}
