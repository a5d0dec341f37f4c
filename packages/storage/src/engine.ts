/**
 * The `KvEngine` contract every storage engine implements (memory, IndexedDB, LevelDB), and
 * the `WriteBatch` it commits atomically. Keys are `Uint8Array`s compared bytewise; each key
 * lives in a named column family; ranges are half-open `[start, end)`.
 */
import { compareBytes } from './bytes.ts';
import { requireArg, StorageError } from './errors.ts';

/**
 * How hard a write is pushed to disk before it is reported complete.
 * - `strict`: on stable storage (IndexedDB `durability: 'strict'`, LevelDB `sync: true`).
 *   Raft votes and acks backed by a `relaxed` write can be lost on power failure.
 * - `relaxed`: in the OS or browser cache; survives a tab crash, not a power cut.
 */
export type Durability = 'strict' | 'relaxed';

/** Options every `write` takes; `durability` has no default on purpose (pass it at each call). */
export interface WriteOptions {
  durability: Durability;
}

/** A half-open key range `[start, end)`; a missing side is unbounded. */
export interface KeyRange {
  start?: Uint8Array;
  end?: Uint8Array;
}

/** What `scan` reads: a range, a direction and a count limit. */
export interface ScanOptions extends KeyRange {
  /** Descending key order (from just below `end` down to `start`). */
  reverse?: boolean;
  /** Stops after this many pairs. Unbounded when absent. */
  limit?: number;
  /** Pairs read per page (one engine round trip). Defaults to `SCAN_PAGE_SIZE_DEFAULT`. */
  pageSize?: number;
}

/** One key with its value. */
export interface KvPair {
  key: Uint8Array;
  value: Uint8Array;
}

/** Which engine implements the contract. */
export type EngineKind = 'memory' | 'idb' | 'level';

/**
 * An ordered key-value engine with column families and atomic batches.
 *
 * Every method rejects with `StorageError` once the engine is closed. Reads see every write
 * whose promise has resolved. `scan` streams in pages of bounded size; each page is a
 * consistent read, but a write landing between two pages may or may not be seen by the rest
 * of the scan. Reads that must agree with each other (across pages, keys or column
 * families) go through `snapshot()`.
 */
export interface KvEngine {
  readonly kind: EngineKind;
  /** The column families this engine was opened with. */
  readonly columnFamilies: readonly string[];
  /** The value at `key`, or undefined. */
  get(cf: string, key: Uint8Array): Promise<Uint8Array | undefined>;
  /**
   * `get` answered synchronously, where the engine can do it without blocking on I/O it has
   * not already done (LevelDB: `getSync`, served from its memtable and caches or a blocking
   * file read; memory: its trees). Absent on engines that cannot (IndexedDB) and on wrappers that change reads
   * (`ForwardingEngine` does not forward it): callers use `get` then. It sees what `get`
   * called at the same moment would. A hot path's point read (the store's latched txn reads)
   * uses it to skip the async round trip: LevelDB's async `get` queues a job on libuv's
   * thread pool, behind the stores' synced batch writes, and costs ~20x the CPU of `getSync`.
   */
  getSync?(cf: string, key: Uint8Array): Uint8Array | undefined;
  /** Streams pairs in `[start, end)` in key order (or reverse), at most `limit`. */
  scan(cf: string, options?: ScanOptions): AsyncIterableIterator<KvPair>;
  /**
   * Applies every operation of `batch`, in order, atomically: all or nothing, also across a
   * crash. Resolves only once the engine reports the write complete at `durability`; a
   * failed or aborted write rejects and leaves no trace.
   */
  write(batch: WriteBatch, options: WriteOptions): Promise<void>;
  /** Roughly how many bytes (keys + values) `range` holds in `cf`, for split decisions. */
  approximateSize(cf: string, range: KeyRange): Promise<number>;
  /**
   * A consistent, read-only view across every column family while writes go on (see
   * `KvSnapshot` for what it holds and how it fails). Rejects `TooManySnapshots` when the
   * engine's `snapshotsOpenMax` snapshots are open. Wrappers (the browser host's
   * `SlowableEngine`) forward it.
   */
  snapshot(): Promise<KvSnapshot>;
  /** Releases the engine (and its open snapshots); pending writes finish first. Idempotent. */
  close(): Promise<void>;
}

