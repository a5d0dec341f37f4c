/**
 * The engine every concrete transport shares. A concrete transport (BroadcastChannel,
 * WebRTC) only finds peers and opens `Link`s (ordered, reliable byte pipes to one remote
 * store); this module owns the rest:
 * - per-link challenge-response: no Raft frame is delivered before the remote proved it
 *   holds the cluster secret, and none is sent before we verified it;
 * - per-store identity (`identity`, `peerKeys`; issue 13, finding 6): a store with a key pair
 *   also signs its side of the handshake (both ids, both nonces, the direction) and sends its
 *   public key in its proof; the receiver checks the signature and asks `peerKeys` whether
 *   that key (or no key) is the claimed store id's. A refusal drops the link
 *   (`identityRefused`). The secret alone then no longer proves a store id whose key is known;
 * - per-link packet MACs after it (`link-mac.ts`, `packetMac`): every packet of an open link
 *   is sealed with a key derived from the handshake and numbered, so a third party on a
 *   shared medium can neither inject, replay nor close; what fails is dropped and counted,
 *   the link stays;
 * - while a link authenticates, only small whole hello/proof packets are looked at
 *   (`AUTH_PACKET_BYTES_MAX`), nothing is reassembled, and at most `authSessionsMax` links
 *   authenticate at once (the oldest is evicted);
 * - bounded per-store send queues, batching at flush, chunking, backpressure on
 *   `bufferedAmount`;
 * - reassembly and decoding with limits; any violation drops the link and is counted;
 * - peer up/down events and counters;
 * - request/response frames, from and to authenticated peers only (the request table
 *   itself lives in `rpc.ts`);
 * - the partition test hook: a set of blocked stores whose links are closed and refused
 *   until `heal`.
 */
import type { ClusterKeys, ProofParams } from './auth.ts';
import { signProof, verifyProof } from './auth.ts';
import type { ChunkLimits } from './chunking.ts';
import { DEFAULT_CHUNK_LIMITS, encodePackets, PACKET_WHOLE, Reassembler } from './chunking.ts';
import type { RaftBatch, RegionMessage, StoreId } from './codec/envelope.ts';
import { DecodeError } from './codec/errors.ts';
import type { Frame } from './codec/frame.ts';
import type { AuthIdentity } from './codec/frame.ts';
import { AUTH_NONCE_BYTES, FRAME_TYPES, readFrame } from './codec/frame.ts';
import type { StoreKeyPair } from './store-key.ts';
import { publicKeysEqual, signTranscript, verifyTranscript } from './store-key.ts';
import type { DecodeLimits } from './codec/limits.ts';
import { DEFAULT_DECODE_LIMITS } from './codec/limits.ts';
import type { LinkMac } from './link-mac.ts';
import { deriveLinkMac, LINK_MAC_OVERHEAD_BYTES, PACKET_SEALED, parseSealed, sealPacket, tagsEqual, verifySealed } from './link-mac.ts';
import type { RequestHandler, RpcLimits, RpcRequestOptions } from './rpc.ts';
import { DEFAULT_RPC_LIMITS, RpcTable, rpcLimitsWithin } from './rpc.ts';
import type { Timers, TimerHandle } from './timers.ts';
import { systemTimers } from './timers.ts';
import type { DropReason, PartitionableTransport, PeerEvent, SendResult, TransportCounters, Unsubscribe } from './types.ts';
import { emptyCounters } from './types.ts';

/** An ordered, reliable byte pipe to one remote store, provided by a concrete transport. */
export interface Link {
  /** Sends one packet; the link may take ownership of its buffer (the engine never reuses it). */
  send(packet: Uint8Array): void;
  /** Bytes accepted by `send` but not yet on the wire (RTCDataChannel `bufferedAmount`). */
  bufferedAmountBytes(): number;
  close(): void;
  /**
   * Tells the remote this open link is closing, on media where closing is invisible to it (a
   * shared channel); `tag` is the link's bye tag, which the remote checks. Optional: a
   * point-to-point link's close says it already. Links that never opened close silently:
   * the remote's half times out or is replaced (a bye there made two stores whose hellos
   * crossed end each other's fresh links in turn).
   */
  bye?(tag: Uint8Array): void;
}

/**
 * Largest packet looked at while a link authenticates: a whole hello (cluster id of at most
 * `stringBytesMax` bytes, a store id, a 32-byte nonce) or proof fits with room to spare.
 * Anything bigger, any chunk, and any other frame type is dropped undecoded.
 */
export const AUTH_PACKET_BYTES_MAX = 512;

/** Default `authSessionsMax`: links authenticating at once. */
export const AUTH_SESSIONS_MAX = 64;

/** A link's state as seen from outside: none, authenticating, or open. */
export type LinkState = 'none' | 'auth' | 'open';

/** What a concrete transport calls when its link has news. */
export interface LinkHandle {
  receive(packet: Uint8Array): void;
  /** The link's buffer fell below its low-water mark. */
  drained(): void;
  /** The link is gone (remote closed, ICE failed...). */
  closed(reason: string): void;
}

