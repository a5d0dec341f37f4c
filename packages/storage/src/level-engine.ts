/**
 * `LevelEngine`: the `KvEngine` contract on LevelDB (`classic-level`) for Node stores.
 * Exported from `@peerkv/storage/level` only, so browser bundles never pull classic-level.
 *
 * Layout: one LevelDB; each column family is a one-byte key prefix (ids 1..255) assigned in
 * the format record kept under prefix 0x00. Range deletes become per-key deletes computed
 * inside the write lock (LevelDB has no atomic range delete), including keys put earlier in
 * the same batch. Writes are serialized; `strict` durability is `sync: true`.
 *
 * Snapshots are LevelDB's own (`db.snapshot()`, classic-level's explicit snapshots): a
 * sequence number pinned synchronously at the call, passed to every `get` and iterator of
 * the snapshot, so it sees exactly the batches LevelDB had applied then (each batch whole)
 * and none after, across every column family (they share one LevelDB). Cost: compaction
 * keeps the versions the snapshot pins until it is released.
 */
import { ClassicLevel } from 'classic-level';
import { compareBytes, concatBytes } from './bytes.ts';
import {
  ENGINE_LIMITS_DEFAULT,
  SNAPSHOTS_OPEN_MAX_DEFAULT,
  validateBatch,
  validateKey,
  validateScan,
  type EngineLimits,
  type KeyRange,
  type KvEngine,
  type KvPair,
  type KvSnapshot,
  type ScanOptions,
  type WriteBatch,
  type WriteOptions,
} from './engine.ts';
import { requireArg, StorageError } from './errors.ts';
import { SnapshotBase, SnapshotRegistry } from './snapshot.ts';
import { checkFormatRecord, newFormatRecord, type FormatRecord } from './format.ts';

/** Most column families one LevelDB holds (one-byte prefixes, 0 is the meta prefix). */
export const LEVEL_CF_COUNT_MAX = 255;
/** Records `approximateSize` sums itself when LevelDB's estimate is 0 (data still in the memtable). */
export const LEVEL_APPROXIMATE_SCAN_RECORDS_MAX = 10_000;

const FORMAT_KEY = concatBytes(new Uint8Array([0]), new TextEncoder().encode('format'));

interface LevelFormatRecord extends FormatRecord {
  /** Column family name → prefix byte. */
  cfs: Record<string, number>;
}

type Db = ClassicLevel<Uint8Array, Uint8Array>;
type LevelSnapshotHandle = ReturnType<Db['snapshot']>;
type LevelOp = { type: 'put'; key: Uint8Array; value: Uint8Array } | { type: 'del'; key: Uint8Array };

/** How to open a `LevelEngine`. */
export interface LevelEngineOptions {
  /** Directory of the LevelDB. */
  location: string;
  columnFamilies: readonly string[];
  limits?: Partial<EngineLimits>;
  /** Most snapshots open at once, in snapshots. Default `SNAPSHOTS_OPEN_MAX_DEFAULT`. */
  snapshotsOpenMax?: number;
}

/** A `KvEngine` on one LevelDB directory. */
export class LevelEngine implements KvEngine {
  readonly kind = 'level' as const;
  readonly columnFamilies: readonly string[];
  private readonly limits: EngineLimits;
  private readonly cfSet: ReadonlySet<string>;
  private writeTail: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly snapshots: SnapshotRegistry;

  private constructor(
    private readonly db: Db,
    private readonly prefixes: ReadonlyMap<string, number>,
    columnFamilies: readonly string[],
    limits: Partial<EngineLimits> | undefined,
    snapshotsOpenMax: number,
  ) {
    this.columnFamilies = [...columnFamilies];
    this.cfSet = new Set(columnFamilies);
    this.limits = { ...ENGINE_LIMITS_DEFAULT, ...limits };
    this.snapshots = new SnapshotRegistry(snapshotsOpenMax, 'level engine');
  }

