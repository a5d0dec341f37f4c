/**
 * The offline queue's view of a `PeerKV` (`OfflineBackend`): the stale reader for the runs
 * queued while the quorum is away, and, for their commits, the committer with `readTs` and a
 * check before the primary commits, a snapshot reader that reads around the committing
 * transaction's own locks, the GC hold on the read ts, and the decision of an attempt whose
 * answer never came (a rollback of its primary: committed, or never).
 */
import type { TxnError } from '@peerkv/store';
import { PeerKVError } from '../errors.ts';
import type { PdService } from '../services.ts';
import { Committer } from './committer.ts';
import type { LockResolver } from './lock-resolver.ts';
import type { OfflineBackend } from './offline-txns.ts';
import type { TxnRouting } from './routing.ts';
import { SnapshotReader } from './snapshot-reader.ts';
import { StaleReader } from './stale-reader.ts';
import type { TxnBackend } from './transaction.ts';

/** The queue's backend over a client's transaction layer. */
export function offlineBackend(routing: TxnRouting, resolver: LockResolver, online: TxnBackend, pd: PdService): OfflineBackend {
  return {
    clock: routing.clock,
    random: routing.random,
    backoff: routing.backoff,
    online,
    localReader: () => new StaleReader(routing, resolver, { maxStaleness: Infinity }),
    holdTs: async (ts) => {
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
    },
    getTimestamp: (signal) => routing.getTimestamp(signal ? { signal } : {}),
    commitQueued: async (startTs, mutations, o) => {
      const r = await new Committer(routing, resolver, startTs, mutations, { lockTtlMs: o.lockTtlMs, beganAtMs: o.beganAtMs, onePc: false, asyncCommit: false, readTs: o.readTs, beforeCommitPrimary: o.check }).commit();
      return { commitTs: r.commitTs };
    },
    scanAt: (ts, ownStartTs, start, end) => new SnapshotReader(routing, resolver, ts, [ownStartTs]).scan(start, end, Infinity),
    decideAttempt: async (a) => {
      for (;;) {
        const r = await routing.send(a.primary, [a.primary], (route, svc) =>
          svc.handle({ type: 'txnRollback', regionId: route.region.id, epoch: route.region.epoch, keys: [a.primary], startTs: a.startTs, timeoutMs: routing.requestTimeoutMs }),
        );
        if (r.kind === 'regroup') continue;
        if (r.kind !== 'applied') throw new PeerKVError('Unavailable', `the outcome of commit attempt ${a.startTs} could not be decided: ${r.lastError ? r.lastError.kind : 'no reachable replica'}`, r.lastError);
        if (r.value.ok) return { rolledBack: true };
        const committed = r.value.errors.find((e): e is Extract<TxnError, { kind: 'Committed' }> => e.kind === 'Committed');
        if (committed) return { committed: committed.commitTs };
        throw new PeerKVError('Unavailable', `the rollback deciding commit attempt ${a.startTs} was refused: ${r.value.errors[0].kind}`);
      }
    },
  };
}
