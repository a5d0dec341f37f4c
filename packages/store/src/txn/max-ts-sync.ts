/**
 * `maxTs` synced from PD's TSO on a new leader (TiKV's `max_ts_synced` in the region's
 * `TxnExt`, refreshed from PD on a role change).
 *
 * `maxTs` is in memory per store. A read at ts T served by the region's old leader raised the
 * old leader's `maxTs`, not this store's; if this store then leads the region, an async-commit
 * or 1PC prewrite here would take its commit ts from a `maxTs` below T and commit "in the past"
 * of that read (a snapshot-isolation violation). So before such a prewrite is served by a
 * leader whose (regionId, term) has not synced yet, the store fetches a fresh timestamp from
 * PD's TSO and raises `maxTs` to it. Why that is enough: T was handed out before the read, and
 * the read was served while the old leader still led (ReadIndex confirmed it with a quorum),
 * which was before this term's election completed; the fetch starts after this replica was
 * seen leading in the term, so the TSO's answer is above T.
 *
 * A sync counts for one term only: a replica that loses leadership and wins it back syncs again
 * (another leader may have served reads between). PD unreachable: the prewrite answers
 * `ServerIsBusy` (retryable), never proceeds unsynced.
 */
import type { RegionError } from '@peerkv/pd';
import type { StoreContext } from '../context.ts';
import type { RegionPeer, Result } from '../peer.ts';
import type { RequestOptions } from '../request-options.ts';
import type { ConcurrencyManager } from './concurrency-manager.ts';

/** Regions whose synced term one store remembers (the oldest is forgotten first: it only syncs again). */
export const MAX_TS_SYNCED_REGIONS_MAX = 4096;
/** Backoff suggested when the sync could not reach PD, ms. */
export const MAX_TS_SYNC_BACKOFF_MS = 50;

/** One store's record of the (regionId, term) pairs whose leader raised `maxTs` from PD's TSO. */
export class MaxTsSync {
  /** regionId → the term synced (Map order: oldest insertion first, for the bound). */
  private readonly synced = new Map<number, number>();
  /**
   * One fetch per (regionId, term) at a time; concurrent prewrites share it (bounded by the
   * regions led). The first caller's timeout and signal bound it; a failed fetch is forgotten,
   * so the next prewrite (the client's retry of `ServerIsBusy`) fetches again.
   */
  private readonly inflight = new Map<string, Promise<Result<void>>>();

  constructor(
    private readonly ctx: StoreContext,
    private readonly cm: ConcurrencyManager,
  ) {}

  /** Whether `peer`, leading now, leads in a term whose `maxTs` synced. */
  isSynced(peer: RegionPeer): boolean {
    if (this.ctx.mutations.maxTsSyncOff) return true;
    return peer.isLeader() && this.synced.get(peer.regionId) === peer.raw.status().term;
  }

  /**
   * Syncs `maxTs` for `peer`'s current term if it has not (a no-op when it has). Call on the
   * leader; a replica that is not leading answers `NotLeader`.
   */
  ensure(peer: RegionPeer, o: RequestOptions): Promise<Result<void>> {
    if (this.isSynced(peer)) return Promise.resolve({ ok: true, value: undefined });
    if (!peer.isLeader()) return Promise.resolve({ ok: false, error: peer.notLeader() });
    const term = peer.raw.status().term;
    const slot = `${peer.regionId}:${term}`;
    let fetch = this.inflight.get(slot);
    if (fetch === undefined) {
      fetch = this.fetch(peer.regionId, term, o).finally(() => this.inflight.delete(slot));
      this.inflight.set(slot, fetch);
    }
    return fetch;
  }

  private async fetch(regionId: number, term: number, o: RequestOptions): Promise<Result<void>> {
    const pd = this.ctx.pdClient;
    if (pd === undefined) return busy(`region ${regionId}: maxTs not synced (this store has no PD client)`);
    let r;
    try {
      r = await pd.getTimestamps(1, o);
    } catch (e) {
      return busy(`region ${regionId}: maxTs not synced (PD: ${e instanceof Error ? e.message : String(e)})`);
    }
    if (!r.ok) return busy(`region ${regionId}: maxTs not synced (PD: ${r.error.kind})`);
    this.cm.updateMaxTs(r.value.first);
    this.record(regionId, term);
    return { ok: true, value: undefined };
  }

  private record(regionId: number, term: number): void {
    const had = this.synced.get(regionId);
    if (had !== undefined && had >= term) return;
    this.synced.delete(regionId);
    if (this.synced.size >= MAX_TS_SYNCED_REGIONS_MAX) this.synced.delete(this.synced.keys().next().value!);
    this.synced.set(regionId, term);
  }
}

function busy(reason: string): Result<void> {
  const error: RegionError = { kind: 'ServerIsBusy', reason, backoffMs: MAX_TS_SYNC_BACKOFF_MS };
  return { ok: false, error };
}
