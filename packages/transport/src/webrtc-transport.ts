/**
 * `WebRtcTransport`: one simple-peer data channel per pair of stores, found through a
 * y-webrtc signaling server where the cluster id is the topic.
 *
 * - Every signaling payload (announce, SDP, ICE candidate) is sealed with AES-GCM under the
 *   cluster key, so the server relays ciphertext; payloads that do not open are counted
 *   (`signalingDecryptFailed`) and ignored. A peer that could not open them cannot even
 *   connect; one that does still runs the HMAC challenge-response of `LinkTransport`.
 * - Sealed is not fresh: a recorded payload published again opens fine. Each carries its
 *   session start, a counter and its sealing time, and directed ones the receiver's session;
 *   `ReplayGuard` (signaling-freshness.ts) refuses stale and replayed ones (counted
 *   `signalingStale`, `signalingReplayed`), so a recording cannot retire a live session or
 *   feed an SDP to a connected peer. An offer or answer for a link already open is ignored.
 * - Payloads wait for decryption in the signaling client's queue, bounded per sender
 *   (`signalingQueueFull`): junk from one connection cannot queue up work for every member.
 * - Glare-free pairing: the store with the smaller id always initiates. A larger store that
 *   hears an announce answers with a directed announce so the smaller one dials it.
 * - A lost channel is redialled with capped exponential backoff while the remote has been
 *   heard from within `peerForgetMs` (everyone re-announces every `announceIntervalMs`). A link
 *   that closed within `REDIAL_SHORT_LINK_MS` of opening counts as a failure too (a remote that
 *   refuses this store's key opens its side and closes it at once: redialled as if the link had
 *   been good, it was dialled several times a second), and an announce heard while a redial
 *   waits does not dial ahead of it. A dial
 *   whose channel does not open is given up after `connectTimeoutMsMin` (3 s), doubling with
 *   each failed dial of that remote up to `connectTimeoutMs` (15 s): a dial whose ICE never
 *   connects is common enough (see `CONNECT_TIMEOUT_MS_MIN`) that a long first wait kept
 *   stores apart for most of it.
 * - Every dial has a number that all its signals carry (the answerer echoes it): an answerer
 *   still holding a peer from an older dial replaces it when a newer offer comes (instead of
 *   feeding the offer to a dead peer and stalling until `connectTimeoutMs`), and a dialler
 *   ignores signals from an answerer of an older dial.
 * - Partition hook: a blocked store's announces and signals are ignored and it is not
 *   redialled; on heal the smaller store dials at once, and the larger one sends a directed
 *   announce flagged `redial`, which makes the smaller one abandon a dial still pending from
 *   the partition and dial afresh (instead of waiting out `connectTimeoutMs` and a backoff).
 *
 * simple-peer comes from its prebuilt `simplepeer.min.js`: that bundle already contains the
 * Buffer/stream/events shims simple-peer needs, so neither the demo's Vite build nor the
 * esbuild test fixtures need `vite-plugin-node-polyfills` (which would inject Node shims into
 * the whole app for the sake of one dependency). Same simple-peer 9 code, same API, and the
 * same file y-webrtc itself imports, so an app using both ships simple-peer once.
 */
import SimplePeerBundle from 'simple-peer/simplepeer.min.js';
import type { ClusterKeys, SealedPayload } from './auth.ts';
import { deriveClusterKeys, open, seal } from './auth.ts';
import type { StoreId } from './codec/envelope.ts';
import type { Link, LinkHandle, LinkTransportOptions } from './link-transport.ts';
import { LinkTransport } from './link-transport.ts';
import type { WebSocketCtor } from './signaling-client.ts';
import { SignalingClient } from './signaling-client.ts';
import type { FreshnessFields } from './signaling-freshness.ts';
import { hasFreshnessFields, ReplayGuard, SIGNALING_FRESHNESS_MS_DEFAULT } from './signaling-freshness.ts';
import type { TimerHandle } from './timers.ts';

/** The part of a simple-peer instance this transport uses. */
export interface PeerLike {
  signal(data: unknown): void;
  send(data: Uint8Array): void;
  destroy(): void;
  readonly bufferSize: number;
  on(event: 'signal', fn: (data: unknown) => void): unknown;
  on(event: 'connect' | 'close', fn: () => void): unknown;
  on(event: 'data', fn: (data: Uint8Array) => void): unknown;
  on(event: 'error', fn: (err: Error) => void): unknown;
}

