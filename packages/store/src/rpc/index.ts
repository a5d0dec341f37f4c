/**
 * Store RPC: the request/response codec for remote callers of a `Store`, the server that
 * answers them through any `onRequest` source, and `LocalRpc` (in-process delivery for tests).
 */
export * from './errors.ts';
export * from './wire.ts';
export * from './request-codec.ts';
export * from './response-codec.ts';
export * from './server.ts';
export * from './local-rpc.ts';
