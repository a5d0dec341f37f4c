/**
 * The clock and timers a transport uses, injected so tests drive time by hand. Only the
 * `systemTimers` default touches the platform's clock.
 */

/** An opaque timer handle. */
export type TimerHandle = unknown;

/** Time source and one-shot timers. */
export interface Timers {
  /** Milliseconds on a monotonic clock. */
  now(): number;
  setTimeout(fn: () => void, delayMs: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** The platform's clock (`performance.now`) and timers. */
export const systemTimers: Timers = {
  now: () => performance.now(),
  setTimeout: (fn, delayMs) => globalThis.setTimeout(fn, delayMs),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** A hand-driven clock for tests: `advance(ms)` fires due timers in order. */
export class ManualTimers implements Timers {
  private t = 0;
  private seq = 0;
  private readonly pending = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, delayMs: number): TimerHandle {
    const id = ++this.seq;
    this.pending.set(id, { at: this.t + Math.max(0, delayMs), fn });
    return id;
  }

  clearTimeout(handle: TimerHandle): void {
    this.pending.delete(handle as number);
  }

  /** Moves time forward by `ms`, firing every timer that falls due, earliest first. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.pending) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      this.pending.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
    }
    this.t = end;
  }
}
