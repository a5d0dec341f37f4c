/**
 * What every store RPC codec shares: its limits (named with their units), the type and
 * version header, the conversion of lower-level decode failures into `StoreRpcDecodeError`,
 * and the field codecs of `@peerkv/proto` (epochs, peers, regions, key-value ops, region
 * errors) under the names the request and response codecs use.
 */
import { DecodeError, decode, KEY_BYTES_MAX, OPS_MAX, PEERS_MAX, REASON_BYTES_MAX, REGIONS_MAX, VALUE_BYTES_MAX, type ByteReader, type ByteWriter } from '@peerkv/proto';
import { CommandDecodeError } from '../command.ts';
import { StoreRpcDecodeError } from './errors.ts';

/** Layout version of every request and response type (grows only; a reader refuses newer). */
export const STORE_RPC_VERSION = 1;
/** Bytes of a key in a request or response. */
export const RPC_KEY_BYTES_MAX = KEY_BYTES_MAX;
/** Bytes of a value in a request or response. */
export const RPC_VALUE_BYTES_MAX = VALUE_BYTES_MAX;
/** Ops in one write request. */
export const RPC_OPS_MAX = OPS_MAX;
/** Peers in one region or conf change. */
export const RPC_PEERS_MAX = PEERS_MAX;
/** Regions in one response (a status, an EpochNotMatch). */
export const RPC_REGIONS_MAX = REGIONS_MAX;
/** Pairs in one scan response. */
export const RPC_PAIRS_MAX = 1_000_000;
/** Bytes of a short string: client id, role, error reason. */
export const RPC_STRING_BYTES_MAX = REASON_BYTES_MAX;
/** Bytes of a long string: a stopped store's reason, a failure message. */
export const RPC_TEXT_BYTES_MAX = 16 * 1024;

/** Runs a decoder, turning every lower-level decode failure into `StoreRpcDecodeError`. */
export function decoding<T>(what: string, bytes: Uint8Array, read: (r: ByteReader) => T): T {
  try {
    return decode(bytes, read, what);
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

/** Writes the type and version header (paired with `readHeader`). */
export function writeHeader(w: ByteWriter, type: number): void {
  w.varUint(type);
  w.varUint(STORE_RPC_VERSION);
}

// Epochs, peers, regions, key-value ops and region errors have their one encoding in
// @peerkv/proto; `decoding` maps its `DecodeError` to `StoreRpcDecodeError`.
export {
  readEpoch,
  readPeer,
  readPeers,
  readRegion,
  readRegionError,
  writeClipped,
  writeEpoch,
  writePeer,
  writePeers,
  writeRegion,
  writeRegionError,
  readKvOps as readOps,
  writeKvOps as writeOps,
} from '@peerkv/proto';
