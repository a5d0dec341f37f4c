/**
 * The signaling server's limits and the close codes a client gets when it crosses one.
 * Each limit has a default that suits a few hundred browser stores on one server.
 */

/** Per-server and per-connection bounds. */
export interface SignalingLimits {
  /** Largest JSON message a client may send (SDPs are a few KiB). */
  messageBytesMax: number;
  /** Topics one connection may be subscribed to at once. */
  topicsPerConnectionMax: number;
  /** Longest topic name, in UTF-16 code units. */
  topicLengthMax: number;
  /** Open WebSocket connections. */
  connectionsMax: number;
  /** Sustained messages per second per connection (token bucket refill rate). */
  messagesPerSecondMax: number;
  /** Burst size of that token bucket, in messages. */
  messagesBurstMax: number;
  /** A connection silent this long (no message, no pong to our pings) is closed. */
  idleTimeoutMs: number;
  /** Bytes queued towards one slow client before relayed messages to it are dropped. */
  clientBufferedBytesMax: number;
}

/** Defaults. */
export const DEFAULT_SIGNALING_LIMITS: Readonly<SignalingLimits> = Object.freeze({
  messageBytesMax: 64 * 1024,
  topicsPerConnectionMax: 32,
  topicLengthMax: 256,
  connectionsMax: 1024,
  messagesPerSecondMax: 50,
  messagesBurstMax: 200,
  idleTimeoutMs: 30_000,
  clientBufferedBytesMax: 4 * 1024 * 1024,
});

/** Close codes (RFC 6455 registered codes where one fits, 4xxx private codes otherwise). */
export const CLOSE_CODES = Object.freeze({
  /** Server shutting down. */
  goingAway: 1001,
  /** A message over `messageBytesMax`. */
  messageTooBig: 1009,
  /** `connectionsMax` reached: try again later. */
  serverFull: 1013,
  /** More than `topicsPerConnectionMax` topics. */
  tooManyTopics: 4001,
  /** No message or pong within `idleTimeoutMs`. */
  idleTimeout: 4008,
  /** Over `messagesPerSecondMax` beyond the burst. */
  rateLimited: 4029,
});

/** Why the server dropped a message or a connection. */
export type SignalingDropReason = 'messageTooBig' | 'tooManyTopics' | 'serverFull' | 'rateLimited' | 'idleTimeout' | 'badMessage' | 'slowConsumer' | 'handlerError';

/** Every drop reason. */
export const SIGNALING_DROP_REASONS: readonly SignalingDropReason[] = ['messageTooBig', 'tooManyTopics', 'serverFull', 'rateLimited', 'idleTimeout', 'badMessage', 'slowConsumer', 'handlerError'];
