/**
 * A tab's change feed (`BrowserPeerKV.watch`): the watch runs on the host (`host-watches.ts`,
 * the host client's `kv.watch`, which follows leader changes and splits), and this iterator
 * pulls its items in batches (`watchNext`). It keeps the last watermark it yielded; when the
 * host changes (the host tab closed, or its Worker reopened the store) or dropped the watch,
 * the next host answers `WatchGone` and the watch is opened again from that watermark. Changes
 * above it that were yielded already are dropped by (key, commitTs), so the feed stays at least
 * once, deduplicated, in commitTs order per key, with watermarks that never go backwards,
 * across host failovers too.
 */
import { PeerKVError } from '../errors.ts';
import { WATCH_DEDUP_EVENTS_MAX, WatchLaggedError, type WatchEvent } from '../txn/watch.ts';
import { BrowserKvError, type TabOnlyCall, type TabOnlyResponseOf } from './protocol.ts';
import { WATCH_NEXT_WAIT_MS_MAX } from './host-watches.ts';

/** Reopens of a watch in a row with no batch between them before it fails `Unavailable`. */
export const TAB_WATCH_REOPENS_IN_A_ROW_MAX = 8;

/** Options of a tab's watch (as `kv.watch`'s). */
export interface TabWatchOptions {
  /** Changes with commitTs above this (a watermark of an earlier watch); a fresh TSO ts when absent. */
  fromTs?: bigint;
  signal?: AbortSignal;
  /** Items waiting at the host for this tab before the watch fails `WatchLagged`. */
  bufferEventsMax?: number;
}


function eventId(key: Uint8Array, commitTs: bigint): string {
  let hex = '';
  for (const b of key) hex += b.toString(16).padStart(2, '0');
  return `${commitTs}:${hex}`;
}

/** See the module header. */
export class TabWatch implements AsyncIterableIterator<WatchEvent> {
  private watchId: string | undefined;
  /** The last watermark yielded (the start ts before the first): where a reopen resumes. */
  private resumeTs: bigint | undefined;
  private readonly queue: WatchEvent[] = [];
  /** Changes yielded above `resumeTs`, by (commitTs, key). */
  private readonly delivered = new Map<string, bigint>();
  private stopped = false;
  private reopensInARow = 0;

  constructor(
    private readonly request: TabOnlyCall,
    private readonly bounds: { start: Uint8Array; end: Uint8Array },
    private readonly o: TabWatchOptions = {},
  ) {
    this.resumeTs = o.fromTs;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** The last watermark yielded (the start ts before the first; undefined before the watch opened). */
  get resolvedTs(): bigint | undefined {
    return this.resumeTs;
  }

  async next(): Promise<IteratorResult<WatchEvent>> {
    for (;;) {
      if (this.stopped) return { done: true, value: undefined };
      const item = this.queue.shift();
      if (item !== undefined) {
        if (item.type === 'resolved') this.onResolved(item.ts);
        return { done: false, value: item };
      }
      try {
        await this.fill();
      } catch (e) {
        void this.return();
        throw e;
      }
    }
  }

  async return(): Promise<IteratorResult<WatchEvent>> {
    this.stopped = true;
    this.queue.length = 0;
    const id = this.watchId;
    this.watchId = undefined;
    if (id !== undefined) await this.request({ type: 'watchClose', watchId: id }).catch(() => undefined);
    return { done: true, value: undefined };
  }

  private onResolved(ts: bigint): void {
    this.resumeTs = ts;
    for (const [id, at] of this.delivered) if (at <= ts) this.delivered.delete(id);
  }

  /** Opens the watch on the host if needed, then takes its next batch into the queue. */
  private async fill(): Promise<void> {
    if (this.o.signal?.aborted) throw new PeerKVError('Aborted', 'aborted');
    if (this.watchId === undefined) {
      if (++this.reopensInARow > TAB_WATCH_REOPENS_IN_A_ROW_MAX) throw new BrowserKvError('Unavailable', `watch: the host lost it ${TAB_WATCH_REOPENS_IN_A_ROW_MAX} times in a row`);
      const r = await this.abortable(
        this.request({
          type: 'watchOpen',
          start: this.bounds.start,
          ...(this.bounds.end.length > 0 ? { end: this.bounds.end } : {}),
          ...(this.resumeTs !== undefined ? { fromTs: this.resumeTs } : {}),
          ...(this.o.bufferEventsMax !== undefined ? { bufferEventsMax: this.o.bufferEventsMax } : {}),
        }),
      );
      this.watchId = r.watchId;
      this.resumeTs ??= r.fromTs;
      if (this.stopped) await this.return();
      return;
    }
    let batch: TabOnlyResponseOf<'watchNext'>;
    try {
      batch = await this.abortable(this.request({ type: 'watchNext', watchId: this.watchId, waitMs: WATCH_NEXT_WAIT_MS_MAX }));
    } catch (e) {
      if (e instanceof BrowserKvError && e.kind === 'WatchGone') {
        this.watchId = undefined;
        return;
      }
      throw e;
    }
    this.reopensInARow = 0;
    this.take(batch.events);
    if (!batch.done) return;
    this.watchId = undefined;
    if (batch.error?.kind === 'WatchLagged') throw new WatchLaggedError(this.resumeTs!, this.o.bufferEventsMax ?? 0);
    if (batch.error) throw new BrowserKvError(batch.error.kind, batch.error.message);
    this.stopped = true;
  }

  private take(events: WatchEvent[]): void {
    for (const e of events) {
      if (e.type === 'resolved') {
        const last = this.queue[this.queue.length - 1];
        // A watermark at or below one already queued or yielded says nothing new.
        if ((this.resumeTs !== undefined && e.ts <= this.resumeTs) || (last?.type === 'resolved' && e.ts <= last.ts)) continue;
        if (last?.type === 'resolved') last.ts = e.ts;
        else this.queue.push({ type: 'resolved', ts: e.ts });
        continue;
      }
      // At or below the watermark yielded: delivered before the reopen.
      if (this.resumeTs !== undefined && e.commitTs <= this.resumeTs) continue;
      const id = eventId(e.key, e.commitTs);
      if (this.delivered.has(id)) continue;
      this.delivered.set(id, e.commitTs);
      // Forgetting the oldest only risks a repeat, which at-least-once allows.
      if (this.delivered.size > WATCH_DEDUP_EVENTS_MAX) this.delivered.delete(this.delivered.keys().next().value!);
      this.queue.push(e);
    }
  }

  /** `p`, or `Aborted` as soon as the caller's signal fires. */
  private abortable<T>(p: Promise<T>): Promise<T> {
    const signal = this.o.signal;
    if (signal === undefined) return p;
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => reject(new PeerKVError('Aborted', 'aborted'));
      signal.addEventListener('abort', onAbort, { once: true });
      p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }
}
