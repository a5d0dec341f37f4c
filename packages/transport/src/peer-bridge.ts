/**
 * The peer bridge: a `WebRtcTransport` running in a dedicated Worker uses simple-peer peers
 * that live in the page (Chromium has no `RTCPeerConnection` in Workers). This module owns
 * the bridge's wire protocol and both of its ends:
 * - Worker side, `bridgedPeerFactory(port)`: a `PeerFactory` whose `PeerLike` proxies
 *   forward `signal`/`send`/`destroy` to the page and replay the page peer's events;
 * - page side, `servePeers(port)`: builds a real peer per `create`, drives it, reports its
 *   events and its send-buffer level back, and bounds how many peers it holds.
 *
 * Messages are plain structured-clone objects tagged `peerBridge: PEER_BRIDGE_VERSION`, so
 * the bridge can share a port (e.g. the Worker object) with other traffic: untagged
 * messages are someone else's. Packet bytes travel as transferred `ArrayBuffer`s.
 *
 * `bufferSize` of a proxy is an estimate: the page's last reported `bufferSize` plus the
 * bytes sent since the send that report covered. The page reports after sends (once per
 * microtask per peer) and then every `bufferPollMs` until the buffer is empty, so a sender
 * paused on backpressure sees it drain.
 *
 * One bridge per port: peer ids are numbered per `bridgedPeerFactory`.
 */
import type { Timers, TimerHandle } from './timers.ts';
import { systemTimers } from './timers.ts';
import type { PeerFactory, PeerLike, PeerOptions } from './webrtc-transport.ts';
import { defaultPeerFactory } from './webrtc-transport.ts';

/** The bridge protocol version every message carries in its `peerBridge` field. */
export const PEER_BRIDGE_VERSION = 1;

/** Default bound on peers one `servePeers` holds at once (a create beyond it gets an `error` event). */
export const PEER_BRIDGE_PEERS_MAX = 64;

/** Default interval, ms, between buffer reports while a page peer's send buffer is not empty. */
export const PEER_BRIDGE_BUFFER_POLL_MS = 10;

/** A `MessagePort`, a `Worker`, or a `DedicatedWorkerGlobalScope`: what the bridge talks over. */
export interface PortLike {
  postMessage(message: unknown, transfer?: Transferable[]): void;
  addEventListener?(type: 'message', listener: (ev: MessageEvent) => void): void;
  removeEventListener?(type: 'message', listener: (ev: MessageEvent) => void): void;
  onmessage?: ((ev: MessageEvent) => void) | null;
  /** A `MessagePort` delivers to `addEventListener` listeners only once started. */
  start?(): void;
}

/** Worker → page. */
export type PeerBridgeRequest =
  | { peerBridge: typeof PEER_BRIDGE_VERSION; op: 'create'; id: number; options: PeerOptions }
  | { peerBridge: typeof PEER_BRIDGE_VERSION; op: 'signal'; id: number; data: unknown }
  | { peerBridge: typeof PEER_BRIDGE_VERSION; op: 'send'; id: number; bytes: ArrayBuffer }
  | { peerBridge: typeof PEER_BRIDGE_VERSION; op: 'destroy'; id: number };

/** Page → Worker: the page peer's events, and its send-buffer level after `ackedBytes` bytes sent. */
export type PeerBridgeEvent =
  | { peerBridge: typeof PEER_BRIDGE_VERSION; op: 'signal'; id: number; data: unknown }
  | { peerBridge: typeof PEER_BRIDGE_VERSION; op: 'connect'; id: number }
  | { peerBridge: typeof PEER_BRIDGE_VERSION; op: 'data'; id: number; bytes: ArrayBuffer }
  | { peerBridge: typeof PEER_BRIDGE_VERSION; op: 'buffer'; id: number; bufferBytes: number; ackedBytes: number }
  | { peerBridge: typeof PEER_BRIDGE_VERSION; op: 'error'; id: number; message: string }
  | { peerBridge: typeof PEER_BRIDGE_VERSION; op: 'close'; id: number };

type Body<T> = T extends unknown ? Omit<T, 'peerBridge'> : never;

/** Either a bridge message of this version, a tagged message that is not valid, or someone else's. */
type Parsed<T> = { kind: 'ok'; m: T } | { kind: 'malformed' } | { kind: 'foreign' };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

function isId(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}

function isPeerOptions(v: unknown): v is PeerOptions {
  return isObject(v) && typeof v.initiator === 'boolean' && typeof v.trickle === 'boolean' && isObject(v.config) && isObject(v.channelConfig);
}

function tagged(v: unknown): Parsed<Record<string, unknown>> {
  if (!isObject(v) || !('peerBridge' in v)) return { kind: 'foreign' };
  if (v.peerBridge !== PEER_BRIDGE_VERSION || !isId(v.id)) return { kind: 'malformed' };
  return { kind: 'ok', m: v };
}

