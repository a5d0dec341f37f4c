/**
 * The platform's implementations of PeerKV's one clock interface (`Clock`, declared in
 * `@peerkv/proto`; `Timers` is its name in the transport's options), and a hand-driven one for
 * tests. These are the only places that touch the platform's clock and timers.
 */
import type { Clock, TimerHandle } from '@peerkv/proto';

export type { Clock, TimerHandle } from '@peerkv/proto';
export { sleepOn } from '@peerkv/proto';

/** The clock a transport takes (PeerKV's one `Clock`). */
export type Timers = Clock;

/** The platform's monotonic clock (`performance.now`) and timers: for durations. */
export const monotonicClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, delayMs) => globalThis.setTimeout(fn, delayMs),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** The transport's default (`monotonicClock`). */
export const systemTimers: Clock = monotonicClock;

/** The platform's wall clock (`Date.now`) and timers: for timestamps other machines compare (PD's TSO, heartbeats). */
export const systemClock: Clock = {
  now: () => Date.now(),
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
