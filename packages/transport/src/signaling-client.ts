/**
 * A client for the y-webrtc signaling protocol (JSON over WebSocket):
 * `{type:'subscribe', topics}`, `{type:'unsubscribe', topics}`,
 * `{type:'publish', topic, data}` (relayed to every subscriber of the topic, sender
 * included, with `clients` added), `{type:'ping'}` answered by `{type:'pong'}`.
 * It reconnects with capped exponential backoff and detects a dead server with pings.
 * Given several URLs (processes of one signaling deployment that share topics, such as
 * `peerkv-signaling --redis`), it holds one connection at a time and moves to the next URL
 * whenever one closes or fails, so a lost process costs one reconnect.
 * It carries whatever `data` it is given; `WebRtcTransport` seals it first.
 *
 * Publications are handed to `onPublish` one at a time, in arrival order: a handler that
 * returns a promise (a decryption) holds the next one back until it settles. Anyone on the
 * topic can publish junk that every member must try to decrypt, so the queue is bounded per
 * sender, in publications and in bytes (the sender is the connection id PeerKV's server
 * appends as `sender`; y-webrtc's server names none, and then only the total bound applies),
 * and in total bytes; the excess is dropped and counted. Bytes, because junk comes in the
 * largest messages the server allows, while honest signaling is a few hundred bytes to a few
 * KiB a message, in bursts of an offer and its candidates per remote.
 */
import type { Timers, TimerHandle } from './timers.ts';
import { systemTimers } from './timers.ts';

/** The part of WebSocket the client uses (browser `WebSocket` or Node's `ws`). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

/** A WebSocket constructor. */
export type WebSocketCtor = new (url: string) => WebSocketLike;

/** Options of a signaling client. */
export interface SignalingClientOptions {
  /** The server, or several processes of one deployment (at most `SIGNALING_CLIENT_URLS_MAX`), tried in turn. */
  url: string | readonly string[];
  topics: string[];
  WebSocket?: WebSocketCtor;
  timers?: Timers;
  /** First reconnect delay (default 250 ms); doubles per failure. */
  reconnectDelayMsMin?: number;
  /** Reconnect delay cap (default 10 s). */
  reconnectDelayMsMax?: number;
  /** Ping period (default 15 s); no pong for two periods closes and reconnects. */
  pingIntervalMs?: number;
  /** Publications of one sender waiting for `onPublish` (default `PUBLISH_QUEUE_PER_SENDER_MAX`). */
  publishQueuePerSenderMax?: number;
  /** Bytes of one sender's publications waiting (default `PUBLISH_QUEUE_PER_SENDER_BYTES_MAX`). */
  publishQueuePerSenderBytesMax?: number;
  /** Bytes of all publications waiting (default `PUBLISH_QUEUE_BYTES_MAX`). */
  publishQueueBytesMax?: number;
}

/** Most URLs one client rotates through. */
export const SIGNALING_CLIENT_URLS_MAX = 8;
/** Default bound of one sender's queued publications: a store dialling a few dozen remotes at once. */
export const PUBLISH_QUEUE_PER_SENDER_MAX = 256;
/** Default bound of one sender's queued bytes: 16 messages of the server's 64 KiB maximum. */
export const PUBLISH_QUEUE_PER_SENDER_BYTES_MAX = 1024 * 1024;
/** Default bound of all queued bytes. */
export const PUBLISH_QUEUE_BYTES_MAX = 8 * 1024 * 1024;

/** A relayed publication. `sender` is the server's id of the publishing connection ('' if none). */
interface Publication {
  topic: string;
  data: unknown;
  sender: string;
  /** Its size as received (UTF-16 code units of the message text). */
  bytes: number;
}

/** What one sender has waiting. */
interface SenderQueue {
  count: number;
  bytes: number;
}

