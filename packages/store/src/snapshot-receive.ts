/**
 * Incoming snapshot transfers (TiKV's snapshot receiver and `SnapManager` limits, scaled
 * down). A leader's MsgSnap carries only the header; it is held here while the chunks
 * arrive, in order. Each chunk is checked as it arrives (`SnapshotStreamReader`: order,
 * range, counts; length and checksum at the last one) and staged on disk
 * (snapshot-stage.ts): the chunks waiting while a staging write is in flight go in the next
 * one together. A transfer holds at most `stagingBufferBytesMax` not yet staged (a chunk
 * beyond it is ignored, so the sender resends it), never the whole stream. Once every chunk
 * is staged, the MsgSnap is stepped into Raft (and the last chunk acknowledged); Raft then
 * holds the snapshot until the round takes it (`take`) and the region's pending apply reads
 * the staged stream back.
 *
 * Nothing partial or mixed is ever installed: chunks are filed by snapshot id and accepted
 * only in sequence from the sending store; a lost, duplicated or reordered chunk is dropped
 * and the cumulative ack (of chunks taken) tells the sender where to resume; a transfer
 * whose chunks stop coming is dropped after `receiveTimeoutMs`; a newer snapshot of the
 * region supersedes an older one still arriving; a restart forgets every transfer (the
 * sender's chunks are then refused as `Unknown`, and their staged chunks are removed when the
 * store opens). A dropped transfer's staged chunks are removed after its last staging write.
 * Every refusal is sent back, so the leader reports the failure to Raft and retries.
 */
import type { Region } from '@peerkv/pd';
import type { Clock, RegionMessage } from '@peerkv/transport';
import type { SnapshotTransferLimits, SnapshotTransferStatus } from './options.ts';
import type { DataModel } from './keys.ts';
import type { RegionPeer } from './peer.ts';
import { SNAPSHOT_CHUNK_BYTES_LIMIT, SNAPSHOT_CHUNKS_MAX, SnapshotStreamReader, chunkCount, decodeSnapshotData, snapshotIdKey, snapshotRangeOf, type SnapshotHeader, type SnapshotId } from './snapshot.ts';
import { snapshotFrameMessage, type SnapshotFrame, type SnapshotRefusal } from './snapshot-frames.ts';
import type { SnapshotStaging } from './snapshot-stage.ts';

/** Finished transfers remembered, so late duplicates get the same answer (oldest forgotten first). */
const FINISHED_REMEMBERED_MAX = 256;

interface Receiving {
  key: string;
  header: SnapshotHeader;
  /** The held MsgSnap (stepped once complete). */
  msg: RegionMessage;
  fromStoreId: number;
  /** `receiving`: chunks arriving; `accepted`: stepped into Raft, waiting for the round to install it. */
  state: 'receiving' | 'accepted';
  /** Checks the stream as its chunks arrive. */
  reader: SnapshotStreamReader;
  /** Chunks taken (checked; staged, or waiting for or in a staging write): what the acks report. */
  next: number;
  /** Chunks staged on disk. */
  staged: number;
  /** Chunks taken and not yet in a staging write. */
  buffer: { seq: number; data: Uint8Array }[];
  /** Bytes taken and not yet staged (the buffer and the write in flight). */
  unstagedBytes: number;
  /** A staging write is in flight. */
  writing: boolean;
  total: number;
  timer: unknown;
  /** This transfer's staging writes (then the removal of its chunks), in order. */
  io: Promise<void>;
  /** Forgotten by the receiver: its staging writes still in flight finish, nothing more. */
  dropped: boolean;
}

