/**
 * Storage errors as closed unions. `StorageError` covers operating failures an engine can
 * hit (quota, aborts, upgrades, closed connections, bad input); `StorageCorruption` means a
 * persisted record failed its checksum or its layout invariants, and names what is broken.
 */

/** Why a storage operation failed. */
export type StorageErrorKind =
  /** The browser (or disk) refused to store more data; nothing of the failed write was stored. */
  | 'QuotaExceeded'
  /** The transaction was aborted (by the engine, the browser or another error); nothing was stored. */
  | 'Aborted'
  /** The database's version moved under us (another tab or process upgraded it). */
  | 'VersionError'
  /** An upgrade is blocked by another open connection that does not close. */
  | 'Blocked'
  /** The engine or its connection is closed (by `close()`, the browser, or a newer version). */
  | 'Closed'
  /** The stored format is newer or unknown; the data was left untouched. */
  | 'FormatUnsupported'
  /** The caller passed something the contract forbids (unknown column family, oversize key...). */
  | 'InvalidArgument'
  /** A write batch is over the engine's `batchBytesMax`. */
  | 'BatchTooLarge'
  /** The engine already has `snapshotsOpenMax` snapshots open; release one first. */
  | 'TooManySnapshots'
  /** A snapshot was used after its `release()`. */
  | 'SnapshotReleased'
  /** The pre-images an IndexedDB snapshot needs passed `snapshotBytesMax`: the snapshot is void. */
  | 'SnapshotTooLarge'
  /** Any other I/O failure; `cause` holds the original error. */
  | 'Io';

/** An expected storage failure. Callers switch on `kind`. */
export class StorageError extends Error {
  override readonly name = 'StorageError';
  constructor(
    readonly kind: StorageErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${kind}: ${message}`, options);
  }
}

/** Which persisted record failed its integrity check. */
export type CorruptRecord = 'entry' | 'hardState' | 'applyState' | 'truncatedState' | 'snapshot';

/**
 * A persisted record is damaged (checksum mismatch, impossible layout, missing entry in the
 * middle of a log). Never recovered from silently: the region must be rebuilt from a peer.
 */
export class StorageCorruption extends Error {
  override readonly name = 'StorageCorruption';
  readonly kind = 'Corruption' as const;
  constructor(
    readonly regionId: number,
    readonly record: CorruptRecord,
    /** The log index for `entry` records; undefined for state records. */
    readonly index: number | undefined,
    detail: string,
  ) {
    super(`corrupt ${record} in region ${regionId}${index === undefined ? '' : ` at index ${index}`}: ${detail}`);
  }
}

/** Throws a `StorageError('InvalidArgument')` when `cond` is false. */
export function requireArg(cond: unknown, message: string): asserts cond {
  if (!cond) throw new StorageError('InvalidArgument', message);
}
