/**
 * Shared field codecs of the store RPC: epochs, peers, regions, key-value ops and pairs,
 * region errors, and the conversion of lower-level decode failures into
 * `StoreRpcDecodeError`. Paired write/read functions; limits are named with their units.
 */
import type { RegionEpoch, RegionError } from '@peerkv/pd';
import { ByteReader, ByteWriter, DecodeError } from '@peerkv/transport';
import { CommandDecodeError, COMMAND_KEY_BYTES_MAX, COMMAND_OPS_MAX, COMMAND_PEERS_MAX, COMMAND_VALUE_BYTES_MAX, readPeer, readRegion, writePeer, writeRegion } from '../command.ts';
import { StoreRpcDecodeError } from './errors.ts';

/** Layout version of every request and response type (grows only; a reader refuses newer). */
export const STORE_RPC_VERSION = 1;
/** Bytes of a key in a request or response. */
export const RPC_KEY_BYTES_MAX = COMMAND_KEY_BYTES_MAX;
/** Bytes of a value in a request or response. */
export const RPC_VALUE_BYTES_MAX = COMMAND_VALUE_BYTES_MAX;
/** Ops in one write request. */
export const RPC_OPS_MAX = COMMAND_OPS_MAX;
/** Peers in one region or conf change. */
export const RPC_PEERS_MAX = COMMAND_PEERS_MAX;
/** Regions in one response (a status, an EpochNotMatch). */
export const RPC_REGIONS_MAX = 65_536;
/** Pairs in one scan response. */
export const RPC_PAIRS_MAX = 1_000_000;
/** Bytes of a short string: client id, role, error reason. */
export const RPC_STRING_BYTES_MAX = 1024;
/** Bytes of a long string: a stopped store's reason, a failure message. */
export const RPC_TEXT_BYTES_MAX = 16 * 1024;

const utf8 = new TextEncoder();
const utf8Lossy = new TextDecoder('utf-8', { fatal: false });

/** Writes a string cut to `maxBytes` UTF-8 bytes (reasons and messages are for humans). */
export function writeClipped(w: ByteWriter, s: string, maxBytes: number): void {
  const b = utf8.encode(s);
  if (b.length <= maxBytes) return w.bytes(b);
  // Lossy decoding of a cut may add a 3-byte replacement char: leave room for it.
  w.string(utf8Lossy.decode(b.subarray(0, maxBytes - 3)));
}

/** Runs a decoder, turning every lower-level decode failure into `StoreRpcDecodeError`. */
export function decoding<T>(what: string, bytes: Uint8Array, read: (r: ByteReader) => T): T {
  try {
    const r = new ByteReader(bytes);
    const v = read(r);
    r.end(what);
    return v;
  } catch (e) {
    if (e instanceof StoreRpcDecodeError) throw e;
    if (e instanceof DecodeError) throw new StoreRpcDecodeError(e.kind === 'LimitExceeded' ? 'LimitExceeded' : 'Malformed', `${what}: ${e.message}`);
    if (e instanceof CommandDecodeError) throw new StoreRpcDecodeError('Malformed', `${what}: ${e.message}`);
    throw e;
  }
}

/** Reads the type and version header; an unknown type or version throws. */
export function readHeader(r: ByteReader, known: (type: number) => boolean, what: string): number {
  const type = r.varUint();
  if (!known(type)) throw new StoreRpcDecodeError('UnknownType', `${what} type ${type}`);
  const version = r.varUint();
  if (version !== STORE_RPC_VERSION) throw new StoreRpcDecodeError('UnsupportedVersion', `${what} version ${version}`);
  return type;
}

export function writeHeader(w: ByteWriter, type: number): void {
  w.varUint(type);
  w.varUint(STORE_RPC_VERSION);
}

export function writeEpoch(w: ByteWriter, e: RegionEpoch): void {
  w.varUint(e.confVer);
  w.varUint(e.version);
}

export function readEpoch(r: ByteReader): RegionEpoch {
  const confVer = r.varUint();
  return { confVer, version: r.varUint() };
}

// Peers, regions and key-value ops share the log command encoding (command.ts): one
// format for both, and `decoding` maps its CommandDecodeError to StoreRpcDecodeError.
export { readOps, readPeer, readPeers, readRegion, writeOps, writePeer, writePeers, writeRegion } from '../command.ts';

