/**
 * The store-level envelope: which cluster, which stores, which region and at which region
 * epoch a Raft message travels. Routing data lives here, never inside the Raft message.
 * A batch shares one (cluster, source store, target store) header across many region
 * messages, which is how a store's flush goes on the wire.
 */
import type { Message } from '@peerkv/raft';
import { readEpoch, writeEpoch, type ByteReader, type ByteWriter, type RegionEpoch, type StoreId } from '@peerkv/proto';
import type { DecodeLimits } from './limits.ts';
import { ENCODED_MESSAGE_BYTES_MIN, readMessage, writeMessage } from './raft.ts';

// A store's id and a region's epoch are @peerkv/proto's (one type, one encoding); re-exported
// because the transport's users have always taken them from here.
export type { RegionEpoch, StoreId } from '@peerkv/proto';

/** One Raft message addressed to a region. */
export interface RegionMessage {
  regionId: number;
  regionEpoch: RegionEpoch;
  message: Message;
}

/** One Raft message with its full store-level routing. */
export interface RaftEnvelope extends RegionMessage {
  clusterId: string;
  fromStoreId: StoreId;
  toStoreId: StoreId;
}

/** Many region messages sharing one store-to-store header. */
export interface RaftBatch {
  clusterId: string;
  fromStoreId: StoreId;
  toStoreId: StoreId;
  messages: RegionMessage[];
}

/** Writes a region message (region id, epoch, then the Raft message). */
export function writeRegionMessage(w: ByteWriter, m: RegionMessage): void {
  w.varUint(m.regionId);
  writeEpoch(w, m.regionEpoch);
  writeMessage(w, m.message);
}

/** Reads a region message. */
export function readRegionMessage(r: ByteReader, limits: DecodeLimits): RegionMessage {
  const regionId = r.varUint();
  const regionEpoch = readEpoch(r);
  return { regionId, regionEpoch, message: readMessage(r, limits) };
}

function writeHeader(w: ByteWriter, h: { clusterId: string; fromStoreId: StoreId; toStoreId: StoreId }): void {
  w.string(h.clusterId);
  w.varUint(h.fromStoreId);
  w.varUint(h.toStoreId);
}

function readHeader(r: ByteReader, limits: DecodeLimits): { clusterId: string; fromStoreId: StoreId; toStoreId: StoreId } {
  const clusterId = r.string(limits.stringBytesMax, 'cluster id bytes');
  const fromStoreId = r.varUint();
  const toStoreId = r.varUint();
  return { clusterId, fromStoreId, toStoreId };
}

/** Writes one envelope body (no frame type; see `frame.ts`). */
export function writeEnvelope(w: ByteWriter, e: RaftEnvelope): void {
  writeHeader(w, e);
  writeRegionMessage(w, e);
}

/** Reads one envelope body. */
export function readEnvelope(r: ByteReader, limits: DecodeLimits): RaftEnvelope {
  const h = readHeader(r, limits);
  const m = readRegionMessage(r, limits);
  return { ...h, ...m };
}

/** Writes a batch body: the shared header, a count, then the region messages. */
export function writeBatch(w: ByteWriter, b: RaftBatch): void {
  writeHeader(w, b);
  w.varUint(b.messages.length);
  for (const m of b.messages) writeRegionMessage(w, m);
}

/** Reads a batch body. */
export function readBatch(r: ByteReader, limits: DecodeLimits): RaftBatch {
  const h = readHeader(r, limits);
  const n = r.count(limits.messagesPerBatchMax, ENCODED_MESSAGE_BYTES_MIN + 3, 'messages');
  const messages: RegionMessage[] = [];
  for (let i = 0; i < n; i++) messages.push(readRegionMessage(r, limits));
  return { ...h, messages };
}
