/**
 * `IdbEngine`: the `KvEngine` contract on IndexedDB through `idb`. One database per store,
 * one object store per column family, binary keys (IndexedDB orders them bytewise), a
 * `__peerkv_meta` object store with the format record.
 *
 * A batch is one `readwrite` transaction: every request is issued synchronously, then the
 * single `await tx.done`; `durability` is passed on every transaction. Requests go to the
 * native object store (`unwrap`) so no promise is built per request and a failing request
 * cannot leave an unhandled rejection: its error aborts the transaction and `tx.done`
 * reports it. The write resolves only when the transaction completed; an aborted one rejects.
 *
 * Snapshots (`idb-snapshot.ts`): a write sequence number plus the pre-images that writes
 * record inside their own transactions while a snapshot is open; no transaction is held open,
 * so writes never wait for a snapshot.
 */
import { unwrap, type IDBPDatabase } from 'idb';
import { asBytes, compareBytes, exactBytes } from './bytes.ts';
import {
  ENGINE_LIMITS_DEFAULT,
  SNAPSHOTS_OPEN_MAX_DEFAULT,
  pagedScan,
  validateBatch,
  validateKey,
  validateScan,
  type BatchOp,
  type EngineLimits,
  type KeyRange,
  type KvEngine,
  type KvPair,
  type KvSnapshot,
  type PageRequest,
  type ScanOptions,
  type WriteBatch,
  type WriteOptions,
} from './engine.ts';
import { requireArg, StorageError } from './errors.ts';
import { IdbSnapshot, PreimageLog } from './idb-snapshot.ts';
import { SnapshotRegistry } from './snapshot.ts';
import { checkFormatRecord, newFormatRecord } from './format.ts';
import { idbStorageError } from './idb-errors.ts';
import { openIdb } from './idb-open.ts';

type PreimageRecorder = ReturnType<PreimageLog['recorder']>;

/** Object store holding the format record; never a column family name. */
export const IDB_META_STORE = '__peerkv_meta';
const FORMAT_KEY = 'format';

/** Records sampled by `approximateSize` to estimate the mean record size. */
export const APPROXIMATE_SIZE_SAMPLE_RECORDS = 64;

/** How to open an `IdbEngine`. */
export interface IdbEngineOptions {
  /** Database name: one per store. */
  name: string;
  columnFamilies: readonly string[];
  /** The IndexedDB factory; `globalThis.indexedDB` when absent (inject `fake-indexeddb` in Node). */
  indexedDB?: IDBFactory;
  /** The matching `IDBKeyRange`; `globalThis.IDBKeyRange` when absent. */
  keyRange?: typeof IDBKeyRange;
  limits?: Partial<EngineLimits>;
  /**
   * How long an upgrade (adding a column family) waits on connections that do not close
   * before failing with `Blocked`, in ms. Default `IDB_UPGRADE_BLOCKED_WAIT_MS_DEFAULT`.
   */
  upgradeBlockedWaitMs?: number;
  /** Most snapshots open at once, in snapshots. Default `SNAPSHOTS_OPEN_MAX_DEFAULT`. */
  snapshotsOpenMax?: number;
  /**
   * Most bytes of pre-images the open snapshots pin (values later writes replaced), in bytes.
   * Beyond it every open snapshot fails `SnapshotTooLarge`. Default `IDB_SNAPSHOT_BYTES_MAX_DEFAULT`.
   */
  snapshotBytesMax?: number;
}

/** Default bound on the pre-image bytes open snapshots pin: 64 MiB. */
export const IDB_SNAPSHOT_BYTES_MAX_DEFAULT = 64 * 1024 * 1024;

/** Default wait of a blocked upgrade before it fails, in ms. */
export const IDB_UPGRADE_BLOCKED_WAIT_MS_DEFAULT = 3000;

/** A `KvEngine` on one IndexedDB database. */
export class IdbEngine implements KvEngine {
  readonly kind = 'idb' as const;
  readonly columnFamilies: readonly string[];
  private readonly cfSet: ReadonlySet<string>;
  private readonly limits: EngineLimits;
  private closedReason: string | undefined;
  private readonly snapshots: SnapshotRegistry;
  private readonly preimages: PreimageLog;
  /** Number of the last write issued: a snapshot holds the writes numbered up to its own. */
  private writeSeq = 0;

