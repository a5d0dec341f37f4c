/**
 * Region snapshot formats and their limits (Raft treats `Snapshot.data` as opaque).
 *
 * - Format 3 (chunked, current): `data` is a small header (snapshot id, region, data column
 *   families, totals, chunk size, checksum). The region's pairs and dedup records travel apart
 *   as a byte stream cut into chunks (`snapshot-frames.ts`, `snapshot-send.ts`,
 *   `snapshot-receive.ts`), like TiKV's snapshot files sent over its `snapshot` stream.
 * - Format 2 (inline, older peers): `data` holds the region, its `default` pairs and its dedup
 *   table in one byte string. Still accepted (as `default`-only) and used for a new region's
 *   initial, empty snapshot.
 *
 * The stream is a sequence of items, pairs first (column family by column family in header
 * order, keys ascending), then dedup records; `decodeSnapshotStream` checks all of it against
 * the header before anything is stepped into Raft.
 */
import type { Region } from '@peerkv/pd';
import { compareKeys } from '@peerkv/pd';
import { crc32c } from '@peerkv/storage';
import { DecodeError } from '@peerkv/proto';
import { ByteReader, ByteWriter } from '@peerkv/transport';
import { storedKeyRange, type StoredKeyRange } from './data-model.ts';
import { COMMAND_KEY_BYTES_MAX, COMMAND_VALUE_BYTES_MAX, CommandDecodeError, DATA_KEY_COMMAND_ID_MAX, readRegion, writeRegion } from './command.ts';
import { readDedupBody, writeDedupBody, type DedupEntry } from './dedup.ts';
import { CF_NAME_LENGTH_MAX, DATA_CF, DATA_CFS_MAX, type DataModel } from './keys.ts';
import { PD_REGION_ID } from './pd-host.ts';

/** Upper bound of pairs in one region snapshot (regions split long before). */
export const SNAPSHOT_PAIRS_MAX = 4_000_000;
/** Default size of one snapshot chunk, bytes (TiKV sends 1 MiB chunks too). */
export const SNAPSHOT_CHUNK_BYTES_MAX = 1024 * 1024;
/** Largest chunk size a header may declare, bytes: a receiver refuses a header above it. */
export const SNAPSHOT_CHUNK_BYTES_LIMIT = 4 * 1024 * 1024;
/**
 * Most chunks in one snapshot a receiver accepts (bounds the per-chunk bookkeeping of a header
 * declaring tiny chunks; with 1 MiB chunks it is far above `SNAPSHOT_BYTES_MAX`).
 */
export const SNAPSHOT_CHUNKS_MAX = 65_536;
/** Default chunks sent and not yet acknowledged, per transfer (flow control). */
export const SNAPSHOT_CHUNKS_INFLIGHT_MAX = 4;
/**
 * Default largest snapshot stream a store receives, bytes: what one transfer may stage on
 * disk (the stream is staged chunk by chunk and applied in chunks, never held or written whole).
 */
export const SNAPSHOT_BYTES_MAX = 48 * 1024 * 1024;
/**
 * Default bytes of one incoming transfer checked but not yet staged on disk (waiting for, or
 * in, its staging write), at most: what a receiver holds in memory per transfer, about two
 * default chunks (one being written, the next waiting). A chunk beyond it is ignored and
 * resent; one chunk is always taken when none is held.
 */
export const SNAPSHOT_STAGING_BUFFER_BYTES_MAX = 2 * SNAPSHOT_CHUNK_BYTES_MAX;
/**
 * Default bytes of staged stream one pending-apply write covers: the apply reads staged chunks
 * until this much is gathered, then writes their pairs as one engine batch (a chunk is never
 * split, so a batch holds at most this plus one chunk).
 */
export const SNAPSHOT_APPLY_BATCH_BYTES_MAX = 1024 * 1024;
/** Default snapshots one store receives at once (each stages up to `SNAPSHOT_BYTES_MAX` on disk). */
export const SNAPSHOTS_RECEIVING_MAX = 4;
/** Default snapshots one store sends at once (each holds an engine snapshot open). */
export const SNAPSHOTS_SENDING_MAX = 8;
/** Default time a receiver waits for the next chunk before dropping a transfer, ms. */
export const SNAPSHOT_RECEIVE_TIMEOUT_MS = 10_000;
/** Default time a sender waits for an acknowledgement before sending the unacknowledged part again, ms. */
export const SNAPSHOT_RESEND_MS = 500;
/** Default resends without progress before a sender gives up and reports the failure to Raft. */
export const SNAPSHOT_RESENDS_MAX = 6;
/**
 * Default time between a damaged replica's requests for a new snapshot (its accepted one was
 * lost before it was applied), ms. Above the sender's whole give-up time
 * (`SNAPSHOT_RESEND_MS × SNAPSHOT_RESENDS_MAX`), so a request does not race a transfer that is
 * still trying; not counted while a snapshot of the region is arriving.
 */
