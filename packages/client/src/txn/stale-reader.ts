/**
 * Reads at a timestamp from the nearest replica (TiKV's Stale Read): `txnStaleGet` and
 * `txnStaleScan` go to this client's local store when it holds a replica (else a voter) and
 * are answered from that replica's own state at or below its resolved ts, with no leader and
 * no quorum. So a device that lost its peers keeps reading what it has.
 *
 * - A fixed `readTs`: read there; a replica whose resolved ts is below it (`DataIsNotReady`)
 *   hands the read to another replica, and past `REPLICA_READ_ATTEMPTS_MAX` replicas to the
 *   leader (a snapshot read at that ts, resolving locks).
 * - `maxStaleness` (ms): the first read takes the replica's resolved ts if it is at most that
 *   old (by this client's clock against the ts's physical part), else another replica's if
 *   that one is (`askReplicas`), else a fresh TSO ts from the leader; later reads of the
 *   snapshot use the same ts. `Infinity`: whatever a replica has, never the leader ("offline,
 *   as of …").
 *
 * A replica that could not serve is marked behind (`TxnRouting.markBehind`): a retry and the
 * replica reads that follow ask it after the others (the first attempt of a stale read still
 * goes to this client's own replica first).
 *
 * `ts` says, once the first read answered, as of when every read of this snapshot is.
 */
import { composeTs } from '@peerkv/txn';
import type { Result, TxnAnswer, TxnStaleReadResult } from '@peerkv/store';
import { PeerKVError } from '../errors.ts';
import type { KvPair, KvService, RegionRoute } from '../services.ts';
import type { LockResolver } from './lock-resolver.ts';
import { askReplicas, type TxnRouting } from './routing.ts';
import { SnapshotReader, TXN_SCAN_PAGE_PAIRS, nextScanCursor } from './snapshot-reader.ts';
import { prefixEnd } from './transaction.ts';

/** How stale a read may be. */
export interface StalenessOptions {
  /** Read exactly at this TSO timestamp. */
  readTs?: bigint;
  /** Read at most this old data, ms (`Infinity`: whatever the nearest replica has). */
  maxStaleness?: number;
}

/**
 * `o` checked as a stale read's options: exactly one of `readTs` (a positive bigint TSO
 * timestamp) and `maxStaleness` (ms ≥ 0, or `Infinity`; not NaN). Throws `InvalidArgument`.
 */
export function checkStaleness(o: StalenessOptions): void {
  if (o.readTs !== undefined && o.maxStaleness !== undefined) throw new PeerKVError('InvalidArgument', 'a stale read takes readTs or maxStaleness, not both');
  if (o.readTs !== undefined && (typeof o.readTs !== 'bigint' || o.readTs <= 0n)) throw new PeerKVError('InvalidArgument', 'readTs is a positive bigint TSO timestamp');
  if (o.readTs === undefined && !(typeof o.maxStaleness === 'number' && o.maxStaleness >= 0)) throw new PeerKVError('InvalidArgument', 'a stale read needs readTs or maxStaleness (ms ≥ 0, or Infinity)');
}

/**
 * What a `StaleSnapshot` reads through: `StaleReader` here, the browser tab's reader through
 * its host (`browser/tab-stale-reader.ts`). `ts` is fixed by the first read that answered.
 */
export interface StaleRead {
  readonly ts: bigint | undefined;
  get(key: Uint8Array, signal?: AbortSignal): Promise<Uint8Array | undefined>;
  scan(start: Uint8Array, end: Uint8Array, limit: number, signal?: AbortSignal): AsyncIterableIterator<KvPair>;
}

/**
 * The ts half of a `StaleRead`: the options checked (`checkStaleness`), and the ts, `readTs` or,
 * without one, the one the first read that answered fixes (`fixedTs`, set by the subclass).
 */
export abstract class StaleTs {
  protected fixedTs: bigint | undefined;

  constructor(protected readonly o: StalenessOptions) {
    checkStaleness(o);
    this.fixedTs = o.readTs;
  }

