/**
 * `PeerKV`: the public key-value API. It routes each key to its region through the region
 * cache, sends the request to the region's leader (or a replica for follower and stale
 * reads), and retries region errors with backoff until its budget is spent. Writes carry
 * (clientId, seq) so retries apply at most once.
 */
import type { Peer, RegionError } from '@peerkv/pd';
import { compareKeys } from '@peerkv/pd';
import type { KvOp, ReadConsistency, Result } from '@peerkv/store';
import { DEDUP_WINDOW } from '@peerkv/store';
import { BACKOFF_DEFAULT, REAL_CLOCK, backoffDelayMs, type BackoffOptions, type Clock } from './backoff.ts';
import { PeerKVError } from './errors.ts';
import { RegionCache } from './region-cache.ts';
import type { ClusterStatus, KvPair, KvService, PdService, RegionRoute, StatusSource, StoreResolver } from './services.ts';

/** Largest key, in bytes. */
export const KEY_BYTES_MAX = 64 * 1024;
/** Largest value, in bytes. */
export const VALUE_BYTES_MAX = 8 * 1024 * 1024;
/** Retries per call that skip the backoff (following a leader hint or a new epoch). */
export const IMMEDIATE_RETRIES_MAX = 3;
/** Pairs fetched per region request while scanning. */
export const SCAN_PAGE_PAIRS = 256;

export interface ClientOptions {
  pd: PdService;
  stores: StoreResolver;
  /** Unique per client instance; a random one when absent. */
  clientId?: string;
  backoff?: Partial<BackoffOptions>;
  clock?: Clock;
  /** Per-attempt request timeout, ms. */
  requestTimeoutMs?: number;
  /** Default read consistency. */
  consistency?: ReadConsistency;
  /** Answers `status()`; a LocalCluster or PdCluster passes itself. */
  statusSource?: StatusSource;
  /** Pairs per scan request (paging); `SCAN_PAGE_PAIRS` by default. */
  scanPagePairs?: number;
  /** The store next to this client (same Worker or process): follower and stale reads go there when it holds a replica. */
  localStoreId?: number;
}

/** A store whose request timed out is asked after the others for this long, ms. */
export const SUSPECT_STORE_MS = 3000;

export interface CallOptions {
  signal?: AbortSignal;
}

/**
 * A caller's own write identity: the write applies at most once per region under
 * (clientId, seq), also when the caller sends it again through another client (the browser
 * runtime's tabs resend a write to each new host tab). The caller keeps at most `DEDUP_WINDOW`
 * of its stamped writes in flight and never reuses a seq.
 */
export interface WriteStamp {
  clientId: string;
  seq: number;
}

/** Options of a single-key write. */
export interface WriteOptions extends CallOptions {
  /** Write under the caller's (clientId, seq) instead of this client's own. */
  stamp?: WriteStamp;
}

export interface ReadOptions extends CallOptions {
  consistency?: ReadConsistency;
}

export interface ScanOptions extends ReadOptions {
  start?: Uint8Array;
  /** Exclusive; unbounded when absent or empty. */
  end?: Uint8Array;
  limit?: number;
  reverse?: boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Helpers for string and JSON values. */
export const codec = {
  text: (s: string): Uint8Array => encoder.encode(s),
  fromText: (b: Uint8Array): string => decoder.decode(b),
  json: (v: unknown): Uint8Array => encoder.encode(JSON.stringify(v)),
  fromJson: <T>(b: Uint8Array): T => JSON.parse(decoder.decode(b)) as T,
};

export class PeerKV {
  readonly clientId: string;
  private readonly cache = new RegionCache();
  private readonly backoff: BackoffOptions;
  private readonly clock: Clock;
  private readonly pd: PdService;
  private readonly stores: StoreResolver;
  private readonly requestTimeoutMs: number;
  private readonly consistency: ReadConsistency;
  private seq = 0;
  private inflightWrites = 0;
  private readonly writeWaiters: (() => void)[] = [];
  private closed = false;
  private readonly statusSource: StatusSource | undefined;
  private readonly localStoreId: number | undefined;
  /** Stores whose request timed out, until when they are asked last (clock ms). */
  private readonly suspectStores = new Map<number, number>();
  private readonly scanPagePairs: number;

