/**
 * `TabSession`: one tab's place among the tabs of its profile's store. It stands for election
 * (the Web Lock `peerkv:<cluster>:<storeName>:host`), hosts the store's Worker once elected,
 * and carries every `TabRequest` to whoever hosts: served on this tab's Worker when it hosts,
 * else posted on the tab channel to the host it knows (`PendingCalls` sends it again to each new
 * host). A host whose Worker or store fails to open keeps the lock and tries again, backing off
 * from `HOST_OPEN_RETRY_MS_MIN` to `HOST_OPEN_RETRY_MS_MAX`; each failure ends the calls waiting
 * for a host, in every tab, with its error (a store that merely lacks a quorum opens: see
 * `NetHost`). On `pagehide` (or `close`) a host drains, ends its Worker and gives the lock to
 * the next tab; a host hidden for `hiddenDrainMs` marks its store draining until visible again.
 */
import { BrowserKvError, changeOf, toWireError, type ClientRequestType, type Reply, type TabRequest, type WireError } from './protocol.ts';
import { PendingCalls, channelName, type TabMessage } from './tab-channel.ts';
import { HostWorker, defaultWorker } from './host-worker.ts';
import { DRAIN_GRACE_MS_DEFAULT, HIDDEN_DRAIN_MS_DEFAULT, HOST_PROBE_MS_DEFAULT, REQUEST_DEADLINE_MS_DEFAULT, workerOpenOptions, type OpenBrowserOptions, type OpenTarget } from './open-options.ts';

/** First wait before a host tab opens its Worker and store again after a failed open, ms (doubles). */
export const HOST_OPEN_RETRY_MS_MIN = 1000;
/** Longest wait between two attempts of a host tab to open its Worker and store, ms. */
export const HOST_OPEN_RETRY_MS_MAX = 30_000;

/** Told of each change a tab of this profile made (`op`; a transaction's commit names its `commitTs`). */
export type ChangeListener = (op: ClientRequestType, commitTs: bigint | undefined) => void;

function randomTabId(): string {
  return globalThis.crypto.randomUUID();
}

/** A tab's election, hosting and tab channel; see the module header. */
export class TabSession {
  /** This tab's id in the election. */
  readonly tabId = randomTabId();
  private readonly channel: BroadcastChannel;
  private readonly calls: PendingCalls;
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
  private isClosed = false;
  private changesOfHost = 0;
  /** From this tab's lock grant to serving, ms (0 until it hosts). */
  private takeoverMs = 0;
  private readonly probe: ReturnType<typeof setInterval>;
  private readonly onPageHide = (): void => this.leave();
  /** Back from the back/forward cache after leaving: stand for election again. */
  private readonly onPageShow = (ev: PageTransitionEvent): void => {
    if (ev.persisted && this.draining && !this.isClosed) this.rejoin();
  };

  constructor(
    private readonly o: OpenBrowserOptions,
    private readonly target: OpenTarget,
    private readonly onChange: ChangeListener,
  ) {
    this.deadlineMs = o.requestDeadlineMs ?? REQUEST_DEADLINE_MS_DEFAULT;
    this.channel = new BroadcastChannel(channelName(target.cluster, target.storeName));
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
      .request(`peerkv:${this.target.cluster}:${this.target.storeName}:host`, { signal: this.lockAbort.signal }, async () => {
        // Hold the lock while hosting; give it back at once if this tab left while opening.
        if (await this.hostWithRetries()) await new Promise<void>((r) => (this.releaseLock = r));
      })
      .catch((e: unknown) => this.hostFailed(e));
  }

  /** True once `close` ran. */
  get closed(): boolean {
    return this.isClosed;
  }

  /** True while this tab hosts the Worker. */
  get isHost(): boolean {
    return this.hostSide !== undefined && !this.draining;
  }

  /** Hosts this tab has seen take over (itself included). */
  get hostChanges(): number {
    return this.changesOfHost;
  }

