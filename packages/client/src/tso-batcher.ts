/**
 * `TsoBatcher`: the client's side of PD's timestamp oracle, like client-go's `tsoDispatcher`.
 * Callers `await getTimestamp()`; at most one request to PD is in flight, and the callers
 * that arrive meanwhile wait and are served together by the next request (`count` = the
 * number waiting, at most `batchMax`). So many concurrent transactions cost a few PD round
 * trips, not one each.
 *
 * Monotonic: a timestamp handed out is always above every one handed out before by this
 * batcher, even if a PD answer (a deposed leader's, or one from before a restart) is lower:
 * such timestamps are dropped and the rest asked for again. Region errors (NotLeader while
 * PD elects, timeouts) are retried with capped, jittered backoff on the client's `Clock`
 * within the backoff budget (attempts and time); then the waiting callers get
 * `RetryBudgetExhausted`. This is the one retry loop: each attempt asks the source for one try
 * (`once`) within the budget left. A source that retried to a budget of its own inside each
 * attempt (`RemotePdService`: 10 s a call) made a PD without a quorum answer after two of
 * them, 20 s, per read or write of the mvcc model (issue 12: 40 s for one read and one write).
 */
import type { RegionError } from '@peerkv/pd';
import type { TsoCallOptions } from './services.ts';
import { BACKOFF_DEFAULT, backoffDelayMs, sleepFor, type BackoffOptions, type Clock } from './backoff.ts';
import { PeerKVError } from './errors.ts';

/** Most timestamps one PD request asks for (below PD's `batchMax` and the RPC's `RPC_TIMESTAMPS_MAX`). */
export const TSO_BATCH_MAX = 1024;
/** Most callers waiting for a timestamp (not counting the in-flight batch); more are refused. */
export const TSO_WAITERS_MAX = 16_384;

/** `count` consecutive timestamps from `first`. */
export interface TsoBatch {
  first: bigint;
  count: number;
}

/**
 * Where timestamps come from: PD's leader (`PdCluster`, `RemotePdService`). A call that PD
 * could not answer throws `PeerKVError('Unavailable')` with the region error it saw (retried).
 */
export interface TsoSource {
  getTimestamps(count: number, o?: TsoCallOptions): Promise<TsoBatch>;
}

/** Settings of a `TsoBatcher`. */
export interface TsoBatcherOptions {
  /** PeerKV's one clock: the backoff sleeps on it. */
  clock: Clock;
  /** A float in [0, 1) for backoff jitter. */
  random: () => number;
  /** Retry budget (attempts and total time) for one batch; the client's by default. */
  backoff?: Partial<BackoffOptions>;
  /** Most timestamps per PD request (`TSO_BATCH_MAX` by default, at most it). */
  batchMax?: number;
  /** Most waiting callers (`TSO_WAITERS_MAX` by default). */
  waitersMax?: number;
}

interface Waiter {
  resolve: (ts: bigint) => void;
  reject: (e: unknown) => void;
  /** Settled already (aborted): its timestamp, if any, is simply not used. */
  done: boolean;
  signal?: AbortSignal;
  onAbort?: () => void;
}

/** Batches timestamp requests to PD; see the module header. */
export class TsoBatcher {
  private readonly backoff: BackoffOptions;
  private readonly batchMax: number;
  private readonly waitersMax: number;
  private readonly queue: Waiter[] = [];
  private inflight = false;
  private closed = false;
  /** Stops the in-flight batch's retries and PD call on `close`. */
  private readonly closing = new AbortController();
  /** The largest timestamp handed out (or seen from PD); the next must be above it. */
  private lastTs = 0n;
  /** PD requests sent (successful or not), for tests and dashboards. */
  requests = 0;

  constructor(
    private readonly source: TsoSource,
    private readonly o: TsoBatcherOptions,
  ) {
    this.backoff = { ...BACKOFF_DEFAULT, ...o.backoff };
    this.batchMax = Math.max(1, Math.min(o.batchMax ?? TSO_BATCH_MAX, TSO_BATCH_MAX));
    this.waitersMax = Math.max(1, o.waitersMax ?? TSO_WAITERS_MAX);
  }

  /** Callers waiting for the next batch. */
  get waiting(): number {
    return this.queue.length;
  }

