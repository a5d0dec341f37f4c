/**
 * Retry with capped exponential backoff and full jitter, within a budget of attempts and of
 * total time. Time and chance are injected so tests and the simulator stay deterministic.
 */
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

export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  random(): number;
}

export const REAL_CLOCK: Clock = {
  now: () => Date.now(),
  random: () => Math.random(),
  sleep: (ms, signal) =>
    new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(new PeerKVError('Aborted', 'aborted'));
        return;
      }
      const t = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = (): void => {
        clearTimeout(t);
        reject(new PeerKVError('Aborted', 'aborted'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

/** The delay before attempt `attempt` (1-based retries), with full jitter. */
export function backoffDelayMs(o: BackoffOptions, attempt: number, random: () => number): number {
  const exp = Math.min(o.capMs, o.baseMs * 2 ** Math.min(attempt, 20));
  return Math.floor(random() * exp);
}
