/**
 * `RegionLog`: one region's Raft log as the synchronous `RaftStorage` the core reads,
 * served from memory over an asynchronous engine.
 *
 * Memory model (chosen over keeping every entry resident):
 * - always in memory: hard state, apply state, snapshot, and the term of every uncompacted
 *   index as runs (`TermRuns`), so `term`, `firstIndex`, `lastIndex` never wait;
 * - entry bodies: a tail cache of the newest entries, at most `entryCacheBytesMax`, which
 *   covers what a healthy leader replicates and what is about to be applied;
 * - older bodies are read back on demand: `entries()` then throws
 *   `RaftStorageError('LogTemporarilyUnavailable')` and starts one fetch into a side window
 *   (at most `fetchBytesMax`). The caller is told to retry by `onEntriesFetched(regionId)`
 *   (and can await `whenFetched()`); the Raft core itself retries a paused follower on its
 *   next heartbeat response. A later short read (fewer entries than asked, at least one) is
 *   the same contract as a size limit.
 *
 * The view changes only in `adopt`, called after the engine write that persisted the change.
 */
import {
  assert,
  cloneConfState,
  entrySizeBytes,
  limitSize,
  RaftStorageError,
  type Entry,
  type HardState,
  type InitialState,
  type RaftStorage,
  type Snapshot,
} from '@peerkv/raft';
import type { KvEngine } from '../engine.ts';
import { StorageCorruption } from '../errors.ts';
import { decodeEntry, type ApplyState } from './codec.ts';
import { EntryWindow } from './entry-cache.ts';
import { entriesEnd, entryKey, indexOfEntryKey } from './keys.ts';
import { TermRuns } from './term-runs.ts';

/** The persisted state of a region, as the view and as a staged projection. */
export interface RegionMeta {
  hardState: HardState;
  applyState: ApplyState;
  snapshot: Snapshot;
  terms: TermRuns;
}

/** A copy that staging may change freely. */
export function cloneMeta(m: RegionMeta): RegionMeta {
  return {
    hardState: { ...m.hardState },
    applyState: { ...m.applyState },
    snapshot: { data: m.snapshot.data, metadata: { ...m.snapshot.metadata, confState: cloneConfState(m.snapshot.metadata.confState) } },
    terms: m.terms.clone(),
  };
}

/** What one committed batch changed in a region's log, in order. */
export interface LogChange {
  /** Entry runs written, each truncating whatever followed its first index. */
  appends: Entry[][];
  /** A snapshot replaced the whole log. */
  snapshotInstalled: boolean;
}

/** Where a region log reads from and how big its memory may grow. */
export interface RegionLogContext {
  engine: KvEngine;
  cf: string;
  /** Bytes of newest entries kept in memory per region. */
  entryCacheBytesMax: number;
  /** Bytes read back per on-demand fetch of older entries. */
  fetchBytesMax: number;
  /** Called when a fetch started by `entries()` finished (or failed): retry then. */
  onEntriesFetched?: (regionId: number) => void;
}

/** One region's log, hard state and snapshot, readable synchronously. */
export class RegionLog implements RaftStorage {
  private readonly fetched: EntryWindow;
  private fetching: Promise<void> | undefined;
  private fetchError: unknown;
  /** Bumped by every adopted change; a fetch that raced a change is discarded. */
  private generation = 0;
  /** The uncommitted `RaftWriteBatch` staging this region, if any. */
  stagedBy: object | undefined;

  /** @internal Built by `RaftLogStore.open`. */
  constructor(
    readonly regionId: number,
    private meta: RegionMeta,
    /** The newest entries, ending at the last index. */
    private readonly tail: EntryWindow,
    private readonly ctx: RegionLogContext,
  ) {
    assert(tail.end === meta.terms.lastIndex + 1, `region ${regionId}: tail ends at ${tail.end}, log at ${meta.terms.lastIndex}`);
    this.fetched = new EntryWindow(meta.terms.offset + 1);
  }

  initialState(): InitialState {
    return { hardState: { ...this.meta.hardState }, confState: cloneConfState(this.meta.snapshot.metadata.confState) };
  }

  entries(lo: number, hi: number, maxSizeBytes: number): Entry[] {
    const offset = this.meta.terms.offset;
    const last = this.meta.terms.lastIndex;
    if (lo <= offset) throw new RaftStorageError('Compacted', `entries(${lo}) <= compacted ${offset}`);
    if (hi > last + 1) throw new RaftStorageError('Unavailable', `entries hi ${hi} out of bound lastIndex ${last}`);
    if (last === offset) throw new RaftStorageError('Unavailable', 'log is empty');
    this.throwFetchError();
    const out: Entry[] = [];
    for (let i = lo; i < hi; i++) {
      const e = this.tail.get(i) ?? this.fetched.get(i);
      if (e === undefined) break;
      out.push(e);
    }
    if (out.length === 0 && lo < hi) {
      this.startFetch(lo, Math.min(hi, this.tail.first));
      throw new RaftStorageError('LogTemporarilyUnavailable', `region ${this.regionId}: entries from ${lo} are being read back`);
    }
    return limitSize(out, maxSizeBytes);
  }

