/** An in-process BroadcastChannel bus for tests: delivery on a later microtask, never to the poster. */
import type { BroadcastChannelCtor, BroadcastChannelLike } from '../src/broadcast-channel-transport.ts';

/** The bus: its constructor, and the channels muted (they post nothing). */
export interface FakeBus {
  Ctor: BroadcastChannelCtor;
  mute: Set<BroadcastChannelLike>;
}

/** A fresh bus; channels of the same name on it hear each other. */
export function fakeBus(): FakeBus {
  const channels = new Map<string, Set<FakeChannel>>();
  const mute = new Set<BroadcastChannelLike>();
  class FakeChannel implements BroadcastChannelLike {
    onmessage: ((ev: MessageEvent) => void) | null = null;
    constructor(readonly name: string) {
      if (!channels.has(name)) channels.set(name, new Set());
      channels.get(name)?.add(this);
    }
    postMessage(message: unknown): void {
      if (mute.has(this)) return;
      const data = structuredClone(message);
      for (const c of channels.get(this.name) ?? []) {
        if (c !== this) queueMicrotask(() => c.onmessage?.({ data } as MessageEvent));
      }
    }
    close(): void {
      channels.get(this.name)?.delete(this);
    }
  }
  return { Ctor: FakeChannel, mute };
}
