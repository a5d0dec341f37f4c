/**
 * Column families in memory, for tests and scripts: sorted arrays with binary search, a
 * `CfReader` (so `new MvccReader(new MemoryCfs())` is a full `ReadView`) and `apply` for an
 * action's ops. Reads see the state as of the call; apply an action's ops only after it
 * returns, as the store does with its write batch.
 */
import { compareBytes } from './key.ts';
import type { TxnOp } from './cf.ts';
import type { CfPair, CfReader, CfScanOptions } from './mvcc-reader.ts';

/** In-memory column families. */
export class MemoryCfs implements CfReader {
  private readonly cfs = new Map<string, CfPair[]>();

  private rows(cf: string): CfPair[] {
    let rows = this.cfs.get(cf);
    if (rows === undefined) {
      rows = [];
      this.cfs.set(cf, rows);
    }
    return rows;
  }

  /** Index of the first row with key ≥ `key`. */
  private lowerBound(rows: CfPair[], key: Uint8Array): number {
    let lo = 0;
    let hi = rows.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareBytes(rows[mid].key, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The value at `key` in `cf`. */
  async get(cf: string, key: Uint8Array): Promise<Uint8Array | undefined> {
    return this.getSync(cf, key);
  }

  /** `get`, answered at once (`CfReader.getSync`). */
  getSync(cf: string, key: Uint8Array): Uint8Array | undefined {
    const rows = this.rows(cf);
    const i = this.lowerBound(rows, key);
    return i < rows.length && compareBytes(rows[i].key, key) === 0 ? rows[i].value : undefined;
  }

  /** Pairs of `cf` in `[start, end)`, ascending (or descending with `reverse`), at most `limit`. */
  async *scan(cf: string, options: CfScanOptions): AsyncGenerator<CfPair> {
    // Copy the slice first: the caller may apply ops between two steps of the iteration.
    const rows = this.rows(cf);
    const from = options.start === undefined ? 0 : this.lowerBound(rows, options.start);
    const to = options.end === undefined ? rows.length : this.lowerBound(rows, options.end);
    const slice = rows.slice(from, Math.max(from, to));
    if (options.reverse) slice.reverse();
    const limit = options.limit ?? slice.length;
    for (const pair of slice.slice(0, limit)) yield pair;
  }

  /** Applies ops in order (one action's result, as one batch). */
  apply(ops: readonly TxnOp[]): void {
    for (const op of ops) {
      const rows = this.rows(op.cf);
      const i = this.lowerBound(rows, op.key);
      const present = i < rows.length && compareBytes(rows[i].key, op.key) === 0;
      if (op.type === 'put') {
        const pair = { key: op.key.slice(), value: op.value.slice() };
        if (present) rows[i] = pair;
        else rows.splice(i, 0, pair);
      } else if (present) {
        rows.splice(i, 1);
      }
    }
  }

  /** Every pair of `cf`, ascending (a copy). */
  entries(cf: string): CfPair[] {
    return this.rows(cf).slice();
  }
}