/**
 * Which store keys a transport accepts for which store ids (`@peerkv/store`'s `PeerKeyBook`
 * checks them against PD's store metas and the keys it pinned). Asked once per handshake,
 * after the remote's HMAC proof and, when it sent a key, its signature verified.
 */
export interface PeerKeyPolicy {
  /** Whether `storeId` may open a link proving `publicKey` (undefined: the remote sent no key). */
  admit(storeId: StoreId, publicKey: Uint8Array | undefined): boolean | Promise<boolean>;
}

/** A store's identity on its links: its key pair, and whose keys it accepts. */
export interface LinkIdentityOptions {
  /** This store's key pair: its proofs carry its public key and a signature (omitted: a client, secret only). */
  identity?: StoreKeyPair;
  /** Checks the remote's key for the id it claims (omitted: any valid signature, or none, is accepted). */
  peerKeys?: PeerKeyPolicy;
}

/** Tunables of the shared engine; every limit is named with its unit. */
export interface LinkTransportOptions extends LinkIdentityOptions {
  localStoreId: StoreId;
  keys: ClusterKeys;
  timers?: Timers;
  chunkLimits?: Partial<ChunkLimits>;
  decodeLimits?: Partial<DecodeLimits>;
  /** Messages queued per target store before `send` drops (default 8192). */
  queueLengthMax?: number;
  /** Estimated bytes queued per target store before `send` drops (default 8 MiB). */
  queueBytesMax?: number;
  /** Estimated bytes in one batch frame (default 64 KiB). */
  batchBytesMax?: number;
  /** Link buffer level above which sending pauses (default 1 MiB). */
  bufferedAmountHighBytes?: number;
  /** How often a paused queue re-checks the link buffer if no drain event came (default 10 ms). */
  drainPollMs?: number;
  /** Time a link has to authenticate (default 10 s). */
  authTimeoutMs?: number;
  /** Packets held while a handshake step runs (default 1024). */
  backlogPacketsMax?: number;
  /** Bytes held while a handshake step runs (default 32 MiB). */
  backlogBytesMax?: number;
  /** Links authenticating at once; a new one evicts the oldest (default `AUTH_SESSIONS_MAX`). */
  authSessionsMax?: number;
  /**
   * Seal every packet after the handshake with the link's MAC (default true). Needed where
   * others can post on the medium (BroadcastChannel). A transport whose links are already
   * point-to-point and integrity-protected (a WebRTC data channel: DTLS, its fingerprints in
   * sealed signaling) may turn it off: it costs a SHA-256 pass over every byte each way.
   */
  packetMac?: boolean;
  /** Flush automatically (on a microtask) after `send` (default true). */
  autoFlush?: boolean;
  /** Source of nonces (default `crypto.getRandomValues`). */
  randomBytes?: (n: number) => Uint8Array;
  /** Request/response limits (defaults in `DEFAULT_RPC_LIMITS`). */
  rpcLimits?: Partial<RpcLimits>;
  /**
   * Sends an empty batch on every open link this often, ms, and drops a link that stayed
   * silent for `keepaliveMissesMax` intervals (a peer whose process died may leave its data
   * channel looking open for many seconds). 0 (default) turns it off.
   */
  keepaliveIntervalMs?: number;
  /** Silent keepalive intervals before a link is dropped (default 5). */
  keepaliveMissesMax?: number;
}

type SessionState = 'auth' | 'open' | 'closed';

interface Session {
  readonly storeId: StoreId;
  readonly link: Link;
  readonly localNonce: Uint8Array;
  readonly reassembler: Reassembler;
  state: SessionState;
  remoteNonce: Uint8Array | null;
  busy: boolean;
  backlog: Uint8Array[];
  backlogBytes: number;
  authTimer: TimerHandle | null;
  /** Keepalive intervals since the last authenticated packet from the peer. */
  silentIntervals: number;
  /** Direction keys and bye tags, derived when the remote's hello came. */
  mac: LinkMac | null;
  /** Sequence number of the next sealed packet sent. */
  sendSeq: number;
  /** Lowest sequence number a sealed packet received may carry. */
  receiveSeqMin: number;
  /** The store key the remote proved when it was admitted (undefined: none, or not yet admitted). */
  provenKey: Uint8Array | undefined;
}

interface PeerQueue {
  messages: RegionMessage[];
  bytes: number;
  /** Request and response frames waiting for the link buffer to drain (bounded by the rpc limits). */
  frames: Frame[];
  paused: boolean;
  drainTimer: TimerHandle | null;
}

/** Fixed per-message overhead in the queue's byte estimate. */
const MESSAGE_OVERHEAD_BYTES = 48;

/** Estimated encoded size of a region message, for queue and batch limits. */
export function estimateMessageBytes(m: RegionMessage): number {
  let n = MESSAGE_OVERHEAD_BYTES;
  for (const e of m.message.entries) n += e.data.length + 16;
  if (m.message.snapshot) n += m.message.snapshot.data.length + 64;
  if (m.message.context) n += m.message.context.length;
  return n;
}

