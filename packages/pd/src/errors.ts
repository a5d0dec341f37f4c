/**
 * PD's failures: decode errors for bytes (commands, snapshots), refusals of commands as a
 * closed union of values, and assertions for broken invariants.
 */
import type { Region, RegionId, StoreId, StoreState } from './meta.ts';

/** Why bytes could not be decoded. */
export type PdDecodeErrorKind =
  /** The input ended before the value did. */
  | 'Truncated'
  /** Bytes were left after the value. */
  | 'TrailingBytes'
  /** An unknown command, role, state or format tag. */
  | 'UnknownTag'
  /** A length or count is past its named limit. */
  | 'LimitExceeded'
  /** A field is malformed (bad varint, bad UTF-8, unsafe integer, invalid value). */
  | 'Invalid';

/** Thrown by every PD decoder (`decodePdCommand`, `PdStateMachine.restore`) on bad input. */
export class PdDecodeError extends Error {
  override readonly name = 'PdDecodeError';
  constructor(
    readonly kind: PdDecodeErrorKind,
    message: string,
  ) {
    super(`${kind}: ${message}`);
  }
}

/**
 * Why the state machine refused a command. Refusals are deterministic: every replica
 * refuses the same command the same way, and the state is unchanged.
 */
export type PdError =
  | { kind: 'AlreadyBootstrapped'; clusterId: number }
  | { kind: 'NotBootstrapped' }
  /** The command's bytes did not decode (every replica sees the same bytes, so all refuse). */
  | { kind: 'MalformedCommand'; reason: string }
  | { kind: 'InvalidArgument'; reason: string }
  | { kind: 'StoreNotFound'; storeId: StoreId }
  | { kind: 'StoreTombstoned'; storeId: StoreId }
  /** A `putStore` with another identity key than the one PD recorded for the store: a key is never replaced. */
  | { kind: 'StoreKeyMismatch'; storeId: StoreId }
  | { kind: 'InvalidStoreStateChange'; storeId: StoreId; from: StoreState; to: StoreState }
  /** A store still holds peers and cannot be tombstoned without `force`. */
  | { kind: 'StoreNotEmpty'; storeId: StoreId; peerCount: number }
  /** The heartbeat's epoch is older than what PD knows (for this region or an overlapping one). */
  | { kind: 'StaleRegion'; regionId: RegionId; current: Region }
  /** Same epoch but an older Raft term than PD has seen: the leader info would go backwards. */
  | { kind: 'StaleTerm'; regionId: RegionId; term: number; knownTerm: number };

/** A PD invariant was broken: a bug or corrupted state. */
export class PdAssertionError extends Error {
  override readonly name = 'PdAssertionError';
}

/** Throws `PdAssertionError` when `cond` is false. */
export function assert(cond: unknown, message: string): asserts cond {
  if (!cond) throw new PdAssertionError(message);
}
