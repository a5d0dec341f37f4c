/**
 * @peerkv/transport: the binary codec for Raft messages and store envelopes, chunking, and
 * the transports (BroadcastChannel, WebRTC via simple-peer and a y-webrtc signaling server)
 * behind one `Transport` interface.
 */
export * from './codec/errors.ts';
// The byte codec lives in @peerkv/proto; re-exported so `import { ByteWriter } from '@peerkv/transport'` keeps working.
export { ByteReader, ByteWriter } from '@peerkv/proto';
export * from './codec/limits.ts';
export * from './codec/raft.ts';
export * from './codec/envelope.ts';
export * from './codec/frame.ts';
export * from './chunking.ts';
export * from './types.ts';
export * from './timers.ts';
export * from './auth.ts';
export * from './credentials.ts';
export * from './store-key.ts';
export * from './rpc.ts';
export * from './link-transport.ts';
export * from './broadcast-channel-transport.ts';
export * from './signaling-client.ts';
export * from './webrtc-transport.ts';
export { SIGNALING_FRESHNESS_MS_DEFAULT } from './signaling-freshness.ts';
export * from './peer-bridge.ts';
export * from './composite-transport.ts';
// The simulator's seeded in-memory network (its own module; `DropReason` renamed to avoid
// clashing with the transports' drop reasons).
export { MemoryNetwork, NO_FAULTS, NetworkConfigError } from './memory-network.ts';
export type { NetworkRng, EndpointId, NetworkFaults, Delivery, MemoryNetworkOptions, NetworkStats } from './memory-network.ts';
export type { DropReason as NetworkDropReason } from './memory-network.ts';
