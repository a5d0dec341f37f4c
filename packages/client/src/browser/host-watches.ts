/**
 * The change feeds a host runs for its tabs (`watchOpen` / `watchNext` / `watchClose`): each
 * is a `kv.watch` of the host's client (`txn/watch.ts`, which follows leader changes and
 * splits), pumped into a bounded buffer that the tab drains in batches (`watchNext`, long-polled
 * up to `WATCH_NEXT_WAIT_MS_MAX`). The tab's side (`tab-watch.ts`) keeps the last watermark it
 * took and, when the host changes or drops its watch (`WatchGone`), opens it again from there:
 * the feed stays at least once across host failovers.
 *
 * Limits: `HOST_WATCHES_MAX` watches per host (the oldest idle one is not evicted: a new one is
 * refused `Unavailable`); a watch no tab polled for `HOST_WATCH_IDLE_MS` is stopped (its tab is
 * gone); at most `bufferEventsMax` items wait for the tab, past that the watch fails
 * `WatchLagged` with the last watermark the tab took, as a local watch does.
 *
 * Time and watch ids are inputs (`HostWatchesOptions`): the platform's timers and
 * `crypto.randomUUID` by default, the simulator's virtual clock and seeded ids there.
 */
import type { Clock, TimerHandle } from '@peerkv/transport';
import { REAL_CLOCK } from '../backoff.ts';
import type { PeerKV } from '../client.ts';
import { WATCH_BUFFER_EVENTS_DEFAULT, WatchLaggedError, type Watch, type WatchEvent } from '../txn/watch.ts';
import { BrowserKvError, toWireError, type WatchBatch, type WireError } from './protocol.ts';

/** Watches one host runs at most. */
export const HOST_WATCHES_MAX = 64;
/** A watch no tab asked for its events this long is stopped, ms. */
export const HOST_WATCH_IDLE_MS = 30_000;
/** Longest a `watchNext` waits at the host for an item, ms. */
export const WATCH_NEXT_WAIT_MS_MAX = 10_000;
/** Items one `watchNext` returns at most. */
export const WATCH_NEXT_EVENTS_MAX = 4096;

/** One watch a host runs for a tab. */
class HostWatch {
  private readonly buffer: WatchEvent[] = [];
  private failure: WireError | undefined;
  private ended = false;
  private wakers: (() => void)[] = [];
  private idle: TimerHandle | undefined;
  /** The last watermark handed to the tab (`WatchLagged`'s resume point). */
  private takenTs: bigint;

  constructor(
    private readonly watch: Watch,
    fromTs: bigint,
    private readonly bufferEventsMax: number,
    private readonly onIdle: () => void,
    private readonly clock: Clock,
  ) {
    this.takenTs = fromTs;
    this.touch();
    void this.pump();
  }

  private async pump(): Promise<void> {
    try {
      for await (const e of this.watch) {
        if (this.buffer.length >= this.bufferEventsMax) throw new WatchLaggedError(this.takenTs, this.bufferEventsMax);
        this.buffer.push(e);
        this.wake();
      }
    } catch (e) {
      this.failure = toWireError(e);
    } finally {
      this.ended = true;
      void this.watch.return();
      this.wake();
    }
  }

  /** Up to `eventsMax` items, waiting up to `waitMs` for the first. */
  async next(eventsMax: number, waitMs: number): Promise<WatchBatch> {
    this.touch();
    if (this.buffer.length === 0 && !this.ended && waitMs > 0) {
      await new Promise<void>((resolve) => {
        const t = this.clock.setTimeout(resolve, waitMs);
        this.wakers.push(() => (this.clock.clearTimeout(t), resolve()));
      });
    }
    this.touch();
    const events = this.buffer.splice(0, eventsMax);
    for (const e of events) if (e.type === 'resolved') this.takenTs = e.ts;
    const done = this.ended && this.buffer.length === 0;
    return { events, done, ...(done && this.failure ? { error: this.failure } : {}) };
  }