/** Connection state changes and relayed publications. */
export interface SignalingHandlers {
  onOpen?: () => void;
  onClose?: (code: number, reason: string) => void;
  /** A relayed publication; a returned promise holds the next one back until it settles. */
  onPublish?: (topic: string, data: unknown) => void | Promise<void>;
  /** A publication dropped because its sender's (or the total) queue bound was reached. */
  onPublishDropped?: (topic: string) => void;
}

const WS_OPEN = 1;

/** A reconnecting y-webrtc signaling client. */
export class SignalingClient {
  private ws: WebSocketLike | null = null;
  private closed = false;
  private failures = 0;
  private reconnectTimer: TimerHandle | null = null;
  private pingTimer: TimerHandle | null = null;
  private lastPongMs = 0;
  private readonly timers: Timers;
  private readonly Ctor: WebSocketCtor;
  private readonly queue: Publication[] = [];
  private readonly queuedBySender = new Map<string, SenderQueue>();
  private queuedBytes = 0;
  private draining = false;
  private readonly urls: readonly string[];
  /** Index in `urls` of the server used now (or next). */
  private urlIndex = 0;
  /** Connections opened so far (1 + reconnects). */
  connects = 0;
  /** Publications dropped over a queue bound. */
  publishesDropped = 0;

  constructor(private readonly o: SignalingClientOptions, private readonly h: SignalingHandlers) {
    this.timers = o.timers ?? systemTimers;
    this.Ctor = o.WebSocket ?? (globalThis.WebSocket as unknown as WebSocketCtor);
    this.urls = typeof o.url === 'string' ? [o.url] : [...o.url];
    if (this.urls.length === 0 || this.urls.length > SIGNALING_CLIENT_URLS_MAX) throw new RangeError(`a signaling client needs 1..${SIGNALING_CLIENT_URLS_MAX} URLs, got ${this.urls.length}`);
    this.connect();
  }

  /** The URL connected to (or tried next). */
  get url(): string {
    return this.urls[this.urlIndex];
  }

  /** True while the socket is open. */
  get connected(): boolean {
    return this.ws !== null && this.ws.readyState === WS_OPEN;
  }

  /** Publishes `data` on a topic; false when not connected (the caller retries later). */
  publish(topic: string, data: unknown): boolean {
    return this.sendJson({ type: 'publish', topic, data });
  }

