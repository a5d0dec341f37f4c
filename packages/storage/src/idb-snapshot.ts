/**
 * IndexedDB snapshots by pre-images: a snapshot is a write sequence number, and while any
 * snapshot is open every write records, inside its own transaction and before it commits,
 * the value each key had before the write (`PreimageLog`). A snapshot read is a live read
 * corrected by the log: a key some later write touched reads as that first later write found
 * it; any other key reads as it is.
 *
 * Why it is exact: IndexedDB runs a `readwrite` transaction only after every transaction
 * created before it on an overlapping scope, and a read transaction after every `readwrite`
 * created before it. So a live read sees exactly the writes created before it; those created
 * after the snapshot recorded their pre-images before they committed, hence before the read
 * ran; and the first later write to a key found it as it was at the snapshot. A write created
 * after the read does not reach the read, and if its pre-image is already logged it is the
 * snapshot's value too. Nothing keeps a transaction open, so writes never wait for a snapshot.
 * Only writes through this engine log pre-images: a second connection writing the same
 * database would slip past its snapshots (a store is its database's only writer).
 *
 * Costs: nothing while no snapshot is open; while one is, each put or delete reads its key
 * first and each range delete reads its range, and the log holds those pre-images until the
 * oldest snapshot that needs them is released, bounded by `snapshotBytesMax` (beyond it every
 * open snapshot is void: `SnapshotTooLarge`).
 */
import { BTree } from './btree.ts';
import { compareBytes, toHex } from './bytes.ts';
import { pagedScan, validateKey, validateScan, type EngineLimits, type KeyRange, type KvPair, type PageRequest, type ScanOptions } from './engine.ts';
import { StorageError } from './errors.ts';
import { SnapshotBase, type SnapshotRegistry } from './snapshot.ts';

/** The value a key had before the write numbered `seq` changed it (undefined: absent). */
interface Preimage {
  seq: number;
  value: Uint8Array | undefined;
}

type PreimageTree = InstanceType<typeof BTree<Uint8Array, Preimage[]>>;

/** Bytes a pre-image holds beyond its key and value (the record and its list slot). */
const PREIMAGE_OVERHEAD_BYTES = 32;

/**
 * Pre-images of the writes made while snapshots are open, per column family and key, in
 * write order. Bounded by `bytesMax`: past it the log is cleared and every reader is voided.
 */
export class PreimageLog {
  private readonly trees = new Map<string, PreimageTree>();
  /** The snapshots reading through the log. */
  private readonly readers = new Set<IdbSnapshot>();
  private bytes = 0;

  constructor(private readonly bytesMax: number) {}

  /** Bytes the log holds now. */
  get pinnedBytes(): number {
    return this.bytes;
  }

  /** True when writes must record pre-images. */
  get capturing(): boolean {
    return this.readers.size > 0;
  }

  addReader(s: IdbSnapshot): void {
    this.readers.add(s);
  }

  /** Drops `s` and every pre-image no remaining reader needs. */
  removeReader(s: IdbSnapshot): void {
    this.readers.delete(s);
    let floor = Number.POSITIVE_INFINITY;
    for (const r of this.readers) floor = Math.min(floor, r.seq);
    this.prune(floor);
  }

  /** A recorder for one write, numbered `seq`: only the first pre-image of each key counts. */
  recorder(seq: number): (cf: string, key: Uint8Array, value: Uint8Array | undefined) => void {
    const seen = new Set<string>();
    return (cf, key, value) => {
      const id = `${cf}\u0000${toHex(key)}`;
      if (seen.has(id)) return; // a later op of the same batch: not the value before the batch
      seen.add(id);
      if (!this.capturing) return; // every reader left while the write ran
      this.record(cf, key, seq, value);
    };
  }

  /** The first pre-image of `key` logged by a write after `seq`, if any. */
  lookup(cf: string, key: Uint8Array, seq: number): Preimage | undefined {
    return this.trees.get(cf)?.get(key)?.find((p) => p.seq > seq);
  }

  /** Keys in the window that a write after `seq` touched, with their values at `seq`. */
  touched(cf: string, w: Window, seq: number): [Uint8Array, Uint8Array | undefined][] {
    const tree = this.trees.get(cf);
    const out: [Uint8Array, Uint8Array | undefined][] = [];
    if (!tree) return out;
    for (const [key, list] of tree.entries(w.lower)) {
      if (w.lower && w.lowerOpen && compareBytes(key, w.lower) === 0) continue;
      if (w.upper && (w.upperInclusive ? compareBytes(key, w.upper) > 0 : compareBytes(key, w.upper) >= 0)) break;
      const p = list.find((x) => x.seq > seq);
      if (p) out.push([key, p.value]);
    }
    return out;
  }

  private record(cf: string, key: Uint8Array, seq: number, value: Uint8Array | undefined): void {
    let tree = this.trees.get(cf);
    if (!tree) {
      tree = new BTree<Uint8Array, Preimage[]>(undefined, compareBytes);
      this.trees.set(cf, tree);
    }
    let list = tree.get(key);
    if (!list) {
      list = [];
      tree.set(key.slice(), list);
      this.bytes += key.length;
    }
    list.push({ seq, value });
    this.bytes += (value?.length ?? 0) + PREIMAGE_OVERHEAD_BYTES;
    if (this.bytes > this.bytesMax) this.overflow();
  }