  close(): void {
    if (this.idle !== undefined) this.clock.clearTimeout(this.idle);
    void this.watch.return();
    this.ended = true;
    this.wake();
  }

  private touch(): void {
    if (this.idle !== undefined) this.clock.clearTimeout(this.idle);
    this.idle = this.clock.setTimeout(this.onIdle, HOST_WATCH_IDLE_MS);
  }

  private wake(): void {
    for (const w of this.wakers.splice(0)) w();
  }
}

/** Where a host's watches take time and ids from. */
export interface HostWatchesOptions {
  /** Timers of `watchNext`'s wait and the idle stop (default `REAL_CLOCK`). */
  clock?: Clock;
  /** A fresh watch id, unique on this host (default `crypto.randomUUID`). */
  newId?: () => string;
}

/** The watches of one host's client; see the module header. */
export class HostWatches {
  private readonly watches = new Map<string, HostWatch>();
  private readonly o: Required<HostWatchesOptions>;

  constructor(
    private readonly kv: PeerKV,
    o: HostWatchesOptions = {},
  ) {
    this.o = { clock: o.clock ?? REAL_CLOCK, newId: o.newId ?? (() => globalThis.crypto.randomUUID()) };
  }

  /** Starts a watch of [start, end) from `fromTs` (a fresh ts when absent); returns its id and start ts. */
  async open(range: { start: Uint8Array; end?: Uint8Array }, fromTs: bigint | undefined, bufferEventsMax: number | undefined): Promise<{ watchId: string; fromTs: bigint }> {
    if (this.watches.size >= HOST_WATCHES_MAX) throw new BrowserKvError('Unavailable', `this host runs ${HOST_WATCHES_MAX} watches already`);
    const from = fromTs ?? (await this.kv.getTimestamp());
    const max = bufferEventsMax ?? WATCH_BUFFER_EVENTS_DEFAULT;
    // The host's own buffer bounds what waits for the tab; the inner watch is drained at once.
    const watch = this.kv.watch({ start: range.start, ...(range.end ? { end: range.end } : {}) }, { fromTs: from, bufferEventsMax: max });
    const watchId = this.o.newId();
    this.watches.set(watchId, new HostWatch(watch, from, max, () => this.close(watchId), this.o.clock));
    return { watchId, fromTs: from };
  }

  /** The next batch of watch `watchId`; `WatchGone` if this host does not run it (a new host, or dropped idle). */
  async next(watchId: string, eventsMax: number | undefined, waitMs: number | undefined): Promise<WatchBatch> {
    const w = this.watches.get(watchId);
    if (w === undefined) throw new BrowserKvError('WatchGone', 'this host runs no such watch (the host changed, or the watch went idle): open it again from its last watermark');
    const batch = await w.next(Math.min(eventsMax ?? WATCH_NEXT_EVENTS_MAX, WATCH_NEXT_EVENTS_MAX), Math.min(waitMs ?? WATCH_NEXT_WAIT_MS_MAX, WATCH_NEXT_WAIT_MS_MAX));
    if (batch.done) this.close(watchId);
    return batch;
  }

  close(watchId: string): void {
    this.watches.get(watchId)?.close();
    this.watches.delete(watchId);
  }

  /** Stops every watch (the host goes away: its tabs' next requests find `WatchGone`). */
  closeAll(): void {
    for (const id of [...this.watches.keys()]) this.close(id);
  }

  /** Watches running. */
  get size(): number {
    return this.watches.size;
  }
}

const HOSTS = new WeakMap<PeerKV, HostWatches>();

/** The watches of the host whose client is `kv`. */
export function hostWatchesOf(kv: PeerKV): HostWatches {
  let w = HOSTS.get(kv);
  if (w === undefined) HOSTS.set(kv, (w = new HostWatches(kv)));
  return w;
}