/** Options passed to the peer constructor. */
export interface PeerOptions {
  initiator: boolean;
  trickle: boolean;
  config: RTCConfiguration;
  channelConfig: RTCDataChannelInit;
}

/** Builds a peer (simple-peer by default). */
export type PeerFactory = (o: PeerOptions) => PeerLike;

/** True for a `turn:` or `turns:` URL (a server that can relay). */
export function isTurnUrl(url: string): boolean {
  return url.startsWith('turn:') || url.startsWith('turns:');
}

/**
 * Why `policy` cannot work with `iceServers`, or undefined when it can: `relay` needs a TURN
 * server (with only host or STUN candidates barred, no data channel could ever connect).
 * Callers turn the reason into their own typed error.
 */
export function iceTransportPolicyProblem(iceServers: readonly RTCIceServer[], policy: unknown): string | undefined {
  if (policy === undefined || policy === 'all') return undefined;
  if (policy !== 'relay') return `iceTransportPolicy is 'all' or 'relay', not ${String(policy)}`;
  const turn = iceServers.some((s) => (typeof s.urls === 'string' ? [s.urls] : s.urls).some(isTurnUrl));
  return turn ? undefined : "iceTransportPolicy 'relay' needs a turn: or turns: server in iceServers";
}

/** Options: the engine's plus signaling, ICE and reconnection. */
export interface WebRtcTransportOptions extends LinkTransportOptions {
  /**
   * Signaling server URL, e.g. `ws://127.0.0.1:4444`, or the URLs of several processes of one
   * deployment sharing topics (`peerkv-signaling --redis`): one is used at a time, the next
   * when it fails. (Independent servers, which share nothing, each need a transport.)
   */
  signalingUrl: string | readonly string[];
  /** STUN/TURN servers (default none: loopback and LAN host candidates only). */
  iceServers?: RTCIceServer[];
  /**
   * `relay`: only TURN relay candidates, so every data channel goes through a TURN server in
   * `iceServers` (no host or server-reflexive address is revealed to the peer). Default `all`.
   */
  iceTransportPolicy?: RTCIceTransportPolicy;
  WebSocket?: WebSocketCtor;
  peerFactory?: PeerFactory;
  /** Re-announce period (default 10 s). */
  announceIntervalMs?: number;
  /** First redial delay (default `RECONNECT_DELAY_MS_MIN_DEFAULT`), doubling per failed dial or short link. */
  reconnectDelayMsMin?: number;
  /** Redial delay cap (default `RECONNECT_DELAY_MS_MAX_DEFAULT`). */
  reconnectDelayMsMax?: number;
  /** A remote not heard from for this long is no longer redialled (default 60 s). */
  peerForgetMs?: number;
  /**
   * Longest wait for a dial's data channel to open before it is torn down and redialled (default
   * `CONNECT_TIMEOUT_MS_MAX`): the wait of a remote's dials after `connectTimeoutMsMin` doubles up
   * to it with each one that failed.
   */
  connectTimeoutMs?: number;
  /** Wait for the first dial of a remote (and the next after one that connected), ms (default `CONNECT_TIMEOUT_MS_MIN`). */
  connectTimeoutMsMin?: number;
  /** Signaling payloads sealed further than this from the local wall clock are refused (default `SIGNALING_FRESHNESS_MS_DEFAULT`). */
  signalingFreshnessMs?: number;
  /** Wall clock in ms since the epoch, compared with other devices' (default `Date.now`). */
  wallClockMs?: () => number;
}

type SignalBody =
  | { kind: 'announce'; from: StoreId; session: string; to?: StoreId; toSession?: string; redial?: boolean }
  | { kind: 'signal'; from: StoreId; session: string; to: StoreId; toSession: string; dial: number; signal: unknown };

type SignalPayload = SignalBody & FreshnessFields;

interface Remote {
  storeId: StoreId;
  session: string;
  peer: PeerLike | null;
  /** The number of the dial `peer` belongs to (the dialler's count; echoed by the answerer). */
  dial: number;
  handle: LinkHandle | null;
  lastSeenMs: number;
  failures: number;
  /** When the current link came up (`timers.now()`), ms; undefined while none is up. */
  upAtMs: number | undefined;
  /** Links in a row that closed within `REDIAL_SHORT_LINK_MS` of coming up (they back the redial off too). */
  shortLinks: number;
  timer: TimerHandle | null;
}

