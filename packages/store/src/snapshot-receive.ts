/**
 * Incoming snapshot transfers (TiKV's snapshot receiver and `SnapManager` limits, scaled
 * down). A leader's MsgSnap carries only the header; it is held here while the chunks
 * arrive, in order, into a bounded staging area, and stepped into Raft only once the whole
 * stream arrived and matched the header (length, checksum, counts, order, range). Raft then
 * holds the snapshot until the round installs it, taking the staged contents (`take`).
 *
 * Nothing partial or mixed is ever installed: chunks are filed by snapshot id and accepted
 * only in sequence from the sending store; a lost, duplicated or reordered chunk is dropped
 * and the cumulative ack tells the sender where to resume; a transfer whose chunks stop
 * coming is dropped after `receiveTimeoutMs`; a newer snapshot of the region supersedes an
 * older one still arriving; a restart forgets everything (the sender's chunks are then
 * refused as `Unknown`). Every refusal is sent back, so the leader reports the failure to
 * Raft and retries.
 */
import type { Region } from '@peerkv/pd';
import type { Clock, RegionMessage } from '@peerkv/transport';
import type { SnapshotTransferLimits, SnapshotTransferStatus } from './options.ts';
import { storedKeyRange, type StoredKeyRange } from './data-model.ts';
import type { DataModel } from './keys.ts';
import { PD_REGION_ID } from './pd-host.ts';
import type { RegionPeer } from './peer.ts';
import { SNAPSHOT_CHUNK_BYTES_LIMIT, SNAPSHOT_CHUNKS_MAX, chunkCount, decodeSnapshotData, decodeSnapshotStream, snapshotIdKey, type SnapshotContents, type SnapshotHeader, type SnapshotId } from './snapshot.ts';
import { snapshotFrameMessage, type SnapshotFrame, type SnapshotRefusal } from './snapshot-frames.ts';

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
  chunks: Uint8Array[];
  next: number;
  total: number;
  timer: unknown;
  contents?: SnapshotContents;
}

/** What the receiver needs from its store. */
export interface ReceiveEnv {
  limits: SnapshotTransferLimits;
  status: SnapshotTransferStatus;
  dataCfs: readonly string[];
  /** What the data column families hold: a pair is checked in its region by `storedKeyRange`. */
  dataModel: DataModel;
  timers: Pick<Clock, 'setTimeout' | 'clearTimeout'>;
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
    const r: Receiving = { key, header: h, msg: rm, fromStoreId, state: 'receiving', chunks: [], next: 0, total: chunkCount(h), timer: undefined };
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
    if (r.state !== 'receiving' || f.seq !== r.next) {
      this.env.status.chunksIgnored++;
      this.reply(fromStoreId, rm, { kind: 'ack', id: f.id, next: r.state === 'receiving' ? r.next : r.total });
      return;
    }
    const h = r.header;
    const want = f.seq === r.total - 1 ? h.bytes - (r.total - 1) * h.chunkBytes : h.chunkBytes;
    if (f.data.length !== want) {
      this.fail(r, 'Corrupt');
      return;
    }
    r.chunks.push(f.data);
    r.next++;
    this.env.status.chunksReceived++;
    this.env.status.bytesReceived += f.data.length;
    this.arm(r);
    if (r.next === r.total) this.complete(r);
    else this.reply(fromStoreId, rm, { kind: 'ack', id: f.id, next: r.next });
  }

  /** Every chunk arrived: check the stream, then step the held MsgSnap into Raft. */
  private complete(r: Receiving): void {
    const stream = concat(r.chunks, r.header.bytes);
    r.chunks = [];
    let contents: SnapshotContents;
    try {
      const region = r.header.region;
      const rangeOf = (cf: string): StoredKeyRange => storedKeyRange(this.env.dataModel, cf, region.startKey, region.endKey);
      contents = decodeSnapshotStream(r.header, stream, r.msg.regionId === PD_REGION_ID ? {} : { rangeOf });
    } catch {
      this.fail(r, 'Corrupt');
      return;
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
    r.contents = contents;
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

  /** The contents of an accepted snapshot, for the round that installs it (then forgotten). */
  take(id: SnapshotId): SnapshotContents | undefined {
    const r = this.byKey.get(snapshotIdKey(id));
    if (!r || r.state !== 'accepted') return undefined;
    this.drop(r);
    return r.contents;
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

  private drop(r: Receiving): void {
    this.env.timers.clearTimeout(r.timer);
    this.byKey.delete(r.key);
    r.chunks = [];
    this.gauge();
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

function concat(chunks: Uint8Array[], bytes: number): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(bytes);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}
