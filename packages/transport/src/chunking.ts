/**
 * Packets: how a frame crosses a link whose messages are size-limited (RTCDataChannel
 * messages over 16 KiB are not portable across browsers). A frame that fits goes as one
 * `whole` packet; a larger one is split into `chunk` packets sent back to back. Links are
 * ordered and reliable and a sender never interleaves two frames, so the reassembler
 * accepts chunks strictly in order and holds at most one frame in flight, bounded by
 * `frameBytesMax` and `pendingChunksMax`. Anything else is a violation: the caller drops
 * the connection and counts it.
 */
import { ByteReader, ByteWriter } from '@peerkv/proto';
import { DecodeError } from './codec/errors.ts';
import type { Frame } from './codec/frame.ts';
import { writeFrame } from './codec/frame.ts';

/** Packet kind byte of a whole frame. */
export const PACKET_WHOLE = 0;
const PACKET_CHUNK = 1;
/** Room reserved for a chunk header: kind byte + three varUints. */
const CHUNK_HEADER_BYTES_MAX = 32;

/** Limits on packets and reassembly. */
export interface ChunkLimits {
  /** Largest packet a link sends, header included (16 KiB for data channels). */
  chunkBytesMax: number;
  /** Largest frame the reassembler accepts. */
  frameBytesMax: number;
  /** Most chunks one frame may be split into (chunks held before the frame completes). */
  pendingChunksMax: number;
}

/** Defaults for data channels. */
export const DEFAULT_CHUNK_LIMITS: Readonly<ChunkLimits> = Object.freeze({
  chunkBytesMax: 16 * 1024,
  frameBytesMax: 16 * 1024 * 1024,
  pendingChunksMax: 2048,
});

/** Why reassembly refused a packet. */
export type ReassemblyViolation = 'Malformed' | 'FrameTooLarge' | 'TooManyChunks' | 'OutOfOrder' | 'SizeMismatch';

/** What one packet produced. */
export type ReassemblyResult =
  | { kind: 'frame'; bytes: Uint8Array }
  | { kind: 'pending' }
  | { kind: 'violation'; reason: ReassemblyViolation };

/** Encodes a frame into one or more packets of at most `chunkBytesMax` bytes. */
export function encodePackets(frame: Frame, chunkBytesMax: number, capacityBytes?: number): Uint8Array[] {
  const w = new ByteWriter(capacityBytes);
  w.u8(PACKET_WHOLE);
  writeFrame(w, frame);
  const whole = w.finish();
  if (whole.length <= chunkBytesMax) return [whole];
  return splitFrame(whole.subarray(1), chunkBytesMax);
}

/** Splits frame bytes into chunk packets. */
export function splitFrame(frame: Uint8Array, chunkBytesMax: number): Uint8Array[] {
  const payloadBytes = chunkBytesMax - CHUNK_HEADER_BYTES_MAX;
  if (payloadBytes <= 0) throw new RangeError(`chunkBytesMax ${chunkBytesMax} too small`);
  const count = Math.ceil(frame.length / payloadBytes);
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const part = frame.subarray(i * payloadBytes, Math.min(frame.length, (i + 1) * payloadBytes));
    const w = new ByteWriter(part.length + CHUNK_HEADER_BYTES_MAX);
    w.u8(PACKET_CHUNK);
    w.varUint(frame.length);
    w.varUint(i);
    w.varUint(count);
    w.raw(part);
    out.push(w.finish());
  }
  return out;
}

/**
 * Per-link reassembly state. Feed packets in arrival order. Memory follows the bytes that
 * actually arrived, never a header's claim: parts are kept as they come and joined once the
 * last one is in, so a lying `frameBytes` costs nothing (`frameBytesMax` still bounds it).
 */
export class Reassembler {
  private parts: Uint8Array[] = [];
  private totalBytes = 0;
  private filledBytes = 0;
  private nextIndex = 0;
  private chunkCount = 0;

  constructor(private readonly limits: ChunkLimits) {}

  /** Chunks held for the frame in progress. */
  get pendingChunks(): number {
    return this.parts.length;
  }

  /** Bytes held for the frame in progress. */
  get pendingBytes(): number {
    return this.filledBytes;
  }

  /** Takes one packet; returns a complete frame, `pending`, or a violation. */
  push(packet: Uint8Array): ReassemblyResult {
    if (packet.length === 0) return { kind: 'violation', reason: 'Malformed' };
    if (packet.length > this.limits.chunkBytesMax && packet[0] === PACKET_CHUNK) {
      return { kind: 'violation', reason: 'Malformed' };
    }
    if (packet[0] === PACKET_WHOLE) {
      if (this.chunkCount !== 0) return { kind: 'violation', reason: 'OutOfOrder' };
      if (packet.length - 1 > this.limits.frameBytesMax) return { kind: 'violation', reason: 'FrameTooLarge' };
      return { kind: 'frame', bytes: packet.subarray(1) };
    }
    if (packet[0] !== PACKET_CHUNK) return { kind: 'violation', reason: 'Malformed' };
    try {
      return this.pushChunk(new ByteReader(packet.subarray(1)));
    } catch (e) {
      if (e instanceof DecodeError) return { kind: 'violation', reason: 'Malformed' };
      throw e;
    }
  }

  private pushChunk(r: ByteReader): ReassemblyResult {
    const totalBytes = r.varUint();
    const index = r.varUint();
    const count = r.varUint();
    const part = r.rest();
    if (totalBytes > this.limits.frameBytesMax) return { kind: 'violation', reason: 'FrameTooLarge' };
    if (count > this.limits.pendingChunksMax) return { kind: 'violation', reason: 'TooManyChunks' };
    if (count < 2 || index >= count) return { kind: 'violation', reason: 'Malformed' };
    if (index === 0) {
      if (this.chunkCount !== 0) return { kind: 'violation', reason: 'OutOfOrder' };
      this.totalBytes = totalBytes;
      this.chunkCount = count;
    } else if (this.chunkCount === 0 || index !== this.nextIndex || count !== this.chunkCount || totalBytes !== this.totalBytes) {
      return { kind: 'violation', reason: 'OutOfOrder' };
    }
    return this.append(part, index);
  }

  private append(part: Uint8Array, index: number): ReassemblyResult {
    if (this.filledBytes + part.length > this.totalBytes) return this.reset('SizeMismatch');
    this.parts.push(part);
    this.filledBytes += part.length;
    this.nextIndex = index + 1;
    if (this.nextIndex < this.chunkCount) return { kind: 'pending' };
    if (this.filledBytes !== this.totalBytes) return this.reset('SizeMismatch');
    const buf = new Uint8Array(this.totalBytes);
    let at = 0;
    for (const p of this.parts) {
      buf.set(p, at);
      at += p.length;
    }
    this.reset(null);
    return { kind: 'frame', bytes: buf };
  }

  private reset(reason: ReassemblyViolation): ReassemblyResult;
  private reset(reason: null): null;
  private reset(reason: ReassemblyViolation | null): ReassemblyResult | null {
    this.parts = [];
    this.totalBytes = 0;
    this.filledBytes = 0;
    this.nextIndex = 0;
    this.chunkCount = 0;
    return reason === null ? null : { kind: 'violation', reason };
  }
}
