/**
 * The client side of `--txn`'s faults and mutations: a `StoreResolver` wrapping the lossy
 * client network (`client-net.ts`) of one client, which looks at transactional requests as
 * they pass. Faults are planned per transaction (by start ts):
 *
 * - `die`: the client dies mid-commit (a closed tab): once a prewrite of the transaction is
 *   answered, its `AbortSignal` fires; the committer stops, its locks stay behind for other
 *   clients to resolve (after the TTL);
 * - `crashPrimaryLeader`: the store the commit of the primary is sent to (its leader, as the
 *   client knows it) crashes just before the commit reaches it, so prewrite and commit straddle
 *   the crash;
 * - `slowCommit`: the commit of the primary is held back and the heartbeats are lost, so lock
 *   resolution (the TTL runs out) races the commit;
 * - `abandon`: the client is gone once its prewrites are in: the commit of its primary, and
 *   every heartbeat and rollback of the transaction, never leave it (so it can never commit), and
 *   its `AbortSignal` fires at that commit; its locks stay behind until they expire.
 *
 * Mutations (deliberate bugs the checker must catch), harness-side so no product package
 * carries a runtime flag:
 * - `readIgnoringLocks`: a read that meets a lock reads around it, as if every lock belonged
 *   to a transaction pushed past the reader;
 * - `commitWithoutLockCheck`: a commit whose lock is gone (`TxnNotFound`: resolved away) is
 *   reported committed, as a store that commits without checking the lock would answer.
 */
import type { HandleOptions, Result, StoreRequest, TxnAnswer } from '@peerkv/store';
import type { KvService, StoreResolver } from 'peerkv';

/** A fault planned for one transaction attempt. */
export type TxnFaultPlan =
  | { kind: 'die'; abort: () => void }
  | { kind: 'crashPrimaryLeader'; primary: Uint8Array; done?: boolean }
  | { kind: 'slowCommit'; primary: Uint8Array; delayMs: number; done?: boolean }
  | { kind: 'abandon'; abort: () => void; gone?: boolean };

/** What the wrapper needs from the run. */
export interface TxnNetHooks {
  /** The fault planned for the transaction `startTs`, if any. */
  plan(startTs: bigint): TxnFaultPlan | undefined;
  /** Crashes store `storeId` (restarted later by the run); resolves once it is down. */
  crashStore(storeId: number, why: string): Promise<void>;
  sleep(ms: number): Promise<void>;
  mutations: { readIgnoringLocks?: boolean; commitWithoutLockCheck?: boolean };
  stats: TxnNetStats;
}

/** Counts of what the wrapper did. */
export interface TxnNetStats {
  clientDeaths: number;
  primaryLeaderCrashes: number;
  slowCommits: number;
  heartbeatsLost: number;
  locksReadAround: number;
  commitsWithoutLock: number;
  /** Transactions whose client went away between their prewrites and their commit (`abandon`). */
  abandoned: number;
}

export function emptyTxnNetStats(): TxnNetStats {
  return { clientDeaths: 0, primaryLeaderCrashes: 0, slowCommits: 0, heartbeatsLost: 0, locksReadAround: 0, commitsWithoutLock: 0, abandoned: 0 };
}

/** Reads sent again around the locks they met, at most (`readIgnoringLocks`). */
const READ_AROUND_ROUNDS_MAX = 8;

/** What the client of an abandoned transaction gets for a request that never left it. */
const ABANDONED: Result<never> = { ok: false, error: { kind: 'Timeout', what: 'never sent: the client is gone (abandon fault)' } };

type UntypedHandle = (q: StoreRequest, o?: HandleOptions) => Promise<Result<unknown>>;
type Answer = Result<TxnAnswer<unknown>>;

function sameKey(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export class TxnStoreResolver implements StoreResolver {
  constructor(
    private readonly inner: StoreResolver,
    private readonly hooks: TxnNetHooks,
  ) {}

  store(storeId: number): KvService | undefined {
    const svc = this.inner.store(storeId);
    if (svc === undefined) return undefined;
    const send = svc.handle as unknown as UntypedHandle;
    const handle: UntypedHandle = (q, o) => this.handle(storeId, send, q, o);
    return { storeId, handle: handle as unknown as KvService['handle'] };
  }

  private async handle(storeId: number, send: UntypedHandle, q: StoreRequest, o?: HandleOptions): Promise<Result<unknown>> {
    const h = this.hooks;
    switch (q.type) {
      case 'txnPrewrite': {
        const r = (await send(q, o)) as Answer;
        const plan = h.plan(q.startTs);
        if (plan?.kind === 'die' && r.ok && r.value.ok) {
          h.stats.clientDeaths++;
          plan.abort();
        }
        return r;
      }
      case 'txnCommit': {
        const plan = h.plan(q.startTs);
        if (plan?.kind === 'abandon') {
          if (!plan.gone) {
            plan.gone = true;
            h.stats.abandoned++;
            plan.abort();
          }
          return ABANDONED;
        }
        const isPrimary = plan !== undefined && plan.kind !== 'die' && q.keys.some((k) => sameKey(k, plan.primary));
        if (isPrimary && plan.kind === 'crashPrimaryLeader' && !plan.done) {
          plan.done = true;
          h.stats.primaryLeaderCrashes++;
          await h.crashStore(storeId, `primary leader of txn ${q.startTs} between prewrite and commit`);
        } else if (isPrimary && plan.kind === 'slowCommit' && !plan.done) {
          plan.done = true;
          h.stats.slowCommits++;
          await h.sleep(plan.delayMs);
        }
        const r = (await send(q, o)) as Answer;
        if (h.mutations.commitWithoutLockCheck && r.ok && !r.value.ok && r.value.errors.every((e) => e.kind === 'TxnNotFound')) {
          h.stats.commitsWithoutLock++;
          return { ok: true, value: { ok: true, value: { commitTs: q.commitTs } } };
        }
        return r;
      }
      case 'txnRollback':
        return h.plan(q.startTs)?.kind === 'abandon' ? ABANDONED : send(q, o);
      case 'txnHeartbeat': {
        const plan = h.plan(q.startTs);
        if (plan?.kind === 'abandon') return ABANDONED;
        if (plan?.kind === 'slowCommit') {
          h.stats.heartbeatsLost++;
          await h.sleep(q.timeoutMs ?? 0);
          return { ok: false, error: { kind: 'Timeout', what: 'heartbeat lost (slow commit fault)' } };
        }
        return send(q, o);
      }
      case 'txnGet':
      case 'txnScan': {
        let r = (await send(q, o)) as Answer;
        if (!h.mutations.readIgnoringLocks) return r;
        let bypass = [...(q.bypassLocks ?? [])];
        for (let round = 0; round < READ_AROUND_ROUNDS_MAX && r.ok && !r.value.ok; round++) {
          const locked = r.value.errors.flatMap((e) => (e.kind === 'KeyIsLocked' ? [e.startTs] : []));
          if (locked.length === 0) break;
          h.stats.locksReadAround++;
          bypass = [...bypass, ...locked];
          r = (await send({ ...q, bypassLocks: bypass }, o)) as Answer;
        }
        return r;
      }
      default:
        return send(q, o);
    }
  }
}