  constructor(o: ClientOptions) {
    this.statusSource = o.statusSource ?? (isStatusSource(o.pd) ? o.pd : undefined);
    this.localStoreId = o.localStoreId;
    this.scanPagePairs = Math.max(1, o.scanPagePairs ?? SCAN_PAGE_PAIRS);
    this.pd = o.pd;
    this.stores = o.stores;
    this.clientId = o.clientId ?? randomId();
    this.backoff = { ...BACKOFF_DEFAULT, ...o.backoff };
    this.clock = o.clock ?? REAL_CLOCK;
    this.requestTimeoutMs = o.requestTimeoutMs ?? 5000;
    this.consistency = o.consistency ?? 'linearizable';
  }

  // ------------------------------------------------------------------ reads

  async get(key: Uint8Array, o: ReadOptions = {}): Promise<Uint8Array | undefined> {
    checkKey(key);
    const consistency = o.consistency ?? this.consistency;
    return this.withRegion(key, o.signal, consistency, (route, svc) =>
      svc.get(route.region.id, route.region.epoch, key, consistency, { signal: o.signal, timeoutMs: this.requestTimeoutMs }),
    );
  }

  /** Reads many keys; missing keys map to undefined. */
  async batchGet(keys: Uint8Array[], o: ReadOptions = {}): Promise<(Uint8Array | undefined)[]> {
    return Promise.all(keys.map((k) => this.get(k, o)));
  }

  /** Iterates pairs in [start, end), region by region, at most `limit`. */
  async *scan(o: ScanOptions = {}): AsyncIterableIterator<KvPair> {
    const start = o.start ?? new Uint8Array();
    const end = o.end ?? new Uint8Array();
    let remaining = o.limit ?? Infinity;
    const consistency = o.consistency ?? this.consistency;
    if (o.reverse) {
      const routes = await this.routesCovering(start, end, o.signal);
      for (let i = routes.length - 1; i >= 0 && remaining > 0; i--) {
        // Page backwards through the region: each page ends (exclusive) at the last key seen.
        let pageEnd = end;
        for (;;) {
          const pageLimit = Math.min(remaining, this.scanPagePairs);
          const pairs = await this.scanRegion(routes[i].region.startKey, start, pageEnd, pageLimit, true, consistency, o.signal);
          for (const p of pairs) {
            yield p;
            remaining--;
          }
          if (pairs.length < pageLimit || remaining <= 0) break;
          pageEnd = pairs[pairs.length - 1].key;
        }
      }
      return;
    }
    let cursor = start;
    while (remaining > 0) {
      const pageLimit = Math.min(remaining, this.scanPagePairs);
      const { pairs, regionEnd } = await this.scanFrom(cursor, end, pageLimit, consistency, o.signal);
      for (const p of pairs) {
        yield p;
        remaining--;
      }
      if (pairs.length === pageLimit) {
        // A full page: the region may hold more; continue right after the last key.
        cursor = successor(pairs[pairs.length - 1].key);
        continue;
      }
      if (regionEnd.length === 0 || (end.length > 0 && compareKeys(regionEnd, end) >= 0)) return;
      cursor = regionEnd;
    }
  }

  private async scanFrom(
    cursor: Uint8Array,
    end: Uint8Array,
    limit: number,
    consistency: ReadConsistency,
    signal?: AbortSignal,
  ): Promise<{ pairs: KvPair[]; regionEnd: Uint8Array }> {
    let regionEnd: Uint8Array = new Uint8Array();
    const pairs = await this.withRegion(cursor, signal, consistency, async (route, svc) => {
      regionEnd = route.region.endKey;
      return svc.scan(route.region.id, route.region.epoch, { start: cursor, end, limit }, consistency, { signal, timeoutMs: this.requestTimeoutMs });
    });
    return { pairs, regionEnd };
  }

