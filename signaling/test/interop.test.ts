/**
 * Interop both ways: y-webrtc's own `WebrtcProvider` uses our server, and PeerKV's
 * `WebRtcTransport` uses y-webrtc's bundled server.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import net from 'node:net';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { SignalingServer } from '../src/server.ts';
import { WebRtcTransport, deriveClusterKeys, type RaftBatch, type WebSocketCtor } from '@peerkv/transport';
import { fakePeerFactory, seqMessage, seqOf } from '@peerkv/transport/testing';
import { RawClient, until } from './helpers.ts';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

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

  it("PeerKV's WebRtcTransport pairs stores through y-webrtc's bundled server", async () => {
    const port = await freePort();
    const fixture = new URL('./fixtures/ywebrtc-server-loopback.mjs', import.meta.url).pathname;
    const proc = spawn(process.execPath, [fixture], { env: { ...process.env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'inherit'] });
    cleanups.push(() => proc.kill('SIGTERM'));
    let out = '';
    proc.stdout.on('data', (d) => (out += String(d)));
    await until(() => out.includes('Signaling server running'), 5000);
    const url = `ws://127.0.0.1:${port}`;
    const keys = await deriveClusterKeys('interop', 'pw', 1000);
    const make = (id: number) => {
      const t = new WebRtcTransport({ localStoreId: id, keys, signalingUrl: url, WebSocket: WebSocket as unknown as WebSocketCtor, peerFactory: fakePeerFactory, iceServers: [] });
      cleanups.push(() => t.close());
      return t;
    };
    const a = make(1);
    const b = make(2);
    const got: RaftBatch[] = [];
    b.onMessage((x) => got.push(x));
    await until(() => a.peers().length === 1 && b.peers().length === 1);
    a.send(2, [seqMessage(1), seqMessage(2), seqMessage(3)]);
    await until(() => got.flatMap((x) => x.messages).length === 3);
    expect(got.flatMap((x) => x.messages).map(seqOf)).toEqual([1, 2, 3]);
  });
});