/** Wire numbers of the region error kinds (append only). */
const REGION_ERROR_TAGS = { NotLeader: 1, EpochNotMatch: 2, RegionNotFound: 3, KeyNotInRegion: 4, ServerIsBusy: 5, StoreNotMatch: 6, Timeout: 7, MaybeCommitted: 8, StaleWrite: 9 } as const;

export function writeRegionError(w: ByteWriter, e: RegionError): void {
  w.varUint(REGION_ERROR_TAGS[e.kind]);
  switch (e.kind) {
    case 'NotLeader':
      w.varUint(e.regionId);
      w.u8(e.leaderHint ? 1 : 0);
      if (e.leaderHint) writePeer(w, e.leaderHint);
      return;
    case 'EpochNotMatch':
      w.varUint(e.currentRegions.length);
      for (const region of e.currentRegions) writeRegion(w, region);
      return;
    case 'RegionNotFound':
      return w.varUint(e.regionId);
    case 'KeyNotInRegion':
      w.bytes(e.key);
      w.varUint(e.regionId);
      w.bytes(e.startKey);
      return w.bytes(e.endKey);
    case 'ServerIsBusy':
      writeClipped(w, e.reason, RPC_STRING_BYTES_MAX);
      return w.varUint(e.backoffMs);
    case 'StoreNotMatch':
      w.varUint(e.requestStoreId);
      return w.varUint(e.actualStoreId);
    case 'Timeout':
      return writeClipped(w, e.what, RPC_STRING_BYTES_MAX);
    case 'MaybeCommitted':
      w.varUint(e.regionId);
      w.u8(e.leaderHint ? 1 : 0);
      if (e.leaderHint) writePeer(w, e.leaderHint);
      return;
    case 'StaleWrite':
      return writeClipped(w, e.reason, RPC_STRING_BYTES_MAX);
  }
}

export function readRegionError(r: ByteReader): RegionError {
  const tag = r.varUint();
  switch (tag) {
    case REGION_ERROR_TAGS.NotLeader: {
      const regionId = r.varUint();
      return r.bool() ? { kind: 'NotLeader', regionId, leaderHint: readPeer(r) } : { kind: 'NotLeader', regionId };
    }
    case REGION_ERROR_TAGS.EpochNotMatch: {
      const n = r.count(RPC_REGIONS_MAX, 6, 'regions');
      return { kind: 'EpochNotMatch', currentRegions: Array.from({ length: n }, () => readRegion(r)) };
    }
    case REGION_ERROR_TAGS.RegionNotFound:
      return { kind: 'RegionNotFound', regionId: r.varUint() };
    case REGION_ERROR_TAGS.KeyNotInRegion: {
      const key = r.bytes(RPC_KEY_BYTES_MAX, 'key');
      const regionId = r.varUint();
      const startKey = r.bytes(RPC_KEY_BYTES_MAX, 'start key');
      return { kind: 'KeyNotInRegion', key, regionId, startKey, endKey: r.bytes(RPC_KEY_BYTES_MAX, 'end key') };
    }
    case REGION_ERROR_TAGS.ServerIsBusy: {
      const reason = r.string(RPC_STRING_BYTES_MAX, 'reason');
      return { kind: 'ServerIsBusy', reason, backoffMs: r.varUint() };
    }
    case REGION_ERROR_TAGS.StoreNotMatch: {
      const requestStoreId = r.varUint();
      return { kind: 'StoreNotMatch', requestStoreId, actualStoreId: r.varUint() };
    }
    case REGION_ERROR_TAGS.Timeout:
      return { kind: 'Timeout', what: r.string(RPC_STRING_BYTES_MAX, 'what') };
    case REGION_ERROR_TAGS.MaybeCommitted: {
      const regionId = r.varUint();
      return r.bool() ? { kind: 'MaybeCommitted', regionId, leaderHint: readPeer(r) } : { kind: 'MaybeCommitted', regionId };
    }
    case REGION_ERROR_TAGS.StaleWrite:
      return { kind: 'StaleWrite', reason: r.string(RPC_STRING_BYTES_MAX, 'reason') };
    default:
      throw new StoreRpcDecodeError('Malformed', `region error kind ${tag}`);
  }
}
