/**
 * The key-value API over MVCC (the `mvcc` data model: every read and write is transactional).
 *
 * - `get` and `scan` read at a fresh TSO timestamp and resolve the locks they meet: a write
 *   acknowledged before the read began committed below that timestamp, so the read sees it.
 * - `put` and `delete` are one-statement transactions, committed by 1PC (one prewrite that
 *   commits on the store).
 * - `batchPut` and `deleteRange` are one transaction, atomic across regions (bounded by
 *   `TXN_KEYS_MAX` keys and `TXN_BYTES_MAX` bytes).
 * - A blind write that meets a newer commit (`WriteConflict`) is simply run again with a new
 *   start ts: it read nothing, so running it again is the same request, not a replay of
 *   stale reads.
 * - The raw API's (clientId, seq) dedup does not apply: a transaction is idempotent by its
 *   start ts, and a write whose commit went unanswered is `Undetermined`.
 */
import { PeerKVError } from '../errors.ts';
import type { KvPair } from '../services.ts';
import type { LockResolver } from './lock-resolver.ts';
import type { ReplicaRead, TxnRouting } from './routing.ts';
import { SnapshotReader } from './snapshot-reader.ts';
import { TXN_KEYS_MAX, runTransaction, type TxnBackend, type TxnValueChecks } from './transaction.ts';

export class MvccKv {
  constructor(
    private readonly routing: TxnRouting,
    private readonly resolver: LockResolver,
    private readonly checks: TxnValueChecks,
    private readonly backend: TxnBackend,
  ) {}

  private async reader(replicaRead: ReplicaRead, signal?: AbortSignal): Promise<SnapshotReader> {
    return new SnapshotReader(this.routing, this.resolver, await this.routing.getTimestamp({ signal }), [], replicaRead);
  }

  async get(key: Uint8Array, replicaRead: ReplicaRead, signal?: AbortSignal): Promise<Uint8Array | undefined> {
    this.checks.key(key);
    return (await this.reader(replicaRead, signal)).get(key, signal);
  }

  /** Many keys, all at one timestamp. */
  async batchGet(keys: Uint8Array[], replicaRead: ReplicaRead, signal?: AbortSignal): Promise<(Uint8Array | undefined)[]> {
    for (const k of keys) this.checks.key(k);
    const r = await this.reader(replicaRead, signal);
    return Promise.all(keys.map((k) => r.get(k, signal)));
  }

  /** Pairs of [start, end) at one timestamp, in key order. */
  async *scan(start: Uint8Array, end: Uint8Array, limit: number, reverse: boolean, replicaRead: ReplicaRead, signal?: AbortSignal): AsyncIterableIterator<KvPair> {
    if (reverse) throw new PeerKVError('InvalidArgument', 'a reverse scan is not served by the mvcc data model yet');
    yield* (await this.reader(replicaRead, signal)).scan(start, end, limit, signal);
  }

  async write(ops: ({ op: 'put'; key: Uint8Array; value: Uint8Array } | { op: 'delete'; key: Uint8Array })[], signal?: AbortSignal): Promise<void> {
    if (ops.length > TXN_KEYS_MAX) throw new PeerKVError('InvalidArgument', `at most ${TXN_KEYS_MAX} keys per atomic write`);
    await runTransaction(
      this.backend,
      this.checks,
      async (tx) => {
        for (const op of ops) {
          if (op.op === 'put') tx.put(op.key, op.value);
          else tx.delete(op.key);
        }
      },
      signal ? { signal } : {},
    );
  }

  /** Deletes every live key of [start, end) in one transaction (at most `TXN_KEYS_MAX` keys). */
  async deleteRange(start: Uint8Array, end: Uint8Array, signal?: AbortSignal): Promise<void> {
    await runTransaction(
      this.backend,
      this.checks,
      async (tx) => {
        let n = 0;
        for await (const p of tx.scan({ start, end, signal })) {
          if (++n > TXN_KEYS_MAX) throw new PeerKVError('InvalidArgument', `deleteRange of more than ${TXN_KEYS_MAX} keys: delete in smaller ranges`);
          tx.delete(p.key);
        }
      },
      signal ? { signal } : {},
    );
  }
}
