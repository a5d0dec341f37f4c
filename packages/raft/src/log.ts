/**
 * The Raft log: stable storage plus the unstable tail, the commit index and the applied
 * index (etcd `log.go`).
 *
 * ```
 *   snapshot/first.....applied....committed....stable.....last
 *   --------|------------------------------------------------|
 *                             log entries
 * ```
 */
import { assert, RaftStorageError } from './errors.ts';
import { limitSize, type RaftStorage } from './storage.ts';
import { Unstable } from './log-unstable.ts';
import type { Entry, Snapshot } from './types.ts';

export class RaftLog {
  readonly unstable: Unstable;
  committed: number;
  applied: number;
  /** Highest index handed out in a Ready's committedEntries but not yet advanced. */
  applying: number;

  constructor(
    readonly storage: RaftStorage,
    readonly maxApplyingEntsBytes: number,
  ) {
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new Unstable(last + 1);
    // Everything up to the compaction point was committed and applied by definition.
    this.committed = first - 1;
    this.applied = first - 1;
    this.applying = first - 1;
  }

  /**
   * Appends `ents` after (index, logTerm) if that entry matches (§5.3, the consistency check).
   * Returns the index of the last new entry, or undefined on mismatch.
   */
  maybeAppend(index: number, logTerm: number, committed: number, ents: Entry[]): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNewIndex = index + ents.length;
    const ci = this.findConflict(ents);
    if (ci !== 0) {
      assert(ci > this.committed, `entry ${ci} conflict with committed entry [committed(${this.committed})]`);
      this.append(ents.slice(ci - (index + 1)));
    }
    this.commitTo(Math.min(committed, lastNewIndex));
    return lastNewIndex;
  }

  append(ents: Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    const after = ents[0].index - 1;
    assert(after >= this.committed, `after(${after}) is out of range [committed(${this.committed})]`);
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  /**
   * The index of the first entry of `ents` that conflicts with (or extends) the log, or 0 if
   * all are already present. A conflict is an entry with the same index and another term.
   */
  findConflict(ents: Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * For a rejected MsgApp at (index, term): the largest index ≤ `index` whose term is ≤
   * `term`, with that term. The leader can skip every entry above it (etcd thesis §5.3 opt).
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    for (; index > 0; index--) {
      const t = this.termOrUndefined(index);
      if (t === undefined) return { index, term: 0 };
      if (t <= term) return { index, term: t };
    }
    return { index: 0, term: 0 };
  }

  unstableEntries(): Entry[] {
    return this.unstable.entries;
  }

  /** Committed entries not yet applied or being applied, at most `maxApplyingEntsBytes`. */
  nextCommittedEnts(): Entry[] {
    const lo = Math.max(this.applying, this.firstIndex() - 1) + 1;
    const hi = this.committed + 1;
    if (lo >= hi) return [];
    // A pending snapshot is applied first.
    if (this.unstable.snapshot) return [];
    return this.slice(lo, hi, this.maxApplyingEntsBytes);
  }

  hasNextCommittedEnts(): boolean {
    if (this.unstable.snapshot) return false;
    return this.committed > Math.max(this.applying, this.firstIndex() - 1);
  }

  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  commitTo(toCommit: number): void {
    if (this.committed < toCommit) {
      assert(this.lastIndex() >= toCommit, `tocommit(${toCommit}) is out of range [lastIndex(${this.lastIndex()})]`);
      this.committed = toCommit;
    }
  }

  appliedTo(i: number): void {
    if (i === 0) return;
    assert(this.committed >= i && i >= this.applied, `applied(${i}) out of range [prev ${this.applied}, committed ${this.committed}]`);
    this.applied = i;
    if (this.applying < i) this.applying = i;
  }

  stableTo(i: number, t: number): void {
    this.unstable.stableTo(i, t);
  }

  stableSnapTo(i: number): void {
    this.unstable.stableSnapTo(i);
  }

  lastTerm(): number {
    return this.term(this.lastIndex());
  }

  /** Term of entry `i`. Throws RaftStorageError for compacted or unavailable indexes. */
  term(i: number): number {
    const ut = this.unstable.maybeTerm(i);
    if (ut !== undefined) return ut;
    const dummy = this.firstIndex() - 1;
    if (i < dummy) throw new RaftStorageError('Compacted', `term(${i}) compacted`);
    if (i > this.lastIndex()) throw new RaftStorageError('Unavailable', `term(${i}) unavailable`);
    return this.storage.term(i);
  }

  /** Term of entry `i`, or undefined if it is compacted or beyond the log. */
  termOrUndefined(i: number): number | undefined {
    // Bounds first: this is on the hot path of every append, and exceptions are costly.
    if (i < this.firstIndex() - 1 || i > this.lastIndex()) return undefined;
    const ut = this.unstable.maybeTerm(i);
    if (ut !== undefined) return ut;
    try {
      return this.term(i);
    } catch (e) {
      if (e instanceof RaftStorageError) return undefined;
      throw e;
    }
  }

  /** Entries from `i` to the end, limited to `maxSizeBytes`. */
  entries(i: number, maxSizeBytes: number): Entry[] {
    if (i > this.lastIndex()) return [];
    return this.slice(i, this.lastIndex() + 1, maxSizeBytes);
  }

  /** Whether (lastIndex, term) is at least as up-to-date as this log (§5.4.1). */
  isUpToDate(lastIndex: number, term: number): boolean {
    const lt = this.lastTerm();
    return term > lt || (term === lt && lastIndex >= this.lastIndex());
  }

  matchTerm(i: number, t: number): boolean {
    return this.termOrUndefined(i) === t;
  }

  /** Commits `maxIndex` only if its entry is from `term` (the leader's current term, §5.4.2). */
  maybeCommit(maxIndex: number, term: number): boolean {
    if (maxIndex > this.committed && this.termOrUndefined(maxIndex) === term) {
      this.commitTo(maxIndex);
      return true;
    }
    return false;
  }

  /** Replaces the log by a snapshot (an install from the leader). */
  restore(s: Snapshot): void {
    this.committed = s.metadata.index;
    this.unstable.restore(s);
  }

  /** Entries in [lo, hi) from storage and/or unstable, at most `maxSizeBytes` (≥ 1 entry). */
  slice(lo: number, hi: number, maxSizeBytes: number): Entry[] {
    this.mustCheckOutOfBounds(lo, hi);
    if (lo === hi) return [];
    let ents: Entry[] = [];
    if (lo < this.unstable.offset) {
      const stored = this.storage.entries(lo, Math.min(hi, this.unstable.offset), maxSizeBytes);
      // Storage returned fewer than asked because of the size limit: stop here.
      if (stored.length < Math.min(hi, this.unstable.offset) - lo) return stored;
      ents = stored;
    }
    if (hi > this.unstable.offset) {
      const un = this.unstable.slice(Math.max(lo, this.unstable.offset), hi);
      ents = ents.length > 0 ? ents.concat(un) : un;
    }
    return limitSize(ents, maxSizeBytes);
  }

  private mustCheckOutOfBounds(lo: number, hi: number): void {
    assert(lo <= hi, `invalid slice ${lo} > ${hi}`);
    const fi = this.firstIndex();
    if (lo < fi) throw new RaftStorageError('Compacted', `slice(${lo}) compacted, first ${fi}`);
    const length = this.lastIndex() + 1 - fi;
    assert(hi <= fi + length, `slice[${lo},${hi}) out of bound [${fi},${this.lastIndex()}]`);
  }
}
