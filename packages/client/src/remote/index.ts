/**
 * Remote stores: `RemoteKvService` (a store reached by request/response) and
 * `RemoteStoreResolver` (one per store id over one transport).
 */
export * from './remote-kv-service.ts';
export * from './remote-store-resolver.ts';
export * from './remote-pd-service.ts';
export * from './split-region.ts';
export * from './store-client.ts';
