/**
 * The half-link race fixed for BroadcastChannel in 23345ff (a link's successor spoke into the
 * peer's answered half-link: a second hello there, a proof for the other nonce here,
 * `authFailed` on both sides), checked over real WebRTC (`@roamhq/wrtc` through simple-peer,
 * a real signaling server on loopback). Over WebRTC a link is its own data channel, and a dial
 * is numbered: a successor dial is a new RTCPeerConnection whose packets reach only its own
 * link, and an answerer replaces its older peer when a newer dial's offer comes. So the race
 * has no medium to happen on; these tests force the situation that made it on
 * BroadcastChannel and show it does not: a dial whose channel opened, whose hello the answerer
 * took and answered, and whose dialler side then went without a word (it heard nothing and
 * timed out), twice, before a third dial; and partition/heal cycles from either side, each
 * healing to one link with no `authFailed`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { SignalingServer } from '@peerkv/signaling';
import { WebRtcTransport, deriveClusterKeys, type RaftBatch, type WebSocketCtor, type WebRtcTransportOptions } from '@peerkv/transport';
import { nodePeerFactory } from '../src/node-webrtc.ts';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function until(what: string, cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

interface Node {
  t: WebRtcTransport;
  ups: number;
  got: number[];
  /** Peers (dials, or answers) made. */
  peers: number;
  /** Peers whose channel opened here and then closed. */
  openedThenClosed: number;
}

/**
 * `o.deafDials` first dials of this store hear nothing on their channel: it opens, this side
 * sends its hello, the remote takes it and answers, and this side's link then times out
 * (`authTimeoutMs`) and goes without a word: the half-link of 23345ff, left on the remote.
 */
async function start(url: string, storeId: number, cluster: string, o: Partial<WebRtcTransportOptions> & { deafDials?: number } = {}): Promise<Node> {
  const { deafDials = 0, ...options } = o;
  const counts = { peers: 0, openedThenClosed: 0 };
  const t = new WebRtcTransport({
    localStoreId: storeId,
    keys: await deriveClusterKeys(cluster, 'pw', 1000),
    signalingUrl: url,
    iceServers: [],
    WebSocket: WebSocket as unknown as WebSocketCtor,
    peerFactory: (po) => {
      const real = nodePeerFactory(po);
      counts.peers++;
      const deaf = counts.peers <= deafDials;
      const peer = new Proxy(real, {
        get: (target, prop, receiver) => {
          if (prop !== 'on' || !deaf) {
            const v = Reflect.get(target, prop, receiver) as unknown;
            return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
          }
          return (event: string, fn: (...a: unknown[]) => void) => (event === 'data' ? target : target.on(event as 'close', fn as () => void));
        },
      });
      let opened = false;
      peer.on('connect', () => (opened = true));
      peer.on('close', () => {
        if (opened) counts.openedThenClosed++;
      });
      return peer;
    },
    reconnectDelayMsMin: 5,
    reconnectDelayMsMax: 200,
    announceIntervalMs: 500,
    ...options,
  });
  cleanups.push(() => t.close());
  const n: Node = {
    t,
    ups: 0,
    got: [],
    get peers() {
      return counts.peers;
    },
    get openedThenClosed() {
      return counts.openedThenClosed;
    },
  };
  t.onPeer((e) => {
    if (e.type === 'up') n.ups++;
  });
  t.onMessage((b: RaftBatch) => {
    for (const m of b.messages) n.got.push(m.message.term);
  });
  return n;
}

function message(term: number) {
  return { regionId: 1, regionEpoch: { confVer: 1, version: 1 }, message: { type: 'MsgHeartbeat' as const, to: 2, from: 1, term, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0 } };
}

async function signaling(): Promise<string> {
  const s = new SignalingServer();
  const addr = await s.listen(0, '127.0.0.1');
  cleanups.push(() => s.close());
  return `ws://127.0.0.1:${addr.port}`;
}

const failed = (...ns: Node[]) => ns.reduce((sum, n) => sum + n.t.counters().drops.authFailed, 0);

describe('WebRTC: no half-link race (23345ff over WebRTC)', () => {
  it('a dial whose half-link the answerer answered goes without a word: the next dial links once, with no authFailed', async () => {
    const url = await signaling();
    const a = await start(url, 1, 'half-rtc-1', { deafDials: 2, authTimeoutMs: 300 });
    const b = await start(url, 2, 'half-rtc-1');
    await until('linked', () => a.t.peers().length === 1 && b.t.peers().length === 1, 30_000);
    await new Promise((r) => setTimeout(r, 300));
    // What was forced: two dials opened on both sides, the answerer took the dialler's hello
    // (and answered it), the dialler heard nothing and dropped its side after 300 ms.
    expect(a.t.counters().drops.authTimeout).toBe(2);
    expect(b.openedThenClosed).toBe(2);
    expect(a.peers).toBe(3);
    // The third dial links once on both sides; nothing spoke into an older half-link.
    expect(failed(a, b)).toBe(0);
    expect(a.t.peers()).toEqual([2]);
    expect(b.t.peers()).toEqual([1]);
    expect([a.ups, b.ups]).toEqual([1, 1]);
    a.t.send(2, [message(7)]);
    await until('a message crosses', () => b.got.includes(7));
  }, 60_000);

  it('partition and heal 8 times from either side: each heal makes one link, no authFailed', async () => {
    const url = await signaling();
    const a = await start(url, 1, 'half-rtc-2');
    const b = await start(url, 2, 'half-rtc-2');
    await until('linked', () => a.t.peers().length === 1 && b.t.peers().length === 1, 30_000);
    for (let round = 0; round < 8; round++) {
      const [cut, other] = round % 2 === 0 ? [a, b] : [b, a];
      cut.t.partition([other.t.localStoreId]);
      await until(`round ${round}: both down`, () => a.t.peers().length === 0 && b.t.peers().length === 0);
      cut.t.heal();
      await until(`round ${round}: healed`, () => a.t.peers().length === 1 && b.t.peers().length === 1, 30_000);
      a.t.send(2, [message(100 + round)]);
      await until(`round ${round}: a message crosses`, () => b.got.includes(100 + round));
    }
    expect(failed(a, b)).toBe(0);
    expect(a.ups).toBe(9);
    expect(b.ups).toBe(9);
  }, 120_000);
});
