import { describe, expect, it } from 'vitest';
import { SignalingClient } from '../src/signaling-client.ts';
import type { WebSocketLike } from '../src/signaling-client.ts';
import { ManualTimers } from '../src/timers.ts';

/** A scripted WebSocket: the test opens, closes and feeds it by hand. */
class FakeWs implements WebSocketLike {
  static all: FakeWs[] = [];
  readyState = 0;
  sent: Array<Record<string, unknown>> = [];
  onopen: ((ev: unknown) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  constructor(readonly url: string) {
    FakeWs.all.push(this);
  }
  send(data: string): void {
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }
  close(): void {
    this.readyState = 3;
  }
  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }
  drop(code = 1006): void {
    this.readyState = 3;
    this.onclose?.({ code, reason: '' });
  }
  deliver(m: unknown): void {
    this.onmessage?.({ data: JSON.stringify(m) });
  }
}

function setup() {
  FakeWs.all = [];
  const timers = new ManualTimers();
  const published: Array<[string, unknown]> = [];
  let opens = 0;
  const c = new SignalingClient(
    { url: 'ws://x', topics: ['t'], WebSocket: FakeWs, timers, pingIntervalMs: 1000 },
    {
      onOpen: () => opens++,
      onPublish: (topic, data) => {
        published.push([topic, data]);
      },
    },
  );
  return { c, timers, published, opens: () => opens };
}

