/** Shared helpers of the txn tests. */
import { DecodeError, type DecodeErrorKind } from '@peerkv/proto';
import fc from 'fast-check';

/** UTF-8 bytes of `s`. */
export const b = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Lower-case hex of `bytes`. */
export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** Bytes of a hex string. */
export function unhex(s: string): Uint8Array {
  return Uint8Array.from(s.match(/../g) ?? [], (x) => parseInt(x, 16));
}

/** The `DecodeError` kind `f` throws (fails the test on any other outcome). */
export function decodeKind(f: () => unknown): DecodeErrorKind {
  try {
    f();
  } catch (e) {
    if (e instanceof DecodeError) return e.kind;
    throw e;
  }
  throw new Error('expected a DecodeError, got a value');
}

/** Any u64 timestamp, edges included. */
export const arbTs = fc.oneof(fc.constantFrom(0n, 1n, (1n << 64n) - 1n, (1n << 63n) - 1n), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }));