function parseRequest(v: unknown): Parsed<PeerBridgeRequest> {
  const t = tagged(v);
  if (t.kind !== 'ok') return t;
  const m = t.m;
  const ok = (m.op === 'create' && isPeerOptions(m.options)) || m.op === 'signal' || (m.op === 'send' && m.bytes instanceof ArrayBuffer) || m.op === 'destroy';
  return ok ? { kind: 'ok', m: m as PeerBridgeRequest } : { kind: 'malformed' };
}

function parseEvent(v: unknown): Parsed<PeerBridgeEvent> {
  const t = tagged(v);
  if (t.kind !== 'ok') return t;
  const m = t.m;
  const ok =
    m.op === 'signal' || m.op === 'connect' || m.op === 'close' ||
    (m.op === 'data' && m.bytes instanceof ArrayBuffer) ||
    (m.op === 'buffer' && Number.isFinite(m.bufferBytes) && Number.isFinite(m.ackedBytes)) ||
    (m.op === 'error' && typeof m.message === 'string');
  return ok ? { kind: 'ok', m: m as PeerBridgeEvent } : { kind: 'malformed' };
}

/**
 * A buffer holding exactly `bytes`, safe to transfer: the array's own buffer when it spans
 * all of it, else a copy (transferring would detach memory around the view).
 */
function ownedBuffer(bytes: Uint8Array): ArrayBuffer {
  const b = bytes.buffer;
  if (b instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === b.byteLength) return b;
  return bytes.slice().buffer as ArrayBuffer;
}

/** Listens for messages on a port; returns the undo. */
function listen(port: PortLike, fn: (data: unknown) => void): () => void {
  const listener = (ev: MessageEvent) => fn(ev.data);
  if (port.addEventListener) {
    port.addEventListener('message', listener);
    port.start?.();
    return () => port.removeEventListener?.('message', listener);
  }
  port.onmessage = listener;
  return () => {
    if (port.onmessage === listener) port.onmessage = null;
  };
}

function post<T>(port: PortLike, body: Body<T>, transfer?: Transferable[]): void {
  const m = { peerBridge: PEER_BRIDGE_VERSION, ...body };
  if (transfer) port.postMessage(m, transfer);
  else port.postMessage(m);
}

// ---- Worker side ----------------------------------------------------------------------

type EventName = 'signal' | 'connect' | 'data' | 'close' | 'error';
type Listener = (arg: never) => void;

/** A page peer seen from the Worker. */
class BridgedPeer implements PeerLike {
  private readonly listeners = new Map<EventName, Listener[]>();
  private destroyed = false;
  private connected = false;
  private sentBytes = 0;
  private reportedBufferBytes = 0;
  private reportedAckedBytes = 0;

  constructor(
    private readonly id: number,
    private readonly send_: (body: Body<PeerBridgeRequest>, transfer?: Transferable[]) => void,
    private readonly forget: (id: number) => void,
  ) {}

  /** Estimated bytes waiting in the page peer's send buffer. */
  get bufferSize(): number {
    return this.reportedBufferBytes + this.sentBytes - this.reportedAckedBytes;
  }

  on(event: EventName, fn: Listener): this {
    this.listeners.set(event, [...(this.listeners.get(event) ?? []), fn]);
    return this;
  }

  signal(data: unknown): void {
    if (!this.destroyed) this.send_({ op: 'signal', id: this.id, data });
  }

  /** Sends `data`; its buffer is transferred to the page when it spans the whole buffer. */
  send(data: Uint8Array): void {
    if (this.destroyed) throw new Error('peer destroyed');
    if (!this.connected) throw new Error('peer not connected');
    const n = data.byteLength;
    const bytes = ownedBuffer(data);
    this.sentBytes += n;
    this.send_({ op: 'send', id: this.id, bytes }, [bytes]);
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.forget(this.id);
    this.send_({ op: 'destroy', id: this.id });
    queueMicrotask(() => this.emit('close', undefined));
  }

  /** An event from the page. */
  deliver(m: PeerBridgeEvent): void {
    switch (m.op) {
      case 'signal':
        return this.emit('signal', m.data);
      case 'connect':
        this.connected = true;
        return this.emit('connect', undefined);
      case 'data':
        return this.emit('data', new Uint8Array(m.bytes));
      case 'buffer':
        this.reportedBufferBytes = m.bufferBytes;
        this.reportedAckedBytes = m.ackedBytes;
        return;
      case 'error':
        return this.emit('error', new Error(m.message));
      case 'close':
        this.destroyed = true;
        this.forget(this.id);
        return this.emit('close', undefined);
    }
  }

  private emit(event: EventName, arg: unknown): void {
    for (const fn of this.listeners.get(event) ?? []) (fn as (a: unknown) => void)(arg);
  }
}

