/**
 * One outgoing snapshot transfer (TiKV's snapshot sender, scaled down). The stream is read
 * twice from ONE engine snapshot view taken in the round that generated it (so every column
 * family is as of `peer.applied`): once to count its pairs, bytes and checksum for the header,
 * then again to cut it into chunks as the receiver asks for them.
 *
 *   count ──► offer (MsgSnap with the header) ──ack 0──► stream ──ack n = total──► done
 *                │ no ack: offer again                    │ no progress: send the unacknowledged chunks again
 *                └───────────── reject / resends exhausted / abort ──────────────► failed
 *
 * Flow control: at most `chunksInflightMax` chunks are unacknowledged; they are kept (to send
 * again) and nothing more is read until an ack frees room, so the sender holds at most
 * `chunksInflightMax × chunkBytesMax` bytes. Acks are cumulative (go-back-N).
 */
import type { Region } from '@peerkv/pd';
import type { Message, SnapshotMetadata } from '@peerkv/raft';
import { StorageError, crc32c, type KvSnapshot } from '@peerkv/storage';
import type { Clock, RegionMessage } from '@peerkv/transport';
import { ByteWriter } from '@peerkv/transport';
import type { StoredKeyRange } from './data-model.ts';
import type { DedupEntry } from './dedup.ts';
import type { SnapshotTransferLimits, SnapshotTransferStatus } from './options.ts';
import { chunkCount, encodeSnapshotHeader, writeStreamDedup, writeStreamPair, type DataKeySwitch, type SnapshotHeader, type SnapshotId } from './snapshot.ts';
import { snapshotFrameMessage, type SnapshotFrame, type SnapshotRefusal } from './snapshot-frames.ts';

/** One encoded stream item. */
interface StreamItem {
  pair: boolean;
  bytes: Uint8Array;
}

/** What a snapshot's stream is read from. `items()` may be called twice and yields the same each time. */
export interface SnapshotSource {
  region: Region;
  cfs: string[];
  items(): AsyncIterable<StreamItem>;
  release(): Promise<void>;
}

/**
 * A data region's stream: every data column family of its range from one engine view, then its
 * dedup table. `rangeOf` maps the region's user-key bounds to a family's stored keys
 * (data-model.ts' `storedKeyRange`).
 */
export function viewSource(view: KvSnapshot, region: Region, cfs: string[], dedup: DedupEntry[], rangeOf: (cf: string) => StoredKeyRange): SnapshotSource {
  return {
    region,
    cfs,
    async *items() {
      for (let i = 0; i < cfs.length; i++) {
        for await (const kv of view.scan(cfs[i], rangeOf(cfs[i]))) {
          const w = new ByteWriter(kv.key.length + kv.value.length + 16);
          writeStreamPair(w, i, kv.key, kv.value);
          yield { pair: true, bytes: w.finish() };
        }
      }
      for (const d of dedup) {
        const w = new ByteWriter();
        writeStreamDedup(w, d);
        yield { pair: false, bytes: w.finish() };
      }
    },
    release: () => view.release(),
  };
}

/** A stream of pairs held in memory (PD's group: its state machine is one value). */
export function memorySource(region: Region, cfs: string[], pairs: { cf: number; key: Uint8Array; value: Uint8Array }[]): SnapshotSource {
  return {
    region,
    cfs,
    async *items() {
      for (const p of pairs) {
        const w = new ByteWriter(p.key.length + p.value.length + 16);
        writeStreamPair(w, p.cf, p.key, p.value);
        yield { pair: true, bytes: w.finish() };
      }
    },
    release: () => Promise.resolve(),
  };
}

/** Cuts a stream into chunks of exactly `chunkBytes` (the last one shorter). */
async function* chunksOf(items: AsyncIterable<StreamItem>, chunkBytes: number): AsyncGenerator<Uint8Array> {
  let buf = new Uint8Array(chunkBytes);
  let used = 0;
  for await (const it of items) {
    let off = 0;
    while (off < it.bytes.length) {
      const n = Math.min(chunkBytes - used, it.bytes.length - off);
      buf.set(it.bytes.subarray(off, off + n), used);
      used += n;
      off += n;
      if (used === chunkBytes) {
        yield buf;
        buf = new Uint8Array(chunkBytes);
        used = 0;
      }
    }
  }
  if (used > 0) yield buf.slice(0, used);
}

/** What a transfer needs from its store. */
export interface SendEnv {
  limits: SnapshotTransferLimits;
  status: SnapshotTransferStatus;
  timers: Pick<Clock, 'setTimeout' | 'clearTimeout'>;
  /** Sends to the receiving store. */
  send(rm: RegionMessage): void;
  /** The transfer ended (exactly once): tell Raft (unless superseded) and forget it. */
  finished(t: SnapshotSend, ok: boolean): void;
  /** An unexpected error (a bug): the store stops. */
  fatal(e: unknown): void;
  /** The store closed or stopped: the transfer ends at its next timer, releasing its view. */
  stopped(): boolean;
}

/** Where a transfer goes and what it carries. */
export interface SendTarget {
  id: SnapshotId;
  regionId: number;
  regionEpoch: Region['epoch'];
  fromPeerId: number;
  toPeerId: number;
  toStoreId: number;
  /** The leader's MsgSnap (its `snapshot` is replaced by ours). */
  message: Message;
  metadata: SnapshotMetadata;
  /** The region's data-key switch as of `metadata.index` (`SnapshotHeader.dataKeySwitch`). */
  dataKeySwitch?: DataKeySwitch;
}

