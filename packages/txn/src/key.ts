/**
 * MVCC keys (TiKV's `txn_types::Key`): a user key in memcomparable form, optionally followed by
 * a timestamp in descending order.
 *
 * The memcomparable form is TiKV's bytes encoding (`codec::bytes::encode_bytes`): the key is cut
 * into groups of 8 bytes, the last group padded with zeros, and each group is followed by a
 * marker `0xff - padding`. So `encode(a) < encode(b)` exactly when `a < b` bytewise, and no
 * encoded key is a prefix of another: a key's versions (`encode(key) ++ ts`) never interleave
 * with a longer key that starts with the same bytes.
 *
 * ```
 *  "abc"       -> 61 62 63 00 00 00 00 00 fa           (5 bytes of padding: marker ff-5)
 *  "abcdefgh"  -> 61 .. 68 ff | 00 00 00 00 00 00 00 00 f7
 *  versions    -> encode(key) ++ be64(~ts)             (newest first in ascending key order)
 * ```
 */
import { DecodeError } from '@peerkv/proto';
import { TS_MAX, type Timestamp } from './timestamp.ts';

const GROUP_BYTES = 8;
const MARKER = 0xff;
/** Bytes of the descending timestamp suffix. */
export const TS_SUFFIX_BYTES = 8;

/** The memcomparable form of `key` (paired with `decodeKey`). */
export function encodeKey(key: Uint8Array): Uint8Array {
  const groups = Math.floor(key.length / GROUP_BYTES) + 1;
  const out = new Uint8Array(groups * (GROUP_BYTES + 1));
  for (let g = 0; g < groups; g++) {
    const from = g * GROUP_BYTES;
    const chunk = key.subarray(from, from + GROUP_BYTES);
    const at = g * (GROUP_BYTES + 1);
    out.set(chunk, at);
    out[at + GROUP_BYTES] = MARKER - (GROUP_BYTES - chunk.length);
  }
  return out;
}

/**
 * Reads a memcomparable key at the start of `bytes`; returns the user key and the encoded
 * length. A marker above 8 bytes of padding or non-zero padding is `InvalidValue`; running out
 * of bytes is `Truncated`.
 */
export function decodeKeyPrefix(bytes: Uint8Array): { key: Uint8Array; encodedBytes: number } {
  const parts: number[] = [];
  for (let at = 0; ; at += GROUP_BYTES + 1) {
    if (at + GROUP_BYTES + 1 > bytes.length) throw new DecodeError('Truncated', 'memcomparable key group');
    const pad = MARKER - bytes[at + GROUP_BYTES];
    if (pad > GROUP_BYTES) throw new DecodeError('InvalidValue', `key group marker ${bytes[at + GROUP_BYTES]}`);
    const used = GROUP_BYTES - pad;
    for (let i = 0; i < GROUP_BYTES; i++) {
      if (i >= used && bytes[at + i] !== 0) throw new DecodeError('InvalidValue', 'non-zero key padding');
      if (i < used) parts.push(bytes[at + i]);
    }
    if (pad > 0) return { key: Uint8Array.from(parts), encodedBytes: at + GROUP_BYTES + 1 };
  }
}

/** The user key of a memcomparable key that fills `bytes` exactly (paired with `encodeKey`). */
export function decodeKey(bytes: Uint8Array): Uint8Array {
  const { key, encodedBytes } = decodeKeyPrefix(bytes);
  if (encodedBytes !== bytes.length) throw new DecodeError('TrailingBytes', `${bytes.length - encodedBytes} bytes after the key`);
  return key;
}

/** `encodeKey(key)` followed by `ts` as a descending big-endian u64 (paired with `decodeMvccKey`). */
export function encodeMvccKey(key: Uint8Array, ts: Timestamp): Uint8Array {
  return appendTs(encodeKey(key), ts);
}

/** An encoded key followed by `~ts` as a big-endian u64, so newer versions sort first. */
export function appendTs(encodedKey: Uint8Array, ts: Timestamp): Uint8Array {
  if (ts < 0n || ts > TS_MAX) throw new RangeError(`timestamp out of range: ${ts}`);
  const out = new Uint8Array(encodedKey.length + TS_SUFFIX_BYTES);
  out.set(encodedKey);
  new DataView(out.buffer).setBigUint64(encodedKey.length, TS_MAX - ts, false);
  return out;
}

/** The user key and timestamp of an MVCC key written by `encodeMvccKey`. */
export function decodeMvccKey(bytes: Uint8Array): { key: Uint8Array; ts: Timestamp } {
  const { key, encodedBytes } = decodeKeyPrefix(bytes);
  if (bytes.length - encodedBytes !== TS_SUFFIX_BYTES) {
    throw new DecodeError(bytes.length < encodedBytes + TS_SUFFIX_BYTES ? 'Truncated' : 'TrailingBytes', 'MVCC key timestamp');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { key, ts: TS_MAX - view.getBigUint64(encodedBytes, false) };
}

/**
 * The smallest byte string above every string that starts with `encodedKey`: the end of the
 * range holding all of a key's versions. An encoded key ends with a marker of at most `0xfe`,
 * so incrementing the last byte never carries.
 */
export function encodedKeyEnd(encodedKey: Uint8Array): Uint8Array {
  const out = encodedKey.slice();
  out[out.length - 1] += 1;
  return out;
}

/** Bytewise comparison: negative, zero or positive as `a` sorts before, with or after `b`. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

/** Whether two byte strings are equal. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && compareBytes(a, b) === 0;
}
