/**
 * The one error every decoder throws on bad input. Every malformed, truncated, oversized or
 * unknown value becomes a `DecodeError` with a closed `kind`, so a caller can count it and
 * refuse the bytes without ever catching anything else. Packages with their own decode error
 * (PD's `PdDecodeError`, the store's `StoreRpcDecodeError`) translate this one at their edge.
 */

/** Why bytes could not be decoded. */
export type DecodeErrorKind =
  /** The input ended before the value did. */
  | 'Truncated'
  /** Bytes were left after the value. */
  | 'TrailingBytes'
  /** A varUint longer than 8 bytes or above `Number.MAX_SAFE_INTEGER`. */
  | 'VarUintOverflow'
  /** A length or count is past its named limit. */
  | 'LimitExceeded'
  /** A string is not UTF-8. */
  | 'InvalidUtf8'
  /** A field is malformed: a bool byte above 1, an overlong varUint, a value out of its range. */
  | 'InvalidValue'
  /** An unknown enum value or union tag (a peer role, an op, an error kind). */
  | 'UnknownTag'
  /** A layout version newer than this reader knows. */
  | 'UnsupportedVersion'
  /** The transport's frame, Raft message and entry type numbers (`@peerkv/transport`). */
  | 'UnknownFrameType'
  | 'UnknownMessageType'
  | 'UnknownEntryType';

/** Bytes that do not decode. `kind` is closed; `message` is for humans. */
export class DecodeError extends Error {
  /** What went wrong, for counters and tests. */
  readonly kind: DecodeErrorKind;

  constructor(kind: DecodeErrorKind, detail: string) {
    super(`${kind}: ${detail}`);
    this.name = 'DecodeError';
    this.kind = kind;
  }
}