/** What the receiver needs from its store. */
export interface ReceiveEnv {
  limits: SnapshotTransferLimits;
  status: SnapshotTransferStatus;
  dataCfs: readonly string[];
  /** What the data column families hold: a pair is checked in its region by `storedKeyRange`. */
  dataModel: DataModel;
  timers: Pick<Clock, 'setTimeout' | 'clearTimeout'>;
  /** Where chunks are staged. */
  staging: SnapshotStaging;
  /** Whether the store closed or stopped (a failed staging write is then expected). */
  stopped(): boolean;
  /** A staging write failed while the store runs: the store stops, visibly (`status().stoppedReason`). */
  fatal(e: unknown): void;
  send(toStoreId: number, rm: RegionMessage): void;
  peer(regionId: number): RegionPeer | undefined;
  /** Whether `region` overlaps another replica hosted here. */
  overlaps(regionId: number, region: Region): boolean;
  /** Steps a complete snapshot's MsgSnap into its peer. */
  step(peer: RegionPeer, rm: RegionMessage): void;
}

/** Every incoming transfer of one store (see the module header). */
export class SnapshotReceiver {
  private readonly byKey = new Map<string, Receiving>();
  private readonly finished = new Map<string, { ok: true; total: number } | { ok: false; reason: SnapshotRefusal }>();

  constructor(private readonly env: ReceiveEnv) {}

  /** A chunked snapshot's MsgSnap for `peer`: start receiving it, or answer what is known of it. */
  onHeader(peer: RegionPeer, rm: RegionMessage, h: SnapshotHeader): void {
    const key = snapshotIdKey(h.id);
    const fromStoreId = h.id.storeId;
    const fin = this.finished.get(key);
    if (fin) {
      this.reply(fromStoreId, rm, fin.ok ? { kind: 'ack', id: h.id, next: fin.total } : { kind: 'reject', id: h.id, reason: fin.reason });
      return;
    }
    const cur = this.byKey.get(key);
    if (cur) {
      this.reply(fromStoreId, rm, { kind: 'ack', id: h.id, next: cur.next });
      return;
    }
    const refusal = this.refusal(peer, rm, h);
    if (refusal) {
      this.refuse(key, fromStoreId, rm, h.id, refusal);
      return;
    }
    for (const other of [...this.byKey.values()]) {
      if (other.state === 'receiving' && other.msg.regionId === rm.regionId) this.fail(other, 'Superseded');
    }
    const r: Receiving = {
      key,
      header: h,
      msg: rm,
      fromStoreId,
      state: 'receiving',
      reader: new SnapshotStreamReader(h, snapshotRangeOf(this.env.dataModel, rm.regionId, h.region)),
      next: 0,
      staged: 0,
      buffer: [],
      unstagedBytes: 0,
      writing: false,
      total: chunkCount(h),
      timer: undefined,
      io: Promise.resolve(),
      dropped: false,
    };
    this.byKey.set(key, r);
    this.env.status.receivesStarted++;
    this.gauge();
    this.arm(r);
    if (r.total === 0) this.complete(r);
    else this.reply(fromStoreId, rm, { kind: 'ack', id: h.id, next: 0 });
  }

  private refusal(peer: RegionPeer, rm: RegionMessage, h: SnapshotHeader): SnapshotRefusal | undefined {
    if (h.cfs.some((cf) => !this.env.dataCfs.includes(cf))) return 'UnknownColumnFamily';
    if (h.bytes > this.env.limits.snapshotBytesMax || h.chunkBytes > SNAPSHOT_CHUNK_BYTES_LIMIT || chunkCount(h) > SNAPSHOT_CHUNKS_MAX) return 'TooLarge';
    if (this.env.overlaps(peer.regionId, h.region)) return 'Overlap';
    const index = rm.message.snapshot!.metadata.index;
    let receiving = 0;
    for (const other of this.byKey.values()) {
      if (other.state !== 'receiving') continue;
      if (other.msg.regionId === rm.regionId) {
        if (other.msg.message.snapshot!.metadata.index > index) return 'Stale';
        continue; // superseded by this one
      }
      receiving++;
    }
    if (receiving >= this.env.limits.receivingMax) return 'TooManyReceiving';
    return undefined;
  }