export const SNAPSHOT_REQUEST_INTERVAL_MS = 4_000;
/** Default requests a damaged replica sends before it also reports itself to PD, which replaces it where it can (the requests go on). */
export const SNAPSHOT_REQUESTS_MAX = 8;
/** Largest snapshot header (format 3 `data`), bytes. */
export const SNAPSHOT_HEADER_BYTES_MAX = 64 * 1024;

const CLIENT_ID_BYTES_MAX = 256;
const DEDUP_CLIENTS_MAX = 1_000_000;

/** The inline format of older peers (and of a new region's initial snapshot). */
export const SNAPSHOT_FORMAT_INLINE = 2;
/** The chunked format: `data` is a `SnapshotHeader`. */
export const SNAPSHOT_FORMAT_CHUNKED = 3;

/** Why snapshot bytes were refused: a closed list, for counters and tests. */
export type SnapshotDecodeErrorKind = 'UnknownFormat' | 'HeaderTooLarge' | 'Malformed' | 'Mismatch';

/** Snapshot bytes (header, stream or inline payload) that do not decode or do not match their header. */
export class SnapshotDecodeError extends CommandDecodeError {
  override readonly name = 'SnapshotDecodeError';
  constructor(
    readonly kind: SnapshotDecodeErrorKind,
    detail: string,
    /** The bytes ended inside an item (a stream read piece by piece waits for more). */
    readonly truncated = false,
  ) {
    super(`${kind}: ${detail}`);
  }
}

/** Names one generated snapshot: unique per sending store across its restarts (`boot`). */
export interface SnapshotId {
  storeId: number;
  boot: number;
  seq: number;
}

/** The key a snapshot id is filed under. */
export function snapshotIdKey(id: SnapshotId): string {
  return `${id.storeId}.${id.boot}.${id.seq}`;
}

/** What a format-3 snapshot's `data` says about the stream that carries its contents. */
export interface SnapshotHeader {
  id: SnapshotId;
  region: Region;
  /** The data column families of the stream, in stream order. */
  cfs: string[];
  /** Pairs in the stream. */
  pairs: number;
  /** Dedup records in the stream. */
  dedupEntries: number;
  /** Stream length, bytes. */
  bytes: number;
  /** Every chunk but the last holds exactly `chunkBytes` bytes. */
  chunkBytes: number;
  /** CRC32C of the whole stream. */
  crc: number;
  /**
   * The region's data-key switch as of the snapshot's index (`data-key-switch.ts`), absent when
   * it never switched: the receiver installs it with the data, so it seals and checks entries
   * after the snapshot under the key the rest of the region switched to.
   */
  dataKeySwitch?: DataKeySwitch;
}

/** A region's applied data-key switch: the key id and the index of the entry that switched to it. */
export interface DataKeySwitch {
  keyId: number;
  index: number;
}

/** Chunks of a stream of `bytes` bytes cut at `chunkBytes`. */
export function chunkCount(h: Pick<SnapshotHeader, 'bytes' | 'chunkBytes'>): number {
  return Math.ceil(h.bytes / h.chunkBytes);
}

/** One key-value pair of a snapshot, with its column family. */
export interface SnapshotPair {
  cf: string;
  key: Uint8Array;
  value: Uint8Array;
}

/** What a snapshot installs: the region, its pairs in every data column family, its dedup table. */
export interface SnapshotContents {
  region: Region;
  pairs: SnapshotPair[];
  dedup: DedupEntry[];
}

/** The inline (format 2) payload: `default` pairs only. */
export interface SnapshotPayload {
  region: Region;
  pairs: { key: Uint8Array; value: Uint8Array }[];
  dedup: DedupEntry[];
}

/** A snapshot's `data`, decoded: inline contents, or the header of a chunked stream. */
export type SnapshotData = { format: typeof SNAPSHOT_FORMAT_INLINE; payload: SnapshotPayload } | { format: typeof SNAPSHOT_FORMAT_CHUNKED; header: SnapshotHeader };

