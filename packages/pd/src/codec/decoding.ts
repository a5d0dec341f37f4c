/**
 * PD's decoding edge: runs a reader over bytes that must hold exactly one value and turns the
 * shared codec's `DecodeError` into `PdDecodeError`, the one error PD's decoders throw (the
 * state machine refuses a command that does not decode, the same way on every replica).
 */
import { DecodeError, decode, type ByteReader, type DecodeErrorKind } from '@peerkv/proto';
import { PdDecodeError, type PdDecodeErrorKind } from '../errors.ts';

/** PD's kind for each codec kind; what is not listed is `Invalid`. */
const PD_KINDS: Partial<Record<DecodeErrorKind, PdDecodeErrorKind>> = {
  Truncated: 'Truncated',
  TrailingBytes: 'TrailingBytes',
  LimitExceeded: 'LimitExceeded',
  UnknownTag: 'UnknownTag',
  UnsupportedVersion: 'UnknownTag',
};

/** Reads `data` with `read` to its last byte; every failure is a `PdDecodeError`. */
export function pdDecoding<T>(data: Uint8Array, what: string, read: (r: ByteReader) => T): T {
  try {
    return decode(data, read, what);
  } catch (e) {
    // The codec's message starts with its own kind: keep only the detail.
    if (e instanceof DecodeError) throw new PdDecodeError(PD_KINDS[e.kind] ?? 'Invalid', e.message.slice(e.kind.length + 2));
    throw e;
  }
}
