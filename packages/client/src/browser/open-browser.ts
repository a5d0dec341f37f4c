/**
 * `openBrowser()` (also `PeerKV.open`): the page's handle on the profile's PeerKV. Tabs of one
 * profile elect the host with a Web Lock; the host runs the profile's store in a dedicated
 * Worker (comlink) and serves the other tabs' requests, which reach it over a
 * BroadcastChannel. By default the Worker runs one networked store (`NetHost`: IndexedDB,
 * BroadcastChannel to the profile's other stores, WebRTC through the signaling servers to
 * other browsers and servers, creating or joining the cluster); `embedded: true` runs an
 * `EmbeddedCluster` of N stores in the Worker instead. When the host tab goes away its lock is
 * released, the next tab in the lock queue reopens the store from IndexedDB and announces
 * itself, and every unanswered request is sent to it again. A host whose Worker or store fails
 * to open keeps the lock and tries again, backing off from `HOST_OPEN_RETRY_MS_MIN` to
 * `HOST_OPEN_RETRY_MS_MAX`; each failure ends the calls waiting for a host, in every tab, with
 * its error (a store that merely lacks a quorum opens: see `NetHost`).
 */
import type { ReplicaRead } from '../txn/routing.ts';
import type { KvPair } from '../services.ts';
import { DEVICE_LABEL, type ScheduleConfig } from '@peerkv/pd';
import type { ReadConsistency, StoreOptions } from '@peerkv/store';
import { CLIENT_WRITE_WINDOW_SEQS } from '@peerkv/store';
import { iceTransportPolicyProblem } from '@peerkv/transport';
import { BACKOFF_DEFAULT, REAL_CLOCK } from '../backoff.ts';
import { Snapshot, prefixEnd, runTransaction, type Transaction, type TransactionInfo, type TransactionOptions, type TxnBackend, type TxnReader } from '../txn/transaction.ts';
import { BrowserKvError, SCAN_ARRAY_PAIRS_MAX, changeOf, hookRequest, isWrite, kvRequest, tabRequest, toWireError, type BrowserStatus, type ClientCall, type ClientRequest, type ClientRequestType, type ClientResponseOf, type HookRequest, type Reply, type TabOnlyCall, type TabRequest, type TxnMutation, type WireError, type WriteRequest } from './protocol.ts';
import { PendingCalls, channelName, unwrapReply, type TabMessage } from './tab-channel.ts';
import { HostWorker, defaultWorker } from './host-worker.ts';
import { tabTxnLocking } from './tab-txn-routing.ts';
import { deviceId } from './device-id.ts';
import type { WorkerOpenOptions } from './worker-api.ts';
import { StampWindow } from './slots.ts';
import { OFFLINE_QUEUE_BYTES_MAX_DEFAULT, OFFLINE_QUEUE_TXNS_MAX_DEFAULT, type OfflineQueueStore } from '../txn/offline-queue.ts';
import { OFFLINE_DECIDE_MS_DEFAULT, OfflineTxns, type Mutator, type OfflineTxnOptions, type PendingTxn, type QueuedTxnHandle } from '../txn/offline-txns.ts';
import { IdbOfflineQueueStore, offlineQueueDatabaseName } from './offline-queue-idb.ts';
import { tabOfflineBackend } from './tab-offline.ts';
import { TabWatch, type TabWatchOptions } from './tab-watch.ts';
import { TabSubscriptions } from './tab-subscribe.ts';
import { watchBounds, type WatchRange } from '../txn/watch.ts';

/** Default time a request may wait for a host and its answer, ms. */
export const REQUEST_DEADLINE_MS_DEFAULT = 60_000;
/** Default period of the "who hosts?" probe and deadline check while requests wait, ms. */
export const HOST_PROBE_MS_DEFAULT = 500;

/** Secret of a cluster opened without one: enough for the stores of one profile, which trust the origin. */
const LOCAL_SECRET_PREFIX = 'peerkv-local-secret:';
/** PBKDF2 iterations of that secret: anyone can compute it, so stretching it protects nothing. */
const LOCAL_SECRET_PBKDF2_ITERATIONS = 1;
/** Default wait, when a host leaves, for its store's leaderships to move to other stores, ms. */
export const DRAIN_GRACE_MS_DEFAULT = 500;
/** After this long hidden, a host marks its store draining so PD moves leaders away, ms. */
export const HIDDEN_DRAIN_MS_DEFAULT = 60_000;
/** First wait before a host tab opens its Worker and store again after a failed open, ms (doubles). */
export const HOST_OPEN_RETRY_MS_MIN = 1000;
/** Longest wait between two attempts of a host tab to open its Worker and store, ms. */
export const HOST_OPEN_RETRY_MS_MAX = 30_000;
/** The browser runtime's data model unless `OpenBrowserOptions.dataModel` says otherwise. */
export const BROWSER_DATA_MODEL_DEFAULT = 'mvcc' as const;

