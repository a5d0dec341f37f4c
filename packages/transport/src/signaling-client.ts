/**
 * A client for the y-webrtc signaling protocol (JSON over WebSocket):
 * `{type:'subscribe', topics}`, `{type:'unsubscribe', topics}`,
 * `{type:'publish', topic, data}` (relayed to every subscriber of the topic, sender
 * included, with `clients` added), `{type:'ping'}` answered by `{type:'pong'}`.
 * It reconnects with capped exponential backoff and detects a dead server with pings.
 * It carries whatever `data` it is given; `WebRtcTransport` seals it first.
 *
 * Publications are handed to `onPublish` one at a time, in arrival order: a handler that
 * returns a promise (a decryption) holds the next one back until it settles. Anyone on the
 * topic can publish junk that every member must try to decrypt, so the queue is bounded per
 * sender (the connection id PeerKV's server appends as `sender`; y-webrtc's server names
 * none, and then all share one bound) and in total; the excess is dropped and counted.
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
  url: string;
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
  /** Publications of all senders waiting for `onPublish` (default `PUBLISH_QUEUE_MAX`). */
  publishQueueMax?: number;
}

/** Default bound of queued publications per sender: a few announce rounds and one SDP exchange. */
export const PUBLISH_QUEUE_PER_SENDER_MAX = 32;
/** Default bound of queued publications over all senders. */
export const PUBLISH_QUEUE_MAX = 512;

/** A relayed publication. `sender` is the server's id of the publishing connection ('' if none). */
interface Publication {
  topic: string;
  data: unknown;
  sender: string;
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
  private readonly queuedBySender = new Map<string, number>();
  private draining = false;
  /** Connections opened so far (1 + reconnects). */
  connects = 0;
  /** Publications dropped over a queue bound. */
  publishesDropped = 0;

  constructor(private readonly o: SignalingClientOptions, private readonly h: SignalingHandlers) {
    this.timers = o.timers ?? systemTimers;
    this.Ctor = o.WebSocket ?? (globalThis.WebSocket as unknown as WebSocketCtor);
    this.connect();
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
      ws = new this.Ctor(this.o.url);
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
    try {
      m = JSON.parse(typeof raw === 'string' ? raw : new TextDecoder().decode(raw as Uint8Array)) as typeof m;
    } catch {
      return;
    }
    if (m === null || typeof m !== 'object') return;
    if (m.type === 'pong') this.lastPongMs = this.timers.now();
    else if (m.type === 'publish' && typeof m.topic === 'string') this.enqueue({ topic: m.topic, data: m.data, sender: typeof m.sender === 'string' || typeof m.sender === 'number' ? String(m.sender) : '' });
  }

  private enqueue(p: Publication): void {
    const perSenderMax = this.o.publishQueuePerSenderMax ?? PUBLISH_QUEUE_PER_SENDER_MAX;
    const queued = this.queuedBySender.get(p.sender) ?? 0;
    if (queued >= perSenderMax || this.queue.length >= (this.o.publishQueueMax ?? PUBLISH_QUEUE_MAX)) {
      this.publishesDropped++;
      this.h.onPublishDropped?.(p.topic);
      return;
    }
    this.queuedBySender.set(p.sender, queued + 1);
    this.queue.push(p);
    if (!this.draining) this.drain();
  }

  /** Runs handlers in order; synchronous ones in this call, the rest after their promise settles. */
  private drain(): void {
    this.draining = true;
    while (this.queue.length > 0 && !this.closed) {
      const p = this.queue.shift() as Publication;
      const left = (this.queuedBySender.get(p.sender) ?? 1) - 1;
      if (left === 0) this.queuedBySender.delete(p.sender);
      else this.queuedBySender.set(p.sender, left);
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
