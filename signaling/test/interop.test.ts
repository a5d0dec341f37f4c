/**
 * Interop with y-webrtc: its own `WebrtcProvider` uses our server. (The other direction,
 * PeerKV's `WebRtcTransport` on y-webrtc's bundled server, is
 * packages/transport/test/ywebrtc-interop.test.ts.)
 */
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { SignalingServer } from '../src/server.ts';
import { RawClient, until } from './helpers.ts';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('interop with y-webrtc', () => {
  it("y-webrtc's WebrtcProvider subscribes and announces through our server", async () => {
    const server = new SignalingServer();
    const { port } = await server.listen(0, '127.0.0.1');
    cleanups.push(() => server.close());
    const url = `ws://127.0.0.1:${port}`;
    const watcher = new RawClient(url);
    cleanups.push(() => watcher.ws.terminate());
    await watcher.opened;
    watcher.send({ type: 'subscribe', topics: ['yroom'] });
    await until(() => server.metrics().subscriptions === 1);
    // y-webrtc's signaling connection uses the global WebSocket (Node 20 has none).
    // It stays set for this test file: y-webrtc keeps its signaling connections after destroy.
    (globalThis as { WebSocket?: unknown }).WebSocket = WebSocket;
    const { WebrtcProvider } = await import('y-webrtc');
    const doc = new Y.Doc();
    const provider = new WebrtcProvider('yroom', doc, { signaling: [url] });
    cleanups.push(() => {
      const conns = [...provider.signalingConns];
      provider.destroy();
      for (const conn of conns) conn.destroy();
    });
    const m = await watcher.waitFor((x) => x.type === 'publish' && (x.data as { type?: string }).type === 'announce');
    expect(m.topic).toBe('yroom');
    expect((m.data as { from: string }).from).toBe(provider.room?.peerId);
    expect(m.clients).toBe(2);
    expect(server.metrics().subscriptions).toBe(2);
  });
});
