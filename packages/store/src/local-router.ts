/**
 * `LocalRouter`: delivers Raft messages between stores in one process (tests, demos with
 * several stores in one page). Delivery is asynchronous (a microtask later, like a message
 * arriving between two store rounds), in order per pair, and can be cut per link to inject
 * partitions.
 */
import type { RegionMessage } from '@peerkv/transport';
import type { Store, StoreTransport } from './store.ts';

export class LocalRouter {
  private readonly stores = new Map<number, Store>();
  private readonly cut = new Set<string>();
  /** Messages dropped by cuts or to stopped stores, for tests. */
  dropped = 0;

  /** The transport a store with `storeId` sends through. */
  transportFor(storeId: number): StoreTransport {
    return {
      send: (to: number, messages: RegionMessage[]) => {
        if (this.cut.has(`${storeId}->${to}`)) {
          this.dropped += messages.length;
          return;
        }
        queueMicrotask(() => {
          const target = this.stores.get(to);
          if (!target || this.cut.has(`${storeId}->${to}`)) {
            this.dropped += messages.length;
            return;
          }
          target.receive(storeId, messages);
        });
      },
    };
  }

  register(store: Store): void {
    this.stores.set(store.storeId, store);
  }

  /** The store stopped (crash or close): messages to it are dropped and peers are told. */
  unregister(storeId: number): void {
    this.stores.delete(storeId);
    for (const s of this.stores.values()) s.onStoreDown(storeId);
  }

  /** Cuts both directions between `a` and every store in `others`. */
  partition(a: number[], b: number[]): void {
    for (const x of a) {
      for (const y of b) {
        this.cut.add(`${x}->${y}`);
        this.cut.add(`${y}->${x}`);
      }
    }
  }

  heal(): void {
    this.cut.clear();
  }
}
