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
  | 'Closed';

export class PeerKVError extends Error {
  override readonly name = 'PeerKVError';
  constructor(
    readonly kind: PeerKVErrorKind,
    message: string,
    /** The last region error seen, for `RetryBudgetExhausted`. */
    readonly lastRegionError?: RegionError,
  ) {
    super(message);
  }
}
