/**
 * Wiring a `Store` to a `Transport` (BroadcastChannel, WebRTC): Raft messages out through
 * `send`, Raft batches in through `receive`, a peer going down wakes the regions it served,
 * and store requests are answered by `serveStore`. One transport carries all three. A
 * temporary id (a client, a store still joining) is never a Raft member: its Raft batches are
 * dropped and counted (`refused.raftFromTempId`). A store whose link was admitted
 * provisionally (its key not confirmed yet, `ServeStoreOptions.provisional`) may send Raft
 * messages of PD's group only, which a lagging PD replica here may need to learn that store's
 * key; its messages for data regions are dropped and counted (`refused.raftFromProvisional`)
 * until its key is confirmed, and it is served only `PROVISIONAL_REQUESTS`.
 */
import type { Transport } from '@peerkv/transport';
import type { StoreTransport } from '../options.ts';
import type { Store } from '../store.ts';
import { PD_REGION_ID } from '../pd-host.ts';
import { isTempStoreId } from '../temp-store-ids.ts';
import { serveStore, type ServeStoreOptions } from './server.ts';

/** The `StoreTransport` to open a store with: Raft messages leave through `t.send`. */
export function storeTransportOf(t: Pick<Transport, 'send'>): StoreTransport {
  return { send: (to, messages) => void t.send(to, messages) };
}

/** Delivers `t`'s Raft batches and peer-down events to `store` and serves its requests; returns the unbinder. */
export function bindStore(store: Store, t: Pick<Transport, 'onMessage' | 'onPeer' | 'onRequest'>, o: ServeStoreOptions = {}): () => void {
  const offs = [
    t.onMessage((b) => {
      if (isTempStoreId(b.fromStoreId)) return store.countRefused('raftFromTempId');
      if (!o.provisional?.(b.fromStoreId)) return store.receive(b.fromStoreId, b.messages);
      const pd = b.messages.filter((m) => m.regionId === PD_REGION_ID);
      for (let i = pd.length; i < b.messages.length; i++) store.countRefused('raftFromProvisional');
      if (pd.length > 0) store.receive(b.fromStoreId, pd);
    }),
    t.onPeer((e) => {
      if (e.type === 'down') store.onStoreDown(e.storeId);
    }),
    serveStore(store, t, { countRefused: (r) => store.countRefused(r), ...o }),
  ];
  return () => {
    for (const off of offs) off();
  };
}
