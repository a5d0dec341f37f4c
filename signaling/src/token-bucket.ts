/**
 * A token bucket for per-connection message rates. Pure: the caller passes the time.
 */

/** Bucket state. */
export interface TokenBucket {
  tokens: number;
  updatedMs: number;
}

/** A full bucket at time `nowMs`. */
export function newBucket(burst: number, nowMs: number): TokenBucket {
  return { tokens: burst, updatedMs: nowMs };
}

/** Refills at `ratePerSecond` up to `burst`, then takes one token; false when empty. */
export function takeToken(b: TokenBucket, nowMs: number, ratePerSecond: number, burst: number): boolean {
  return takeTokens(b, nowMs, ratePerSecond, burst, 1);
}

/** Refills at `ratePerSecond` up to `burst`, then takes `n` tokens; false (taking none) when fewer are left. */
export function takeTokens(b: TokenBucket, nowMs: number, ratePerSecond: number, burst: number, n: number): boolean {
  const elapsedMs = Math.max(0, nowMs - b.updatedMs);
  b.tokens = Math.min(burst, b.tokens + (elapsedMs * ratePerSecond) / 1000);
  b.updatedMs = nowMs;
  if (b.tokens < n) return false;
  b.tokens -= n;
  return true;
}
