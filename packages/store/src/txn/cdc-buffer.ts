/**
 * The change feed's live buffer (TiKV CDC's delta stream, scaled down): the leader keeps, per
 * region a watcher pulls, the `write` records it applied since the buffer began, so a pull
 * is answered from memory instead of walking the region's `write` cf again every time the
 * resolved ts moves.
 *
 * Why a page from the buffer is the page a scan would give, for a pull (fromTs, R] over a key
 * range with fromTs at or above the buffer's floor for that range:
 * - The buffer begins at T0 on a leader in term `term`, fed by an apply observer, which sees
 *   every command the peer applies after its write is durable (`apply.ts`). While the same peer
 *   leads in the same term, nothing else changes its data: a snapshot is installed only on a
 *   follower, and becoming one again takes a new term. On any other peer or term the buffer is
 *   dropped and begun again.
 * - A floor is set by a full scan of a range on an engine snapshot taken after T0: the largest
 *   ts of the range's `write` records that the snapshot holds and the buffer does not. Every
 *   record durable before T0 is in that snapshot and, being durable before T0, applied before
 *   the buffer began (an observer runs after durability, so a record staged before T0 but
 *   durable after is seen by the buffer); so every record of the range outside the buffer has
 *   a ts at or below the floor. A record GC removed had a ts below the GC safe point, and a
 *   fromTs below that is refused. An overestimate only makes fewer pulls servable.
 * - Every commit with commitTs ≤ R is durable before R is applied (`handlers/cdc.ts`), so its
 *   record is in the buffer by then, and one with commitTs > fromTs ≥ floor is not outside it.
 * - Memory is bounded (`CDC_BUFFER_EVENTS_MAX`, `CDC_BUFFER_BYTES_MAX`); evicting the oldest
 *   record raises `evictedTs` to its ts, and a pull is servable only with fromTs at or above
 *   it as well. At most `CDC_BUFFERS_MAX` regions are buffered per store, and a buffer not
 *   pulled for `CDC_BUFFER_IDLE_MS` is dropped.
 */
import { CF_WRITE, compareBytes, decodeMvccKey, decodeWrite, type Timestamp, type WriteKind } from '@peerkv/txn';
import type { AppliedCommand, ApplyObserver } from '../apply.ts';
import type { StoreContext } from '../context.ts';
import type { RegionPeer } from '../peer.ts';
import type { CdcCursor } from './types.ts';

/** `write` records one region's buffer holds at most (the oldest goes first). */
export const CDC_BUFFER_EVENTS_MAX = 8192;
/** Bytes (keys and short values) one region's buffer holds at most. */
export const CDC_BUFFER_BYTES_MAX = 4 * 1024 * 1024;
/** Regions one store buffers at most (the least recently pulled goes first). */
export const CDC_BUFFERS_MAX = 64;
/** A buffer no pull read for this long is dropped, ms. */
export const CDC_BUFFER_IDLE_MS = 60_000;
/** Key ranges whose floor one buffer remembers (the newest kept). */
export const CDC_BUFFER_FLOORS_MAX = 8;
/** Bytes a buffered record counts beyond its key and short value. */
const RECORD_OVERHEAD_BYTES = 48;

/** One `write` record the buffer holds. */
export interface BufferedRecord {
  key: Uint8Array;
  /** The record's ts: the commit ts of a put, delete or lock record; the start ts of a rollback. */
  commitTs: Timestamp;
  kind: WriteKind;
  startTs: Timestamp;
  shortValue?: Uint8Array;
}

/** A key range [start, end) (no end: unbounded). */
export interface CdcRange {
  start: Uint8Array;
  end?: Uint8Array;
}

function recordId(key: Uint8Array, ts: Timestamp): string {
  let s = `${ts}:`;
  for (const b of key) s += b.toString(16).padStart(2, '0');
  return s;
}

function covers(outer: CdcRange, inner: CdcRange): boolean {
  if (compareBytes(outer.start, inner.start) > 0) return false;
  if (outer.end === undefined) return true;
  return inner.end !== undefined && compareBytes(inner.end, outer.end) <= 0;
}

function inRange(key: Uint8Array, r: CdcRange): boolean {
  return compareBytes(key, r.start) >= 0 && (r.end === undefined || compareBytes(key, r.end) < 0);
}

/** One region's buffer (see the module comment). */
export class RegionCdcBuffer {
  private readonly records = new Map<string, BufferedRecord>();
  /** Insertion order, for eviction (ids; an overwritten record keeps its place). */
  private readonly order: string[] = [];
  private head = 0;
  private bytes = 0;
  /** The largest ts evicted: no pull below it is served from the buffer. */
  private evictedTs = 0n;
  private readonly floors: { range: CdcRange; ts: Timestamp }[] = [];
  lastPulledMs: number;

  constructor(
    readonly peer: RegionPeer,
    readonly term: number,
    nowMs: number,
  ) {
    this.lastPulledMs = nowMs;
  }

  get size(): number {
    return this.records.size;
  }

  /** Whether the buffer holds the record `key@ts`. */
  has(key: Uint8Array, ts: Timestamp): boolean {
    return this.records.has(recordId(key, ts));
  }

  add(r: BufferedRecord): void {
    const id = recordId(r.key, r.commitTs);
    const old = this.records.get(id);
    if (old !== undefined) this.bytes -= sizeOf(old);
    else this.order.push(id);
    this.records.set(id, r);
    this.bytes += sizeOf(r);
    while (this.records.size > CDC_BUFFER_EVENTS_MAX || this.bytes > CDC_BUFFER_BYTES_MAX) this.evictOldest();
    // Compact the order list once its consumed head dominates it.
    if (this.head > 1024 && this.head * 2 > this.order.length) {
      this.order.splice(0, this.head);
      this.head = 0;
    }
  }

