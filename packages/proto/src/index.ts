/**
 * @peerkv/proto: PeerKV's wire vocabulary. One byte writer/reader with named limits and one
 * `DecodeError`; the types every package puts on the wire or on disk (peers, regions, epochs,
 * store metadata, heartbeats, region and key errors, KV ops) with their paired `writeX`/`readX`
 * codecs. Every package takes its codecs from here, so each type has one encoding.
 */
export * from './errors.ts';
export * from './bytes.ts';
export * from './limits.ts';
export * from './enum-codec.ts';
export * from './u64.ts';
export type * from './meta.ts';
export * from './meta-codec.ts';
export * from './region-error.ts';
export * from './key-error.ts';
export * from './kv-op.ts';
export * from './clock.ts';
