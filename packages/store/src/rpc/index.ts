/**
 * Store RPC: the request/response codec for remote callers of a `Store`, the server that
 * answers them through any `onRequest` source, and `LocalRpc` (in-process delivery for tests).
 */
export * from './errors.ts';
export {
  STORE_RPC_VERSION,
  RPC_KEY_BYTES_MAX,
  RPC_VALUE_BYTES_MAX,
  RPC_OPS_MAX,
  RPC_PEERS_MAX,
  RPC_REGIONS_MAX,
  RPC_PAIRS_MAX,
  RPC_STRING_BYTES_MAX,
  RPC_TEXT_BYTES_MAX,
  writeRegionError as writeRpcRegionError,
  readRegionError as readRpcRegionError,
} from './wire.ts';
export * from './request-codec.ts';
export * from './response-codec.ts';
export * from './pd-codec.ts';
export * from './server.ts';
export * from './authorize.ts';
export * from './request-attempt.ts';
export * from './request-auth.ts';
export * from './operator-auth.ts';
export * from './data-key-proof.ts';
export * from './local-rpc.ts';
// The transport's request error, so callers of store RPC need only this package.
export { RpcError, type RpcErrorKind, type RpcRequestOptions, type RequestHandler } from '@peerkv/transport';
export * from './bind-transport.ts';
export { RPC_LABELS_MAX } from './pd-fields.ts';
