/**
 * Reads at a timestamp (client-go's `KVSnapshot`): `txnGet` and `txnScan` on the region's
 * leader, which raise its `maxTs` first (so no later async-commit or 1PC transaction commits
 * below the ts). A lock that may commit at or below the ts hides the value: the reader
 * resolves it (`LockResolver`); a running transaction pushed past the ts is read around
 * (`bypassLocks`); one still alive is waited out in steps, within the client's retry budget.
 */
import type { RegionError } from '@peerkv/pd';
import { compareKeys } from '@peerkv/pd';
import type { Result, TxnAnswer, TxnError, TxnGetResult } from '@peerkv/store';
import { sleepFor } from '../backoff.ts';
import { PeerKVError } from '../errors.ts';
import type { KvPair, KvService, RegionRoute } from '../services.ts';
import { LOCK_WAIT_STEP_MS_MAX } from './committer.ts';
import type { GcHold } from './gc-registration.ts';
import type { LockInfo, LockResolver } from './lock-resolver.ts';
import { askReplicas, type RegionRequestOutcome, type ReplicaRead, type TxnRouting } from './routing.ts';

/** Pairs per `txnScan` page. */
export const TXN_SCAN_PAGE_PAIRS = 256;
/** Running transactions one reader reads around at most (the store's `BYPASS_LOCKS_MAX` is 1024). */
export const BYPASS_LOCKS_PER_READER_MAX = 1024;

export class SnapshotReader {
  /** Start ts of running transactions pushed past `ts`: their locks are read around. */
  private readonly bypass = new Set<bigint>();
  /** Keeps PD's GC safe point at or below `ts` while this reader is used (`gc-registration.ts`). */
  private readonly hold: GcHold | undefined;

  constructor(
    private readonly routing: TxnRouting,
    private readonly resolver: LockResolver,
    readonly ts: bigint,
    /** Transactions whose locks this reader reads around from the start (a queued commit checking its own ranges). */
    bypass: readonly bigint[] = [],
    /** Which replica serves the reads (`ReplicaRead`). */
    private readonly replicaRead: ReplicaRead = 'leader',
  ) {
    this.hold = routing.gc?.hold(ts);
    for (const t of bypass.slice(0, BYPASS_LOCKS_PER_READER_MAX)) this.bypass.add(t);
  }

  /** Holds the ts until `release` (a transaction's run), not only while reads come. */
  pinned(): this {
    this.hold?.pin();
    return this;
  }

  /** Stops holding the ts (a transaction's run ended). */
  release(): void {
    this.hold?.release();
  }

  /** The transaction layer a pessimistic transaction reading here locks through (`pessimistic.ts`). */
  get locking(): { routing: TxnRouting; resolver: LockResolver } {
    return { routing: this.routing, resolver: this.resolver };
  }

  /** The value of `key` as of `ts` (undefined: none). */
  async get(key: Uint8Array, signal?: AbortSignal): Promise<Uint8Array | undefined> {
    const onLeader = (route: RegionRoute, svc: KvService): Promise<Result<TxnAnswer<TxnGetResult>>> =>
      svc.handle({ type: 'txnGet', regionId: route.region.id, epoch: route.region.epoch, key, ts: this.ts, bypassLocks: [...this.bypass], timeoutMs: this.routing.requestTimeoutMs }, { signal });
    const onReplica = (route: RegionRoute, svc: KvService, appliedIndex: number): Promise<Result<TxnAnswer<TxnGetResult>>> =>
      svc.handle(
        { type: 'txnReplicaGet', regionId: route.region.id, epoch: route.region.epoch, key, ts: this.ts, appliedIndex, bypassLocks: [...this.bypass], timeoutMs: this.routing.requestTimeoutMs },
        { signal },
      );
    const r = await this.withLocks(key, [key], signal, onLeader, { start: key, end: keyAfter(key), onReplica });
    return r.value;
  }

  /** Live pairs of [start, end) as of `ts`, in key order, at most `limit`. */
  async *scan(start: Uint8Array, end: Uint8Array, limit: number, signal?: AbortSignal): AsyncGenerator<KvPair> {
    let cursor = start;
    let remaining = limit;
    while (remaining > 0) {
      const page = Math.min(remaining, TXN_SCAN_PAGE_PAIRS);
      let regionEnd: Uint8Array = new Uint8Array();
      const from = cursor;
      const fields = (route: RegionRoute): { regionId: number; epoch: RegionRoute['region']['epoch']; start: Uint8Array; end?: Uint8Array; limit: number; ts: bigint; bypassLocks: bigint[]; timeoutMs: number } => {
        regionEnd = route.region.endKey;
        return { regionId: route.region.id, epoch: route.region.epoch, start: from, ...(end.length > 0 ? { end } : {}), limit: page, ts: this.ts, bypassLocks: [...this.bypass], timeoutMs: this.routing.requestTimeoutMs };
      };
      const r = await this.withLocks(from, undefined, signal, (route, svc) => svc.handle({ type: 'txnScan', ...fields(route) }, { signal }), {
        start: from,
        ...(end.length > 0 ? { end } : {}),
        onReplica: (route, svc, appliedIndex) => svc.handle({ type: 'txnReplicaScan', ...fields(route), appliedIndex }, { signal }),
      });
      for (const p of r.pairs) {
        yield p;
        remaining--;
      }
      const next = nextScanCursor(r.nextKey, regionEnd, end);
      if (next === undefined) return;
      cursor = next;
    }
  }

