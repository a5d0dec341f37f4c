/**
 * The store-private staging area of received snapshots (TiKV's snapshot files under the snap
 * manager's directory, here records of the store's `meta` column family): each checked chunk
 * of an incoming stream is written to disk as it arrives, so a receiver holds about one chunk
 * in memory, and the staged stream is what a region's pending apply reads back after Raft
 * accepted the snapshot (also after a restart). Also the pending-apply record: which snapshot
 * a region in state `applying` is applying.
 *
 * Staged chunks are keyed by region, snapshot id and chunk sequence, so two transfers of one
 * region (an accepted one waiting for its round, a newer one arriving) never mix. What no
 * transfer or pending apply owns is removed when the store opens (`dropOrphanedStaging`).
 */
import { compareKeys } from '@peerkv/pd';
import { WriteBatch, type KvEngine, type WriteOptions } from '@peerkv/storage';
import { ByteReader, ByteWriter } from '@peerkv/transport';
import { META_CF, STAGED_PREFIX_END, STAGED_PREFIX_START, pendingApplyKey, prefixEnd, stagedChunkKey, stagedSnapshotPrefix } from './keys.ts';
import type { ApplyingSnapshot } from './peer.ts';
import { SNAPSHOT_FORMAT_CHUNKED, SNAPSHOT_HEADER_BYTES_MAX, decodeSnapshotData, type SnapshotHeader, type SnapshotId } from './snapshot.ts';

/** The snapshot a region is applying: its Raft metadata and its header (the format 3 `data`, naming the staged stream). */
export interface PendingApply {
  index: number;
  term: number;
  /** The snapshot's `data` (a format 3 header). */
  data: Uint8Array;
}

/** Encodes a pending-apply record. */
export function encodePendingApply(p: PendingApply): Uint8Array {
  const w = new ByteWriter();
  w.varUint(p.index);
  w.varUint(p.term);
  w.bytes(p.data);
  return w.finish();
}

/** Decodes a pending-apply record; throws `DecodeError` on bad bytes. */
export function decodePendingApply(value: Uint8Array): PendingApply {
  const r = new ByteReader(value);
  const out = { index: r.varUint(), term: r.varUint(), data: r.bytes(SNAPSHOT_HEADER_BYTES_MAX, 'snapshot header') };
  r.end('pending apply');
  return out;
}

/** The pending apply of a region loaded in `applying` state (a record gone or undecodable leaves it failed: never served). */
export function loadedApplying(record: Uint8Array | undefined): ApplyingSnapshot {
  const none = { index: 0, term: 0, data: new Uint8Array(), task: undefined };
  if (!record) return { ...none, failed: 'the pending-apply record is gone' };
  try {
    return { ...decodePendingApply(record), task: undefined };
  } catch (e) {
    return { ...none, failed: `the pending-apply record does not decode: ${(e as Error).message}` };
  }
}

/** Reads and writes one store's staged snapshot chunks. */
export class SnapshotStaging {
  constructor(
    private readonly engine: KvEngine,
    private readonly write: WriteOptions,
  ) {}

  /** Stages chunks of snapshot `id` of region `regionId` (one engine write). */
  async putChunks(regionId: number, id: SnapshotId, chunks: readonly { seq: number; data: Uint8Array }[]): Promise<void> {
    const prefix = stagedSnapshotPrefix(regionId, id);
    const b = new WriteBatch();
    for (const c of chunks) b.put(META_CF, stagedChunkKey(prefix, c.seq), c.data);
    await this.engine.write(b, this.write);
  }

  /** Chunk `seq` of a staged snapshot, or undefined when it is gone. */
  getChunk(regionId: number, id: SnapshotId, seq: number): Promise<Uint8Array | undefined> {
    return this.engine.get(META_CF, stagedChunkKey(stagedSnapshotPrefix(regionId, id), seq));
  }

  /** Removes every staged chunk of one snapshot (one engine write). */
  async drop(regionId: number, id: SnapshotId): Promise<void> {
    const b = new WriteBatch();
    stageDropStaged(b, regionId, id);
    await this.engine.write(b, this.write);
  }
}

/** Stages the removal of every staged chunk of one snapshot into `b`. */
export function stageDropStaged(b: WriteBatch, regionId: number, id: SnapshotId): void {
  const prefix = stagedSnapshotPrefix(regionId, id);
  b.deleteRange(META_CF, prefix, prefixEnd(prefix));
}

/**
 * Stages the removal of a destroyed replica's pending apply into `b`: its record and the staged
 * chunks it names (transfers still arriving clean up after themselves; orphans go at open).
 */
export function stageDropPendingApply(b: WriteBatch, regionId: number, applying: ApplyingSnapshot | undefined): void {
  b.delete(META_CF, pendingApplyKey(regionId));
  const header = applying && pendingApplyHeader(applying);
  if (typeof header === 'object') stageDropStaged(b, regionId, header.id);
}

/** The header of the snapshot a pending apply names, or why it names none (a record that does not decode). */
export function pendingApplyHeader(a: ApplyingSnapshot): SnapshotHeader | string {
  try {
    const d = decodeSnapshotData(a.data);
    return d.format === SNAPSHOT_FORMAT_CHUNKED ? d.header : `the pending apply names a format ${d.format} snapshot`;
  } catch (e) {
    return `the pending-apply record does not decode: ${(e as Error).message}`;
  }
}

/**
 * At open: removes every staged chunk except those of the snapshots named in `keep` (the
 * pending applies to resume). Transfers in flight before a restart are forgotten (their
 * senders' chunks are refused as `Unknown`), so their chunks belong to no one.
 */
export async function dropOrphanedStaging(engine: KvEngine, keep: { regionId: number; id: SnapshotId }[], write: WriteOptions): Promise<void> {
  const kept = keep.map((k) => stagedSnapshotPrefix(k.regionId, k.id)).sort(compareKeys);
  const b = new WriteBatch();
  let cursor: Uint8Array = STAGED_PREFIX_START;
  for (const prefix of kept) {
    if (compareKeys(prefix, cursor) > 0) b.deleteRange(META_CF, cursor, prefix);
    cursor = prefixEnd(prefix);
  }
  if (compareKeys(cursor, STAGED_PREFIX_END) < 0) b.deleteRange(META_CF, cursor, STAGED_PREFIX_END);
  await engine.write(b, write);
}