  private async scanRegion(
    locateKey: Uint8Array,
    start: Uint8Array,
    end: Uint8Array,
    limit: number,
    reverse: boolean,
    consistency: ReadConsistency,
    signal?: AbortSignal,
  ): Promise<KvPair[]> {
    return this.withRegion(locateKey, signal, consistency, (route, svc) =>
      svc.scan(route.region.id, route.region.epoch, { start, end, limit, reverse }, consistency, { signal, timeoutMs: this.requestTimeoutMs }),
    );
  }

  /** The regions covering [start, end), in key order. */
  private async routesCovering(start: Uint8Array, end: Uint8Array, signal?: AbortSignal): Promise<RegionRoute[]> {
    const out: RegionRoute[] = [];
    let cursor = start;
    for (;;) {
      const route = await this.route(cursor, signal);
      out.push(route);
      const e = route.region.endKey;
      if (e.length === 0 || (end.length > 0 && compareKeys(e, end) >= 0)) return out;
      cursor = e;
    }
  }

  // ------------------------------------------------------------------ writes

  async put(key: Uint8Array, value: Uint8Array, o: WriteOptions = {}): Promise<void> {
    checkKey(key);
    checkValue(value);
    await this.writeOps(key, [{ type: 'put', key, value }], o.signal, o.stamp);
  }

  async delete(key: Uint8Array, o: WriteOptions = {}): Promise<void> {
    checkKey(key);
    await this.writeOps(key, [{ type: 'delete', key }], o.signal, o.stamp);
  }

  /** Writes many pairs: atomic per region, not across regions (transactions are for that). */
  async batchPut(pairs: KvPair[], o: CallOptions = {}): Promise<void> {
    for (const p of pairs) {
      checkKey(p.key);
      checkValue(p.value);
    }
    const groups = await this.groupByRegion(pairs.map((p) => p.key), o.signal);
    await Promise.all(
      [...groups.values()].map((idx) => this.writeOps(pairs[idx[0]].key, idx.map((i) => ({ type: 'put' as const, key: pairs[i].key, value: pairs[i].value })), o.signal)),
    );
  }

  /** Deletes every key in [start, end), one request per region. */
  async deleteRange(start: Uint8Array, end: Uint8Array, o: CallOptions = {}): Promise<void> {
    checkKey(start);
    if (compareKeys(start, end) >= 0) return;
    const routes = await this.routesCovering(start, end, o.signal);
    for (const route of routes) {
      const s = compareKeys(route.region.startKey, start) > 0 ? route.region.startKey : start;
      const e = route.region.endKey.length > 0 && compareKeys(route.region.endKey, end) < 0 ? route.region.endKey : end;
      await this.writeOps(s, [{ type: 'deleteRange', start: s, end: e }], o.signal);
    }
  }

  private async groupByRegion(keys: Uint8Array[], signal?: AbortSignal): Promise<Map<number, number[]>> {
    const groups = new Map<number, number[]>();
    for (let i = 0; i < keys.length; i++) {
      const route = await this.route(keys[i], signal);
      const g = groups.get(route.region.id) ?? [];
      g.push(i);
      groups.set(route.region.id, g);
    }
    return groups;
  }

  /** One logical write: one (clientId, seq), retried until applied or out of budget. */
  private async writeOps(routeKey: Uint8Array, ops: KvOp[], signal?: AbortSignal, stamp?: WriteStamp): Promise<void> {
    if (stamp) {
      if (typeof stamp.clientId !== 'string' || stamp.clientId === '' || !Number.isSafeInteger(stamp.seq) || stamp.seq < 1) {
        throw new PeerKVError('InvalidArgument', 'a write stamp needs a clientId and a seq ≥ 1');
      }
      // The caller bounds its own stamped writes in flight (see `WriteStamp`).
      await this.withRegion(routeKey, signal, 'linearizable', (route, svc) =>
        svc.write(route.region.id, route.region.epoch, stamp.clientId, stamp.seq, ops, { signal, timeoutMs: this.requestTimeoutMs }),
      );
      return;
    }
    await this.acquireWriteSlot(signal);
    const seq = ++this.seq;
    try {
      await this.withRegion(routeKey, signal, 'linearizable', (route, svc) =>
        svc.write(route.region.id, route.region.epoch, this.clientId, seq, ops, { signal, timeoutMs: this.requestTimeoutMs }),
      );
    } finally {
      this.releaseWriteSlot();
    }
  }

