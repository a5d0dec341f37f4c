/**
 * `CompositeTransport`: one store's `Transport` over several transports of that store, in
 * order of preference (e.g. BroadcastChannel for stores in the same browser profile, then
 * WebRTC for other devices). This module owns routing and merging:
 * - `send` and `request` go to the first part where the target is up; failing that, to the
 *   first part with a link still authenticating (it queues or waits there); failing that,
 *   they drop (`peerUnreachable`) or reject (`Unreachable`) here;
 * - peer events are merged: `up` when the first part has the store up, `down` only when no
 *   part has it up any more, so a store reachable twice is announced once;
 * - counters are summed over the parts plus what this layer dropped itself;
 * - the partition hook and `close` go to every part.
 */
import type { StoreId } from './codec/envelope.ts';
import type { RaftBatch, RegionMessage } from './codec/envelope.ts';
import type { LinkState } from './link-transport.ts';
import type { RequestHandler, RpcCounters, RpcRequestOptions } from './rpc.ts';
import { RpcError } from './rpc.ts';
import { publicKeysEqual } from './store-key.ts';
import type { DropReason, PartitionableTransport, PeerEvent, SendResult, TransportCounters, Unsubscribe } from './types.ts';
import { DROP_REASONS, emptyCounters } from './types.ts';

/** Why a `CompositeTransport` could not be built. */
export type CompositeTransportErrorKind =
  /** The list of parts was empty. */
  | 'NoParts'
  /** A part's `localStoreId` differs from the first part's. */
  | 'StoreIdMismatch';

/** Bad parts for a `CompositeTransport`. */
export class CompositeTransportError extends Error {
  /** What was wrong. */
  readonly kind: CompositeTransportErrorKind;

  constructor(kind: CompositeTransportErrorKind, detail: string) {
    super(`${kind}: ${detail}`);
    this.name = 'CompositeTransportError';
    this.kind = kind;
  }
}

/** A part that can tell an authenticating link from none (`LinkTransport` can). */
interface LinkStateSource {
  linkState(storeId: StoreId): LinkState;
}

function hasLinkState(t: unknown): t is LinkStateSource {
  return typeof (t as Partial<LinkStateSource>).linkState === 'function';
}

const RPC_FIELDS: readonly (keyof RpcCounters)[] = ['requestsSent', 'requestsSucceeded', 'requestsFailed', 'requestsServed', 'requestsRefused', 'requestsRefusedPeerBusy', 'responsesUnmatched'];

/** Adds `b` into `a`, field by field. */
function addCounters(a: TransportCounters, b: TransportCounters): void {
  a.messagesSent += b.messagesSent;
  a.messagesReceived += b.messagesReceived;
  a.framesSent += b.framesSent;
  a.framesReceived += b.framesReceived;
  a.bytesSent += b.bytesSent;
  a.bytesReceived += b.bytesReceived;
  a.backpressurePauses += b.backpressurePauses;
  for (const r of DROP_REASONS) a.drops[r] += b.drops[r] ?? 0;
  for (const f of RPC_FIELDS) a.rpc[f] += b.rpc[f] ?? 0;
}

/** One store's transport over an ordered list of transports of that store (first preferred). */
export class CompositeTransport implements PartitionableTransport {
  readonly localStoreId: StoreId;
  private readonly parts: readonly PartitionableTransport[];
  /** For each store, the indexes of the parts where it is up. */
  private readonly upIn = new Map<StoreId, Set<number>>();
  private readonly messageHandlers = new Set<(b: RaftBatch) => void>();
  private readonly peerHandlers = new Set<(e: PeerEvent) => void>();
  private readonly unsubscribes: Unsubscribe[] = [];
  /** Drops and failed requests of this layer (no part could take them). */
  private readonly own: TransportCounters = emptyCounters();
  private closed = false;

  /** Throws `CompositeTransportError` when `parts` is empty or its stores differ. */
  constructor(parts: readonly PartitionableTransport[]) {
    if (parts.length === 0) throw new CompositeTransportError('NoParts', 'a composite needs at least one transport');
    this.localStoreId = parts[0].localStoreId;
    for (const p of parts) {
      if (p.localStoreId !== this.localStoreId) throw new CompositeTransportError('StoreIdMismatch', `store ${p.localStoreId} next to store ${this.localStoreId}`);
    }
    this.parts = [...parts];
    this.parts.forEach((p, i) => {
      for (const id of p.peers()) this.upSet(id).add(i);
      this.unsubscribes.push(p.onMessage((b) => this.onPartMessage(b)));
      this.unsubscribes.push(p.onPeer((e) => this.onPartPeer(i, e)));
    });
  }

  /** Sends through the preferred part that can reach the target; drops `peerUnreachable` if none can. */
  send(targetStoreId: StoreId, messages: readonly RegionMessage[]): SendResult {
    if (this.closed) return this.drop('closed', messages.length);
    const part = this.route(targetStoreId);
    if (!part) return this.drop('peerUnreachable', messages.length);
    return part.send(targetStoreId, messages);
  }

  flush(): void {
    for (const p of this.parts) p.flush();
  }

