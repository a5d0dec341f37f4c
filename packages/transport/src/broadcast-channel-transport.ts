/**
 * `BroadcastChannelTransport`: stores in one browser profile (tabs, Workers) talk over one
 * BroadcastChannel named after the cluster. Discovery is a periodic hello; a store not heard
 * from for `departureTimeoutMs` is gone, and a `bye` announces a clean departure. Every
 * message names its sender's incarnation (`session`), so a reloaded tab is a new link.
 * Pairs of stores run the same challenge-response as over WebRTC, and every packet after it
 * is sealed with the link's MAC (`link-mac.ts`): any same-origin script can read and post on
 * the channel, and `from`, `session` and `to` are plain to it, so nothing short of the
 * cluster secret may inject, replay, or end a link. A `bye` for an open link carries the
 * link's bye tag; an unauthenticated one only ends links still authenticating. A hello from
 * a new incarnation of a store whose link is open does not replace it (anyone can post one):
 * the old link goes by its sealed bye (sent on `pagehide` and `close`), its departure
 * timeout, or its keepalives falling silent (on by default here).
 *
 * Links are dialled by the smaller store id: it links on the other's hello, and the other
 * (the answerer) links only on its packets. Each link is numbered within its incarnation
 * (`link`), and a packet names the receiver's link it answers (`toLink`) once known; an
 * answerer's link is bound to the dialler's link it answered. So a packet for a link that
 * is gone is ignored, a dialler's newer link replaces the answerer's while that one still
 * authenticates, and a link closed before it opened says so with a bye naming the remote's
 * link (it can end nothing else). Before, both sides linked on hellos and a link was named
 * by the incarnation only: when one side's half-link went without a word (a bye, a timeout,
 * an eviction) its next link spoke into the other's old half-link, whose handshake had
 * already taken a hello, and both failed it (`authFailed`: the partition test's heal under
 * load).
 *
 * Partition hook: the channel is shared, so closing a link is invisible to the remote. A
 * directed `bye` (one naming `to`) tells it instead; packets from a blocked store are
 * answered with another directed bye, so its half-open link goes away without waiting for
 * `authTimeoutMs`. On heal, a hello re-links (half-links went when the partition began).
 */
import type { ClusterKeys } from './auth.ts';
import { deriveClusterKeys } from './auth.ts';
import type { StoreId } from './codec/envelope.ts';
import type { LinkHandle, LinkTransportOptions } from './link-transport.ts';
import { LinkTransport } from './link-transport.ts';
import type { TimerHandle } from './timers.ts';

/** The part of BroadcastChannel this transport uses. */
export interface BroadcastChannelLike {
  postMessage(message: unknown): void;
  close(): void;
  onmessage: ((ev: MessageEvent) => void) | null;
}

/** A BroadcastChannel constructor (the global one by default). */
export type BroadcastChannelCtor = new (name: string) => BroadcastChannelLike;

/** Options: the engine's plus discovery timing. */
export interface BroadcastChannelTransportOptions extends Omit<LinkTransportOptions, 'keys'> {
  keys: ClusterKeys;
  /** Constructor to use (default `globalThis.BroadcastChannel`). */
  BroadcastChannel?: BroadcastChannelCtor;
  /** Hello period (default 1000 ms). */
  heartbeatIntervalMs?: number;
  /** Silence after which a store is considered gone (default 3500 ms). */
  departureTimeoutMs?: number;
}

/** Keepalive period of BroadcastChannel links when the options name none, ms. */
const BC_KEEPALIVE_INTERVAL_MS = 1000;

const PROTOCOL = 'peerkv/bc/1';

/** Sessions a store remembers having answered a hello from (`answerHello`), at most. */
export const HELLO_ANSWERED_SESSIONS_MAX = 256;

type BcKind = 'hello' | 'bye' | 'packet';

