/**
 * `openBrowser()`: the page's handle on the profile's PeerKV. Tabs of one profile elect the
 * host with a Web Lock; the host runs the `EmbeddedCluster` in a dedicated Worker (comlink)
 * and serves the other tabs' requests, which reach it over a BroadcastChannel. When the host
 * tab goes away its lock is released, the next tab in the lock queue reopens the stores from
 * IndexedDB and announces itself, and every unanswered request is sent to it again.
 */
import type { KvPair } from '../services.ts';
import type { ReadConsistency, StoreOptions } from '@peerkv/store';
import { DEDUP_WINDOW } from '@peerkv/store';
import { BrowserKvError, WRITE_OPS, isWrite, type BrowserStatus, type KvRequest, type Reply } from './protocol.ts';
import { PendingCalls, channelName, unwrapReply, type TabMessage } from './tab-channel.ts';
import { HostWorker, defaultWorker } from './host-worker.ts';
import { Slots } from './slots.ts';

/** Default time a request may wait for a host and its answer, ms. */
export const REQUEST_DEADLINE_MS_DEFAULT = 60_000;
/** Default period of the "who hosts?" probe and deadline check while requests wait, ms. */
export const HOST_PROBE_MS_DEFAULT = 500;

/** How to open the profile's PeerKV. Only the host tab's options shape the cluster. */
export interface OpenBrowserOptions {
  /** Cluster name (lock, channel and database names). Default `default`. */
  cluster?: string;
  /** Database name prefix of this profile's stores. Default `store`. */
  storeName?: string;
  /** Stores in the embedded cluster. Default 3. */
  stores?: number;
  /** Enables stop/start/partition/split (demos and tests). Off by default. */
  testHooks?: boolean;
  /** Store settings passed to the Worker (structured-cloneable values only). */
  store?: Partial<Pick<StoreOptions, 'tickIntervalMs' | 'durability' | 'hibernateAfterTicks' | 'requestTimeoutMs' | 'logGcThresholdEntries'>>;
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
  private readonly channel: BroadcastChannel;
  private readonly pending: PendingCalls;
  private readonly listeners = new Set<(op: KvRequest['op']) => void>();
  private readonly lockAbort = new AbortController();
  private readonly deadlineMs: number;
  private hostTab: string | undefined;
  private hostSide: HostWorker | undefined;
  /** A started Worker that has opened nothing (see `standbyWorker`). */
  private standby: Worker | undefined;
  private releaseLock: (() => void) | undefined;
  private draining = false;
  /** The lock is held and the Worker is opening. */
  private opening = false;
  private closed = false;
  private hostChanges = 0;
  /** From this tab's lock grant to serving, ms (0 until it hosts). */
  private takeoverMs = 0;
  /** The last write number this tab stamped. */
  private writeSeq = 0;
  /** Stamped writes in flight stay within the stores' dedup window. */
  private readonly writeSlots = new Slots(DEDUP_WINDOW);
  private readonly probe: ReturnType<typeof setInterval>;
  private readonly onPageHide = (): void => this.leave();
  /** Back from the back/forward cache after leaving: stand for election again. */
  private readonly onPageShow = (ev: PageTransitionEvent): void => {
    if (ev.persisted && this.draining && !this.closed) this.rejoin();
  };

  constructor(private readonly o: OpenBrowserOptions) {
    this.cluster = o.cluster ?? 'default';
    this.deadlineMs = o.requestDeadlineMs ?? REQUEST_DEADLINE_MS_DEFAULT;
    this.channel = new BroadcastChannel(channelName(this.cluster));
    this.pending = new PendingCalls(this.tabId, (m) => this.channel.postMessage(m), () => performance.now());
    this.channel.onmessage = (ev: MessageEvent<TabMessage>) => this.onMessage(ev.data);
    this.probe = setInterval(() => this.probeHost(), o.hostProbeMs ?? HOST_PROBE_MS_DEFAULT);
    globalThis.addEventListener?.('pagehide', this.onPageHide);
    globalThis.addEventListener?.('pageshow', this.onPageShow);
  }