  /** Keeps at most DEDUP_WINDOW writes in flight so every retry stays inside the store's dedup window. */
  private async acquireWriteSlot(signal?: AbortSignal): Promise<void> {
    while (this.inflightWrites >= DEDUP_WINDOW) {
      await new Promise<void>((resolve) => this.writeWaiters.push(resolve));
      if (signal?.aborted) throw new PeerKVError('Aborted', 'aborted');
    }
    this.inflightWrites++;
  }

  private releaseWriteSlot(): void {
    this.inflightWrites--;
    this.writeWaiters.shift()?.();
  }

  // ------------------------------------------------------------------ routing and retries

  private async route(key: Uint8Array, signal?: AbortSignal): Promise<RegionRoute> {
    const cached = this.cache.locate(key);
    if (cached) return cached;
    const route = await this.pd.getRegion(key, { signal });
    if (!route) throw new PeerKVError('Unavailable', 'no region known for key');
    this.cache.insert(route);
    return route;
  }

  /**
   * Runs `fn` against the right store for `key`, handling region errors: NotLeader (follow
   * the hint), EpochNotMatch (refresh the cache), RegionNotFound/KeyNotInRegion (invalidate),
   * ServerIsBusy and Timeout (back off, try another replica).
   */
  private async withRegion<T>(
    key: Uint8Array,
    signal: AbortSignal | undefined,
    consistency: ReadConsistency,
    fn: (route: RegionRoute, svc: KvService) => Promise<Result<T>>,
  ): Promise<T> {
    if (this.closed) throw new PeerKVError('Closed', 'client is closed');
    const started = this.clock.now();
    let lastError: RegionError | undefined;
    let skipPeers = new Set<number>();
    let immediateRetries = 0;
    for (let attempt = 0; attempt < this.backoff.attemptsMax; attempt++) {
      if (signal?.aborted) throw new PeerKVError('Aborted', 'aborted');
      if (this.clock.now() - started > this.backoff.budgetMs) break;
      let route: RegionRoute;
      try {
        route = await this.route(key, signal);
      } catch (e) {
        if (e instanceof PeerKVError && e.kind === 'Unavailable') {
          await this.clock.sleep(backoffDelayMs(this.backoff, attempt, this.clock.random), signal);
          continue;
        }
        throw e;
      }
      const target = this.pickPeer(route, consistency, skipPeers);
      const svc = target ? this.stores.store(target.storeId) : undefined;
      if (!target || !svc) {
        this.cache.invalidate(route.region.id);
        skipPeers = new Set();
        await this.clock.sleep(backoffDelayMs(this.backoff, attempt, this.clock.random), signal);
        continue;
      }
      const r = await fn(route, svc);
      if (r.ok || r.error.kind !== 'Timeout') this.suspectStores.delete(target.storeId);
      if (r.ok) {
        // A linearizable request served by a peer we did not think led: it leads now.
        if (consistency === 'linearizable' && route.leader?.id !== target.id) this.cache.setLeader(route.region.id, target);
        return r.value;
      }
      lastError = r.error;
      // Following a hint or a refreshed epoch goes at once, a few times; then back off.
      const retryNow = this.onRegionError(route, target, r.error, skipPeers) && ++immediateRetries <= IMMEDIATE_RETRIES_MAX;
      if (!retryNow) await this.clock.sleep(backoffDelayMs(this.backoff, attempt, this.clock.random) + busyMs(r.error), signal);
    }
    throw new PeerKVError('RetryBudgetExhausted', `request failed after retries: ${lastError ? lastError.kind : 'no reachable replica'}`, lastError);
  }