/**
 * A consistent, read-only view of every column family of an engine at one point in time.
 * Writes go on meanwhile and are never seen by it. The view holds what it pins (tree nodes,
 * a LevelDB snapshot, IndexedDB pre-images) until `release()`: release it as soon as the reads
 * are done; an engine keeps at most `snapshotsOpenMax` open.
 *
 * Which writes it holds: every write whose promise resolved before `snapshot()` was called,
 * none issued after that call, and a write in flight during the call whole or not at all.
 *
 * Errors: reads reject with `StorageError('SnapshotReleased')` after `release()`, and with
 * the engine's own `StorageError('Closed')` once the engine is closed (or, for a memory
 * engine, its disk crashed); `close()` of the engine releases its open snapshots.
 */
export interface KvSnapshot {
  /** The column families of the engine, all of them in the view. */
  readonly columnFamilies: readonly string[];
  /** The value at `key` when the snapshot was taken, or undefined. */
  get(cf: string, key: Uint8Array): Promise<Uint8Array | undefined>;
  /** `get` answered synchronously, where the engine can (LevelDB; see `KvEngine.getSync`); it throws where `get` rejects. */
  getSync?(cf: string, key: Uint8Array): Uint8Array | undefined;
  /** As `KvEngine.scan` (same options, limits and paging), over the snapshot. */
  scan(cf: string, options?: ScanOptions): AsyncIterableIterator<KvPair>;
  /**
   * Roughly how many bytes `range` of `cf` holds. Exact for the snapshot on the memory
   * engine; on LevelDB and IndexedDB the engine's estimate of the live data (neither keeps
   * one per snapshot).
   */
  approximateSize(cf: string, range: KeyRange): Promise<number>;
  /** Frees what the snapshot pins and its slot in `snapshotsOpenMax`. Idempotent. */
  release(): Promise<void>;
  /** The same as `release()`, for code that closes resources by that name. */
  close(): Promise<void>;
}

/** Default bound on the snapshots one engine keeps open at once, in snapshots. */
export const SNAPSHOTS_OPEN_MAX_DEFAULT = 64;

/** One operation of a `WriteBatch`. */
export type BatchOp =
  | { type: 'put'; cf: string; key: Uint8Array; value: Uint8Array }
  | { type: 'delete'; cf: string; key: Uint8Array }
  | { type: 'deleteRange'; cf: string; start: Uint8Array; end: Uint8Array };

/** Default pairs per scan page. */
export const SCAN_PAGE_SIZE_DEFAULT = 256;

/** Limits every engine enforces on input, each in its unit. */
export interface EngineLimits {
  /** Largest key, in bytes. */
  keyBytesMax: number;
  /** Largest value, in bytes. */
  valueBytesMax: number;
  /** Largest batch (keys + values of all operations), in bytes. */
  batchBytesMax: number;
}

/** Default limits: 64 KiB keys, 16 MiB values, 64 MiB batches. */
export const ENGINE_LIMITS_DEFAULT: EngineLimits = {
  keyBytesMax: 64 * 1024,
  valueBytesMax: 16 * 1024 * 1024,
  batchBytesMax: 64 * 1024 * 1024,
};

/**
 * An ordered list of puts, deletes and range deletes across column families, committed as
 * one atomic engine write. Keys must not be empty (an empty byte string only bounds ranges). Keys and values are referenced, not copied: do not mutate them
 * until `write` has resolved.
 */
export class WriteBatch {
  readonly ops: BatchOp[] = [];
  private bytes = 0;

  /** Sets `key` to `value` in `cf`. */
  put(cf: string, key: Uint8Array, value: Uint8Array): this {
    this.ops.push({ type: 'put', cf, key, value });
    this.bytes += key.length + value.length;
    return this;
  }

  /** Removes `key` from `cf` (no-op if absent). */
  delete(cf: string, key: Uint8Array): this {
    this.ops.push({ type: 'delete', cf, key });
    this.bytes += key.length;
    return this;
  }

  /** Removes every key in `[start, end)` from `cf`. */
  deleteRange(cf: string, start: Uint8Array, end: Uint8Array): this {
    this.ops.push({ type: 'deleteRange', cf, start, end });
    this.bytes += start.length + end.length;
    return this;
  }

