/**
 * The change feed (`kv.watch`, TiKV CDC / etcd watch): an async iterator of the committed
 * puts and deletes of a key range, from `fromTs` on, and `resolved` watermarks.
 *
 * - **Spans.** The range is covered by disjoint spans, each pulled by its own loop from the
 *   leader of the region holding its start (`txnCdcPull`, store `handlers/cdc.ts`, long-polled).
 *   A span remembers its watermark (every change of it with commitTs ≤ it was delivered) and,
 *   after a page cut inside one commitTs, the cursor past which the next page starts.
 * - **Leader changes, splits, merges.** Each pull goes through the client's retry loop, which
 *   follows NotLeader and EpochNotMatch to the current leader and region. A region that now
 *   ends before the span does (a split) cuts the span in two; the new right span resumes from
 *   the same watermark and cursor. A merged region serves each span as before (the store clamps
 *   to the span). So a leader kill or a split loses nothing: every span resumes where it was.
 * - **Watermarks.** `resolved` is emitted when the least watermark over the spans moves up
 *   (never down): every change of the range with commitTs ≤ `ts` has been yielded before it.
 * - **Order.** Per key, changes come in commitTs order (a key is in one span; a span's pages
 *   are ordered by commitTs). Across keys of different regions there is no order beyond the
 *   watermarks (as in TiKV CDC).
 * - **At least once, deduplicated** by (key, commitTs) above the last watermark: a span's pages
 *   never overlap, but an answer that was lost and asked again, or a span cut in two, could
 *   repeat a change; those are dropped here (up to `WATCH_DEDUP_EVENTS_MAX` remembered).
 * - **Backpressure.** At most `bufferEventsMax` items wait for the consumer; past that the
 *   iterator throws `WatchLagged` (its `resumeTs`: the last watermark the consumer took) and
 *   stops. Watch again from `resumeTs` to go on without loss.
 * - **GC.** The watch holds PD's GC safe point at its last watermark (a pinned `GcHold` of the
 *   client's registration, as TiCDC's service safe point), so the versions it has still to
 *   read are kept while it runs. A `fromTs` GC already passed is `SafePointPassed`.
 * - **Stop.** `return()` (a `break` out of `for await`) or the caller's `signal` stops every
 *   loop and its pending pull; an abort makes the next `next()` throw `Aborted`.
 */
import type { CdcCursor, RequestOf, Result, TxnAnswer, TxnCdcResult, TxnError } from '@peerkv/store';
import { compareKeys } from '@peerkv/pd';
import { sleepFor } from '../backoff.ts';
import { PeerKVError } from '../errors.ts';
import type { KvService, RegionRoute } from '../services.ts';
import type { GcHold } from './gc-registration.ts';
import type { TxnRouting } from './routing.ts';

/** One change, or a watermark: every change with commitTs ≤ `ts` has been yielded. */
export type WatchEvent =
  | { type: 'put'; key: Uint8Array; value: Uint8Array; commitTs: bigint }
  | { type: 'delete'; key: Uint8Array; commitTs: bigint }
  | { type: 'resolved'; ts: bigint };

/**
 * What to watch: the keys under `prefix`, or [start, end) (an absent or empty end: unbounded);
 * `fromTs` may be given here (`watch({ prefix, fromTs })`) instead of in the options, not in
 * both. Any other field is refused (`InvalidArgument`), so a misplaced option is never ignored.
 */
export type WatchRange = ({ prefix: Uint8Array } | { start?: Uint8Array; end?: Uint8Array }) & { fromTs?: bigint };

/** The fields a `WatchRange` may have. */
const WATCH_RANGE_FIELDS: ReadonlySet<string> = new Set(['prefix', 'start', 'end', 'fromTs']);

export interface WatchOptions {
  /** Changes with commitTs above this (a watermark of an earlier watch); a fresh TSO ts when absent. */
  fromTs?: bigint;
  signal?: AbortSignal;
  /** Items waiting for the consumer before the watch fails with `WatchLagged`. Default `WATCH_BUFFER_EVENTS_DEFAULT`. */
  bufferEventsMax?: number;
  /** Events one pull asks for at most. Default `WATCH_PAGE_EVENTS_DEFAULT`. */
  pageEventsMax?: number;
  /** Bytes one pull asks for at most (beyond its first event). Default `WATCH_PAGE_BYTES_DEFAULT`. */
  pageBytesMax?: number;
}

