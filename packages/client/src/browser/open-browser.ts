/**
 * `openBrowser()` (also `PeerKV.open`): the page's handle on the profile's PeerKV. Tabs of one
 * profile elect the host with a Web Lock; the host runs the profile's store in a dedicated
 * Worker (comlink) and serves the other tabs' requests, which reach it over a
 * BroadcastChannel. By default the Worker runs one networked store (`NetHost`: IndexedDB,
 * BroadcastChannel to the profile's other stores, WebRTC through the signaling servers to
 * other browsers and servers, creating or joining the cluster); `embedded: true` runs an
 * `EmbeddedCluster` of N stores in the Worker instead.
 *
 * This module is the API a page calls (`BrowserPeerKV`): each call becomes a `TabRequest`
 * (a write as a transaction in the mvcc model, stamped in the raw one), which its
 * `TabSession` carries to the host (`tab-session.ts`: election, hosting, failover, the tab
 * channel). The options are in `open-options.ts`, a tab's transactions in `tab-txn.ts`, its
 * watches in `tab-watch.ts`, `subscribe` in `tab-subscribe.ts`, the offline queue in
 * `tab-offline.ts`.
 */
import type { KvPair } from '../services.ts';
import { CLIENT_WRITE_WINDOW_SEQS } from '@peerkv/store';
import { Snapshot, prefixEnd, runTransaction, type Transaction, type TransactionInfo, type TransactionOptions } from '../txn/transaction.ts';
import { BrowserKvError, hookRequest, isWrite, kvRequest, readFieldsOf, tabRequest, type BrowserStatus, type ClientCall, type ClientRequest, type ClientRequestType, type ClientResponseOf, type HookRequest, type TabOnlyCall, type TabRequest, type TraceView } from './protocol.ts';
import { unwrapReply } from './tab-channel.ts';
import { StampWindow } from './slots.ts';
import { OFFLINE_QUEUE_BYTES_MAX_DEFAULT, OFFLINE_QUEUE_TXNS_MAX_DEFAULT } from '../txn/offline-queue.ts';
import { OFFLINE_DECIDE_MS_DEFAULT, OfflineTxns, type Mutator, type OfflineTxnOptions, type PendingTxn, type QueuedTxnHandle } from '../txn/offline-txns.ts';
import { IdbOfflineQueueStore, offlineQueueDatabaseName } from './offline-queue-idb.ts';
import { tabOfflineBackend } from './tab-offline.ts';
import { TabWatch, type TabWatchOptions } from './tab-watch.ts';
import { TabSubscriptions } from './tab-subscribe.ts';
import { watchArgs, type WatchRange } from '../txn/watch.ts';
import { BROWSER_DATA_MODEL_DEFAULT, checkOpenOptions, type BrowserReadOptions, type BrowserScanOptions, type OpenBrowserOptions } from './open-options.ts';
import { TabSession } from './tab-session.ts';
import { TabStaleReader } from './tab-stale-reader.ts';
import { StaleSnapshot, type StalenessOptions } from '../txn/stale-reader.ts';
import { TAB_VALUE_CHECKS, TabTxns, writeInTransaction } from './tab-txn.ts';

export { HOST_OPEN_RETRY_MS_MAX, HOST_OPEN_RETRY_MS_MIN } from './tab-session.ts';

/** The page's PeerKV handle; see the module header. */
export class BrowserPeerKV {
  /** This tab's id in the election. */
  readonly tabId: string;
  readonly cluster: string;
  /** The data model the host opens its store(s) with. */
  readonly dataModel: 'raw' | 'mvcc';
  /** This profile's store name (its own election and tab channel). */
  readonly storeName: string;
  /** `subscribe`'s listeners and the change feed behind them (`tab-subscribe.ts`). */
  private readonly subscriptions: TabSubscriptions;
  /** The election, hosting and tab channel (`tab-session.ts`). */
  private readonly session: TabSession;
  /** This tab's transactions through the host (`tab-txn.ts`). */
  private readonly txns: TabTxns;
  /** The offline queue (created on first use). */
  private offline: OfflineTxns | undefined;
  /** This tab's write numbers: within the stores' per-client window above the ack floor. */
  private readonly stamps = new StampWindow(CLIENT_WRITE_WINDOW_SEQS);

  constructor(private readonly o: OpenBrowserOptions) {
    this.cluster = o.cluster ?? 'default';
    this.dataModel = o.dataModel ?? BROWSER_DATA_MODEL_DEFAULT;
    this.storeName = o.storeName ?? 'store';
    this.subscriptions = new TabSubscriptions(this.dataModel === 'mvcc' ? (wo) => this.watch({ start: new Uint8Array() }, wo) : undefined);
    checkOpenOptions(o);
    this.session = new TabSession(o, { cluster: this.cluster, storeName: this.storeName, dataModel: this.dataModel }, (op, commitTs) => this.subscriptions.local(op, commitTs));
    this.tabId = this.session.tabId;
    this.txns = new TabTxns(this.clientCall);
  }

  /** Joins the election (and asks who hosts now). */
  start(): void {
    this.session.start();
  }

  // ------------------------------------------------------------------ the API

  /**
   * The value of `key`, or undefined (linearizable unless `o.consistency` says otherwise; mvcc:
   * at `o.readTs`, or at most `o.maxStaleness` ms old, as `PeerKV.get`).
   */
  get(key: Uint8Array, o: BrowserReadOptions = {}): Promise<Uint8Array | undefined> {
    return this.client({ type: 'get', key, ...readFieldsOf(o) });
  }