/**
 * The Worker end: a `PeerFactory` whose peers live in the page that runs `servePeers` on the
 * other end of `port`. Messages on the port that are not the bridge's are left alone;
 * bridge messages that do not parse, or name a peer already gone, are ignored.
 */
export function bridgedPeerFactory(port: PortLike): PeerFactory {
  const peers = new Map<number, BridgedPeer>();
  let nextId = 1;
  const sendToPage = (body: Body<PeerBridgeRequest>, transfer?: Transferable[]) => post<PeerBridgeRequest>(port, body, transfer);
  const forget = (id: number) => peers.delete(id);
  listen(port, (data) => {
    const p = parseEvent(data);
    if (p.kind === 'ok') peers.get(p.m.id)?.deliver(p.m);
  });
  return (options) => {
    const id = nextId++;
    const peer = new BridgedPeer(id, sendToPage, forget);
    peers.set(id, peer);
    sendToPage({ op: 'create', id, options });
    return peer;
  };
}

// ---- Page side ------------------------------------------------------------------------

/** Options of `servePeers`. */
export interface ServePeersOptions {
  /** Builds the real peers (default simple-peer, `defaultPeerFactory`). */
  peerFactory?: PeerFactory;
  /** Peers held at once (default `PEER_BRIDGE_PEERS_MAX`). */
  peersMax?: number;
  /** Buffer report interval, ms, while a peer's send buffer is not empty (default `PEER_BRIDGE_BUFFER_POLL_MS`). */
  bufferPollMs?: number;
  /** Timers for the buffer polls (default `systemTimers`). */
  timers?: Timers;
}

/** Monotonic counters of one `servePeers` (except the `peersActive` gauge). */
export interface PeerBridgeCounters {
  /** Peers built for a `create`. */
  peersCreated: number;
  /** Peers held now. */
  peersActive: number;
  /** Creates refused because `peersMax` peers were held. */
  peersRefused: number;
  /** Messages tagged as the bridge's that did not parse (bad version, op, id or fields; a duplicate id). */
  messagesMalformed: number;
  /** Messages without the bridge's tag (other traffic on a shared port). */
  messagesForeign: number;
  /** Valid messages naming a peer that is gone (a race with its close). */
  messagesUnknownPeer: number;
  /** Packets (and their bytes) the Worker sent through page peers. */
  packetsToPeers: number;
  bytesToPeers: number;
  /** Packets (and their bytes) page peers received and passed to the Worker. */
  packetsFromPeers: number;
  bytesFromPeers: number;
  /** Peer construction, `signal` or `send` threw, or a peer reported an error. */
  peerErrors: number;
}

/** A running page end. */
export interface PeerBridgeServer {
  /** Stops listening and destroys every peer (the Worker's proxies get `close`). */
  close(): void;
  /** A snapshot of the counters. */
  counters(): PeerBridgeCounters;
}

interface Served {
  readonly peer: PeerLike;
  ackedBytes: number;
  reportQueued: boolean;
  pollTimer: TimerHandle | null;
}

/**
 * The page end: serves the peers a Worker's `bridgedPeerFactory` asks for on `port`. Never
 * throws on what arrives; bad messages are counted and ignored.
 */
export function servePeers(port: PortLike, o: ServePeersOptions = {}): PeerBridgeServer {
  return new PeerServer(port, o).surface();
}

class PeerServer {
  private readonly peers = new Map<number, Served>();
  private readonly stats: PeerBridgeCounters = {
    peersCreated: 0, peersActive: 0, peersRefused: 0, messagesMalformed: 0, messagesForeign: 0, messagesUnknownPeer: 0,
    packetsToPeers: 0, bytesToPeers: 0, packetsFromPeers: 0, bytesFromPeers: 0, peerErrors: 0,
  };
  private readonly factory: PeerFactory;
  private readonly peersMax: number;
  private readonly bufferPollMs: number;
  private readonly timers: Timers;
  private readonly unlisten: () => void;
  private closed = false;

  constructor(
    private readonly port: PortLike,
    o: ServePeersOptions,
  ) {
    this.factory = o.peerFactory ?? defaultPeerFactory;
    this.peersMax = o.peersMax ?? PEER_BRIDGE_PEERS_MAX;
    this.bufferPollMs = o.bufferPollMs ?? PEER_BRIDGE_BUFFER_POLL_MS;
    this.timers = o.timers ?? systemTimers;
    this.unlisten = listen(port, (data) => this.onMessage(data));
  }

  surface(): PeerBridgeServer {
    return { close: () => this.close(), counters: () => ({ ...this.stats, peersActive: this.peers.size }) };
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unlisten();
    for (const id of [...this.peers.keys()]) {
      this.drop(id);
      this.post({ op: 'close', id });
    }
  }

