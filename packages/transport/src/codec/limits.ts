/**
 * Decode limits: what a frame may claim before the decoder refuses it. Each bound is checked
 * before allocating, so a hostile length prefix costs nothing.
 */

/** Upper bounds applied while decoding. */
export interface DecodeLimits {
  /** Raft messages in one batch frame. */
  messagesPerBatchMax: number;
  /** Entries in one Raft message. */
  entriesPerMessageMax: number;
  /** Bytes in one opaque field: entry data, snapshot data, read-index context, nonce. */
  fieldBytesMax: number;
  /** Node ids in one list of a `ConfState`. */
  nodeIdsPerListMax: number;
  /** Bytes in one string (cluster id). */
  stringBytesMax: number;
}

/** Defaults: generous for Raft traffic, small enough that a lie is caught. */
export const DEFAULT_DECODE_LIMITS: Readonly<DecodeLimits> = Object.freeze({
  messagesPerBatchMax: 4096,
  entriesPerMessageMax: 65_536,
  fieldBytesMax: 64 * 1024 * 1024,
  nodeIdsPerListMax: 1024,
  stringBytesMax: 256,
});
