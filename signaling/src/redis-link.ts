/**
 * The link between one signaling process and the others (`--redis URL`): topics are shared
 * through Redis pub/sub, so clients on different processes behind a load balancer find each
 * other. Two Redis connections (`ioredis`): one publishes, one is in subscriber mode holding a
 * channel for every topic with a local subscriber.
 *
 * Redis is a helper, never a dependency of local delivery: the server relays a publish to its
 * own subscribers first and hands it here too. While Redis is away, publishes wait in a queue
 * bounded in bytes together with those sent and not yet answered (`pendingBytesMax`; past it
 * they are dropped and counted), both connections
 * reconnect with capped exponential backoff, and on their return the channels are subscribed
 * again and the queue is sent. Every failure is a `SignalingRedisError`, counted by kind and
 * logged when it differs from the last one: the process never stops for Redis.
 */
// Types only: `ioredis` is loaded by `start()`, so a server without `--redis` never needs it.
import type { Redis, RedisOptions } from 'ioredis';
import type { Envelope } from './redis-envelope.ts';
import { readEnvelope, SERVER_ID_PATTERN, writeEnvelope } from './redis-envelope.ts';

/** Settings of the Redis link. */
export interface RedisLinkOptions {
  /** `redis://[user:password@]host:port[/db]` (or `rediss://` for TLS). */
  url: string;
  /** Channel name prefix (default `peerkv-signaling:`): deployments sharing one Redis pick their own. */
  channelPrefix?: string;
  /**
   * Bytes of publishes waiting for Redis (default 1 MiB): queued while it is away, or sent and
   * not yet answered (a slow Redis); past it publishes are dropped (`queueFull`).
   */
  pendingBytesMax?: number;
  /** First reconnect delay (default 100 ms); doubles per failed attempt. */
  reconnectDelayMsMin?: number;
  /** Reconnect delay cap (default 5 s). */
  reconnectDelayMsMax?: number;
  /** A connection attempt that has not completed after this long fails (default 5 s). */
  connectTimeoutMs?: number;
}

/** Defaults of `RedisLinkOptions`. */
export const REDIS_LINK_DEFAULTS = Object.freeze({
  channelPrefix: 'peerkv-signaling:',
  // Sixteen of the largest messages a client may send (64 KiB): honest signaling during a
  // short outage is far less, and a long outage should not grow the process.
  pendingBytesMax: 1024 * 1024,
  reconnectDelayMsMin: 100,
  reconnectDelayMsMax: 5_000,
  connectTimeoutMs: 5_000,
});

/** What failed on the link. */
export type RedisLinkErrorKind = 'connection' | 'publish' | 'subscribe';

/** Every Redis failure, as counted in `/metrics` (`redis.errors`) and logged. */
export class SignalingRedisError extends Error {
  override readonly name = 'SignalingRedisError';
  constructor(
    readonly kind: RedisLinkErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Why a publish between processes was dropped. */
export type RedisLinkDropReason =
  /** `pendingBytesMax` waiting already (Redis away, or slow to answer). */
  | 'queueFull'
  /** Redis refused or lost the PUBLISH. */
  | 'publishFailed'
  /** A message from Redis over this server's `messageBytesMax`. */
  | 'tooBig'
  /** A message on our channels that is not an envelope. */
  | 'badMessage';

/** The link's part of `/metrics`. */
export interface RedisLinkMetrics {
  /** The URL with any password replaced by `***`. */
  url: string;
  /** This process's id in envelopes (and in relayed `sender` ids). */
  serverId: string;
  /** Both connections ready: publishes cross to the other processes. */
  connected: boolean;
  /** Channels subscribed (or to subscribe on reconnect): topics with a local subscriber. */
  channels: number;
  /** Publishes of local clients sent to Redis. */
  publishesSent: number;
  /** Publishes of other processes' clients received from Redis. */
  publishesReceived: number;
  /** Times the link came back after it was lost. */
  reconnects: number;
  /** Bytes of publishes waiting for Redis (queued, or sent and not yet answered). */
  pendingBytes: number;
  pendingBytesMax: number;
  dropped: Record<RedisLinkDropReason, number>;
  errors: Record<RedisLinkErrorKind, number>;
  /** The last error's message, or null. */
  lastError: string | null;
}

/** What the link tells its server. */
export interface RedisLinkHandlers {
  /** A publish from another process on `topic`. */
  onPublish(topic: string, e: Envelope): void;
  log(line: string): void;
}

/** Channels per SUBSCRIBE command when a connection comes back. */
const SUBSCRIBE_BATCH_MAX = 1000;

interface Pending {
  channel: string;
  message: string;
  bytes: number;
}

/** `url` without its password. */
export function redactRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable URL)';
  }
}

