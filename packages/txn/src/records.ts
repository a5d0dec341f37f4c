/**
 * Shared parts of the `lock` and `write` record codecs: the layout version byte that starts
 * every record, and the optional inline short value.
 */
import { DecodeError, type ByteReader, type ByteWriter } from '@peerkv/proto';
import { SHORT_VALUE_BYTES_MAX } from './limits.ts';

/** The layout version every lock and write record starts with; a newer one is refused. */
export const RECORD_VERSION = 1;

/** Writes the version byte. */
export function writeVersion(w: ByteWriter): void {
  w.u8(RECORD_VERSION);
}

/** Reads the version byte: 0 is `InvalidValue`, a newer version `UnsupportedVersion`. */
export function readVersion(r: ByteReader, what: string): void {
  const v = r.u8();
  if (v === 0) throw new DecodeError('InvalidValue', `${what} version 0`);
  if (v > RECORD_VERSION) throw new DecodeError('UnsupportedVersion', `${what} version ${v} > ${RECORD_VERSION}`);
}

/** Writes an optional short value: a presence flag, then its bytes (at most `SHORT_VALUE_BYTES_MAX`). */
export function writeShortValue(w: ByteWriter, value: Uint8Array | undefined): void {
  w.bool(value !== undefined);
  if (value === undefined) return;
  if (value.length > SHORT_VALUE_BYTES_MAX) throw new RangeError(`short value of ${value.length} bytes > ${SHORT_VALUE_BYTES_MAX}`);
  w.bytes(value);
}

/** Reads what `writeShortValue` wrote. */
export function readShortValue(r: ByteReader): Uint8Array | undefined {
  return r.bool() ? r.bytes(SHORT_VALUE_BYTES_MAX, 'short value') : undefined;
}

/** Whether `value` is kept inline in its lock or write record rather than in `default`. */
export function isShortValue(value: Uint8Array): boolean {
  return value.length <= SHORT_VALUE_BYTES_MAX;
}