/** The shared transport engine; concrete transports extend it and call `attachLink`. */
export class LinkTransport implements PartitionableTransport {
  readonly localStoreId: StoreId;
  protected readonly keys: ClusterKeys;
  protected readonly timers: Timers;
  protected readonly stats: TransportCounters = emptyCounters();
  private readonly chunkLimits: ChunkLimits;
  private readonly decodeLimits: DecodeLimits;
  private readonly queueLengthMax: number;
  private readonly queueBytesMax: number;
  private readonly batchBytesMax: number;
  private readonly bufferedAmountHighBytes: number;
  private readonly drainPollMs: number;
  private readonly authTimeoutMs: number;
  private readonly backlogPacketsMax: number;
  private readonly backlogBytesMax: number;
  private readonly authSessionsMax: number;
  private readonly packetMac: boolean;
  private readonly autoFlush: boolean;
  private readonly randomBytes: (n: number) => Uint8Array;
  private readonly identity: StoreKeyPair | undefined;
  private readonly peerKeys: PeerKeyPolicy | undefined;
  private readonly sessions = new Map<StoreId, Session>();
  private readonly queues = new Map<StoreId, PeerQueue>();
  private readonly messageHandlers = new Set<(b: RaftBatch) => void>();
  private readonly peerHandlers = new Set<(e: PeerEvent) => void>();
  private readonly rpc: RpcTable;
  private flushScheduled = false;
  protected isClosed = false;
  private readonly keepaliveIntervalMs: number;
  private readonly keepaliveMissesMax: number;
  private keepaliveTimer: TimerHandle | null = null;
  /** Stores cut off by `partition` until `heal`. */
  private readonly blocked = new Set<StoreId>();

  constructor(o: LinkTransportOptions) {
    this.localStoreId = o.localStoreId;
    this.keys = o.keys;
    this.timers = o.timers ?? systemTimers;
    this.chunkLimits = { ...DEFAULT_CHUNK_LIMITS, ...o.chunkLimits };
    this.decodeLimits = { ...DEFAULT_DECODE_LIMITS, ...o.decodeLimits };
    this.queueLengthMax = o.queueLengthMax ?? 8192;
    this.queueBytesMax = o.queueBytesMax ?? 8 * 1024 * 1024;
    this.batchBytesMax = o.batchBytesMax ?? 64 * 1024;
    this.bufferedAmountHighBytes = o.bufferedAmountHighBytes ?? 1024 * 1024;
    this.drainPollMs = o.drainPollMs ?? 10;
    this.authTimeoutMs = o.authTimeoutMs ?? 10_000;
    this.backlogPacketsMax = o.backlogPacketsMax ?? 1024;
    this.backlogBytesMax = o.backlogBytesMax ?? 32 * 1024 * 1024;
    this.authSessionsMax = o.authSessionsMax ?? AUTH_SESSIONS_MAX;
    this.packetMac = o.packetMac ?? true;
    this.autoFlush = o.autoFlush ?? true;
    this.randomBytes = o.randomBytes ?? ((n) => crypto.getRandomValues(new Uint8Array(n)));
    this.identity = o.identity;
    this.peerKeys = o.peerKeys;
    this.rpc = new RpcTable(
      {
        timers: this.timers,
        linkState: (id) => this.linkState(id),
        sendFrame: (id, frame) => this.sendRpcFrame(id, frame),
      },
      rpcLimitsWithin({ ...DEFAULT_RPC_LIMITS, ...o.rpcLimits }, this.chunkLimits.frameBytesMax),
    );
    this.keepaliveIntervalMs = o.keepaliveIntervalMs ?? 0;
    this.keepaliveMissesMax = o.keepaliveMissesMax ?? 5;
    if (this.keepaliveIntervalMs > 0) this.armKeepalive();
  }

  /** One keepalive round: drop links silent too long, ping the others. */
  private armKeepalive(): void {
    this.keepaliveTimer = this.timers.setTimeout(() => {
      if (this.isClosed) return;
      for (const s of [...this.sessions.values()]) {
        if (s.state !== 'open') continue;
        if (++s.silentIntervals > this.keepaliveMissesMax) {
          this.closeSession(s, `silent for ${s.silentIntervals - 1} keepalive intervals`, true);
          continue;
        }
        this.sendFrame(s, { type: 'raftBatch', batch: { clusterId: this.keys.clusterId, fromStoreId: this.localStoreId, toStoreId: s.storeId, messages: [] } });
      }
      this.armKeepalive();
    }, this.keepaliveIntervalMs);
  }

  // ---- Transport surface -------------------------------------------------------------

