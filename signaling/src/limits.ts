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
  /** Sockets (upgrading, upgraded or HTTP) from one remote address. Behind a proxy every client has its address: raise it. */
  connectionsPerAddressMax: number;
  /** Sockets connected but not yet upgraded to WebSocket. */
  upgradesPendingMax: number;
  /** A socket not upgraded this long after connecting (headers still coming) is destroyed. */
  upgradeTimeoutMs: number;
  /** Sustained messages per second per connection (token bucket refill rate). */
  messagesPerSecondMax: number;
  /** Burst size of that token bucket, in messages. */
  messagesBurstMax: number;
  /**
   * Sustained bytes per second that the connections of one address may publish (each is
   * relayed to every subscriber of its topic, so this bounds what one address makes the
   * server send to each member). Over it, publishes are dropped (`publishBytesLimited`).
   */
  publishBytesPerSecondPerAddressMax: number;
  /** Burst size of that token bucket, in bytes. */
  publishBytesBurstPerAddressMax: number;
  /** A connection silent this long (no message, no pong to our pings) is closed. */
  idleTimeoutMs: number;
  /**
   * A connection that sends no subscribe, unsubscribe or publish this long is closed: answering
   * pings alone does not keep a slot. PeerKV stores announce every 10 s.
   */
  appIdleTimeoutMs: number;
  /** Bytes queued towards one slow client; past it the client is closed (`slowConsumer`). */
  clientBufferedBytesMax: number;
}

/** Defaults. */
export const DEFAULT_SIGNALING_LIMITS: Readonly<SignalingLimits> = Object.freeze({
  messageBytesMax: 64 * 1024,
  topicsPerConnectionMax: 32,
  topicLengthMax: 256,
  connectionsMax: 1024,
  connectionsPerAddressMax: 64,
  upgradesPendingMax: 256,
  upgradeTimeoutMs: 5_000,
  messagesPerSecondMax: 50,
  messagesBurstMax: 200,
  // PeerKV stores publish well under 1 KiB/s each between SDP exchanges of a few KiB.
  publishBytesPerSecondPerAddressMax: 512 * 1024,
  publishBytesBurstPerAddressMax: 2 * 1024 * 1024,
  idleTimeoutMs: 30_000,
  appIdleTimeoutMs: 120_000,
  // Four largest messages: a healthy client drains that at once; 1,024 stuck ones hold 256 MiB.
  clientBufferedBytesMax: 256 * 1024,
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
  /** No message or pong within `idleTimeoutMs`, or no subscribe/publish within `appIdleTimeoutMs`. */
  idleTimeout: 4008,
  /** More than `clientBufferedBytesMax` queued towards the client. */
  slowConsumer: 4009,
  /** Over `messagesPerSecondMax` beyond the burst. */
  rateLimited: 4029,
});

/** Why the server dropped a message or a connection. */
export type SignalingDropReason =
  | 'messageTooBig'
  | 'tooManyTopics'
  | 'serverFull'
  | 'rateLimited'
  | 'idleTimeout'
  /** No subscribe, unsubscribe or publish within `appIdleTimeoutMs`. */
  | 'appIdleTimeout'
  | 'badMessage'
  /** A publish to a topic the connection is not subscribed to (message dropped). */
  | 'notSubscribed'
  /** A publish over its address's `publishBytesPerSecondPerAddressMax` (message dropped). */
  | 'publishBytesLimited'
  /** A client over `clientBufferedBytesMax` (closed). */
  | 'slowConsumer'
  | 'handlerError'
  /** A socket refused: its address already holds `connectionsPerAddressMax`. */
  | 'addressFull'
  /** A socket refused: `upgradesPendingMax` sockets are still upgrading. */
  | 'pendingFull'
  /** A socket destroyed: not upgraded within `upgradeTimeoutMs`. */
  | 'upgradeTimeout';

/** Every drop reason. */
export const SIGNALING_DROP_REASONS: readonly SignalingDropReason[] = [
  'messageTooBig', 'tooManyTopics', 'serverFull', 'rateLimited', 'idleTimeout', 'appIdleTimeout', 'badMessage',
  'notSubscribed', 'publishBytesLimited', 'slowConsumer', 'handlerError', 'addressFull', 'pendingFull', 'upgradeTimeout',
];
