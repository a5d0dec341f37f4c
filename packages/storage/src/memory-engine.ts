/**
 * `MemoryEngine`: the `KvEngine` contract over one B+tree per column family (`sorted-btree`,
 * O(log n) puts, deletes and seeks), for tests and the simulator. Its `MemoryDisk` outlives
 * the engine, so closing and reopening on the same disk behaves like a restart; a disk can
 * also model a slow disk, unsynced writes and crashes that lose or tear what was in flight.
 *
 * Snapshots are copy-on-write: `snapshot()` clones each column family's tree in O(1)
 * (`sorted-btree` marks the root shared), and the disk copies a shared node before it
 * changes it, so later writes never reach the snapshot. A snapshot costs memory only for the
 * nodes written since; it is exact at the moment of the call (writes land synchronously).
 */
import { requireArg, StorageError } from './errors.ts';
import {
  ENGINE_LIMITS_DEFAULT,
  SNAPSHOTS_OPEN_MAX_DEFAULT,
  pagedScan,
  validateBatch,
  validateKey,
  validateScan,
  type BatchOp,
  type Durability,
  type EngineLimits,
  type KeyRange,
  type KvEngine,
  type KvPair,
  type KvSnapshot,
  type ScanOptions,
  type WriteBatch,
  type WriteOptions,
} from './engine.ts';
import { SnapshotRegistry } from './snapshot.ts';
import type { Clock } from '@peerkv/proto';
import { newTree, readTreeKey, readTreePage, treeRangeBytes, TreeSnapshot, type Tree } from './tree-snapshot.ts';

/** What a slow `MemoryDisk` uses of PeerKV's one `Clock`: its timers (a simulator passes its virtual clock). */
export type DiskTimers = Pick<Clock, 'setTimeout'>;

/**
 * How a `MemoryDisk` behaves beyond "every write is durable at once" (the default, kept for
 * every existing user). A simulator turns these on to model real disks.
 */
export interface MemoryDiskOptions {
  /**
   * Virtual time each write spends in flight before it reaches the disk and is reported
   * complete, ms (a slow disk). Writes still reach the disk in the order they were issued.
   * Needs `timers`. Absent: a write lands synchronously, inside the `write` call.
   */
  writeDelayMs?: () => number;
  timers?: DiskTimers;
  /**
   * Remember what a crash needs: an undo record of every completed write not yet synced
   * (`relaxed`, or any write in `unsynced` mode), so `crash({ kind: 'power' })` can lose them.
   * Off by default: nothing is recorded and a power cut loses nothing.
   */
  trackUnsynced?: boolean;
}

/** What a crash does to the disk. */
export interface CrashOptions {
  /**
   * `process`: the program dies (a tab or process crash): writes in flight are lost or land
   * whole; completed writes survive, `relaxed` ones too (they sit in the OS cache).
   * `power`: also a power cut: completed writes that were never synced may be lost (a suffix
   * of them, in write order), needs `trackUnsynced`.
   */
  kind: 'process' | 'power';
  /**
   * Let the first write in flight reach the disk partly: a prefix of its ops lands. This
   * breaks the `KvEngine` contract (a batch is all or nothing, also across a crash; IndexedDB
   * and LevelDB keep it), so it models a broken disk, not a real engine. Off by default.
   */
  tear?: boolean;
  /** Seeded chance in [0, 1) for every choice the crash makes. */
  random: () => number;
}

/** What one crash did. */
export interface CrashReport {
  /** Writes in flight that never reached the disk. */
  inFlightLost: number;
  /** Writes in flight that reached the disk whole although never reported complete. */
  inFlightLanded: number;
  /** A write in flight that reached the disk partly (only with `tear`): ops landed of ops total. */
  torn?: { opsLanded: number; opsTotal: number };
  /** Completed, never-synced writes the power cut took away. */
  unsyncedLost: number;
}