/** Encodes an inline (format 2) payload: a new region's initial snapshot, and tests of older peers. */
export function encodeSnapshotPayload(p: SnapshotPayload): Uint8Array {
  const w = new ByteWriter();
  w.varUint(SNAPSHOT_FORMAT_INLINE);
  writeRegion(w, p.region);
  w.varUint(p.pairs.length);
  for (const kv of p.pairs) {
    w.bytes(kv.key);
    w.bytes(kv.value);
  }
  w.varUint(p.dedup.length);
  for (const d of p.dedup) {
    w.string(d.clientId);
    writeDedupBody(w, d);
  }
  return w.finish();
}

/** Encodes a chunked snapshot's header (format 3). */
export function encodeSnapshotHeader(h: SnapshotHeader): Uint8Array {
  const w = new ByteWriter();
  w.varUint(SNAPSHOT_FORMAT_CHUNKED);
  w.varUint(h.id.storeId);
  w.varUint(h.id.boot);
  w.varUint(h.id.seq);
  writeRegion(w, h.region);
  w.varUint(h.cfs.length);
  for (const cf of h.cfs) w.string(cf);
  w.varUint(h.pairs);
  w.varUint(h.dedupEntries);
  w.varUint(h.bytes);
  w.varUint(h.chunkBytes);
  w.varUint(h.crc);
  // A trailing field: a header without it is one of a region that never switched (or of a
  // build before it), and decodes the same.
  if (h.dataKeySwitch && h.dataKeySwitch.keyId > 0) {
    w.varUint(h.dataKeySwitch.keyId);
    w.varUint(h.dataKeySwitch.index);
  }
  return w.finish();
}

/** Decodes a snapshot's `data` (either format). Throws `SnapshotDecodeError` only. */
export function decodeSnapshotData(data: Uint8Array): SnapshotData {
  return wrapDecode(() => {
    const r = new ByteReader(data);
    const version = r.varUint();
    if (version === SNAPSHOT_FORMAT_INLINE) return { format: SNAPSHOT_FORMAT_INLINE, payload: readInlinePayload(r) };
    if (version !== SNAPSHOT_FORMAT_CHUNKED) throw new SnapshotDecodeError('UnknownFormat', `snapshot format ${version}`);
    if (data.length > SNAPSHOT_HEADER_BYTES_MAX) throw new SnapshotDecodeError('HeaderTooLarge', `snapshot header of ${data.length} bytes > ${SNAPSHOT_HEADER_BYTES_MAX}`);
    return { format: SNAPSHOT_FORMAT_CHUNKED, header: readHeader(r) };
  });
}

/** The region a snapshot's `data` carries (either format). Throws `SnapshotDecodeError` only. */
export function snapshotRegion(data: Uint8Array): Region {
  const d = decodeSnapshotData(data);
  return d.format === SNAPSHOT_FORMAT_INLINE ? d.payload.region : d.header.region;
}

/** Decodes an inline (format 2) payload; anything else is refused. */
export function decodeSnapshotPayload(data: Uint8Array): SnapshotPayload {
  const d = decodeSnapshotData(data);
  if (d.format !== SNAPSHOT_FORMAT_INLINE) throw new SnapshotDecodeError('UnknownFormat', `snapshot format ${d.format} is not inline`);
  return d.payload;
}

function readInlinePayload(r: ByteReader): SnapshotPayload {
  const region = readRegion(r);
  const n = r.count(SNAPSHOT_PAIRS_MAX, 2, 'snapshot pairs');
  const pairs: SnapshotPayload['pairs'] = [];
  for (let i = 0; i < n; i++) {
    pairs.push({ key: r.bytes(COMMAND_KEY_BYTES_MAX, 'key'), value: r.bytes(COMMAND_VALUE_BYTES_MAX, 'value') });
  }
  const m = r.count(DEDUP_CLIENTS_MAX, 3, 'dedup entries');
  const dedup: DedupEntry[] = [];
  for (let i = 0; i < m; i++) dedup.push(readDedupBody(r, r.string(CLIENT_ID_BYTES_MAX, 'client id')));
  r.end('snapshot');
  return { region, pairs, dedup };
}

