/**
 * The transactional requests' answers (TiKV's kvrpcpb `*Response`s, reduced): a region
 * `Result` (ask again elsewhere: NotLeader, EpochNotMatch, ...) whose value is a `TxnAnswer`:
 * the action's result, or the errors of the keys that refused (key errors travel beside
 * region errors, as in kvproto). The two txn-level outcomes outside proto's `KeyError`
 * (`Committed`, `PrimaryMismatch`) and a store that does not declare the txn column families
 * (`TxnUnsupported`) are txn errors too.
 */
import type { CommittedError, Lock, Mutation, PrimaryMismatchError, SecondaryStatus, Timestamp, TxnStatus } from '@peerkv/txn';
import type { KeyError } from '@peerkv/proto';

/** This store does not declare the txn column families (`lock`, `write` beside `default`). */
export interface TxnUnsupportedError {
  kind: 'TxnUnsupported';
  /** The txn column families missing from the store's `dataColumnFamilies`. */
  missingColumnFamilies: string[];
}

/**
 * A read (`txnGet`, `txnScan`) at `ts` below the GC safe point this store knows (`gc-worker.ts`):
 * versions it needs may have been collected, so it is refused rather than answered wrong. The
 * reader must start again at a fresh ts.
 */
export interface SafePointPassedError {
  kind: 'SafePointPassed';
  ts: Timestamp;
  safePoint: Timestamp;
}

/**
 * A stale read asked a replica for a ts above its resolved ts (`safeTs`, 0: none applied
 * yet): read at or below `safeTs` here, or from the leader (TiKV's `DataIsNotReady`).
 */
export interface DataIsNotReadyError {
  kind: 'DataIsNotReady';
  regionId: number;
  safeTs: bigint;
}

/** Why a transactional request refused: a key error, a txn-level outcome, a read below the GC safe point, a stale read above the resolved ts, or an unsupported store. */
export type TxnError = KeyError | CommittedError | PrimaryMismatchError | TxnUnsupportedError | SafePointPassedError | DataIsNotReadyError;

/** What a stale read answers: the live pairs (a get: at most one) at `readTs`, and where to resume a scan. */
export interface TxnStaleReadResult {
  /** The ts the read saw the region at (the one asked, or the replica's safe ts). */
  readTs: bigint;
  pairs: { key: Uint8Array; value: Uint8Array }[];
  nextKey?: Uint8Array;
}

/** One committed change a change feed pull answers (`txnCdcPull`): a put with its value, or a delete. */
export type CdcEvent = { type: 'put'; key: Uint8Array; value: Uint8Array; commitTs: Timestamp } | { type: 'delete'; key: Uint8Array; commitTs: Timestamp };

/** Where a cut page resumes: the events at `commitTs` with keys up to `key` were delivered. */
export interface CdcCursor {
  commitTs: Timestamp;
  key: Uint8Array;
}

/**
 * What a change feed pull answers (`handlers/cdc.ts`): the committed changes of the range with
 * commitTs in (fromTs, resolvedTs], ordered by commitTs then key, and the watermark
 * `resolvedTs`: every change of the range with commitTs ≤ it has been delivered (by this page
 * or earlier ones). A page cut by its limits sets `more` (ask again at once) and, when it
 * stopped inside one commitTs, `cursor` (then `resolvedTs` is that commitTs − 1).
 */
export interface TxnCdcResult {
  events: CdcEvent[];
  resolvedTs: Timestamp;
  cursor?: CdcCursor;
  more: boolean;
}

/** A transactional request's value: its result, or every refusing key's error (at least one). */
export type TxnAnswer<T> = { ok: true; value: T } | { ok: false; errors: TxnError[] };

/** How a prewrite commits: the store supplies `maxTs` (async commit) and the 1PC commit ts. */
export type TxnCommitMode =
  | { kind: 'twoPc' }
  /** Async commit: the primary's lock lists `secondaries`; the result's `minCommitTs` is the commit ts candidate. */
  | { kind: 'asyncCommit'; secondaries: Uint8Array[] }
  /** Every key of the transaction is in this request: committed at once, at `onePcCommitTs`. */
  | { kind: 'onePc' };

/** What a prewrite answers. */
export interface TxnPrewriteResult {
  /** The largest `minCommitTs` of the locks (async commit: the commit ts candidate). */
  minCommitTs: Timestamp;
  /** With 1PC: the ts the transaction committed at. */
  onePcCommitTs?: Timestamp;
}

/**
 * What a commit answers: the ts the request's first key is committed at. Usually the one
 * asked; on a retry (or after a 1PC attempt that applied before the client fell back to 2PC)
 * the one already recorded, which is the transaction's real commit ts.
 */
export interface TxnCommitResult {
  commitTs: Timestamp;
}

/** What a snapshot read answers: the value (absent: none at `ts`) and the commit ts it came from. */
export interface TxnGetResult {
  value?: Uint8Array;
  commitTs?: Timestamp;
}

/** What a snapshot scan answers: pairs in key order, and where to resume (absent: the range is done). */
export interface TxnScanResult {
  pairs: { key: Uint8Array; value: Uint8Array }[];
  nextKey?: Uint8Array;
}

/** What a heartbeat answers: the TTL now in force. */
export interface TxnHeartbeatResult {
  ttlMs: number;
}

/** What a secondary-locks check answers: each key's state, in the request's order. */
export interface TxnSecondaryLocksResult {
  statuses: SecondaryStatus[];
}

/** What a GC request answers: the write records it dropped, and where to call again (absent: the region is done). */
export interface TxnGcResult {
  versionsDropped: number;
  nextKey?: Uint8Array;
}

/** What `txnReadIndex` answers: the applied index a replica must reach to serve the read. */
export interface TxnReadIndexResult {
  appliedIndex: number;
}

/** What a pessimistic lock answers: with `returnValues`, each key's newest value (absent: none), in the request's order. */
export interface TxnPessimisticLockResult {
  values?: (Uint8Array | undefined)[];
}

/** What a `txnDetectDeadlock` asks (TiKV's `DeadlockRequestType`). */
export type DeadlockRequestKind = 'detect' | 'cleanUpWaitFor' | 'cleanUp';

/**
 * To the deadlock detector, served by the store whose PD replica leads (others answer
 * `NotLeader`/`RegionNotFound` for PD's region): `detect` adds the wait-for edge
 * `waiterTs → holderTs` on the key hashed `keyHash` for `ttlMs`, or answers `Deadlock` when it
 * closes a cycle; `cleanUpWaitFor` removes that edge; `cleanUp` every edge of `waiterTs`. Its
 * answer is a `TxnAnswer<void>`. (Declared here, not in `request-types.ts`, so that `PdClient`,
 * which sends it, needs nothing else of the request vocabulary.)
 */
export interface TxnDetectDeadlockRequest {
  type: 'txnDetectDeadlock';
  kind: DeadlockRequestKind;
  waiterTs: Timestamp;
  holderTs: Timestamp;
  key: Uint8Array;
  keyHash: bigint;
  ttlMs: number;
  /** Store-side timeout of the request, ms. */
  timeoutMs?: number;
}

export type { Lock, Mutation, SecondaryStatus, TxnStatus };
