/**
 * A leader's view of one follower's log (etcd `tracker/progress.go`).
 *
 * States: `probe` sends one MsgApp per heartbeat interval until the follower's match is
 * found; `replicate` streams optimistically within the inflight window; `snapshot` waits for
 * a snapshot to be applied (or reported failed) before replicating again.
 */
import type { ProgressState } from '../ready.ts';
import { Inflights } from './inflights.ts';

export class Progress {
  /** Highest index known to be replicated on the follower. */
  match = 0;
  /** Next index to send. */
  next: number;
  state: ProgressState = 'probe';
  /** In `snapshot` state: the index of the snapshot being sent. */
  pendingSnapshot = 0;
  /**
   * The follower asked for a snapshot at or above this index (raft-rs
   * `pending_request_snapshot`): its log is fine but its state machine is not (a staged
   * snapshot it accepted was lost before it was applied). The next send is a snapshot, not
   * entries. 0: none asked.
   */
  pendingRequestSnapshot = 0;
  /** Heard from in the current election timeout (for CheckQuorum). */
  recentActive = false;
  /** In `probe` state: a probe was sent this heartbeat interval; wait. */
  msgAppFlowPaused = false;
  isLearner: boolean;
  readonly inflights: Inflights;

  constructor(next: number, maxInflightMsgs: number, isLearner: boolean, maxInflightBytes = 0) {
    this.next = next;
    this.isLearner = isLearner;
    this.inflights = new Inflights(maxInflightMsgs, maxInflightBytes);
  }

  private resetState(state: ProgressState): void {
    this.msgAppFlowPaused = false;
    this.pendingSnapshot = 0;
    this.pendingRequestSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    // After a snapshot, resume from the snapshot's index (+1) rather than from match.
    if (this.state === 'snapshot') {
      const pending = this.pendingSnapshot;
      this.resetState('probe');
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState('probe');
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState('replicate');
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState('snapshot');
    this.pendingSnapshot = snapshotIndex;
  }

  /**
   * Updates after sending entries up to `lastIndex` (inclusive) of `bytes` bytes.
   * In replicate state the window advances optimistically; in probe state we pause.
   */
  sentEntries(lastIndex: number, entryCount: number, bytes: number): void {
    if (this.state === 'replicate') {
      if (entryCount > 0) {
        this.next = lastIndex + 1;
        this.inflights.add(lastIndex, bytes);
      }
      this.msgAppFlowPaused = this.inflights.full();
    } else if (this.state === 'probe') {
      this.msgAppFlowPaused = true;
    }
  }

  /** Acknowledged up to `n`. Returns false if the ack is stale. */
  maybeUpdate(n: number): boolean {
    if (n <= this.match) return false;
    this.match = n;
    this.next = Math.max(this.next, n + 1);
    this.msgAppFlowPaused = false;
    return true;
  }

  /**
   * A rejection of the MsgApp at `rejected`; `matchHint` is the follower's hint of where the
   * logs may agree. Returns false when the rejection is stale.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      // Stale: the rejection is for an index already known to match.
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    // Probe: the rejection must be for the index we just probed at.
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.msgAppFlowPaused = false;
    return true;
  }

  /** Whether sending MsgApp to this follower must wait. */
  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.msgAppFlowPaused;
      case 'replicate':
        return this.msgAppFlowPaused;
      case 'snapshot':
        return true;
    }
  }
}