  private evictOldest(): void {
    const id = this.order[this.head++];
    const r = this.records.get(id);
    if (r === undefined) return;
    this.records.delete(id);
    this.bytes -= sizeOf(r);
    if (r.commitTs > this.evictedTs) this.evictedTs = r.commitTs;
  }

  /** Records that every record of `range` outside the buffer has a ts at most `ts` (a scan's finding). */
  addFloor(range: CdcRange, ts: Timestamp): void {
    this.floors.push({ range, ts });
    if (this.floors.length > CDC_BUFFER_FLOORS_MAX) this.floors.shift();
  }

  /** The least fromTs a pull over `range` may be served from the buffer at; undefined: none. */
  floorFor(range: CdcRange): Timestamp | undefined {
    let best: Timestamp | undefined;
    for (const f of this.floors) if (covers(f.range, range) && (best === undefined || f.ts < best)) best = f.ts;
    if (best === undefined) return undefined;
    return best > this.evictedTs ? best : this.evictedTs;
  }

  /** The put and delete records of `range` with ts in (fromTs, toTs], past `cursor`. */
  *changes(range: CdcRange, fromTs: Timestamp, toTs: Timestamp, cursor: CdcCursor | undefined): Iterable<BufferedRecord & { kind: 'put' | 'delete' }> {
    for (const r of this.records.values()) {
      if (r.kind !== 'put' && r.kind !== 'delete') continue;
      if (r.commitTs <= fromTs || r.commitTs > toTs || !inRange(r.key, range)) continue;
      if (cursor !== undefined && r.commitTs === cursor.commitTs && compareBytes(r.key, cursor.key) <= 0) continue;
      yield r as BufferedRecord & { kind: 'put' | 'delete' };
    }
  }
}

function sizeOf(r: BufferedRecord): number {
  return r.key.length + (r.shortValue?.length ?? 0) + RECORD_OVERHEAD_BYTES;
}

/** What the buffers did (a store's `status`-level counters, and what tests look at). */
export interface CdcBufferCounters {
  /** Pages answered from a buffer. */
  pagesFromBuffer: number;
  /** Pages answered by scanning the engine. */
  pagesScanned: number;
  /** Buffers begun (first pull of a region, a new leader or term). */
  buffersBegun: number;
  /** Buffers dropped (idle, over `CDC_BUFFERS_MAX`, another peer or term). */
  buffersDropped: number;
}

/** One store's buffers, fed by its apply observer. */
export class CdcBuffers implements ApplyObserver {
  private readonly buffers = new Map<number, RegionCdcBuffer>();
  readonly counters: CdcBufferCounters = { pagesFromBuffer: 0, pagesScanned: 0, buffersBegun: 0, buffersDropped: 0 };

  onApplied(cmd: AppliedCommand): void {
    const b = this.buffers.get(cmd.regionId);
    if (b === undefined) return;
    for (const op of cmd.ops) {
      if (op.type !== 'put' || op.cf !== CF_WRITE) continue;
      const { key, ts } = decodeMvccKey(op.key);
      const w = decodeWrite(op.value);
      b.add({ key, commitTs: ts, kind: w.kind, startTs: w.startTs, ...(w.shortValue === undefined ? {} : { shortValue: w.shortValue }) });
    }
  }

  /** The buffer a pull on `peer` (leading in `term`) uses, begun now if it has none that is valid. */
  forPull(peer: RegionPeer, term: number, nowMs: number): RegionCdcBuffer {
    for (const [id, b] of this.buffers) {
      if (nowMs - b.lastPulledMs > CDC_BUFFER_IDLE_MS) this.drop(id);
    }
    let b = this.buffers.get(peer.regionId);
    if (b !== undefined && (b.peer !== peer || b.term !== term)) {
      this.drop(peer.regionId);
      b = undefined;
    }
    if (b === undefined) {
      b = new RegionCdcBuffer(peer, term, nowMs);
      this.buffers.set(peer.regionId, b);
      this.counters.buffersBegun++;
      while (this.buffers.size > CDC_BUFFERS_MAX) this.dropLeastRecent();
    } else {
      // Most recently pulled last (Map order), for the LRU drop.
      this.buffers.delete(peer.regionId);
      this.buffers.set(peer.regionId, b);
    }
    b.lastPulledMs = nowMs;
    return b;
  }

  /** How many regions are buffered now. */
  get regions(): number {
    return this.buffers.size;
  }

  private drop(regionId: number): void {
    if (this.buffers.delete(regionId)) this.counters.buffersDropped++;
  }

  private dropLeastRecent(): void {
    const first = this.buffers.keys().next();
    if (!first.done) this.drop(first.value);
  }
}

const BUFFERS = new WeakMap<StoreContext, CdcBuffers>();

/** The change-feed buffers of the store owning `ctx` (created, and its observer registered, on first use). */
export function cdcBuffers(ctx: StoreContext): CdcBuffers {
  let b = BUFFERS.get(ctx);
  if (b === undefined) {
    b = new CdcBuffers();
    ctx.applyObservers.push(b);
    BUFFERS.set(ctx, b);
  }
  return b;
}

/** The change-feed buffers of `ctx`'s store, if it has served a pull. */
export function cdcBuffersIfAny(ctx: StoreContext): CdcBuffers | undefined {
  return BUFFERS.get(ctx);
}