/** How to open the profile's PeerKV. Only the host tab's options shape the store. */
export interface OpenBrowserOptions {
  /** Cluster name (signaling topic, lock, channel and database names). Default `default`. */
  cluster?: string;
  /**
   * Shared secret of the cluster: seals signaling and authenticates every link. Required with
   * `signaling`; without it only stores of this profile can join.
   */
  secret?: string;
  /** Signaling server URLs (`ws://…`), through which stores in other browsers and devices are found. */
  signaling?: string[];
  /** STUN/TURN servers for WebRTC (default none: host candidates only). */
  iceServers?: RTCIceServer[];
  /**
   * `relay`: TURN relay candidates only, so every data channel of this profile's store goes
   * through a `turn:`/`turns:` server in `iceServers` and no host address reaches a peer
   * (`RTCConfiguration.iceTransportPolicy`). Default `all`.
   */
  iceTransportPolicy?: 'all' | 'relay';
  /**
   * This profile's store (database `peerkv:<cluster>:<storeName>`, its own host election).
   * Default `store`; demos and tests start separate stores in one page with distinct names.
   */
  storeName?: string;
  /** Labels reported to PD (placement rules). */
  labels?: Record<string, string>;
  /** Time an empty store listens for members before creating the cluster, ms (default 3000). */
  bootstrapProbeMs?: number;
  /** Run an embedded cluster of `stores` stores in the Worker, with no network (offline, demos). */
  embedded?: boolean;
  /** Stores of the embedded cluster. Default 3. */
  stores?: number;
  /** Enables stop/start/partition/slow-disk/split (demos and tests). Off by default. */
  testHooks?: boolean;
  /** Store settings passed to the Worker (structured-cloneable values only). */
  store?: Partial<Pick<StoreOptions, 'tickIntervalMs' | 'durability' | 'hibernateAfterTicks' | 'requestTimeoutMs' | 'logGcThresholdEntries' | 'heartbeatIntervalTicks'>>;
  /** Scheduling settings written to PD if this store creates the cluster (networked, or embedded mvcc). */
  schedule?: Partial<ScheduleConfig>;
  /** A host hidden this long marks its store draining, ms (default 60 s). */
  hiddenDrainMs?: number;
  /** When a host leaves, how long it waits for its store's leaderships to move, ms (default 500). */
  drainGraceMs?: number;
  /** How long one call may wait for a host and its answer, ms. */
  requestDeadlineMs?: number;
  /** Period of the host probe while calls wait, ms. */
  hostProbeMs?: number;
  /** Makes the host's Worker (tests may substitute one). */
  createWorker?: () => Worker;
  /**
   * Start the Worker while waiting for the lock (default true): it loads its code but opens
   * nothing until this tab is elected, so a failover skips the Worker's start-up.
   */
  standbyWorker?: boolean;
  /** The lock manager of the election; `navigator.locks` when absent (tests inject one). */
  locks?: ElectionLocks;
  /**
   * The data model of the cluster's stores (default `BROWSER_DATA_MODEL_DEFAULT`, `mvcc`): every
   * read and write is transactional and `transaction()` works; the embedded runtime then runs PD
   * in its Worker for timestamps. `raw` (keys as they are, writes deduplicated by tab stamps, no
   * transactions) is kept as the benchmarks' baseline and for stores created raw. Every store of a
   * cluster must use the same; a store keeps the one it was created with.
   */
  dataModel?: 'raw' | 'mvcc';
  /**
   * Where transactions queued while the quorum is away are kept (default: IndexedDB database
   * `peerkv:<cluster>:<storeName>:offline-queue`, shared by the profile's tabs; one drains at a
   * time under the Web Lock `peerkv:<cluster>:<storeName>:offline-queue`).
   */
  offlineQueue?: OfflineQueueStore;
  /** How long a queueable transaction's start ts and reads may take before it is queued, ms (default `OFFLINE_DECIDE_MS_DEFAULT`). */
  offlineDecideMs?: number;
  /** Transactions the offline queue holds at most (default `OFFLINE_QUEUE_TXNS_MAX_DEFAULT`). */
  offlineQueueTxnsMax?: number;
  /** Bytes the offline queue holds at most (default `OFFLINE_QUEUE_BYTES_MAX_DEFAULT`, 16 MiB). */
  offlineQueueBytesMax?: number;
  /**
   * The mvcc model: which replica serves reads and transactions' reads (default `leader`).
   * Networked runtime: `closest` reads this browser's own store's replica after one small round
   * trip to the leader, `follower` a follower's. Embedded runtime: `follower` a replica in the
   * Worker that does not lead, `closest` the one with the lowest measured round trip. See README
   * "Read consistency"; the raw model's embedded runtime refuses anything but `leader`.
   */
  replicaRead?: ReplicaRead;
}

/** The part of the Web Locks API the election uses (an exclusive lock, abortable while queued). */
export interface ElectionLocks {
  request(name: string, options: { signal?: AbortSignal }, callback: () => Promise<unknown>): Promise<unknown>;
}

