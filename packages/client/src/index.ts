/**
 * peerkv: the public API of PeerKV.
 */
export * from './client.ts';
export * from './errors.ts';
export * from './services.ts';
export * from './region-cache.ts';
export * from './backoff.ts';
export * from './local-cluster.ts';
export * from './remote/index.ts';
export * from './pd-cluster.ts';
export * from './invite.ts';
export * from './txn/index.ts';
export { generateClusterSecret, isGeneratedSecret } from '@peerkv/transport';
export * from './trace.ts';
