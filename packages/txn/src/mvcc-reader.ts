/**
 * `ReadView` over raw column families: the store wraps its engine snapshot (anything with
 * `get` and an ordered `scan` per column family, as storage's `KvSnapshot` has) and gets the
 * decoded view the actions need. Records that do not decode throw `DecodeError`: the store's
 * own data is corrupt, which is not an expected failure.
 */
import { CF_DEFAULT, CF_LOCK, CF_WRITE } from './cf.ts';
import { decodeKey, decodeMvccKey, encodeKey, encodeMvccKey, encodedKeyEnd } from './key.ts';
import { decodeLock, type Lock } from './lock.ts';
import type { Timestamp } from './timestamp.ts';
import type { ReadView, UserKeyRange } from './view.ts';
import { decodeWrite, type WriteVersion } from './write.ts';

/** A key with its value, as a column family scan yields it. */
export interface CfPair {
  key: Uint8Array;
  value: Uint8Array;
}

/** What a scan reads: `[start, end)` in raw key order, ascending unless `reverse`, at most `limit` pairs. */
export interface CfScanOptions {
  start?: Uint8Array;
  end?: Uint8Array;
  reverse?: boolean;
  limit?: number;
}

/** Raw reads of one consistent snapshot of column families (storage's `KvSnapshot` fits). */
export interface CfReader {
  get(cf: string, key: Uint8Array): Promise<Uint8Array | undefined>;
  /**
   * `get` answered at once, when the reader can (storage's `KvEngine.getSync`: LevelDB). The
   * same view as `get`; point reads prefer it (no async round trip).
   */
  getSync?(cf: string, key: Uint8Array): Uint8Array | undefined;
  scan(cf: string, options: CfScanOptions): AsyncIterable<CfPair>;
}

/**
 * A ts at or above the commit ts of every record in `write` whose key starts with
 * `encodedKey` (`encodeKey` of a user key), or `undefined` when unknown (`ReadView.writeTsBound`).
 */
export type WriteTsBound = (encodedKey: Uint8Array) => Timestamp | undefined;

/** The decoded `ReadView` of a `CfReader`. */
export class MvccReader implements ReadView {
  /**
   * `writeTsBound`: only for a reader whose `cfs` the bound covers (the store's index covers
   * its live engine, not a snapshot taken before the index knew the engine).
   */
  constructor(
    private readonly cfs: CfReader,
    private readonly bound?: WriteTsBound,
  ) {}

  /** See `ReadView.writeTsBound`. */
  writeTsBound(key: Uint8Array): Timestamp | undefined {
    return this.bound?.(encodeKey(key));
  }

  /** The lock on `key`, if any. */
  async lock(key: Uint8Array): Promise<Lock | undefined> {
    const bytes = await this.point(CF_LOCK, encodeKey(key));
    return bytes === undefined ? undefined : decodeLock(bytes);
  }

  /** The newest write record of `key` with `commitTs ≤ ts`. */
  async seekWrite(key: Uint8Array, ts: Timestamp): Promise<WriteVersion | undefined> {
    for await (const v of this.writesLimited(key, ts, 1)) return v;
    return undefined;
  }

  /** The write records of `key` with `commitTs ≤ maxTs`, newest first. */
  writes(key: Uint8Array, maxTs: Timestamp): AsyncIterable<WriteVersion> {
    return this.writesLimited(key, maxTs, undefined);
  }

  private async *writesLimited(key: Uint8Array, maxTs: Timestamp, limit: number | undefined): AsyncGenerator<WriteVersion> {
    // Newer versions sort first (descending ts), so `key@maxTs` starts the range.
    const options: CfScanOptions = { start: encodeMvccKey(key, maxTs), end: encodedKeyEnd(encodeKey(key)) };
    if (limit !== undefined) options.limit = limit;
    for await (const pair of this.cfs.scan(CF_WRITE, options)) {
      yield { commitTs: decodeMvccKey(pair.key).ts, write: decodeWrite(pair.value) };
    }
  }

  /** The long value a put of the transaction `startTs` left in `default`. */
  async value(key: Uint8Array, startTs: Timestamp): Promise<Uint8Array | undefined> {
    return this.point(CF_DEFAULT, encodeMvccKey(key, startTs));
  }

  /** A point read, synchronous when the reader offers it. */
  private point(cf: string, key: Uint8Array): Promise<Uint8Array | undefined> | Uint8Array | undefined {
    return this.cfs.getSync ? this.cfs.getSync(cf, key) : this.cfs.get(cf, key);
  }

  /** The locks in `range`, ascending by key, at most `limit`. */
  async *locks(range: UserKeyRange, limit: number): AsyncGenerator<{ key: Uint8Array; lock: Lock }> {
    const options: CfScanOptions = { limit };
    if (range.start !== undefined) options.start = encodeKey(range.start);
    if (range.end !== undefined) options.end = encodeKey(range.end);
    for await (const pair of this.cfs.scan(CF_LOCK, options)) yield { key: decodeKey(pair.key), lock: decodeLock(pair.value) };
  }

  /** The distinct user keys having write records in `range`, ascending, at most `limit`. */
  async *writeKeys(range: UserKeyRange, limit: number): AsyncGenerator<Uint8Array> {
    const end = range.end === undefined ? undefined : encodeKey(range.end);
    let start = range.start === undefined ? undefined : encodeKey(range.start);
    for (let n = 0; n < limit; n++) {
      const options: CfScanOptions = { limit: 1 };
      if (start !== undefined) options.start = start;
      if (end !== undefined) options.end = end;
      let found: Uint8Array | undefined;
      for await (const pair of this.cfs.scan(CF_WRITE, options)) found = decodeMvccKey(pair.key).key;
      if (found === undefined) return;
      yield found;
      // Skip the rest of this key's versions: the next key starts past its encoded prefix.
      start = encodedKeyEnd(encodeKey(found));
    }
  }
}