/** Options of a read. */
export interface BrowserReadOptions {
  consistency?: ReadConsistency;
}

/** Options of `scan`: pairs in [start, end), at most `limit` (≤ SCAN_ARRAY_PAIRS_MAX). */
export interface BrowserScanOptions extends BrowserReadOptions {
  start?: Uint8Array;
  end?: Uint8Array;
  limit?: number;
  reverse?: boolean;
}

function randomTabId(): string {
  return globalThis.crypto.randomUUID();
}

/** The page's PeerKV handle; see the module header. */
export class BrowserPeerKV {
  /** This tab's id in the election. */
  readonly tabId = randomTabId();
  readonly cluster: string;
  /** The data model the host opens its store(s) with. */
  readonly dataModel: 'raw' | 'mvcc';
  /** This profile's store name (its own election and tab channel). */
  readonly storeName: string;
  private readonly channel: BroadcastChannel;
  private readonly calls: PendingCalls;
  /** `subscribe`'s listeners and the change feed behind them (`tab-subscribe.ts`). */
  private readonly subscriptions: TabSubscriptions;
  private readonly lockAbort = new AbortController();
  private readonly deadlineMs: number;
  private hostTab: string | undefined;
  private hostSide: HostWorker | undefined;
  /** A started Worker that has opened nothing (see `standbyWorker`). */
  private standby: Worker | undefined;
  private releaseLock: (() => void) | undefined;
  private draining = false;
  /** The offline queue (created on first use). */
  private offline: OfflineTxns | undefined;
  /** The lock is held and the Worker is opening. */
  private opening = false;
  private closed = false;
  private hostChanges = 0;
  /** This tab's pessimistic transactions' routing through the host (made at the first transaction). */
  private locking: TxnReader['locking'];
  /** From this tab's lock grant to serving, ms (0 until it hosts). */
  private takeoverMs = 0;
  /** This tab's write numbers: within the stores' per-client window above the ack floor. */
  private readonly stamps = new StampWindow(CLIENT_WRITE_WINDOW_SEQS);
  private readonly probe: ReturnType<typeof setInterval>;
  private readonly onPageHide = (): void => this.leave();
  /** Back from the back/forward cache after leaving: stand for election again. */
  private readonly onPageShow = (ev: PageTransitionEvent): void => {
    if (ev.persisted && this.draining && !this.closed) this.rejoin();
  };

  constructor(private readonly o: OpenBrowserOptions) {
    this.cluster = o.cluster ?? 'default';
    this.dataModel = o.dataModel ?? BROWSER_DATA_MODEL_DEFAULT;
    this.storeName = o.storeName ?? 'store';
    this.subscriptions = new TabSubscriptions(this.dataModel === 'mvcc' ? (wo) => this.watch({ start: new Uint8Array() }, wo) : undefined);
    if ((o.signaling?.length ?? 0) > 0 && !o.secret) throw new BrowserKvError('InvalidArgument', 'a cluster reached through signaling needs a secret');
    const policyProblem = iceTransportPolicyProblem(o.iceServers ?? [], o.iceTransportPolicy);
    if (policyProblem) throw new BrowserKvError('InvalidArgument', policyProblem);
    this.deadlineMs = o.requestDeadlineMs ?? REQUEST_DEADLINE_MS_DEFAULT;
    this.channel = new BroadcastChannel(channelName(this.cluster, this.storeName));
    this.calls = new PendingCalls(this.tabId, (m) => this.channel.postMessage(m), () => performance.now());
    this.channel.onmessage = (ev: MessageEvent<TabMessage>) => this.onMessage(ev.data);
    this.probe = setInterval(() => this.probeHost(), o.hostProbeMs ?? HOST_PROBE_MS_DEFAULT);
    globalThis.addEventListener?.('pagehide', this.onPageHide);
    globalThis.addEventListener?.('pageshow', this.onPageShow);
    globalThis.document?.addEventListener?.('visibilitychange', this.onVisibility);
  }

  /** A host hidden for `hiddenDrainMs` drains its store; visible again, it serves again. */
  private readonly onVisibility = (): void => {
    if (this.hiddenTimer !== undefined) clearTimeout(this.hiddenTimer);
    this.hiddenTimer = undefined;
    if (globalThis.document?.visibilityState === 'hidden') {
      this.hiddenTimer = setTimeout(() => this.hostSide?.setDraining(true), this.o.hiddenDrainMs ?? HIDDEN_DRAIN_MS_DEFAULT);
    } else {
      this.hostSide?.setDraining(false);
    }
  };
  private hiddenTimer: ReturnType<typeof setTimeout> | undefined;

