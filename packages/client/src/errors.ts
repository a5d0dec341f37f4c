/**
 * The errors an application sees: only once the retry budget is spent, or for bad input.
 */
import type { RegionError } from '@peerkv/pd';

export type PeerKVErrorKind =
  /** Retries of region errors (NotLeader, EpochNotMatch, ...) ran out. */
  | 'RetryBudgetExhausted'
  /** The caller aborted (AbortSignal). */
  | 'Aborted'
  /** No route to the key: PD does not know a region for it or no store is reachable. */
  | 'Unavailable'
  /** Invalid arguments (empty key, oversize value, ...). */
  | 'InvalidArgument'
  /** The client was closed. */
  | 'Closed'
  /**
   * A write whose outcome cannot be known: an attempt was sent and its answer never came (a
   * timeout, a leader change while it waited, an abort after sending). It may or may not have
   * been applied, and may still apply later, at most once. Read the key to find out.
   */
  | 'Undetermined'
  /**
   * A read or commit at a ts below PD's GC safe point: the versions it needs may be collected
   * (`txn/gc-registration.ts`). `transaction()` re-runs its function at a new start ts, like a
   * conflict, within its re-runs; a `kv.snapshot(ts)` must be taken again at a newer ts.
   */
  | 'SafePointPassed'
  /**
   * A transaction conflicted with another that committed a write to one of its keys after it
   * began (snapshot isolation's first-committer-wins), and `transaction()` ran out of re-runs.
   * Nothing of it was committed.
   */
  | 'WriteConflict'
  /**
   * A transaction was rolled back before it could commit (its locks outlived their TTL and
   * another transaction's lock resolver rolled it back), and `transaction()` ran out of
   * re-runs. Nothing of it was committed.
   */
  | 'TxnAborted'
  /**
   * A pessimistic transaction's lock wait would have closed a cycle of transactions waiting for
   * each other (the stores' deadlock detector found it), and `transaction()` ran out of re-runs.
   * Its locks were rolled back; nothing of it was committed.
   */
  | 'Deadlock'
  /**
   * A pessimistic transaction waited longer than its `waitTimeoutMs` for another transaction's
   * lock (TiDB's "lock wait timeout exceeded"). Not re-run; nothing of it was committed.
   */
  | 'LockWaitTimeout'
  /**
   * A transaction queued while the quorum was away (`offline: 'queue'`) found, when the quorum
   * came back, that keys it read or wrote were changed by another commit after its read ts,
   * and it has no registered mutator to run again. `keys` names them (for a range read, the
   * range's start). Nothing of it was committed.
   */
  | 'QueuedTxnConflict'
  /**
   * The offline queue is full (`offlineQueueTxnsMax` transactions or `offlineQueueBytesMax`
   * bytes): the transaction was not queued, and nothing queued before was dropped.
   */
  | 'QueueFull'
  /**
   * A watch's consumer fell more than `bufferEventsMax` items behind (`kv.watch`); the watch
   * stopped. `WatchLaggedError.resumeTs` is the last watermark it took: watch again from there.
   */
  | 'WatchLagged';

export class PeerKVError extends Error {
  override readonly name = 'PeerKVError';
  constructor(
    readonly kind: PeerKVErrorKind,
    message: string,
    /** The last region error seen, for `RetryBudgetExhausted` and `Undetermined`. */
    readonly lastRegionError?: RegionError,
    /** The keys a `WriteConflict` or `QueuedTxnConflict` is about. */
    readonly keys?: Uint8Array[],
  ) {
    super(message);
  }
}