  /** A chunk (or an abort) from `fromStoreId`. */
  onFrame(fromStoreId: number, rm: RegionMessage, f: SnapshotFrame & { kind: 'chunk' | 'abort' }): void {
    const key = snapshotIdKey(f.id);
    const r = this.byKey.get(key);
    if (f.kind === 'abort') {
      if (r && r.state === 'receiving' && r.fromStoreId === fromStoreId) this.fail(r, 'Superseded', false);
      return;
    }
    if (!r) {
      this.env.status.chunksIgnored++;
      const fin = this.finished.get(key);
      if (!fin) this.env.status.refused['Unknown'] = (this.env.status.refused['Unknown'] ?? 0) + 1;
      this.reply(fromStoreId, rm, fin?.ok ? { kind: 'ack', id: f.id, next: fin.total } : { kind: 'reject', id: f.id, reason: fin?.ok === false ? fin.reason : 'Unknown' });
      return;
    }
    if (r.fromStoreId !== fromStoreId) return;
    // Out of sequence, or too much not yet staged (the sender resends it).
    const full = r.unstagedBytes > 0 && r.unstagedBytes + f.data.length > this.env.limits.stagingBufferBytesMax;
    if (r.state !== 'receiving' || f.seq !== r.next || full) {
      this.env.status.chunksIgnored++;
      // All taken but not yet staged and stepped: the last chunk stays unacknowledged until then.
      this.reply(fromStoreId, rm, { kind: 'ack', id: f.id, next: r.state === 'receiving' ? Math.min(r.next, r.total - 1) : r.total });
      return;
    }
    const h = r.header;
    const want = f.seq === r.total - 1 ? h.bytes - (r.total - 1) * h.chunkBytes : h.chunkBytes;
    try {
      if (f.data.length !== want) throw new Error(`chunk of ${f.data.length} bytes, want ${want}`);
      r.reader.push(f.data);
      if (f.seq === r.total - 1) r.reader.finish();
    } catch {
      this.fail(r, 'Corrupt');
      return;
    }
    r.next++;
    this.env.status.chunksReceived++;
    this.env.status.bytesReceived += f.data.length;
    r.buffer.push({ seq: f.seq, data: f.data });
    r.unstagedBytes += f.data.length;
    this.arm(r);
    if (!r.writing) this.stage(r);
    // The last chunk is acknowledged once the whole stream is staged and stepped (`complete`).
    if (r.next < r.total) this.reply(fromStoreId, rm, { kind: 'ack', id: f.id, next: r.next });
  }

  /** Writes every buffered chunk in one staging write, then the next batch, or completes the transfer. */
  private stage(r: Receiving): void {
    const chunks = r.buffer.splice(0);
    const bytes = chunks.reduce((n, c) => n + c.data.length, 0);
    r.writing = true;
    r.io = r.io.then(async () => {
      if (r.dropped) return;
      try {
        await this.env.staging.putChunks(r.msg.regionId, r.header.id, chunks);
      } catch (e) {
        if (!this.env.stopped()) this.env.fatal(e);
        return;
      }
      if (r.dropped) return;
      r.writing = false;
      r.staged = chunks[chunks.length - 1].seq + 1;
      r.unstagedBytes -= bytes;
      this.env.status.chunksStaged += chunks.length;
      if (r.staged === r.total) this.complete(r);
      else if (r.buffer.length > 0) this.stage(r);
    });
  }

  /** Every chunk was checked and staged: step the held MsgSnap into Raft. */
  private complete(r: Receiving): void {
    if (r.total === 0) {
      try {
        r.reader.finish();
      } catch {
        this.fail(r, 'Corrupt');
        return;
      }
    }
    const peer = this.env.peer(r.msg.regionId);
    if (!peer || peer.destroyed || peer.peerId !== r.msg.message.to) {
      this.fail(r, 'PeerGone');
      return;
    }
    if (this.env.overlaps(peer.regionId, r.header.region)) {
      this.fail(r, 'Overlap');
      return;
    }
    r.state = 'accepted';
    this.env.status.receivesCompleted++;
    this.remember(r.key, { ok: true, total: r.total });
    this.gauge();
    this.env.step(peer, r.msg);
    if (this.isPending(r)) {
      // Raft holds one pending snapshot per region: an older accepted one can no longer be installed.
      for (const other of [...this.byKey.values()]) if (other !== r && other.state === 'accepted' && other.msg.regionId === r.msg.regionId) this.drop(other);
      this.arm(r);
    } else {
      this.drop(r); // Raft refused it (stale): its MsgAppResp tells the leader
    }
    this.reply(r.fromStoreId, r.msg, { kind: 'ack', id: r.header.id, next: r.total });
  }

