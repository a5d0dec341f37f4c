/**
 * A tab's reads at a timestamp (`BrowserPeerKV.snapshot({ maxStaleness } | { readTs })`): each
 * read is a request to the host, whose client serves it as `PeerKV.staleSnapshot` does (the
 * host store's replica at its resolved ts when that is fresh enough, else the leader). The
 * first answer fixes the snapshot's ts; every later read asks at that `readTs`, so all of them
 * see the database as of one time, and `ts` says which ("data as of …").
 */
import type { KvPair } from '../services.ts';
import { StaleTs, type StaleRead, type StalenessOptions } from '../txn/stale-reader.ts';
import { SCAN_ARRAY_PAIRS_MAX, type ClientCall } from './protocol.ts';

export class TabStaleReader extends StaleTs implements StaleRead {
  constructor(
    private readonly call: ClientCall,
    o: StalenessOptions,
  ) {
    super(o);
  }

  async get(key: Uint8Array): Promise<Uint8Array | undefined> {
    const r = await this.call({ type: 'staleBatchGet', keys: [key], ...this.at() });
    this.fixedTs ??= r.ts;
    return r.values[0];
  }

  /** Pages of at most `SCAN_ARRAY_PAIRS_MAX` pairs, each a `staleScan` at the snapshot's ts. */
  async *scan(start: Uint8Array, end: Uint8Array, limit: number): AsyncIterableIterator<KvPair> {
    let cursor = start;
    let remaining = limit;
    while (remaining > 0) {
      const page = Math.min(remaining, SCAN_ARRAY_PAIRS_MAX);
      const r = await this.call({ type: 'staleScan', ...(cursor.length > 0 ? { start: cursor } : {}), ...(end.length > 0 ? { end } : {}), limit: page, ...this.at() });
      this.fixedTs ??= r.ts;
      for (const p of r.pairs) yield p;
      remaining -= r.pairs.length;
      // A short page is the end of the range; else go on right after its last key.
      if (r.pairs.length < page) return;
      const last = r.pairs[r.pairs.length - 1].key;
      cursor = new Uint8Array(last.length + 1);
      cursor.set(last);
    }
  }

  /** The snapshot's ts once fixed, else its staleness bound. */
  private at(): StalenessOptions {
    return this.fixedTs !== undefined ? { readTs: this.fixedTs } : { maxStaleness: this.o.maxStaleness! };
  }
}
