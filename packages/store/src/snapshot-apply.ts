/**
 * Pending apply (TiKV's region worker applying a snapshot, `PeerState::Applying`): once the
 * round persisted a snapshot's Raft state together with the region's `applying` state (and
 * cleared the region's range in every data column family), the staged stream is read back and
 * written into the data column families in batches of whole chunks
 * (`applyBatchBytesMax`), each its own engine write; a last write stores the dedup table,
 * marks the region `normal` and drops the staged chunks. Meanwhile the replica takes no Ready
 * and serves nothing (`RegionPeer.applying`).
 *
 * A store that opens with a region in `applying` resumes from the first staged chunk
 * (re-putting pairs already written is harmless: the range was cleared before any was). A
 * staged stream that is gone or corrupt fails the apply: the replica is damaged. It stays
 * unserved, the failure is counted and shown in `status()` (`appliesFailed`,
 * `applying[].failed`), never served half-applied, and the store heartbeat reports it to PD
 * (`damagedRegionIds`), which removes it and adds a new replica (on this store too, once it
 * destroyed this one). A failed engine write stops the store, as a failed round does.
 */
import { StorageError, WriteBatch } from '@peerkv/storage';
import type { StoreContext } from './context.ts';
import { DedupTable, stageDedupTable, type DedupEntry } from './dedup.ts';
import { META_CF, pendingApplyKey, regionStateKey } from './keys.ts';
import type { SnapshotTransferLimits, SnapshotTransferStatus } from './options.ts';
import { encodeRegionState, type RegionPeer } from './peer.ts';
import { SnapshotStreamReader, chunkCount, snapshotRangeOf, type SnapshotContents, type SnapshotHeader } from './snapshot.ts';
import { pendingApplyHeader, stageDropStaged, type SnapshotStaging } from './snapshot-stage.ts';

/** The staged stream cannot be applied (gone or corrupt): an operating error, not a bug. */
export class SnapshotApplyError extends Error {
  override readonly name = 'SnapshotApplyError';
}

type Progress = SnapshotTransferStatus['applying'][number];

/** Runs the pending applies of one store (see the module header). */
export class SnapshotApplier {
  constructor(
    private readonly ctx: StoreContext,
    private readonly staging: SnapshotStaging,
    private readonly status: SnapshotTransferStatus,
    private readonly limits: Pick<SnapshotTransferLimits, 'applyBatchBytesMax'>,
  ) {}

  /**
   * Starts applying `peer.applying` (its `applying` state is durable: called after the round's
   * write, or at open to resume). The task is kept on the peer, so a destroy waits for it.
   */
  start(peer: RegionPeer, resumed: boolean): void {
    const a = peer.applying;
    if (!a || a.task) return;
    if (resumed) this.status.appliesResumed++;
    // A failed apply of this region that asked for this snapshot is over.
    for (const p of this.status.applying.filter((x) => x.regionId === peer.regionId)) this.forget(p);
    const progress: Progress = { regionId: peer.regionId, index: a.index, chunksApplied: 0, chunks: 0 };
    this.status.applying.push(progress);
    if (a.failed) {
      this.failed(peer, progress, a.failed);
      return;
    }
    a.task = this.run(peer, progress)
      .catch((e: unknown) => this.onError(peer, progress, e))
      .finally(() => {
        if (!progress.failed) this.forget(progress);
      });
  }

  /** `peer` is being destroyed (already marked): waits for its apply to stop, and forgets it. */
  async onDestroy(peer: RegionPeer): Promise<void> {
    await peer.applying?.task;
    for (const p of this.status.applying.filter((x) => x.regionId === peer.regionId)) this.forget(p);
  }

  /** Reads a whole staged stream back (PD's snapshot: one small pair, installed in the round's write). */
  async readWhole(regionId: number, h: SnapshotHeader): Promise<SnapshotContents> {
    const out: SnapshotContents = { region: h.region, pairs: [], dedup: [] };
    await this.eachStaged(regionId, h, false, (items) => {
      out.pairs.push(...items.pairs);
      out.dedup.push(...items.dedup);
      return Promise.resolve();
    });
    return out;
  }

