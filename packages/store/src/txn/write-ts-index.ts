/**
 * The newest commit ts per key, in memory (an `mvcc` store's `WriteTsIndex`): what lets a
 * prewrite skip its write-conflict walk of the `write` column family (`ReadView.writeTsBound`).
 * On LevelDB that walk is an iterator, so a round trip through libuv's thread pool behind the
 * stores' synced writes, the one engine read of a 1PC put that `getSync` cannot answer.
 *
 * The index sees every batch the store writes to its engine (`WriteTsIndexedEngine` wraps the
 * engine the store and its Raft log store write through), as the batch is issued, before it
 * lands: so it is never behind the engine, only ahead (a conservative bound). It answers with a
 * ts at or above every commit ts of the key's records in the live engine:
 *
 * - a key written since the store opened and still remembered: the newest ts its batches put
 *   (or the floor, if higher);
 * - any other key: the floor, which is at or above
 *   - the newest commit ts the engine held when the store opened (one walk of the whole
 *     `write` column family, started by the first question; no answer before it ends);
 *   - every ts the index forgot: a key dropped to stay within `WRITE_TS_INDEX_KEYS_MAX` /
 *     `WRITE_TS_INDEX_KEY_BYTES_MAX` (the least recently written first), and every ts of a batch
 *     too large to note key by key (a snapshot install, `WRITE_TS_BATCH_KEYS_MAX`).
 *
 * Deletes (GC, rollbacks never delete, region destroys) only remove records: the bound stays
 * valid. The floor only rises, and a transaction whose read ts is above it (any that started
 * after the forgotten writes committed) skips the walk for every key it does not find here.
 * Nothing is persisted: a restart walks the column family again.
 *
 * The bound covers the live engine only, not a snapshot taken before the index knew the engine:
 * the scheduler gives it to a write command reading the engine under its latches.
 */
import { ForwardingEngine, type KvEngine, type WriteBatch, type WriteOptions } from '@peerkv/storage';
import { CF_WRITE, TS_MAX, TS_SUFFIX_BYTES, type Timestamp } from '@peerkv/txn';

/** Keys the index remembers at most, keys. */
export const WRITE_TS_INDEX_KEYS_MAX = 16_384;
/** Encoded key bytes the index holds at most, bytes. */
export const WRITE_TS_INDEX_KEY_BYTES_MAX = 2 * 1024 * 1024;
/** `write` puts of one batch noted key by key at most, puts; a larger batch raises the floor instead. */
export const WRITE_TS_BATCH_KEYS_MAX = 1024;

/** The index's own counters (for tests and benches). */
export interface WriteTsIndexStats {
  /** Questions answered with a bound. */
  bounded: number;
  /** Questions answered `undefined` (the opening walk not done, or failed). */
  unknown: number;
  /** Keys forgotten to stay within the limits. */
  evicted: number;
  /** Batches too large to note key by key. */
  bulkBatches: number;
}

/** See the module comment. */
export class WriteTsIndex {
  /** Encoded key (as a string of its bytes) → the newest commit ts a batch put for it; least recently written first. */
  private readonly newest = new Map<string, Timestamp>();
  private keyBytes = 0;
  /** The ts of everything forgotten (evicted keys, bulk batches). */
  private forgottenMax: Timestamp = 0n;
  /** The newest commit ts the engine held at open; `undefined` until the walk ends. */
  private openedMax: Timestamp | undefined;
  private walking = false;
  readonly stats: WriteTsIndexStats = { bounded: 0, unknown: 0, evicted: 0, bulkBatches: 0 };

  constructor(
    private readonly keysMax: number = WRITE_TS_INDEX_KEYS_MAX,
    private readonly keyBytesMax: number = WRITE_TS_INDEX_KEY_BYTES_MAX,
  ) {}

  /** `engine`, every write of it noted here first. */
  track(engine: KvEngine): WriteTsIndexedEngine {
    return new WriteTsIndexedEngine(engine, this);
  }