  send(targetStoreId: StoreId, messages: readonly RegionMessage[]): SendResult {
    if (this.isClosed) return this.dropSend('closed', messages.length);
    if (this.blocked.has(targetStoreId) || !this.sessions.has(targetStoreId)) return this.dropSend('peerUnreachable', messages.length);
    const q = this.queueOf(targetStoreId);
    let queued = 0;
    for (const m of messages) {
      const bytes = estimateMessageBytes(m);
      if (q.messages.length >= this.queueLengthMax || q.bytes + bytes > this.queueBytesMax) break;
      q.messages.push(m);
      q.bytes += bytes;
      queued++;
    }
    if (queued < messages.length) this.count('queueFull', messages.length - queued);
    if (queued > 0 && this.autoFlush) this.scheduleFlush();
    return { queued, dropped: messages.length - queued };
  }

  flush(): void {
    this.flushScheduled = false;
    for (const [storeId, q] of this.queues) if (!q.paused && (q.messages.length > 0 || q.frames.length > 0)) this.flushPeer(storeId, q);
  }

  onMessage(handler: (batch: RaftBatch) => void): Unsubscribe {
    this.messageHandlers.add(handler);
    return () => this.messageHandlers.delete(handler);
  }

  onPeer(handler: (event: PeerEvent) => void): Unsubscribe {
    this.peerHandlers.add(handler);
    return () => this.peerHandlers.delete(handler);
  }

  peers(): StoreId[] {
    return [...this.sessions.values()].filter((s) => s.state === 'open').map((s) => s.storeId).sort((a, b) => a - b);
  }

  counters(): TransportCounters {
    return { ...this.stats, drops: { ...this.stats.drops }, rpc: this.rpc.counters() };
  }

  request(targetStoreId: StoreId, payload: Uint8Array, o?: RpcRequestOptions): Promise<Uint8Array> {
    return this.rpc.request(targetStoreId, payload, o);
  }

  onRequest(handler: RequestHandler): Unsubscribe {
    return this.rpc.onRequest(handler);
  }

  /**
   * Test hook: cuts this store off from `storeIds`. Their links close now (peer `down`
   * events fire, queued messages count as `peerDown`), new links to or from them are closed
   * as soon as they are attached, `send` to them drops (`peerUnreachable`), `request` to
   * them rejects `Unreachable` at once, and they leave `peers()`. The concrete transport
   * also makes the remote side notice (see `onPartitioned`). Own id and repeats are ignored.
   */
  partition(storeIds: Iterable<StoreId>): void {
    if (this.isClosed) return;
    const added: StoreId[] = [];
    for (const id of storeIds) {
      if (id === this.localStoreId || this.blocked.has(id)) continue;
      this.blocked.add(id);
      added.push(id);
    }
    for (const id of added) this.dropLink(id, 'partitioned');
    if (added.length > 0) this.onPartitioned(added);
  }

  /**
   * Undoes `partition` for `storeIds` (all blocked stores when omitted). Links come back by
   * themselves: the concrete transport re-links at once (see `onHealed`).
   */
  heal(storeIds?: Iterable<StoreId>): void {
    if (this.isClosed) return;
    const healed: StoreId[] = [];
    for (const id of storeIds ?? [...this.blocked]) if (this.blocked.delete(id)) healed.push(id);
    if (healed.length > 0) this.onHealed(healed);
  }

  /** The link to `storeId`: none, authenticating, or open (authenticated, what `peers()` lists). */
  linkState(storeId: StoreId): LinkState {
    const s = this.sessions.get(storeId);
    return s === undefined ? 'none' : s.state === 'open' ? 'open' : 'auth';
  }

  /**
   * Drops the open link to `storeId` unless its remote proved `publicKey` when it was
   * admitted (counted `identityRevoked`; the remote hears a bye): for a key learned after the
   * link opened (`PeerKeyPolicy` said yes before it knew). True when a link was dropped. A
   * link still authenticating is left to its own check.
   */
  revokeLink(storeId: StoreId, publicKey: Uint8Array): boolean {
    const s = this.sessions.get(storeId);
    if (!s || s.state !== 'open') return false;
    if (s.provenKey !== undefined && publicKeysEqual(s.provenKey, publicKey)) return false;
    this.failSession(s, 'identityRevoked');
    return true;
  }

  /** The store key the open link to `storeId` proved at admission (undefined: none open, or it proved none). */
  linkKey(storeId: StoreId): Uint8Array | undefined {
    const s = this.sessions.get(storeId);
    return s?.state === 'open' && s.provenKey !== undefined ? new Uint8Array(s.provenKey) : undefined;
  }

  /** The stores currently cut off by `partition`, ascending. */
  partitionedStores(): StoreId[] {
    return [...this.blocked].sort((a, b) => a - b);
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    if (this.keepaliveTimer !== null) this.timers.clearTimeout(this.keepaliveTimer);
    this.rpc.close();
    for (const s of [...this.sessions.values()]) this.closeSession(s, 'transport closed', true);
    for (const q of this.queues.values()) this.clearDrainTimer(q);
    this.queues.clear();
  }

  // ---- For concrete transports --------------------------------------------------------

  /** Counts a drop of `n` items for `reason`. */
  protected count(reason: DropReason, n = 1): void {
    this.stats.drops[reason] += n;
  }