  /** Whether `r`'s snapshot is the one its peer's Raft holds, waiting to be installed. */
  private isPending(r: Receiving): boolean {
    const pending = this.env.peer(r.msg.regionId)?.raw.pendingSnapshot();
    if (!pending) return false;
    try {
      const d = decodeSnapshotData(pending.data);
      return d.format === 3 && snapshotIdKey(d.header.id) === r.key;
    } catch {
      return false;
    }
  }

  /**
   * Hands an accepted snapshot's staged stream to the round that installs it (the receiver
   * forgets it; its staged chunks now belong to the install). False when it is not staged.
   */
  take(id: SnapshotId): boolean {
    const r = this.byKey.get(snapshotIdKey(id));
    if (!r || r.state !== 'accepted') return false;
    this.drop(r, false);
    return true;
  }

  /** Whether a snapshot of `regionId` is arriving (or accepted and not yet installed). */
  isReceiving(regionId: number): boolean {
    for (const r of this.byKey.values()) if (r.msg.regionId === regionId) return true;
    return false;
  }

  /** A store went away: what it was sending will not be completed. */
  onStoreDown(storeId: number): void {
    for (const r of [...this.byKey.values()]) if (r.state === 'receiving' && r.fromStoreId === storeId) this.fail(r, 'Timeout', false);
  }

  private arm(r: Receiving): void {
    this.env.timers.clearTimeout(r.timer);
    r.timer = this.env.timers.setTimeout(() => this.onTimer(r), this.env.limits.receiveTimeoutMs);
  }

  private onTimer(r: Receiving): void {
    if (this.byKey.get(r.key) !== r) return;
    if (r.state === 'receiving') this.fail(r, 'Timeout');
    else if (this.isPending(r)) this.arm(r);
    else this.drop(r); // the peer was replaced or destroyed before installing it
  }

  private fail(r: Receiving, reason: SnapshotRefusal, reply = true): void {
    this.drop(r);
    this.env.status.receivesFailed++;
    this.refuse(r.key, r.fromStoreId, r.msg, r.header.id, reason, reply);
  }

  private refuse(key: string, toStoreId: number, rm: RegionMessage, id: SnapshotId, reason: SnapshotRefusal, reply = true): void {
    this.env.status.refused[reason] = (this.env.status.refused[reason] ?? 0) + 1;
    this.remember(key, { ok: false, reason });
    if (reply) this.reply(toStoreId, rm, { kind: 'reject', id, reason });
  }

  /** Forgets a transfer; its staged chunks are removed after its last staging write, unless handed to an install. */
  private drop(r: Receiving, dropStaged = true): void {
    this.env.timers.clearTimeout(r.timer);
    if (this.byKey.get(r.key) === r) this.byKey.delete(r.key);
    r.dropped = true;
    this.gauge();
    if (!dropStaged) return;
    r.io = r.io.then(() =>
      this.env.staging.drop(r.msg.regionId, r.header.id).catch((e: unknown) => {
        if (!this.env.stopped()) this.env.fatal(e);
      }),
    );
  }

  private remember(key: string, v: { ok: true; total: number } | { ok: false; reason: SnapshotRefusal }): void {
    this.finished.delete(key);
    this.finished.set(key, v);
    if (this.finished.size > FINISHED_REMEMBERED_MAX) this.finished.delete(this.finished.keys().next().value!);
  }

  private gauge(): void {
    let n = 0;
    for (const r of this.byKey.values()) if (r.state === 'receiving') n++;
    this.env.status.receiving = n;
  }

  /** Answers the sender of `rm` (a MsgSnap or a frame): from its target peer back to its source peer. */
  private reply(toStoreId: number, rm: RegionMessage, f: SnapshotFrame): void {
    this.env.send(toStoreId, snapshotFrameMessage(rm.regionId, rm.regionEpoch, rm.message.to, rm.message.from, f));
  }
}