  /** One fresh timestamp, above every one this batcher handed out before. */
  getTimestamp(o: { signal?: AbortSignal } = {}): Promise<bigint> {
    if (this.closed) return Promise.reject(new PeerKVError('Closed', 'client is closed'));
    if (o.signal?.aborted) return Promise.reject(new PeerKVError('Aborted', 'aborted'));
    if (this.queue.length >= this.waitersMax) {
      const busy: RegionError = { kind: 'ServerIsBusy', reason: `${this.queue.length} callers wait for a timestamp (TSO_WAITERS_MAX)`, backoffMs: 0 };
      return Promise.reject(new PeerKVError('Unavailable', busy.reason, busy));
    }
    return new Promise<bigint>((resolve, reject) => {
      const w: Waiter = { resolve, reject, done: false, signal: o.signal };
      if (o.signal) {
        w.onAbort = () => {
          const i = this.queue.indexOf(w);
          if (i >= 0) this.queue.splice(i, 1);
          settle(w, () => reject(new PeerKVError('Aborted', 'aborted')));
        };
        o.signal.addEventListener('abort', w.onAbort, { once: true });
      }
      this.queue.push(w);
      this.pump();
    });
  }

  /** Refuses new callers and fails waiting ones with `Closed`. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.closing.abort();
    for (const w of this.queue.splice(0)) settle(w, () => w.reject(new PeerKVError('Closed', 'client is closed')));
  }

  /** Starts the next batch when none is in flight. */
  private pump(): void {
    if (this.inflight || this.queue.length === 0 || this.closed) return;
    this.inflight = true;
    const batch = this.queue.splice(0, this.batchMax);
    void this.serve(batch).finally(() => {
      this.inflight = false;
      this.pump();
    });
  }

  private async serve(batch: Waiter[]): Promise<void> {
    try {
      const stamps = await this.fetch(batch.length);
      batch.forEach((w, i) => settle(w, () => w.resolve(stamps[i])));
    } catch (e) {
      for (const w of batch) settle(w, () => w.reject(e));
    }
  }

  /** `count` timestamps above `lastTs`, ascending, with retries; throws once the budget is spent. */
  private async fetch(count: number): Promise<bigint[]> {
    const out: bigint[] = [];
    const startMs = this.o.clock.now();
    let lastError: RegionError | undefined;
    for (let attempt = 0; attempt < this.backoff.attemptsMax; attempt++) {
      if (attempt > 0) {
        const delayMs = backoffDelayMs(this.backoff, attempt, this.o.random);
        if (this.o.clock.now() + delayMs - startMs > this.backoff.budgetMs) break;
        await sleepFor(this.o.clock, delayMs, this.closing.signal).catch(() => undefined);
      }
      if (this.closed) throw new PeerKVError('Closed', 'client is closed');
      const want = count - out.length;
      let got: TsoBatch;
      try {
        this.requests++;
        const timeoutMs = Math.max(1, this.backoff.budgetMs - (this.o.clock.now() - startMs));
        got = await this.source.getTimestamps(want, { signal: this.closing.signal, once: true, timeoutMs });
      } catch (e) {
        if (this.closed) throw new PeerKVError('Closed', 'client is closed');
        if (!(e instanceof PeerKVError) || e.kind !== 'Unavailable') throw e;
        lastError = e.lastRegionError;
        continue;
      }
      this.take(got, want, out);
      if (out.length === count) return out;
    }
    throw new PeerKVError('RetryBudgetExhausted', `no timestamps from PD${lastError ? `: ${lastError.kind}` : ''}`, lastError);
  }

  /** Appends the answer's timestamps above `lastTs` (at most `want`) to `out`. */
  private take(got: TsoBatch, want: number, out: bigint[]): void {
    if (typeof got.first !== 'bigint' || !Number.isSafeInteger(got.count) || got.count < 1) return;
    const n = Math.min(got.count, want);
    for (let i = 0; i < n; i++) {
      const ts = got.first + BigInt(i);
      if (ts <= this.lastTs) continue;
      this.lastTs = ts;
      out.push(ts);
    }
  }
}

/** Runs `f` once for a waiter (an abort and an answer may race). */
function settle(w: Waiter, f: () => void): void {
  if (w.done) return;
  w.done = true;
  if (w.signal && w.onAbort) w.signal.removeEventListener('abort', w.onAbort);
  f();
}