export const WATCH_BUFFER_EVENTS_DEFAULT = 10_000;
export const WATCH_BUFFER_EVENTS_MAX = 1_000_000;
export const WATCH_PAGE_EVENTS_DEFAULT = 1024;
/** The store's `CDC_PAGE_EVENTS_MAX`. */
export const WATCH_PAGE_EVENTS_MAX = 4096;
export const WATCH_PAGE_BYTES_DEFAULT = 1024 * 1024;
/** The store's `CDC_PAGE_BYTES_MAX`. */
export const WATCH_PAGE_BYTES_MAX = 4 * 1024 * 1024;
/** Longest a pull waits at the store for news, ms (also kept below half the request timeout). */
export const WATCH_WAIT_MS_MAX = 5000;
/** Spans (pull loops) one watch runs at most: a range over more regions fails `Unavailable`. */
export const WATCH_SPANS_MAX = 4096;
/** Delivered (key, commitTs) above the watermark remembered for deduplication. */
export const WATCH_DEDUP_EVENTS_MAX = 100_000;
/** Pause before asking a region with no resolved ts yet again, ms. */
export const WATCH_NOT_READY_BACKOFF_MS = 50;
/** Pause after a pull's retry loop gave up, before it starts again, ms. */
export const WATCH_RETRY_PAUSE_MS = 200;
/** A span with no answer for this long fails the watch (`Unavailable`), ms. */
export const WATCH_UNAVAILABLE_MS_MAX = 120_000;

/** A part of the range pulled by one loop. */
interface Span {
  start: Uint8Array;
  /** Exclusive; empty: unbounded. */
  end: Uint8Array;
  resolvedTs: bigint;
  cursor?: CdcCursor;
}

/** `options` checked, defaults filled in; throws `InvalidArgument`. */
function checkOptions(o: WatchOptions): Required<Pick<WatchOptions, 'bufferEventsMax' | 'pageEventsMax' | 'pageBytesMax'>> {
  if (o.fromTs !== undefined && (typeof o.fromTs !== 'bigint' || o.fromTs <= 0n)) throw new PeerKVError('InvalidArgument', 'watch: fromTs is a positive bigint TSO timestamp');
  const int = (name: string, v: number | undefined, dflt: number, max: number): number => {
    const x = v ?? dflt;
    if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 1 || x > max) throw new PeerKVError('InvalidArgument', `watch: ${name} is an integer in [1, ${max}]`);
    return x;
  };
  return {
    bufferEventsMax: int('bufferEventsMax', o.bufferEventsMax, WATCH_BUFFER_EVENTS_DEFAULT, WATCH_BUFFER_EVENTS_MAX),
    pageEventsMax: int('pageEventsMax', o.pageEventsMax, WATCH_PAGE_EVENTS_DEFAULT, WATCH_PAGE_EVENTS_MAX),
    pageBytesMax: int('pageBytesMax', o.pageBytesMax, WATCH_PAGE_BYTES_DEFAULT, WATCH_PAGE_BYTES_MAX),
  };
}

/**
 * A watch's arguments as its iterator takes them: the range as [start, end) (empty end:
 * unbounded), and the options with `fromTs` from wherever it was given (the range or the
 * options; both is refused). Throws `InvalidArgument`.
 */
export function watchArgs<O extends { fromTs?: bigint }>(range: WatchRange, o: O, prefixEnd: (p: Uint8Array) => Uint8Array): { bounds: { start: Uint8Array; end: Uint8Array }; options: O } {
  const bounds = watchBounds(range, prefixEnd);
  const unknown = Object.keys(range).find((f) => !WATCH_RANGE_FIELDS.has(f));
  if (unknown !== undefined) throw new PeerKVError('InvalidArgument', `watch: the range takes prefix or start/end, and fromTs; not ${unknown.slice(0, 64)}`);
  if (range.fromTs === undefined) return { bounds, options: o };
  if (o.fromTs !== undefined) throw new PeerKVError('InvalidArgument', 'watch: fromTs is given in the range or in the options, not both');
  return { bounds, options: { ...o, fromTs: range.fromTs } };
}