  /** Number of operations. */
  get length(): number {
    return this.ops.length;
  }

  /** Keys and values referenced by the batch, in bytes. */
  get sizeBytes(): number {
    return this.bytes;
  }

  /** True when there is nothing to write. */
  get isEmpty(): boolean {
    return this.ops.length === 0;
  }

  /** Appends every operation of `other`, in order. */
  append(other: WriteBatch): this {
    for (const op of other.ops) this.ops.push(op);
    this.bytes += other.bytes;
    return this;
  }
}

/** Checks a batch against the column families and limits before anything is written. */
export function validateBatch(batch: WriteBatch, cfs: ReadonlySet<string>, limits: EngineLimits): void {
  if (batch.sizeBytes > limits.batchBytesMax) {
    throw new StorageError('BatchTooLarge', `batch of ${batch.sizeBytes} bytes > batchBytesMax ${limits.batchBytesMax}`);
  }
  for (const op of batch.ops) {
    requireArg(cfs.has(op.cf), `unknown column family '${op.cf}'`);
    if (op.type === 'deleteRange') {
      validateKey(op.start, limits);
      validateKey(op.end, limits);
      requireArg(compareBytes(op.start, op.end) <= 0, 'deleteRange start > end');
      continue;
    }
    validateKey(op.key, limits);
    requireArg(op.key.length > 0, 'keys must not be empty');
    if (op.type === 'put') {
      requireArg(op.value instanceof Uint8Array, 'value must be a Uint8Array');
      requireArg(op.value.length <= limits.valueBytesMax, `value of ${op.value.length} bytes > valueBytesMax ${limits.valueBytesMax}`);
    }
  }
}

/** Checks one key's type and size. Empty keys are refused by writes (as in TiKV) but bound ranges. */
export function validateKey(key: Uint8Array, limits: EngineLimits): void {
  requireArg(key instanceof Uint8Array, 'key must be a Uint8Array');
  requireArg(key.length <= limits.keyBytesMax, `key of ${key.length} bytes > keyBytesMax ${limits.keyBytesMax}`);
}

/** Checks scan options; returns the page size to use. */
export function validateScan(options: ScanOptions, limits: EngineLimits): number {
  if (options.start) validateKey(options.start, limits);
  if (options.end) validateKey(options.end, limits);
  requireArg(options.limit === undefined || (Number.isInteger(options.limit) && options.limit >= 0), 'limit must be an integer ≥ 0');
  const pageSize = options.pageSize ?? SCAN_PAGE_SIZE_DEFAULT;
  requireArg(Number.isInteger(pageSize) && pageSize > 0, 'pageSize must be an integer > 0');
  return pageSize;
}

/** One page request of a paged scan: keys in (lower|[lower, upper) in `reverse` order or not. */
export interface PageRequest {
  lower?: Uint8Array;
  /** Exclude `lower` itself (used to resume a forward scan after the last key seen). */
  lowerOpen: boolean;
  /** Exclusive upper bound. A reverse scan resumes by lowering it to the last key seen. */
  upper?: Uint8Array;
  reverse: boolean;
  count: number;
}

/** Reads one page of at most `count` pairs. */
export type PageReader = (req: PageRequest) => Promise<KvPair[]>;

/**
 * Streams a range by pages, each read by `readPage` (its own short transaction), resuming
 * after the last key seen. Memory use is bounded by one page.
 */
export async function* pagedScan(readPage: PageReader, options: ScanOptions, pageSize: number): AsyncGenerator<KvPair> {
  let remaining = options.limit ?? Number.POSITIVE_INFINITY;
  const req: PageRequest = { lower: options.start, lowerOpen: false, upper: options.end, reverse: options.reverse ?? false, count: 0 };
  if (req.lower && req.upper && compareBytes(req.lower, req.upper) >= 0) return;
  while (remaining > 0) {
    req.count = Math.min(pageSize, remaining);
    const page = await readPage(req);
    for (const pair of page) yield pair;
    remaining -= page.length;
    if (page.length < req.count) return;
    const last = page[page.length - 1].key;
    if (req.reverse) req.upper = last;
    else {
      req.lower = last;
      req.lowerOpen = true;
    }
  }
}
