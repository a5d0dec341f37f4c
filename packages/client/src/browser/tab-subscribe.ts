/**
 * `BrowserPeerKV.subscribe` (issue 14): a thin layer over the change feed. With the mvcc data
 * model, while anyone listens, the tab runs one `watch` of the whole key space (`tab-watch.ts`,
 * on the host's client) and tells the listeners once per commit it delivers, from any tab of
 * any device: `fn('commitTxn')` (one transaction's changes share its commitTs, so a commit over
 * many keys or regions is told once). This profile's own commits are also told at once by the
 * tab channel (`local`, carrying their commitTs), without waiting for the feed's watermark
 * (about a resolved-ts interval); the feed then does not tell them again.
 *
 * - The feed resumes from its last watermark after a failure (no quorum for long, the host's
 *   watch gone too often, `WatchLagged`), pausing `SUBSCRIBE_RETRY_MS_MIN` doubling to
 *   `SUBSCRIBE_RETRY_MS_MAX` while it keeps failing. A watermark GC has passed
 *   (`SafePointPassed`) restarts it at a fresh ts, telling the listeners once (they may have
 *   missed commits: read again). A store that holds no mvcc data (`InvalidArgument`) ends it.
 * - The last unsubscribe, or `close`, stops it.
 * - The raw data model has no change feed: its listeners hear only this profile's tabs' writes
 *   (`local`), with the op each was.
 *
 * Delivery is at least once per commit: the commitTs told are remembered up to
 * `SUBSCRIBE_COMMITS_REMEMBERED_MAX`, beyond which a commit could be told twice.
 */
import { PeerKVError } from '../errors.ts';
import { WatchLaggedError, type WatchEvent } from '../txn/watch.ts';
import type { ClientRequestType } from './protocol.ts';
import type { TabWatchOptions } from './tab-watch.ts';

/** First pause before the feed starts again after a failure, ms (doubling while it fails). */
export const SUBSCRIBE_RETRY_MS_MIN = 500;
/** Longest pause before the feed starts again, ms. */
export const SUBSCRIBE_RETRY_MS_MAX = 30_000;
/** Commit timestamps remembered as told (the oldest are forgotten first). */
export const SUBSCRIBE_COMMITS_REMEMBERED_MAX = 10_000;

/** What a listener is told: the op of a write of this profile, or `commitTxn` for a commit from the feed. */
export type ChangeOp = ClientRequestType;
export type ChangeListener = (op: ChangeOp) => void;

/** A watch of the whole key space from `fromTs` (a fresh ts when absent), as `BrowserPeerKV.watch` gives. */
export type WholeWatch = (o: TabWatchOptions) => AsyncIterableIterator<WatchEvent>;

/** See the module header. */
export class TabSubscriptions {
  private readonly listeners = new Set<ChangeListener>();
  /** Commit timestamps told (insertion order: oldest first). */
  private readonly told = new Set<bigint>();
  /** Stops the running feed (absent: none runs). */
  private feed: AbortController | undefined;
  private closed = false;
  /** The running feed's last watermark. */
  private watermark: bigint | undefined;

  /** `watch` absent: the raw model, no feed. `sleep` resolves after `ms` or once `signal` aborts. */
  constructor(
    private readonly watch: WholeWatch | undefined,
    private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void> = abortableSleep,
  ) {}

  /** Adds a listener (the first starts the feed); returns its unsubscribe. */
  add(fn: ChangeListener): () => void {
    if (this.closed) return () => undefined;
    this.listeners.add(fn);
    if (this.watch !== undefined && this.feed === undefined) {
      const feed = new AbortController();
      this.feed = feed;
      void this.follow(this.watch, feed.signal);
    }
    return () => {
      this.listeners.delete(fn);
      if (this.listeners.size === 0) this.stopFeed();
    };
  }

  /** A change this profile's tabs made: told at once (once per commit when `commitTs` says which). */
  local(op: ChangeOp, commitTs?: bigint): void {
    if (commitTs !== undefined && !this.firstTime(commitTs)) return;
    this.tell(op);
  }

  /** Whether the feed runs now (tests and status). */
  get following(): boolean {
    return this.feed !== undefined;
  }

  /** The feed's last watermark: every commit at or below it was told (undefined before the first, and after the feed stopped). */
  get resolvedTs(): bigint | undefined {
    return this.feed === undefined ? undefined : this.watermark;
  }

  close(): void {
    this.closed = true;
    this.listeners.clear();
    this.stopFeed();
  }

  private stopFeed(): void {
    this.feed?.abort();
    this.feed = undefined;
    this.watermark = undefined;
  }

  /** True the first time `commitTs` is seen (then remembered). */
  private firstTime(commitTs: bigint): boolean {
    if (this.told.has(commitTs)) return false;
    this.told.add(commitTs);
    // Forgetting the oldest only risks telling a commit twice, which at-least-once allows.
    if (this.told.size > SUBSCRIBE_COMMITS_REMEMBERED_MAX) this.told.delete(this.told.values().next().value!);
    return true;
  }

  private tell(op: ChangeOp): void {
    for (const fn of [...this.listeners]) {
      try {
        fn(op);
      } catch {
        // A listener's own failure is its business; the others are still told.
      }
    }
  }

  /** Runs watches one after another until `signal` aborts; see the module header. */
  private async follow(watch: WholeWatch, signal: AbortSignal): Promise<void> {
    let fromTs: bigint | undefined;
    let pauseMs = SUBSCRIBE_RETRY_MS_MIN;
    while (!signal.aborted) {
      const w = watch({ ...(fromTs !== undefined ? { fromTs } : {}), signal });
      try {
        for await (const e of w) {
          pauseMs = SUBSCRIBE_RETRY_MS_MIN;
          if (e.type === 'resolved') fromTs = this.watermark = e.ts;
          else if (this.firstTime(e.commitTs)) this.tell('commitTxn');
        }
      } catch (e) {
        if (signal.aborted) return;
        const kind = e instanceof PeerKVError ? e.kind : (e as { kind?: unknown } | undefined)?.kind;
        if (e instanceof WatchLaggedError) fromTs = e.resumeTs;
        else if (kind === 'SafePointPassed') {
          // Commits between the last watermark and now may be missed: the listeners read again.
          fromTs = this.watermark = undefined;
          this.tell('commitTxn');
        } else if (kind === 'InvalidArgument') {
          // The stores hold no mvcc data: no feed will ever run; local writes are still told.
          if (this.feed?.signal === signal) this.feed = undefined;
          return;
        }
      } finally {
        void w.return?.();
      }
      await this.sleep(pauseMs, signal);
      pauseMs = Math.min(pauseMs * 2, SUBSCRIBE_RETRY_MS_MAX);
    }
  }
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