  /** True when a link to `storeId` exists (authenticating or open). */
  protected hasLink(storeId: StoreId): boolean {
    return this.sessions.has(storeId);
  }

  /** True when the link to `storeId` has authenticated. */
  protected isUp(storeId: StoreId): boolean {
    return this.sessions.get(storeId)?.state === 'open';
  }

  /** Closes the link to a store, if any, telling the remote (`Link.bye`). */
  protected dropLink(storeId: StoreId, reason: string): void {
    const s = this.sessions.get(storeId);
    if (s) this.closeSession(s, reason, true);
  }

  /**
   * True when `tag` is the remote's bye tag of the open link to `storeId`. A link that has
   * not opened has no keys yet: any bye may end it (it carries nothing to protect).
   */
  protected byeAccepted(storeId: StoreId, tag: unknown): boolean {
    const s = this.sessions.get(storeId);
    if (!s || s.state !== 'open') return true;
    if (s.mac === null) return true; // packetMac off: the medium is trusted
    const ok = tag instanceof Uint8Array && tagsEqual(tag, s.mac.byeTagIn);
    if (!ok) this.count('macFailed');
    return ok;
  }

  /** This store's bye tag on the open link to `storeId`; null when it is not open. */
  protected byeTag(storeId: StoreId): Uint8Array | null {
    const s = this.sessions.get(storeId);
    return s?.state === 'open' ? (s.mac?.byeTagOut ?? null) : null;
  }

  /**
   * Starts authenticating a new link claimed to lead to `remoteStoreId`. Replaces any older
   * link to that store. Returns the handle the concrete transport feeds.
   */
  protected attachLink(remoteStoreId: StoreId, link: Link): LinkHandle {
    if (this.blocked.has(remoteStoreId)) return this.refuseLink(link);
    const old = this.sessions.get(remoteStoreId);
    if (old) this.closeSession(old, 'replaced by a newer link');
    this.evictAuthenticating();
    const s: Session = {
      storeId: remoteStoreId,
      link,
      localNonce: this.randomBytes(AUTH_NONCE_BYTES),
      reassembler: new Reassembler(this.chunkLimits),
      state: 'auth',
      remoteNonce: null,
      busy: false,
      backlog: [],
      backlogBytes: 0,
      authTimer: null,
      silentIntervals: 0,
      mac: null,
      sendSeq: 0,
      receiveSeqMin: 0,
      provenKey: undefined,
    };
    this.sessions.set(remoteStoreId, s);
    s.authTimer = this.timers.setTimeout(() => this.failSession(s, 'authTimeout'), this.authTimeoutMs);
    this.sendFrame(s, { type: 'authHello', clusterId: this.keys.clusterId, storeId: this.localStoreId, nonce: s.localNonce });
    return {
      receive: (packet) => this.receive(s, packet),
      drained: () => this.onDrained(s),
      closed: (reason) => this.closeSession(s, reason),
    };
  }

  /**
   * Makes room for one more authenticating link: past `authSessionsMax`, the oldest goes
   * (counted `authSessionsFull`). Anyone who can reach us can start a handshake, so their
   * number is bounded; evicting the oldest rather than refusing the newest keeps a flood of
   * stuck handshakes from locking genuine stores out (theirs complete in milliseconds).
   */
  private evictAuthenticating(): void {
    let authenticating = 0;
    for (const s of this.sessions.values()) if (s.state === 'auth') authenticating++;
    for (const s of this.sessions.values()) {
      if (authenticating < this.authSessionsMax) return;
      if (s.state !== 'auth') continue;
      this.count('authSessionsFull');
      this.closeSession(s, 'authSessionsFull');
      authenticating--;
    }
  }

  /** True when `storeId` is cut off by `partition`. */
  protected isPartitioned(storeId: StoreId): boolean {
    return this.blocked.has(storeId);
  }

  /** Called when a link went down; concrete transports may reconnect. */
  protected onLinkClosed(_storeId: StoreId, _wasUp: boolean): void {}

  /**
   * `partition` blocked these stores and closed their links. A concrete transport whose
   * link close is not seen by the remote (a shared channel) tells the remote here, and
   * drops connections still being set up.
   */
  protected onPartitioned(_storeIds: readonly StoreId[]): void {}

  /** `heal` unblocked these stores: re-link now rather than after a backoff. */
  protected onHealed(_storeIds: readonly StoreId[]): void {}

  /** Closes a link to a blocked store; the handle it returns ignores everything. */
  private refuseLink(link: Link): LinkHandle {
    try {
      link.close();
    } catch {
      // Refused either way.
    }
    return { receive: () => {}, drained: () => {}, closed: () => {} };
  }

  // ---- Sending -------------------------------------------------------------------------

  private dropSend(reason: DropReason, n: number): SendResult {
    this.count(reason, n);
    return { queued: 0, dropped: n };
  }