  /** The timestamp every read of this snapshot is at (undefined until the first read answered). */
  get ts(): bigint | undefined {
    return this.fixedTs;
  }
}

type StaleCall = (route: RegionRoute, svc: KvService, ts: bigint | undefined) => Promise<Result<TxnAnswer<TxnStaleReadResult>>>;

export class StaleReader extends StaleTs implements StaleRead {
  private leader: SnapshotReader | undefined;

  constructor(
    private readonly routing: TxnRouting,
    private readonly resolver: LockResolver,
    o: StalenessOptions,
  ) {
    super(o);
  }

  async get(key: Uint8Array, signal?: AbortSignal): Promise<Uint8Array | undefined> {
    const r = await this.read(key, [key], signal, (route, svc, ts) =>
      svc.handle({ type: 'txnStaleGet', regionId: route.region.id, epoch: route.region.epoch, key, ...(ts === undefined ? {} : { ts }), timeoutMs: this.routing.requestTimeoutMs }, { signal }),
    );
    if (r === 'leader') return this.leaderReader().get(key, signal);
    return r.pairs[0]?.value;
  }

  async *scan(start: Uint8Array, end: Uint8Array, limit: number, signal?: AbortSignal): AsyncIterableIterator<KvPair> {
    let cursor = start;
    let remaining = limit;
    while (remaining > 0) {
      const page = Math.min(remaining, TXN_SCAN_PAGE_PAIRS);
      let regionEnd: Uint8Array = new Uint8Array();
      const from = cursor;
      const r = await this.read(from, undefined, signal, (route, svc, ts) => {
        regionEnd = route.region.endKey;
        return svc.handle(
          { type: 'txnStaleScan', regionId: route.region.id, epoch: route.region.epoch, start: from, ...(end.length > 0 ? { end } : {}), limit: page, ...(ts === undefined ? {} : { ts }), timeoutMs: this.routing.requestTimeoutMs },
          { signal },
        );
      });
      if (r === 'leader') {
        // The rest from the leader, at the same ts.
        yield* this.leaderReader().scan(cursor, end, remaining, signal);
        return;
      }
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
   * One stale request at the snapshot's ts (the replica's own on the first read); `leader` when
   * the leader must answer. A replica that cannot serve it (`DataIsNotReady`, or on the first
   * read a resolved ts older than `maxStaleness`) is marked behind and the read goes to the
   * region's other replicas (`askReplicas`, at most `REPLICA_READ_ATTEMPTS_MAX` replicas in
   * all), then to the leader: another replica's resolved ts may well be within the bound.
   */
  private async read(locate: Uint8Array, keys: readonly Uint8Array[] | undefined, signal: AbortSignal | undefined, call: StaleCall): Promise<TxnStaleReadResult | 'leader'> {
    if (this.leader) return 'leader';
    const asked = this.fixedTs;
    let first: { route: RegionRoute; storeId: number } | undefined;
    const r = await this.routing.sendToReplica(
      locate,
      keys,
      (route, svc) => {
        first = { route, storeId: svc.storeId };
        return call(route, svc, asked);
      },
      signal,
    );
    if (r.kind === 'regroup') return this.read(locate, keys, signal, call);
    if (r.kind !== 'applied') {
      if (r.kind === 'aborted') throw new PeerKVError('Aborted', 'aborted');
      throw new PeerKVError('RetryBudgetExhausted', `stale read failed after retries: ${r.lastError ? r.lastError.kind : 'no reachable replica'}`, r.lastError);
    }
    let answer = r.value;
    if (this.behind(answer, asked)) {
      const elsewhere = first === undefined ? undefined : await this.elsewhere(first.route, first.storeId, asked, call);
      if (elsewhere === undefined) {
        if (this.o.maxStaleness === Infinity && asked === undefined) throw new PeerKVError('Unavailable', `the nearest replica of region ${first?.route.region.id ?? '?'} has no resolved ts yet`);
        return this.toLeader(asked);
      }
      answer = elsewhere;
    }
    if (!answer.ok) {
      const e = answer.errors[0];
      if (e.kind === 'SafePointPassed') throw new PeerKVError('SafePointPassed', `a stale read at ${e.ts} is below the GC safe point ${e.safePoint}`);
      throw new PeerKVError('Unavailable', `stale read refused: ${e.kind}`);
    }
    const v = answer.value;
    if (asked === undefined) this.fixedTs = v.readTs;
    return v;
  }

