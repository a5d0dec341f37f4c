/**
 * Unsigned 64-bit values (`bigint`): TSO timestamps (`physicalMs << 18 | logical`, pd's
 * `Timestamp`) and key hashes. Written as two varUints, the high then the low 32 bits, so a
 * small value stays short and neither half can exceed a safe integer.
 */
import type { ByteReader, ByteWriter } from './bytes.ts';
import { DecodeError } from './errors.ts';

const U32_MAX = 0xffff_ffff;
const U64_MAX = (1n << 64n) - 1n;

/** Writes a value in [0, 2^64) (paired with `readU64`); anything else is a programmer error. */
export function writeU64(w: ByteWriter, v: bigint): void {
  if (v < 0n || v > U64_MAX) throw new RangeError(`u64 out of range: ${v}`);
  w.varUint(Number(v >> 32n));
  w.varUint(Number(v & 0xffff_ffffn));
}

/** Reads a value written by `writeU64`; a half above 32 bits is `InvalidValue`. */
export function readU64(r: ByteReader, what: string): bigint {
  const hi = r.varUint();
  const lo = r.varUint();
  if (hi > U32_MAX || lo > U32_MAX) throw new DecodeError('InvalidValue', `${what}: a half above 32 bits`);
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/** Writes a TSO timestamp (paired with `readTimestamp`). */
export function writeTimestamp(w: ByteWriter, ts: bigint): void {
  writeU64(w, ts);
}

/** Reads a TSO timestamp written by `writeTimestamp`. */
export function readTimestamp(r: ByteReader): bigint {
  return readU64(r, 'timestamp');
}
