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

/** A message posted on a held bus and not yet delivered. */
export interface HeldMessage {
  readonly data: { from: number; session: string; kind: string; to?: number };
  readonly target: BroadcastChannelLike;
}

/** A bus that delivers only when told: the test picks the interleaving. */
export interface HeldBus {
  Ctor: BroadcastChannelCtor;
  /** Posted, not yet delivered, in posting order. */
  held: HeldMessage[];
  /** Delivers the first held message `pick` accepts; false when none does. */
  deliver(pick: (m: HeldMessage) => boolean): boolean;
}

/** A fresh held bus. */
export function heldBus(): HeldBus {
  const channels = new Set<HeldChannel>();
  const held: HeldMessage[] = [];
  class HeldChannel implements BroadcastChannelLike {
    onmessage: ((ev: MessageEvent) => void) | null = null;
    constructor(readonly name: string) {
      channels.add(this);
    }
    postMessage(message: unknown): void {
      for (const c of channels) if (c !== this && c.name === this.name) held.push({ data: structuredClone(message) as HeldMessage['data'], target: c });
    }
    close(): void {
      channels.delete(this);
    }
  }
  return {
    Ctor: HeldChannel,
    held,
    deliver(pick) {
      const i = held.findIndex(pick);
      if (i < 0) return false;
      const [m] = held.splice(i, 1);
      m.target.onmessage?.({ data: m.data } as MessageEvent);
      return true;
    },
  };
}
