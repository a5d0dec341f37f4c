/**
 * A tab's transactions (mvcc): the function runs in the tab, and what needs the cluster is a
 * client request to the host. `TabTxns` is the tab's `TxnBackend`: the start ts
 * (`getTimestamp`), reads at it (`snapshotGet`, `snapshotScan` paged by `SCAN_ARRAY_PAIRS_MAX`),
 * the commit (`commitTxn`), and a pessimistic transaction's locks routed through the host
 * (`tab-txn-routing.ts`). Also the tab's key and value checks (`TAB_VALUE_CHECKS`, the host checks
 * again) and a plain write as the writes of a transaction (`writeInTransaction`).
 */
import { BACKOFF_DEFAULT, REAL_CLOCK, type Clock } from '../backoff.ts';
import type { Transaction, TxnBackend, TxnReader } from '../txn/transaction.ts';
import { BrowserKvError, SCAN_ARRAY_PAIRS_MAX, type ClientCall, type TxnMutation, type WriteRequest } from './protocol.ts';
import { tabTxnLocking } from './tab-txn-routing.ts';

/** Key and value checks of a tab's transaction (the host checks again). */
export const TAB_VALUE_CHECKS = {
  key(key: Uint8Array): void {
    if (!(key instanceof Uint8Array) || key.length === 0) throw new BrowserKvError('InvalidArgument', 'key must be a non-empty Uint8Array');
  },
  value(value: Uint8Array): void {
    if (!(value instanceof Uint8Array)) throw new BrowserKvError('InvalidArgument', 'value must be a Uint8Array');
  },
};

/** A tab's write, as the writes of a transaction. */
export async function writeInTransaction(tx: Transaction, req: WriteRequest): Promise<void> {
  switch (req.type) {
    case 'put':
      return tx.put(req.key, req.value);
    case 'delete':
      return tx.delete(req.key);
    case 'batchPut':
      for (const p of req.pairs) tx.put(p.key, p.value);
      return;
    case 'batchDelete':
      for (const k of req.keys) tx.delete(k);
      return;
    case 'deleteRange':
      for await (const p of tx.scan({ start: req.start, end: req.end })) tx.delete(p.key);
      return;
  }
}

/** Time and chance of a tab's transactions (the platform's by default; the simulator passes its virtual ones). */
export interface TabTxnsOptions {
  /** Backoff waits, and the start of a transaction (`beganAgoMs`); `REAL_CLOCK` by default. */
  clock?: Clock;
  /** Backoff jitter, a float in [0, 1); `Math.random` by default. */
  random?: () => number;
}

/** The transactions of one tab, through the host; see the module header. */
export class TabTxns {
  /** This tab's pessimistic transactions' routing through the host (made at the first transaction). */
  private locking: TxnReader['locking'];
  private readonly clock: Clock;
  private readonly random: () => number;

  /** `request` sends a client request to the host. */
  constructor(
    private readonly request: ClientCall,
    o: TabTxnsOptions = {},
  ) {
    this.clock = o.clock ?? REAL_CLOCK;
    this.random = o.random ?? Math.random;
  }

  /** A fresh TSO timestamp from the host. */
  getTimestamp(): Promise<bigint> {
    return this.request({ type: 'getTimestamp' });
  }

  /** Reads at `ts` through the host. */
  reader(ts: bigint): TxnReader {
    const request = this.request;
    // A pessimistic transaction's locks go through the host (`tab-txn-routing.ts`).
    this.locking ??= tabTxnLocking({ request, getTimestamp: () => this.getTimestamp(), clock: this.clock, random: this.random });
    return {
      ts,
      locking: this.locking,
      get: (key) => request({ type: 'snapshotGet', ts, key }),
      async *scan(start, end, limit) {
        let cursor = start;
        let remaining = limit;
        while (remaining > 0) {
          const page = Math.min(remaining, SCAN_ARRAY_PAIRS_MAX);
          const pairs = await request({ type: 'snapshotScan', ts, start: cursor, ...(end.length > 0 ? { end } : {}), limit: page });
          for (const p of pairs) yield p;
          remaining -= pairs.length;
          if (pairs.length < page) return;
          const last = pairs[pairs.length - 1].key;
          cursor = new Uint8Array(last.length + 1);
          cursor.set(last);
        }
      },
    };
  }

  /** The tab's `TxnBackend`: begins at a fresh ts, commits through the host. */
  backend(): TxnBackend {
    return {
      clock: this.clock,
      random: this.random,
      backoff: BACKOFF_DEFAULT,
      begin: async () => this.reader(await this.getTimestamp()),
      commit: (startTs, mutations, o) =>
        this.request({
          type: 'commitTxn',
          startTs,
          mutations: mutations as TxnMutation[],
          lockTtlMs: o.lockTtlMs,
          onePc: o.onePc,
          asyncCommit: o.asyncCommit,
          beganAgoMs: Math.max(0, Math.round(this.clock.now() - o.beganAtMs)),
          ...(o.forUpdateTs !== undefined ? { forUpdateTs: o.forUpdateTs } : {}),
        }),
    };
  }
}