  /**
   * True when a replica's answer cannot serve this read: `DataIsNotReady` (its resolved ts is
   * below the ts asked, or it has none yet), or, on the first read (no ts asked), a resolved ts
   * older than `maxStaleness` by this client's clock against the ts's physical part.
   */
  private behind(a: TxnAnswer<TxnStaleReadResult>, asked: bigint | undefined): boolean {
    if (!a.ok) return a.errors[0]?.kind === 'DataIsNotReady';
    if (asked !== undefined || this.o.maxStaleness === undefined || this.o.maxStaleness === Infinity) return false;
    return a.value.readTs < composeTs(Math.max(0, this.routing.clock.now() - this.o.maxStaleness));
  }

  /** The read on the region's other replicas, the one on store `storeId` marked behind first; undefined when none could serve it. */
  private async elsewhere(route: RegionRoute, storeId: number, asked: bigint | undefined, call: StaleCall): Promise<TxnAnswer<TxnStaleReadResult> | undefined> {
    const peer = route.region.peers.find((p) => p.storeId === storeId);
    if (peer !== undefined) this.routing.markBehind(peer);
    return askReplicas(this.routing, route, 'closest', (svc) => call(route, svc, asked), {
      asked: peer === undefined ? [] : [peer],
      behind: (a) => this.behind(a, asked),
    });
  }

  /** From now on reads go to the leader, at the snapshot's ts (a fresh one if none was fixed). */
  private async toLeader(ts: bigint | undefined): Promise<'leader'> {
    const at = ts ?? (await this.routing.getTimestamp());
    this.fixedTs = at;
    this.leader = new SnapshotReader(this.routing, this.resolver, at);
    return 'leader';
  }

  private leaderReader(): SnapshotReader {
    return this.leader!;
  }
}

/**
 * A read-only view at a timestamp served by the nearest replica (`kv.snapshot({ maxStaleness })`):
 * `ts` says as of when its data is, once the first read answered.
 */
export class StaleSnapshot {
  constructor(
    private readonly reader: StaleRead,
    private readonly checkKey: (key: Uint8Array) => void,
  ) {}

  /** The timestamp of every read of this snapshot ("data as of …"); undefined before the first read. */
  get ts(): bigint | undefined {
    return this.reader.ts;
  }

  async get(key: Uint8Array, o: { signal?: AbortSignal } = {}): Promise<Uint8Array | undefined> {
    this.checkKey(key);
    return this.reader.get(key, o.signal);
  }

  async batchGet(keys: Uint8Array[], o: { signal?: AbortSignal } = {}): Promise<(Uint8Array | undefined)[]> {
    const out: (Uint8Array | undefined)[] = [];
    // One at a time: the first read fixes the ts the others use.
    for (const k of keys) out.push(await this.get(k, o));
    return out;
  }

  /** Pairs of [start, end) (or under `prefix`) in key order, at most `limit`. */
  scan(o: { start?: Uint8Array; end?: Uint8Array; prefix?: Uint8Array; limit?: number; signal?: AbortSignal } = {}): AsyncIterableIterator<KvPair> {
    if (o.prefix !== undefined && (o.start !== undefined || o.end !== undefined)) throw new PeerKVError('InvalidArgument', 'a scan takes a prefix or start/end, not both');
    const start = o.prefix ?? o.start ?? new Uint8Array();
    const end = o.prefix !== undefined ? prefixEnd(o.prefix) : (o.end ?? new Uint8Array());
    return this.reader.scan(start, end, o.limit ?? Infinity, o.signal);
  }
}
