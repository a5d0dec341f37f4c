/**
 * Engine snapshots: the bookkeeping every engine's `KvSnapshot` (see `engine.ts`) shares:
 * the bound on open snapshots, release on engine close, the released and closed checks.
 * Each engine decides how the view is kept (memory: copy-on-write trees; LevelDB: its own
 * snapshots; IndexedDB: pre-images logged by later writes); see each engine's header.
 */
import type { KeyRange, KvPair, KvSnapshot, ScanOptions } from './engine.ts';
import { StorageError } from './errors.ts';

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