/** The Redis side of a signaling server. Starts connecting on `start()`. */
export class RedisLink {
  private readonly o: Required<RedisLinkOptions>;
  private pub: Redis | null = null;
  private sub: Redis | null = null;
  private readonly topics = new Set<string>();
  private readonly pending: Pending[] = [];
  /** Bytes in `pending`. */
  private queuedBytes = 0;
  /** Bytes sent and not yet answered. */
  private inflightBytes = 0;
  private connected = false;
  private everConnected = false;
  private closed = false;
  private started = false;
  private lastLogged = '';
  private readonly counters: Omit<RedisLinkMetrics, 'url' | 'serverId' | 'connected' | 'channels' | 'pendingBytes' | 'pendingBytesMax'>;

  constructor(
    o: RedisLinkOptions,
    /** This process's id (`SERVER_ID_PATTERN`). */
    readonly serverId: string,
    /** The server's `messageBytesMax`: what a client may send is what may arrive from Redis. */
    private readonly messageBytesMax: number,
    private readonly h: RedisLinkHandlers,
  ) {
    if (!SERVER_ID_PATTERN.test(serverId)) throw new RangeError(`serverId must match ${String(SERVER_ID_PATTERN)}, got ${JSON.stringify(serverId)}`);
    this.o = { ...REDIS_LINK_DEFAULTS, ...o };
    new URL(this.o.url); // throws a TypeError on a malformed URL before anything connects
    this.counters = {
      publishesSent: 0,
      publishesReceived: 0,
      reconnects: 0,
      dropped: { queueFull: 0, publishFailed: 0, tooBig: 0, badMessage: 0 },
      errors: { connection: 0, publish: 0, subscribe: 0 },
      lastError: null,
    };
  }

  /**
   * Loads `ioredis` and opens both connections; they reconnect by themselves until `close()`.
   * Resolves once they are opening (not once Redis answers: the server does not wait for it).
   */
  async start(): Promise<void> {
    if (this.started || this.closed) return;
    this.started = true;
    const { Redis: RedisClient } = await import('ioredis');
    if (this.closed) return;
    const { reconnectDelayMsMin: min, reconnectDelayMsMax: max } = this.o;
    const options: RedisOptions = {
      connectTimeout: this.o.connectTimeoutMs,
      retryStrategy: (times: number) => Math.min(max, min * 2 ** Math.min(times - 1, 20)),
      // Our own bounded queue holds what waits for Redis; ioredis's would grow without bound.
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      // `onSubReady` subscribes the current topics, not those of the lost connection.
      autoResubscribe: false,
      maxRetriesPerRequest: 0,
    };
    this.pub = new RedisClient(this.o.url, { ...options, connectionName: `peerkv-signaling-${this.serverId}-pub` });
    this.sub = new RedisClient(this.o.url, { ...options, connectionName: `peerkv-signaling-${this.serverId}-sub` });
    for (const c of [this.pub, this.sub]) {
      c.on('error', (e: unknown) => this.fail('connection', e));
      for (const ev of ['ready', 'close', 'end', 'reconnecting']) c.on(ev, () => this.updateState());
    }
    this.sub.on('ready', () => this.onSubReady());
    this.sub.on('message', (channel: string, message: string) => this.onMessage(channel, message));
  }

  /** A topic got its first local subscriber. */
  subscribe(topic: string): void {
    this.topics.add(topic);
    if (this.sub?.status === 'ready') this.sub.subscribe(this.channel(topic)).catch((e: unknown) => this.fail('subscribe', e));
  }

  /** A topic lost its last local subscriber. */
  unsubscribe(topic: string): void {
    if (!this.topics.delete(topic)) return;
    if (this.sub?.status === 'ready') this.sub.unsubscribe(this.channel(topic)).catch((e: unknown) => this.fail('subscribe', e));
  }

