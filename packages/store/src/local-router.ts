/**
 * `LocalRouter`: delivers Raft messages between stores in one process (tests, demos with
 * several stores in one page). Delivery is asynchronous (a microtask later, like a message
 * arriving between two store rounds), in order per pair, and can be cut per link to inject
 * partitions.
 */
import type { RegionMessage } from '@peerkv/transport';
import type { Store, StoreTransport, Timers } from './store.ts';

/**
 * Optional network behaviour (a simulator passes virtual timers and seeded choices). Without
 * it, delivery is one microtask later and nothing is lost.
 */
export interface LocalRouterOptions {
  /** Delays every send; per-link order is kept (a later send never overtakes an earlier one). */
  delay?: {
    timers: Pick<Timers, 'setTimeout'>;
    now: () => number;
    /** The delay of one send from store `from` to store `to`, ms. */
    delayMs: (from: number, to: number) => number;
  };
  /** True to lose one send (all its messages) from `from` to `to`. */
  drop?: (from: number, to: number) => boolean;
}

export class LocalRouter {
  private readonly stores = new Map<number, Store>();
  private readonly cut = new Set<string>();
  /** Per link, the time the last delayed send is delivered (keeps links in order). */
  private readonly linkBusyUntil = new Map<string, number>();
  /** Messages dropped by cuts, by `drop` or to stopped stores, for tests. */
  dropped = 0;

  constructor(private readonly o: LocalRouterOptions = {}) {}

  /** Runs `deliver` after the link's delay, or a microtask later without one. */
  private later(link: string, from: number, to: number, deliver: () => void): void {
    const d = this.o.delay;
    if (!d) {
      queueMicrotask(deliver);
      return;
    }
    const now = d.now();
    const at = Math.max(now + Math.max(0, d.delayMs(from, to)), this.linkBusyUntil.get(link) ?? 0);
    this.linkBusyUntil.set(link, at);
    d.timers.setTimeout(deliver, at - now);
  }

  /** The transport a store with `storeId` sends through. */
  transportFor(storeId: number): StoreTransport {
    return {
      send: (to: number, messages: RegionMessage[]) => {
        const link = `${storeId}->${to}`;
        if (this.cut.has(link) || this.o.drop?.(storeId, to)) {
          this.dropped += messages.length;
          return;
        }
        this.later(link, storeId, to, () => {
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