  /** Joins the election (and asks who hosts now). */
  start(): void {
    const locks = this.o.locks ?? globalThis.navigator?.locks;
    if (!locks) throw new BrowserKvError('Unavailable', 'Web Locks are not available in this context');
    this.channel.postMessage({ t: 'who' } satisfies TabMessage);
    if (this.o.standbyWorker ?? true) this.standby ??= this.createWorker();
    locks
      .request(`peerkv:${this.cluster}:host`, { signal: this.lockAbort.signal }, async () => {
        // Hold the lock while hosting; give it back at once if this tab left while opening.
        if (await this.becomeHost()) await new Promise<void>((r) => (this.releaseLock = r));
      })
      .catch((e: unknown) => this.hostFailed(e));
  }

  // ------------------------------------------------------------------ the API

  /** The value of `key`, or undefined (linearizable unless `o.consistency` says otherwise). */
  get(key: Uint8Array, o: BrowserReadOptions = {}): Promise<Uint8Array | undefined> {
    return this.request({ op: 'get', key, consistency: o.consistency });
  }

  /** The values of `keys`, in order; undefined where missing. */
  batchGet(keys: Uint8Array[], o: BrowserReadOptions = {}): Promise<(Uint8Array | undefined)[]> {
    return this.request({ op: 'batchGet', keys, consistency: o.consistency });
  }

  /** Writes `key` = `value`; resolves once applied on a majority of the stores. */
  put(key: Uint8Array, value: Uint8Array): Promise<void> {
    return this.request({ op: 'put', key, value });
  }

  /** Deletes `key`. */
  delete(key: Uint8Array): Promise<void> {
    return this.request({ op: 'delete', key });
  }

  /** Writes many pairs: atomic per region, not across regions. */
  batchPut(pairs: KvPair[]): Promise<void> {
    return this.request({ op: 'batchPut', pairs });
  }

  /** Deletes many keys: atomic per region, not across regions. */
  batchDelete(keys: Uint8Array[]): Promise<void> {
    return this.request({ op: 'batchDelete', keys });
  }

  /** Deletes every key in [start, end). */
  deleteRange(start: Uint8Array, end: Uint8Array): Promise<void> {
    return this.request({ op: 'deleteRange', start, end });
  }

  /** Pairs in [start, end) as an array (at most SCAN_ARRAY_PAIRS_MAX). */
  scan(o: BrowserScanOptions = {}): Promise<KvPair[]> {
    return this.request({ op: 'scan', ...o });
  }

  /** The cluster, the host and the profile's storage, as the host sees them. */
  async status(): Promise<BrowserStatus> {
    const s = await this.request<BrowserStatus>({ op: 'status' });
    return { ...s, isHost: s.hostTabId === this.tabId, hostChanges: this.hostChanges };
  }

  /** Test hook: stops store `storeId` as if it crashed (its IndexedDB stays). */
  stopStore(storeId: number): Promise<void> {
    return this.request({ op: 'stopStore', storeId });
  }

  /** Test hook: restarts a stopped store from its IndexedDB. */
  startStore(storeId: number): Promise<void> {
    return this.request({ op: 'startStore', storeId });
  }

  /** Test hook: cuts store `storeId` off from the others. */
  partitionStore(storeId: number): Promise<void> {
    return this.request({ op: 'partitionStore', storeId });
  }

  /** Test hook: heals every partition. */
  heal(): Promise<void> {
    return this.request({ op: 'heal' });
  }

  /** Test hook: splits the region holding `splitKey` at it. */
  splitRegion(splitKey: Uint8Array): Promise<{ newRegionId: number }> {
    return this.request({ op: 'splitRegion', splitKey });
  }

  /** Calls `fn` after every successful write from any tab; returns the unsubscribe. */
  subscribe(fn: (op: KvRequest['op']) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
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
    this.lockAbort.abort();
    this.standby?.terminate();
    this.standby = undefined;
    this.pending.failAll('Closed');
    this.channel.close();
  }

  // ------------------------------------------------------------------ routing a call

