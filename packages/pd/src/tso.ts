/**
 * `TsoAllocator`: the PD leader's timestamp oracle. It hands out timestamps from memory,
 * strictly increasing, and only strictly below the bound persisted through Raft
 * (`maxPersistedPhysicalMs`, raised by `tsoSaveWindow` commands). A new leader starts at the
 * previous bound, so every timestamp it serves is above every one a previous leader served.
 *
 * The store layer must call `becomeLeader` only after this replica has applied every entry
 * committed before its term began (e.g. its own term's first entry), so the bound it reads
 * is the latest. Wall-clock regressions never lower the next timestamp: physical time is
 * `max(last physical, min(now, bound - 1))`. When the 2^18 logical values of a millisecond
 * run out, physical moves on by one.
 */
import type { TsoSaveWindowCommand } from './command.ts';
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
  /** The persisted window is used up (or not yet persisted after a leader change): retry after `windowProposal`. */
  | { kind: 'WindowNotPersisted'; persistedPhysicalMs: number }
  | { kind: 'InvalidCount'; count: number; countMax: number };

/** A batch of `count` consecutive timestamps `first..last` (same physical ms). */
export type TsoResult = { kind: 'ok'; first: Timestamp; last: Timestamp; count: number } | { kind: 'error'; error: TsoError };

/** Leader-side timestamp oracle. `readBound` reads the applied `maxPersistedPhysicalMs`. */
export class TsoAllocator {
  private readonly config: TsoConfig;
  private serving = false;
  /** The next timestamp must be ≥ (physicalMs, logical). */
  private floorPhysicalMs = 0;
  private floorLogical = 0;
  private pendingWindow: { maxPhysicalMs: number; proposedAtMs: number } | undefined;

  constructor(
    private readonly readBound: () => number,
    config: Partial<TsoConfig> = {},
  ) {
    this.config = { ...DEFAULT_TSO_CONFIG, ...config };
  }

  /** Whether this allocator serves (between `becomeLeader` and `stepDown`). */
  get isServing(): boolean {
    return this.serving;
  }

  /** Starts serving above everything served under the currently persisted bound. */
  becomeLeader(): void {
    this.serving = true;
    this.floorPhysicalMs = Math.max(this.floorPhysicalMs, this.readBound());
    this.floorLogical = 0;
    this.pendingWindow = undefined;
  }

  /** Stops serving (leadership lost). */
  stepDown(): void {
    this.serving = false;
    this.pendingWindow = undefined;
  }

  /** `count` consecutive timestamps, or why not. */
  getTimestamps(count: number, nowMs: number): TsoResult {
    if (!this.serving) return { kind: 'error', error: { kind: 'NotLeader' } };
    const countMax = Math.min(this.config.batchMax, TSO_LOGICAL_MAX);
    if (!Number.isInteger(count) || count < 1 || count > countMax) {
      return { kind: 'error', error: { kind: 'InvalidCount', count, countMax } };
    }
    const bound = this.readBound();
    let physical = Math.max(this.floorPhysicalMs, Math.min(nowMs, bound - 1));
    let logical = physical > this.floorPhysicalMs ? 0 : this.floorLogical;
    if (logical + count > TSO_LOGICAL_MAX) {
      physical += 1;
      logical = 0;
    }
    if (physical >= bound) return { kind: 'error', error: { kind: 'WindowNotPersisted', persistedPhysicalMs: bound } };
    this.floorPhysicalMs = physical;
    this.floorLogical = logical + count;
    return { kind: 'ok', first: composeTs(physical, logical), last: composeTs(physical, logical + count - 1), count };
  }

  /**
   * A `tsoSaveWindow` command to propose now, or null when the window is wide enough or a
   * proposal is already in flight. Call on every PD tick and after `WindowNotPersisted`.
   */
  windowProposal(nowMs: number): TsoSaveWindowCommand | null {
    if (!this.serving) return null;
    const bound = this.readBound();
    const base = Math.max(nowMs, this.floorPhysicalMs);
    if (bound - base > this.config.updateThresholdMs) return null;
    const pending = this.pendingWindow;
    const inFlight = pending !== undefined && pending.maxPhysicalMs > bound && nowMs - pending.proposedAtMs < this.config.proposalRetryMs;
    if (inFlight && pending.maxPhysicalMs - base > this.config.updateThresholdMs) return null;
    const maxPhysicalMs = base + this.config.saveWindowMs;
    this.pendingWindow = { maxPhysicalMs, proposedAtMs: nowMs };
    return { kind: 'tsoSaveWindow', maxPhysicalMs };
  }
}