function readHeader(r: ByteReader): SnapshotHeader {
  const id = { storeId: r.varUint(), boot: r.varUint(), seq: r.varUint() };
  const region = readRegion(r);
  const n = r.count(DATA_CFS_MAX, 2, 'column families');
  const cfs: string[] = [];
  for (let i = 0; i < n; i++) cfs.push(r.string(CF_NAME_LENGTH_MAX * 4, 'column family'));
  if (new Set(cfs).size !== cfs.length) throw new SnapshotDecodeError('Malformed', 'a column family is listed twice');
  const pairs = r.varUintMax(SNAPSHOT_PAIRS_MAX, 'pairs');
  const dedupEntries = r.varUintMax(DEDUP_CLIENTS_MAX, 'dedup entries');
  const bytes = r.varUint();
  const chunkBytes = r.varUint();
  const crc = r.varUintMax(0xffffffff, 'crc');
  const dataKeySwitch = r.remaining > 0 ? { keyId: r.varUintMax(DATA_KEY_COMMAND_ID_MAX, 'data key id'), index: r.varUint() } : undefined;
  r.end('snapshot header');
  if (chunkBytes === 0) throw new SnapshotDecodeError('Malformed', 'chunk size 0');
  return { id, region, cfs, pairs, dedupEntries, bytes, chunkBytes, crc, ...(dataKeySwitch ? { dataKeySwitch } : {}) };
}

function wrapDecode<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof SnapshotDecodeError) throw e;
    throw new SnapshotDecodeError('Malformed', (e as Error).message, e instanceof DecodeError && e.kind === 'Truncated');
  }
}

// ------------------------------------------------------------------ the stream

const ITEM_PAIR = 0;
const ITEM_DEDUP = 1;

/** Appends one pair (column family `cfIndex` of the header's list) to a stream. */
export function writeStreamPair(w: ByteWriter, cfIndex: number, key: Uint8Array, value: Uint8Array): void {
  w.varUint(ITEM_PAIR);
  w.varUint(cfIndex);
  w.bytes(key);
  w.bytes(value);
}

/** Appends one dedup record to a stream. */
export function writeStreamDedup(w: ByteWriter, e: DedupEntry): void {
  w.varUint(ITEM_DEDUP);
  w.string(e.clientId);
  writeDedupBody(w, e);
}

/** Largest leftover of one item (a pair or a dedup record) carried across chunks, bytes. */
const STREAM_ITEM_BYTES_MAX = COMMAND_KEY_BYTES_MAX + COMMAND_VALUE_BYTES_MAX + 64;

/** What one piece of a stream completed: pairs, then (at the stream's tail) dedup records. */
export interface SnapshotItems {
  pairs: SnapshotPair[];
  dedup: DedupEntry[];
}

/**
 * Reads a stream piece by piece (chunk by chunk, as it arrives or as it is read back from
 * staging) and checks it against its header as it goes: length, checksum, counts, column
 * families, key order and that every key lies in the region: in `rangeOf(cf)`, the region's
 * bounds as that family's stored keys (data-model.ts' `storedKeyRange`, `snapshotRangeOf`);
 * absent for the PD group, whose one pair has no key range. An item cut by a chunk boundary
 * waits for the next piece, so at most one item plus one chunk is held. Throws
 * `SnapshotDecodeError` only.
 */
export class SnapshotStreamReader {
  private leftover: Uint8Array = new Uint8Array(0);
  private bytes = 0;
  private crc = 0;
  private pairs = 0;
  private dedupEntries = 0;
  private lastCf = 0;
  private lastKey: Uint8Array | undefined;

  constructor(
    private readonly h: SnapshotHeader,
    private readonly o: { rangeOf?: (cf: string) => StoredKeyRange },
  ) {}

  /** The next piece of the stream; returns the items it completed. */
  push(piece: Uint8Array): SnapshotItems {
    this.bytes += piece.length;
    if (this.bytes > this.h.bytes) throw new SnapshotDecodeError('Mismatch', `stream longer than the header's ${this.h.bytes} bytes`);
    this.crc = crc32c(piece, this.crc);
    const buf = this.leftover.length === 0 ? piece : concatBytes(this.leftover, piece);
    const r = new ByteReader(buf);
    const out: SnapshotItems = { pairs: [], dedup: [] };
    for (;;) {
      const at = buf.length - r.remaining;
      if (r.remaining === 0) {
        this.leftover = new Uint8Array(0);
        return out;
      }
      try {
        wrapDecode(() => this.readItem(r, out));
      } catch (e) {
        if (!(e instanceof SnapshotDecodeError) || !e.truncated || this.bytes === this.h.bytes) throw e;
        // Cut by the chunk boundary: wait for the rest of the item.
        if (buf.length - at > STREAM_ITEM_BYTES_MAX) throw new SnapshotDecodeError('Malformed', `an item longer than ${STREAM_ITEM_BYTES_MAX} bytes`);
        this.leftover = buf.slice(at);
        return out;
      }
    }
  }