/** Counters of a disk's life, for reports and tests. */
export interface MemoryDiskStats {
  writes: number;
  /** Writes that spent a non-zero delay in flight. */
  slowWrites: number;
  crashes: number;
  inFlightLost: number;
  inFlightLanded: number;
  torn: number;
  unsyncedLost: number;
}

/** How to restore the disk to before one write: per touched key, its previous value (in op order). */
type UndoRecord = { cf: string; key: Uint8Array; prev: Uint8Array | undefined }[];

/** A write issued and not yet on the disk. */
interface InFlightWrite {
  ops: readonly BatchOp[];
  durability: Durability;
  resolve: () => void;
  reject: (e: unknown) => void;
  /** Its delay is over (it lands once every earlier write has). */
  ready: boolean;
}

/**
 * The data of memory engines: one tree per column family. Survives `close()`, so reopening
 * an engine on the same disk is a restart. Optionally a model of a real disk (slow writes,
 * lost unsynced writes, crashes: `MemoryDiskOptions`, `crash`).
 */
export class MemoryDisk {
  /** Column family name → tree. */
  readonly trees = new Map<string, Tree>();
  /** Bumped by every crash: engines opened before it are dead. */
  generation = 0;
  /**
   * Injected fault: every write, also `strict`, stays unsynced (a disk that acknowledges
   * before its cache reaches the platter). A power cut may then lose acknowledged strict
   * writes — outside the contract, to show what depends on it. Needs `trackUnsynced`.
   */
  unsynced = false;
  readonly stats: MemoryDiskStats = { writes: 0, slowWrites: 0, crashes: 0, inFlightLost: 0, inFlightLanded: 0, torn: 0, unsyncedLost: 0 };
  private readonly inFlight: InFlightWrite[] = [];
  /** Completed writes not yet synced, oldest first (only with `trackUnsynced`). */
  private readonly unsyncedUndo: UndoRecord[] = [];

  constructor(private readonly o: MemoryDiskOptions = {}) {
    if (o.writeDelayMs) requireArg(o.timers !== undefined, 'a disk with writeDelayMs needs timers');
  }

  /** The tree of `cf`, created empty on first use. */
  tree(cf: string): Tree {
    let t = this.trees.get(cf);
    if (!t) {
      t = newTree();
      this.trees.set(cf, t);
    }
    return t;
  }

  /** Writes currently in flight. */
  inFlightCount(): number {
    return this.inFlight.length;
  }

  /** Completed writes a power cut could still lose. */
  unsyncedCount(): number {
    return this.unsyncedUndo.length;
  }

  /**
   * Takes a validated batch: lands it now (no delay, nothing in flight) or after the disk's
   * delay and behind every earlier write. Resolves once it is on the disk at `durability`.
   */
  submit(ops: readonly BatchOp[], durability: Durability): Promise<void> {
    this.stats.writes++;
    const delay = this.o.writeDelayMs ? Math.max(0, this.o.writeDelayMs()) : 0;
    if (delay === 0 && this.inFlight.length === 0) {
      this.land(ops, durability);
      return Promise.resolve();
    }
    if (delay > 0) this.stats.slowWrites++;
    return new Promise<void>((resolve, reject) => {
      const w: InFlightWrite = { ops, durability, resolve, reject, ready: delay === 0 };
      this.inFlight.push(w);
      if (delay > 0) {
        (this.o.timers as DiskTimers).setTimeout(() => {
          w.ready = true;
          this.landReady();
        }, delay);
      }
    });
  }

  /** Lands the writes at the head of the queue whose delay is over: never one before an earlier one. */
  private landReady(): void {
    while (this.inFlight.length > 0 && this.inFlight[0].ready) {
      const w = this.inFlight.shift() as InFlightWrite;
      this.land(w.ops, w.durability);
      w.resolve();
    }
  }