  /** Hands a local client's publish (already checked and relayed locally) to the other processes. */
  publish(topic: string, connection: number, text: string): void {
    const message = writeEnvelope({ origin: this.serverId, connection, text });
    const p = { channel: this.channel(topic), message, bytes: Buffer.byteLength(message) };
    if (this.queuedBytes + this.inflightBytes + p.bytes > this.o.pendingBytesMax) {
      this.counters.dropped.queueFull++;
      return;
    }
    if (this.connected) return this.send(p);
    this.pending.push(p);
    this.queuedBytes += p.bytes;
  }

  /** Current counters. */
  metrics(): RedisLinkMetrics {
    return {
      url: redactRedisUrl(this.o.url),
      serverId: this.serverId,
      connected: this.connected,
      channels: this.topics.size,
      ...this.counters,
      dropped: { ...this.counters.dropped },
      errors: { ...this.counters.errors },
      pendingBytes: this.queuedBytes + this.inflightBytes,
      pendingBytesMax: this.o.pendingBytesMax,
    };
  }

  /** True while both connections are ready. */
  get isConnected(): boolean {
    return this.connected;
  }

  /** Closes both connections for good; what still waits is dropped. */
  close(): void {
    this.closed = true;
    this.pending.length = 0;
    this.queuedBytes = 0;
    for (const c of [this.pub, this.sub]) c?.disconnect();
    this.connected = false;
  }

  private channel(topic: string): string {
    return this.o.channelPrefix + topic;
  }

  private send(p: Pending): void {
    this.inflightBytes += p.bytes;
    this.pub!.publish(p.channel, p.message).then(
      () => {
        this.inflightBytes -= p.bytes;
        this.counters.publishesSent++;
      },
      (e: unknown) => {
        this.inflightBytes -= p.bytes;
        this.counters.dropped.publishFailed++;
        this.fail('publish', e);
      },
    );
  }

  private onSubReady(): void {
    // A fresh connection holds no channel: subscribe every current topic, in bounded batches.
    const channels = [...this.topics].map((t) => this.channel(t));
    for (let i = 0; i < channels.length; i += SUBSCRIBE_BATCH_MAX) {
      this.sub!.subscribe(...channels.slice(i, i + SUBSCRIBE_BATCH_MAX)).catch((e: unknown) => this.fail('subscribe', e));
    }
  }

  private updateState(): void {
    const connected = !this.closed && this.pub?.status === 'ready' && this.sub?.status === 'ready';
    if (connected === this.connected) return;
    this.connected = connected;
    if (!connected) return this.h.log(`peerkv-signaling: redis: link lost (${redactRedisUrl(this.o.url)}); local delivery goes on, publishes to other processes wait (at most ${this.o.pendingBytesMax} bytes)`);
    if (this.everConnected) this.counters.reconnects++;
    this.everConnected = true;
    this.lastLogged = '';
    this.h.log(`peerkv-signaling: redis: connected to ${redactRedisUrl(this.o.url)} as ${this.serverId}${this.pending.length > 0 ? `, sending ${this.pending.length} waiting publishes` : ''}`);
    this.queuedBytes = 0;
    for (const p of this.pending.splice(0)) this.send(p);
  }

  private onMessage(channel: string, message: string): void {
    if (!channel.startsWith(this.o.channelPrefix)) return void this.counters.dropped.badMessage++;
    const e = readEnvelope(message);
    if (e === null) return void this.counters.dropped.badMessage++;
    // Redis hands a publisher's message back to it when it subscribes to the channel too:
    // local subscribers have it already.
    if (e.origin === this.serverId) return;
    if (Buffer.byteLength(e.text) > this.messageBytesMax) return void this.counters.dropped.tooBig++;
    this.counters.publishesReceived++;
    this.h.onPublish(channel.slice(this.o.channelPrefix.length), e);
  }

  private fail(kind: RedisLinkErrorKind, cause: unknown): void {
    const err = new SignalingRedisError(kind, `redis ${kind}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.counters.errors[kind]++;
    this.counters.lastError = err.message;
    // ioredis reports each failed reconnect attempt: log a message once, not every attempt.
    if (err.message !== this.lastLogged) this.h.log(`peerkv-signaling: ${err.message}`);
    this.lastLogged = err.message;
  }
}