  private queueOf(storeId: StoreId): PeerQueue {
    let q = this.queues.get(storeId);
    if (!q) {
      q = { messages: [], bytes: 0, frames: [], paused: false, drainTimer: null };
      this.queues.set(storeId, q);
    }
    return q;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(() => {
      if (this.flushScheduled && !this.isClosed) this.flush();
    });
  }

  private takeBatch(q: PeerQueue): RegionMessage[] {
    let bytes = 0;
    let n = 0;
    while (n < q.messages.length && n < this.decodeLimits.messagesPerBatchMax) {
      const b = estimateMessageBytes(q.messages[n]);
      if (n > 0 && bytes + b > this.batchBytesMax) break;
      bytes += b;
      n++;
    }
    q.bytes -= bytes;
    return q.messages.splice(0, n);
  }

  private flushPeer(storeId: StoreId, q: PeerQueue): void {
    const s = this.sessions.get(storeId);
    if (!s || s.state !== 'open') return;
    if (!this.flushFrames(s, q)) return;
    while (q.messages.length > 0 && s.state === 'open') {
      if (s.link.bufferedAmountBytes() > this.bufferedAmountHighBytes) return this.pause(storeId, q);
      const messages = this.takeBatch(q);
      const batch: RaftBatch = { clusterId: this.keys.clusterId, fromStoreId: this.localStoreId, toStoreId: storeId, messages };
      if (!this.sendFrame(s, { type: 'raftBatch', batch })) return;
      this.stats.messagesSent += messages.length;
    }
  }

  /**
   * Queues a request or response frame for an open link and sends what the link buffer
   * allows now (rpc frames go ahead of queued Raft batches, without waiting for a flush).
   */
  private sendRpcFrame(storeId: StoreId, frame: Frame): boolean {
    const s = this.sessions.get(storeId);
    if (!s || s.state !== 'open') return false;
    const q = this.queueOf(storeId);
    q.frames.push(frame);
    if (!q.paused) this.flushFrames(s, q);
    return true;
  }

  /** Sends queued rpc frames while the link buffer is under the mark; false when it paused or failed. */
  private flushFrames(s: Session, q: PeerQueue): boolean {
    while (q.frames.length > 0) {
      if (s.state !== 'open') return false;
      if (s.link.bufferedAmountBytes() > this.bufferedAmountHighBytes) {
        this.pause(s.storeId, q);
        return false;
      }
      if (!this.sendFrame(s, q.frames.shift() as Frame)) return false;
    }
    return true;
  }

  private pause(storeId: StoreId, q: PeerQueue): void {
    q.paused = true;
    this.stats.backpressurePauses++;
    this.clearDrainTimer(q);
    q.drainTimer = this.timers.setTimeout(() => this.resume(storeId, q), this.drainPollMs);
  }

  private resume(storeId: StoreId, q: PeerQueue): void {
    this.clearDrainTimer(q);
    if (!q.paused || this.isClosed) return;
    q.paused = false;
    this.flushPeer(storeId, q);
  }

  private onDrained(s: Session): void {
    const q = this.queues.get(s.storeId);
    if (q && this.sessions.get(s.storeId) === s) this.resume(s.storeId, q);
  }

  private clearDrainTimer(q: PeerQueue): void {
    if (q.drainTimer !== null) this.timers.clearTimeout(q.drainTimer);
    q.drainTimer = null;
  }

  /**
   * Encodes and sends one frame: in the clear while authenticating (hello, proof), sealed
   * once open (unless `packetMac` is off). False (and the link closed) if the link refused it.
   */
  private sendFrame(s: Session, frame: Frame): boolean {
    try {
      const mac = s.state === 'open' ? s.mac : null;
      if (mac !== null) {
        for (const p of encodePackets(frame, this.chunkLimits.chunkBytesMax - LINK_MAC_OVERHEAD_BYTES)) this.sendRaw(s, sealPacket(mac.sendKey, s.sendSeq++, p));
      } else {
        for (const p of encodePackets(frame, this.chunkLimits.chunkBytesMax)) this.sendRaw(s, p);
      }
      this.stats.framesSent++;
      return true;
    } catch (e) {
      this.closeSession(s, `send failed: ${String(e)}`);
      return false;
    }
  }

  private sendRaw(s: Session, p: Uint8Array): void {
    const bytes = p.length; // read first: a link may take the buffer over (a bridged peer transfers it)
    s.link.send(p);
    this.stats.bytesSent += bytes;
  }

  // ---- Receiving -----------------------------------------------------------------------

  private receive(s: Session, packet: Uint8Array): void {
    if (s.state === 'closed') return;
    this.stats.bytesReceived += packet.length;
    if (!s.busy) return this.processPacket(s, packet);
    // A handshake step runs (it is the only thing that sets `busy`): hold, undecoded, what
    // may count once it is done: a hello or proof, or a packet of a remote that opened first
    // (a sender never makes one bigger than a chunk). `processPacket` judges it then.
    if (packet.length > Math.max(AUTH_PACKET_BYTES_MAX, this.chunkLimits.chunkBytesMax)) return this.count('authPacketTooLarge');
    if (s.backlog.length >= this.backlogPacketsMax || s.backlogBytes + packet.length > this.backlogBytesMax) return this.count('backlogFull');
    s.backlog.push(packet);
    s.backlogBytes += packet.length;
  }