  /** Joins the election (and asks who hosts now). */
  start(): void {
    const locks = this.o.locks ?? globalThis.navigator?.locks;
    if (!locks) throw new BrowserKvError('Unavailable', 'Web Locks are not available in this context');
    this.channel.postMessage({ t: 'who' } satisfies TabMessage);
    if (this.o.standbyWorker ?? true) this.standby ??= this.createWorker();
    locks
      .request(`peerkv:${this.cluster}:${this.storeName}:host`, { signal: this.lockAbort.signal }, async () => {
        // Hold the lock while hosting; give it back at once if this tab left while opening.
        if (await this.hostWithRetries()) await new Promise<void>((r) => (this.releaseLock = r));
      })
      .catch((e: unknown) => this.hostFailed(e));
  }

  // ------------------------------------------------------------------ the API

  /** The value of `key`, or undefined (linearizable unless `o.consistency` says otherwise). */
  get(key: Uint8Array, o: BrowserReadOptions = {}): Promise<Uint8Array | undefined> {
    return this.client({ type: 'get', key, consistency: o.consistency });
  }

  /** The values of `keys`, in order; undefined where missing. */
  batchGet(keys: Uint8Array[], o: BrowserReadOptions = {}): Promise<(Uint8Array | undefined)[]> {
    return this.client({ type: 'batchGet', keys, consistency: o.consistency });
  }

  /** Writes `key` = `value`; resolves once applied on a majority of the stores. */
  put(key: Uint8Array, value: Uint8Array): Promise<void> {
    return this.client({ type: 'put', key, value });
  }

  /** Deletes `key`. */
  delete(key: Uint8Array): Promise<void> {
    return this.client({ type: 'delete', key });
  }

  /** Writes many pairs: atomic per region, not across regions. */
  batchPut(pairs: KvPair[]): Promise<void> {
    return this.client({ type: 'batchPut', pairs });
  }

  /** Deletes many keys: atomic per region, not across regions. */
  batchDelete(keys: Uint8Array[]): Promise<void> {
    return this.client({ type: 'batchDelete', keys });
  }

  /** Deletes every key in [start, end). */
  deleteRange(start: Uint8Array, end: Uint8Array): Promise<void> {
    return this.client({ type: 'deleteRange', start, end });
  }

  /** Pairs in [start, end) as an array (at most SCAN_ARRAY_PAIRS_MAX). */
  scan(o: BrowserScanOptions = {}): Promise<KvPair[]> {
    return this.client({ type: 'scan', ...o });
  }

  /** A fresh timestamp from PD's TSO, batched with every other caller of this profile's store (`TsoBatcher`). */
  getTimestamp(): Promise<bigint> {
    return this.client({ type: 'getTimestamp' });
  }

  /**
   * Runs `fn` as a snapshot-isolation transaction in this tab (the same rules as
   * `PeerKV.transaction`): its reads at its start ts and its commit are requests to the host;
   * on `WriteConflict`/`TxnAborted` `fn` runs again with a new start ts. Needs `dataModel: 'mvcc'`.
   */
  async transaction<T>(fn: (tx: Transaction) => Promise<T>, o?: TransactionOptions): Promise<T>;
  /**
   * `offline: 'queue'` (as `PeerKV`'s, `txn/offline-txns.ts`): a normal transaction while the
   * quorum answers; else `fn` runs against the host store's replica at its resolved ts and the
   * transaction is queued in IndexedDB, to commit when the quorum is back. Returns a handle.
   */
  async transaction<T>(fn: (tx: Transaction) => Promise<T>, o: OfflineTxnOptions): Promise<QueuedTxnHandle<T>>;
  async transaction<T>(fn: (tx: Transaction) => Promise<T>, o: TransactionOptions | OfflineTxnOptions = {}): Promise<T | QueuedTxnHandle<T>> {
    if ('offline' in o && o.offline !== undefined) return this.offlineQueue().transaction(fn, o);
    return (await this.transactionWithInfo(fn, o)).value;
  }

  /** Registers a transaction function by name (`mutate`; re-runs of queued transactions after a conflict, also after a reload). */
  registerMutator<A, T>(name: string, fn: Mutator<A, T>): void {
    this.offlineQueue().registerMutator(name, fn);
  }

  /** Runs the mutator `name` with `args` (JSON values) as a transaction queued while the quorum is away. */
  mutate<A, T = unknown>(name: string, args: A, o: Partial<OfflineTxnOptions> = {}): Promise<QueuedTxnHandle<T>> {
    return this.offlineQueue().mutate<A, T>(name, args, { ...o, offline: 'queue' });
  }

  /** The transactions queued in this profile (every tab's), in queue order, rejected ones until dismissed. */
  pending(): Promise<PendingTxn[]> {
    return this.offlineQueue().pending();
  }

  /** The outcome of the queued transaction `id` (also one queued before a reload, or by another tab). */
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

