/**
 * The options every store request takes (timeout, abort, a write's ack floor) and how a read
 * is served. Kept apart from the `Store` so the PD client, the RPC codecs and the network
 * store can name them without importing the store.
 */

/** How a read is served. */
export type ReadConsistency =
  /** ReadIndex through the leader (default): linearizable. */
  | 'linearizable'
  /** ReadIndex from any replica (follower read): linearizable, served locally once caught up. */
  | 'follower'
  /** The replica's local state, possibly stale. */
  | 'stale';

export interface RequestOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** A write's options: its client's acknowledgement floor besides the timeout. */
export interface WriteRequestOptions extends RequestOptions {
  /** The client has a final answer for every seq below this (see dedup.ts); 0 acknowledges nothing. */
  ackFloor?: number;
}