  /**
   * The cheap gate of an authenticating link, before anything is decoded: only a small
   * whole hello or proof passes.
   */
  private admitWhileAuthenticating(packet: Uint8Array): boolean {
    if (packet[0] === PACKET_SEALED) {
      this.count('unauthenticated');
      return false;
    }
    if (packet.length > AUTH_PACKET_BYTES_MAX) {
      this.count('authPacketTooLarge');
      return false;
    }
    // One-byte frame types: [whole, type, version, ...].
    const type = packet[1];
    if (packet[0] !== PACKET_WHOLE || (type !== FRAME_TYPES.authHello && type !== FRAME_TYPES.authProof)) {
      this.count('unauthenticated');
      return false;
    }
    return true;
  }

  private processPacket(s: Session, packet: Uint8Array): void {
    if (s.state === 'open' && s.mac !== null) return this.receiveSealed(s, packet);
    if (s.state === 'open') {
      s.silentIntervals = 0;
      return this.reassemble(s, packet);
    }
    if (this.admitWhileAuthenticating(packet)) this.receiveFrameBytes(s, packet.subarray(1));
  }

  /**
   * A packet on an open link counts only sealed, with a sequence number above the last one
   * accepted (checked first: a replay costs no MAC) and a MAC that verifies. Anything else is
   * dropped and counted; the link stays (on a shared medium anyone can post such packets).
   */
  private receiveSealed(s: Session, packet: Uint8Array): void {
    const parts = parseSealed(packet);
    if (parts === null) return this.count(packet[0] === PACKET_SEALED ? 'macFailed' : 'unauthenticated');
    if (parts.seq < s.receiveSeqMin) return this.count('replayed');
    if (!verifySealed((s.mac as LinkMac).receiveKey, parts)) return this.count('macFailed');
    s.receiveSeqMin = parts.seq + 1;
    s.silentIntervals = 0;
    this.reassemble(s, parts.inner);
  }

  private reassemble(s: Session, packet: Uint8Array): void {
    const r = s.reassembler.push(packet);
    if (r.kind === 'pending') return;
    if (r.kind === 'violation') return this.failSession(s, 'reassembly');
    this.receiveFrameBytes(s, r.bytes);
  }

  private receiveFrameBytes(s: Session, bytes: Uint8Array): void {
    let frame: Frame;
    try {
      frame = readFrame(bytes, this.decodeLimits);
    } catch (e) {
      if (e instanceof DecodeError) return this.failSession(s, 'decodeError');
      throw e;
    }
    this.stats.framesReceived++;
    this.onFrame(s, frame);
  }

  private onFrame(s: Session, frame: Frame): void {
    switch (frame.type) {
      case 'authHello':
        return this.onHello(s, frame.clusterId, frame.storeId, frame.nonce);
      case 'authProof':
        return this.onProof(s, frame.proof, frame.identity);
      case 'raftBatch':
        return this.onBatch(s, frame.batch);
      case 'raftEnvelope': {
        const { clusterId, fromStoreId, toStoreId, ...m } = frame.envelope;
        return this.onBatch(s, { clusterId, fromStoreId, toStoreId, messages: [m] });
      }
      case 'rpcRequest':
        if (s.state !== 'open') return this.count('unauthenticated');
        return this.rpc.receiveRequest(s.storeId, frame.requestId, frame.payload);
      case 'rpcResponse':
        if (s.state !== 'open') return this.count('unauthenticated');
        return this.rpc.receiveResponse(s.storeId, frame.requestId, frame.result);
    }
  }

  private onHello(s: Session, clusterId: string, storeId: StoreId, nonce: Uint8Array): void {
    if (clusterId !== this.keys.clusterId) return this.failSession(s, 'foreignCluster');
    if (storeId !== s.storeId) return this.failSession(s, 'storeMismatch');
    if (s.remoteNonce !== null) return this.failSession(s, 'authFailed');
    s.remoteNonce = nonce;
    const params = { verifierNonce: nonce, proverNonce: s.localNonce, proverStoreId: this.localStoreId, verifierStoreId: s.storeId };
    const macParams = { localStoreId: this.localStoreId, remoteStoreId: s.storeId, localNonce: s.localNonce, remoteNonce: nonce };
    this.runExclusive(s, async () => {
      const [proof, mac, identity] = await Promise.all([
        signProof(this.keys, params),
        this.packetMac ? deriveLinkMac(this.keys, macParams) : null,
        this.signIdentity({ clusterId: this.keys.clusterId, ...params }),
      ]);
      s.mac = mac;
      if (s.state !== 'closed') this.sendFrame(s, identity ? { type: 'authProof', proof, identity } : { type: 'authProof', proof });
    });
  }