  private constructor(
    private readonly db: IDBPDatabase,
    private readonly keyRange: typeof IDBKeyRange,
    readonly name: string,
    columnFamilies: readonly string[],
    options: IdbEngineOptions,
  ) {
    this.columnFamilies = [...columnFamilies];
    this.cfSet = new Set(columnFamilies);
    this.limits = { ...ENGINE_LIMITS_DEFAULT, ...options.limits };
    this.snapshots = new SnapshotRegistry(options.snapshotsOpenMax ?? SNAPSHOTS_OPEN_MAX_DEFAULT, `IndexedDB '${name}'`);
    this.preimages = new PreimageLog(options.snapshotBytesMax ?? IDB_SNAPSHOT_BYTES_MAX_DEFAULT);
    const native = unwrap(db);
    // Never block another tab's upgrade: close, and report `Closed` from then on.
    native.onversionchange = () => {
      native.close();
      this.closedReason ??= 'closed for a newer version of the database';
    };
    native.onclose = () => {
      this.closedReason ??= 'connection closed by the browser';
    };
  }

  /**
   * Opens (creating if needed) the database `name` with at least `columnFamilies`. Fails
   * with `FormatUnsupported` on a database of another or newer format (left untouched),
   * `Blocked` if adding a column family is blocked by a connection that does not close.
   */
  static async open(options: IdbEngineOptions): Promise<IdbEngine> {
    const factory = options.indexedDB ?? globalThis.indexedDB;
    const keyRange = options.keyRange ?? globalThis.IDBKeyRange;
    requireArg(factory !== undefined && keyRange !== undefined, 'no IndexedDB in this environment; pass indexedDB and keyRange');
    requireArg(options.columnFamilies.length > 0, 'at least one column family');
    for (const cf of options.columnFamilies) requireArg(cf !== '' && cf !== IDB_META_STORE, `invalid column family name '${cf}'`);
    const blockedWaitMs = options.upgradeBlockedWaitMs ?? IDB_UPGRADE_BLOCKED_WAIT_MS_DEFAULT;
    let db = await openIdb(
      factory,
      options.name,
      undefined,
      (raw, oldVersion) => {
        if (oldVersion === 0) initialize(raw, options.columnFamilies);
      },
      blockedWaitMs,
    );
    try {
      await checkFormat(db, options.name);
    } catch (e) {
      db.close();
      throw e;
    }
    const missing = options.columnFamilies.filter((cf) => !db.objectStoreNames.contains(cf));
    if (missing.length > 0) {
      const version = db.version + 1;
      db.close();
      db = await openIdb(
        factory,
        options.name,
        version,
        (raw) => {
          for (const cf of missing) if (!raw.objectStoreNames.contains(cf)) raw.createObjectStore(cf);
        },
        blockedWaitMs,
      );
    }
    return new IdbEngine(db, keyRange, options.name, options.columnFamilies, options);
  }

  async get(cf: string, key: Uint8Array): Promise<Uint8Array | undefined> {
    this.checkCf(cf);
    validateKey(key, this.limits);
    if (key.length === 0) return undefined; // no empty key is ever stored
    try {
      const value: unknown = await this.db.get(cf, idbKey(key));
      return value === undefined ? undefined : asBytes(value as ArrayBufferView);
    } catch (e) {
      throw this.error(e, `get from ${cf}`);
    }
  }

  scan(cf: string, options: ScanOptions = {}): AsyncIterableIterator<KvPair> {
    this.checkCf(cf);
    const pageSize = validateScan(options, this.limits);
    return pagedScan((req) => this.readPage(cf, req), options, pageSize);
  }

