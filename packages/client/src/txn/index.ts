/** Transactions: the committer, the lock resolver, snapshot reads and `kv.transaction()`. */
export { Snapshot, Transaction, TXN_BYTES_MAX, TXN_KEYS_MAX, TXN_RETRIES_DEFAULT, TXN_RETRIES_MAX, prefixEnd } from './transaction.ts';
export { runTransaction } from './transaction.ts';
export type { TransactionInfo, TransactionOptions, TxnBackend, TxnCommitRequest, TxnReader, TxnScanOptions, TxnValueChecks } from './transaction.ts';
export { LOCK_TTL_MS_DEFAULT, PREWRITE_BATCH_BYTES_MAX, PREWRITE_BATCH_MUTATIONS_MAX } from './committer.ts';
export { RESOLVED_TXNS_CACHED_MAX } from './lock-resolver.ts';
export { TXN_SCAN_PAGE_PAIRS } from './snapshot-reader.ts';
export { LOCK_CONFLICT_RETRIES_MAX, PESSIMISTIC_LOCK_BATCH_KEYS_MAX, PESSIMISTIC_WAIT_STEP_MS_MAX, PESSIMISTIC_WAIT_TIMEOUT_MS_DEFAULT, PESSIMISTIC_WAIT_TIMEOUT_MS_MAX } from './pessimistic.ts';
export { GC_HOLDS_MAX, GC_HOLD_IDLE_MS, GC_REGISTER_BACKOFF_MS_MAX, GC_REGISTER_BACKOFF_MS_MIN, GC_REGISTRATION_TTL_MS, GcRegistration, type GcHold } from './gc-registration.ts';
export { StaleSnapshot, type StalenessOptions } from './stale-reader.ts';
export { MUTATOR_ARGS_BYTES_MAX, MUTATOR_NAME_CHARS_MAX, MemoryOfflineQueueStore, OFFLINE_QUEUE_BYTES_MAX_DEFAULT, OFFLINE_QUEUE_TXNS_MAX_DEFAULT, OFFLINE_RANGES_PER_TXN_MAX } from './offline-queue.ts';
export type { OfflineQueueStore, QueuedAttempt, QueuedRangeRead, QueuedTxnError, QueuedTxnRecord } from './offline-queue.ts';
export { OFFLINE_DECIDE_MS_DEFAULT, OFFLINE_RETRY_MS_MAX, OFFLINE_RETRY_MS_MIN, OfflineTxns } from './offline-txns.ts';
export type { Mutator, OfflineBackend, OfflineTxnOptions, PendingTxn, QueuedCommit, QueuedTxnHandle, QueuedTxnState } from './offline-txns.ts';
export { RecordingReader, rangeDigest, type LazyTsReader } from './offline-reader.ts';
export {
  Watch,
  WatchLaggedError,
  WATCH_BUFFER_EVENTS_DEFAULT,
  WATCH_BUFFER_EVENTS_MAX,
  WATCH_DEDUP_EVENTS_MAX,
  WATCH_PAGE_BYTES_DEFAULT,
  WATCH_PAGE_BYTES_MAX,
  WATCH_PAGE_EVENTS_DEFAULT,
  WATCH_PAGE_EVENTS_MAX,
  WATCH_SPANS_MAX,
  WATCH_UNAVAILABLE_MS_MAX,
  WATCH_WAIT_MS_MAX,
  type WatchEvent,
  type WatchOptions,
  type WatchRange,
} from './watch.ts';