  private offlineQueue(): OfflineTxns {
    if (this.offline) return this.offline;
    if (this.dataModel !== 'mvcc') throw new BrowserKvError('InvalidArgument', 'queued offline transactions need the mvcc data model');
    const locks = this.o.locks ?? globalThis.navigator?.locks;
    const lockName = `peerkv:${this.cluster}:${this.storeName}:offline-queue`;
    this.offline = new OfflineTxns(tabOfflineBackend(this.clientCall, this.txnBackend()), TAB_VALUE_CHECKS, {
      store: this.o.offlineQueue ?? new IdbOfflineQueueStore(offlineQueueDatabaseName(this.cluster, this.storeName)),
      decideMs: this.o.offlineDecideMs ?? OFFLINE_DECIDE_MS_DEFAULT,
      txnsMax: this.o.offlineQueueTxnsMax ?? OFFLINE_QUEUE_TXNS_MAX_DEFAULT,
      bytesMax: this.o.offlineQueueBytesMax ?? OFFLINE_QUEUE_BYTES_MAX_DEFAULT,
      ...(locks ? { exclusive: (drain: () => Promise<void>) => locks.request(lockName, { signal: this.lockAbort.signal }, drain).then(() => undefined) } : {}),
    });
    return this.offline;
  }

  /** `transaction`, also telling the start and commit ts and the number of runs. */
  transactionWithInfo<T>(fn: (tx: Transaction) => Promise<T>, o: TransactionOptions = {}): Promise<{ value: T; info: TransactionInfo }> {
    return runTransaction(this.txnBackend(), TAB_VALUE_CHECKS, fn, o);
  }

  /**
   * Pairs of [start, end) from this profile's own store at its resolved ts (mvcc): served with
   * no leader and no quorum, so it answers while the other devices are away ("offline, as of
   * `ts`"). `maxStaleness` ms at most (default `Infinity`: whatever the store has); `ts` is the
   * TSO timestamp the data is as of (its physical part is ms since the epoch).
   */
  staleScan(o: BrowserScanOptions & { maxStaleness?: number; readTs?: bigint } = {}): Promise<{ ts: bigint | undefined; pairs: KvPair[] }> {
    const { consistency: _c, reverse, ...rest } = o;
    if (reverse) return Promise.reject(new BrowserKvError('InvalidArgument', 'a stale scan reads forward'));
    const req = { type: 'staleScan' as const, ...rest, ...(rest.maxStaleness === Infinity ? { maxStaleness: undefined } : {}) };
    return this.client(req);
  }

  /**
   * The change feed of `range` (`{ prefix }` or `{ start, end }`), as `PeerKV.watch`: the
   * committed puts and deletes with commitTs above `fromTs` (a fresh ts when absent), in
   * commitTs order per key, and `resolved` watermarks (every change with commitTs ≤ `ts` was
   * yielded before). It runs on the host's client (which follows leader changes and splits) and
   * resumes from its last watermark when the host tab changes (`tab-watch.ts`). At least once,
   * deduplicated by (key, commitTs). `break`, `return()` or `signal` stop it. Needs mvcc.
   */
  watch(range: WatchRange, o: TabWatchOptions = {}): TabWatch {
    if (this.dataModel !== 'mvcc') throw new BrowserKvError('InvalidArgument', 'watch needs the mvcc data model');
    const bounds = watchBounds(range, prefixEnd);
    const request: TabOnlyCall = (req) => this.request(tabRequest(req));
    return new TabWatch(request, bounds, o);
  }

  /** A read-only view at `ts` (a fresh timestamp when absent); refused below PD's GC safe point. */
  async snapshot(ts?: bigint): Promise<Snapshot> {
    const at = ts ?? (await this.getTimestamp());
    return new Snapshot(this.reader(at), TAB_VALUE_CHECKS);
  }

  private reader(ts: bigint): TxnReader {
    const request = this.clientCall;
    // A pessimistic transaction's locks go through the host (`tab-txn-routing.ts`).
    this.locking ??= tabTxnLocking({ request, getTimestamp: () => this.getTimestamp() });
    return {
      ts,
      locking: this.locking,
      get: (key) => request({ type: 'snapshotGet', ts, key }),
      async *scan(start, end, limit) {
        let cursor = start;
        let remaining = limit;
        while (remaining > 0) {
          const page = Math.min(remaining, SCAN_ARRAY_PAIRS_MAX);
          const pairs = await request({ type: 'snapshotScan', ts, start: cursor, ...(end.length > 0 ? { end } : {}), limit: page });
          for (const p of pairs) yield p;
          remaining -= pairs.length;
          if (pairs.length < page) return;
          const last = pairs[pairs.length - 1].key;
          cursor = new Uint8Array(last.length + 1);
          cursor.set(last);
        }
      },
    };
  }

  private txnBackend(): TxnBackend {
    return {
      clock: REAL_CLOCK,
      random: Math.random,
      backoff: BACKOFF_DEFAULT,
      begin: async () => this.reader(await this.getTimestamp()),
      commit: (startTs, mutations, o) =>
        this.client({
          type: 'commitTxn',
          startTs,
          mutations: mutations as TxnMutation[],
          lockTtlMs: o.lockTtlMs,
          onePc: o.onePc,
          asyncCommit: o.asyncCommit,
          beganAgoMs: Math.max(0, Math.round(REAL_CLOCK.now() - o.beganAtMs)),
          ...(o.forUpdateTs !== undefined ? { forUpdateTs: o.forUpdateTs } : {}),
        }),
    };
  }