/** The watched range as [start, end) (empty end: unbounded); throws `InvalidArgument`. */
function watchBounds(range: WatchRange, prefixEnd: (p: Uint8Array) => Uint8Array): { start: Uint8Array; end: Uint8Array } {
  if (typeof range !== 'object' || range === null) throw new PeerKVError('InvalidArgument', 'watch: give { prefix } or { start, end }');
  const bytes = (name: string, v: unknown): Uint8Array => {
    if (!(v instanceof Uint8Array)) throw new PeerKVError('InvalidArgument', `watch: ${name} must be a Uint8Array`);
    return v;
  };
  if ('prefix' in range && range.prefix !== undefined) {
    if ('start' in range || 'end' in range) throw new PeerKVError('InvalidArgument', 'watch: a prefix or start/end, not both');
    const prefix = bytes('prefix', range.prefix);
    return { start: prefix, end: prefix.length === 0 ? new Uint8Array() : prefixEnd(prefix) };
  }
  const r = range as { start?: Uint8Array; end?: Uint8Array };
  const start = r.start === undefined ? new Uint8Array() : bytes('start', r.start);
  const end = r.end === undefined ? new Uint8Array() : bytes('end', r.end);
  if (end.length > 0 && compareKeys(start, end) >= 0) throw new PeerKVError('InvalidArgument', 'watch: start must be below end (an empty or reversed range)');
  return { start, end };
}

function eventId(key: Uint8Array, commitTs: bigint): string {
  let hex = '';
  for (const b of key) hex += b.toString(16).padStart(2, '0');
  return `${commitTs}:${hex}`;
}

/** A running watch: the iterator `kv.watch` returns. */
export class Watch implements AsyncIterableIterator<WatchEvent> {
  private readonly limits: ReturnType<typeof checkOptions>;
  private readonly spans: Span[] = [];
  private readonly queue: WatchEvent[] = [];
  /** Delivered changes above `emittedTs` (insertion order: oldest first), by `eventId`. */
  private readonly delivered = new Map<string, bigint>();
  /** Readers waiting in `next()` (more than one only if the consumer calls it concurrently). */
  private wakers: (() => void)[] = [];
  private readonly onAbort = (): void => this.fail(new PeerKVError('Aborted', 'aborted'));
  /** One per pull loop (not one shared signal: a listener per loop on one signal would pile up), aborted by `stop`. */
  private readonly stoppers = new Set<AbortController>();
  private started = false;
  private stopped = false;
  private failure: PeerKVError | undefined;
  private emittedTs = 0n;
  private consumedTs = 0n;
  /** Holds GC at the last watermark while the watch runs. */
  private gcHold: GcHold | undefined;
  /** Loops running (for `settled`). */
  private running = 0;
  private readonly loopsDone: (() => void)[] = [];