  /**
   * The replica to ask: the leader for a linearizable request (unless its store recently timed
   * out: then a voter elsewhere, whose `NotLeader` names the current leader), the local replica
   * for other reads, else a voter on a store not under suspicion.
   */
  private pickPeer(route: RegionRoute, consistency: ReadConsistency, skip: Set<number>): Peer | undefined {
    const now = this.clock.now();
    const suspect = (p: Peer): boolean => (this.suspectStores.get(p.storeId) ?? -Infinity) > now;
    const peers = route.region.peers.filter((p) => !skip.has(p.id));
    if (consistency === 'linearizable' && route.leader && !skip.has(route.leader.id) && !suspect(route.leader)) return route.leader;
    if (consistency !== 'linearizable') {
      const local = peers.find((p) => p.storeId === this.localStoreId);
      if (local) return local;
    }
    return peers.find((p) => p.role === 'voter' && !suspect(p)) ?? (consistency === 'linearizable' && route.leader && !skip.has(route.leader.id) ? route.leader : undefined) ?? peers.find((p) => p.role === 'voter') ?? peers[0];
  }

  /** Updates routing from an error; returns true when the retry may go at once. */
  private onRegionError(route: RegionRoute, target: Peer, e: RegionError, skip: Set<number>): boolean {
    switch (e.kind) {
      case 'NotLeader':
        if (e.leaderHint && e.leaderHint.id !== target.id) {
          // Fresh news beats an earlier "not the leader" (or a timeout) from the same peer.
          skip.delete(e.leaderHint.id);
          this.suspectStores.delete(e.leaderHint.storeId);
          this.cache.setLeader(route.region.id, e.leaderHint);
          return true;
        }
        skip.add(target.id);
        if (skip.size >= route.region.peers.length) {
          skip.clear();
          this.cache.invalidate(route.region.id);
        }
        return false;
      case 'EpochNotMatch':
        this.cache.invalidate(route.region.id);
        for (const r of e.currentRegions) this.cache.insert({ region: r });
        return true;
      case 'RegionNotFound':
      case 'KeyNotInRegion':
      case 'StoreNotMatch':
        this.cache.invalidate(route.region.id);
        return false;
      case 'ServerIsBusy':
        return false;
      case 'Timeout': {
        // Asked last for a while, also after the route is refreshed (PD may still name it).
        const now = this.clock.now();
        this.suspectStores.set(target.storeId, now + SUSPECT_STORE_MS);
        skip.add(target.id);
        // Nobody left to ask: the cached peers may be out of date (membership changes do not
        // fail requests, so a route cached long ago can miss replicas added since): ask PD.
        if (route.region.peers.every((p) => skip.has(p.id) || (this.suspectStores.get(p.storeId) ?? -Infinity) > now)) {
          skip.clear();
          this.cache.invalidate(route.region.id);
        }
        return false;
      }
    }
  }

  /** Stores, their regions (leaders, terms, commit and applied indexes) and PD's running operators. */
  async status(): Promise<ClusterStatus> {
    if (!this.statusSource) throw new PeerKVError('Unavailable', 'no status source configured');
    return this.statusSource.clusterStatus();
  }

  close(): void {
    this.closed = true;
  }
}

function isStatusSource(x: unknown): x is StatusSource {
  return typeof (x as Partial<StatusSource>).clusterStatus === 'function';
}

function busyMs(e: RegionError): number {
  return e.kind === 'ServerIsBusy' ? e.backoffMs : 0;
}

function checkKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length === 0) throw new PeerKVError('InvalidArgument', 'key must be a non-empty Uint8Array');
  if (key.length > KEY_BYTES_MAX) throw new PeerKVError('InvalidArgument', `key is ${key.length} bytes, over ${KEY_BYTES_MAX}`);
}

function checkValue(value: Uint8Array): void {
  if (!(value instanceof Uint8Array)) throw new PeerKVError('InvalidArgument', 'value must be a Uint8Array');
  if (value.length > VALUE_BYTES_MAX) throw new PeerKVError('InvalidArgument', `value is ${value.length} bytes, over ${VALUE_BYTES_MAX}`);
}

/** The smallest key greater than `key`. */
function successor(key: Uint8Array): Uint8Array {
  const out = new Uint8Array(key.length + 1);
  out.set(key);
  return out;
}

function randomId(): string {
  const c = globalThis.crypto;
  if (c?.randomUUID) return c.randomUUID();
  const b = new Uint8Array(16);
  c.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}