  /** Applies ops atomically, recording how to undo them while they are unsynced. */
  private land(ops: readonly BatchOp[], durability: Durability): void {
    const synced = durability === 'strict' && !this.unsynced;
    const undo: UndoRecord | undefined = this.o.trackUnsynced && !synced ? [] : undefined;
    for (const op of ops) this.applyOp(op, undo);
    if (undo) this.unsyncedUndo.push(undo);
    // A strict write is a sync: it makes every earlier write durable too (fsync order).
    else if (synced) this.unsyncedUndo.length = 0;
  }

  private applyOp(op: BatchOp, undo: UndoRecord | undefined): void {
    const tree = this.tree(op.cf);
    if (op.type === 'deleteRange') {
      if (undo) tree.forRange(op.start, op.end, false, (k, v) => void undo.push({ cf: op.cf, key: k, prev: v }));
      tree.deleteRange(op.start, op.end, false);
      return;
    }
    if (undo) undo.push({ cf: op.cf, key: op.key.slice(), prev: tree.get(op.key) });
    if (op.type === 'put') tree.set(op.key.slice(), op.value.slice());
    else tree.delete(op.key);
  }

  /**
   * The machine dies: engines opened on this disk so far are dead (every call rejects with
   * `StorageError('Closed')`); of the writes in flight, a seeded prefix lands whole (the crash
   * came after the disk had them, before the report), the next may land partly (`tear`), the
   * rest are lost and their promises reject. A power cut also loses a seeded suffix of the
   * completed writes never synced. A write reported complete at `strict` always survives.
   * Reopen an engine on the disk to restart.
   */
  crash(o: CrashOptions): CrashReport {
    const report: CrashReport = { inFlightLost: 0, inFlightLanded: 0, unsyncedLost: 0 };
    this.generation++;
    this.stats.crashes++;
    const pending = this.inFlight.splice(0);
    const landed = pending.length > 0 ? Math.floor(o.random() * (pending.length + 1)) : 0;
    pending.forEach((w, i) => {
      if (i < landed) {
        this.land(w.ops, w.durability);
        report.inFlightLanded++;
      } else if (i === landed && o.tear && w.ops.length > 1) {
        const opsLanded = 1 + Math.floor(o.random() * (w.ops.length - 1));
        this.land(w.ops.slice(0, opsLanded), w.durability);
        report.torn = { opsLanded, opsTotal: w.ops.length };
      } else report.inFlightLost++;
      w.reject(new StorageError('Closed', 'the machine crashed before the write completed'));
    });
    if (o.kind === 'power') {
      const kept = this.unsyncedUndo.length > 0 ? Math.floor(o.random() * (this.unsyncedUndo.length + 1)) : 0;
      const lost = this.unsyncedUndo.splice(kept);
      for (const undo of lost.reverse()) this.undo(undo);
      report.unsyncedLost = lost.length;
    }
    // What survived is on the disk now: a later crash cannot take it away.
    this.unsyncedUndo.length = 0;
    this.stats.inFlightLost += report.inFlightLost;
    this.stats.inFlightLanded += report.inFlightLanded;
    this.stats.unsyncedLost += report.unsyncedLost;
    if (report.torn) this.stats.torn++;
    return report;
  }

  private undo(record: UndoRecord): void {
    for (let i = record.length - 1; i >= 0; i--) {
      const { cf, key, prev } = record[i];
      if (prev === undefined) this.tree(cf).delete(key);
      else this.tree(cf).set(key, prev);
    }
  }
}

/** How to open a `MemoryEngine`. */
export interface MemoryEngineOptions {
  columnFamilies: readonly string[];
  /** Reuse this disk to model a restart; a fresh one when absent. */
  disk?: MemoryDisk;
  limits?: Partial<EngineLimits>;
  /** Most snapshots open at once, in snapshots. Default `SNAPSHOTS_OPEN_MAX_DEFAULT`. */
  snapshotsOpenMax?: number;
}

