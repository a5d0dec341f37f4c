/**
 * The errors of the store RPC layer: `StoreRpcDecodeError` (bytes that are not a valid
 * request or response; the only thing the decoders throw) and `StoreRpcFailure` (what a
 * server answers when it cannot run a request at all: a bad request, a closed store, an
 * unexpected failure). Region errors are not here: they travel inside results.
 */

/** Why bytes did not decode as a store request or response. */
export type StoreRpcDecodeErrorKind =
  /** The first varUint names no known request or response type. */
  | 'UnknownType'
  /** The layout version is not one this reader knows. */
  | 'UnsupportedVersion'
  /** A length or count is over a named limit. */
  | 'LimitExceeded'
  /** Truncated, trailing bytes, an unknown enum value, bad UTF-8... */
  | 'Malformed';

/** Bytes that are not a store request or response. `kind` is closed; `message` is for humans. */
export class StoreRpcDecodeError extends Error {
  override readonly name = 'StoreRpcDecodeError';

  constructor(
    readonly kind: StoreRpcDecodeErrorKind,
    detail: string,
  ) {
    super(`${kind}: ${detail}`);
  }
}

/** Why a server could not run a request (as opposed to a region error, which is a result). */
export type StoreRpcFailureKind =
  /** The request did not decode. */
  | 'BadRequest'
  /** The store is closed or stopped after a storage failure. */
  | 'StoreClosed'
  /** The store threw something unexpected (a bug); the message says what. */
  | 'Internal'
  /** The caller may not send this request (`authorize.ts`): an admin request without the operator key, a report for another store. */
  | 'Forbidden'
  /**
   * The request reads or writes user data and the caller has not proven, on its current link,
   * that it holds the data key (`data-key-proof.ts`): a witness credential's holder, or a member
   * that has not run the proof yet (`withDataKeyProof` runs it and asks again).
   */
  | 'DataKeyUnproven';

/** A server-side failure, as carried in a response. */
export interface StoreRpcFailure {
  kind: StoreRpcFailureKind;
  message: string;
}
