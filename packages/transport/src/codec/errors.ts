/**
 * The one error the codec throws on bad input. Every malformed, truncated, oversized or
 * unknown frame becomes a `DecodeError` with a closed `kind`, so a caller can count it and
 * drop the connection without ever catching anything else.
 */

/** Why a frame could not be decoded. */
export type DecodeErrorKind =
  | 'Truncated'
  | 'VarUintOverflow'
  | 'UnknownFrameType'
  | 'UnsupportedVersion'
  | 'UnknownMessageType'
  | 'UnknownEntryType'
  | 'LimitExceeded'
  | 'InvalidUtf8'
  | 'InvalidValue'
  | 'TrailingBytes';

/** A frame that does not decode. `kind` is closed; `message` is for humans. */
export class DecodeError extends Error {
  /** What went wrong, for counters and tests. */
  readonly kind: DecodeErrorKind;

  constructor(kind: DecodeErrorKind, detail: string) {
    super(`${kind}: ${detail}`);
    this.name = 'DecodeError';
    this.kind = kind;
  }
}
