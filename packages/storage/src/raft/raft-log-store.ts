/**
 * `RaftLogStore`: the Raft logs of many regions over one `KvEngine` column family. `open`
 * loads a region's persisted state into a `RegionLog` (the synchronous `RaftStorage` the
 * core reads); `batch` + `write` persist many regions' Readies in one engine write (group
 * commit) and update the views only once that write has succeeded.
 */
import { emptyConfState, type Snapshot } from '@peerkv/raft';
import type { KvEngine, WriteOptions } from '../engine.ts';
import { requireArg, StorageError } from '../errors.ts';
import {
  decodeApplyState,
  decodeHardState,
  decodeSnapshotData,
  decodeSnapshotMetadata,
  decodeTruncatedState,
  type TruncatedState,
} from './codec.ts';
import { regionIdOfKey, regionStart, stateKey, type StateRecord } from './keys.ts';
import { RaftWriteBatch, type BatchOwner } from './raft-write-batch.ts';
import { readEntryRange, RegionLog, type RegionLogContext, type RegionMeta } from './region-log.ts';
import { EntryWindow } from './entry-cache.ts';
import { TermRuns } from './term-runs.ts';

/** Default column family of the Raft log. */
export const RAFT_CF = 'raft';
/** Default bytes of newest entries kept in memory per region. */
export const ENTRY_CACHE_BYTES_MAX_DEFAULT = 1024 * 1024;
/** Default bytes read back by one on-demand fetch of older entries. */
export const FETCH_BYTES_MAX_DEFAULT = 1024 * 1024;

/** How to build a `RaftLogStore`. */
export interface RaftLogStoreOptions {
  engine: KvEngine;
  /** Column family holding the logs; `RAFT_CF` when absent. */
  cf?: string;
  /** Bytes of newest entries kept in memory per region. */
  entryCacheBytesMax?: number;
  /** Bytes read back by one on-demand fetch of older entries. */
  fetchBytesMax?: number;
  /** Called when an on-demand fetch finished: the region's Raft node should retry (tick it or re-check `hasReady`). */
  onEntriesFetched?: (regionId: number) => void;
}

/** Raft logs of many regions, group-committed into one engine. */
export class RaftLogStore implements BatchOwner {
  readonly cf: string;
  private readonly ctx: RegionLogContext;
  private readonly regions = new Map<number, RegionLog>();
  private readonly loading = new Map<number, Promise<RegionLog>>();

  constructor(options: RaftLogStoreOptions) {
    this.cf = options.cf ?? RAFT_CF;
    requireArg(options.engine.columnFamilies.includes(this.cf), `engine has no column family '${this.cf}'`);
    this.ctx = {
      engine: options.engine,
      cf: this.cf,
      entryCacheBytesMax: options.entryCacheBytesMax ?? ENTRY_CACHE_BYTES_MAX_DEFAULT,
      fetchBytesMax: options.fetchBytesMax ?? FETCH_BYTES_MAX_DEFAULT,
      onEntriesFetched: options.onEntriesFetched,
    };
  }

  /**
   * Loads the region (hard state, apply state, snapshot, every uncompacted entry's term and
   * the newest entries) and verifies every record's checksum. A region with nothing stored
   * opens empty. Throws `StorageCorruption` on a damaged record or a hole in the log.
   */
  async open(regionId: number): Promise<RegionLog> {
    const loaded = this.regions.get(regionId);
    if (loaded) return loaded;
    let pending = this.loading.get(regionId);
    if (!pending) {
      pending = this.load(regionId).finally(() => this.loading.delete(regionId));
      this.loading.set(regionId, pending);
    }
    return pending;
  }

  /** The loaded region, or undefined. */
  region(regionId: number): RegionLog | undefined {
    return this.regions.get(regionId);
  }

  /** @internal */
  loadedRegion(regionId: number): RegionLog {
    const log = this.regions.get(regionId);
    if (!log) throw new StorageError('InvalidArgument', `region ${regionId} is not open; await RaftLogStore.open(${regionId}) first`);
    return log;
  }

  /** Ids of every region with anything stored, ascending (one seek per region). */
  async listRegions(): Promise<number[]> {
    const ids: number[] = [];
    let start: Uint8Array | undefined;
    for (;;) {
      let next: number | undefined;
      for await (const { key } of this.ctx.engine.scan(this.cf, { start, limit: 1 })) next = regionIdOfKey(key);
      if (next === undefined) return ids;
      ids.push(next);
      start = regionStart(next + 1);
    }
  }

  /** A new, empty group-commit batch. */
  batch(): RaftWriteBatch {
    return new RaftWriteBatch(this);
  }

  /**
   * Persists `batch` as one engine write, then updates every staged region's view. On
   * failure nothing changes, in the engine or in memory, and the error is rethrown.
   */
  async write(batch: RaftWriteBatch, options: WriteOptions): Promise<void> {
    try {
      await this.ctx.engine.write(batch.kv, options);
      for (const [regionId, s] of batch.staged) {
        if (s.destroyed) this.regions.delete(regionId);
        else s.log.adopt(s.meta, s.change);
      }
    } finally {
      batch.discard();
    }
  }

  /** Forgets a region's in-memory view (its data stays). */
  unload(regionId: number): void {
    this.regions.delete(regionId);
  }

  private async load(regionId: number): Promise<RegionLog> {
    const meta = await this.loadMeta(regionId);
    const tail = new EntryWindow(meta.terms.offset + 1);
    await readEntryRange(this.ctx, regionId, meta.terms.offset + 1, undefined, Infinity, (e) => {
      meta.terms.push(e.index, e.term);
      tail.appendAt([e]);
      tail.evictTo(this.ctx.entryCacheBytesMax);
    });
    const log = new RegionLog(regionId, meta, tail, this.ctx);
    this.regions.set(regionId, log);
    return log;
  }

  private async loadMeta(regionId: number): Promise<RegionMeta> {
    const get = (record: StateRecord): Promise<[Uint8Array, Uint8Array | undefined]> => {
      const key = stateKey(regionId, record);
      return this.ctx.engine.get(this.cf, key).then((v) => [key, v]);
    };
    const [hs, as, tr, sm, sd] = await Promise.all([
      get('hardState'),
      get('applyState'),
      get('truncatedState'),
      get('snapshot'),
      get('snapshotData'),
    ]);
    const truncated: TruncatedState = tr[1] ? decodeTruncatedState(regionId, tr[0], tr[1]) : { index: 0, term: 0 };
    const snapshot: Snapshot = {
      data: sd[1] ? decodeSnapshotData(regionId, sd[0], sd[1]) : new Uint8Array(),
      metadata: sm[1] ? decodeSnapshotMetadata(regionId, sm[0], sm[1]) : { index: 0, term: 0, confState: emptyConfState() },
    };
    return {
      hardState: hs[1] ? decodeHardState(regionId, hs[0], hs[1]) : { term: 0, vote: 0, commit: 0 },
      applyState: as[1] ? decodeApplyState(regionId, as[0], as[1]) : { appliedIndex: 0 },
      snapshot,
      terms: new TermRuns(truncated.index, truncated.term),
    };
  }
}
