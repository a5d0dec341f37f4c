/**
 * TSO timestamps as the transaction rules see them: `physicalMs << 18 | logical`, the same
 * layout as pd's `Timestamp`. txn must not import pd (dependencies point down), so the type
 * and the two helpers the rules need are restated here. Every timestamp is an input: the core
 * reads no clock, and "now" is a `currentTs` the caller got from the TSO.
 */

/** A TSO timestamp (`physicalMs << 18 | logical`), an unsigned 64-bit value. */
export type Timestamp = bigint;

/** Bits of the logical counter (pd's `TSO_LOGICAL_BITS`). */
export const TSO_LOGICAL_BITS = 18n;
/** The largest timestamp: "read the newest", "no push" (TiKV's `TimeStamp::max()`). */
export const TS_MAX: Timestamp = (1n << 64n) - 1n;
/** The zero timestamp: "none" where a field has no value (a 2PC lock's unset `forUpdateTs`). */
export const TS_ZERO: Timestamp = 0n;

/** The physical part (ms) of a timestamp. */
export function physicalMs(ts: Timestamp): number {
  return Number(ts >> TSO_LOGICAL_BITS);
}

/** A timestamp from its parts (for tests and scripts; the rules never make one from a clock). */
export function composeTs(physical: number, logical = 0): Timestamp {
  return (BigInt(physical) << TSO_LOGICAL_BITS) | BigInt(logical);
}

/**
 * Whether a lock taken at `startTs` with `ttlMs` has expired at `currentTs`, judged on the
 * physical parts as TiKV does (`start_ts.physical() + ttl < current_ts.physical()`): at
 * exactly `startTs + ttlMs` the lock is still alive.
 */
export function isLockExpired(startTs: Timestamp, ttlMs: number, currentTs: Timestamp): boolean {
  return physicalMs(startTs) + ttlMs < physicalMs(currentTs);
}

/** The larger of timestamps (at least one). */
export function maxTs(first: Timestamp, ...rest: Timestamp[]): Timestamp {
  let m = first;
  for (const t of rest) if (t > m) m = t;
  return m;
}