  constructor(
    private readonly routing: TxnRouting,
    private readonly bounds: { start: Uint8Array; end: Uint8Array },
    private readonly o: WatchOptions,
  ) {
    this.limits = checkOptions(o);
    if (o.signal?.aborted) this.onAbort();
    else o.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** The last watermark emitted (0 before the first). */
  get resolvedTs(): bigint {
    return this.emittedTs;
  }

  async next(): Promise<IteratorResult<WatchEvent>> {
    if (!this.started) await this.start();
    for (;;) {
      if (this.failure) {
        const e = this.failure;
        this.failure = undefined;
        this.queue.length = 0;
        throw e;
      }
      const item = this.queue.shift();
      if (item !== undefined) {
        if (item.type === 'resolved') this.consumedTs = item.ts;
        return { done: false, value: item };
      }
      if (this.stopped) return { done: true, value: undefined };
      await new Promise<void>((resolve) => this.wakers.push(resolve));
    }
  }

  async return(): Promise<IteratorResult<WatchEvent>> {
    this.stop();
    this.queue.length = 0;
    this.failure = undefined;
    return { done: true, value: undefined };
  }

  async throw(e?: unknown): Promise<IteratorResult<WatchEvent>> {
    await this.return();
    throw e;
  }

  /** Resolves once every pull loop has ended (after `return()`, an abort or a failure). */
  settled(): Promise<void> {
    return this.running === 0 ? Promise.resolve() : new Promise((resolve) => this.loopsDone.push(resolve));
  }

  private async start(): Promise<void> {
    this.started = true;
    if (this.stopped) return;
    let fromTs = this.o.fromTs;
    try {
      const stopper = this.stopperOf();
      try {
        fromTs ??= await this.routing.getTimestamp({ signal: stopper.signal });
      } finally {
        this.stoppers.delete(stopper);
      }
    } catch (e) {
      this.fail(e instanceof PeerKVError ? e : new PeerKVError('Unavailable', `watch: no start ts: ${String(e)}`));
      return;
    }
    this.emittedTs = fromTs;
    this.consumedTs = fromTs;
    this.holdGcAt(fromTs);
    this.addSpan({ start: this.bounds.start, end: this.bounds.end, resolvedTs: fromTs });
  }

  private addSpan(span: Span): void {
    if (this.spans.length >= WATCH_SPANS_MAX) return this.fail(new PeerKVError('Unavailable', `watch: the range spans more than ${WATCH_SPANS_MAX} regions`));
    this.spans.push(span);
    this.running++;
    void this.pullLoop(span)
      .catch((e) => this.fail(e instanceof PeerKVError ? e : new PeerKVError('Unavailable', `watch: ${String(e)}`)))
      .finally(() => {
        if (--this.running === 0) for (const done of this.loopsDone.splice(0)) done();
      });
  }

  /** Pulls one span until the watch stops. */
  private async pullLoop(span: Span): Promise<void> {
    const stopper = this.stopperOf();
    try {
      await this.pulls(span, stopper.signal);
    } finally {
      this.stoppers.delete(stopper);
    }
  }

  /** A signal aborted when the watch stops. */
  private stopperOf(): AbortController {
    const c = new AbortController();
    if (this.stopped) c.abort();
    this.stoppers.add(c);
    return c;
  }

  private async pulls(span: Span, signal: AbortSignal): Promise<void> {
    const clock = this.routing.clock;
    let lastAnswerMs = clock.now();
    while (!this.stopped) {
      let used: RegionRoute | undefined;
      const r = await this.routing.send(
        span.start,
        undefined,
        (route: RegionRoute, svc: KvService): Promise<Result<TxnAnswer<TxnCdcResult>>> => {
          used = route;
          return svc.handle(this.pullRequest(span, route), { signal });
        },
        signal,
      );
      if (this.stopped || r.kind === 'aborted') return;
      if (r.kind !== 'applied' || !r.value.ok) {
        const notReady = r.kind === 'applied' && !r.value.ok && r.value.errors[0].kind === 'DataIsNotReady';
        if (r.kind === 'applied' && !r.value.ok && !notReady) return this.fail(refusal(r.value.errors[0]));
        if (clock.now() - lastAnswerMs > WATCH_UNAVAILABLE_MS_MAX) {
          return this.fail(new PeerKVError('Unavailable', `watch: no answer for the range from region of its key for ${WATCH_UNAVAILABLE_MS_MAX} ms`, r.kind === 'applied' ? undefined : r.lastError));
        }
        await this.pause(notReady ? WATCH_NOT_READY_BACKOFF_MS : WATCH_RETRY_PAUSE_MS, signal);
        continue;
      }
      lastAnswerMs = clock.now();
      this.cutAt(span, used!);
      this.onPage(span, r.value.value);
    }
  }

  /** The pull of `span` ∩ `route`'s region. */
  private pullRequest(span: Span, route: RegionRoute): RequestOf<'txnCdcPull'> {
    const waitMs = Math.max(0, Math.min(WATCH_WAIT_MS_MAX, Math.floor(this.routing.requestTimeoutMs / 2)));
    const end = clampEnd(span.end, route.region.endKey);
    return {
      type: 'txnCdcPull',
      regionId: route.region.id,
      epoch: route.region.epoch,
      start: span.start,
      ...(end.length > 0 ? { end } : {}),
      fromTs: span.resolvedTs,
      ...(span.cursor === undefined ? {} : { cursor: span.cursor }),
      eventsMax: this.limits.pageEventsMax,
      bytesMax: this.limits.pageBytesMax,
      waitMs,
      timeoutMs: this.routing.requestTimeoutMs,
    };
  }

  /** A region that ends inside the span (a split): the span keeps the left part, a new loop pulls the rest from the same point. */
  private cutAt(span: Span, route: RegionRoute): void {
    const regionEnd = route.region.endKey;
    if (regionEnd.length === 0) return;
    if (span.end.length > 0 && compareKeys(regionEnd, span.end) >= 0) return;
    const right: Span = { start: regionEnd, end: span.end, resolvedTs: span.resolvedTs, ...(span.cursor === undefined ? {} : { cursor: span.cursor }) };
    span.end = regionEnd;
    this.addSpan(right);
  }

  private onPage(span: Span, page: TxnCdcResult): void {
    for (const e of page.events) {
      // A change at or below the span's watermark was delivered before; one remembered above
      // the last watermark is a repeat (an answer asked again, a span cut in two).
      if (e.commitTs <= span.resolvedTs) continue;
      const id = eventId(e.key, e.commitTs);
      if (this.delivered.has(id)) continue;
      this.remember(id, e.commitTs);
      this.push(e.type === 'put' ? { type: 'put', key: e.key, value: e.value, commitTs: e.commitTs } : { type: 'delete', key: e.key, commitTs: e.commitTs });
      if (this.stopped) return;
    }
    if (page.resolvedTs > span.resolvedTs || (page.resolvedTs === span.resolvedTs && page.cursor !== undefined)) {
      span.resolvedTs = page.resolvedTs;
      if (page.cursor === undefined) delete span.cursor;
      else span.cursor = page.cursor;
    }
    this.emitResolved();
  }

  private remember(id: string, commitTs: bigint): void {
    this.delivered.set(id, commitTs);
    // Forgetting the oldest only risks a repeat, which at-least-once allows.
    if (this.delivered.size > WATCH_DEDUP_EVENTS_MAX) this.delivered.delete(this.delivered.keys().next().value!);
  }

  /** Emits the least watermark over the spans if it moved up. */
  private emitResolved(): void {
    let min: bigint | undefined;
    for (const s of this.spans) if (min === undefined || s.resolvedTs < min) min = s.resolvedTs;
    if (min === undefined || min <= this.emittedTs) return;
    this.emittedTs = min;
    this.holdGcAt(min);
    for (const [id, ts] of this.delivered) if (ts <= min) this.delivered.delete(id);
    const last = this.queue[this.queue.length - 1];
    // Watermarks in a row: the newest says all the others say.
    if (last?.type === 'resolved') last.ts = min;
    else this.push({ type: 'resolved', ts: min });
    this.notify();
  }

  /** Moves the GC hold up to `ts` (the new hold first, then the old one goes). */
  private holdGcAt(ts: bigint): void {
    const gc = this.routing.gc;
    if (gc === undefined || this.stopped) return;
    const old = this.gcHold;
    this.gcHold = gc.hold(ts);
    this.gcHold.pin();
    old?.release();
  }

  private push(item: WatchEvent): void {
    if (this.queue.length >= this.limits.bufferEventsMax) {
      return this.fail(new WatchLaggedError(this.consumedTs, this.limits.bufferEventsMax));
    }
    this.queue.push(item);
    this.notify();
  }

  private notify(): void {
    for (const w of this.wakers.splice(0)) w();
  }

  private fail(e: PeerKVError): void {
    if (this.stopped) return;
    this.failure = e;
    this.stop();
  }

  private stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.o.signal?.removeEventListener('abort', this.onAbort);
    this.gcHold?.release();
    this.gcHold = undefined;
    for (const c of this.stoppers) c.abort();
    this.notify();
  }

