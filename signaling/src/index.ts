/**
 * @peerkv/signaling: a WebSocket signaling server speaking y-webrtc's protocol, with limits,
 * `/healthz` and `/metrics`. It relays sealed payloads and never sees cluster data or SDPs.
 */
export * from './limits.ts';
export * from './token-bucket.ts';
export * from './server.ts';
export { RedisLink, SignalingRedisError, REDIS_LINK_DEFAULTS, redactRedisUrl } from './redis-link.ts';
export type { RedisLinkOptions, RedisLinkMetrics, RedisLinkDropReason, RedisLinkErrorKind } from './redis-link.ts';
export { readEnvelope, writeEnvelope } from './redis-envelope.ts';
export type { Envelope } from './redis-envelope.ts';
export type { SignalingHealth, SignalingMetrics } from './metrics.ts';
export { parseArgs, main } from './cli.ts';
export type { CliOptions } from './cli.ts';