  /**
   * A ts at or above the commit ts of every `write` record of the key encoded as `encodedKey`
   * in `engine` (the one `track` wrapped), or `undefined` before the opening walk is done
   * (the first question starts it).
   */
  bound(engine: KvEngine, encodedKey: Uint8Array): Timestamp | undefined {
    if (this.openedMax === undefined) {
      this.startWalk(engine);
      this.stats.unknown++;
      return undefined;
    }
    this.stats.bounded++;
    const floor = this.openedMax > this.forgottenMax ? this.openedMax : this.forgottenMax;
    const ts = this.newest.get(slotOf(encodedKey, encodedKey.length));
    return ts !== undefined && ts > floor ? ts : floor;
  }

  /** Notes the `write` puts of `batch` (called as it is issued). */
  observe(batch: WriteBatch): void {
    let puts = 0;
    for (const op of batch.ops) if (op.type === 'put' && op.cf === CF_WRITE) puts++;
    if (puts === 0) return;
    if (puts > WRITE_TS_BATCH_KEYS_MAX) {
      this.stats.bulkBatches++;
      for (const op of batch.ops) if (op.type === 'put' && op.cf === CF_WRITE) this.forget(commitTsOf(op.key));
      return;
    }
    for (const op of batch.ops) if (op.type === 'put' && op.cf === CF_WRITE) this.note(op.key);
  }

  private note(storedKey: Uint8Array): void {
    const ts = commitTsOf(storedKey);
    const encodedBytes = storedKey.length - TS_SUFFIX_BYTES;
    const slot = slotOf(storedKey, encodedBytes);
    const had = this.newest.get(slot);
    if (had !== undefined) {
      this.newest.delete(slot);
      this.keyBytes -= encodedBytes;
    }
    this.newest.set(slot, had !== undefined && had > ts ? had : ts);
    this.keyBytes += encodedBytes;
    while (this.newest.size > this.keysMax || this.keyBytes > this.keyBytesMax) this.evictOldest();
  }

  private evictOldest(): void {
    const first = this.newest.entries().next();
    if (first.done === true) return;
    const [slot, ts] = first.value;
    this.newest.delete(slot);
    this.keyBytes -= slot.length;
    this.stats.evicted++;
    this.forget(ts);
  }

  private forget(ts: Timestamp): void {
    if (ts > this.forgottenMax) this.forgottenMax = ts;
  }

  /** Walks the whole `write` column family once for its newest commit ts; a failure leaves it to the next question. */
  private startWalk(engine: KvEngine): void {
    if (this.walking) return;
    this.walking = true;
    void newestCommitTs(engine).then(
      (ts) => {
        this.openedMax = ts;
      },
      () => {
        this.walking = false;
      },
    );
  }
}

/** A `KvEngine` whose writes `index` notes as they are issued; the rest as `inner` does it (`getSync` included). */
export class WriteTsIndexedEngine extends ForwardingEngine {
  readonly getSync?: (cf: string, key: Uint8Array) => Uint8Array | undefined;

  constructor(
    inner: KvEngine,
    readonly index: WriteTsIndex,
  ) {
    super(inner);
    if (inner.getSync !== undefined) this.getSync = inner.getSync.bind(inner);
  }

  override write(batch: WriteBatch, o: WriteOptions): Promise<void> {
    this.index.observe(batch);
    return this.inner.write(batch, o);
  }

  /** See `WriteTsIndex.bound`. */
  bound(encodedKey: Uint8Array): Timestamp | undefined {
    return this.index.bound(this.inner, encodedKey);
  }
}

async function newestCommitTs(engine: KvEngine): Promise<Timestamp> {
  let max = 0n;
  for await (const { key } of engine.scan(CF_WRITE)) {
    const ts = commitTsOf(key);
    if (ts > max) max = ts;
  }
  return max;
}

/** The commit ts of a `write` record's stored key (`encodeMvccKey`: `~ts` big-endian last). */
function commitTsOf(storedKey: Uint8Array): Timestamp {
  // Not a record key at all: no bound below everything is safe.
  if (storedKey.length < TS_SUFFIX_BYTES) return TS_MAX;
  const view = new DataView(storedKey.buffer, storedKey.byteOffset, storedKey.byteLength);
  return TS_MAX - view.getBigUint64(storedKey.length - TS_SUFFIX_BYTES, false);
}

/** The first `n` bytes of `bytes` as a string of char codes: exact, and a cheap map key. */
function slotOf(bytes: Uint8Array, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += String.fromCharCode(bytes[i]);
  return s;
}
