/**
 * `RaftWriteBatch`: group commit for the Raft log store. The store layer stages every
 * region's Ready of one round (entries, hard state, snapshot, compaction, apply state) and
 * its own data writes (`kv`) into one batch, then `RaftLogStore.write` persists it as ONE
 * engine write. Staging only computes engine operations against a projection of each
 * region; the regions' in-memory views change after that write has succeeded.
 *
 * One batch at a time per region: staging a region that another uncommitted batch staged
 * throws (a Ready round is written before the next one is staged).
 */
import {
  assert,
  cloneConfState,
  RaftStorageError,
  type ConfState,
  type Entry,
  type HardState,
  type Snapshot,
} from '@peerkv/raft';
import { WriteBatch } from '../engine.ts';
import { requireArg, StorageError } from '../errors.ts';
import {
  encodeApplyState,
  encodeEntry,
  encodeHardState,
  encodeSnapshotData,
  encodeSnapshotMetadata,
  encodeTruncatedState,
  type ApplyState,
} from './codec.ts';
import { entriesEnd, entriesStart, entryKey, regionStart, stateKey } from './keys.ts';
import { cloneMeta, type LogChange, type RegionLog, type RegionMeta } from './region-log.ts';

/** A region's projected state inside one batch. */
export interface StagedRegion {
  log: RegionLog;
  meta: RegionMeta;
  change: LogChange;
  destroyed: boolean;
}

/** What the batch needs from its store. */
export interface BatchOwner {
  readonly cf: string;
  /** The loaded region, or throws if it was never opened. */
  loadedRegion(regionId: number): RegionLog;
}

/** Raft writes for many regions, committed together by `RaftLogStore.write`. */
export class RaftWriteBatch {
  /** The engine batch; the store may add its own writes to commit atomically with the log. */
  readonly kv = new WriteBatch();
  /** @internal */
  readonly staged = new Map<number, StagedRegion>();

  /** @internal Use `RaftLogStore.batch()`. */
  constructor(private readonly owner: BatchOwner) {}

  /** Region ids staged so far. */
  get regionIds(): number[] {
    return [...this.staged.keys()];
  }

  /**
   * Appends `entries` (contiguous) to the region's log, truncating any conflicting suffix;
   * entries at or below the compacted index are skipped (etcd `MemoryStorage.Append`).
   */
  stageAppend(regionId: number, entries: readonly Entry[]): this {
    if (entries.length === 0) return this;
    for (let i = 1; i < entries.length; i++) requireArg(entries[i].index === entries[i - 1].index + 1, `region ${regionId}: entries not contiguous at ${entries[i].index}`);
    const s = this.stage(regionId);
    const terms = s.meta.terms;
    const first = terms.offset + 1;
    const newLast = entries[entries.length - 1].index;
    if (newLast < first) return this; // all already compacted
    const ents = first > entries[0].index ? entries.slice(first - entries[0].index) : entries;
    assert(ents[0].index <= terms.lastIndex + 1, `region ${regionId}: missing log entry [last: ${terms.lastIndex}, append at: ${ents[0].index}]`);
    const cf = this.owner.cf;
    for (const e of ents) {
      const key = entryKey(regionId, e.index);
      this.kv.put(cf, key, encodeEntry(key, e));
    }
    if (newLast < terms.lastIndex) this.kv.deleteRange(cf, entryKey(regionId, newLast + 1), entryKey(regionId, terms.lastIndex + 1));
    terms.truncateFrom(ents[0].index);
    for (const e of ents) terms.push(e.index, e.term);
    s.change.appends.push([...ents]);
    return this;
  }

  /** Persists the region's hard state. */
  stageHardState(regionId: number, hs: HardState): this {
    const s = this.stage(regionId);
    s.meta.hardState = { ...hs };
    const key = stateKey(regionId, 'hardState');
    this.kv.put(this.owner.cf, key, encodeHardState(key, hs));
    return this;
  }

  /** Persists what the state machine has applied. */
  stageApplyState(regionId: number, state: ApplyState): this {
    const s = this.stage(regionId);
    s.meta.applyState = { ...state };
    const key = stateKey(regionId, 'applyState');
    this.kv.put(this.owner.cf, key, encodeApplyState(key, state));
    return this;
  }

  /** Replaces the stored configuration (kept with the snapshot metadata, as `MemoryStorage` does). */
  stageConfState(regionId: number, cs: ConfState): this {
    const s = this.stage(regionId);
    s.meta.snapshot = { data: s.meta.snapshot.data, metadata: { ...s.meta.snapshot.metadata, confState: cloneConfState(cs) } };
    this.putSnapshotMetadata(regionId, s);
    return this;
  }

