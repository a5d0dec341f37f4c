/**
 * Expected failures of the Raft core as a closed union; broken invariants are assertions.
 */

/** Why a `RaftStorage` read could not be served. */
export type RaftStorageErrorKind =
  /** The requested index is below the first available index (compacted into a snapshot). */
  | 'Compacted'
  /** The requested index is beyond the last index. */
  | 'Unavailable'
  /** The snapshot is being generated; ask again later. */
  | 'SnapshotTemporarilyUnavailable'
  /** Entries live only in slow storage and are being fetched; ask again later. */
  | 'LogTemporarilyUnavailable';

/** Thrown by `RaftStorage` implementations; the core handles each kind. */
export class RaftStorageError extends Error {
  override readonly name = 'RaftStorageError';
  constructor(
    readonly kind: RaftStorageErrorKind,
    message?: string,
  ) {
    super(message ?? kind);
  }
}

/** Why a proposal, conf change, read or transfer was refused. */
export type ProposalDroppedReason =
  | 'NoLeader'
  | 'LeaderTransferring'
  | 'UncommittedSizeExceeded'
  | 'ConfChangePending'
  | 'InvalidConfChange'
  | 'NotLeader';

/** Thrown by `propose`, `proposeConfChange` and friends when Raft drops the request. */
export class ProposalDroppedError extends Error {
  override readonly name = 'ProposalDroppedError';
  constructor(
    readonly reason: ProposalDroppedReason,
    message?: string,
  ) {
    super(message ?? `proposal dropped: ${reason}`);
  }
}

/** A Raft invariant was broken: a bug or corrupted state. The node must stop. */
export class RaftAssertionError extends Error {
  override readonly name = 'RaftAssertionError';
}

/** Throws `RaftAssertionError` when `cond` is false. */
export function assert(cond: unknown, message: string): asserts cond {
  if (!cond) throw new RaftAssertionError(message);
}
