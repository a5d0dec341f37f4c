/**
 * Snapshots (TiKV's region worker and snapshot manager, scaled down): generates a region's
 * snapshot from ONE engine view covering every data column family and streams it in chunks
 * (snapshot-send.ts), receives, checks and stages incoming ones on disk before Raft sees them
 * (snapshot-receive.ts, snapshot-stage.ts), persists an accepted data snapshot's Raft state
 * with the region's `applying` state in the round's write and then applies the staged stream
 * in chunks (snapshot-apply.ts; resumed at open), installs PD's and inline snapshots in the
 * round's write, refuses one whose range overlaps another local replica, and deletes a range's
 * data without touching what other local replicas own. Every transfer ends in exactly one `reportSnapshot` to the leader's Raft
 * (success once the receiver holds the whole stream, failure otherwise), unless a newer
 * transfer to the same peer replaced it.
 */
import type { Region } from '@peerkv/pd';
import { compareKeys } from '@peerkv/pd';
import type { Message, Snapshot } from '@peerkv/raft';
import { StorageError, type RaftWriteBatch } from '@peerkv/storage';
import type { RegionMessage } from '@peerkv/transport';
import type { StoreContext } from './context.ts';
import { storedDeleteEnd, storedKeyRange } from './data-model.ts';
import { DedupTable, stageDedupTable } from './dedup.ts';
import { installDataKeySwitch } from './apply.ts';
import { DATA_CF, META_CF, dedupPrefix, pendingApplyKey, prefixEnd, regionStateKey } from './keys.ts';
import type { SnapshotTransferLimits, SnapshotTransferStatus } from './options.ts';
import { encodeRegionState, type RegionPeer } from './peer.ts';
import { PD_REGION_ID } from './pd-host.ts';
import { rangeEnd, rangesOverlap } from './region-meta.ts';
import {
  SNAPSHOT_APPLY_BATCH_BYTES_MAX,
  SNAPSHOT_BYTES_MAX,
  SNAPSHOT_CHUNK_BYTES_LIMIT,
  SNAPSHOT_CHUNK_BYTES_MAX,
  SNAPSHOT_CHUNKS_INFLIGHT_MAX,
  SNAPSHOT_FORMAT_CHUNKED,
  SNAPSHOT_FORMAT_INLINE,
  SNAPSHOT_RECEIVE_TIMEOUT_MS,
  SNAPSHOT_RESEND_MS,
  SNAPSHOT_RESENDS_MAX,
  SNAPSHOT_REQUEST_INTERVAL_MS,
  SNAPSHOT_REQUESTS_MAX,
  SNAPSHOTS_RECEIVING_MAX,
  SNAPSHOTS_SENDING_MAX,
  SNAPSHOT_STAGING_BUFFER_BYTES_MAX,
  decodeSnapshotData,
  inlineContents,
  snapshotIdKey,
  snapshotRegion,
  type SnapshotContents,
  type SnapshotHeader,
} from './snapshot.ts';
import { SnapshotApplier } from './snapshot-apply.ts';
import { decodeSnapshotFrame, type SnapshotFrame } from './snapshot-frames.ts';
import { SnapshotReceiver } from './snapshot-receive.ts';
import { SnapshotRequests } from './snapshot-request.ts';
import { SnapshotSend, memorySource, viewSource, type SnapshotSource } from './snapshot-send.ts';
import { SnapshotStaging, dropOrphanedStaging, encodePendingApply, pendingApplyHeader, stageDropStaged } from './snapshot-stage.ts';

