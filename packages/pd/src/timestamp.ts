/**
 * TSO timestamps: `physicalMs << 18 | logical`, as TiKV. They are `bigint`s: a Unix time in
 * ms (about 2^40.7 today) shifted by 18 bits does not fit a JS number's 53-bit mantissa, and
 * an offset epoch would cap a cluster's lifetime at 2^35 ms (about 13 months). As a 64-bit
 * unsigned value it orders the same way in big-endian key encodings.
 */
import { assert } from './errors.ts';

/** A TSO timestamp (`physicalMs << 18 | logical`). */
export type Timestamp = bigint;

/** Bits of the logical counter. */
export const TSO_LOGICAL_BITS = 18;
/** Logical values per physical millisecond (the counter is in [0, TSO_LOGICAL_MAX)). */
export const TSO_LOGICAL_MAX = 1 << TSO_LOGICAL_BITS;
/** Physical ms must stay below this (2^46 ms: year 4199), so a timestamp fits 64 bits. */
export const TSO_PHYSICAL_MS_MAX = 2 ** 46;

/** Builds a timestamp from its parts. */
export function composeTs(physicalMs: number, logical: number): Timestamp {
  assert(Number.isSafeInteger(physicalMs) && physicalMs >= 0 && physicalMs < TSO_PHYSICAL_MS_MAX, `physicalMs ${physicalMs} out of range`);
  assert(Number.isInteger(logical) && logical >= 0 && logical < TSO_LOGICAL_MAX, `logical ${logical} out of range`);
  return (BigInt(physicalMs) << BigInt(TSO_LOGICAL_BITS)) | BigInt(logical);
}

/** The physical part (ms) of a timestamp. */
export function tsPhysicalMs(ts: Timestamp): number {
  return Number(ts >> BigInt(TSO_LOGICAL_BITS));
}

/** The logical part of a timestamp. */
export function tsLogical(ts: Timestamp): number {
  return Number(ts & BigInt(TSO_LOGICAL_MAX - 1));
}
