/**
 * `LocalRouter`: delivers Raft messages between stores in one process (tests, demos with
 * several stores in one page). Delivery is asynchronous (a microtask later, like a message
 * arriving between two store rounds), in order per pair, and can be cut per link to inject
 * partitions. A simulator can also delay, lose, duplicate and reorder sends (seeded choices
 * it passes in); all of that is off by default. A store that stopped sends nothing more.
 */
import type { RegionMessage } from '@peerkv/transport';
import type { StoreTransport, Timers } from './options.ts';
import type { Store } from './store.ts';

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
    /**
     * The delay of a send that left its link's order (reordered, or a duplicate), ms;
     * `delayMs` when absent. A long tail here models a packet stuck on another path.
     */
    outOfOrderDelayMs?: (from: number, to: number) => number;
  };
  /** True to lose one send (all its messages) from `from` to `to`. */
  drop?: (from: number, to: number, messages: readonly RegionMessage[]) => boolean;
  /**
   * True to deliver one send twice: the copy (a deep clone, as if decoded again) travels on
   * its own, outside the link's order, like a retransmission. Needs `delay` to arrive later.
   */
  duplicate?: (from: number, to: number) => boolean;
  /**
   * True to let one send leave the link's order: it takes only its own delay, so it may
   * overtake earlier sends or arrive after later ones. Needs `delay`.
   */
  reorder?: (from: number, to: number) => boolean;
}

/** Counts of what the router did to sends, for tests and simulator reports. */
export interface LocalRouterStats {
  /** Sends delivered twice. */
  duplicated: number;
  /** Sends that left their link's order. */
  reordered: number;
  /** Sends from a store after it stopped (never delivered). */
  fromStopped: number;
}

export class LocalRouter {
  private readonly stores = new Map<number, Store>();
  private readonly cut = new Set<string>();
  /** Per link, the time the last delayed send is delivered (keeps links in order). */
  private readonly linkBusyUntil = new Map<string, number>();
  /** Messages dropped by cuts, by `drop` or to stopped stores, for tests. */
  dropped = 0;
  readonly stats: LocalRouterStats = { duplicated: 0, reordered: 0, fromStopped: 0 };
  /** Per store id, the transports handed out to it; `unregister` revokes them (a restart gets a new one). */
  private readonly issued = new Map<number, { revoked: boolean }[]>();

  constructor(private readonly o: LocalRouterOptions = {}) {}

  /**
   * Runs `deliver` after the link's delay (behind every earlier send of the link, unless
   * `outOfOrder`), or a microtask later without a delay.
   */
  private later(link: string, from: number, to: number, outOfOrder: boolean, deliver: () => void): void {
    const d = this.o.delay;
    if (!d) {
      queueMicrotask(deliver);
      return;
    }
    const now = d.now();
    if (outOfOrder) {
      d.timers.setTimeout(deliver, Math.max(0, (d.outOfOrderDelayMs ?? d.delayMs)(from, to)));
      return;
    }
    const own = now + Math.max(0, d.delayMs(from, to));
    const at = Math.max(own, this.linkBusyUntil.get(link) ?? 0);
    this.linkBusyUntil.set(link, at);
    d.timers.setTimeout(deliver, at - now);
  }

  /** The transport a store with `storeId` sends through (until the store is unregistered). */
  transportFor(storeId: number): StoreTransport {
    const grant = { revoked: false };
    this.issued.set(storeId, [...(this.issued.get(storeId) ?? []), grant]);
    return {
      send: (to: number, messages: RegionMessage[]) => {
        if (grant.revoked) {
          // A stopped (crashed) store's late round: its process is gone, nothing leaves it.
          this.stats.fromStopped++;
          this.dropped += messages.length;
          return;
        }
        const link = `${storeId}->${to}`;
        if (this.cut.has(link) || this.o.drop?.(storeId, to, messages)) {
          this.dropped += messages.length;
          return;
        }
        const deliver = (batch: RegionMessage[]) => (): void => {
          const target = this.stores.get(to);
          if (!target || this.cut.has(link)) {
            this.dropped += batch.length;
            return;
          }
          target.receive(storeId, batch);
        };
        const reorder = this.o.reorder?.(storeId, to) ?? false;
        if (reorder) this.stats.reordered++;
        this.later(link, storeId, to, reorder, deliver(messages));
        if (this.o.duplicate?.(storeId, to)) {
          this.stats.duplicated++;
          this.later(link, storeId, to, true, deliver(cloneMessages(messages)));
        }
      },
    };
  }

  register(store: Store): void {
    this.stores.set(store.storeId, store);
  }

  /** The store stopped (crash or close): messages to and from it are dropped and peers are told. */
  unregister(storeId: number): void {
    for (const g of this.issued.get(storeId) ?? []) g.revoked = true;
    this.issued.delete(storeId);
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

/** A copy of `messages` sharing nothing with them (a duplicate is decoded again on arrival). */
function cloneMessages(messages: RegionMessage[]): RegionMessage[] {
  return structuredClone(messages);
}