describe('SignalingClient', () => {
  it('subscribes on open and surfaces publications', () => {
    const { c, published, opens } = setup();
    FakeWs.all[0].open();
    expect(FakeWs.all[0].sent).toEqual([{ type: 'subscribe', topics: ['t'] }]);
    expect(opens()).toBe(1);
    expect(c.publish('t', { a: 1 })).toBe(true);
    expect(FakeWs.all[0].sent[1]).toEqual({ type: 'publish', topic: 't', data: { a: 1 } });
    FakeWs.all[0].deliver({ type: 'publish', topic: 't', data: 'x', clients: 2 });
    FakeWs.all[0].deliver('garbage');
    expect(published).toEqual([['t', 'x']]);
  });

  it('reconnects with capped exponential backoff, reset after a successful open', () => {
    const { timers } = setup();
    const delays: number[] = [];
    for (let i = 0; i < 8; i++) {
      const before = FakeWs.all.length;
      FakeWs.all[before - 1].drop();
      let waited = 0;
      while (FakeWs.all.length === before) {
        timers.advance(50);
        waited += 50;
      }
      delays.push(waited);
    }
    expect(delays).toEqual([250, 500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
    FakeWs.all.at(-1)?.open();
    FakeWs.all.at(-1)?.drop();
    const before = FakeWs.all.length;
    timers.advance(250);
    expect(FakeWs.all.length).toBe(before + 1);
  });

  it('pings, and reconnects when pongs stop', () => {
    const { timers } = setup();
    const ws = FakeWs.all[0];
    ws.open();
    timers.advance(1000);
    expect(ws.sent.at(-1)).toEqual({ type: 'ping' });
    ws.deliver({ type: 'pong' });
    timers.advance(1000);
    timers.advance(1000);
    expect(FakeWs.all.length).toBe(1);
    timers.advance(1000); // three periods without a pong
    timers.advance(300);
    expect(FakeWs.all.length).toBe(2);
  });

  it('unsubscribes and stops for good on close', () => {
    const { c, timers } = setup();
    FakeWs.all[0].open();
    c.close();
    expect(FakeWs.all[0].sent.at(-1)).toEqual({ type: 'unsubscribe', topics: ['t'] });
    timers.advance(60_000);
    expect(FakeWs.all.length).toBe(1);
    expect(c.publish('t', 1)).toBe(false);
  });

  it('hands publications over one at a time, bounded per sender in count and bytes; the excess is dropped and counted', async () => {
    FakeWs.all = [];
    const seen: string[] = [];
    const dropped: string[] = [];
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const perSenderMax = 8;
    const c = new SignalingClient(
      { url: 'ws://x', topics: ['t'], WebSocket: FakeWs, timers: new ManualTimers(), publishQueuePerSenderMax: perSenderMax, publishQueuePerSenderBytesMax: 10_000 },
      {
        onPublish: async (_topic, data) => {
          seen.push(String(data).slice(0, 8));
          await gate; // a slow decryption
        },
        onPublishDropped: (topic) => dropped.push(topic),
      },
    );
    const ws = FakeWs.all[0];
    ws.open();
    const flood = 20;
    for (let i = 0; i < flood; i++) ws.deliver({ type: 'publish', topic: 't', data: `junk${i}`, sender: 7 });
    // Few but large: the byte bound of sender 9 holds one 6 KB message, not two.
    for (let i = 0; i < 3; i++) ws.deliver({ type: 'publish', topic: 't', data: `big${i}`.padEnd(6000, '.'), sender: 9 });
    ws.deliver({ type: 'publish', topic: 't', data: 'honest', sender: 8 });
    // One in the handler, perSenderMax waiting, the rest of sender 7 dropped; two of sender 9.
    expect(seen).toEqual(['junk0']);
    expect(c.publishesDropped).toBe(flood - 1 - perSenderMax + 2);
    expect(dropped.length).toBe(c.publishesDropped);
    release();
    await new Promise((r) => setTimeout(r, 0)); // after every microtask of the drain
    expect(seen.length).toBe(1 + perSenderMax + 1 + 1);
    expect(seen.slice(0, 3)).toEqual(['junk0', 'junk1', 'junk2']);
    expect(seen.slice(-2)).toEqual(['big0....', 'honest']);
  });

  it('without a sender named (y-webrtc server), only the total bound applies', () => {
    FakeWs.all = [];
    let n = 0;
    const gate = new Promise<void>(() => {});
    const c = new SignalingClient(
      { url: 'ws://x', topics: ['t'], WebSocket: FakeWs, timers: new ManualTimers(), publishQueuePerSenderMax: 2, publishQueueBytesMax: 20_000 },
      {
        onPublish: () => {
          n++;
          return gate;
        },
      },
    );
    FakeWs.all[0].open();
    for (let i = 0; i < 50; i++) FakeWs.all[0].deliver({ type: 'publish', topic: 't', data: 'x'.repeat(1000) });
    expect(n).toBe(1);
    // About 20 KB of 1 KB messages held (not the 2 a per-sender bound would keep); the rest dropped.
    expect(c.publishesDropped).toBeGreaterThan(25);
    expect(c.publishesDropped).toBeLessThan(35);
  });

  it('given several URLs of one deployment, holds one connection and moves to the next when it closes or fails', () => {
    FakeWs.all = [];
    const timers = new ManualTimers();
    let opens = 0;
    const c = new SignalingClient({ url: ['ws://a', 'ws://b'], topics: ['t'], WebSocket: FakeWs, timers }, { onOpen: () => opens++ });
    expect(FakeWs.all.map((w) => w.url)).toEqual(['ws://a']);
    expect(c.url).toBe('ws://a');
    FakeWs.all[0].open();
    // The process behind ws://a dies: the next connection goes to ws://b after the first backoff step.
    FakeWs.all[0].drop();
    expect(c.url).toBe('ws://b');
    timers.advance(250);
    expect(FakeWs.all.map((w) => w.url)).toEqual(['ws://a', 'ws://b']);
    FakeWs.all[1].open();
    expect(FakeWs.all[1].sent).toEqual([{ type: 'subscribe', topics: ['t'] }]);
    expect([opens, c.connects, c.connected]).toEqual([2, 2, true]);
    // ws://b fails too and ws://a is still down: they are tried in turn, with the backoff growing.
    FakeWs.all[1].drop();
    timers.advance(250);
    FakeWs.all[2].drop();
    timers.advance(500);
    expect(FakeWs.all.map((w) => w.url)).toEqual(['ws://a', 'ws://b', 'ws://a', 'ws://b']);
    c.close();
    expect(() => new SignalingClient({ url: [], topics: ['t'], WebSocket: FakeWs, timers }, {})).toThrow(RangeError);
    expect(() => new SignalingClient({ url: Array(9).fill('ws://a'), topics: ['t'], WebSocket: FakeWs, timers }, {})).toThrow(/1\.\.8 URLs/);
  });
});