interface BcMessage {
  p: typeof PROTOCOL;
  cluster: string;
  from: StoreId;
  session: string;
  kind: BcKind;
  to?: StoreId;
  toSession?: string;
  /** A packet's or bye's sender link (`Remote.localLink` there); absent from an older sender. */
  link?: number;
  /** The receiver's link a packet or bye is for, once the sender heard from it. */
  toLink?: number;
  packet?: Uint8Array;
  /** A bye's tag (`LinkMac.byeTagOut`) when the link it ends is open. */
  tag?: Uint8Array;
}

interface Remote {
  session: string;
  lastHeardMs: number;
  handle: LinkHandle;
  /** This side's number for the link, unique within this incarnation. */
  localLink: number;
  /**
   * The remote's number for it: an answerer's from the dialler's first packet, a dialler's
   * from the answerer's first packet (undefined until then, and from an older sender).
   */
  remoteLink: number | undefined;
}

function isBcMessage(v: unknown): v is BcMessage {
  const m = v as BcMessage | null;
  return typeof m === 'object' && m !== null && m.p === PROTOCOL && typeof m.cluster === 'string' &&
    Number.isSafeInteger(m.from) && typeof m.session === 'string' && optionalLinkNumber(m.link) && optionalLinkNumber(m.toLink);
}

function optionalLinkNumber(v: unknown): boolean {
  return v === undefined || (Number.isSafeInteger(v) && (v as number) >= 0);
}

/** Transport between stores of one browser profile over BroadcastChannel. */
export class BroadcastChannelTransport extends LinkTransport {
  private readonly channel: BroadcastChannelLike;
  private readonly session: string;
  private readonly heartbeatIntervalMs: number;
  private readonly departureTimeoutMs: number;
  private readonly remotes = new Map<StoreId, Remote>();
  /** Sessions of smaller ids whose hello this store answered, with when (`answerHello`), oldest first. */
  private readonly helloAnswered = new Map<string, number>();
  /** The number the next link of this incarnation gets. */
  private nextLink = 0;
  private heartbeatTimer: TimerHandle | null = null;

  /** Derives the cluster keys from `secret`, then builds the transport. */
  static async create(o: Omit<BroadcastChannelTransportOptions, 'keys'> & { clusterId: string; secret: string }): Promise<BroadcastChannelTransport> {
    const keys = await deriveClusterKeys(o.clusterId, o.secret);
    return new BroadcastChannelTransport({ ...o, keys });
  }

  constructor(o: BroadcastChannelTransportOptions) {
    // BroadcastChannel has no 16 KiB message limit (structured clone takes any size), so
    // packets here are 256 KiB unless the caller says otherwise; frameBytesMax still applies.
    // Keepalives (sealed) notice a remote whose hellos someone else keeps posting.
    super({ keepaliveIntervalMs: BC_KEEPALIVE_INTERVAL_MS, ...o, chunkLimits: { chunkBytesMax: 256 * 1024, ...o.chunkLimits } });
    const Ctor = o.BroadcastChannel ?? (globalThis.BroadcastChannel as unknown as BroadcastChannelCtor);
    this.heartbeatIntervalMs = o.heartbeatIntervalMs ?? 1000;
    this.departureTimeoutMs = o.departureTimeoutMs ?? 3500;
    this.session = [...crypto.getRandomValues(new Uint8Array(8))].map((b) => b.toString(16).padStart(2, '0')).join('');
    this.channel = new Ctor(`peerkv/${this.keys.clusterId}`);
    this.channel.onmessage = (ev) => this.onChannelMessage(ev.data);
    this.heartbeat();
    // A closing tab says bye so the others need not wait for the departure timeout.
    globalThis.addEventListener?.('pagehide', this.onPageHide);
  }

  /**
   * A closing tab ends every link with a bye, synchronously (bye tags are precomputed). If
   * the page comes back from the back/forward cache, its next hello starts fresh links.
   */
  private readonly onPageHide = (): void => {
    if (this.isClosed) return;
    for (const storeId of [...this.remotes.keys()]) {
      this.remotes.delete(storeId);
      this.dropLink(storeId, 'pagehide');
    }
  };

  override close(): void {
    if (this.isClosed) return;
    super.close(); // every link says bye (`Link.bye`) while the channel is still open
    if (this.heartbeatTimer !== null) this.timers.clearTimeout(this.heartbeatTimer);
    this.channel.onmessage = null;
    this.channel.close();
    globalThis.removeEventListener?.('pagehide', this.onPageHide);
    this.remotes.clear();
  }

