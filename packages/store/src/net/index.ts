/**
 * Stores across processes: PD requests to whichever store leads PD (`PdCaller`,
 * `RemotePdClient`) and starting a store that bootstraps, joins or restarts over a network
 * transport (`startNetworkStore`), watching its quorum (`QuorumWatch`).
 */
export * from './pd-caller.ts';
export * from './remote-pd-client.ts';
export * from './network-store.ts';
export * from './quorum-watch.ts';
export * from './peer-keys.ts';
export * from './peer-key-anchors.ts';
export * from './pd-key-lookup.ts';
export { KEY_VOUCHERS_MIN } from './key-vouch.ts';