/**
 * A link that closes sooner than this after coming up counts toward the redial backoff, as a
 * dial that failed does, ms: a remote refusing this store's key (`identityRefused` on its side)
 * closes a link this side saw open.
 */
export const REDIAL_SHORT_LINK_MS = 5000;
/** Default `reconnectDelayMsMin`, ms. */
export const RECONNECT_DELAY_MS_MIN_DEFAULT = 250;
/** Default `reconnectDelayMsMax`: the longest wait between two dials of one remote, ms. */
export const RECONNECT_DELAY_MS_MAX_DEFAULT = 10_000;

/**
 * Default `connectTimeoutMsMin`, ms. A data channel between reachable devices opens within a
 * few hundred milliseconds (20-300 ms between browsers on one host under load, a round trip
 * or two more through TURN), but a dial can fail without an error: in the cross-engine e2e a
 * Chromium answer now and then carried one ICE candidate instead of three, and ICE never
 * connected. Waiting `CONNECT_TIMEOUT_MS_MAX` for such a dial left a store just joined or
 * restarted without its link to one other store for 7-16 s; a second dial connected at once.
 */
export const CONNECT_TIMEOUT_MS_MIN = 3000;
/** Default `connectTimeoutMs`: the wait for a dial after several failed (a slow relay still gets this long), ms. */
export const CONNECT_TIMEOUT_MS_MAX = 15_000;

/** Packets kept from a peer that sends before this side's `connect` event fired (its auth hello). */
export const EARLY_PACKETS_MAX = 64;

const SEALED_VERSION = 1;

function isSealed(v: unknown): v is SealedPayload & { peerkv: number } {
  const m = v as { peerkv?: unknown; iv?: unknown; ct?: unknown } | null;
  return typeof m === 'object' && m !== null && m.peerkv === SEALED_VERSION && typeof m.iv === 'string' && typeof m.ct === 'string';
}

/** The shape of a payload; freshness fields are checked apart (their absence means stale, not foreign). */
function isPayload(v: unknown): v is SignalBody & Partial<FreshnessFields> {
  const m = v as SignalBody | null;
  if (typeof m !== 'object' || m === null || !Number.isSafeInteger(m.from) || typeof m.session !== 'string') return false;
  if (m.kind === 'announce') return (m.to === undefined || Number.isSafeInteger(m.to)) && (m.toSession === undefined || typeof m.toSession === 'string') && (m.redial === undefined || typeof m.redial === 'boolean');
  return m.kind === 'signal' && Number.isSafeInteger(m.to) && typeof m.toSession === 'string' && Number.isSafeInteger(m.dial);
}

/** An SDP (offer or answer), as opposed to an ICE candidate or renegotiation request. */
function isSdp(signal: unknown): boolean {
  const t = (signal as { type?: unknown } | null)?.type;
  return t === 'offer' || t === 'answer';
}

/** simple-peer's prebuilt bundle (needs `RTCPeerConnection`, so a page, not a Worker). */
export const defaultPeerFactory: PeerFactory = (o) => new SimplePeerBundle(o) as unknown as PeerLike;

/** Transport between stores anywhere, over WebRTC data channels. */
export class WebRtcTransport extends LinkTransport {
  private readonly topic: string;
  private readonly session: string;
  private readonly signaling: SignalingClient;
  private readonly remotes = new Map<StoreId, Remote>();
  private readonly o: WebRtcTransportOptions;
  private readonly wallClockMs: () => number;
  /** This session's start on the wall clock: a later session of this store supersedes it. */
  private readonly sessionStartMs: number;
  /** Payloads this session has sealed: each carries the next number. */
  private sealedCount = 0;
  private readonly replayGuard: ReplayGuard;
  private outbound: Promise<void> = Promise.resolve();
  private announceTimer: TimerHandle | null = null;
  /** Dials started by this transport, numbering them. */
  private dials = 0;

  /** Derives the cluster keys from `secret`, then builds the transport. */
  static async create(o: Omit<WebRtcTransportOptions, 'keys'> & { clusterId: string; secret: string }): Promise<WebRtcTransport> {
    const keys = await deriveClusterKeys(o.clusterId, o.secret);
    return new WebRtcTransport({ ...o, keys });
  }

