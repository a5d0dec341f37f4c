/**
 * `MemoryNetwork`: a seeded, virtual-time, in-memory network for simulations and tests.
 *
 * Owns the links between numbered endpoints and the messages in flight on them: per-message
 * delay, loss, duplication and reordering drawn from an injected PRNG; symmetric partitions,
 * one-way (asymmetric) link cuts, isolation of one endpoint, and healing. It never reads a
 * clock: the caller passes the virtual time to `send` and pulls due messages with `takeDue`.
 * Generic over the message type: it routes, it never looks inside a message.
 *
 * Same seed, same calls → same deliveries in the same order (ties break by send order).
 */

/** The randomness the network consumes (`SeededRng` from `@peerkv/raft` fits). */
export interface NetworkRng {
  /** A float in [0, 1). */
  nextFloat(): number;
  /** An integer in [0, maxExclusive). */
  nextInt(maxExclusive: number): number;
}

/** An endpoint's address: a node (store) id. */
export type EndpointId = number;

/** Fault rates and delays applied to every message. Rates are probabilities in [0, 1]. */
export interface NetworkFaults {
  /** Minimum one-way delay, virtual ms. */
  delayMsMin: number;
  /** Maximum one-way delay, virtual ms (inclusive). */
  delayMsMax: number;
  /** Probability that a message is silently lost. */
  lossRate: number;
  /** Probability that a message is delivered twice (each copy with its own delay). */
  duplicateRate: number;
  /** Probability that a message gets an extra delay, overtaking later ones. */
  reorderRate: number;
  /** Upper bound of that extra delay, virtual ms. */
  reorderDelayMsMax: number;
}

/** A perfect network: 1 ms delay, no faults. */
export const NO_FAULTS: NetworkFaults = {
  delayMsMin: 1,
  delayMsMax: 1,
  lossRate: 0,
  duplicateRate: 0,
  reorderRate: 0,
  reorderDelayMsMax: 0,
};

/** Why a message did not arrive. */
export type DropReason =
  /** Random loss. */
  | 'loss'
  /** The link was cut (partition, one-way cut, isolation) at send or at delivery time. */
  | 'partition'
  /** Too many messages in flight (`inflightMessagesMax`). */
  | 'queueFull';

/** A message in flight or being delivered. */
export interface Delivery<M> {
  source: EndpointId;
  target: EndpointId;
  message: M;
  sentAtMs: number;
  deliverAtMs: number;
  /** Send order, unique per network; breaks ties between equal delivery times. */
  seq: number;
  /** True for the extra copy made by duplication. */
  duplicate: boolean;
}

export interface MemoryNetworkOptions<M> {
  rng: NetworkRng;
  faults?: Partial<NetworkFaults>;
  /** Bound on messages in flight; beyond it sends are dropped as `queueFull`. */
  inflightMessagesMax?: number;
  /** Told about every dropped message (e.g. to report a snapshot as failed). */
  onDrop?: (delivery: Delivery<M>, reason: DropReason) => void;
}

/** Counters, for reports and tests. */
export interface NetworkStats {
  sent: number;
  delivered: number;
  duplicated: number;
  dropped: Record<DropReason, number>;
}

/** Thrown for nonsensical fault settings. */
export class NetworkConfigError extends Error {
  override readonly name = 'NetworkConfigError';
  constructor(
    readonly kind: 'InvalidRate' | 'InvalidDelay',
    message: string,
  ) {
    super(message);
  }
}

const DEFAULT_INFLIGHT_MESSAGES_MAX = 1_000_000;

function validateFaults(f: NetworkFaults): void {
  for (const key of ['lossRate', 'duplicateRate', 'reorderRate'] as const) {
    const rate = f[key];
    if (!(rate >= 0 && rate <= 1)) throw new NetworkConfigError('InvalidRate', `${key} must be in [0, 1], got ${rate}`);
  }
  if (!(f.delayMsMin >= 0 && f.delayMsMax >= f.delayMsMin && f.reorderDelayMsMax >= 0)) {
    throw new NetworkConfigError('InvalidDelay', `bad delays: ${f.delayMsMin}..${f.delayMsMax}, +${f.reorderDelayMsMax}`);
  }
}

/** Orders deliveries by (deliverAtMs, seq). */
function before<M>(a: Delivery<M>, b: Delivery<M>): boolean {
  return a.deliverAtMs < b.deliverAtMs || (a.deliverAtMs === b.deliverAtMs && a.seq < b.seq);
}

/**
 * A binary min-heap ordered by `before` (also the simulator's event queue). Ties must be
 * broken inside `before` (e.g. by a sequence number) for replays to be deterministic.
 */
export class MinHeap<T> {
  private readonly items: T[] = [];

  constructor(private readonly before: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(x: T): void {
    const a = this.items;
    a.push(x);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(a[i], a[parent])) break;
      [a[i], a[parent]] = [a[parent], a[i]];
      i = parent;
    }
  }

  pop(): T | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      this.siftDown(0);
    }
    return top;
  }

  private siftDown(start: number): void {
    const a = this.items;
    let i = start;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < a.length && this.before(a[l], a[m])) m = l;
      if (r < a.length && this.before(a[r], a[m])) m = r;
      if (m === i) return;
      [a[i], a[m]] = [a[m], a[i]];
      i = m;
    }
  }
}