  term(index: number): number {
    const t = this.meta.terms.term(index);
    if (t !== undefined) return t;
    if (index < this.meta.terms.offset) throw new RaftStorageError('Compacted', `term(${index}) < compacted ${this.meta.terms.offset}`);
    throw new RaftStorageError('Unavailable', `term(${index}) unavailable`);
  }

  firstIndex(): number {
    return this.meta.terms.offset + 1;
  }

  lastIndex(): number {
    return this.meta.terms.lastIndex;
  }

  snapshot(): Snapshot {
    return this.meta.snapshot;
  }

  /** The persisted hard state. */
  hardState(): HardState {
    return { ...this.meta.hardState };
  }

  /** The persisted apply state. */
  applyState(): ApplyState {
    return { ...this.meta.applyState };
  }

  /** Resolves when the fetch in flight (if any) is done; then `entries()` can be retried. */
  whenFetched(): Promise<void> {
    return this.fetching ?? Promise.resolve();
  }

  /** Bytes of entry bodies held in memory (tail cache + fetched window). */
  get cachedBytes(): number {
    return this.tail.sizeBytes + this.fetched.sizeBytes;
  }

  /** @internal The persisted state, for staging a projection. */
  currentMeta(): RegionMeta {
    return this.meta;
  }

  /** @internal Takes the state a committed batch persisted. */
  adopt(meta: RegionMeta, change: LogChange): void {
    this.generation++;
    if (change.snapshotInstalled) {
      this.tail.clear(meta.terms.offset + 1);
      this.fetched.clear(meta.terms.offset + 1);
    }
    for (const run of change.appends) {
      if (run.length === 0) continue;
      this.tail.appendAt(run);
      this.fetched.truncateFrom(run[0].index);
    }
    this.meta = meta;
    this.tail.dropThrough(meta.terms.offset);
    this.fetched.dropThrough(meta.terms.offset);
    this.tail.evictTo(this.ctx.entryCacheBytesMax);
    assert(this.tail.end === meta.terms.lastIndex + 1, `region ${this.regionId}: tail cache ends at ${this.tail.end}, log at ${meta.terms.lastIndex}`);
  }

  private throwFetchError(): void {
    if (this.fetchError === undefined) return;
    const e = this.fetchError;
    this.fetchError = undefined;
    throw e;
  }

  private startFetch(lo: number, hi: number): void {
    if (this.fetching) return;
    const generation = this.generation;
    this.fetching = readEntryRange(this.ctx, this.regionId, lo, hi, this.ctx.fetchBytesMax)
      .then((ents) => {
        if (generation !== this.generation) return;
        this.fetched.clear(lo);
        this.fetched.appendAt(ents);
      })
      .catch((e: unknown) => {
        this.fetchError = e;
      })
      .finally(() => {
        this.fetching = undefined;
        this.ctx.onEntriesFetched?.(this.regionId);
      });
  }
}

/**
 * Reads and verifies a region's entries from `lo` in index order: up to `hi` (exclusive) or,
 * when `hi` is undefined, to the end of its log. Stops after `bytesMax` (at least one
 * entry). A hole in the indexes is corruption. With `onEntry`, entries are handed over one by
 * one instead of collected.
 */
export async function readEntryRange(
  ctx: Pick<RegionLogContext, 'engine' | 'cf'>,
  regionId: number,
  lo: number,
  hi: number | undefined,
  bytesMax: number,
  onEntry?: (e: Entry) => void,
): Promise<Entry[]> {
  const out: Entry[] = [];
  let expected = lo;
  let bytes = 0;
  const end = hi === undefined ? entriesEnd(regionId) : entryKey(regionId, hi);
  for await (const { key, value } of ctx.engine.scan(ctx.cf, { start: entryKey(regionId, lo), end })) {
    const index = indexOfEntryKey(key);
    if (index !== expected) throw new StorageCorruption(regionId, 'entry', expected, `missing entry (next stored is ${index})`);
    const e = decodeEntry(regionId, index, key, value);
    expected++;
    if (onEntry) onEntry(e);
    else out.push(e);
    bytes += entrySizeBytes(e);
    if (bytes > bytesMax) return out;
  }
  if (hi !== undefined && expected !== hi) throw new StorageCorruption(regionId, 'entry', expected, `missing entry (log should end at ${hi - 1})`);
  return out;
}