/** One outgoing transfer (see the module header for its states). */
export class SnapshotSend {
  private header: SnapshotHeader | undefined;
  private chunks: AsyncIterator<Uint8Array> | undefined;
  private total = 0;
  /** Chunks below this were acknowledged. */
  private acked = 0;
  /** Chunks below this were read and sent; `window` holds [acked, sent). */
  private sent = 0;
  private window: Uint8Array[] = [];
  private offered = false;
  private streaming = false;
  private pumping = false;
  private resends = 0;
  private timer: unknown;
  done = false;
  /** Whether the outcome is reported to Raft (not when a newer transfer to the target replaced this one). */
  reportOutcome = true;

  constructor(
    private readonly env: SendEnv,
    readonly target: SendTarget,
    private readonly source: SnapshotSource,
  ) {}

  /** Counts the stream, then offers the header. */
  start(): void {
    this.env.status.sendsStarted++;
    void this.count().catch((e) => this.onError(e));
  }

  private async count(): Promise<void> {
    let bytes = 0;
    let crc = 0;
    let pairs = 0;
    let dedupEntries = 0;
    for await (const it of this.source.items()) {
      if (this.done) return;
      bytes += it.bytes.length;
      crc = crc32c(it.bytes, crc);
      if (it.pair) pairs++;
      else dedupEntries++;
    }
    if (this.done) return;
    const chunkBytes = this.env.limits.chunkBytesMax;
    const sw = this.target.dataKeySwitch;
    this.header = { id: this.target.id, region: this.source.region, cfs: this.source.cfs, pairs, dedupEntries, bytes, chunkBytes, crc, ...(sw ? { dataKeySwitch: sw } : {}) };
    this.total = chunkCount(this.header);
    this.chunks = chunksOf(this.source.items(), chunkBytes)[Symbol.asyncIterator]();
    this.offered = true;
    this.offer();
    this.arm();
  }

  private offer(): void {
    const t = this.target;
    const message: Message = { ...t.message, snapshot: { data: encodeSnapshotHeader(this.header!), metadata: t.metadata } };
    this.env.send({ regionId: t.regionId, regionEpoch: { ...t.regionEpoch }, message });
  }

  private frame(f: SnapshotFrame): void {
    const t = this.target;
    this.env.send(snapshotFrameMessage(t.regionId, t.regionEpoch, t.fromPeerId, t.toPeerId, f));
  }

  /** The receiver holds every chunk below `next`. */
  onAck(next: number): void {
    if (this.done || !this.offered || next > this.sent || next < this.acked) return;
    if (next === this.acked && this.streaming) return; // no progress: the resend timer handles loss
    this.window.splice(0, next - this.acked);
    this.acked = next;
    this.streaming = true;
    this.resends = 0;
    this.arm();
    if (this.acked === this.total) {
      this.finish(true);
      return;
    }
    void this.pump().catch((e) => this.onError(e));
  }

  /** The receiver refused or dropped the transfer. */
  onReject(reason: SnapshotRefusal): void {
    if (this.done) return;
    this.env.status.refused[`peer:${reason}`] = (this.env.status.refused[`peer:${reason}`] ?? 0) + 1;
    this.finish(false);
  }

  /** Gives up: tells the receiver to drop what it holds. `report` false when a newer transfer replaced this one. */
  abort(report: boolean): void {
    if (this.done) return;
    this.reportOutcome = report;
    if (this.offered) this.frame({ kind: 'abort', id: this.target.id });
    this.finish(false);
  }

  /** Reads and sends chunks while the window has room. */
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (!this.done && this.sent < this.total && this.sent - this.acked < this.env.limits.chunksInflightMax) {
        const r = await this.chunks!.next();
        if (this.done) return;
        if (r.done) throw new Error(`snapshot stream ended at chunk ${this.sent} of ${this.total}`);
        this.window.push(r.value);
        this.sendChunk(this.sent, r.value);
        this.sent++;
      }
    } finally {
      this.pumping = false;
    }
  }

  private sendChunk(seq: number, data: Uint8Array): void {
    this.env.status.chunksSent++;
    this.env.status.bytesSent += data.length;
    this.frame({ kind: 'chunk', id: this.target.id, seq, data });
  }

  private arm(): void {
    this.env.timers.clearTimeout(this.timer);
    this.timer = this.env.timers.setTimeout(() => this.onTimer(), this.env.limits.resendMs);
  }

  /** No progress for `resendMs`: send again what is unacknowledged, or give up. */
  private onTimer(): void {
    if (this.done) return;
    if (this.env.stopped()) {
      this.abort(false);
      return;
    }
    if (++this.resends > this.env.limits.resendsMax) {
      this.abort(true);
      return;
    }
    if (!this.streaming) {
      this.offer();
    } else {
      for (let i = 0; i < this.window.length; i++) {
        this.env.status.chunksResent++;
        this.sendChunk(this.acked + i, this.window[i]);
      }
    }
    this.arm();
  }

  private onError(e: unknown): void {
    if (this.done) return;
    this.abort(true);
    // The engine went away under the view (a closed store, a crashed disk): only the transfer
    // fails. Anything else is a bug.
    if (!(e instanceof StorageError)) this.env.fatal(e);
  }

  private finish(ok: boolean): void {
    this.done = true;
    this.env.timers.clearTimeout(this.timer);
    this.window = [];
    void this.chunks?.return?.(undefined).catch(() => undefined);
    void this.source.release().catch(() => undefined);
    if (ok) this.env.status.sendsSucceeded++;
    else this.env.status.sendsFailed++;
    this.env.finished(this, ok);
  }
}
