/**
 * `WebRtcTransport` in Node: simple-peer on `@roamhq/wrtc`'s `RTCPeerConnection` (a native
 * module), signaling over the `ws` WebSocket. Browsers have both built in and use
 * `WebRtcTransport` from `@peerkv/transport` directly; only Node needs this file, which is
 * why it lives here and not in a package a browser bundle reaches.
 */
import wrtc from '@roamhq/wrtc';
import SimplePeer from 'simple-peer';
import WebSocket from 'ws';
import { WebRtcTransport, type PeerLike, type PeerOptions, type WebRtcTransportOptions, type WebSocketCtor } from '@peerkv/transport';

/** Builds simple-peer peers on Node's WebRTC. */
export function nodePeerFactory(o: PeerOptions): PeerLike {
  return new SimplePeer({ ...o, wrtc }) as unknown as PeerLike;
}

/** Settings of a Node WebRTC transport: those of `WebRtcTransport.create` minus the platform hooks. */
export type NodeWebRtcOptions = Omit<WebRtcTransportOptions, 'keys' | 'WebSocket' | 'peerFactory'> & { clusterId: string; secret: string };

/** A `WebRtcTransport` for Node (pass `iceServers: []` in tests: host candidates only). */
export function nodeWebRtcTransport(o: NodeWebRtcOptions): Promise<WebRtcTransport> {
  return WebRtcTransport.create({ ...o, WebSocket: WebSocket as unknown as WebSocketCtor, peerFactory: nodePeerFactory });
}
