/**
 * What the server reports over HTTP: `/metrics` (counters and saturation) and `/healthz`.
 */
import type { SignalingDropReason } from './limits.ts';
import type { RedisLinkMetrics } from './redis-link.ts';

/** The JSON served at `/metrics`. */
export interface SignalingMetrics {
  connections: number;
  connectionsMax: number;
  /** `connections / connectionsMax`, or 1 when sockets awaiting upgrade fill `upgradesPendingMax`. */
  saturation: number;
  /** Sockets connected but not yet upgraded. */
  socketsPending: number;
  /** Distinct remote addresses with a socket open. */
  addresses: number;
  connectionsTotal: number;
  topics: number;
  subscriptions: number;
  messagesReceived: number;
  messagesPublished: number;
  messagesDelivered: number;
  bytesReceived: number;
  drops: Record<SignalingDropReason, number>;
  /** The link to the other processes, with `--redis` only. */
  redis?: RedisLinkMetrics;
}

/** The JSON served at `/healthz` (HTTP 503 when `status` is `full`). */
export interface SignalingHealth {
  status: 'ok' | 'full';
  connections: number;
  connectionsMax: number;
  socketsPending: number;
  /** With `--redis` only: whether publishes reach the other processes (local delivery goes on without). */
  redis?: { connected: boolean };
}