  /** Opens (creating if needed) the LevelDB at `location`; refuses foreign or newer formats. */
  static async open(options: LevelEngineOptions): Promise<LevelEngine> {
    requireArg(options.columnFamilies.length > 0, 'at least one column family');
    const db: Db = new ClassicLevel<Uint8Array, Uint8Array>(options.location, { keyEncoding: 'view', valueEncoding: 'view' });
    try {
      await db.open();
    } catch (e) {
      throw levelError(e, `open ${options.location}`);
    }
    try {
      const prefixes = await loadOrInitFormat(db, options.location, options.columnFamilies);
      return new LevelEngine(db, prefixes, options.columnFamilies, options.limits, options.snapshotsOpenMax ?? SNAPSHOTS_OPEN_MAX_DEFAULT);
    } catch (e) {
      await db.close();
      throw e instanceof StorageError ? e : levelError(e, `open ${options.location}`);
    }
  }

  async get(cf: string, key: Uint8Array): Promise<Uint8Array | undefined> {
    return this.read(cf, key, undefined);
  }

  /** `get` without the thread pool's round trip (classic-level's `getSync`; see `KvEngine.getSync`). */
  getSync(cf: string, key: Uint8Array): Uint8Array | undefined {
    return this.readSync(cf, key, undefined);
  }

  /** `getSync`, from `snapshot` when given. @internal (for `LevelSnapshot`) */
  readSync(cf: string, key: Uint8Array, snapshot: LevelSnapshotHandle | undefined): Uint8Array | undefined {
    const prefix = this.prefixOf(cf);
    validateKey(key, this.limits);
    if (key.length === 0) return undefined; // no empty key is ever stored
    let v: Uint8Array | undefined;
    try {
      v = this.db.getSync(withPrefix(prefix, key), snapshot ? { snapshot } : {});
    } catch (e) {
      throw levelError(e, `get from ${cf}`);
    }
    return v === undefined ? undefined : new Uint8Array(v);
  }

  scan(cf: string, options: ScanOptions = {}): AsyncIterableIterator<KvPair> {
    return this.scanAt(cf, options, undefined);
  }

  /** A LevelDB snapshot of every column family; see the module header. */
  async snapshot(): Promise<KvSnapshot> {
    this.assertOpen();
    this.snapshots.assertRoom();
    let handle: LevelSnapshotHandle;
    try {
      handle = this.db.snapshot();
    } catch (e) {
      throw levelError(e, 'snapshot');
    }
    return new LevelSnapshot(this, handle, this.snapshots, () => this.assertOpen());
  }

  /** `get`, from `snapshot` when given. @internal (for `LevelSnapshot`) */
  read(cf: string, key: Uint8Array, snapshot: LevelSnapshotHandle | undefined): Promise<Uint8Array | undefined> {
    const prefix = this.prefixOf(cf);
    validateKey(key, this.limits);
    if (key.length === 0) return Promise.resolve(undefined); // no empty key is ever stored
    return this.db.get(withPrefix(prefix, key), snapshot ? { snapshot } : {}).then(
      (v) => (v === undefined ? undefined : new Uint8Array(v)),
      (e) => {
        throw levelError(e, `get from ${cf}`);
      },
    );
  }

  /** `scan`, from `snapshot` when given. @internal (for `LevelSnapshot`) */
  scanAt(cf: string, options: ScanOptions, snapshot: LevelSnapshotHandle | undefined): AsyncIterableIterator<KvPair> {
    const prefix = this.prefixOf(cf);
    const pageSize = validateScan(options, this.limits);
    return this.iterate(prefix, options, pageSize, snapshot);
  }

  async write(batch: WriteBatch, options: WriteOptions): Promise<void> {
    this.assertOpen();
    requireArg(options.durability === 'strict' || options.durability === 'relaxed', 'durability must be strict or relaxed');
    validateBatch(batch, this.cfSet, this.limits);
    if (batch.isEmpty) return;
    const run = this.writeTail.then(() => this.writeNow(batch, options));
    this.writeTail = run.catch(() => undefined);
    return run;
  }