  /** This store's key and its signature over its side of the handshake; none without a key pair. */
  private async signIdentity(p: ProofParams & { clusterId: string }): Promise<AuthIdentity | undefined> {
    if (!this.identity) return undefined;
    return { publicKey: this.identity.publicKey, signature: await signTranscript(this.identity, p) };
  }

  private onProof(s: Session, proof: Uint8Array, identity: AuthIdentity | undefined): void {
    if (s.remoteNonce === null || s.state !== 'auth') return this.failSession(s, 'authFailed');
    const params = { verifierNonce: s.localNonce, proverNonce: s.remoteNonce, proverStoreId: s.storeId, verifierStoreId: this.localStoreId };
    this.runExclusive(s, async () => {
      const ok = await verifyProof(this.keys, params, proof);
      if (s.state === 'closed') return;
      if (!ok) return this.failSession(s, 'authFailed');
      const admitted = await this.admitIdentity(s.storeId, identity, { clusterId: this.keys.clusterId, ...params });
      if ((s.state as SessionState) === 'closed') return; // it may have closed while the key was checked
      if (!admitted) return this.failSession(s, 'identityRefused');
      s.provenKey = identity ? new Uint8Array(identity.publicKey) : undefined;
      this.openSession(s);
    });
  }

  /**
   * Whether the remote, whose HMAC proof verified, is the store it claims: a key it sent must
   * have signed its side of this handshake, and `peerKeys` must accept that key (or its
   * absence) for the claimed id.
   */
  private async admitIdentity(storeId: StoreId, identity: AuthIdentity | undefined, p: ProofParams & { clusterId: string }): Promise<boolean> {
    if (identity && !(await verifyTranscript(identity.publicKey, identity.signature, p))) return false;
    if (!this.peerKeys) return true;
    return this.peerKeys.admit(storeId, identity ? new Uint8Array(identity.publicKey) : undefined);
  }

  /** Runs an async step with the session's inbound packets held back, then replays them. */
  private runExclusive(s: Session, step: () => Promise<void>): void {
    s.busy = true;
    step().then(
      () => this.release(s),
      () => this.failSession(s, 'authFailed'),
    );
  }

  private release(s: Session): void {
    s.busy = false;
    while (s.backlog.length > 0 && !s.busy && s.state !== 'closed') {
      const packet = s.backlog.shift() as Uint8Array;
      s.backlogBytes -= packet.length;
      this.processPacket(s, packet);
    }
  }

  private openSession(s: Session): void {
    if (s.remoteNonce === null) return this.failSession(s, 'authFailed'); // a proof before any hello
    if (s.authTimer !== null) this.timers.clearTimeout(s.authTimer);
    s.authTimer = null;
    s.state = 'open';
    this.emitPeer({ type: 'up', storeId: s.storeId });
    const q = this.queues.get(s.storeId);
    if (q && !q.paused) this.flushPeer(s.storeId, q);
    this.rpc.linkOpened(s.storeId);
  }

  private onBatch(s: Session, batch: RaftBatch): void {
    if (s.state !== 'open') return this.count('unauthenticated');
    if (batch.clusterId !== this.keys.clusterId) return this.count('foreignCluster');
    if (batch.fromStoreId !== s.storeId) return this.count('storeMismatch');
    if (batch.toStoreId !== this.localStoreId) return this.count('misaddressed');
    if (batch.messages.length === 0) return; // a keepalive
    this.stats.messagesReceived += batch.messages.length;
    for (const h of this.messageHandlers) h(batch);
  }

  // ---- Session end ---------------------------------------------------------------------

  private failSession(s: Session, reason: DropReason): void {
    if (s.state === 'closed') return;
    this.count(reason);
    this.closeSession(s, reason, true);
  }

  /**
   * Ends a session. `notify`: this store decided it (not the remote, not the link), so an
   * open link's `bye` tells the remote.
   */
  private closeSession(s: Session, reason: string, notify = false): void {
    if (s.state === 'closed') return;
    const wasUp = s.state === 'open';
    s.state = 'closed';
    if (s.backlog.length > 0) this.count('unauthenticated', s.backlog.length);
    s.backlog = [];
    s.backlogBytes = 0;
    if (s.authTimer !== null) this.timers.clearTimeout(s.authTimer);
    try {
      if (notify && wasUp && s.mac !== null) s.link.bye?.(s.mac.byeTagOut);
      s.link.close();
    } catch {
      // The link is going away either way.
    }
    if (this.sessions.get(s.storeId) !== s) return;
    this.sessions.delete(s.storeId);
    const q = this.queues.get(s.storeId);
    if (q) {
      this.count('peerDown', q.messages.length);
      this.clearDrainTimer(q);
      this.queues.delete(s.storeId);
    }
    this.rpc.linkClosed(s.storeId, reason);
    if (wasUp) this.emitPeer({ type: 'down', storeId: s.storeId, reason });
    if (!this.isClosed) this.onLinkClosed(s.storeId, wasUp);
  }

  private emitPeer(e: PeerEvent): void {
    for (const h of this.peerHandlers) h(e);
  }
}
