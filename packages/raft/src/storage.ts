/**
 * `RaftStorage`: what the core reads from stable storage, and `MemoryStorage`, the reference
 * implementation (etcd `storage.go`).
 *
 * The core only reads. The driver writes what `Ready` hands it (entries, hard state,
 * snapshot) and compacts when the application has snapshotted. Reads are synchronous:
 * an engine with asynchronous I/O keeps the uncompacted log tail in memory (bounded by log
 * GC) or throws `LogTemporarilyUnavailable`, which the core treats as "try again later".
 *
 * Index layout, as in etcd: the storage keeps a dummy entry at `offset` holding the term of
 * the last compacted (or snapshotted) index; `firstIndex = offset + 1`.
 */
import { assert, RaftStorageError } from './errors.ts';
import {
  emptyConfState,
  entrySizeBytes,
  type ConfState,
  type Entry,
  type HardState,
  type Snapshot,
} from './types.ts';

/** The persisted state a node restarts from. */
export interface InitialState {
  hardState: HardState;
  confState: ConfState;
}

/** Read access to the persisted log, hard state and latest snapshot. */
export interface RaftStorage {
  initialState(): InitialState;
  /**
   * Entries in [lo, hi), at least one if any exist, at most `maxSizeBytes` beyond the first.
   * Throws `Compacted` if `lo <= snapshot index`, `Unavailable` if `hi > lastIndex + 1`.
   */
  entries(lo: number, hi: number, maxSizeBytes: number): Entry[];
  /** Term of entry `index`; valid in [firstIndex - 1, lastIndex]. */
  term(index: number): number;
  firstIndex(): number;
  lastIndex(): number;
  /** The most recent snapshot. May throw `SnapshotTemporarilyUnavailable`. */
  snapshot(): Snapshot;
}

/** Limits `ents` to `maxSizeBytes`, always keeping the first entry (etcd `limitSize`). */
export function limitSize(ents: Entry[], maxSizeBytes: number): Entry[] {
  if (ents.length === 0) return ents;
  let size = entrySizeBytes(ents[0]);
  let limit = 1;
  for (; limit < ents.length; limit++) {
    size += entrySizeBytes(ents[limit]);
    if (size > maxSizeBytes) break;
  }
  return limit === ents.length ? ents : ents.slice(0, limit);
}

/** An in-memory `RaftStorage` for tests, the simulator and benchmarks. */
export class MemoryStorage implements RaftStorage {
  private hardState: HardState = { term: 0, vote: 0, commit: 0 };
  private snap: Snapshot = { data: new Uint8Array(), metadata: { index: 0, term: 0, confState: emptyConfState() } };
  /** ents[0] is the dummy entry at the snapshot index. */
  private ents: Entry[] = [{ term: 0, index: 0, type: 'normal', data: new Uint8Array() }];

  /** A storage whose initial configuration has the given voters (for bootstrapping tests). */
  static withVoters(voters: number[], learners: number[] = []): MemoryStorage {
    const s = new MemoryStorage();
    s.snap.metadata.confState = { ...emptyConfState(), voters: [...voters], learners: [...learners] };
    return s;
  }

  initialState(): InitialState {
    return { hardState: { ...this.hardState }, confState: cloneConfState(this.snap.metadata.confState) };
  }

  setHardState(hs: HardState): void {
    this.hardState = { ...hs };
  }

  /** Replaces the stored conf state (used when the application applies conf changes). */
  setConfState(cs: ConfState): void {
    this.snap.metadata.confState = cloneConfState(cs);
  }

  entries(lo: number, hi: number, maxSizeBytes: number): Entry[] {
    const offset = this.ents[0].index;
    if (lo <= offset) throw new RaftStorageError('Compacted', `entries(${lo}) <= compacted ${offset}`);
    if (hi > this.lastIndex() + 1) {
      throw new RaftStorageError('Unavailable', `entries hi ${hi} out of bound lastIndex ${this.lastIndex()}`);
    }
    if (this.ents.length === 1) throw new RaftStorageError('Unavailable', 'log is empty');
    return limitSize(this.ents.slice(lo - offset, hi - offset), maxSizeBytes);
  }

  term(index: number): number {
    const offset = this.ents[0].index;
    if (index < offset) throw new RaftStorageError('Compacted', `term(${index}) < compacted ${offset}`);
    if (index - offset >= this.ents.length) throw new RaftStorageError('Unavailable', `term(${index}) unavailable`);
    return this.ents[index - offset].term;
  }

  firstIndex(): number {
    return this.ents[0].index + 1;
  }

  lastIndex(): number {
    return this.ents[0].index + this.ents.length - 1;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Installs a snapshot received from the leader, discarding the whole log. */
  applySnapshot(snap: Snapshot): void {
    if (snap.metadata.index <= this.snap.metadata.index) {
      throw new RaftStorageError('Compacted', 'snapshot out of date');
    }
    this.snap = { data: snap.data, metadata: { ...snap.metadata, confState: cloneConfState(snap.metadata.confState) } };
    this.ents = [{ term: snap.metadata.term, index: snap.metadata.index, type: 'normal', data: new Uint8Array() }];
  }

  /**
   * Records a snapshot of the applied state at `index` (≤ lastIndex). Returns it so the
   * caller can compact. A snapshot older than the current one is refused.
   */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Snapshot {
    if (index <= this.snap.metadata.index) throw new RaftStorageError('SnapshotTemporarilyUnavailable', 'snapshot out of date');
    assert(index <= this.lastIndex(), `snapshot ${index} is out of bound lastindex(${this.lastIndex()})`);
    const offset = this.ents[0].index;
    this.snap = {
      data,
      metadata: { index, term: this.ents[index - offset].term, confState: cloneConfState(confState) },
    };
    return this.snap;
  }

  /** Discards entries up to and including `compactIndex`, keeping its term as the dummy. */
  compact(compactIndex: number): void {
    const offset = this.ents[0].index;
    if (compactIndex <= offset) throw new RaftStorageError('Compacted', `compact(${compactIndex}) <= ${offset}`);
    assert(compactIndex <= this.lastIndex(), `compact ${compactIndex} is out of bound lastindex(${this.lastIndex()})`);
    const i = compactIndex - offset;
    const dummy: Entry = { term: this.ents[i].term, index: this.ents[i].index, type: 'normal', data: new Uint8Array() };
    this.ents = [dummy, ...this.ents.slice(i + 1)];
  }

  /** Appends entries, truncating any conflicting suffix. Entries must be contiguous. */
  append(entries: Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[0].index + entries.length - 1;
    if (last < first) return; // all already compacted
    // Drop the already-compacted prefix of `entries`.
    const ents = first > entries[0].index ? entries.slice(first - entries[0].index) : entries;
    const offset = ents[0].index - this.ents[0].index;
    assert(offset <= this.ents.length, `missing log entry [last: ${this.lastIndex()}, append at: ${ents[0].index}]`);
    // Truncate a conflicting suffix in place, then append (amortized O(appended)).
    this.ents.length = offset;
    for (const e of ents) this.ents.push(e);
  }
}

export function cloneConfState(cs: ConfState): ConfState {
  return {
    voters: [...cs.voters],
    learners: [...cs.learners],
    votersOutgoing: [...cs.votersOutgoing],
    learnersNext: [...cs.learnersNext],
    autoLeave: cs.autoLeave,
  };
}