  async write(batch: WriteBatch, options: WriteOptions): Promise<void> {
    this.assertOpen();
    requireArg(options.durability === 'strict' || options.durability === 'relaxed', 'durability must be strict or relaxed');
    validateBatch(batch, this.cfSet, this.limits);
    if (batch.isEmpty) return;
    const seq = ++this.writeSeq;
    const cfs = [...new Set(batch.ops.map((op) => op.cf))];
    let tx;
    try {
      tx = this.db.transaction(cfs, 'readwrite', { durability: options.durability });
    } catch (e) {
      throw this.error(e, 'begin write');
    }
    try {
      this.issueRequests(unwrap(tx), batch, this.preimages.capturing ? this.preimages.recorder(seq) : undefined);
    } catch (e) {
      tx.done.catch(() => undefined);
      abortQuietly(unwrap(tx));
      throw this.error(e, 'write');
    }
    try {
      await tx.done;
    } catch (e) {
      throw this.error(tx.error ?? e, 'write');
    }
  }

  async approximateSize(cf: string, range: KeyRange): Promise<number> {
    this.checkCf(cf);
    const keyRange = this.toKeyRange({ lower: range.start, lowerOpen: false, upper: range.end });
    if (keyRange === null) return 0;
    try {
      const tx = this.db.transaction(cf, 'readonly');
      const [count, keys, values] = await Promise.all([
        tx.store.count(keyRange),
        tx.store.getAllKeys(keyRange, APPROXIMATE_SIZE_SAMPLE_RECORDS),
        tx.store.getAll(keyRange, APPROXIMATE_SIZE_SAMPLE_RECORDS),
      ]);
      if (keys.length === 0) return 0;
      let sampleBytes = 0;
      for (let i = 0; i < keys.length; i++) {
        sampleBytes += asBytes(keys[i] as ArrayBuffer).length + asBytes(values[i] as ArrayBufferView).length;
      }
      return Math.round((sampleBytes / keys.length) * count);
    } catch (e) {
      throw this.error(e, `approximateSize of ${cf}`);
    }
  }

  /**
   * A snapshot at this call: every write issued before it, none after (see `idb-snapshot.ts`).
   * Costs nothing to take; writes record pre-images while it is open.
   */
  async snapshot(): Promise<KvSnapshot> {
    this.assertOpen();
    return new IdbSnapshot(this.columnFamilies, this.writeSeq, this, this.preimages, this.limits, this.snapshots, () => this.assertOpen());
  }

  /** Pre-image bytes the open snapshots pin now. */
  get snapshotPinnedBytes(): number {
    return this.preimages.pinnedBytes;
  }

  /** Releases open snapshots, then the connection. Idempotent. */
  async close(): Promise<void> {
    if (this.closedReason === undefined) this.closedReason = 'engine closed';
    await this.snapshots.releaseAll();
    this.db.close();
  }

  /**
   * Issues the batch's requests; with `record`, each op first reads what it will replace
   * (requests run in order, so the first read of a key sees it as before the batch).
   */
  private issueRequests(tx: IDBTransaction, batch: WriteBatch, record: PreimageRecorder | undefined): void {
    const stores = new Map<string, IDBObjectStore>();
    for (const op of batch.ops) {
      let store = stores.get(op.cf);
      if (!store) {
        store = tx.objectStore(op.cf);
        stores.set(op.cf, store);
      }
      if (record) this.readPreimages(store, op, record);
      if (op.type === 'put') store.put(exactBytes(op.value), idbKey(op.key));
      else if (op.type === 'delete') store.delete(idbKey(op.key));
      else {
        const range = this.toKeyRange({ lower: op.start, lowerOpen: false, upper: op.end });
        if (range) store.delete(range);
      }
    }
  }

  private readPreimages(store: IDBObjectStore, op: BatchOp, record: PreimageRecorder): void {
    if (op.type !== 'deleteRange') {
      const req = store.get(idbKey(op.key));
      req.onsuccess = () => record(op.cf, op.key, req.result === undefined ? undefined : asBytes(req.result as ArrayBufferView));
      return;
    }
    const range = this.toKeyRange({ lower: op.start, lowerOpen: false, upper: op.end });
    if (range === null) return;
    const keys = store.getAllKeys(range);
    const values = store.getAll(range);
    values.onsuccess = () => keys.result.forEach((k, i) => record(op.cf, asBytes(k as ArrayBuffer), asBytes(values.result[i] as ArrayBufferView)));
  }