  constructor(o: WebRtcTransportOptions) {
    // Data channels of a dead process can look open for many seconds: keep links alive and
    // drop silent ones (1 s pings, 5 missed) so stores learn of a lost peer quickly.
    // packetMac off: a data channel is point-to-point under DTLS, its fingerprint in sealed signaling.
    super({ keepaliveIntervalMs: 1000, packetMac: false, ...o });
    this.o = o;
    this.topic = o.keys.clusterId;
    this.session = [...crypto.getRandomValues(new Uint8Array(8))].map((b) => b.toString(16).padStart(2, '0')).join('');
    this.wallClockMs = o.wallClockMs ?? (() => Date.now());
    this.sessionStartMs = this.wallClockMs();
    this.replayGuard = new ReplayGuard(o.signalingFreshnessMs ?? SIGNALING_FRESHNESS_MS_DEFAULT);
    this.onPeer((e) => {
      const r = this.remotes.get(e.storeId);
      if (e.type !== 'up' || !r) return;
      r.failures = 0;
      r.upAtMs = this.timers.now();
    });
    this.signaling = new SignalingClient(
      { url: o.signalingUrl, topics: [this.topic], WebSocket: o.WebSocket, timers: this.timers },
      {
        onOpen: () => this.announce(),
        onPublish: (topic, data) => this.onPublish(topic, data),
        onPublishDropped: () => this.count('signalingQueueFull'),
      },
    );
  }

  /** The signaling client's connection count (1 + reconnects), for tests. */
  get signalingConnects(): number {
    return this.signaling.connects;
  }

  /** The signaling URL in use (or tried next). */
  get signalingUrl(): string {
    return this.signaling.url;
  }

  override close(): void {
    if (this.isClosed) return;
    super.close();
    if (this.announceTimer !== null) this.timers.clearTimeout(this.announceTimer);
    for (const r of this.remotes.values()) this.retire(r);
    this.remotes.clear();
    this.signaling.close();
  }

  // ---- Signaling -----------------------------------------------------------------------

  private announce(to?: StoreId, redial = false): void {
    if (this.isClosed) return;
    const toSession = to === undefined ? undefined : this.remotes.get(to)?.session;
    this.publish({
      kind: 'announce',
      from: this.localStoreId,
      session: this.session,
      ...(to === undefined ? {} : { to }),
      ...(toSession === undefined ? {} : { toSession }),
      ...(redial ? { redial } : {}),
    });
    if (to !== undefined) return;
    if (this.announceTimer !== null) this.timers.clearTimeout(this.announceTimer);
    this.announceTimer = this.timers.setTimeout(() => this.announce(), this.o.announceIntervalMs ?? 10_000);
  }

  /** Seals at once but publishes in call order: an answer must leave before its candidates. */
  private publish(body: SignalBody): void {
    const p: SignalPayload = { ...body, sessionStartMs: this.sessionStartMs, seq: ++this.sealedCount, sentAtMs: this.wallClockMs() };
    const sealing = seal(this.keys, this.topic, p);
    this.outbound = this.outbound
      .then(() => sealing)
      .then((sealed) => {
        if (!this.isClosed) this.signaling.publish(this.topic, { peerkv: SEALED_VERSION, ...sealed });
      })
      .catch(() => {
        // A payload that failed to seal is lost like a dropped packet; later ones still go.
      });
  }

  /** The signaling client awaits the returned promise before the next publication (an offer must reach simple-peer before its candidates). */
  private onPublish(topic: string, data: unknown): Promise<void> | void {
    if (topic !== this.topic || this.isClosed) return;
    if (!isSealed(data)) return this.count('signalingForeign');
    return open(this.keys, this.topic, data).then((p) => {
      if (p === undefined) return this.count('signalingDecryptFailed');
      if (!isPayload(p)) return this.count('signalingForeign');
      if (this.isClosed || p.from === this.localStoreId) return;
      if (p.to !== undefined && p.to !== this.localStoreId) return;
      if (!hasFreshnessFields(p)) return this.count('signalingStale');
      // Bound to an earlier session of this store: a recording (or a remote still answering our previous life).
      if (p.toSession !== undefined && p.toSession !== this.session) return this.count('signalingReplayed');
      const verdict = this.replayGuard.check(p.from, p.session, p, this.wallClockMs());
      if (verdict === 'stale') return this.count('signalingStale');
      if (verdict === 'replayed') return this.count('signalingReplayed');
      if (p.kind === 'announce') this.onAnnounce(p);
      else this.onSignal(p);
    });
  }

