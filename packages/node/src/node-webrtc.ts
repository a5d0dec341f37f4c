/**
 * `WebRtcTransport` in Node: simple-peer on `@roamhq/wrtc`'s `RTCPeerConnection` (a native
 * module), signaling over the `ws` WebSocket. Browsers have both built in and use
 * `WebRtcTransport` from `@peerkv/transport` directly; only Node needs this file, which is
 * why it lives here and not in a package a browser bundle reaches.
 */
import wrtc from '@roamhq/wrtc';
import SimplePeer from 'simple-peer';
import WebSocket from 'ws';
import { withDataKeyProof } from '@peerkv/store';
import { WebRtcTransport, deriveMemberKeys, type ClusterKeys, type PeerLike, type PeerOptions, type WebRtcTransportOptions, type WebSocketCtor } from '@peerkv/transport';

/**
 * Builds simple-peer peers on Node's WebRTC. simple-peer 9 starts a 5 s "ICE complete" timer on
 * the first ICE candidate and never clears it when the peer is destroyed: in Node that timer
 * alone keeps a process alive for 5 s after its client closed, so it is cleared on `close`.
 */
export function nodePeerFactory(o: PeerOptions): PeerLike {
  const peer = new SimplePeer({ ...o, wrtc });
  peer.on('close', () => clearTimeout((peer as unknown as { _iceCompleteTimer?: ReturnType<typeof setTimeout> })._iceCompleteTimer));
  return peer as unknown as PeerLike;
}

/**
 * Settings of a Node WebRTC transport: those of `WebRtcTransport.create` minus the platform
 * hooks, with the cluster secret, or the link and signaling keys already derived (a full
 * store's `deriveMemberKeys`, a witness's credential: it has no secret) and, for a full
 * member, its data-proof key.
 */
export type NodeWebRtcOptions = Omit<WebRtcTransportOptions, 'keys' | 'WebSocket' | 'peerFactory'> & ({ clusterId: string; secret: string } | { keys: ClusterKeys; dataProofKey?: CryptoKey });

/**
 * A `WebRtcTransport` for Node (pass `iceServers: []` in tests: host candidates only). A member
 * (the secret, or `dataProofKey`) gets it with the data-key proof (`withDataKeyProof`): stores
 * that serve data to provers only then serve its requests.
 */
export async function nodeWebRtcTransport(o: NodeWebRtcOptions): Promise<WebRtcTransport> {
  const platform = { WebSocket: WebSocket as unknown as WebSocketCtor, peerFactory: nodePeerFactory };
  if ('keys' in o) {
    const { dataProofKey, ...rest } = o;
    const t = new WebRtcTransport({ ...rest, ...platform });
    return dataProofKey ? withDataKeyProof(t, dataProofKey) : t;
  }
  const { clusterId, secret, ...rest } = o;
  const m = await deriveMemberKeys(clusterId, secret);
  return withDataKeyProof(new WebRtcTransport({ ...rest, keys: m.keys, ...platform }), m.dataProofKey);
}
