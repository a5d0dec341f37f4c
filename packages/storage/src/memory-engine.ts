/**
 * `MemoryEngine`: the `KvEngine` contract over one B+tree per column family (`sorted-btree`,
 * O(log n) puts, deletes and seeks), for tests and the simulator. Its `MemoryDisk` outlives
 * the engine, so closing and reopening on the same disk behaves like a restart.
 */
import { BTree } from './btree.ts';
import { compareBytes } from './bytes.ts';
import {
  ENGINE_LIMITS_DEFAULT,
  pagedScan,
  validateBatch,
  validateKey,
  validateScan,
  type EngineLimits,
  type KeyRange,
  type KvEngine,
  type KvPair,
  type PageRequest,
  type ScanOptions,
  type WriteBatch,
  type WriteOptions,
} from './engine.ts';
import { requireArg, StorageError } from './errors.ts';

type Tree = InstanceType<typeof BTree<Uint8Array, Uint8Array>>;

/** The data of memory engines: one tree per column family. Survives `close()`. */
export class MemoryDisk {
  /** Column family name → tree. */
  readonly trees = new Map<string, Tree>();

  /** The tree of `cf`, created empty on first use. */
  tree(cf: string): Tree {
    let t = this.trees.get(cf);
    if (!t) {
      t = new BTree<Uint8Array, Uint8Array>(undefined, compareBytes);
      this.trees.set(cf, t);
    }
    return t;
  }
}

/** How to open a `MemoryEngine`. */
export interface MemoryEngineOptions {
  columnFamilies: readonly string[];
  /** Reuse this disk to model a restart; a fresh one when absent. */
  disk?: MemoryDisk;
  limits?: Partial<EngineLimits>;
}

/** An in-memory, ordered, atomic `KvEngine`. */
export class MemoryEngine implements KvEngine {
  readonly kind = 'memory' as const;
  readonly columnFamilies: readonly string[];
  readonly disk: MemoryDisk;
  private readonly cfSet: ReadonlySet<string>;
  private readonly limits: EngineLimits;
  private closed = false;

  private constructor(options: MemoryEngineOptions) {
    this.columnFamilies = [...options.columnFamilies];
    this.cfSet = new Set(this.columnFamilies);
    this.disk = options.disk ?? new MemoryDisk();
    this.limits = { ...ENGINE_LIMITS_DEFAULT, ...options.limits };
    for (const cf of this.columnFamilies) this.disk.tree(cf);
  }

  /** Opens an engine (async only to match the other engines). */
  static async open(options: MemoryEngineOptions): Promise<MemoryEngine> {
    requireArg(options.columnFamilies.length > 0, 'at least one column family');
    return new MemoryEngine(options);
  }

  async get(cf: string, key: Uint8Array): Promise<Uint8Array | undefined> {
    const tree = this.treeOf(cf);
    validateKey(key, this.limits);
    if (key.length === 0) return undefined; // no empty key is ever stored
    return tree.get(key)?.slice();
  }

  scan(cf: string, options: ScanOptions = {}): AsyncIterableIterator<KvPair> {
    const tree = this.treeOf(cf);
    const pageSize = validateScan(options, this.limits);
    return pagedScan(async (req) => readPage(tree, req), options, pageSize);
  }

  async write(batch: WriteBatch, options: WriteOptions): Promise<void> {
    this.assertOpen();
    requireArg(options.durability === 'strict' || options.durability === 'relaxed', 'durability must be strict or relaxed');
    validateBatch(batch, this.cfSet, this.limits);
    // Validated first, then applied synchronously: no await in between, so all or nothing.
    for (const op of batch.ops) {
      const tree = this.disk.tree(op.cf);
      if (op.type === 'put') tree.set(op.key.slice(), op.value.slice());
      else if (op.type === 'delete') tree.delete(op.key);
      else tree.deleteRange(op.start, op.end, false);
    }
  }

  async approximateSize(cf: string, range: KeyRange): Promise<number> {
    const tree = this.treeOf(cf);
    let bytes = 0;
    const low = range.start ?? tree.minKey();
    const high = range.end ?? tree.maxKey();
    if (low === undefined || high === undefined) return 0;
    tree.forRange(low, high, range.end === undefined, (k, v) => {
      bytes += k.length + v.length;
    });
    return bytes;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private treeOf(cf: string): Tree {
    this.assertOpen();
    requireArg(this.cfSet.has(cf), `unknown column family '${cf}'`);
    return this.disk.tree(cf);
  }

  private assertOpen(): void {
    if (this.closed) throw new StorageError('Closed', 'memory engine is closed');
  }
}

function readPage(tree: Tree, req: PageRequest): KvPair[] {
  const out: KvPair[] = [];
  if (req.reverse) {
    const iter = req.upper ? tree.entriesReversed(req.upper, undefined, true) : tree.entriesReversed();
    for (const [k, v] of iter) {
      if (req.upper && compareBytes(k, req.upper) >= 0) continue;
      if (req.lower && compareBytes(k, req.lower) < 0) break;
      out.push({ key: k.slice(), value: v.slice() });
      if (out.length >= req.count) break;
    }
    return out;
  }
  for (const [k, v] of tree.entries(req.lower)) {
    if (req.lower && req.lowerOpen && compareBytes(k, req.lower) === 0) continue;
    if (req.upper && compareBytes(k, req.upper) >= 0) break;
    out.push({ key: k.slice(), value: v.slice() });
    if (out.length >= req.count) break;
  }
  return out;
}