  /** The values of `keys`, in order; undefined where missing. */
  batchGet(keys: Uint8Array[], o: BrowserReadOptions = {}): Promise<(Uint8Array | undefined)[]> {
    return this.client({ type: 'batchGet', keys, ...readFieldsOf(o) });
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
    this.offline = new OfflineTxns(tabOfflineBackend(this.clientCall, this.txns.backend()), TAB_VALUE_CHECKS, {
      store: this.o.offlineQueue ?? new IdbOfflineQueueStore(offlineQueueDatabaseName(this.cluster, this.storeName)),
      decideMs: this.o.offlineDecideMs ?? OFFLINE_DECIDE_MS_DEFAULT,
      txnsMax: this.o.offlineQueueTxnsMax ?? OFFLINE_QUEUE_TXNS_MAX_DEFAULT,
      bytesMax: this.o.offlineQueueBytesMax ?? OFFLINE_QUEUE_BYTES_MAX_DEFAULT,
      ...(locks ? { exclusive: (drain: () => Promise<void>) => locks.request(lockName, { signal: this.session.signal }, drain).then(() => undefined) } : {}),
    });
    return this.offline;
  }

  /** `transaction`, also telling the start and commit ts and the number of runs. */
  transactionWithInfo<T>(fn: (tx: Transaction) => Promise<T>, o: TransactionOptions = {}): Promise<{ value: T; info: TransactionInfo }> {
    return runTransaction(this.txns.backend(), TAB_VALUE_CHECKS, fn, o);
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
   * The change feed of `range` (`{ prefix }` or `{ start, end }`, and `fromTs` there or in the
   * options), as `PeerKV.watch`: the committed puts and deletes with commitTs above `fromTs`
   * (a fresh ts when absent), in commitTs order per key, and `resolved` watermarks (every
   * change with commitTs ≤ `ts` was yielded before). It runs on the host's client (which
   * follows leader changes and splits) and resumes from its last watermark when the host tab
   * changes (`tab-watch.ts`). At least once, deduplicated by (key, commitTs). `break`,
   * `return()` or `signal` stop it. Needs mvcc.
   */
  watch(range: WatchRange, o: TabWatchOptions = {}): TabWatch {
    if (this.dataModel !== 'mvcc') throw new BrowserKvError('InvalidArgument', 'watch needs the mvcc data model');
    const { bounds, options } = watchArgs(range, o, prefixEnd);
    const request: TabOnlyCall = (req) => this.request(tabRequest(req));
    return new TabWatch(request, bounds, options);
  }

  /** A read-only view at `ts` (a fresh timestamp when absent); refused below PD's GC safe point. */
  async snapshot(ts?: bigint): Promise<Snapshot>;
  /**
   * `snapshot({ maxStaleness })` / `snapshot({ readTs })` (mvcc), as `PeerKV`'s: a view served by
   * the host store's replica when its resolved ts is fresh enough (`Infinity`: whatever it has,
   * no quorum needed), else the leader; its `ts` says as of when, once the first read answered.
   */
  async snapshot(o: StalenessOptions): Promise<StaleSnapshot>;
  async snapshot(arg?: bigint | StalenessOptions): Promise<Snapshot | StaleSnapshot> {
    if (typeof arg === 'object' && arg !== null) return new StaleSnapshot(new TabStaleReader(this.clientCall, arg), TAB_VALUE_CHECKS.key);
    const at = arg ?? (await this.getTimestamp());
    return new Snapshot(this.txns.reader(at), TAB_VALUE_CHECKS);
  }

  /** The cluster, the host and the profile's storage, as the host sees them. */
  async status(): Promise<BrowserStatus> {
    const s = await this.request<BrowserStatus>(tabRequest({ type: 'status' }));
    return { ...s, isHost: s.hostTabId === this.tabId, hostChanges: this.session.hostChanges };
  }

  /**
   * Turns the host's latency trace on (recording afresh) or off; resolves with what it recorded
   * until now (`status().trace` shows it too; `host-trace.ts`). Off by default.
   */
  trace(on: boolean): Promise<TraceView> {
    return this.request<TraceView>(tabRequest({ type: 'trace', on }));
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
    return this.session.isHost;
  }

  /** Leaves: a host hands over (its lock goes to the next tab), pending calls fail `Closed`. */
  close(): void {
    if (this.session.closed) return;
    this.session.close();
    this.offline?.close();
    this.subscriptions.close();
    this.session.closeChannel();
  }

  // ------------------------------------------------------------------ routing a call

  /** `client` as a function value. */
  private readonly clientCall: ClientCall = (req) => this.client(req);

  /** Sends a client request (table `kv`); a write goes as a transaction (mvcc) or stamped (raw). */
  private async client<Q extends ClientRequest>(req: Q): Promise<ClientResponseOf<Q['type']>> {
    type T = ClientResponseOf<Q['type']>;
    if (!isWrite(req)) return this.request<T>(kvRequest(req));
    if (this.session.closed) throw new BrowserKvError('Closed', 'this PeerKV handle is closed');
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
    if (this.session.closed) throw new BrowserKvError('Closed', 'this PeerKV handle is closed');
    return unwrapReply<T>(await this.session.send(req));
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
