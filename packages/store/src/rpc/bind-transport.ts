/**
 * Wiring a `Store` to a `Transport` (BroadcastChannel, WebRTC): Raft messages out through
 * `send`, Raft batches in through `receive`, a peer going down wakes the regions it served,
 * and store requests are answered by `serveStore`. One transport carries all three.
 */
import type { Transport } from '@peerkv/transport';
import type { StoreTransport } from '../options.ts';
import type { Store } from '../store.ts';
import { serveStore, type ServeStoreOptions } from './server.ts';

/** The `StoreTransport` to open a store with: Raft messages leave through `t.send`. */
export function storeTransportOf(t: Pick<Transport, 'send'>): StoreTransport {
  return { send: (to, messages) => void t.send(to, messages) };
}

/** Delivers `t`'s Raft batches and peer-down events to `store` and serves its requests; returns the unbinder. */
export function bindStore(store: Store, t: Pick<Transport, 'onMessage' | 'onPeer' | 'onRequest'>, o: ServeStoreOptions = {}): () => void {
  const offs = [
    t.onMessage((b) => store.receive(b.fromStoreId, b.messages)),
    t.onPeer((e) => {
      if (e.type === 'down') store.onStoreDown(e.storeId);
    }),
    serveStore(store, t, o),
  ];
  return () => {
    for (const off of offs) off();
  };
}
