/**
 * What an action returns. Expected failures are values: proto's `KeyError` union, plus the
 * two outcomes kvproto reports outside it (TiKV's `ErrorInner::Committed` and
 * `PrimaryMismatch`), kept here rather than on the wire union so proto stays unchanged; the
 * store maps them at its edge. Broken invariants (a caller passing nonsense) are assertions.
 */
import type { KeyError } from '@peerkv/proto';
import type { TxnOp } from './cf.ts';
import type { Timestamp } from './timestamp.ts';

/** A rollback found the transaction already committed on `key` at `commitTs`: it must not be undone. */
export interface CommittedError {
  kind: 'Committed';
  key: Uint8Array;
  startTs: Timestamp;
  commitTs: Timestamp;
}

/** `checkTxnStatus` was sent to a key whose lock of that transaction names another primary. */
export interface PrimaryMismatchError {
  kind: 'PrimaryMismatch';
  key: Uint8Array;
  startTs: Timestamp;
  lockPrimary: Uint8Array;
}

/** Why an action refused: a key error, or one of the two txn-level outcomes above. */
export type ActionError = KeyError | CommittedError | PrimaryMismatchError;

/** An action's outcome: the writes to make (all of them, in one batch) and a result, or an error. */
export type ActionResult<T = object> = ({ ok: true; ops: TxnOp[] } & T) | { ok: false; error: ActionError };

/** A refusal. */
export function refuse(error: ActionError): { ok: false; error: ActionError } {
  return { ok: false, error };
}

/** A broken invariant: a programmer error that stops the caller (never an expected failure). */
export class TxnAssertionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TxnAssertionError';
  }
}

/** Throws `TxnAssertionError` unless `cond` holds. */
export function assert(cond: boolean, message: string): asserts cond {
  if (!cond) throw new TxnAssertionError(message);
}