/** The limits with every default filled in; a chunk size above the protocol's cap is clamped. */
export function snapshotTransferLimits(o: Partial<SnapshotTransferLimits>): SnapshotTransferLimits {
  return {
    chunkBytesMax: Math.max(1, Math.min(o.chunkBytesMax ?? SNAPSHOT_CHUNK_BYTES_MAX, SNAPSHOT_CHUNK_BYTES_LIMIT)),
    chunksInflightMax: Math.max(1, o.chunksInflightMax ?? SNAPSHOT_CHUNKS_INFLIGHT_MAX),
    snapshotBytesMax: o.snapshotBytesMax ?? SNAPSHOT_BYTES_MAX,
    receivingMax: o.receivingMax ?? SNAPSHOTS_RECEIVING_MAX,
    sendingMax: o.sendingMax ?? SNAPSHOTS_SENDING_MAX,
    receiveTimeoutMs: o.receiveTimeoutMs ?? SNAPSHOT_RECEIVE_TIMEOUT_MS,
    resendMs: o.resendMs ?? SNAPSHOT_RESEND_MS,
    resendsMax: o.resendsMax ?? SNAPSHOT_RESENDS_MAX,
    requestIntervalMs: o.requestIntervalMs ?? SNAPSHOT_REQUEST_INTERVAL_MS,
    requestsMax: Math.max(0, o.requestsMax ?? SNAPSHOT_REQUESTS_MAX),
    stagingBufferBytesMax: Math.max(1, o.stagingBufferBytesMax ?? SNAPSHOT_STAGING_BUFFER_BYTES_MAX),
    applyBatchBytesMax: Math.max(1, o.applyBatchBytesMax ?? SNAPSHOT_APPLY_BATCH_BYTES_MAX),
  };
}

/** A store's snapshot counters before any transfer or apply. */
export function emptySnapshotTransferStatus(): SnapshotTransferStatus {
  return {
    sendsStarted: 0,
    sendsSucceeded: 0,
    sendsFailed: 0,
    chunksSent: 0,
    chunksResent: 0,
    bytesSent: 0,
    receivesStarted: 0,
    receivesCompleted: 0,
    receivesFailed: 0,
    chunksReceived: 0,
    chunksIgnored: 0,
    bytesReceived: 0,
    refused: {},
    undecodable: 0,
    sending: 0,
    receiving: 0,
    chunksStaged: 0,
    appliesStarted: 0,
    appliesResumed: 0,
    appliesCompleted: 0,
    appliesFailed: 0,
    applyWrites: 0,
    applying: [],
  };
}

/** The store's snapshot part: sending, receiving and installing (see the module header). */
export class SnapshotWorker {
  private readonly limits: SnapshotTransferLimits;
  private readonly status: SnapshotTransferStatus = emptySnapshotTransferStatus();
  private readonly receiver: SnapshotReceiver;
  private readonly staging: SnapshotStaging;
  private readonly applier: SnapshotApplier;
  private readonly requests: SnapshotRequests;
  /** Outgoing transfers by snapshot id, and the newest one per (region, target peer). */
  private readonly sending = new Map<string, SnapshotSend>();
  private readonly sendingByTarget = new Map<string, SnapshotSend>();
  private sendSeq = 0;

  constructor(private readonly ctx: StoreContext) {
    this.limits = snapshotTransferLimits(ctx.snapshotLimits);
    ctx.snapshotTransfer = this.status;
    this.staging = new SnapshotStaging(ctx.engine, { durability: ctx.opts.durability });
    this.applier = new SnapshotApplier(ctx, this.staging, this.status, this.limits);
    this.requests = new SnapshotRequests({
      limits: this.limits,
      status: this.status,
      timers: ctx.timers,
      peer: (regionId) => ctx.peers.get(regionId),
      restartRaft: (peer) => ctx.restartRaft(peer),
      receiving: (regionId) => this.receiver.isReceiving(regionId),
      send: (to, rm) => this.send(to, rm),
      wake: (regionId) => {
        ctx.wake(regionId);
        ctx.schedule();
      },
      stopped: () => ctx.closed || ctx.fatal !== undefined,
    });
    this.receiver = new SnapshotReceiver({
      limits: this.limits,
      status: this.status,
      dataCfs: ctx.dataCfs,
      dataModel: ctx.dataModel,
      timers: ctx.timers,
      staging: this.staging,
      stopped: () => ctx.closed || ctx.fatal !== undefined,
      fatal: (e) => ctx.stop(e),
      send: (to, rm) => this.send(to, rm),
      peer: (regionId) => ctx.peers.get(regionId),
      overlaps: (regionId, region) => this.regionOverlapsOthers(regionId, region),
      step: (peer, rm) => {
        peer.silentHeartbeats = 0;
        peer.hibernating = false;
        peer.raw.step(rm.message);
        ctx.schedule();
      },
    });
  }

