/**
 * The term of every uncompacted index, kept as runs of equal terms. Terms only grow along a
 * log, so a region's whole uncompacted log costs one run per term change (a handful), and
 * `term(i)` stays synchronous without keeping entries in memory.
 */

/** Terms of indexes `[offset, last]`; `offset` is the last compacted index (its term kept). */
export class TermRuns {
  /** First index of each run, ascending; run k covers `[starts[k], starts[k+1])`. */
  private starts: number[] = [];
  private terms: number[] = [];

  constructor(
    private offsetIndex: number,
    private offsetTermValue: number,
    private last: number = offsetIndex,
  ) {}

  /** A deep copy. */
  clone(): TermRuns {
    const c = new TermRuns(this.offsetIndex, this.offsetTermValue, this.last);
    c.starts = [...this.starts];
    c.terms = [...this.terms];
    return c;
  }

  /** The last compacted index (`firstIndex - 1`). */
  get offset(): number {
    return this.offsetIndex;
  }

  /** The last index (equal to `offset` when the log is empty). */
  get lastIndex(): number {
    return this.last;
  }

  /** The term of `index`, or undefined outside `[offset, lastIndex]`. */
  term(index: number): number | undefined {
    if (index === this.offsetIndex) return this.offsetTermValue;
    if (index < this.offsetIndex || index > this.last) return undefined;
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid] <= index) lo = mid;
      else hi = mid - 1;
    }
    return this.terms[lo];
  }

  /** Records `index` (must be `lastIndex + 1`) with `term`. */
  push(index: number, term: number): void {
    if (this.terms.length === 0 || this.terms[this.terms.length - 1] !== term) {
      this.starts.push(index);
      this.terms.push(term);
    }
    this.last = index;
  }

  /** Forgets every index ≥ `index` (offset < index ≤ lastIndex + 1). */
  truncateFrom(index: number): void {
    while (this.starts.length > 0 && this.starts[this.starts.length - 1] >= index) {
      this.starts.pop();
      this.terms.pop();
    }
    this.last = Math.min(this.last, index - 1);
  }

  /** Forgets every index ≤ `index` (offset < index ≤ lastIndex), keeping its term as the offset term. */
  compactTo(index: number): void {
    const term = this.term(index) as number;
    let drop = 0;
    while (drop + 1 < this.starts.length && this.starts[drop + 1] <= index + 1) drop++;
    this.starts.splice(0, drop);
    this.terms.splice(0, drop);
    if (this.starts.length > 0) this.starts[0] = Math.max(this.starts[0], index + 1);
    if (index === this.last) {
      this.starts = [];
      this.terms = [];
    }
    this.offsetIndex = index;
    this.offsetTermValue = term;
  }

  /** Empties the log at a snapshot: offset = `index` with `term`. */
  reset(index: number, term: number): void {
    this.starts = [];
    this.terms = [];
    this.offsetIndex = index;
    this.offsetTermValue = term;
    this.last = index;
  }
}