  /** Past `bytesMax`: void every reader (they can no longer be answered) and start empty. */
  private overflow(): void {
    const voided = [...this.readers];
    this.readers.clear();
    this.trees.clear();
    this.bytes = 0;
    for (const s of voided) s.void(`pre-images of later writes passed snapshotBytesMax ${this.bytesMax} bytes`);
  }

  /** Forgets pre-images of writes at or below `floor` (no reader needs them). */
  private prune(floor: number): void {
    if (this.readers.size === 0) {
      this.trees.clear();
      this.bytes = 0;
      return;
    }
    for (const tree of this.trees.values()) {
      const emptied: Uint8Array[] = [];
      tree.forEachPair((key, list) => {
        let drop = 0;
        while (drop < list.length && list[drop].seq <= floor) {
          this.bytes -= (list[drop].value?.length ?? 0) + PREIMAGE_OVERHEAD_BYTES;
          drop++;
        }
        if (drop > 0) list.splice(0, drop);
        if (list.length === 0) emptied.push(key);
      });
      for (const key of emptied) {
        tree.delete(key);
        this.bytes -= key.length;
      }
    }
  }
}

/** A key window: `lower` (open or not) to `upper` (inclusive or not); absent sides unbounded. */
interface Window {
  lower?: Uint8Array;
  lowerOpen: boolean;
  upper?: Uint8Array;
  upperInclusive: boolean;
}

/** The live reads a snapshot corrects: the engine's own, each its own transaction. */
export interface LiveReader {
  get(cf: string, key: Uint8Array): Promise<Uint8Array | undefined>;
  readPage(cf: string, req: PageRequest): Promise<KvPair[]>;
  approximateSize(cf: string, range: KeyRange): Promise<number>;
}

/** A `KvSnapshot` of an `IdbEngine`; see the module header. */
export class IdbSnapshot extends SnapshotBase {
  private voidedReason: string | undefined;

  constructor(
    columnFamilies: readonly string[],
    /** Writes numbered above this are not in the snapshot. */
    readonly seq: number,
    private readonly live: LiveReader,
    private readonly log: PreimageLog,
    private readonly limits: EngineLimits,
    registry: SnapshotRegistry,
    assertEngineOpen: () => void,
  ) {
    super(columnFamilies, registry, assertEngineOpen);
    log.addReader(this);
  }

  /** The log could not keep this snapshot's pre-images: every read fails from now on. */
  void(reason: string): void {
    this.voidedReason ??= reason;
  }

  async get(cf: string, key: Uint8Array): Promise<Uint8Array | undefined> {
    this.check();
    validateKey(key, this.limits);
    const value = await this.live.get(cf, key);
    this.check(); // voided during the read: the log may have lost this key's pre-image
    const p = this.log.lookup(cf, key, this.seq);
    if (!p) return value;
    return p.value?.slice();
  }

  scan(cf: string, options: ScanOptions = {}): AsyncIterableIterator<KvPair> {
    this.check();
    const pageSize = validateScan(options, this.limits);
    return pagedScan((req) => this.readPage(cf, req), options, pageSize);
  }

  /** The live database's estimate (the pre-images are not counted). */
  async approximateSize(cf: string, range: KeyRange): Promise<number> {
    this.check();
    return this.live.approximateSize(cf, range);
  }

  protected async free(): Promise<void> {
    this.log.removeReader(this);
  }

  /**
   * One page of the snapshot: live pages merged with the pre-images of their window (a full
   * live page covers keys up to its last one; a short one, the rest of the range), until
   * `count` pairs or the range ends.
   */
  private async readPage(cf: string, req: PageRequest): Promise<KvPair[]> {
    const out: KvPair[] = [];
    const cur: PageRequest = { ...req };
    for (;;) {
      this.check();
      const need = req.count - out.length;
      const page = await this.live.readPage(cf, { ...cur, count: need });
      this.check();
      const full = page.length === need;
      const edge = full ? page[page.length - 1].key : undefined;
      const window: Window = req.reverse
        ? { lower: edge ?? cur.lower, lowerOpen: false, upper: cur.upper, upperInclusive: false }
        : { lower: cur.lower, lowerOpen: cur.lowerOpen, upper: edge ?? cur.upper, upperInclusive: edge !== undefined };
      for (const pair of merge(page, this.log.touched(cf, window, this.seq), req.reverse)) {
        out.push(pair);
        if (out.length === req.count) return out;
      }
      if (!edge) return out;
      if (req.reverse) cur.upper = edge;
      else {
        cur.lower = edge;
        cur.lowerOpen = true;
      }
    }
  }

  private check(): void {
    this.assertUsable();
    if (this.voidedReason !== undefined) throw new StorageError('SnapshotTooLarge', this.voidedReason);
  }
}

/** Live pairs with the touched keys replaced by their snapshot values (absent ones dropped), in scan order. */
function merge(page: KvPair[], touched: [Uint8Array, Uint8Array | undefined][], reverse: boolean): KvPair[] {
  if (touched.length === 0) return page;
  const touchedIds = new Set(touched.map(([k]) => toHex(k)));
  const out = page.filter((p) => !touchedIds.has(toHex(p.key)));
  for (const [key, value] of touched) if (value !== undefined) out.push({ key: key.slice(), value: value.slice() });
  out.sort((a, b) => (reverse ? compareBytes(b.key, a.key) : compareBytes(a.key, b.key)));
  return out;
}
