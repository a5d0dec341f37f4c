/**
 * Enums on the wire: a value is its index in a table (append only), as a varUint. Tables
 * shorter than 128 entries therefore take one byte, the same as a `u8` index.
 */
import type { ByteReader, ByteWriter } from './bytes.ts';
import { DecodeError } from './errors.ts';

/** Writes one of `table`'s values as its index (paired with `readEnum`). */
export function writeEnum<T>(w: ByteWriter, table: readonly T[], value: T): void {
  const i = table.indexOf(value);
  if (i < 0) throw new RangeError(`unknown enum value ${String(value)}`);
  w.varUint(i);
}

/** Reads an index written by `writeEnum` back into `table`'s value; `what` names it in the error. */
export function readEnum<T>(r: ByteReader, table: readonly T[], what: string): T {
  const i = r.varUint();
  if (i >= table.length) throw new DecodeError('UnknownTag', `${what} ${i}`);
  return table[i];
}