  /** One page of a live scan, in its own readonly transaction. @internal (for `IdbSnapshot`) */
  async readPage(cf: string, req: PageRequest): Promise<KvPair[]> {
    this.assertOpen();
    const range = this.toKeyRange(req);
    if (range === null) return [];
    try {
      const tx = this.db.transaction(cf, 'readonly');
      if (!req.reverse) {
        const [keys, values] = await Promise.all([tx.store.getAllKeys(range, req.count), tx.store.getAll(range, req.count)]);
        return keys.map((k, i) => ({ key: asBytes(k as ArrayBuffer), value: asBytes(values[i] as ArrayBufferView) }));
      }
      const out: KvPair[] = [];
      let cursor = await tx.store.openCursor(range, 'prev');
      while (cursor && out.length < req.count) {
        out.push({ key: asBytes(cursor.key as ArrayBuffer), value: asBytes(cursor.value as ArrayBufferView) });
        if (out.length < req.count) cursor = await cursor.continue();
      }
      return out;
    } catch (e) {
      throw this.error(e, `scan ${cf}`);
    }
  }

  /** The IDB range for a page; `null` when the range is empty; undefined when unbounded. */
  private toKeyRange(req: Omit<PageRequest, 'reverse' | 'count'>): IDBKeyRange | null | undefined {
    const { upper, lowerOpen } = req;
    // The empty key is below every stored (non-empty) key: as an inclusive bound it is no bound.
    // (fake-indexeddb also takes an empty view for a detached buffer and refuses it as a key.)
    const lower = req.lower && (req.lower.length > 0 || lowerOpen) ? req.lower : undefined;
    if (upper && upper.length === 0) return null;
    if (lower && upper) {
      if (compareBytes(lower, upper) >= 0) return null;
      return this.keyRange.bound(idbKey(lower), idbKey(upper), lowerOpen, true);
    }
    if (lower) return this.keyRange.lowerBound(idbKey(lower), lowerOpen);
    if (upper) return this.keyRange.upperBound(idbKey(upper), true);
    return undefined;
  }

  private checkCf(cf: string): void {
    this.assertOpen();
    requireArg(this.cfSet.has(cf), `unknown column family '${cf}'`);
  }

  private assertOpen(): void {
    if (this.closedReason !== undefined) throw new StorageError('Closed', `${this.name}: ${this.closedReason}`);
  }

  /** Typed error; `Closed` wins when the connection went away under the operation. */
  private error(e: unknown, what: string): StorageError {
    if (this.closedReason !== undefined && !(e instanceof StorageError)) {
      return new StorageError('Closed', `${this.name}: ${what}: ${this.closedReason}`, { cause: e });
    }
    return idbStorageError(e, `${this.name}: ${what}`);
  }
}

/** A new database: the format record (written in the upgrade transaction) and the column families. */
function initialize(db: IDBDatabase, cfs: readonly string[]): void {
  db.createObjectStore(IDB_META_STORE).put(newFormatRecord(), FORMAT_KEY);
  for (const cf of cfs) db.createObjectStore(cf);
}

async function checkFormat(db: IDBPDatabase, name: string): Promise<void> {
  if (!db.objectStoreNames.contains(IDB_META_STORE)) checkFormatRecord(undefined, `IndexedDB '${name}'`);
  let record: unknown;
  try {
    record = await db.get(IDB_META_STORE, FORMAT_KEY);
  } catch (e) {
    throw idbStorageError(e, `${name}: read format`);
  }
  checkFormatRecord(record, `IndexedDB '${name}'`);
}

/** A (non-empty) byte key as IndexedDB's key type. */
function idbKey(key: Uint8Array): IDBValidKey {
  return key as Uint8Array<ArrayBuffer>;
}

function abortQuietly(tx: IDBTransaction): void {
  try {
    tx.abort();
  } catch {
    // Already finished or aborted: nothing was committed by this batch either way.
  }
}