/** An in-memory, ordered, atomic `KvEngine`. */
export class MemoryEngine implements KvEngine {
  readonly kind = 'memory' as const;
  readonly columnFamilies: readonly string[];
  readonly disk: MemoryDisk;
  private readonly cfSet: ReadonlySet<string>;
  private readonly limits: EngineLimits;
  /** The disk's generation at open: a crash since then makes this engine dead. */
  private readonly generation: number;
  private closed = false;
  /** Writes of this engine not yet landed (`close` waits for them). */
  private readonly pendingWrites = new Set<Promise<void>>();
  private readonly snapshots: SnapshotRegistry;

  private constructor(options: MemoryEngineOptions) {
    this.columnFamilies = [...options.columnFamilies];
    this.cfSet = new Set(this.columnFamilies);
    this.disk = options.disk ?? new MemoryDisk();
    this.limits = { ...ENGINE_LIMITS_DEFAULT, ...options.limits };
    this.generation = this.disk.generation;
    for (const cf of this.columnFamilies) this.disk.tree(cf);
    this.snapshots = new SnapshotRegistry(options.snapshotsOpenMax ?? SNAPSHOTS_OPEN_MAX_DEFAULT, 'memory engine');
  }

  /** Opens an engine (async only to match the other engines). */
  static async open(options: MemoryEngineOptions): Promise<MemoryEngine> {
    requireArg(options.columnFamilies.length > 0, 'at least one column family');
    return new MemoryEngine(options);
  }

  async get(cf: string, key: Uint8Array): Promise<Uint8Array | undefined> {
    return readTreeKey(this.treeOf(cf), key, this.limits);
  }

  /** `get`, answered at once (`KvEngine.getSync`): the trees are in memory. */
  getSync(cf: string, key: Uint8Array): Uint8Array | undefined {
    return readTreeKey(this.treeOf(cf), key, this.limits);
  }

  scan(cf: string, options: ScanOptions = {}): AsyncIterableIterator<KvPair> {
    const tree = this.treeOf(cf);
    const pageSize = validateScan(options, this.limits);
    return pagedScan(async (req) => readTreePage(tree, req), options, pageSize);
  }

  async write(batch: WriteBatch, options: WriteOptions): Promise<void> {
    this.assertOpen();
    requireArg(options.durability === 'strict' || options.durability === 'relaxed', 'durability must be strict or relaxed');
    validateBatch(batch, this.cfSet, this.limits);
    // Validated first, then landed in one synchronous step (now, or after the disk's delay):
    // all or nothing. Keys and values are copied as they land.
    const done = this.disk.submit([...batch.ops], options.durability);
    this.pendingWrites.add(done);
    try {
      await done;
    } finally {
      this.pendingWrites.delete(done);
    }
  }

  async approximateSize(cf: string, range: KeyRange): Promise<number> {
    return treeRangeBytes(this.treeOf(cf), range);
  }

  /**
   * A copy-on-write view of every column family, exact at this call: writes that landed
   * are in it, writes still in flight on a slow disk are not (they land later, whole).
   * Fails `TooManySnapshots` at `snapshotsOpenMax`; dies with the engine (close or crash).
   */
  async snapshot(): Promise<KvSnapshot> {
    this.assertOpen();
    this.snapshots.assertRoom();
    const trees = new Map<string, Tree>();
    for (const cf of this.columnFamilies) trees.set(cf, this.disk.tree(cf).clone());
    return new TreeSnapshot(trees, this.limits, this.snapshots, () => this.assertOpen());
  }

  /** Pending writes land first (a crash may reject them instead). Open snapshots are released. */
  async close(): Promise<void> {
    this.closed = true;
    await this.snapshots.releaseAll();
    await Promise.allSettled([...this.pendingWrites]);
  }

  private treeOf(cf: string): Tree {
    this.assertOpen();
    requireArg(this.cfSet.has(cf), `unknown column family '${cf}'`);
    return this.disk.tree(cf);
  }

  private assertOpen(): void {
    if (this.closed) throw new StorageError('Closed', 'memory engine is closed');
    if (this.disk.generation !== this.generation) throw new StorageError('Closed', 'the machine crashed under this memory engine');
  }
}