  private async pause(ms: number, signal: AbortSignal): Promise<void> {
    try {
      await sleepFor(this.routing.clock, ms, signal);
    } catch {
      /* stopped: the loop checks */
    }
  }
}

/** The iterator threw because the consumer fell more than `bufferEventsMax` items behind: watch again from `resumeTs`. */
export class WatchLaggedError extends PeerKVError {
  constructor(
    readonly resumeTs: bigint,
    bufferEventsMax: number,
  ) {
    super('WatchLagged', `watch: the consumer fell more than ${bufferEventsMax} items behind; watch again with fromTs ${resumeTs}`);
  }
}

/** The smaller of two exclusive ends (empty: unbounded). */
function clampEnd(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  return compareKeys(a, b) <= 0 ? a : b;
}

/** The typed error of a pull the store refused for good. */
function refusal(e: TxnError): PeerKVError {
  if (e.kind === 'SafePointPassed') return new PeerKVError('SafePointPassed', `watch: fromTs ${e.ts} is below the GC safe point ${e.safePoint}; watch again from a newer ts`);
  if (e.kind === 'TxnUnsupported') return new PeerKVError('InvalidArgument', 'watch: the stores do not hold mvcc data');
  return new PeerKVError('Unavailable', `watch: the store refused the pull: ${e.kind}`);
}