  private async run(peer: RegionPeer, progress: Progress): Promise<void> {
    const h = pendingApplyHeader(peer.applying!);
    if (typeof h === 'string') throw new SnapshotApplyError(h);
    progress.chunks = chunkCount(h);
    const dedup: DedupEntry[] = [];
    let batch = new WriteBatch();
    let batchBytes = 0;
    const finished = await this.eachStaged(peer.regionId, h, true, async (items, chunkBytes, seq, last) => {
      for (const p of items.pairs) batch.put(p.cf, p.key, p.value);
      dedup.push(...items.dedup);
      batchBytes += chunkBytes;
      if (batchBytes < this.limits.applyBatchBytesMax && !last) return;
      if (this.gone(peer)) return;
      await this.ctx.engine.write(batch, { durability: this.ctx.opts.durability });
      this.status.applyWrites++;
      progress.chunksApplied = seq + 1;
      batch = new WriteBatch();
      batchBytes = 0;
    }, () => this.gone(peer));
    if (!finished || this.gone(peer)) return;
    // The region is whole: its dedup table, `normal`, and its staged chunks dropped, in one write.
    const table = DedupTable.from(dedup);
    const b = new WriteBatch();
    stageDedupTable(b, peer.regionId, table);
    b.put(META_CF, regionStateKey(peer.regionId), encodeRegionState(peer.region, 'normal'));
    b.delete(META_CF, pendingApplyKey(peer.regionId));
    stageDropStaged(b, peer.regionId, h.id);
    await this.ctx.engine.write(b, { durability: this.ctx.opts.durability });
    if (this.gone(peer)) return;
    peer.dedup = table;
    peer.applying = undefined;
    this.status.appliesCompleted++;
    this.ctx.counters.snapshotsInstalled++;
    this.ctx.wake(peer.regionId);
    peer.serveReads();
    this.ctx.schedule();
  }

  /**
   * Reads the staged chunks of `h` in order, checking them again, and hands each chunk's items
   * to `f`. False when `stop()` said so before the end.
   */
  private async eachStaged(
    regionId: number,
    h: SnapshotHeader,
    checkRange: boolean,
    f: (items: ReturnType<SnapshotStreamReader['push']>, chunkBytes: number, seq: number, last: boolean) => Promise<void>,
    stop: () => boolean = () => false,
  ): Promise<boolean> {
    const reader = new SnapshotStreamReader(h, checkRange ? snapshotRangeOf(this.ctx.dataModel, regionId, h.region) : {});
    const total = chunkCount(h);
    for (let seq = 0; seq < total; seq++) {
      if (stop()) return false;
      const chunk = await this.staging.getChunk(regionId, h.id, seq);
      if (!chunk) throw new SnapshotApplyError(`staged chunk ${seq} of ${total} of region ${regionId} is gone`);
      let items: ReturnType<SnapshotStreamReader['push']>;
      try {
        items = reader.push(chunk);
        if (seq === total - 1) reader.finish();
      } catch (e) {
        throw new SnapshotApplyError(`the staged stream of region ${regionId} is corrupt: ${(e as Error).message}`);
      }
      await f(items, chunk.length, seq, seq === total - 1);
    }
    if (total === 0) {
      try {
        reader.finish();
      } catch (e) {
        throw new SnapshotApplyError(`the staged stream of region ${regionId} is corrupt: ${(e as Error).message}`);
      }
      await f({ pairs: [], dedup: [] }, 0, -1, true);
    }
    return !stop();
  }

  private onError(peer: RegionPeer, progress: Progress, e: unknown): void {
    if (e instanceof SnapshotApplyError) {
      this.failed(peer, progress, e.message);
      return;
    }
    if (this.gone(peer) && e instanceof StorageError) return; // closed or crashed under the apply
    this.ctx.stop(e);
  }

  private failed(peer: RegionPeer, progress: Progress, reason: string): void {
    if (peer.applying) peer.applying.failed = reason;
    progress.failed = reason;
    this.status.appliesFailed++;
    // The next round asks the leader for a new snapshot (snapshot-request.ts).
    this.ctx.wake(peer.regionId);
    this.ctx.schedule();
  }

  private forget(progress: Progress): void {
    const i = this.status.applying.indexOf(progress);
    if (i >= 0) this.status.applying.splice(i, 1);
  }

  /** The replica or the store went away: the apply stops (a reopened store resumes it). */
  private gone(peer: RegionPeer): boolean {
    return peer.destroyed || this.ctx.closed || this.ctx.fatal !== undefined || this.ctx.peers.get(peer.regionId) !== peer;
  }
}