  /** Closes for good. */
  close(): void {
    this.closed = true;
    this.clearTimers();
    this.queue.length = 0;
    this.queuedBySender.clear();
    this.queuedBytes = 0;
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      try {
        if (ws.readyState === WS_OPEN) ws.send(JSON.stringify({ type: 'unsubscribe', topics: this.o.topics }));
        ws.close(1000, 'client closing');
      } catch {
        // Already gone.
      }
    }
  }

  private sendJson(m: unknown): boolean {
    if (!this.ws || this.ws.readyState !== WS_OPEN) return false;
    try {
      this.ws.send(JSON.stringify(m));
      return true;
    } catch {
      return false;
    }
  }

  private connect(): void {
    if (this.closed) return;
    let ws: WebSocketLike;
    try {
      ws = new this.Ctor(this.url);
    } catch {
      return this.scheduleReconnect();
    }
    this.ws = ws;
    ws.onopen = () => this.onOpen(ws);
    ws.onmessage = (ev) => this.onMessage(ws, ev.data);
    ws.onclose = (ev) => this.onClose(ws, ev.code, ev.reason);
    ws.onerror = () => {};
  }

  private onOpen(ws: WebSocketLike): void {
    if (ws !== this.ws) return;
    this.failures = 0;
    this.connects++;
    this.lastPongMs = this.timers.now();
    this.sendJson({ type: 'subscribe', topics: this.o.topics });
    this.schedulePing();
    this.h.onOpen?.();
  }

  private onMessage(ws: WebSocketLike, raw: unknown): void {
    if (ws !== this.ws) return;
    let m: { type?: unknown; topic?: unknown; data?: unknown; sender?: unknown };
    const text = typeof raw === 'string' ? raw : new TextDecoder().decode(raw as Uint8Array);
    try {
      m = JSON.parse(text) as typeof m;
    } catch {
      return;
    }
    if (m === null || typeof m !== 'object') return;
    if (m.type === 'pong') this.lastPongMs = this.timers.now();
    else if (m.type === 'publish' && typeof m.topic === 'string') {
      const sender = typeof m.sender === 'string' || typeof m.sender === 'number' ? String(m.sender) : '';
      this.enqueue({ topic: m.topic, data: m.data, sender, bytes: text.length });
    }
  }

  private enqueue(p: Publication): void {
    const q = this.queuedBySender.get(p.sender) ?? { count: 0, bytes: 0 };
    // No sender named (y-webrtc's server): one bound for everyone would let any junk starve
    // honest payloads, so only the total applies.
    const senderFull = p.sender !== '' && (q.count >= (this.o.publishQueuePerSenderMax ?? PUBLISH_QUEUE_PER_SENDER_MAX) || q.bytes + p.bytes > (this.o.publishQueuePerSenderBytesMax ?? PUBLISH_QUEUE_PER_SENDER_BYTES_MAX));
    if (senderFull || this.queuedBytes + p.bytes > (this.o.publishQueueBytesMax ?? PUBLISH_QUEUE_BYTES_MAX)) {
      this.publishesDropped++;
      this.h.onPublishDropped?.(p.topic);
      return;
    }
    q.count++;
    q.bytes += p.bytes;
    this.queuedBySender.set(p.sender, q);
    this.queuedBytes += p.bytes;
    this.queue.push(p);
    if (!this.draining) this.drain();
  }

  private dequeue(): Publication {
    const p = this.queue.shift() as Publication;
    this.queuedBytes -= p.bytes;
    const q = this.queuedBySender.get(p.sender) as SenderQueue;
    q.count--;
    q.bytes -= p.bytes;
    if (q.count === 0) this.queuedBySender.delete(p.sender);
    return p;
  }

  /** Runs handlers in order; synchronous ones in this call, the rest after their promise settles. */
  private drain(): void {
    this.draining = true;
    while (this.queue.length > 0 && !this.closed) {
      const p = this.dequeue();
      let r: void | Promise<void>;
      try {
        r = this.h.onPublish?.(p.topic, p.data);
      } catch {
        continue; // a throwing handler loses its own publication only
      }
      if (r instanceof Promise) {
        void r.catch(() => {}).then(() => this.drain());
        return;
      }
    }
    this.draining = false;
  }

  private onClose(ws: WebSocketLike, code: number, reason: string): void {
    if (ws !== this.ws) return;
    this.ws = null;
    this.clearTimers();
    this.h.onClose?.(code, reason);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed) return;
    // The next process of the deployment: the one just lost may be gone for good.
    this.urlIndex = (this.urlIndex + 1) % this.urls.length;
    const min = this.o.reconnectDelayMsMin ?? 250;
    const max = this.o.reconnectDelayMsMax ?? 10_000;
    const delayMs = Math.min(max, min * 2 ** Math.min(this.failures, 20));
    this.failures++;
    this.reconnectTimer = this.timers.setTimeout(() => this.connect(), delayMs);
  }

  private schedulePing(): void {
    const periodMs = this.o.pingIntervalMs ?? 15_000;
    this.pingTimer = this.timers.setTimeout(() => {
      if (!this.ws) return;
      if (this.timers.now() - this.lastPongMs > 2 * periodMs) {
        const ws = this.ws;
        ws.close(4000, 'no pong');
        return this.onClose(ws, 4000, 'no pong');
      }
      this.sendJson({ type: 'ping' });
      this.schedulePing();
    }, periodMs);
  }

  private clearTimers(): void {
    if (this.reconnectTimer !== null) this.timers.clearTimeout(this.reconnectTimer);
    if (this.pingTimer !== null) this.timers.clearTimeout(this.pingTimer);
    this.reconnectTimer = null;
    this.pingTimer = null;
  }
}
