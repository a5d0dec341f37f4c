/**
 * @peerkv/node: PeerKV's Node-only entry (native WebRTC, WebSocket signaling, the CLI).
 */
export {};
