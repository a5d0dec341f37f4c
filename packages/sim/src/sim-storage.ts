/**
 * Simulated stable storage for one node, modelling the IndexedDB contract around the Raft
 * `MemoryStorage` the core reads:
 * - a write is atomic and takes virtual time: `begin` it, `complete` it later;
 * - a crash loses every write not yet completed (`crash`);
 * - with `relaxed` durability a completed write may still sit in a volatile cache until the
 *   next `flush`: a power loss (`powerLoss`) rolls the node back to its last flushed state,
 *   so even acknowledged (completed) writes can vanish. `strict` flushes on completion.
 *
 * `visible` is what the node reads (completed writes); `durable` is what survives power loss.
 */
import { MemoryStorage, type ConfState, type Entry, type HardState, type Snapshot } from '@peerkv/raft';

/** How completed writes reach the disk (IndexedDB `durability`). */
export type Durability = 'strict' | 'relaxed';

/** One atomic write. */
export type StorageOp =
  /** What a Raft `Ready` asks to persist. */
  | { kind: 'raft'; snapshot?: Snapshot; entries: Entry[]; hardState?: HardState }
  /** The application's snapshot of its applied state, then log compaction up to `compactIndex`. */
  | { kind: 'snapshot'; index: number; confState: ConfState; data: Uint8Array; compactIndex: number };

/** A write that was begun and not yet completed. */
export interface WriteTicket {
  readonly id: number;
  readonly op: StorageOp;
}

/** Thrown for a ticket that is not in flight: a simulator bug. */
export class SimStorageError extends Error {
  override readonly name = 'SimStorageError';
}

/** Applies `op` to a `MemoryStorage` (the order inside a Raft write is snapshot, entries, hard state). */
export function applyOp(storage: MemoryStorage, op: StorageOp): void {
  if (op.kind === 'raft') {
    if (op.snapshot !== undefined && op.snapshot.metadata.index > 0) storage.applySnapshot(op.snapshot);
    storage.append(op.entries);
    if (op.hardState !== undefined) storage.setHardState(op.hardState);
    return;
  }
  if (op.index > storage.snapshot().metadata.index) storage.createSnapshot(op.index, op.confState, op.data);
  if (op.compactIndex >= storage.firstIndex() && op.compactIndex <= storage.lastIndex()) storage.compact(op.compactIndex);
}

/** A deep-enough copy of a `MemoryStorage` through its public API (entries are immutable). */
export function cloneMemoryStorage(source: MemoryStorage): MemoryStorage {
  const copy = new MemoryStorage();
  const snap = source.snapshot();
  const init = source.initialState();
  if (snap.metadata.index > 0) copy.applySnapshot(snap);
  else copy.setConfState(init.confState);
  const first = source.firstIndex();
  const last = source.lastIndex();
  if (last >= first) copy.append(source.entries(first, last + 1, Number.MAX_SAFE_INTEGER));
  copy.setHardState(init.hardState);
  return copy;
}

/** Counters, for reports and tests. */
export interface SimStorageStats {
  completed: number;
  lostInCrash: number;
  lostInPowerLoss: number;
}

/** One node's simulated disk. */
export class SimStorage {
  /** What the node's Raft core reads: every completed write. Replaced on power loss. */
  visible: MemoryStorage;
  private durable: MemoryStorage;
  private readonly inflight = new Map<number, StorageOp>();
  private unflushed: StorageOp[] = [];
  private nextTicket = 0;
  readonly stats: SimStorageStats = { completed: 0, lostInCrash: 0, lostInPowerLoss: 0 };

  constructor(
    initial: MemoryStorage,
    readonly durability: Durability,
  ) {
    this.visible = initial;
    this.durable = durability === 'strict' ? initial : cloneMemoryStorage(initial);
  }

  /** Starts an atomic write; nothing is visible until `complete`. */
  begin(op: StorageOp): WriteTicket {
    const ticket = { id: this.nextTicket++, op };
    this.inflight.set(ticket.id, op);
    return ticket;
  }

  /** Completes a write: visible now, durable now (`strict`) or at the next flush (`relaxed`). */
  complete(ticket: WriteTicket): void {
    if (!this.inflight.delete(ticket.id)) throw new SimStorageError(`write ${ticket.id} is not in flight`);
    this.stats.completed++;
    applyOp(this.visible, ticket.op);
    if (this.durability === 'relaxed') this.unflushed.push(ticket.op);
  }

  /** Begins and completes a write at once (e.g. a small metadata write). */
  writeNow(op: StorageOp): void {
    this.complete(this.begin(op));
  }

  /** Writes completed-but-unflushed data to disk (`relaxed` only; a no-op when `strict`). */
  flush(): void {
    for (const op of this.unflushed) applyOp(this.durable, op);
    this.unflushed = [];
  }

  /** Number of completed writes not yet flushed. */
  unflushedCount(): number {
    return this.unflushed.length;
  }

  /** True when a write is in flight. */
  hasInflight(): boolean {
    return this.inflight.size > 0;
  }

  /** Process crash: writes in flight are lost; completed writes survive. */
  crash(): void {
    this.stats.lostInCrash += this.inflight.size;
    this.inflight.clear();
  }

  /** Power loss: a crash, and with `relaxed` durability the unflushed completed writes are lost too. */
  powerLoss(): void {
    this.crash();
    if (this.durability === 'strict') return;
    this.stats.lostInPowerLoss += this.unflushed.length;
    this.unflushed = [];
    this.visible = cloneMemoryStorage(this.durable);
  }
}