  private send(toStoreId: number, rm: RegionMessage): void {
    if (this.ctx.closed || this.ctx.fatal) return;
    this.ctx.transport.send(toStoreId, [rm]);
  }

  // ------------------------------------------------------------------ overlap checks

  /**
   * Whether a snapshot's region range overlaps another region hosted here: an initialized one,
   * or one whose own accepted snapshot waits to be installed (two snapshots accepted in one
   * round, or a split's right half created between a snapshot's acceptance and its install,
   * would make two replicas own the same keys).
   */
  private regionOverlapsOthers(regionId: number, range: Region): boolean {
    if (regionId === PD_REGION_ID) return false;
    for (const p of this.ctx.peers.values()) {
      if (p.regionId === regionId || !p.machine.holdsData || p.destroyed) continue;
      for (const held of this.rangesHeld(p)) if (rangesOverlap(held, range)) return true;
    }
    return this.ctx.splitsInFlight.some((r) => r.id !== regionId && rangesOverlap(r, range));
  }

  /** The ranges a replica holds or is about to hold: its region once initialized, and a snapshot it accepted. */
  rangesHeld(p: RegionPeer): Region[] {
    const out: Region[] = p.initialized ? [p.region] : [];
    const snap = p.raw.pendingSnapshot();
    if (snap) {
      try {
        out.push(snapshotRegion(snap.data));
      } catch {
        /* an undecodable snapshot was refused before it was stepped */
      }
    }
    return out;
  }

  /**
   * Deletes the user keys [start, endKey) (empty end = unbounded) of every data column family
   * except what other initialized local regions own: data is never removed from under another
   * replica hosted here. Each piece is mapped to a family's stored keys by `storedKeyRange`.
   */
  deleteDataExcept(kv: RaftWriteBatch['kv'], selfRegionId: number, start: Uint8Array, endKey: Uint8Array): void {
    for (const [from, to] of this.rangesToDelete(selfRegionId, start, endKey)) {
      for (const cf of this.ctx.dataCfs) {
        const range = storedKeyRange(this.ctx.dataModel, cf, from, to);
        kv.deleteRange(cf, range.start, storedDeleteEnd(range));
      }
    }
  }

  /** The user-key pieces of [start, endKey) no other local region owns; an empty end is unbounded. */
  private rangesToDelete(selfRegionId: number, start: Uint8Array, endKey: Uint8Array): [Uint8Array, Uint8Array][] {
    const others = [...this.ctx.peers.values()]
      .filter((p) => p.regionId !== selfRegionId && p.machine.holdsData && p.initialized && !p.destroyed)
      .map((p) => p.region)
      .sort((a, b) => compareKeys(a.startKey, b.startKey));
    const out: [Uint8Array, Uint8Array][] = [];
    let cursor = start;
    const end = rangeEnd(endKey);
    for (const r of others) {
      if (!rangesOverlap(r, { startKey: cursor, endKey: endKey })) continue;
      if (compareKeys(r.startKey, cursor) > 0) out.push([cursor, r.startKey]);
      if (r.endKey.length === 0) return out;
      if (compareKeys(r.endKey, cursor) > 0) cursor = r.endKey;
      if (compareKeys(cursor, end) >= 0) return out;
    }
    if (compareKeys(cursor, end) < 0) out.push([cursor, endKey]);
    return out;
  }

  // ------------------------------------------------------------------ sending

