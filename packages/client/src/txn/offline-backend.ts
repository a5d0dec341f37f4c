/**
 * The client side of the offline queue's commits (`offline-txns.ts`), over a client's
 * transaction layer: `commitQueuedTxn` (GC held at the read ts, 2PC with `readTs`, the ranges
 * re-read at the commit ts around the transaction's own locks and compared) and
 * `decideTxnAttempt` (a rollback of an attempt's primary: it either finds the commit or makes
 * sure the attempt never commits). `PeerKV` serves both, so a browser host can run them for its
 * tabs; `offlineBackend` is the Node client's `OfflineBackend`.
 */
import type { TxnError } from '@peerkv/store';
import { PeerKVError } from '../errors.ts';
import type { KvPair, PdService } from '../services.ts';
import { Committer } from './committer.ts';
import type { LockResolver } from './lock-resolver.ts';
import { digestsEqual, rangeDigest } from './offline-reader.ts';
import type { OfflineBackend, QueuedCommit } from './offline-txns.ts';
import type { TxnRouting } from './routing.ts';
import { SnapshotReader } from './snapshot-reader.ts';
import { StaleReader } from './stale-reader.ts';
import type { TxnBackend } from './transaction.ts';

/** Keeps GC at or below `ts` until the returned release; `SafePointPassed` if GC passed it already. */
async function holdTs(routing: TxnRouting, pd: PdService, ts: bigint): Promise<() => void> {
  if (routing.gc === undefined) {
    const safePoint = pd.getGcSafePoint ? await pd.getGcSafePoint() : 0n;
    if (ts < safePoint) throw new PeerKVError('SafePointPassed', `read ts ${ts} is below the GC safe point ${safePoint}`);
    return () => undefined;
  }
  const hold = routing.gc.hold(ts);
  hold.pin();
  try {
    await routing.gc.ensureCovered(ts);
    hold.check();
  } catch (e) {
    hold.release();
    throw e;
  }
  return () => hold.release();
}

/** Commits a queued transaction (see `QueuedCommit`). */
export async function commitQueuedTxn(routing: TxnRouting, resolver: LockResolver, pd: PdService, c: QueuedCommit): Promise<{ commitTs: bigint }> {
  const release = await holdTs(routing, pd, c.readTs);
  try {
    const check = async (commitTs: bigint): Promise<void> => {
      for (const g of c.ranges) {
        const pairs: KvPair[] = [];
        for await (const p of new SnapshotReader(routing, resolver, commitTs, [c.startTs]).scan(g.start, g.end, Infinity)) pairs.push(p);
        if (!digestsEqual(await rangeDigest(pairs), g.digest)) {
          throw new PeerKVError('WriteConflict', `a range it scanned at ${c.readTs} changed before ${commitTs}`, undefined, [g.start]);
        }
      }
    };
    const committer = new Committer(routing, resolver, c.startTs, c.mutations, { lockTtlMs: c.lockTtlMs, beganAtMs: c.beganAtMs, onePc: false, asyncCommit: false, readTs: c.readTs, beforeCommitPrimary: check });
    return { commitTs: (await committer.commit()).commitTs };
  } finally {
    release();
  }
}

/** Decides the attempt `startTs` on its `primary`: `committed` at its ts, or (absent) rolled back now and never to commit. */
export async function decideTxnAttempt(routing: TxnRouting, a: { startTs: bigint; primary: Uint8Array }): Promise<{ committed?: bigint }> {
  for (;;) {
    const r = await routing.send(a.primary, [a.primary], (route, svc) =>
      svc.handle({ type: 'txnRollback', regionId: route.region.id, epoch: route.region.epoch, keys: [a.primary], startTs: a.startTs, timeoutMs: routing.requestTimeoutMs }),
    );
    if (r.kind === 'regroup') continue;
    if (r.kind !== 'applied') throw new PeerKVError('Unavailable', `the outcome of commit attempt ${a.startTs} could not be decided: ${r.lastError ? r.lastError.kind : 'no reachable replica'}`, r.lastError);
    if (r.value.ok) return {};
    const committed = r.value.errors.find((e): e is Extract<TxnError, { kind: 'Committed' }> => e.kind === 'Committed');
    if (committed) return { committed: committed.commitTs };
    throw new PeerKVError('Unavailable', `the rollback deciding commit attempt ${a.startTs} was refused: ${r.value.errors[0].kind}`);
  }
}

/** The queue's backend over a client's transaction layer. */
export function offlineBackend(routing: TxnRouting, resolver: LockResolver, online: TxnBackend, pd: PdService): OfflineBackend {
  return {
    clock: routing.clock,
    random: routing.random,
    backoff: routing.backoff,
    online,
    localReader: () => new StaleReader(routing, resolver, { maxStaleness: Infinity }),
    getTimestamp: (signal) => routing.getTimestamp(signal ? { signal } : {}),
    commitQueued: (c) => commitQueuedTxn(routing, resolver, pd, c),
    decideAttempt: (a) => decideTxnAttempt(routing, a),
  };
}