  private onAnnounce(p: Extract<SignalBody, { kind: 'announce' }>): void {
    const r = this.remoteFor(p.from, p.session);
    if (this.isPartitioned(r.storeId)) return;
    if (p.redial) this.abandonDial(r);
    // A redial is waiting out its backoff (`abandonDial` cleared it for a healed remote).
    if (r.peer || r.timer !== null) return;
    if (this.isInitiatorFor(r.storeId)) this.dial(r);
    else this.announce(r.storeId);
  }

  private onSignal(p: Extract<SignalBody, { kind: 'signal' }>): void {
    if (p.toSession !== this.session || this.isPartitioned(p.from)) return;
    const r = this.remoteFor(p.from, p.session);
    // An SDP for the dial whose link is open would make simple-peer fail and drop the link.
    if (r.handle && p.dial === r.dial && isSdp(p.signal)) return this.count('signalingReplayed');
    if (this.isInitiatorFor(r.storeId)) {
      if (!r.peer || p.dial !== r.dial) return; // an answer for a peer we already dropped
    } else if (!r.peer || p.dial > r.dial) {
      if (r.peer) this.dropPeer(r, 'replaced by a newer dial');
      this.startPeer(r, false, p.dial);
    } else if (p.dial < r.dial) {
      return; // a late signal of an older dial
    }
    const peer = r.peer;
    try {
      peer?.signal(p.signal);
    } catch {
      if (peer) this.onPeerGone(r, peer); // an unusable SDP or candidate: start over
    }
  }

  /** Forgets the current peer without scheduling a redial. */
  private dropPeer(r: Remote, reason: string): void {
    const peer = r.peer;
    const handle = r.handle;
    r.peer = null;
    r.handle = null;
    handle?.closed(reason);
    peer?.destroy();
  }

  private isInitiatorFor(storeId: StoreId): boolean {
    return this.localStoreId < storeId;
  }

  private remoteFor(storeId: StoreId, session: string): Remote {
    let r = this.remotes.get(storeId);
    if (r && r.session !== session) {
      this.retire(r);
      r = undefined;
    }
    if (!r) {
      r = { storeId, session, peer: null, dial: 0, handle: null, lastSeenMs: 0, failures: 0, upAtMs: undefined, shortLinks: 0, timer: null };
      this.remotes.set(storeId, r);
    }
    r.lastSeenMs = this.timers.now();
    return r;
  }

  // ---- Peers ---------------------------------------------------------------------------

  private dial(r: Remote): void {
    this.startPeer(r, true, ++this.dials);
  }

  private startPeer(r: Remote, initiator: boolean, dial: number): void {
    const factory = this.o.peerFactory ?? defaultPeerFactory;
    const peer = factory({ initiator, trickle: true, config: { iceServers: this.o.iceServers ?? [], iceTransportPolicy: this.o.iceTransportPolicy ?? 'all' }, channelConfig: { ordered: true } });
    r.peer = peer;
    r.dial = dial;
    this.clearTimer(r);
    // A dial that failed may fail again for a reason that takes time (a slow relay): each wait doubles.
    const connectTimeoutMs = Math.min(this.o.connectTimeoutMs ?? CONNECT_TIMEOUT_MS_MAX, (this.o.connectTimeoutMsMin ?? CONNECT_TIMEOUT_MS_MIN) * 2 ** Math.min(r.failures, 20));
    r.timer = this.timers.setTimeout(() => {
      if (r.peer === peer && !r.handle) peer.destroy();
      if (r.peer === peer && !r.handle) this.onPeerGone(r, peer);
    }, connectTimeoutMs);
    peer.on('signal', (signal) => {
      if (r.peer === peer) this.publish({ kind: 'signal', from: this.localStoreId, session: this.session, to: r.storeId, toSession: r.session, dial, signal });
    });
    // The remote's first packets (its auth hello) can arrive before this side's `connect`:
    // keep them for the link instead of dropping them (a lost hello failed the handshake).
    const early: Uint8Array[] = [];
    peer.on('connect', () => this.onConnect(r, peer, early));
    peer.on('data', (d) => {
      if (r.peer !== peer) return;
      if (r.handle) r.handle.receive(d);
      else if (early.length < EARLY_PACKETS_MAX) early.push(d);
    });
    peer.on('close', () => this.onPeerGone(r, peer));
    peer.on('error', () => this.onPeerGone(r, peer));
  }

