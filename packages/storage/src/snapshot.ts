/**
 * Engine snapshots: the read-only, point-in-time view `KvEngine.snapshot()` returns, and the
 * bookkeeping every engine shares (the bound on open snapshots, release on engine close).
 * Each engine decides how the view is kept (memory: copy-on-write trees; LevelDB: its own
 * snapshots; IndexedDB: one readonly transaction copied eagerly); see each engine's header.
 */
import type { KeyRange, KvPair, ScanOptions } from './engine.ts';
import { StorageError } from './errors.ts';

/**
 * A consistent, read-only view of every column family of an engine at one point in time.
 * Writes go on meanwhile and are never seen by it. The view holds what it pins (tree nodes,
 * a LevelDB snapshot, copied records) until `release()`: release it as soon as the reads
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
  /** As `KvEngine.scan` (same options, limits and paging), over the snapshot. */
  scan(cf: string, options?: ScanOptions): AsyncIterableIterator<KvPair>;
  /**
   * Roughly how many bytes `range` of `cf` holds. Exact for the snapshot on the memory and
   * IndexedDB engines; LevelDB's estimate of the live database (it has no per-snapshot one).
   */
  approximateSize(cf: string, range: KeyRange): Promise<number>;
  /** Frees what the snapshot pins and its slot in `snapshotsOpenMax`. Idempotent. */
  release(): Promise<void>;
  /** The same as `release()`, for code that closes resources by that name. */
  close(): Promise<void>;
}

/** Default bound on the snapshots one engine keeps open at once, in snapshots. */
export const SNAPSHOTS_OPEN_MAX_DEFAULT = 64;

/** Something open snapshots hold and that the registry releases on engine close. */
export interface Releasable {
  release(): Promise<void>;
}

/**
 * The open snapshots of one engine, bounded by `snapshotsOpenMax`. A snapshot takes a slot
 * when it is created and gives it back on release; the engine's `close()` releases them all.
 */
export class SnapshotRegistry {
  private readonly open = new Set<Releasable>();

  constructor(
    private readonly snapshotsOpenMax: number,
    private readonly engineName: string,
  ) {}

  /** Snapshots open now. */
  get size(): number {
    return this.open.size;
  }

  /** Throws `TooManySnapshots` when every slot is taken (call before pinning anything). */
  assertRoom(): void {
    if (this.open.size >= this.snapshotsOpenMax) {
      throw new StorageError('TooManySnapshots', `${this.engineName}: ${this.open.size} snapshots open, snapshotsOpenMax ${this.snapshotsOpenMax}; release one first`);
    }
  }

  /** Takes a slot for `s` (`assertRoom` first). */
  add(s: Releasable): void {
    this.assertRoom();
    this.open.add(s);
  }

  /** Gives `s`'s slot back. */
  delete(s: Releasable): void {
    this.open.delete(s);
  }

  /** Releases every open snapshot (engine close). */
  async releaseAll(): Promise<void> {
    await Promise.allSettled([...this.open].map((s) => s.release()));
  }
}

/**
 * The lifecycle every engine's snapshot shares: engine-open check first (so a closed or
 * crashed engine reports `Closed`, as the engine itself does), then the released check;
 * `release()` is idempotent and gives the registry slot back before freeing resources.
 */
export abstract class SnapshotBase implements KvSnapshot {
  private released = false;

  constructor(
    readonly columnFamilies: readonly string[],
    private readonly registry: SnapshotRegistry,
    /** Throws the engine's `StorageError('Closed')` when it is closed or dead. */
    private readonly assertEngineOpen: () => void,
  ) {
    registry.add(this);
  }

  abstract get(cf: string, key: Uint8Array): Promise<Uint8Array | undefined>;
  abstract scan(cf: string, options?: ScanOptions): AsyncIterableIterator<KvPair>;
  abstract approximateSize(cf: string, range: KeyRange): Promise<number>;
  /** Frees the engine resources the snapshot pins; called once. */
  protected abstract free(): Promise<void>;

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    this.registry.delete(this);
    await this.free();
  }

  close(): Promise<void> {
    return this.release();
  }

  /** Throws unless both the engine and the snapshot are usable. */
  protected assertUsable(): void {
    this.assertEngineOpen();
    if (this.released) throw new StorageError('SnapshotReleased', 'snapshot used after release()');
  }
}
