/**
 * Interop with y-webrtc's own signaling server: PeerKV's `WebRtcTransport` (fake peers) pairs
 * two stores through y-webrtc's bundled server, unchanged. (The other direction, y-webrtc's
 * client on our server, is signaling/test/interop.test.ts.)
 */
import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import net from 'node:net';
import WebSocket from 'ws';
import { deriveClusterKeys } from '../src/auth.ts';
import type { RaftBatch } from '../src/codec/envelope.ts';
import type { WebSocketCtor } from '../src/signaling-client.ts';
import { WebRtcTransport } from '../src/webrtc-transport.ts';
import { fakePeerFactory } from './fake-peer.ts';
import { seqMessage, seqOf, until } from './helpers.ts';

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
  it("PeerKV's WebRtcTransport pairs stores through y-webrtc's bundled server", async () => {
    const port = await freePort();
    const fixture = new URL('./fixtures/ywebrtc-server-loopback.mjs', import.meta.url).pathname;
    const proc = spawn(process.execPath, [fixture], { env: { ...process.env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'inherit'] });
    cleanups.push(() => proc.kill('SIGTERM'));
    let out = '';
    proc.stdout.on('data', (d) => (out += String(d)));
    await until(() => out.includes('Signaling server running'), 10_000);
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
    await until(() => a.peers().length === 1 && b.peers().length === 1, 6000);
    a.send(2, [seqMessage(1), seqMessage(2), seqMessage(3)]);
    await until(() => got.flatMap((x) => x.messages).length === 3, 6000);
    expect(got.flatMap((x) => x.messages).map(seqOf)).toEqual([1, 2, 3]);
  });
});