  /**
   * The leader's Raft wants to send a snapshot (`m` is its MsgSnap to a store `toStoreId`).
   * Called inside the round, before its write: the engine holds exactly what was applied up to
   * `peer.applied`, and the view taken here keeps that state for the whole transfer. The
   * MsgSnap itself leaves once the stream is counted; the outcome is reported to Raft later.
   */
  async sendSnapshot(peer: RegionPeer, m: Message, toStoreId: number): Promise<void> {
    const targetKey = `${peer.regionId}/${m.to}`;
    this.sendingByTarget.get(targetKey)?.abort(false);
    if (this.sending.size >= this.limits.sendingMax) {
      this.status.refused['sendingMax'] = (this.status.refused['sendingMax'] ?? 0) + 1;
      peer.raw.reportSnapshot(m.to, false);
      return;
    }
    const toWitness = peer.region.peers.some((p) => p.id === m.to && p.witness);
    // A snapshot carries the region's pairs in the clear (entries are sealed, a snapshot is
    // not): a store that serves data to provers only sends one only to a store that proved the
    // data key when asked, so a store holding a witness credential gets no data even where PD
    // placed a full replica (data-key-proof.ts). Raft offers the snapshot again later.
    if (!toWitness && peer.regionId !== PD_REGION_ID && this.ctx.dataKeyGate && !this.ctx.dataKeyGate.receiverProven(toStoreId)) {
      this.ctx.countRefused('snapshotToDataKeyUnproven');
      peer.raw.reportSnapshot(m.to, false);
      return;
    }
    const metadata = { index: peer.applied, term: peer.log.term(peer.applied), confState: peer.raw.status().config };
    // Read with `metadata`, in the same step: the switch as of the snapshot's index.
    const dataKeySwitch = peer.dataKeyId > 0 ? { keyId: peer.dataKeyId, index: peer.dataKeySwitchIndex } : undefined;
    const region = structuredClone(peer.region);
    let source: SnapshotSource;
    const own = peer.machine.snapshotPairs();
    if (toWitness) {
      // A witness needs the log and the region's metadata only (TiKV sends it no data either):
      // the snapshot carries the region and no pairs, whatever the region holds.
      source = memorySource(region, own ? [DATA_CF] : [...this.ctx.dataCfs], []);
    } else if (own) {
      source = memorySource(region, [DATA_CF], own.map((p) => ({ cf: 0, ...p })));
    } else {
      const dedup = this.ctx.mutations.snapshotWithoutDedup ? [] : peer.dedup.entries();
      try {
        const model = this.ctx.dataModel;
        source = viewSource(await this.ctx.engine.snapshot(), region, [...this.ctx.dataCfs], dedup, (cf) => storedKeyRange(model, cf, region.startKey, region.endKey));
      } catch (e) {
        // TooManySnapshots, or a closed engine: Raft tries again later.
        if (!(e instanceof StorageError)) throw e;
        peer.raw.reportSnapshot(m.to, false);
        return;
      }
    }
    const id = { storeId: this.ctx.storeId, boot: this.ctx.boot, seq: ++this.sendSeq };
    const t = new SnapshotSend(
      {
        limits: this.limits,
        status: this.status,
        timers: this.ctx.timers,
        send: (rm) => this.send(toStoreId, rm),
        finished: (s, ok) => this.sendFinished(s, ok),
        fatal: (e) => this.ctx.stop(e),
        stopped: () => this.ctx.closed || this.ctx.fatal !== undefined,
      },
      { id, regionId: peer.regionId, regionEpoch: { ...peer.region.epoch }, fromPeerId: peer.peerId, toPeerId: m.to, toStoreId, message: m, metadata, ...(dataKeySwitch ? { dataKeySwitch } : {}) },
      source,
    );
    this.sending.set(snapshotIdKey(id), t);
    this.sendingByTarget.set(targetKey, t);
    this.status.sending = this.sending.size;
    this.ctx.counters.snapshotsGenerated++;
    t.start();
  }

  private sendFinished(t: SnapshotSend, ok: boolean): void {
    this.sending.delete(snapshotIdKey(t.target.id));
    this.status.sending = this.sending.size;
    const targetKey = `${t.target.regionId}/${t.target.toPeerId}`;
    if (this.sendingByTarget.get(targetKey) === t) this.sendingByTarget.delete(targetKey);
    if (!t.reportOutcome || this.ctx.closed || this.ctx.fatal) return;
    const peer = this.ctx.peers.get(t.target.regionId);
    if (!peer || peer.destroyed || peer.peerId !== t.target.fromPeerId) return;
    peer.raw.reportSnapshot(t.target.toPeerId, ok);
    this.ctx.wake(peer.regionId);
    this.ctx.schedule();
  }

  // ------------------------------------------------------------------ receiving