  /** The cluster, the host and the profile's storage, as the host sees them. */
  async status(): Promise<BrowserStatus> {
    const s = await this.request<BrowserStatus>(tabRequest({ type: 'status' }));
    return { ...s, isHost: s.hostTabId === this.tabId, hostChanges: this.hostChanges };
  }

  /** Test hook: stops store `storeId` as if it crashed (its IndexedDB stays). */
  stopStore(storeId: number): Promise<void> {
    return this.hook({ type: 'stopStore', storeId });
  }

  /** Test hook: restarts a stopped store from its IndexedDB. */
  startStore(storeId: number): Promise<void> {
    return this.hook({ type: 'startStore', storeId });
  }

  /**
   * Test hook: cuts store `storeId` off from the others (networked runtime: the host's own id
   * cuts its store off from every member; another id cuts the link to that store only).
   */
  partitionStore(storeId: number): Promise<void> {
    return this.hook({ type: 'partitionStore', storeId });
  }

  /** Test hook (networked runtime): cuts the host's store off from `storeIds` inside its transport. */
  partition(storeIds: number[]): Promise<void> {
    return this.hook({ type: 'partition', storeIds });
  }

  /** Test hook (networked runtime): delays every engine write of the host's store by `delayMs`. */
  slowDisk(delayMs: number): Promise<void> {
    return this.hook({ type: 'slowDisk', delayMs });
  }

  /** Test hook: heals every partition. */
  heal(): Promise<void> {
    return this.hook({ type: 'heal' });
  }

  /** Test hook: splits the region holding `splitKey` at it. */
  splitRegion(splitKey: Uint8Array): Promise<{ newRegionId: number }> {
    return this.hook({ type: 'splitRegion', splitKey });
  }

  /**
   * Calls `fn` after changes; returns the unsubscribe. The mvcc model: once per commit, from any
   * tab of any device (`fn('commitTxn')`; a thin layer over `watch` of the whole key space,
   * which runs while anyone listens; this profile's own commits are told at once, others once
   * the feed's watermark passes them, about a resolved-ts interval later). The raw model (no
   * change feed): after every successful write of this profile's tabs, with its op.
   */
  subscribe(fn: (op: ClientRequestType) => void): () => void {
    return this.subscriptions.add(fn);
  }

  /** True while this tab hosts the Worker. */
  get isHost(): boolean {
    return this.hostSide !== undefined && !this.draining;
  }

  /** Leaves: a host hands over (its lock goes to the next tab), pending calls fail `Closed`. */
  close(): void {
    if (this.closed) return;
    this.leave();
    this.closed = true;
    clearInterval(this.probe);
    globalThis.removeEventListener?.('pagehide', this.onPageHide);
    globalThis.removeEventListener?.('pageshow', this.onPageShow);
    globalThis.document?.removeEventListener?.('visibilitychange', this.onVisibility);
    if (this.hiddenTimer !== undefined) clearTimeout(this.hiddenTimer);
    this.lockAbort.abort();
    this.offline?.close();
    this.subscriptions.close();
    this.standby?.terminate();
    this.standby = undefined;
    this.calls.failAll('Closed');
    this.channel.close();
  }

  // ------------------------------------------------------------------ routing a call

  /** `client` as a function value. */
  private readonly clientCall: ClientCall = (req) => this.client(req);

  /** Sends a client request (table `kv`); a write goes as a transaction (mvcc) or stamped (raw). */
  private async client<Q extends ClientRequest>(req: Q): Promise<ClientResponseOf<Q['type']>> {
    type T = ClientResponseOf<Q['type']>;
    if (!isWrite(req)) return this.request<T>(kvRequest(req));
    if (this.closed) throw new BrowserKvError('Closed', 'this PeerKV handle is closed');
    // The mvcc model: a write is a transaction, at most once by its start ts (a resend of its
    // commit to another host finds its own locks), not by a stamp.
    if (this.dataModel === 'mvcc') return (await this.transaction((tx) => writeInTransaction(tx, req))) as T;
    // Every try of this write, on any host, carries the same stamp; the stores apply it once.
    // Its ack floor tells them which earlier writes of this tab are finished (their records go).
    const seq = await this.stamps.begin();
    try {
      return await this.request<T>(kvRequest({ ...req, stamp: { clientId: this.tabId, seq, ackFloor: this.stamps.ackFloor() } }));
    } finally {
      this.stamps.end(seq);
    }
  }

  /** Sends a test hook (table `hook`). */
  private hook<T>(req: HookRequest): Promise<T> {
    return this.request<T>(hookRequest(req));
  }

  /** Sends `req` to the host (this tab when it hosts) and unwraps its reply. */
  private async request<T>(req: TabRequest): Promise<T> {
    if (this.closed) throw new BrowserKvError('Closed', 'this PeerKV handle is closed');
    return unwrapReply<T>(await this.send(req));
  }

