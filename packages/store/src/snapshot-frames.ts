/**
 * The snapshot transfer's own messages (TiKV sends snapshot chunks on a stream beside its Raft
 * messages; here they ride the store transport beside them): chunks from the sender, cumulative
 * acknowledgements and refusals from the receiver, an abort from the sender. Paired
 * `encodeSnapshotFrame`/`decodeSnapshotFrame`; the first varUint is the frame kind, an unknown
 * kind throws.
 *
 * Carrier: a `RegionMessage` whose Raft message has type `MsgSnapStatus` and the frame in
 * `context`. `MsgSnapStatus` is local to a Raft node (the transport codec carries it, Raft never
 * sends it and `RawNode.step` refuses it), so a frame can never be mistaken for Raft traffic:
 * the store loop hands every such message to the snapshot worker before anything is stepped.
 * Routing (store, region, peer ids) stays in the envelope, as for Raft messages.
 */
import type { RegionEpoch } from '@peerkv/pd';
import type { Message } from '@peerkv/raft';
import { ByteReader, ByteWriter, type RegionMessage } from '@peerkv/transport';
import { SNAPSHOT_CHUNK_BYTES_LIMIT, SnapshotDecodeError, type SnapshotId } from './snapshot.ts';

/** Why a receiver refused or dropped a transfer: a closed list. */
export const SNAPSHOT_REFUSALS = [
  /** The stream is larger than the receiver's `snapshotBytesMax` (or its chunks than the protocol allows). */
  'TooLarge',
  /** The receiver already receives `receivingMax` snapshots. */
  'TooManyReceiving',
  /** The snapshot's range overlaps another replica hosted by the receiver. */
  'Overlap',
  /** A transfer of a newer snapshot of the region is under way. */
  'Stale',
  /** A newer snapshot of the region replaced this one. */
  'Superseded',
  /** A chunk or the assembled stream does not match the header. */
  'Corrupt',
  /** The receiver knows no such transfer (it restarted, or dropped it). */
  'Unknown',
  /** No chunk arrived within the receive timeout. */
  'Timeout',
  /** The receiving replica is gone or was replaced. */
  'PeerGone',
  /** The stream names a column family the receiver does not hold data in. */
  'UnknownColumnFamily',
] as const;

/** Why a receiver refused or dropped a transfer. */
export type SnapshotRefusal = (typeof SNAPSHOT_REFUSALS)[number];

/** One message of a snapshot transfer. */
export type SnapshotFrame =
  /** Sender → receiver: chunk `seq` (from 0) of the stream. */
  | { kind: 'chunk'; id: SnapshotId; seq: number; data: Uint8Array }
  /** Receiver → sender: every chunk below `next` arrived (after the header: `next` 0). */
  | { kind: 'ack'; id: SnapshotId; next: number }
  /** Receiver → sender: the transfer is refused or dropped; nothing of it is installed. */
  | { kind: 'reject'; id: SnapshotId; reason: SnapshotRefusal }
  /** Sender → receiver: the sender gave up (or a newer snapshot replaced it): drop what arrived. */
  | { kind: 'abort'; id: SnapshotId }
  /**
   * A replica → its leader: the snapshot `id` it accepted at `index` was lost before it was
   * applied (its staged stream gone or corrupt; `id` all zero when even that is unknown); send
   * one at or above `index` (raft-rs `request_snapshot`; the leader calls
   * `RawNode.handleSnapshotRequest`).
   */
  | { kind: 'request'; id: SnapshotId; index: number };

const KINDS = ['chunk', 'ack', 'reject', 'abort', 'request'] as const;

/** The Raft message type that carries snapshot frames (see the module header). */
export const SNAPSHOT_FRAME_CARRIER = 'MsgSnapStatus' as const;

/** Encodes one frame (the first varUint is its kind). */
export function encodeSnapshotFrame(f: SnapshotFrame): Uint8Array {
  const w = new ByteWriter(f.kind === 'chunk' ? f.data.length + 32 : 32);
  w.varUint(KINDS.indexOf(f.kind));
  w.varUint(f.id.storeId);
  w.varUint(f.id.boot);
  w.varUint(f.id.seq);
  switch (f.kind) {
    case 'chunk':
      w.varUint(f.seq);
      w.bytes(f.data);
      break;
    case 'ack':
      w.varUint(f.next);
      break;
    case 'reject':
      w.varUint(SNAPSHOT_REFUSALS.indexOf(f.reason));
      break;
    case 'abort':
      break;
    case 'request':
      w.varUint(f.index);
      break;
  }
  return w.finish();
}

/** Decodes one frame; throws `SnapshotDecodeError` only. */
export function decodeSnapshotFrame(bytes: Uint8Array): SnapshotFrame {
  try {
    const r = new ByteReader(bytes);
    const kind = KINDS[r.varUint()];
    if (kind === undefined) throw new SnapshotDecodeError('Malformed', 'unknown snapshot frame kind');
    const id = { storeId: r.varUint(), boot: r.varUint(), seq: r.varUint() };
    let f: SnapshotFrame;
    switch (kind) {
      case 'chunk':
        f = { kind, id, seq: r.varUint(), data: r.bytes(SNAPSHOT_CHUNK_BYTES_LIMIT, 'chunk bytes') };
        break;
      case 'ack':
        f = { kind, id, next: r.varUint() };
        break;
      case 'reject': {
        const reason = SNAPSHOT_REFUSALS[r.varUint()];
        if (reason === undefined) throw new SnapshotDecodeError('Malformed', 'unknown refusal');
        f = { kind, id, reason };
        break;
      }
      case 'abort':
        f = { kind, id };
        break;
      case 'request':
        f = { kind, id, index: r.varUint() };
        break;
    }
    r.end('snapshot frame');
    return f;
  } catch (e) {
    if (e instanceof SnapshotDecodeError) throw e;
    throw new SnapshotDecodeError('Malformed', (e as Error).message);
  }
}

/** Whether a region message carries a snapshot frame. */
export function isSnapshotFrameMessage(rm: RegionMessage): boolean {
  return rm.message.type === SNAPSHOT_FRAME_CARRIER;
}

/** A frame wrapped for the store transport, from peer `from` to peer `to` of region `regionId`. */
export function snapshotFrameMessage(regionId: number, regionEpoch: RegionEpoch, from: number, to: number, f: SnapshotFrame): RegionMessage {
  const message: Message = { type: SNAPSHOT_FRAME_CARRIER, to, from, term: 0, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, context: encodeSnapshotFrame(f) };
  return { regionId, regionEpoch: { ...regionEpoch }, message };
}