  /** The stream ended: checks its length, checksum and counts against the header. */
  finish(): void {
    if (this.bytes !== this.h.bytes) throw new SnapshotDecodeError('Mismatch', `stream of ${this.bytes} bytes, header says ${this.h.bytes}`);
    if (this.crc !== this.h.crc) throw new SnapshotDecodeError('Mismatch', 'stream checksum differs from the header');
    if (this.leftover.length > 0) throw new SnapshotDecodeError('Malformed', 'the stream ends inside an item');
    if (this.pairs !== this.h.pairs || this.dedupEntries !== this.h.dedupEntries) {
      throw new SnapshotDecodeError('Mismatch', `stream holds ${this.pairs} pairs and ${this.dedupEntries} dedup records, header says ${this.h.pairs} and ${this.h.dedupEntries}`);
    }
  }

  private readItem(r: ByteReader, out: SnapshotItems): void {
    const h = this.h;
    const item = r.varUint();
    if (item === ITEM_PAIR) {
      if (this.dedupEntries > 0 || this.pairs >= h.pairs) throw new SnapshotDecodeError('Mismatch', 'a pair out of place or beyond the header count');
      const cf = r.varUintMax(h.cfs.length - 1, 'column family index');
      const key = r.bytes(COMMAND_KEY_BYTES_MAX, 'key');
      const value = r.bytes(COMMAND_VALUE_BYTES_MAX, 'value');
      if (key.length === 0) throw new SnapshotDecodeError('Malformed', 'empty key');
      if (cf < this.lastCf || (cf === this.lastCf && this.lastKey !== undefined && compareKeys(key, this.lastKey) <= 0)) throw new SnapshotDecodeError('Malformed', 'pairs out of order');
      if (this.o.rangeOf && !inRange(this.o.rangeOf(h.cfs[cf]), key)) throw new SnapshotDecodeError('Malformed', 'a key outside the region');
      this.lastCf = cf;
      this.lastKey = key;
      this.pairs++;
      out.pairs.push({ cf: h.cfs[cf], key, value });
    } else if (item === ITEM_DEDUP) {
      if (this.dedupEntries >= h.dedupEntries) throw new SnapshotDecodeError('Mismatch', 'more dedup records than the header says');
      out.dedup.push(readDedupBody(r, r.string(CLIENT_ID_BYTES_MAX, 'client id')));
      this.dedupEntries++;
    } else {
      throw new SnapshotDecodeError('Malformed', `stream item ${item}`);
    }
  }
}

/** Decodes a whole stream held in memory and checks it against its header (`SnapshotStreamReader`). */
export function decodeSnapshotStream(h: SnapshotHeader, stream: Uint8Array, o: { rangeOf?: (cf: string) => StoredKeyRange }): SnapshotContents {
  if (stream.length !== h.bytes) throw new SnapshotDecodeError('Mismatch', `stream of ${stream.length} bytes, header says ${h.bytes}`);
  if (crc32c(stream) !== h.crc) throw new SnapshotDecodeError('Mismatch', 'stream checksum differs from the header');
  const reader = new SnapshotStreamReader(h, o);
  const items = reader.push(stream);
  reader.finish();
  return { region: h.region, pairs: items.pairs, dedup: items.dedup };
}

function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** The stored-key range check a snapshot of region `regionId` gets (none for PD's group, whose pair has no key range). */
export function snapshotRangeOf(model: DataModel, regionId: number, region: Region): { rangeOf?: (cf: string) => StoredKeyRange } {
  if (regionId === PD_REGION_ID) return {};
  return { rangeOf: (cf) => storedKeyRange(model, cf, region.startKey, region.endKey) };
}

function inRange(range: StoredKeyRange, key: Uint8Array): boolean {
  if (compareKeys(key, range.start) < 0) return false;
  return range.end === undefined || compareKeys(key, range.end) < 0;
}

/** The contents of an inline (format 2) payload: every pair in `default`. */
export function inlineContents(p: SnapshotPayload): SnapshotContents {
  return { region: p.region, pairs: p.pairs.map((kv) => ({ cf: DATA_CF, key: kv.key, value: kv.value })), dedup: p.dedup };
}