  private async request<T>(req: KvRequest): Promise<T> {
    if (this.closed) throw new BrowserKvError('Closed', 'this PeerKV handle is closed');
    if (!isWrite(req)) return unwrapReply<T>(await this.send(req));
    // Every try of this write, on any host, carries the same stamp; the stores apply it once.
    await this.writeSlots.acquire();
    try {
      return unwrapReply<T>(await this.send({ ...req, stamp: { clientId: this.tabId, seq: ++this.writeSeq } }));
    } finally {
      this.writeSlots.release();
    }
  }

  private send(req: KvRequest): Promise<Reply> {
    return this.isHost ? this.serve(req) : this.pending.add(req, this.hostTab, this.deadlineMs);
  }

  /** Serves a request on this (host) tab's Worker; announces successful writes. */
  private async serve(req: KvRequest): Promise<Reply> {
    const reply = await this.hostSide!.call(req, () => ({ hostTabId: this.tabId, draining: this.draining, hostChanges: this.hostChanges, takeoverMs: this.takeoverMs }));
    if (reply.ok && WRITE_OPS.has(req.op)) {
      this.channel.postMessage({ t: 'changed', op: req.op } satisfies TabMessage);
      this.notify(req.op);
    }
    return reply;
  }

  private notify(op: KvRequest['op']): void {
    for (const fn of this.listeners) fn(op);
  }

  private onMessage(m: TabMessage): void {
    switch (m.t) {
      case 'req':
        // A host that left drops its answers: the caller sends the request again to the next host.
        if (m.to === this.tabId && this.isHost) void this.serve(m.req).then((reply) => this.draining || this.post({ t: 'rep', id: m.id, to: m.from, reply }));
        return;
      case 'rep':
        if (m.to === this.tabId) this.pending.settle(m.id, m.reply);
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
      case 'changed':
        this.notify(m.op);
        return;
    }
  }

  private onHost(hostId: string): void {
    if (this.hostTab !== hostId) this.hostChanges++;
    this.hostTab = hostId;
    this.pending.resendTo(hostId);
  }

  private post(m: TabMessage): void {
    if (!this.closed) this.channel.postMessage(m);
  }

  private probeHost(): void {
    this.pending.expire();
    if (this.pending.size > 0 && !this.hostTab && !this.isHost) this.post({ t: 'who' });
  }

  // ------------------------------------------------------------------ hosting

  /** Runs with the lock held: opens the Worker and the cluster, then serves; false if this tab left meanwhile. */
  private async becomeHost(): Promise<boolean> {
    if (this.closed) return false;
    this.opening = true;
    const granted = performance.now();
    try {
      return await this.openHost(granted);
    } finally {
      this.opening = false;
    }
  }

  private async openHost(granted: number): Promise<boolean> {
    const { storeName, stores, testHooks, store } = this.o;
    const worker = this.standby ?? this.createWorker();
    this.standby = undefined;
    const host = await HostWorker.open({ cluster: this.cluster, storeName, stores, testHooks, store }, worker);
    if (this.closed || this.draining) {
      host.terminate();
      return false;
    }
    this.hostSide = host;
    this.takeoverMs = Math.round(performance.now() - granted);
    this.hostTab = this.tabId;
    this.hostChanges++;
    this.post({ t: 'host', hostId: this.tabId });
    for (const p of this.pending.drainAll()) void this.serve(p.req).then(p.resolve);
    return true;
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
    for (const p of this.pending.drainAll()) p.resolve({ ok: false, error: { kind: error.kind, message: error.message } });
  }

  /**
   * pagehide or close: a host drains (stops answering, says bye), ends its Worker so no two
   * Workers ever drive the same stores, then releases the lock to the next tab.
   */
  private leave(): void {
    const side = this.hostSide;
    if (this.opening) this.draining = true;
    if (!side || this.draining) return;
    this.draining = true;
    this.post({ t: 'bye', hostId: this.tabId });
    side.terminate();
    this.hostSide = undefined;
    this.hostTab = undefined;
    this.releaseLock?.();
  }
}

/**
 * Opens the profile's PeerKV (or attaches to the tab hosting it). With no options it opens
 * the default embedded cluster of three stores on IndexedDB, reopening it after a restart.
 */
export async function openBrowser(o: OpenBrowserOptions = {}): Promise<BrowserPeerKV> {
  const kv = new BrowserPeerKV(o);
  kv.start();
  return kv;
}
