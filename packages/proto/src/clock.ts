/**
 * The one clock interface of PeerKV: time and one-shot timers, injected everywhere time is
 * used (transports, stores, PD hosting, clients, the simulator), so a test or the simulator
 * drives time by hand. Only the system implementations (`systemClock` and
 * `monotonicClock` in `@peerkv/transport`) touch the platform; this module declares the
 * contract and the helpers written against it, and reads no clock itself.
 */

/** An opaque timer handle (what `setTimeout` returned). */
export type TimerHandle = unknown;

export interface Clock {
  /**
   * Milliseconds. The system clock is the wall clock (PD's TSO and heartbeats need it), the
   * monotonic one `performance.now` (durations only), the simulator's its virtual time.
   */
  now(): number;
  /** Calls `fn` once, `delayMs` (≥ 0) from now. */
  setTimeout(fn: () => void, delayMs: number): TimerHandle;
  /** Cancels a timer that has not fired (a no-op otherwise). */
  clearTimeout(handle: TimerHandle): void;
}

/**
 * Resolves after `ms` on `clock`; once `signal` aborts (at once when it already has) clears
 * its timer and rejects with `abortError()` (by default `signal.reason`).
 */
export function sleepOn(clock: Clock, ms: number, signal?: AbortSignal, abortError: () => unknown = () => signal?.reason): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError());
      return;
    }
    const onAbort = (): void => {
      clock.clearTimeout(handle);
      reject(abortError());
    };
    const handle = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