  private post(m: Omit<BcMessage, 'p' | 'cluster' | 'from' | 'session'>): void {
    this.channel.postMessage({ p: PROTOCOL, cluster: this.keys.clusterId, from: this.localStoreId, session: this.session, ...m });
  }

  private heartbeat(): void {
    this.post({ kind: 'hello' });
    const now = this.timers.now();
    for (const [storeId, r] of this.remotes) {
      if (now - r.lastHeardMs <= this.departureTimeoutMs) continue;
      this.remotes.delete(storeId);
      this.dropLink(storeId, 'departure timeout'); // with a bye, in case it only went quiet
    }
    this.heartbeatTimer = this.timers.setTimeout(() => this.heartbeat(), this.heartbeatIntervalMs);
  }

  private forget(storeId: StoreId, reason: string): void {
    const r = this.remotes.get(storeId);
    if (!r) return;
    this.remotes.delete(storeId);
    r.handle.closed(reason);
  }

  private onChannelMessage(data: unknown): void {
    if (this.isClosed || !isBcMessage(data)) return;
    if (data.cluster !== this.keys.clusterId) return this.count('foreignCluster');
    if (data.from === this.localStoreId) return;
    if (this.isPartitioned(data.from)) return this.refuse(data);
    if (data.kind === 'bye') return this.onBye(data);
    if (data.kind === 'packet' && (data.to !== this.localStoreId || data.toSession !== this.session)) return;
    const r = data.kind === 'packet' ? this.remoteForPacket(data) : this.remoteForHello(data.from, data.session);
    if (r === null) return;
    r.lastHeardMs = this.timers.now();
    if (data.kind === 'packet' && data.packet instanceof Uint8Array) r.handle.receive(data.packet);
  }

  /**
   * A bye for us from the incarnation we know: it ends a link still authenticating; an open
   * link only with its bye tag (else counted `macFailed` and ignored).
   */
  private onBye(data: BcMessage): void {
    if (data.to !== undefined && data.to !== this.localStoreId) return;
    if (data.toSession !== undefined && data.toSession !== this.session) return;
    const r = this.remotes.get(data.from);
    if (!r || r.session !== data.session) return;
    if (data.toLink !== undefined && data.toLink !== r.localLink) return; // for a link of ours that is gone
    if (this.byeAccepted(data.from, data.tag)) this.forget(data.from, 'bye');
  }

  /** True when this store dials `storeId` (the smaller id dials; see the header). */
  private dials(storeId: StoreId): boolean {
    return this.localStoreId < storeId;
  }

  /**
   * The remote for a hello: the known link of that incarnation, or a new one when this store
   * dials; null when it answers (it waits for the dialler's packet) or the message is a
   * new incarnation's while the link is open.
   */
  private remoteForHello(storeId: StoreId, session: string): Remote | null {
    const known = this.remotes.get(storeId);
    if (known && known.session === session) return known;
    if (known && this.isUp(storeId)) {
      this.count('unauthenticated'); // kept: the claim of a new incarnation is unauthenticated
      return null;
    }
    if (!this.dials(storeId)) {
      this.answerHello(session);
      return null;
    }
    return this.remoteFor(storeId, session, undefined);
  }

  /**
   * A hello from a smaller id this store has no link with: hello back at once, so that the
   * dialler links now and not at this store's next periodic hello (up to `heartbeatIntervalMs`
   * later; a store that started after the dialler's last hello would otherwise be unseen that
   * long, longer than a short bootstrap probe). At most once per session and interval.
   */
  private answerHello(session: string): void {
    const now = this.timers.now();
    const last = this.helloAnswered.get(session);
    if (last !== undefined && now - last < this.heartbeatIntervalMs) return;
    this.helloAnswered.delete(session);
    this.helloAnswered.set(session, now);
    if (this.helloAnswered.size > HELLO_ANSWERED_SESSIONS_MAX) this.helloAnswered.delete(this.helloAnswered.keys().next().value as string);
    this.post({ kind: 'hello' });
  }

