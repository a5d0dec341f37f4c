/**
 * Wiring a `Store` to a `Transport` (BroadcastChannel, WebRTC): Raft messages out through
 * `send`, Raft batches in through `receive`, a peer going down wakes the regions it served,
 * and store requests are answered by `serveStore`. One transport carries all three. A
 * temporary id (a client, a store still joining) is never a Raft member: its Raft batches are
 * dropped and counted (`refused.raftFromTempId`). A store whose link was admitted
 * provisionally (its key not confirmed yet, `ServeStoreOptions.provisional`) may send Raft
 * messages of PD's group only, which a lagging PD replica here may need to learn that store's
 * key; its messages for data regions are dropped and counted (`refused.raftFromProvisional`)
 * until its key is confirmed, and it is served only `PROVISIONAL_REQUESTS`. When the answers
 * about its key speak against it (`PeerKeyBook.isDoubted`), it is not sent data-region Raft
 * either (`storeTransportOf` with `DoubtedSends`, counted `raftToDoubted`). An undisputed one is
 * (a store joining, whose link no second PD replica can vouch for yet): it must not wait for
 * the leader's entries and snapshots once it trusts this store, and its own data-region Raft
 * stays dropped here until its key is confirmed, so what it is sent makes it no member here.
 * Each Raft message's peers are checked against the link in `StoreLoop.receive`
 * (`peer-stores.ts`).
 * A store with a `dataKeyGate` (`StoreOptions.dataProofKey`) serves user data only to callers
 * that proved the data key on their current link, and its leaders send data snapshots only to
 * stores that proved it when asked (over this transport): a link going up or down makes either
 * prove again.
 */
import type { Transport } from '@peerkv/transport';
import type { StoreTransport } from '../options.ts';
import type { Store } from '../store.ts';
import { PD_REGION_ID } from '../pd-host.ts';
import { isTempStoreId } from '../temp-store-ids.ts';
import { serveStore, type ServeStoreOptions } from './server.ts';

/** Which stores `storeTransportOf` sends no data-region Raft to. */
export interface DoubtedSends {
  /** Whether `storeId`'s link is provisional and doubted (`PeerKeyBook.isDoubted`). */
  doubted: (storeId: number) => boolean;
  /** Called with the number of data-region messages withheld from one. */
  withheld?: (count: number) => void;
}

/**
 * The `StoreTransport` to open a store with: Raft messages leave through `t.send`. With `o`, a
 * store whose identity the answers about its key speak against gets PD's group's messages only:
 * data-region traffic, entries and snapshots included, waits until its key is confirmed.
 */
export function storeTransportOf(t: Pick<Transport, 'send'>, o?: DoubtedSends): StoreTransport {
  return {
    send: (to, messages) => {
      if (!o?.doubted(to)) return void t.send(to, messages);
      const pd = messages.filter((m) => m.regionId === PD_REGION_ID);
      if (pd.length < messages.length) o.withheld?.(messages.length - pd.length);
      if (pd.length > 0) void t.send(to, pd);
    },
  };
}

/**
 * Delivers `t`'s Raft batches and peer-down events to `store` and serves its requests; returns
 * the unbinder. A `t` that also sends requests carries the store's data-key asks
 * (`DataKeyGate.attach`): without it, a store with a gate sends no data snapshot to anyone.
 */
export function bindStore(store: Store, t: Pick<Transport, 'onMessage' | 'onPeer' | 'onRequest'> & Partial<Pick<Transport, 'request' | 'localStoreId'>>, o: ServeStoreOptions = {}): () => void {
  if (t.request && t.localStoreId !== undefined) store.dataKeyGate?.attach({ localStoreId: t.localStoreId, request: (target, payload, ro) => t.request!(target, payload, ro) });
  const offs = [
    () => store.dataKeyGate?.attach(undefined),
    t.onMessage((b) => {
      if (isTempStoreId(b.fromStoreId)) return store.countRefused('raftFromTempId');
      if (!o.provisional?.(b.fromStoreId)) return store.receive(b.fromStoreId, b.messages);
      const pd = b.messages.filter((m) => m.regionId === PD_REGION_ID);
      for (let i = pd.length; i < b.messages.length; i++) store.countRefused('raftFromProvisional');
      if (pd.length > 0) store.receive(b.fromStoreId, pd);
    }),
    t.onPeer((e) => {
      // Before anything the new link sends is served: a proof made on the old link is void.
      store.dataKeyGate?.forget(e.storeId);
      if (e.type === 'down') store.onStoreDown(e.storeId);
    }),
    serveStore(store, t, { countRefused: (r) => store.countRefused(r), ...(store.dataKeyGate ? { dataKeyGate: store.dataKeyGate } : {}), ...o }),
  ];
  return () => {
    for (const off of offs) off();
  };
}
