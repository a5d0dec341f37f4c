/**
 * Retry with capped exponential backoff and full jitter, within a budget of attempts and of
 * total time. Time (a `Clock`) and chance (`random`) are injected so tests and the simulator
 * stay deterministic.
 */
import { sleepOn, systemClock, type Clock } from '@peerkv/transport';
import { PeerKVError } from './errors.ts';

export interface BackoffOptions {
  /** Attempts including the first. */
  attemptsMax: number;
  /** First backoff, ms. */
  baseMs: number;
  /** Largest single backoff, ms. */
  capMs: number;
  /** Total time across attempts, ms. */
  budgetMs: number;
}

export const BACKOFF_DEFAULT: BackoffOptions = { attemptsMax: 20, baseMs: 5, capMs: 1000, budgetMs: 20_000 };

/** A client's time: PeerKV's one `Clock` (the platform's wall clock by default; the simulator's virtual one). */
export type { Clock } from '@peerkv/transport';

/** The platform's wall clock and timers. */
export const REAL_CLOCK: Clock = systemClock;

/** Sleeps `ms` on `clock`; an abort rejects with `PeerKVError('Aborted')`. */
export function sleepFor(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return sleepOn(clock, ms, signal, () => new PeerKVError('Aborted', 'aborted'));
}

/** The delay before attempt `attempt` (1-based retries), with full jitter. */
export function backoffDelayMs(o: BackoffOptions, attempt: number, random: () => number): number {
  const exp = Math.min(o.capMs, o.baseMs * 2 ** Math.min(attempt, 20));
  return Math.floor(random() * exp);
}