  /**
   * The remote a packet is for; null to ignore it. A packet from an older sender (no link
   * number) goes as before. Otherwise it must answer our current link (`toLink`) when it
   * names one, and come from the remote link ours is bound to; an answerer takes a dialler's
   * first packet (no `toLink`) of a newer link as a new link, replacing one still
   * authenticating. Anything else belongs to a link that is gone.
   */
  private remoteForPacket(data: BcMessage): Remote | null {
    if (data.link === undefined) return this.remoteFor(data.from, data.session, undefined);
    const known = this.remotes.get(data.from);
    const current = known !== undefined && known.session === data.session ? known : undefined;
    if (data.toLink !== undefined) {
      if (current === undefined || data.toLink !== current.localLink) return null;
      current.remoteLink ??= data.link;
      return data.link === current.remoteLink ? current : null;
    }
    // A dialler's first packet of a link.
    if (this.dials(data.from)) return null;
    if (current !== undefined && current.remoteLink !== undefined && data.link <= current.remoteLink) return data.link === current.remoteLink ? current : null;
    if (current !== undefined && this.isUp(data.from)) {
      this.count('unauthenticated'); // an open link ends only by its sealed bye or by silence
      return null;
    }
    if (current !== undefined) this.forget(data.from, 'newer link');
    return this.remoteFor(data.from, data.session, data.link);
  }

  /**
   * The remote for a message from (`storeId`, `session`), linking a new one (`remoteLink`: the
   * remote's number for it when a packet started it); null when that store's link is open
   * under another incarnation (kept: the claim is unauthenticated).
   */
  private remoteFor(storeId: StoreId, session: string, remoteLink: number | undefined): Remote | null {
    const known = this.remotes.get(storeId);
    if (known && known.session === session) return known;
    if (known && this.isUp(storeId)) {
      this.count('unauthenticated');
      return null;
    }
    if (known) this.forget(storeId, 'new incarnation');
    const localLink = this.nextLink++;
    // Set before `attachLink`, which sends our hello at once, and as packets arrive: read per post.
    let r: Remote | undefined;
    const post = (packet: Uint8Array) => this.post({ kind: 'packet', to: storeId, toSession: session, link: localLink, toLink: r?.remoteLink ?? remoteLink, packet });
    const handle = this.attachLink(storeId, {
      send: post,
      bufferedAmountBytes: () => 0,
      // The channel is shared by every link; closing one link only forgets the remote.
      close: () => {},
      bye: (tag) => this.post({ kind: 'bye', to: storeId, toSession: session, link: localLink, toLink: r?.remoteLink, tag }),
    });
    r = { session, lastHeardMs: this.timers.now(), handle, localLink, remoteLink };
    this.remotes.set(storeId, r);
    return r;
  }

  /** A blocked store's packet for us: tell it to drop its half of the link. */
  private refuse(data: BcMessage): void {
    if (data.kind === 'packet' && data.to === this.localStoreId && data.toSession === this.session) this.post({ kind: 'bye', to: data.from, toSession: data.session, toLink: data.link });
  }

  protected override onPartitioned(storeIds: readonly StoreId[]): void {
    for (const id of storeIds) {
      this.forget(id, 'partitioned');
      this.post({ kind: 'bye', to: id });
    }
  }

  protected override onHealed(): void {
    this.post({ kind: 'hello' });
  }

  protected override onLinkClosed(storeId: StoreId, wasUp: boolean): void {
    // Forget it so the next hello starts a fresh link (and a fresh handshake).
    const r = this.remotes.get(storeId);
    this.remotes.delete(storeId);
    // Still known here: the engine ended it (a timeout, an eviction, a failed step), not a
    // bye or a newer link. Tell the remote's half-link, which would otherwise wait for its
    // own timeout; an open link said so with its sealed bye.
    if (r && !wasUp && r.remoteLink !== undefined) this.post({ kind: 'bye', to: storeId, toSession: r.session, link: r.localLink, toLink: r.remoteLink });
  }
}
