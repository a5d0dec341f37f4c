/**
 * Virtual time for a whole in-process cluster: one scheduler is the `Clock` (PeerKV's one
 * clock interface) of every store, PD replica and client, and their seeded chance
 * (`random`). Owns the order in which timed work runs: between two timers, every promise continuation and microtask already queued runs to
 * completion (a `setImmediate` turn), then the earliest due timer fires (ties in scheduling
 * order). No wall clock and no real timer influences a run, so a seed replays identically.
 */
import { SeededRng } from '@peerkv/raft';
import type { Clock } from '@peerkv/transport';
import { EventQueue } from '../event-queue.ts';

/** Where virtual time starts, ms since 1970 (2023-11-14). */
export const VIRTUAL_EPOCH_MS = 1_700_000_000_000;

/** A virtual timer handle: cancelled timers stay queued but do nothing when due. */
interface VirtualHandle {
  cancelled: boolean;
}

/** Thrown by `runUntil` callers' helpers when virtual time runs out: a harness-level signal. */
export class VirtualTimeoutError extends Error {
  override readonly name = 'VirtualTimeoutError';
}

/** Lets every queued microtask and promise continuation run (one macrotask turn). */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Deterministic virtual time: timers, a clock and a seeded random source. */
export class VirtualScheduler implements Clock {
  private readonly queue = new EventQueue();
  private readonly rng: SeededRng;
  /** Timer callbacks that threw, in order (a store or client bug, reported by the harness). */
  readonly callbackErrors: { atMs: number; error: unknown }[] = [];
  /** Timers fired so far. */
  firedTimers = 0;

  /** `startMs`: the virtual epoch (PD's TSO wants a plausible wall-clock time). */
  constructor(seed: number, startMs = VIRTUAL_EPOCH_MS) {
    this.rng = new SeededRng(seed);
    this.queue.advanceTo(startMs);
  }

  /** The current virtual time, ms. */
  now = (): number => this.queue.now();

  setTimeout(fn: () => void, ms: number): unknown {
    const handle: VirtualHandle = { cancelled: false };
    this.queue.schedule(Math.max(0, ms), () => {
      if (!handle.cancelled) fn();
    });
    return handle;
  }

  clearTimeout(handle: unknown): void {
    if (handle !== null && typeof handle === 'object' && 'cancelled' in handle) (handle as VirtualHandle).cancelled = true;
  }

  /** Resolves after `ms` virtual milliseconds. */
  sleep = (ms: number): Promise<void> => new Promise((resolve) => this.setTimeout(resolve, ms));

  /** A float in [0, 1) from the scheduler's seeded stream. */
  random = (): number => this.rng.nextFloat();

  /** Runs every timer due within the next `virtualMs`, settling between timers; ends at now + virtualMs. */
  async runFor(virtualMs: number): Promise<void> {
    await this.runUntil(() => false, virtualMs);
  }

  /**
   * Runs timers until `cond()` holds (checked after each settle) or `maxVirtualMs` passes.
   * Returns whether `cond` held.
   */
  async runUntil(cond: () => boolean, maxVirtualMs: number): Promise<boolean> {
    const until = this.now() + maxVirtualMs;
    for (;;) {
      await settle();
      if (cond()) return true;
      const run = this.queue.popDue(until);
      if (run === undefined) break;
      this.firedTimers++;
      try {
        run();
      } catch (error) {
        this.callbackErrors.push({ atMs: this.now(), error });
      }
    }
    this.queue.advanceTo(until);
    await settle();
    return cond();
  }

  /** Awaits `p` while virtual time runs (at most `maxVirtualMs`); undefined if it did not settle. */
  async await<T>(p: Promise<T>, maxVirtualMs: number): Promise<{ value: T } | { error: unknown } | undefined> {
    let out: { value: T } | { error: unknown } | undefined;
    p.then(
      (value) => (out = { value }),
      (error: unknown) => (out = { error }),
    );
    await this.runUntil(() => out !== undefined, maxVirtualMs);
    return out;
  }
}
