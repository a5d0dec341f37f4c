/**
 * @peerkv/storage: the `KvEngine` contract with its memory and IndexedDB engines, and the
 * Raft log store on top. The LevelDB engine is exported from `@peerkv/storage/level` only,
 * so browser bundles never pull classic-level.
 */
export * from './errors.ts';
export * from './bytes.ts';
export * from './crc32c.ts';
export * from './engine.ts';
export * from './forwarding-engine.ts';
export * from './snapshot.ts';
export * from './format.ts';
export * from './memory-engine.ts';
export * from './idb-errors.ts';
export * from './idb-engine.ts';
export * from './raft/keys.ts';
export * from './raft/codec.ts';
export * from './raft/term-runs.ts';
export * from './raft/entry-cache.ts';
export * from './raft/region-log.ts';
export * from './raft/raft-write-batch.ts';
export * from './raft/raft-log-store.ts';
