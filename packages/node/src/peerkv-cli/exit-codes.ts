/**
 * The `peerkv` CLI's exit codes (documented in `PEERKV_CLI_USAGE` and the README), and the
 * one place that maps an error to its code and a one-line message.
 */
import { PeerKVError } from 'peerkv';
import { AdminError } from '../admin.ts';
import { CliUsageError } from './args.ts';
import { TxnExpectationFailed } from './txn-ops.ts';

/** Exit codes. */
export const EXIT = {
  /** Done. */
  ok: 0,
  /** A bad command line, bad options or bad input (an empty key, bad JSON on stdin). */
  usage: 1,
  /** The key, region or store does not exist. */
  notFound: 2,
  /** The cluster, PD or a quorum did not answer; or a write whose outcome is unknown (`Undetermined`). */
  unavailable: 3,
  /** A transaction did not commit: a conflict it ran out of re-runs for, a deadlock, a lock wait timeout, an `expect` op that did not hold. */
  conflict: 4,
  /** An admin request the cluster refused or that did not take effect in time (split, transfer-leader). */
  refused: 5,
  /** A bug: an error of no known kind. */
  internal: 10,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

const CONFLICT_KINDS = new Set(['WriteConflict', 'TxnAborted', 'Deadlock', 'LockWaitTimeout', 'SafePointPassed', 'QueuedTxnConflict', 'QueueFull']);

/** The exit code for `e`. */
export function exitCodeOf(e: unknown): ExitCode {
  if (e instanceof CliUsageError) return EXIT.usage;
  if (e instanceof TxnExpectationFailed) return EXIT.conflict;
  if (e instanceof AdminError) {
    if (e.kind === 'NotFound') return EXIT.notFound;
    if (e.kind === 'Refused') return EXIT.refused;
    if (e.kind === 'InvalidArgument') return EXIT.usage;
    return EXIT.unavailable;
  }
  if (e instanceof PeerKVError) {
    if (e.kind === 'InvalidArgument') return EXIT.usage;
    if (CONFLICT_KINDS.has(e.kind)) return EXIT.conflict;
    return EXIT.unavailable;
  }
  return EXIT.internal;
}

/** `e` as one line for stderr: its kind, then its message. */
export function errorLine(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const kind = 'kind' in e && typeof e.kind === 'string' ? e.kind : e.name;
  return `${kind}: ${e.message}`;
}