  async approximateSize(cf: string, range: KeyRange): Promise<number> {
    const prefix = this.prefixOf(cf);
    const { gte, lt } = bounds(prefix, range);
    if (compareBytes(gte, lt) >= 0) return 0;
    try {
      const estimate = await this.db.approximateSize(gte, lt);
      if (estimate > 0) return estimate;
      let bytes = 0;
      for await (const [k, v] of this.db.iterator({ gte, lt, limit: LEVEL_APPROXIMATE_SCAN_RECORDS_MAX })) {
        bytes += k.length - 1 + v.length;
      }
      return bytes;
    } catch (e) {
      throw levelError(e, `approximateSize of ${cf}`);
    }
  }

  /** Pending writes finish first; open snapshots are released. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.snapshots.releaseAll();
    await this.writeTail;
    await this.db.close();
  }

  /** Runs under the write lock. No open check: `close()` lets writes issued before it finish. */
  private async writeNow(batch: WriteBatch, options: WriteOptions): Promise<void> {
    try {
      const ops = await this.toLevelOps(batch);
      await this.db.batch(ops, { sync: options.durability === 'strict' });
    } catch (e) {
      throw levelError(e, 'write');
    }
  }

  /** The batch as LevelDB operations; range deletes expanded under the write lock. */
  private async toLevelOps(batch: WriteBatch): Promise<LevelOp[]> {
    const ops: LevelOp[] = [];
    const putKeys: Uint8Array[] = [];
    for (const op of batch.ops) {
      const prefix = this.prefixes.get(op.cf) as number;
      if (op.type === 'put') {
        const key = withPrefix(prefix, op.key);
        ops.push({ type: 'put', key, value: op.value });
        putKeys.push(key);
      } else if (op.type === 'delete') {
        ops.push({ type: 'del', key: withPrefix(prefix, op.key) });
      } else {
        const gte = withPrefix(prefix, op.start);
        const lt = withPrefix(prefix, op.end);
        if (compareBytes(gte, lt) >= 0) continue;
        for await (const key of this.db.keys({ gte, lt })) ops.push({ type: 'del', key });
        for (const key of putKeys) if (compareBytes(key, gte) >= 0 && compareBytes(key, lt) < 0) ops.push({ type: 'del', key });
      }
    }
    return ops;
  }

  private async *iterate(prefix: number, options: ScanOptions, pageSize: number, snapshot: LevelSnapshotHandle | undefined): AsyncGenerator<KvPair> {
    const { gte, lt } = bounds(prefix, options);
    if (compareBytes(gte, lt) >= 0) return;
    const limit = options.limit ?? -1;
    if (limit === 0) return;
    let it;
    try {
      it = this.db.iterator({ gte, lt, reverse: options.reverse ?? false, limit, ...(snapshot ? { snapshot } : {}) });
    } catch (e) {
      throw levelError(e, 'scan');
    }
    try {
      for (;;) {
        let page: [Uint8Array, Uint8Array][];
        try {
          page = await it.nextv(pageSize);
        } catch (e) {
          throw levelError(e, 'scan');
        }
        if (page.length === 0) return;
        for (const [k, v] of page) yield { key: new Uint8Array(k.subarray(1)), value: new Uint8Array(v) };
      }
    } finally {
      await it.close();
    }
  }

  private prefixOf(cf: string): number {
    this.assertOpen();
    const prefix = this.prefixes.get(cf);
    requireArg(prefix !== undefined, `unknown column family '${cf}'`);
    return prefix;
  }

  private assertOpen(): void {
    if (this.closed) throw new StorageError('Closed', 'level engine is closed');
  }
}

