/**
 * Frames: what one transport link carries after reassembly. The first varUint is the frame
 * type, the second the version of that type's layout; an unknown type or version is a
 * `DecodeError`. Version numbers only ever grow: a reader that knows v1 refuses v2 rather
 * than guessing.
 */
import { ByteReader, ByteWriter } from '@peerkv/proto';
import type { RaftBatch, RaftEnvelope, StoreId } from './envelope.ts';
import { readBatch, readEnvelope, writeBatch, writeEnvelope } from './envelope.ts';
import { DecodeError } from './errors.ts';
import type { DecodeLimits } from './limits.ts';
import { DEFAULT_DECODE_LIMITS } from './limits.ts';

/** Wire numbers of the frame types (append only). */
export const FRAME_TYPES = {
  raftEnvelope: 1,
  raftBatch: 2,
  authHello: 3,
  authProof: 4,
  rpcRequest: 5,
  rpcResponse: 6,
} as const;

/** The largest frame type number this reader knows. */
const FRAME_TYPE_MAX = FRAME_TYPES.rpcResponse;

/** Why a remote refused or failed a request, as carried on the wire (append only). */
export const RPC_WIRE_ERRORS = {
  /** The handler threw, or the remote has no handler. */
  RemoteFailed: 1,
  /** The request or the response was over the remote's payload limit. */
  PayloadTooLarge: 2,
  /** The remote was already serving its maximum of requests. */
  TooManyPending: 3,
} as const;

/** A remote error code carried by an `rpcResponse`. */
export type RpcWireError = keyof typeof RPC_WIRE_ERRORS;

/** The body of an `rpcResponse`: the handler's bytes, or why there are none. */
export type RpcWireResult = { ok: true; payload: Uint8Array } | { ok: false; error: RpcWireError; message: string };

/** The layout version every frame type is written with. */
export const FRAME_VERSION = 1;

/** Bytes of the nonce in an auth hello. */
export const AUTH_NONCE_BYTES = 32;
/** Bytes of an HMAC-SHA-256 proof. */
export const AUTH_PROOF_BYTES = 32;
/**
 * Layout version of an auth proof that also carries the prover's store key and its signature
 * (`store-key.ts`). A proof without one (a client, a store with no key) is written as v1, so
 * stores of earlier versions still admit clients of this one.
 */
export const AUTH_PROOF_IDENTITY_VERSION = 2;
/** Bytes of a store public key in an auth proof (a raw P-256 point). */
export const AUTH_IDENTITY_KEY_BYTES = 65;
/** Bytes of a store's signature in an auth proof (ECDSA P-256, r || s). */
export const AUTH_IDENTITY_SIGNATURE_BYTES = 64;

/** The prover's store key and its signature over its side of the handshake. */
export interface AuthIdentity {
  publicKey: Uint8Array;
  signature: Uint8Array;
}

/** Everything a link can carry. */
export type Frame =
  | { type: 'raftEnvelope'; envelope: RaftEnvelope }
  | { type: 'raftBatch'; batch: RaftBatch }
  | { type: 'authHello'; clusterId: string; storeId: StoreId; nonce: Uint8Array }
  | { type: 'authProof'; proof: Uint8Array; identity?: AuthIdentity }
  /** A request to the link's remote store; `requestId` is unique per sender and link lifetime. */
  | { type: 'rpcRequest'; requestId: number; payload: Uint8Array }
  /** The answer to the request with `requestId`. */
  | { type: 'rpcResponse'; requestId: number; result: RpcWireResult };

/** Writes one frame: type, version, body. */
export function writeFrame(w: ByteWriter, f: Frame): void {
  w.varUint(FRAME_TYPES[f.type]);
  w.varUint(f.type === 'authProof' && f.identity ? AUTH_PROOF_IDENTITY_VERSION : FRAME_VERSION);
  switch (f.type) {
    case 'raftEnvelope':
      return writeEnvelope(w, f.envelope);
    case 'raftBatch':
      return writeBatch(w, f.batch);
    case 'authHello':
      w.string(f.clusterId);
      w.varUint(f.storeId);
      return w.bytes(f.nonce);
    case 'authProof':
      w.bytes(f.proof);
      if (!f.identity) return;
      w.bytes(f.identity.publicKey);
      return w.bytes(f.identity.signature);
    case 'rpcRequest':
      w.varUint(f.requestId);
      return w.bytes(f.payload);
    case 'rpcResponse':
      return writeRpcResponse(w, f.requestId, f.result);
  }
}

