import { afterEach, describe, expect, it } from 'vitest';
import type { BroadcastChannelCtor, BroadcastChannelLike } from '../src/broadcast-channel-transport.ts';
import { BroadcastChannelTransport } from '../src/broadcast-channel-transport.ts';
import type { RaftBatch } from '../src/codec/envelope.ts';
import { ManualTimers } from '../src/timers.ts';
import type { PeerEvent } from '../src/types.ts';
import { fakeBus } from './fake-bus.ts';
import { seqMessage, seqOf, testKeys, until } from './helpers.ts';

/** Advances virtual time in 250 ms steps, letting posted messages arrive in between. */
async function advance(timers: ManualTimers, ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 250) {
    timers.advance(250);
    await new Promise((r) => setTimeout(r, 0));
  }
}

const open: BroadcastChannelTransport[] = [];
afterEach(() => {
  for (const t of open.splice(0)) t.close();
});

async function make(storeId: number, opts: { Ctor?: BroadcastChannelCtor; timers?: ManualTimers; secret?: string; cluster?: string } = {}) {
  const t = new BroadcastChannelTransport({
    localStoreId: storeId,
    keys: await testKeys(opts.cluster ?? 'bc', opts.secret ?? 'pw'),
    ...(opts.Ctor ? { BroadcastChannel: opts.Ctor } : {}),
    ...(opts.timers ? { timers: opts.timers } : {}),
  });
  open.push(t);
  const got: RaftBatch[] = [];
  const events: PeerEvent[] = [];
  t.onMessage((b) => got.push(b));
  t.onPeer((e) => events.push(e));
  return { t, got, events };
}

describe('BroadcastChannelTransport', () => {
  it('discovers by hello and delivers in order over Node’s real BroadcastChannel', async () => {
    const a = await make(1);
    const b = await make(2);
    await until(() => a.t.peers().length === 1 && b.t.peers().length === 1);
    for (let i = 0; i < 300; i++) b.t.send(1, [seqMessage(i)]);
    await until(() => a.got.flatMap((x) => x.messages).length === 300);
    expect(a.got.flatMap((x) => x.messages).map(seqOf)).toEqual(Array.from({ length: 300 }, (_, i) => i));
  });

  it('links at once when the dialler (the smaller id) starts after the other store\'s last hello', async () => {
    const timers = new ManualTimers();
    const { Ctor } = fakeBus();
    // Store 2 starts first: its hello reaches nobody. Store 1, the dialler, starts later; with
    // no time passing, no periodic hello can help: store 2 must hello back to store 1's hello.
    const b = await make(2, { Ctor, timers });
    const a = await make(1, { Ctor, timers });
    await until(() => a.t.peers().includes(2) && b.t.peers().includes(1));
    expect(a.events).toContainEqual({ type: 'up', storeId: 2 });
  });

  it('detects departure by silence and by bye', async () => {
    const timers = new ManualTimers();
    const { Ctor, mute } = fakeBus();
    const a = await make(1, { Ctor, timers });
    const b = await make(2, { Ctor, timers });
    const c = await make(3, { Ctor, timers });
    await advance(timers, 1000); // a heartbeat so everyone has heard everyone
    await until(() => a.t.peers().length === 2);
    // b goes silent (a crashed tab): no bye, no hello.
    mute.add((b.t as unknown as { channel: BroadcastChannelLike }).channel);
    await advance(timers, 5000);
    expect(a.t.peers()).toEqual([3]);
    expect(a.events).toContainEqual({ type: 'down', storeId: 2, reason: 'departure timeout' });
    c.t.close();
    await until(() => a.t.peers().length === 0);
    expect(a.events).toContainEqual({ type: 'down', storeId: 3, reason: 'bye' });
  });

  it('a store of another secret on the same channel never delivers', async () => {
    const { Ctor } = fakeBus();
    const a = await make(1, { Ctor });
    const evil = await make(2, { Ctor, secret: 'nope' });
    await until(() => a.t.counters().drops.authFailed + evil.t.counters().drops.authFailed > 0);
    evil.t.send(1, [seqMessage(1)]);
    await new Promise((r) => setTimeout(r, 20));
    expect(a.got).toEqual([]);
    expect(a.t.peers()).toEqual([]);
  });

  it('counts hellos from another cluster that share the channel name', async () => {
    const { Ctor } = fakeBus();
    const a = await make(1, { Ctor });
    const ch = new Ctor('peerkv/bc');
    ch.postMessage({ p: 'peerkv/bc/1', cluster: 'other', from: 9, session: 'x', kind: 'hello' });
    await until(() => a.t.counters().drops.foreignCluster === 1);
    expect(a.t.peers()).toEqual([]);
  });
});
