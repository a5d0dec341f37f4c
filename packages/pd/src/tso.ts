/**
 * `TsoAllocator`: the PD leader's timestamp oracle. It hands out timestamps from memory,
 * strictly increasing, and strictly below a window it persisted itself through Raft
 * (`tsoSaveWindow` commands tagged with its peer id and term, fed back via `onApplied`).
 *
 * Across leader changes: a new leader starts at the bound persisted so far
 * (`becomeLeader(term, maxPersistedPhysicalMs)`), and every window an older leader served
 * under was committed before the new term began, so it is included in that bound. The
 * store layer must call `becomeLeader` only after applying every entry committed before
 * the term began (e.g. once its term's first entry is applied). Because a deposed leader
 * only serves under its own windows, it never reaches into a successor's range even if it
 * goes on applying entries before noticing it lost leadership.
 *
 * Times are wall-clock ms; fractions are dropped. Wall-clock regressions never lower the next timestamp: physical time is
 * `max(last physical, min(now, window - 1))`. When the 2^18 logical values of a
 * millisecond run out, physical moves on by one.
 */
import type { PdApplyResult, TsoSaveWindowCommand } from './command.ts';
import type { Timestamp } from './timestamp.ts';
import { TSO_LOGICAL_MAX, composeTs } from './timestamp.ts';

/** Knobs of the TSO allocator (ms are PD-leader wall-clock milliseconds). */
export interface TsoConfig {
  /** How far past now each persisted window reaches. */
  saveWindowMs: number;
  /** Propose a new window when less than this is left before the bound. */
  updateThresholdMs: number;
  /** Re-propose an unapplied window after this long. */
  proposalRetryMs: number;
  /** Most timestamps one `getTimestamps` call returns (at most 2^18). */
  batchMax: number;
}

/** Defaults: a 3 s window renewed with 1 s left (TiKV's `tso-save-interval` is 3 s). */
export const DEFAULT_TSO_CONFIG: Readonly<TsoConfig> = Object.freeze({
  saveWindowMs: 3000,
  updateThresholdMs: 1000,
  proposalRetryMs: 1000,
  batchMax: 4096,
});

/** Why timestamps could not be served now. */
export type TsoError =
  | { kind: 'NotLeader' }
  /** No room under this leader's persisted window (none yet after a leader change): propose `windowProposal` and retry. */
  | { kind: 'WindowNotPersisted'; windowPhysicalMs: number }
  | { kind: 'InvalidCount'; count: number; countMax: number };

/** A batch of `count` consecutive timestamps `first..last` (same physical ms). */
export type TsoResult = { kind: 'ok'; first: Timestamp; last: Timestamp; count: number } | { kind: 'error'; error: TsoError };

/** Leader-side timestamp oracle of one PD replica (`requesterId`: its PD peer id). */
export class TsoAllocator {
  private readonly config: TsoConfig;
  /** The Raft term this allocator leads in (undefined while not leader). */
  private term: number | undefined;
  /** The next timestamp must be ≥ (physicalMs, logical). */
  private floorPhysicalMs = 0;
  private floorLogical = 0;
  /** Timestamps must stay below this: the largest own window applied in this term. */
  private windowPhysicalMs = 0;
  private pendingWindow: { maxPhysicalMs: number; proposedAtMs: number } | undefined;

  constructor(
    readonly requesterId: number,
    config: Partial<TsoConfig> = {},
  ) {
    this.config = { ...DEFAULT_TSO_CONFIG, ...config };
  }

  /** Whether this allocator serves (between `becomeLeader` and `stepDown`). */
  get isServing(): boolean {
    return this.term !== undefined;
  }

  /**
   * Starts serving in `term`, above everything served under `persistedPhysicalMs` (the
   * state machine's `maxPersistedPhysicalMs`, read after applying all earlier entries).
   */
  becomeLeader(term: number, persistedPhysicalMs: number): void {
    this.term = term;
    this.floorPhysicalMs = Math.max(this.floorPhysicalMs, persistedPhysicalMs);
    this.floorLogical = 0;
    this.windowPhysicalMs = 0;
    this.pendingWindow = undefined;
  }

  /** Stops serving (leadership lost). */
  stepDown(): void {
    this.term = undefined;
    this.windowPhysicalMs = 0;
    this.pendingWindow = undefined;
  }

  /** Feed every applied result here: own windows of the current term widen what may be served. */
  onApplied(result: PdApplyResult): void {
    if (result.kind !== 'tsoWindowSaved' || result.requesterId !== this.requesterId) return;
    if (this.term === undefined || result.requesterTerm !== this.term) return;
    this.windowPhysicalMs = Math.max(this.windowPhysicalMs, result.maxPhysicalMs);
    if (this.pendingWindow !== undefined && this.pendingWindow.maxPhysicalMs <= this.windowPhysicalMs) this.pendingWindow = undefined;
  }

  /** `count` consecutive timestamps, or why not. */
  getTimestamps(count: number, nowMsRaw: number): TsoResult {
    const nowMs = Math.floor(nowMsRaw);
    if (this.term === undefined) return { kind: 'error', error: { kind: 'NotLeader' } };
    const countMax = Math.min(this.config.batchMax, TSO_LOGICAL_MAX);
    if (!Number.isInteger(count) || count < 1 || count > countMax) {
      return { kind: 'error', error: { kind: 'InvalidCount', count, countMax } };
    }
    const window = this.windowPhysicalMs;
    let physical = Math.max(this.floorPhysicalMs, Math.min(nowMs, window - 1));
    let logical = physical > this.floorPhysicalMs ? 0 : this.floorLogical;
    if (logical + count > TSO_LOGICAL_MAX) {
      physical += 1;
      logical = 0;
    }
    if (physical >= window) return { kind: 'error', error: { kind: 'WindowNotPersisted', windowPhysicalMs: window } };
    this.floorPhysicalMs = physical;
    this.floorLogical = logical + count;
    return { kind: 'ok', first: composeTs(physical, logical), last: composeTs(physical, logical + count - 1), count };
  }

  /**
   * A `tsoSaveWindow` command to propose now, or null when the window is wide enough or a
   * proposal is still in flight. Call on every PD tick and after `WindowNotPersisted`.
   */
  windowProposal(nowMsRaw: number): TsoSaveWindowCommand | null {
    const nowMs = Math.floor(nowMsRaw);
    if (this.term === undefined) return null;
    const base = Math.max(nowMs, this.floorPhysicalMs);
    const { updateThresholdMs, proposalRetryMs, saveWindowMs } = this.config;
    if (this.windowPhysicalMs - base > updateThresholdMs) return null;
    const pending = this.pendingWindow;
    if (pending !== undefined && nowMs - pending.proposedAtMs < proposalRetryMs && pending.maxPhysicalMs - base > updateThresholdMs) return null;
    const maxPhysicalMs = base + saveWindowMs;
    this.pendingWindow = { maxPhysicalMs, proposedAtMs: nowMs };
    return { kind: 'tsoSaveWindow', maxPhysicalMs, requesterId: this.requesterId, requesterTerm: this.term };
  }
}