  private post(body: Body<PeerBridgeEvent>, transfer?: Transferable[]): void {
    post<PeerBridgeEvent>(this.port, body, transfer);
  }

  private onMessage(data: unknown): void {
    if (this.closed) return;
    const p = parseRequest(data);
    if (p.kind === 'foreign') return void this.stats.messagesForeign++;
    if (p.kind === 'malformed') return void this.stats.messagesMalformed++;
    const m = p.m;
    if (m.op === 'create') return this.create(m.id, m.options);
    const s = this.peers.get(m.id);
    if (!s) return void this.stats.messagesUnknownPeer++;
    switch (m.op) {
      case 'signal':
        return this.guard(m.id, () => s.peer.signal(m.data));
      case 'send':
        return this.forwardSend(m.id, s, m.bytes);
      case 'destroy':
        return this.drop(m.id);
    }
  }

  private create(id: number, options: PeerOptions): void {
    if (this.peers.has(id)) return void this.stats.messagesMalformed++;
    if (this.peers.size >= this.peersMax) {
      this.stats.peersRefused++;
      return this.refuse(id, `peersMax: already ${this.peers.size} peers`);
    }
    let peer: PeerLike;
    try {
      peer = this.factory(options);
    } catch (e) {
      this.stats.peerErrors++;
      return this.refuse(id, `peer construction failed: ${String(e)}`);
    }
    const s: Served = { peer, ackedBytes: 0, reportQueued: false, pollTimer: null };
    this.peers.set(id, s);
    this.stats.peersCreated++;
    this.wire(id, s);
  }

  /** Answers a create it could not serve the way a failing simple-peer would: `error`, then `close`. */
  private refuse(id: number, message: string): void {
    this.post({ op: 'error', id, message });
    this.post({ op: 'close', id });
  }

  private wire(id: number, s: Served): void {
    const current = () => this.peers.get(id) === s;
    s.peer.on('signal', (data) => {
      if (current()) this.guard(id, () => this.post({ op: 'signal', id, data }));
    });
    s.peer.on('connect', () => {
      if (!current()) return;
      this.post({ op: 'connect', id });
      // simple-peer sets the channel's low-water mark but exposes no event for it.
      const channel = (s.peer as unknown as { _channel?: RTCDataChannel })._channel;
      channel?.addEventListener?.('bufferedamountlow', () => this.report(id, s));
    });
    s.peer.on('data', (d) => {
      if (!current()) return;
      this.stats.packetsFromPeers++;
      this.stats.bytesFromPeers += d.byteLength;
      const bytes = ownedBuffer(d);
      this.post({ op: 'data', id, bytes }, [bytes]);
    });
    s.peer.on('error', (e) => {
      if (!current()) return;
      this.stats.peerErrors++;
      this.post({ op: 'error', id, message: e instanceof Error ? e.message : String(e) });
    });
    s.peer.on('close', () => {
      if (!current()) return;
      this.drop(id);
      this.post({ op: 'close', id });
    });
  }

  /** Runs a peer call; if it throws, the Worker gets `error` and the peer is torn down (its close follows). */
  private guard(id: number, f: () => void): void {
    try {
      f();
    } catch (e) {
      this.stats.peerErrors++;
      const s = this.peers.get(id);
      this.post({ op: 'error', id, message: e instanceof Error ? e.message : String(e) });
      try {
        s?.peer.destroy();
      } catch {
        // Going away either way.
      }
    }
  }

  private forwardSend(id: number, s: Served, bytes: ArrayBuffer): void {
    s.ackedBytes += bytes.byteLength;
    this.stats.packetsToPeers++;
    this.stats.bytesToPeers += bytes.byteLength;
    this.guard(id, () => s.peer.send(new Uint8Array(bytes)));
    if (s.reportQueued) return;
    s.reportQueued = true;
    queueMicrotask(() => {
      s.reportQueued = false;
      this.report(id, s);
    });
  }

  /** Tells the Worker the buffer level; keeps polling while the buffer holds bytes. */
  private report(id: number, s: Served): void {
    if (this.peers.get(id) !== s) return;
    const bufferBytes = s.peer.bufferSize;
    this.post({ op: 'buffer', id, bufferBytes, ackedBytes: s.ackedBytes });
    if (bufferBytes > 0 && s.pollTimer === null) {
      s.pollTimer = this.timers.setTimeout(() => {
        s.pollTimer = null;
        this.report(id, s);
      }, this.bufferPollMs);
    }
  }

  /** Forgets a peer and destroys it (no `close` is forwarded for it). */
  private drop(id: number): void {
    const s = this.peers.get(id);
    if (!s) return;
    this.peers.delete(id);
    if (s.pollTimer !== null) this.timers.clearTimeout(s.pollTimer);
    try {
      s.peer.destroy();
    } catch {
      // Already destroyed.
    }
  }
}
