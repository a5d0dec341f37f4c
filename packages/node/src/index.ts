/**
 * @peerkv/node: PeerKV's Node-only parts, kept out of the packages a browser bundle reaches
 * (`peerkv`, `@peerkv/store`, ...): the Node client of a networked cluster
 * (`PeerKV.connect`, `connect.ts`, with `kv.admin`), WebRTC on the native `@roamhq/wrtc` with
 * `ws` signaling (`nodeWebRtcTransport`), a store's engine on LevelDB
 * (`openLevelStoreEngine`), the `peerkv-store` command line (`bin/peerkv-store.mjs` runs
 * `main`) and the `peerkv` command line (`bin/peerkv.mjs`, `peerkv-cli/`).
 */
export * from './node-webrtc.ts';
export * from './level-store.ts';
export * from './node-cipher.ts';
export * from './connect.ts';
export { NodePeerKV as PeerKV } from './connect.ts';
export * from './admin.ts';
export { STORE_CLI_USAGE, CLI_QUORUM_POLL_MS, WITNESS_JOIN_RETRY_MS, StoreCliUsageError, main, parseStoreArgs, runStore, wantsHelp, type RunningStore, type StoreCliOptions } from './cli.ts';