  /**
   * Installs a snapshot received from the leader: the whole log is discarded and the log
   * restarts after the snapshot index. Refuses a snapshot not newer than the current one,
   * except, with `requested`, one at the current index: the replica lost the state the current
   * one carried before applying it and asked for it again (Raft's `requestSnapshot`).
   */
  stageSnapshot(regionId: number, snap: Snapshot, opts: { requested?: boolean } = {}): this {
    const s = this.stage(regionId);
    const current = s.meta.snapshot.metadata.index;
    if (snap.metadata.index < current || (snap.metadata.index === current && !opts.requested)) throw new RaftStorageError('Compacted', `region ${regionId}: snapshot ${snap.metadata.index} out of date (have ${current})`);
    s.meta.snapshot = { data: snap.data, metadata: { ...snap.metadata, confState: cloneConfState(snap.metadata.confState) } };
    s.meta.terms.reset(snap.metadata.index, snap.metadata.term);
    s.change.snapshotInstalled = true;
    s.change.appends = [];
    const cf = this.owner.cf;
    this.kv.deleteRange(cf, entriesStart(regionId), entriesEnd(regionId));
    this.putTruncated(regionId, snap.metadata.index, snap.metadata.term);
    this.putSnapshotMetadata(regionId, s);
    const dataKey = stateKey(regionId, 'snapshotData');
    this.kv.put(cf, dataKey, encodeSnapshotData(dataKey, snap.data));
    return this;
  }

  /**
   * Records a snapshot of the applied state at `index` (≤ lastIndex) and returns it; the log
   * is not touched (stage a compaction for that). Refuses one not newer than the current one.
   */
  stageCreateSnapshot(regionId: number, index: number, confState: ConfState, data: Uint8Array): Snapshot {
    const s = this.stage(regionId);
    if (index <= s.meta.snapshot.metadata.index) throw new RaftStorageError('SnapshotTemporarilyUnavailable', 'snapshot out of date');
    assert(index <= s.meta.terms.lastIndex, `snapshot ${index} is out of bound lastindex(${s.meta.terms.lastIndex})`);
    const term = s.meta.terms.term(index);
    if (term === undefined) throw new RaftStorageError('Compacted', `region ${regionId}: snapshot index ${index} is compacted`);
    s.meta.snapshot = { data, metadata: { index, term, confState: cloneConfState(confState) } };
    this.putSnapshotMetadata(regionId, s);
    const dataKey = stateKey(regionId, 'snapshotData');
    this.kv.put(this.owner.cf, dataKey, encodeSnapshotData(dataKey, data));
    return s.meta.snapshot;
  }

  /** Discards entries up to and including `compactIndex` (log GC), keeping its term. */
  stageCompact(regionId: number, compactIndex: number): this {
    const s = this.stage(regionId);
    const terms = s.meta.terms;
    if (compactIndex <= terms.offset) throw new RaftStorageError('Compacted', `compact(${compactIndex}) <= ${terms.offset}`);
    assert(compactIndex <= terms.lastIndex, `compact ${compactIndex} is out of bound lastindex(${terms.lastIndex})`);
    terms.compactTo(compactIndex);
    this.kv.deleteRange(this.owner.cf, entriesStart(regionId), entryKey(regionId, compactIndex + 1));
    this.putTruncated(regionId, compactIndex, terms.term(compactIndex) as number);
    return this;
  }

  /** Deletes everything stored for the region (its peer was removed or merged away). */
  stageDestroy(regionId: number): this {
    const s = this.stage(regionId);
    s.destroyed = true;
    this.kv.deleteRange(this.owner.cf, regionStart(regionId), regionStart(regionId + 1));
    return this;
  }

  /** Releases the regions without writing (the batch is dropped). */
  discard(): void {
    for (const s of this.staged.values()) if (s.log.stagedBy === this) s.log.stagedBy = undefined;
    this.staged.clear();
  }

  private stage(regionId: number): StagedRegion {
    let s = this.staged.get(regionId);
    if (s) {
      if (s.destroyed) throw new StorageError('InvalidArgument', `region ${regionId} was destroyed in this batch`);
      return s;
    }
    const log = this.owner.loadedRegion(regionId);
    if (log.stagedBy !== undefined && log.stagedBy !== this) {
      throw new StorageError('InvalidArgument', `region ${regionId} is staged by another uncommitted batch`);
    }
    log.stagedBy = this;
    s = { log, meta: cloneMeta(log.currentMeta()), change: { appends: [], snapshotInstalled: false }, destroyed: false };
    this.staged.set(regionId, s);
    return s;
  }

  private putTruncated(regionId: number, index: number, term: number): void {
    const key = stateKey(regionId, 'truncatedState');
    this.kv.put(this.owner.cf, key, encodeTruncatedState(key, { index, term }));
  }

  private putSnapshotMetadata(regionId: number, s: StagedRegion): void {
    const key = stateKey(regionId, 'snapshot');
    this.kv.put(this.owner.cf, key, encodeSnapshotMetadata(key, s.meta.snapshot.metadata));
  }
}
