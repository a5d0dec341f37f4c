/**
 * A tab's offline queue backend (`OfflineBackend` of `txn/offline-txns.ts`): the queue and the
 * transaction functions live in the tab (its records in IndexedDB, `offline-queue-idb.ts`);
 * what needs the cluster is a request to the host: reads at the host store's resolved ts
 * (`staleScan`, the first answer fixing the ts, later ones sent at it), timestamps, the queued
 * commit (`commitQueuedTxn`) and the decision of an attempt (`decideTxnAttempt`).
 */
import { compareKeys } from '@peerkv/pd';
import { BACKOFF_DEFAULT } from '../backoff.ts';
import type { KvPair } from '../services.ts';
import type { LazyTsReader } from '../txn/offline-reader.ts';
import type { OfflineBackend } from '../txn/offline-txns.ts';
import type { TxnBackend } from '../txn/transaction.ts';
import { SCAN_ARRAY_PAIRS_MAX, type ClientCall, type QueuedMutation } from './protocol.ts';

/** Sends a client request (table `kv`) to the host. */
type Request = ClientCall;

function successor(key: Uint8Array): Uint8Array {
  const out = new Uint8Array(key.length + 1);
  out.set(key);
  return out;
}

/** Reads from the host store's own replica at one ts: its resolved ts at the first answer. */
class TabStaleReader implements LazyTsReader {
  ts: bigint | undefined;

  constructor(private readonly request: Request) {}

  private async page(start: Uint8Array, end: Uint8Array, limit: number): Promise<KvPair[]> {
    const r = await this.request({ type: 'staleScan', start, ...(end.length > 0 ? { end } : {}), limit, ...(this.ts !== undefined ? { readTs: this.ts } : {}) });
    this.ts ??= r.ts;
    return r.pairs;
  }

  async get(key: Uint8Array): Promise<Uint8Array | undefined> {
    const [p] = await this.page(key, successor(key), 1);
    return p !== undefined && compareKeys(p.key, key) === 0 ? p.value : undefined;
  }

  async *scan(start: Uint8Array, end: Uint8Array, limit: number): AsyncIterableIterator<KvPair> {
    let cursor = start;
    let remaining = limit;
    while (remaining > 0) {
      const want = Math.min(remaining, SCAN_ARRAY_PAIRS_MAX);
      const pairs = await this.page(cursor, end, want);
      for (const p of pairs) yield p;
      remaining -= pairs.length;
      if (pairs.length < want) return;
      cursor = successor(pairs[pairs.length - 1].key);
    }
  }
}

/** The queue's backend in a tab: `request` reaches the host, `online` is the tab's transaction backend. */
export function tabOfflineBackend(request: Request, online: TxnBackend): OfflineBackend {
  return {
    clock: online.clock,
    random: online.random,
    backoff: BACKOFF_DEFAULT,
    online,
    localReader: () => new TabStaleReader(request),
    getTimestamp: () => request({ type: 'getTimestamp' }),
    commitQueued: (c) =>
      request({
        type: 'commitQueuedTxn',
        startTs: c.startTs,
        mutations: c.mutations as QueuedMutation[],
        readTs: c.readTs,
        ranges: c.ranges,
        lockTtlMs: c.lockTtlMs,
        beganAgoMs: Math.max(0, Math.round(online.clock.now() - c.beganAtMs)),
      }),
    decideAttempt: (a) => request({ type: 'decideTxnAttempt', startTs: a.startTs, primary: a.primary }),
  };
}