/** A seeded in-memory network; see the module header. */
export class MemoryNetwork<M> {
  private faults: NetworkFaults;
  private readonly rng: NetworkRng;
  private readonly inflight = new MinHeap<Delivery<M>>(before);
  private readonly inflightMessagesMax: number;
  private readonly onDrop?: (delivery: Delivery<M>, reason: DropReason) => void;
  /** One-way cuts, as "source>target". */
  private readonly cutLinks = new Set<string>();
  /** Partition group of each listed endpoint; endpoints in different groups cannot talk. */
  private readonly groupOf = new Map<EndpointId, number>();
  private readonly isolated = new Set<EndpointId>();
  private nextSeq = 0;
  readonly stats: NetworkStats = {
    sent: 0,
    delivered: 0,
    duplicated: 0,
    dropped: { loss: 0, partition: 0, queueFull: 0 },
  };

  constructor(options: MemoryNetworkOptions<M>) {
    this.rng = options.rng;
    this.faults = { ...NO_FAULTS, ...options.faults };
    validateFaults(this.faults);
    this.inflightMessagesMax = options.inflightMessagesMax ?? DEFAULT_INFLIGHT_MESSAGES_MAX;
    this.onDrop = options.onDrop;
  }

  /** The current fault settings. */
  getFaults(): NetworkFaults {
    return { ...this.faults };
  }

  /** Changes fault settings for messages sent from now on. */
  setFaults(faults: Partial<NetworkFaults>): void {
    const next = { ...this.faults, ...faults };
    validateFaults(next);
    this.faults = next;
  }

  /** Sends `message`; it arrives (maybe twice, maybe never) at a later virtual time. */
  send(source: EndpointId, target: EndpointId, message: M, nowMs: number): void {
    this.stats.sent++;
    const d = this.makeDelivery(source, target, message, nowMs, false);
    if (!this.canReach(source, target)) return this.drop(d, 'partition');
    if (this.rng.nextFloat() < this.faults.lossRate) return this.drop(d, 'loss');
    this.enqueue(d);
    if (this.rng.nextFloat() < this.faults.duplicateRate) {
      this.stats.duplicated++;
      this.enqueue(this.makeDelivery(source, target, message, nowMs, true));
    }
  }

  /** Virtual time of the next delivery, if any message is in flight. */
  nextDeliveryAtMs(): number | undefined {
    return this.inflight.peek()?.deliverAtMs;
  }

  /** Messages in flight. */
  inflightCount(): number {
    return this.inflight.size;
  }

  /**
   * Removes and returns, in delivery order, every message due at or before `nowMs` whose link
   * is still up; messages whose link was cut while they were in flight are dropped.
   */
  takeDue(nowMs: number): Delivery<M>[] {
    const out: Delivery<M>[] = [];
    for (let d = this.inflight.peek(); d !== undefined && d.deliverAtMs <= nowMs; d = this.inflight.peek()) {
      this.inflight.pop();
      if (!this.canReach(d.source, d.target)) {
        this.drop(d, 'partition');
        continue;
      }
      this.stats.delivered++;
      out.push(d);
    }
    return out;
  }

  /** True when a message from `source` to `target` would currently pass. */
  canReach(source: EndpointId, target: EndpointId): boolean {
    if (source === target) return true;
    if (this.isolated.has(source) || this.isolated.has(target)) return false;
    if (this.cutLinks.has(`${source}>${target}`)) return false;
    const gs = this.groupOf.get(source);
    const gt = this.groupOf.get(target);
    return gs === undefined || gt === undefined || gs === gt;
  }

  /**
   * Symmetric partition: endpoints in different groups cannot talk. Endpoints not listed are
   * unaffected. Replaces any previous partition (one-way cuts and isolation stay).
   */
  partition(groups: EndpointId[][]): void {
    this.groupOf.clear();
    groups.forEach((group, i) => group.forEach((id) => this.groupOf.set(id, i)));
  }

  /** Cuts the one-way link source → target (target → source keeps working). */
  cutLink(source: EndpointId, target: EndpointId): void {
    this.cutLinks.add(`${source}>${target}`);
  }

  /** Restores the one-way link source → target. */
  restoreLink(source: EndpointId, target: EndpointId): void {
    this.cutLinks.delete(`${source}>${target}`);
  }

  /** Cuts every link to and from `id`. */
  isolate(id: EndpointId): void {
    this.isolated.add(id);
  }

  /** Undoes `isolate(id)`. */
  reconnect(id: EndpointId): void {
    this.isolated.delete(id);
  }

  /** Removes every partition, cut and isolation (fault rates stay). */
  heal(): void {
    this.groupOf.clear();
    this.cutLinks.clear();
    this.isolated.clear();
  }

  /** True when no partition, cut or isolation is in place. */
  isHealed(): boolean {
    return this.groupOf.size === 0 && this.cutLinks.size === 0 && this.isolated.size === 0;
  }

  private makeDelivery(source: EndpointId, target: EndpointId, message: M, nowMs: number, duplicate: boolean): Delivery<M> {
    return { source, target, message, sentAtMs: nowMs, deliverAtMs: nowMs + this.drawDelayMs(), seq: this.nextSeq++, duplicate };
  }

  private drawDelayMs(): number {
    const f = this.faults;
    let delay = f.delayMsMin + this.rng.nextInt(f.delayMsMax - f.delayMsMin + 1);
    if (f.reorderRate > 0 && this.rng.nextFloat() < f.reorderRate) delay += this.rng.nextInt(f.reorderDelayMsMax + 1);
    return delay;
  }

  private enqueue(d: Delivery<M>): void {
    if (this.inflight.size >= this.inflightMessagesMax) return this.drop(d, 'queueFull');
    this.inflight.push(d);
  }

  private drop(d: Delivery<M>, reason: DropReason): void {
    this.stats.dropped[reason]++;
    this.onDrop?.(d, reason);
  }
}