/**
 * A `KvSnapshot` on a LevelDB snapshot. Reads go through the engine (same checks, prefixes
 * and paging) with the snapshot option; an iterator opened before `release()` keeps the
 * snapshot's view until it ends (LevelDB reference-counts the snapshot).
 */
class LevelSnapshot extends SnapshotBase {
  constructor(
    private readonly engine: LevelEngine,
    private readonly handle: LevelSnapshotHandle,
    registry: SnapshotRegistry,
    assertEngineOpen: () => void,
  ) {
    super(engine.columnFamilies, registry, assertEngineOpen);
  }

  async get(cf: string, key: Uint8Array): Promise<Uint8Array | undefined> {
    this.assertUsable();
    return this.engine.read(cf, key, this.handle);
  }

  getSync(cf: string, key: Uint8Array): Uint8Array | undefined {
    this.assertUsable();
    return this.engine.readSync(cf, key, this.handle);
  }

  scan(cf: string, options: ScanOptions = {}): AsyncIterableIterator<KvPair> {
    this.assertUsable();
    return this.engine.scanAt(cf, options, this.handle);
  }

  /** LevelDB's estimate of the live database: it keeps none per snapshot. */
  async approximateSize(cf: string, range: KeyRange): Promise<number> {
    this.assertUsable();
    return this.engine.approximateSize(cf, range);
  }

  protected async free(): Promise<void> {
    try {
      await this.handle.close();
    } catch (e) {
      throw levelError(e, 'release snapshot');
    }
  }
}

async function loadOrInitFormat(db: Db, location: string, cfs: readonly string[]): Promise<Map<string, number>> {
  const raw = await db.get(FORMAT_KEY);
  let record: LevelFormatRecord;
  if (raw === undefined) {
    for await (const _key of db.keys({ limit: 1 })) {
      checkFormatRecord(undefined, `LevelDB '${location}'`);
    }
    record = { ...newFormatRecord(), cfs: {} };
  } else {
    record = checkFormatRecord(parseJson(raw), `LevelDB '${location}'`) as LevelFormatRecord;
  }
  const prefixes = new Map(Object.entries(record.cfs ?? {}));
  const missing = cfs.filter((cf) => !prefixes.has(cf));
  if (raw === undefined || missing.length > 0) {
    for (const cf of missing) {
      const id = prefixes.size + 1;
      if (id > LEVEL_CF_COUNT_MAX) throw new StorageError('InvalidArgument', `more than ${LEVEL_CF_COUNT_MAX} column families`);
      prefixes.set(cf, id);
    }
    record.cfs = Object.fromEntries(prefixes);
    await db.put(FORMAT_KEY, new TextEncoder().encode(JSON.stringify(record)), { sync: true });
  }
  return prefixes;
}

function parseJson(raw: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(raw));
  } catch {
    return undefined;
  }
}

function withPrefix(prefix: number, key: Uint8Array): Uint8Array {
  const out = new Uint8Array(key.length + 1);
  out[0] = prefix;
  out.set(key, 1);
  return out;
}

/** LevelDB bounds of `range` inside the column family `prefix`. */
function bounds(prefix: number, range: KeyRange): { gte: Uint8Array; lt: Uint8Array } {
  return {
    gte: withPrefix(prefix, range.start ?? new Uint8Array()),
    lt: range.end ? withPrefix(prefix, range.end) : new Uint8Array([prefix + 1]),
  };
}

function levelError(e: unknown, what: string): StorageError {
  if (e instanceof StorageError) return e;
  const err = e as { code?: string; message?: string; cause?: { code?: string } };
  const code = err?.cause?.code ?? err?.code ?? '';
  const kind = code === 'LEVEL_LOCKED' ? 'Blocked' : code === 'LEVEL_DATABASE_NOT_OPEN' ? 'Closed' : 'Io';
  return new StorageError(kind, `${what}: ${code || 'Error'}: ${err?.message ?? String(e)}`, { cause: e });
}
