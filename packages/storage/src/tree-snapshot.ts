/**
 * Reading ordered B+trees (`sorted-btree`) the way `KvEngine` reads: one page of a paged
 * scan, a range size, and `TreeSnapshot`, a `KvSnapshot` over the memory engine's
 * copy-on-write clones.
 */
import { BTree } from './btree.ts';
import { compareBytes } from './bytes.ts';
import { pagedScan, validateKey, validateScan, type EngineLimits, type KeyRange, type KvPair, type PageRequest, type ScanOptions } from './engine.ts';
import { requireArg } from './errors.ts';
import { SnapshotBase, type SnapshotRegistry } from './snapshot.ts';

/** One column family's tree: bytes keys in bytewise order. */
export type Tree = InstanceType<typeof BTree<Uint8Array, Uint8Array>>;

/** An empty tree ordered bytewise. */
export function newTree(entries?: [Uint8Array, Uint8Array][]): Tree {
  return new BTree<Uint8Array, Uint8Array>(entries, compareBytes);
}

/** One page of a paged scan over `tree`; keys and values are copied out. */
/** One key's value in a tree (a copy), after the engine's key checks. */
export function readTreeKey(tree: Tree, key: Uint8Array, limits: EngineLimits): Uint8Array | undefined {
  validateKey(key, limits);
  if (key.length === 0) return undefined; // no empty key is ever stored
  return tree.get(key)?.slice();
}

export function readTreePage(tree: Tree, req: PageRequest): KvPair[] {
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

/** Bytes (keys + values) of `tree` in `range`. */
export function treeRangeBytes(tree: Tree, range: KeyRange): number {
  let bytes = 0;
  const low = range.start ?? tree.minKey();
  const high = range.end ?? tree.maxKey();
  if (low === undefined || high === undefined) return 0;
  tree.forRange(low, high, range.end === undefined, (k, v) => {
    bytes += k.length + v.length;
  });
  return bytes;
}

/**
 * A snapshot over trees frozen for it: the memory engine hands clones, and copies a shared
 * node before it writes it, so nothing the snapshot reads ever changes.
 */
export class TreeSnapshot extends SnapshotBase {
  private trees: ReadonlyMap<string, Tree> | undefined;

  constructor(
    trees: ReadonlyMap<string, Tree>,
    private readonly limits: EngineLimits,
    registry: SnapshotRegistry,
    assertEngineOpen: () => void,
  ) {
    super([...trees.keys()], registry, assertEngineOpen);
    this.trees = trees;
  }

  async get(cf: string, key: Uint8Array): Promise<Uint8Array | undefined> {
    return readTreeKey(this.treeOf(cf), key, this.limits);
  }

  scan(cf: string, options: ScanOptions = {}): AsyncIterableIterator<KvPair> {
    this.treeOf(cf);
    const pageSize = validateScan(options, this.limits);
    // Each page checks again: a scan running across release() or engine close stops typed.
    return pagedScan(async (req) => readTreePage(this.treeOf(cf), req), options, pageSize);
  }

  async approximateSize(cf: string, range: KeyRange): Promise<number> {
    return treeRangeBytes(this.treeOf(cf), range);
  }

  protected async free(): Promise<void> {
    // Drop the references so the pinned nodes can be collected.
    this.trees = undefined;
  }

  private treeOf(cf: string): Tree {
    this.assertUsable();
    const tree = this.trees?.get(cf);
    requireArg(tree !== undefined, `unknown column family '${cf}'`);
    return tree;
  }
}