  /** Aborted once this tab closes (a Web Lock request waiting on it gives up). */
  get signal(): AbortSignal {
    return this.lockAbort.signal;
  }

  /** Sends `req` to the host (this tab when it hosts); its reply, never a throw. */
  send(req: TabRequest): Promise<Reply> {
    return this.isHost ? this.serve(req) : this.calls.add(req, this.hostTab, this.deadlineMs);
  }

  /** Leaves: a host hands over (its lock goes to the next tab), pending calls fail `Closed`. */
  close(): void {
    this.leave();
    this.isClosed = true;
    clearInterval(this.probe);
    globalThis.removeEventListener?.('pagehide', this.onPageHide);
    globalThis.removeEventListener?.('pageshow', this.onPageShow);
    globalThis.document?.removeEventListener?.('visibilitychange', this.onVisibility);
    if (this.hiddenTimer !== undefined) clearTimeout(this.hiddenTimer);
    this.lockAbort.abort();
  }

  /** After `close` and the handle's own teardown: ends the standby Worker, the calls and the channel. */
  closeChannel(): void {
    this.standby?.terminate();
    this.standby = undefined;
    this.calls.failAll('Closed');
    this.channel.close();
  }

  // ------------------------------------------------------------------ routing a call

  /** Serves a request on this (host) tab's Worker; announces successful writes. */
  private async serve(req: TabRequest): Promise<Reply> {
    const reply = await this.hostSide!.call(req, () => ({ hostTabId: this.tabId, draining: this.draining, hostChanges: this.changesOfHost, takeoverMs: this.takeoverMs }));
    // From another tab `req` may be anything; a reply is ok only once the Worker checked it.
    const change = reply.ok ? changeOf(req) : undefined;
    if (reply.ok && change !== undefined) {
      const commitTs = commitTsOf(change.type, reply.value);
      this.channel.postMessage({ t: 'changed', op: change.type, ...(commitTs !== undefined ? { commitTs } : {}) } satisfies TabMessage);
      this.onChange(change.type, commitTs);
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
        this.onChange(m.op, typeof m.commitTs === 'bigint' ? m.commitTs : undefined);
        return;
    }
  }

  private onHost(hostId: string): void {
    if (this.hostTab !== hostId) this.changesOfHost++;
    this.hostTab = hostId;
    this.calls.resendTo(hostId);
  }

  private post(m: TabMessage): void {
    if (!this.isClosed) this.channel.postMessage(m);
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
    if (this.isClosed) return false;
    this.opening = true;
    const granted = performance.now();
    let delayMs = HOST_OPEN_RETRY_MS_MIN;
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          return await this.openHost(granted);
        } catch (e) {
          if (this.isClosed || this.draining || (e instanceof BrowserKvError && e.kind === 'InvalidArgument')) throw e;
          this.openFailed(toWireError(e), attempt, delayMs);
          await new Promise((r) => setTimeout(r, delayMs));
          if (this.isClosed || this.draining) return false;
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
    const host = await HostWorker.open(workerOpenOptions(this.o, this.target), worker);
    if (this.isClosed || this.draining) {
      host.terminate();
      return false;
    }
    this.hostSide = host;
    this.takeoverMs = Math.round(performance.now() - granted);
    this.hostTab = this.tabId;
    this.changesOfHost++;
    this.post({ t: 'host', hostId: this.tabId });
    for (const p of this.calls.drainAll()) void this.serve(p.req).then(p.resolve);
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
    if (this.isClosed || (e instanceof DOMException && e.name === 'AbortError')) return;
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

/** The commit ts a change's reply names (a transaction's commit), if any. */
function commitTsOf(op: ClientRequestType, value: unknown): bigint | undefined {
  if (op !== 'commitTxn' && op !== 'commitQueuedTxn') return undefined;
  const ts = (value as { commitTs?: unknown } | undefined)?.commitTs;
  return typeof ts === 'bigint' ? ts : undefined;
}