  /**
   * One replica read (`handlers/replica-read.ts`): `txnReadIndex` on the leader (its region
   * errors followed as any leader request), then the read on the replica `replicaRead` picks,
   * pinned to the same region and epoch (an applied index means nothing in another). A lock
   * either half meets goes back to `withLocks`; a replica that cannot serve (behind past the
   * timeout: `ReadIndexNotReady`; cut off, gone, split) hands the read to another replica
   * (`askReplicas`), and past `REPLICA_READ_ATTEMPTS_MAX` of them to the leader at the same ts.
   */
  private async viaReplica<T>(
    locate: Uint8Array,
    keys: readonly Uint8Array[] | undefined,
    signal: AbortSignal | undefined,
    onLeader: (route: RegionRoute, svc: KvService) => Promise<Result<TxnAnswer<T>>>,
    spec: ReplicaReadSpec<T>,
  ): Promise<RegionRequestOutcome<TxnAnswer<T>>> {
    let pinned: RegionRoute | undefined;
    const index = await this.routing.send(
      locate,
      keys,
      (route, svc) => {
        pinned = route;
        return svc.handle({ type: 'txnReadIndex', regionId: route.region.id, epoch: route.region.epoch, start: spec.start, ...(spec.end ? { end: spec.end } : {}), ts: this.ts, timeoutMs: this.routing.requestTimeoutMs }, { signal });
      },
      signal,
    );
    if (index.kind !== 'applied') return index;
    if (!index.value.ok) return { ...index, value: index.value };
    const route = pinned!;
    const appliedIndex = index.value.value.appliedIndex;
    const r = await askReplicas(this.routing, route, this.replicaRead, (svc) => spec.onReplica(route, svc, appliedIndex));
    if (r !== undefined) return { kind: 'applied', value: r, ambiguous: false };
    return this.routing.send(locate, keys, onLeader, signal);
  }

  /**
   * Sends a read until it answers with no lock in the way: region errors are the routing's,
   * `KeyIsLocked` is resolved here and the read sent again.
   */
  private async withLocks<T>(
    locate: Uint8Array,
    keys: readonly Uint8Array[] | undefined,
    signal: AbortSignal | undefined,
    fn: (route: RegionRoute, svc: KvService) => Promise<Result<TxnAnswer<T>>>,
    replica?: ReplicaReadSpec<T>,
  ): Promise<T> {
    const deadline = this.routing.clock.now() + this.routing.backoff.budgetMs;
    let lastError: RegionError | undefined;
    for (;;) {
      this.hold?.check();
      const r = replica && this.replicaRead !== 'leader' ? await this.viaReplica(locate, keys, signal, fn, replica) : await this.routing.send(locate, keys, fn, signal);
      if (r.kind === 'regroup') continue;
      if (r.kind !== 'applied') {
        lastError = r.lastError;
        if (r.kind === 'aborted') throw new PeerKVError('Aborted', 'aborted');
        throw new PeerKVError('RetryBudgetExhausted', `read failed after retries: ${lastError ? lastError.kind : 'no reachable replica'}`, lastError);
      }
      if (r.value.ok) return r.value.value;
      const locks = r.value.errors.filter((e): e is LockInfo => e.kind === 'KeyIsLocked');
      if (locks.length < r.value.errors.length) throw readError(r.value.errors.find((e) => e.kind !== 'KeyIsLocked')!);
      if (this.routing.clock.now() > deadline) throw new PeerKVError('RetryBudgetExhausted', `a lock of transaction ${locks[0].startTs} stayed in the way of a read at ${this.ts}`);
      const res = await this.resolver.resolve(locks, this.ts, signal);
      for (const ts of res.pushed) if (this.bypass.size < BYPASS_LOCKS_PER_READER_MAX) this.bypass.add(ts);
      if (res.msBeforeExpired > 0) await sleepFor(this.routing.clock, Math.min(res.msBeforeExpired, LOCK_WAIT_STEP_MS_MAX), signal);
    }
  }
}

/** How a read is sent to a replica (`SnapshotReader.viaReplica`): its range (for the leader's lock check) and the replica's request. */
interface ReplicaReadSpec<T> {
  start: Uint8Array;
  end?: Uint8Array;
  onReplica: (route: RegionRoute, svc: KvService, appliedIndex: number) => Promise<Result<TxnAnswer<T>>>;
}

/** The smallest key after `key` (`key` + 0x00): [key, keyAfter(key)) holds `key` alone. */
function keyAfter(key: Uint8Array): Uint8Array {
  const next = new Uint8Array(key.length + 1);
  next.set(key);
  return next;
}

/**
 * Where a region-by-region scan of [.., end) goes on after a page: the page's resume key, else
 * the region's end, else nowhere (the region reaches `end`, or the key space's end).
 */
export function nextScanCursor(nextKey: Uint8Array | undefined, regionEnd: Uint8Array, end: Uint8Array): Uint8Array | undefined {
  if (nextKey !== undefined) return nextKey;
  if (regionEnd.length === 0 || (end.length > 0 && compareKeys(regionEnd, end) >= 0)) return undefined;
  return regionEnd;
}

/** A read's refusal other than a lock. */
function readError(e: TxnError): PeerKVError {
  if (e.kind === 'TxnUnsupported') {
    const missing = e.missingColumnFamilies.length > 0 ? `; missing column families: ${e.missingColumnFamilies.join(', ')}` : '';
    return new PeerKVError('Unavailable', `the stores do not serve transactions (they hold the raw data model, not mvcc${missing})`);
  }
  if (e.kind === 'SafePointPassed') return new PeerKVError('SafePointPassed', `a read at ts ${e.ts} is below the store's GC safe point ${e.safePoint}: the versions it needs may be collected; start again at a new ts`);
  return new PeerKVError('Unavailable', `read refused: ${e.kind}`);
}