  /**
   * A MsgSnap for `peer`: 'step' when Raft may see it now (an inline snapshot of an older peer
   * that overlaps nothing here), 'held' when its chunks are awaited (stepped once complete),
   * 'drop' otherwise (undecodable or overlapping: the leader retries).
   */
  admitSnapshot(peer: RegionPeer, rm: RegionMessage): 'step' | 'held' | 'drop' {
    let d: ReturnType<typeof decodeSnapshotData>;
    try {
      d = decodeSnapshotData(rm.message.snapshot!.data);
    } catch {
      this.status.undecodable++;
      return 'drop';
    }
    if (d.format === SNAPSHOT_FORMAT_INLINE) return this.regionOverlapsOthers(peer.regionId, d.payload.region) ? 'drop' : 'step';
    this.receiver.onHeader(peer, rm, d.header);
    return 'held';
  }

  /** A snapshot frame from store `fromStoreId` (the store loop routes every one here). */
  onFrame(fromStoreId: number, rm: RegionMessage): void {
    let f: SnapshotFrame;
    try {
      if (!rm.message.context) throw new Error('no frame');
      f = decodeSnapshotFrame(rm.message.context);
    } catch {
      this.status.undecodable++;
      return;
    }
    if (f.kind === 'request') {
      this.requests.onRequest(fromStoreId, rm, f.index);
      return;
    }
    if (f.kind === 'chunk' || f.kind === 'abort') {
      this.receiver.onFrame(fromStoreId, rm, f);
      return;
    }
    const t = this.sending.get(snapshotIdKey(f.id));
    if (!t || t.target.toStoreId !== fromStoreId) return;
    if (f.kind === 'ack') t.onAck(f.next);
    else t.onReject(f.reason);
  }

  /** A store went away: transfers to it fail now (Raft retries), transfers from it are dropped. */
  onStoreDown(storeId: number): void {
    for (const t of [...this.sending.values()]) if (t.target.toStoreId === storeId) t.abort(true);
    this.receiver.onStoreDown(storeId);
  }

  // ------------------------------------------------------------------ install

  /**
   * Stages a snapshot Raft handed to the round. A chunked snapshot of a data region becomes a
   * pending apply: its Raft state, the region's `applying` state (with the pending-apply
   * record) and the clearing of its range go in this write, its staged stream is applied after
   * it (`startApply`). PD's (from staging) and inline ones are installed whole in this write.
   */
  async stageSnapshotInstall(batch: RaftWriteBatch, peer: RegionPeer, snap: Snapshot): Promise<void> {
    const d = decodeSnapshotData(snap.data);
    let contents: SnapshotContents;
    if (d.format === SNAPSHOT_FORMAT_CHUNKED) {
      // Only a complete, checked, staged stream is ever stepped into Raft, and it stays staged until here.
      if (!this.receiver.take(d.header.id)) throw new Error(`snapshot ${snapshotIdKey(d.header.id)} of region ${d.header.region.id} was accepted by Raft but is not staged`);
      if (peer.machine.holdsData) {
        this.stagePendingApply(batch, peer, snap, d.header);
        return;
      }
      contents = await this.applier.readWhole(peer.regionId, d.header);
      stageDropStaged(batch.kv, peer.regionId, d.header.id);
    } else {
      contents = inlineContents(d.payload);
    }
    batch.stageSnapshot(peer.regionId, snap);
    const kv = batch.kv;
    // A machine whose state is not the data column families (PD's) installs it itself.
    if (peer.machine.installSnapshot(batch, peer, contents.pairs, snap.metadata.index)) {
      this.adoptRegion(peer, contents.region);
      kv.put(META_CF, regionStateKey(peer.regionId), encodeRegionState(peer.region, 'normal'));
      this.ctx.counters.snapshotsInstalled++;
      return;
    }
    this.stageClearRange(kv, peer, contents.region);
    for (const p of contents.pairs) kv.put(p.cf, p.key, p.value);
    peer.dedup = DedupTable.from(contents.dedup);
    stageDedupTable(kv, peer.regionId, peer.dedup);
    this.adoptRegion(peer, contents.region);
    kv.put(META_CF, regionStateKey(peer.regionId), encodeRegionState(peer.region, 'normal'));
    peer.applied = snap.metadata.index;
    this.ctx.counters.snapshotsInstalled++;
  }