  private onConnect(r: Remote, peer: PeerLike, early: Uint8Array[]): void {
    if (r.peer !== peer || this.isClosed) return;
    this.clearTimer(r);
    // simple-peer sets the channel's low-water mark (64 KiB) but exposes no event for it.
    const channel = (peer as unknown as { _channel?: RTCDataChannel })._channel;
    const link: Link = {
      // Nothing is sent on a channel that is no longer open or no longer this remote's: after a
      // long freeze (SIGSTOP) the native WebRTC thread closes the channel while queued sends
      // flush, and @roamhq/wrtc's send on a closing channel can crash the process (the chaos
      // test saw SIGSEGV in RTCDataChannel::Send). A dropped packet is a lost packet: the link
      // is closing anyway.
      send: (p) => {
        if (r.peer !== peer || (channel !== undefined && channel.readyState !== 'open')) return;
        try {
          peer.send(p);
        } catch {
          // The channel closed under us: its close event tears the link down.
        }
      },
      bufferedAmountBytes: () => peer.bufferSize,
      close: () => peer.destroy(),
    };
    r.handle = this.attachLink(r.storeId, link);
    const handle = r.handle;
    for (const packet of early.splice(0)) handle.receive(packet);
    channel?.addEventListener('bufferedamountlow', () => handle.drained());
  }

  private onPeerGone(r: Remote, peer: PeerLike): void {
    if (r.peer !== peer) return;
    r.peer = null;
    const handle = r.handle;
    r.handle = null;
    handle?.closed('data channel closed');
    try {
      peer.destroy();
    } catch {
      // Already destroyed.
    }
    if (r.upAtMs !== undefined) r.shortLinks = this.timers.now() - r.upAtMs < REDIAL_SHORT_LINK_MS ? r.shortLinks + 1 : 0;
    r.upAtMs = undefined;
    this.scheduleRedial(r);
  }

  protected override onLinkClosed(storeId: StoreId): void {
    // Auth or decode failure: tear the channel down; its close event schedules the redial.
    const r = this.remotes.get(storeId);
    if (r?.peer) r.peer.destroy();
  }

  private scheduleRedial(r: Remote): void {
    // A timer left from the dial (its connect timeout) would read as a redial waiting (`onAnnounce`).
    this.clearTimer(r);
    if (this.isClosed || this.remotes.get(r.storeId) !== r || this.isPartitioned(r.storeId)) return;
    if (this.timers.now() - r.lastSeenMs > (this.o.peerForgetMs ?? 60_000)) {
      this.remotes.delete(r.storeId);
      return;
    }
    const min = this.o.reconnectDelayMsMin ?? RECONNECT_DELAY_MS_MIN_DEFAULT;
    const delayMs = Math.min(this.o.reconnectDelayMsMax ?? RECONNECT_DELAY_MS_MAX_DEFAULT, min * 2 ** Math.min(r.failures + r.shortLinks, 20));
    r.failures++;
    this.clearTimer(r);
    r.timer = this.timers.setTimeout(() => {
      r.timer = null;
      if (this.isClosed || r.peer || this.remotes.get(r.storeId) !== r) return;
      if (this.isInitiatorFor(r.storeId)) this.dial(r);
      else this.announce(r.storeId);
    }, delayMs);
  }

  /** A healed remote asked for a fresh dial: drop one still pending (not connected) and reset the backoff. */
  private abandonDial(r: Remote): void {
    r.failures = 0;
    r.shortLinks = 0;
    this.clearTimer(r);
    const peer = r.peer;
    if (!peer || r.handle) return;
    r.peer = null;
    peer.destroy();
  }

  protected override onPartitioned(storeIds: readonly StoreId[]): void {
    // Links were closed already; also drop connections still being set up, and stop redials.
    for (const id of storeIds) {
      const r = this.remotes.get(id);
      if (!r) continue;
      this.clearTimer(r);
      const peer = r.peer;
      r.peer = null;
      r.handle = null;
      peer?.destroy();
    }
  }

  protected override onHealed(storeIds: readonly StoreId[]): void {
    for (const id of storeIds) {
      const r = this.remotes.get(id);
      if (r && (r.peer || r.handle)) continue;
      if (r) {
        r.failures = 0;
        r.shortLinks = 0;
        this.clearTimer(r);
      }
      if (r && this.isInitiatorFor(id)) this.dial(r);
      else this.announce(id, true);
    }
  }

  private retire(r: Remote): void {
    this.clearTimer(r);
    const peer = r.peer;
    r.peer = null;
    r.handle?.closed('retired');
    r.handle = null;
    peer?.destroy();
  }

  private clearTimer(r: Remote): void {
    if (r.timer !== null) this.timers.clearTimeout(r.timer);
    r.timer = null;
  }
}