/** `varUint requestId, varUint code (0 ok), then bytes payload (ok) or string message (error)`. */
function writeRpcResponse(w: ByteWriter, requestId: number, result: RpcWireResult): void {
  w.varUint(requestId);
  if (result.ok) {
    w.varUint(0);
    return w.bytes(result.payload);
  }
  w.varUint(RPC_WIRE_ERRORS[result.error]);
  w.string(result.message);
}

const RPC_WIRE_ERROR_BY_CODE = new Map<number, RpcWireError>(
  (Object.entries(RPC_WIRE_ERRORS) as [RpcWireError, number][]).map(([k, v]) => [v, k]),
);

function readRpcResponse(r: ByteReader, limits: DecodeLimits): Frame {
  const requestId = r.varUint();
  const code = r.varUint();
  if (code === 0) return { type: 'rpcResponse', requestId, result: { ok: true, payload: r.bytes(limits.fieldBytesMax, 'response payload') } };
  const error = RPC_WIRE_ERROR_BY_CODE.get(code);
  if (!error) throw new DecodeError('InvalidValue', `rpc error code ${code}`);
  const message = r.string(limits.stringBytesMax, 'rpc error message bytes');
  return { type: 'rpcResponse', requestId, result: { ok: false, error, message } };
}

function readFixedBytes(r: ByteReader, n: number, what: string): Uint8Array {
  const b = r.bytes(n, what);
  if (b.length !== n) throw new DecodeError('InvalidValue', `${what} must be ${n} bytes`);
  return b;
}

function readProof(r: ByteReader, version: number): Frame {
  const proof = readFixedBytes(r, AUTH_PROOF_BYTES, 'proof');
  if (version === FRAME_VERSION) return { type: 'authProof', proof };
  const publicKey = readFixedBytes(r, AUTH_IDENTITY_KEY_BYTES, 'store public key');
  return { type: 'authProof', proof, identity: { publicKey, signature: readFixedBytes(r, AUTH_IDENTITY_SIGNATURE_BYTES, 'store signature') } };
}

function readBody(r: ByteReader, type: number, version: number, limits: DecodeLimits): Frame {
  switch (type) {
    case FRAME_TYPES.raftEnvelope:
      return { type: 'raftEnvelope', envelope: readEnvelope(r, limits) };
    case FRAME_TYPES.raftBatch:
      return { type: 'raftBatch', batch: readBatch(r, limits) };
    case FRAME_TYPES.authHello: {
      const clusterId = r.string(limits.stringBytesMax, 'cluster id bytes');
      const storeId = r.varUint();
      const nonce = readFixedBytes(r, AUTH_NONCE_BYTES, 'nonce');
      return { type: 'authHello', clusterId, storeId, nonce };
    }
    case FRAME_TYPES.authProof:
      return readProof(r, version);
    case FRAME_TYPES.rpcRequest: {
      const requestId = r.varUint();
      return { type: 'rpcRequest', requestId, payload: r.bytes(limits.fieldBytesMax, 'request payload') };
    }
    case FRAME_TYPES.rpcResponse:
      return readRpcResponse(r, limits);
    default:
      throw new DecodeError('UnknownFrameType', `frame type ${type}`);
  }
}

/** Reads one complete frame; trailing bytes are an error. Throws only `DecodeError`. */
export function readFrame(bytes: Uint8Array, limits: DecodeLimits = DEFAULT_DECODE_LIMITS): Frame {
  const r = new ByteReader(bytes);
  const type = r.varUint();
  const version = r.varUint();
  if (type < FRAME_TYPES.raftEnvelope || type > FRAME_TYPE_MAX) {
    throw new DecodeError('UnknownFrameType', `frame type ${type}`);
  }
  const versionMax = type === FRAME_TYPES.authProof ? AUTH_PROOF_IDENTITY_VERSION : FRAME_VERSION;
  if (version < FRAME_VERSION || version > versionMax) throw new DecodeError('UnsupportedVersion', `frame version ${version}`);
  const frame = readBody(r, type, version, limits);
  r.end('frame');
  return frame;
}

/** Encodes one frame to fresh bytes. */
export function encodeFrame(f: Frame, capacityBytes?: number): Uint8Array {
  const w = new ByteWriter(capacityBytes);
  writeFrame(w, f);
  return w.finish();
}