  private send(req: TabRequest): Promise<Reply> {
    return this.isHost ? this.serve(req) : this.calls.add(req, this.hostTab, this.deadlineMs);
  }

  /** Serves a request on this (host) tab's Worker; announces successful writes. */
  private async serve(req: TabRequest): Promise<Reply> {
    const reply = await this.hostSide!.call(req, () => ({ hostTabId: this.tabId, draining: this.draining, hostChanges: this.hostChanges, takeoverMs: this.takeoverMs }));
    // From another tab `req` may be anything; a reply is ok only once the Worker checked it.
    const change = reply.ok ? changeOf(req) : undefined;
    if (reply.ok && change !== undefined) {
      const commitTs = commitTsOf(change.type, reply.value);
      this.channel.postMessage({ t: 'changed', op: change.type, ...(commitTs !== undefined ? { commitTs } : {}) } satisfies TabMessage);
      this.subscriptions.local(change.type, commitTs);
    }
    return reply;
  }

  private onMessage(m: TabMessage): void {
    switch (m.t) {
      case 'req':
        // A host that left drops its answers: the caller sends the request again to the next host.
        if (m.to === this.tabId && this.isHost) void this.serve(m.req).then((reply) => this.draining || this.post({ t: 'rep', id: m.id, to: m.from, reply }));
        return;
      case 'rep':
        if (m.to === this.tabId) this.calls.settle(m.id, m.reply);
        return;
      case 'host':
        this.onHost(m.hostId);
        return;
      case 'who':
        if (this.isHost) this.post({ t: 'host', hostId: this.tabId });
        return;
      case 'bye':
        if (this.hostTab === m.hostId) this.hostTab = undefined;
        return;
      case 'openFailed':
        // The tab holding the lock could not open the store (it tries again): calls waiting
        // for a host end with its error rather than waiting out their deadline.
        if (!this.isHost && m.hostId !== this.tabId) this.calls.failAll(m.error);
        return;
      case 'changed':
        this.subscriptions.local(m.op, typeof m.commitTs === 'bigint' ? m.commitTs : undefined);
        return;
    }
  }

  private onHost(hostId: string): void {
    if (this.hostTab !== hostId) this.hostChanges++;
    this.hostTab = hostId;
    this.calls.resendTo(hostId);
  }

  private post(m: TabMessage): void {
    if (!this.closed) this.channel.postMessage(m);
  }

  private probeHost(): void {
    this.calls.expire();
    if (this.calls.size > 0 && !this.hostTab && !this.isHost) this.post({ t: 'who' });
  }

  // ------------------------------------------------------------------ hosting

