/**
 * Writes that keep the calling tab's identity. A tab stamps each write with (its tab id, its
 * own write sequence) and sends the same stamp again to every host it tries, so a write the
 * old host applied but never answered is recognized by the stores' dedup tables (part of the
 * replicated state) and applied at most once. `TabWriter` splits the ops by region (one
 * store write per region, each with the tab's stamp: dedup tables are per region and a split
 * copies them to both halves), sends each to the region's leader, and regroups what failed
 * against the stores' current view until it is applied or the budget is spent.
 */
import type { Region } from '@peerkv/pd';
import { compareKeys, regionContainsKey } from '@peerkv/pd';
import type { RegionError } from '@peerkv/pd';
import { DEFAULT_CF } from '@peerkv/proto';
import type { KvOp } from '@peerkv/store';
import { PeerKVError } from '../errors.ts';
import type { WriteStamp } from '../client.ts';
import type { KvService, RegionRoute } from '../services.ts';

/** A write's identity: the tab and its write number (1, 2, ... per tab); the client's `WriteStamp`. */
export type { WriteStamp };

/** Attempts per stamped write before `RetryBudgetExhausted`. */
export const TAB_WRITE_ATTEMPTS_MAX = 40;
/** Backoff between attempts: doubles from `TAB_WRITE_BACKOFF_MS_MIN` up to this, ms. */
export const TAB_WRITE_BACKOFF_MS_MAX = 500;
/** First backoff, ms. */
export const TAB_WRITE_BACKOFF_MS_MIN = 10;
/** Retries of one write that follow a named leader after `TAB_WRITE_BACKOFF_MS_MIN` instead of backing off. */
export const TAB_WRITE_HINTED_RETRIES_MAX = 3;

/** What the writer needs from the cluster. */
export interface TabWriteCluster {
  getRegion(key: Uint8Array): Promise<RegionRoute | undefined>;
  /** The request API of a store (in this Worker or reached by RPC), if it can be asked now. */
  store(storeId: number): KvService | undefined;
}

/** Why one region's write failed; `hinted`: the answer named another store as the leader to ask next. */
interface Failure {
  reason: string;
  hinted: boolean;
}

interface Group {
  route: RegionRoute;
  ops: KvOp[];
}

/** Applies stamped writes; see the module header. */
export class TabWriter {
  /** Leaders named by `NotLeader` answers, newer than the routes (regionId → storeId). */
  private readonly leaderHints = new Map<number, number>();

  constructor(
    private readonly cluster: TabWriteCluster,
    private readonly requestTimeoutMs: number,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {}

  /** Applies `ops` under `stamp`, region by region, at most once per region. */
  async write(stamp: WriteStamp, ops: KvOp[]): Promise<void> {
    let remaining = ops;
    let lastError = 'no attempt';
    let hintedRetries = 0;
    for (let attempt = 0; attempt < TAB_WRITE_ATTEMPTS_MAX; attempt++) {
      const groups = await this.groupByRegion(remaining);
      if (groups) {
        const results = await Promise.all(groups.map((g) => this.writeRegion(stamp, g)));
        remaining = groups.filter((_, i) => results[i] !== undefined).flatMap((g) => g.ops);
        if (remaining.length === 0) return;
        const failed = results.filter((r): r is Failure => r !== undefined);
        lastError = failed[0].reason;
        // Every failure named the leader to ask next: follow it after the shortest pause (a few
        // times: two stores naming each other during an election must not use up the attempts).
        if (failed.every((f) => f.hinted) && ++hintedRetries <= TAB_WRITE_HINTED_RETRIES_MAX) {
          await this.sleep(TAB_WRITE_BACKOFF_MS_MIN);
          continue;
        }
      } else {
        lastError = 'no region known for a key';
      }
      await this.sleep(Math.min(TAB_WRITE_BACKOFF_MS_MAX, TAB_WRITE_BACKOFF_MS_MIN * 2 ** attempt));
    }
    throw new PeerKVError('RetryBudgetExhausted', `write ${stamp.clientId}#${stamp.seq} failed after ${TAB_WRITE_ATTEMPTS_MAX} attempts: ${lastError}`);
  }

  /** One region's ops to its leader; undefined when applied, else why not. */
  private async writeRegion(stamp: WriteStamp, g: Group): Promise<Failure | undefined> {
    const regionId = g.route.region.id;
    const leaderStoreId = this.leaderHints.get(regionId) ?? g.route.leader?.storeId;
    const store = leaderStoreId !== undefined ? this.cluster.store(leaderStoreId) : undefined;
    if (!store) {
      this.leaderHints.delete(regionId);
      return { reason: `region ${regionId} has no reachable leader`, hinted: false };
    }
    try {
      const epoch = g.route.region.epoch;
      const r = await store.handle({ type: 'write', regionId, epoch, clientId: stamp.clientId, seq: stamp.seq, ackFloor: stamp.ackFloor ?? 0, ops: g.ops, timeoutMs: this.requestTimeoutMs });
      if (r.ok) return undefined;
      this.noteLeader(regionId, r.error);
      const hint = this.leaderHints.get(regionId);
      return { reason: r.error.kind, hinted: hint !== undefined && hint !== leaderStoreId };
    } catch (e) {
      return { reason: e instanceof Error ? e.message : String(e), hinted: false };
    }
  }

  /**
   * Remembers the leader a `NotLeader` or `MaybeCommitted` answer named (the latter also when a
   * leader change ended the wait on a store that no longer leads), or forgets a hint that was wrong.
   */
  private noteLeader(regionId: number, e: RegionError): void {
    if ((e.kind === 'NotLeader' || e.kind === 'MaybeCommitted') && e.leaderHint) this.leaderHints.set(regionId, e.leaderHint.storeId);
    else this.leaderHints.delete(regionId);
  }

  /** The ops grouped by the region holding them now (a range delete is clipped per region); undefined if a key has no region. */
  private async groupByRegion(ops: KvOp[]): Promise<Group[] | undefined> {
    const groups = new Map<number, Group>();
    const add = (route: RegionRoute, op: KvOp) => {
      const g = groups.get(route.region.id) ?? { route, ops: [] };
      g.ops.push(op);
      groups.set(route.region.id, g);
    };
    for (const op of ops) {
      if (op.type !== 'deleteRange') {
        const route = await this.cluster.getRegion(op.key);
        if (!route) return undefined;
        add(route, op);
        continue;
      }
      const routes = await this.covering(op.start, op.end);
      if (!routes) return undefined;
      for (const route of routes) add(route, clip(op, route.region));
    }
    return [...groups.values()];
  }

  private async covering(start: Uint8Array, end: Uint8Array): Promise<RegionRoute[] | undefined> {
    const out: RegionRoute[] = [];
    for (let cursor = start; ; ) {
      const route = await this.cluster.getRegion(cursor);
      if (!route) return undefined;
      out.push(route);
      const e = route.region.endKey;
      if (e.length === 0 || compareKeys(e, end) >= 0) return out;
      cursor = e;
    }
  }
}

function clip(op: Extract<KvOp, { type: 'deleteRange' }>, region: Region): KvOp {
  const start = regionContainsKey(region, op.start) ? op.start : region.startKey;
  const end = region.endKey.length > 0 && compareKeys(region.endKey, op.end) < 0 ? region.endKey : op.end;
  return { type: 'deleteRange', cf: DEFAULT_CF, start, end };
}
