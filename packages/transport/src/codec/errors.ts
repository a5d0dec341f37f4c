/**
 * The one error the codec throws on bad input: `@peerkv/proto`'s `DecodeError` (the byte
 * reader throws it, and so do the frame, envelope and Raft message readers here). Every
 * malformed, truncated, oversized or unknown frame becomes one, with a closed `kind`, so a
 * caller can count it and drop the connection without ever catching anything else.
 */
export { DecodeError, type DecodeErrorKind } from '@peerkv/proto';