  /**
   * Runs with the lock held: opens the Worker and the cluster, then serves; false if this tab
   * left meanwhile. A failed open is tried again (bad options are not), backing off between
   * `HOST_OPEN_RETRY_MS_MIN` and `HOST_OPEN_RETRY_MS_MAX`, for as long as this tab stays.
   */
  private async hostWithRetries(): Promise<boolean> {
    if (this.closed) return false;
    this.opening = true;
    const granted = performance.now();
    let delayMs = HOST_OPEN_RETRY_MS_MIN;
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          return await this.openHost(granted);
        } catch (e) {
          if (this.closed || this.draining || (e instanceof BrowserKvError && e.kind === 'InvalidArgument')) throw e;
          this.openFailed(toWireError(e), attempt, delayMs);
          await new Promise((r) => setTimeout(r, delayMs));
          if (this.closed || this.draining) return false;
          delayMs = Math.min(delayMs * 2, HOST_OPEN_RETRY_MS_MAX);
        }
      }
    } finally {
      this.opening = false;
    }
  }

  /** Ends the calls waiting for a host, in this tab and the others, with the open's error. */
  private openFailed(cause: WireError, attempt: number, retryInMs: number): void {
    const error: WireError = { kind: cause.kind, message: `${cause.message} (attempt ${attempt}; trying again in ${retryInMs} ms)` };
    this.post({ t: 'openFailed', hostId: this.tabId, error });
    for (const p of this.calls.drainAll()) p.resolve({ ok: false, error });
  }

  private async openHost(granted: number): Promise<boolean> {
    const worker = this.standby ?? this.createWorker();
    this.standby = undefined;
    const host = await HostWorker.open(this.workerOptions(), worker);
    if (this.closed || this.draining) {
      host.terminate();
      return false;
    }
    this.hostSide = host;
    this.takeoverMs = Math.round(performance.now() - granted);
    this.hostTab = this.tabId;
    this.hostChanges++;
    this.post({ t: 'host', hostId: this.tabId });
    for (const p of this.calls.drainAll()) void this.serve(p.req).then(p.resolve);
    return true;
  }

  /** What the Worker opens: the networked store by default, the embedded cluster on request. */
  private workerOptions(): WorkerOpenOptions {
    const { stores, testHooks, store, embedded } = this.o;
    if (embedded) {
      return {
        mode: 'embedded',
        cluster: this.cluster,
        storeName: this.storeName,
        stores,
        testHooks,
        store,
        dataModel: this.dataModel,
        ...(this.o.schedule ? { schedule: this.o.schedule } : {}),
        ...(this.o.replicaRead ? { replicaRead: this.o.replicaRead } : {}),
      };
    }
    const signaling = this.o.signaling ?? [];
    const device = deviceId();
    return {
      mode: 'net',
      cluster: this.cluster,
      secret: this.o.secret ?? `${LOCAL_SECRET_PREFIX}${this.cluster}`,
      // The built-in secret is no secret (the cluster name gives it): no stretching.
      ...(this.o.secret === undefined ? { pbkdf2Iterations: LOCAL_SECRET_PBKDF2_ITERATIONS } : {}),
      signaling,
      storeName: this.storeName,
      address: `browser:${device}/${this.storeName}`,
      ...(this.o.iceServers ? { iceServers: this.o.iceServers } : {}),
      ...(this.o.iceTransportPolicy ? { iceTransportPolicy: this.o.iceTransportPolicy } : {}),
      // The profile is the device PD isolates replicas by (the Worker adds the engine label).
      labels: { [DEVICE_LABEL]: device, ...this.o.labels },
      ...(this.o.schedule ? { schedule: this.o.schedule } : {}),
      ...(this.o.bootstrapProbeMs !== undefined ? { bootstrapProbeMs: this.o.bootstrapProbeMs } : {}),
      ...(store ? { store } : {}),
      dataModel: this.dataModel,
      ...(this.o.replicaRead ? { replicaRead: this.o.replicaRead } : {}),
      testHooks,
    };
  }

  private createWorker(): Worker {
    return (this.o.createWorker ?? defaultWorker)();
  }

  private rejoin(): void {
    this.draining = false;
    this.start();
  }

  private hostFailed(e: unknown): void {
    if (this.closed || (e instanceof DOMException && e.name === 'AbortError')) return;
    const error = e instanceof BrowserKvError ? e : new BrowserKvError('Internal', String(e));
    for (const p of this.calls.drainAll()) p.resolve({ ok: false, error: { kind: error.kind, message: error.message } });
  }

  /**
   * pagehide or close: a host drains (stops answering, says bye, hands its store's
   * leaderships to other stores within `drainGraceMs`), ends its Worker so no two Workers ever
   * drive the same store, then releases the lock to the next tab.
   */
  private leave(): void {
    const side = this.hostSide;
    if (this.opening) this.draining = true;
    if (!side || this.draining) return;
    this.draining = true;
    this.post({ t: 'bye', hostId: this.tabId });
    this.hostSide = undefined;
    this.hostTab = undefined;
    const release = this.releaseLock;
    void side.retire(this.o.drainGraceMs ?? DRAIN_GRACE_MS_DEFAULT).finally(() => release?.());
  }
}

/**
 * Opens the profile's PeerKV (or attaches to the tab hosting it). With no options it opens
 * the profile's store of cluster `default` on IndexedDB (creating the cluster, or reopening
 * it after a restart); with `{ cluster, secret, signaling }` the store also finds the
 * cluster's stores in other browsers and devices, and joins them.
 */
export async function openBrowser(o: OpenBrowserOptions = {}): Promise<BrowserPeerKV> {
  const kv = new BrowserPeerKV(o);
  kv.start();
  return kv;
}

/** `PeerKV.open({ cluster, secret, signaling })`: the same as `openBrowser`. */
export const PeerKV = { open: openBrowser } as const;

/** Key and value checks of a tab's transaction (the host checks again). */
const TAB_VALUE_CHECKS = {
  key(key: Uint8Array): void {
    if (!(key instanceof Uint8Array) || key.length === 0) throw new BrowserKvError('InvalidArgument', 'key must be a non-empty Uint8Array');
  },
  value(value: Uint8Array): void {
    if (!(value instanceof Uint8Array)) throw new BrowserKvError('InvalidArgument', 'value must be a Uint8Array');
  },
};

/** A tab's write, as the writes of a transaction. */
async function writeInTransaction(tx: Transaction, req: WriteRequest): Promise<void> {
  switch (req.type) {
    case 'put':
      return tx.put(req.key, req.value);
    case 'delete':
      return tx.delete(req.key);
    case 'batchPut':
      for (const p of req.pairs) tx.put(p.key, p.value);
      return;
    case 'batchDelete':
      for (const k of req.keys) tx.delete(k);
      return;
    case 'deleteRange':
      for await (const p of tx.scan({ start: req.start, end: req.end })) tx.delete(p.key);
      return;
  }
}

/** The commit ts a change's reply names (a transaction's commit), if any. */
function commitTsOf(op: ClientRequestType, value: unknown): bigint | undefined {
  if (op !== 'commitTxn' && op !== 'commitQueuedTxn') return undefined;
  const ts = (value as { commitTs?: unknown } | undefined)?.commitTs;
  return typeof ts === 'bigint' ? ts : undefined;
}
