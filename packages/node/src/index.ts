/**
 * @peerkv/node: PeerKV's Node-only parts, kept out of the packages a browser bundle reaches
 * (`peerkv`, `@peerkv/store`, ...): WebRTC on the native `@roamhq/wrtc` with `ws` signaling
 * (`nodeWebRtcTransport`), a store's engine on LevelDB (`openLevelStoreEngine`), and the
 * `peerkv-store` command line (`bin/peerkv-store.mjs` runs `main`).
 */
export * from './node-webrtc.ts';
export * from './level-store.ts';
export { STORE_CLI_USAGE, CLI_QUORUM_POLL_MS, StoreCliUsageError, main, parseStoreArgs, wantsHelp, type StoreCliOptions } from './cli.ts';