  /** The round's part of a pending apply (see `stageSnapshotInstall`). */
  private stagePendingApply(batch: RaftWriteBatch, peer: RegionPeer, snap: Snapshot, h: SnapshotHeader): void {
    // A replica whose earlier apply failed asked for this one (at or above the lost one's index): its failure is over.
    const requested = peer.applying?.request !== undefined;
    const requestsSent = this.requests.end(peer, true);
    batch.stageSnapshot(peer.regionId, snap, { requested });
    const kv = batch.kv;
    this.stageClearRange(kv, peer, h.region);
    peer.dedup = new DedupTable();
    this.adoptRegion(peer, h.region);
    const pending = { index: snap.metadata.index, term: snap.metadata.term, data: snap.data };
    kv.put(META_CF, regionStateKey(peer.regionId), encodeRegionState(peer.region, 'applying'));
    kv.put(META_CF, pendingApplyKey(peer.regionId), encodePendingApply(pending));
    this.stageDataKeySwitch(kv, peer, h);
    peer.applied = snap.metadata.index;
    peer.applying = { ...pending, task: undefined, ...(requested ? { requestsSentBefore: requestsSent } : {}) };
    this.status.appliesStarted++;
  }

  /**
   * Installs the region's data-key switch the snapshot carries (only forward), in the write
   * that installs the snapshot: the replica's log now starts past the switch entry, so without
   * it a replica built from a snapshot would disagree with the others at the same index, and
   * seal with its store's older key once it leads.
   */
  private stageDataKeySwitch(kv: RaftWriteBatch['kv'], peer: RegionPeer, h: SnapshotHeader): void {
    const sw = h.dataKeySwitch;
    if (!sw || sw.keyId <= peer.dataKeyId || this.ctx.mutations.snapshotWithoutDataKeySwitch) return;
    installDataKeySwitch(peer, kv, this.ctx.entryCipher, sw.keyId, sw.index);
  }

  /** Clears the replica's old range and the snapshot's range (every data cf, but what other local regions own) and its dedup records. */
  private stageClearRange(kv: RaftWriteBatch['kv'], peer: RegionPeer, region: Region): void {
    if (peer.initialized) this.deleteDataExcept(kv, peer.regionId, peer.region.startKey, peer.region.endKey);
    this.deleteDataExcept(kv, peer.regionId, region.startKey, region.endKey);
    const prefix = dedupPrefix(peer.regionId);
    kv.deleteRange(META_CF, prefix, prefixEnd(prefix));
  }

  private adoptRegion(peer: RegionPeer, region: Region): void {
    peer.region = region;
    for (const p of region.peers) this.ctx.peerStores.record(p.id, p.storeId);
  }

  /** Starts the apply of a snapshot whose `applying` state the round's write made durable (not one that failed). */
  startApply(peer: RegionPeer): void {
    if (peer.applying?.failed === undefined) this.applier.start(peer, false);
  }

  /**
   * In a round, before `peer`'s Ready is looked at: a replica whose apply failed (the failure
   * woke it) asks its leader for a new snapshot (snapshot-request.ts) and takes Readies again.
   */
  maybeRequestSnapshot(peer: RegionPeer): void {
    const a = peer.applying;
    if (!peer.destroyed && a?.failed !== undefined && !a.request && !a.damaged) this.requests.begin(peer);
  }

  /** `peer` is being destroyed: waits until its apply (if any) stopped writing, and stops its requests. */
  stopApply(peer: RegionPeer): Promise<void> {
    this.requests.end(peer, false);
    return this.applier.onDestroy(peer);
  }

  /**
   * At open: resumes the pending apply of every region loaded in `applying` state, and drops
   * staged chunks no pending apply owns (transfers a restart forgot).
   */
  async resumeApplies(): Promise<void> {
    const keep: { regionId: number; id: SnapshotHeader['id'] }[] = [];
    for (const peer of this.ctx.peers.values()) {
      const a = peer.applying;
      if (!a || a.failed) continue;
      const header = pendingApplyHeader(a);
      if (typeof header === 'string') a.failed = header;
      else keep.push({ regionId: peer.regionId, id: header.id });
    }
    await dropOrphanedStaging(this.ctx.engine, keep, { durability: this.ctx.opts.durability });
    for (const peer of this.ctx.peers.values()) if (peer.applying) this.applier.start(peer, true);
  }
}