  onMessage(handler: (batch: RaftBatch) => void): Unsubscribe {
    this.messageHandlers.add(handler);
    return () => this.messageHandlers.delete(handler);
  }

  /** Merged events: one `up` when a first part has the store up, one `down` when none has any more. */
  onPeer(handler: (event: PeerEvent) => void): Unsubscribe {
    this.peerHandlers.add(handler);
    return () => this.peerHandlers.delete(handler);
  }

  /** Stores up in any part, ascending. */
  peers(): StoreId[] {
    return [...this.upIn.keys()].sort((a, b) => a - b);
  }

  /** Revokes the link to `storeId` in every part where it did not prove `publicKey`; true when any went. */
  revokeLink(storeId: StoreId, publicKey: Uint8Array): boolean {
    let revoked = false;
    for (const p of this.parts) if (p.revokeLink?.(storeId, publicKey)) revoked = true;
    return revoked;
  }

  /**
   * The key every part with an open link to `storeId` saw it prove; undefined when none is
   * open, one proved none, or two proved different keys (a request may travel either link).
   */
  linkKey(storeId: StoreId): Uint8Array | undefined {
    const up = this.upIn.get(storeId);
    if (!up) return undefined;
    let key: Uint8Array | undefined;
    for (const i of up) {
      const k = this.parts[i].linkKey?.(storeId);
      if (k === undefined || (key !== undefined && !publicKeysEqual(key, k))) return undefined;
      key = k;
    }
    return key;
  }

  /** The parts' counters summed, plus this layer's own drops and failed requests. */
  counters(): TransportCounters {
    const sum = emptyCounters();
    addCounters(sum, this.own);
    for (const p of this.parts) addCounters(sum, p.counters());
    return sum;
  }

  /** Asks through the part `send` would use; rejects `Unreachable` if none can reach the target. */
  request(targetStoreId: StoreId, payload: Uint8Array, o?: RpcRequestOptions): Promise<Uint8Array> {
    if (this.closed) return this.fail(new RpcError('Closed', 'transport closed'));
    const part = this.route(targetStoreId);
    if (!part) return this.fail(new RpcError('Unreachable', `no transport reaches store ${targetStoreId}`));
    return part.request(targetStoreId, payload, o);
  }

  /** Serves requests arriving through any part; the returned function unsubscribes from all. */
  onRequest(handler: RequestHandler): Unsubscribe {
    const offs = this.parts.map((p) => p.onRequest(handler));
    return () => {
      for (const off of offs) off();
    };
  }

  partition(storeIds: Iterable<StoreId>): void {
    const ids = [...storeIds];
    for (const p of this.parts) p.partition(ids);
  }

  heal(storeIds?: Iterable<StoreId>): void {
    const ids = storeIds === undefined ? undefined : [...storeIds];
    for (const p of this.parts) p.heal(ids);
  }

  /** Stores blocked in any part, ascending. */
  partitionedStores(): StoreId[] {
    const ids = new Set<StoreId>();
    for (const p of this.parts) for (const id of p.partitionedStores()) ids.add(id);
    return [...ids].sort((a, b) => a - b);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.parts) p.close();
    for (const off of this.unsubscribes.splice(0)) off();
    // Parts announced their downs while closing; anything left is down now.
    for (const id of [...this.upIn.keys()]) this.markDown(id, 'transport closed');
  }

  // ---- Routing and merging -------------------------------------------------------------

  /** The first part where the target is up, else the first with a link authenticating to it. */
  private route(storeId: StoreId): PartitionableTransport | undefined {
    const up = this.upIn.get(storeId);
    if (up) for (let i = 0; i < this.parts.length; i++) if (up.has(i)) return this.parts[i];
    return this.parts.find((p) => hasLinkState(p) && p.linkState(storeId) === 'auth');
  }

  private drop(reason: DropReason, n: number): SendResult {
    this.own.drops[reason] += n;
    return { queued: 0, dropped: n };
  }

  private fail(e: RpcError): Promise<Uint8Array> {
    this.own.rpc.requestsFailed++;
    return Promise.reject(e);
  }

  private upSet(storeId: StoreId): Set<number> {
    let s = this.upIn.get(storeId);
    if (!s) {
      s = new Set();
      this.upIn.set(storeId, s);
    }
    return s;
  }

  private onPartMessage(b: RaftBatch): void {
    for (const h of this.messageHandlers) h(b);
  }

  private onPartPeer(i: number, e: PeerEvent): void {
    if (e.type === 'up') {
      const s = this.upSet(e.storeId);
      const first = s.size === 0;
      s.add(i);
      if (first) this.emit({ type: 'up', storeId: e.storeId });
      return;
    }
    const s = this.upIn.get(e.storeId);
    if (!s || !s.delete(i) || s.size > 0) return;
    this.markDown(e.storeId, e.reason);
  }

  private markDown(storeId: StoreId, reason: string): void {
    this.upIn.delete(storeId);
    this.emit({ type: 'down', storeId, reason });
  }

  private emit(e: PeerEvent): void {
    for (const h of this.peerHandlers) h(e);
  }
}
