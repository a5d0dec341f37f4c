/**
 * The `Transport` contract the store drives: queue region messages per target store, flush
 * them as batches, receive batches, watch peers come and go, read counters. Transports
 * never interpret Raft messages beyond routing by (store, region).
 */
import type { RaftBatch, RegionMessage, StoreId } from './codec/envelope.ts';
import type { RequestHandler, RpcCounters, RpcRequestOptions } from './rpc.ts';
import { emptyRpcCounters } from './rpc.ts';
import type { Unsubscribe } from './unsubscribe.ts';

/** Why something was dropped. Send-side reasons count messages; receive-side reasons count frames or events. */
export type DropReason =
  /** send: the target's queue was over `queueLengthMax` or `queueBytesMax`. */
  | 'queueFull'
  /** send: no link to the target exists or is being set up. */
  | 'peerUnreachable'
  /** send: the transport was closed. */
  | 'closed'
  /** send: messages still queued when their peer went down. */
  | 'peerDown'
  /** receive: a frame before the link's challenge-response succeeded, or an unsealed packet after it. */
  | 'unauthenticated'
  /** receive: a bad or missing proof; the link is dropped. */
  | 'authFailed'
  /**
   * receive: a proof whose store key did not sign the handshake, or that is not the key this
   * store knows for the claimed id (or no key where one is known); the link is dropped.
   */
  | 'identityRefused'
  /**
   * an open link dropped by `revokeLink`: its remote did not prove the key learned for its id
   * after the link opened (PD's record reaching this store, a lookup answering late).
   */
  | 'identityRevoked'
  /** receive: the link did not authenticate within `authTimeoutMs`. */
  | 'authTimeout'
  /** receive: a frame or hello naming another cluster. */
  | 'foreignCluster'
  /** receive: a frame whose source store is not the link's authenticated store. */
  | 'storeMismatch'
  /** receive: a frame addressed to another store. */
  | 'misaddressed'
  /** receive: a frame that does not decode; the link is dropped. */
  | 'decodeError'
  /** receive: chunk reassembly limits violated; the link is dropped. */
  | 'reassembly'
  /** receive: too many packets (or bytes) arrived while a handshake step was running. */
  | 'backlogFull'
  /** receive: a packet (or BroadcastChannel bye) on an open link whose MAC does not verify; dropped, the link stays. */
  | 'macFailed'
  /** receive: a sealed packet whose sequence number is not above the last accepted one. */
  | 'replayed'
  /** receive: a packet over `AUTH_PACKET_BYTES_MAX` while the link authenticates; dropped undecoded. */
  | 'authPacketTooLarge'
  /** receive: an authenticating link evicted because `authSessionsMax` links were authenticating. */
  | 'authSessionsFull'
  /** signaling: a payload that did not decrypt with the cluster key (wrong secret). */
  | 'signalingDecryptFailed'
  /** signaling: a payload that is not PeerKV's (another app on the topic). */
  | 'signalingForeign'
  /** signaling: a sealed payload sealed outside the freshness window, or without freshness fields. */
  | 'signalingStale'
  /** signaling: a sealed payload seen before, of an earlier session, or bound to another session. */
  | 'signalingReplayed'
  /** signaling: a payload dropped unopened, its sender's decrypt queue being full. */
  | 'signalingQueueFull';

/** Every drop reason, for building zeroed counters. */
export const DROP_REASONS: readonly DropReason[] = [
  'queueFull', 'peerUnreachable', 'closed', 'peerDown', 'unauthenticated', 'authFailed', 'identityRefused', 'identityRevoked', 'authTimeout',
  'foreignCluster', 'storeMismatch', 'misaddressed', 'decodeError', 'reassembly', 'backlogFull',
  'macFailed', 'replayed', 'authPacketTooLarge', 'authSessionsFull',
  'signalingDecryptFailed', 'signalingForeign', 'signalingStale', 'signalingReplayed', 'signalingQueueFull',
];

/** Monotonic counters of one transport. */
export interface TransportCounters {
  messagesSent: number;
  messagesReceived: number;
  framesSent: number;
  framesReceived: number;
  bytesSent: number;
  bytesReceived: number;
  /** Times sending paused because a link's buffered bytes were over `bufferedAmountHighBytes`. */
  backpressurePauses: number;
  drops: Record<DropReason, number>;
  /** Request/response counters. */
  rpc: RpcCounters;
}

/** A peer store became reachable (authenticated) or unreachable. */
export type PeerEvent = { type: 'up'; storeId: StoreId } | { type: 'down'; storeId: StoreId; reason: string };

/** What `send` did with the messages it was given. */
export interface SendResult {
  queued: number;
  dropped: number;
}

export type { Unsubscribe } from './unsubscribe.ts';

/** A store's view of the network. */
export interface Transport {
  /** This store's id. */
  readonly localStoreId: StoreId;
  /** Queues messages for a store; they leave at the next flush (scheduled automatically unless disabled). */
  send(targetStoreId: StoreId, messages: readonly RegionMessage[]): SendResult;
  /** Sends everything queued now, one batch frame per target (split at `batchBytesMax`). */
  flush(): void;
  /** Delivers batches from authenticated peers of this cluster, in order per peer. */
  onMessage(handler: (batch: RaftBatch) => void): Unsubscribe;
  /** Peer up/down events. */
  onPeer(handler: (event: PeerEvent) => void): Unsubscribe;
  /** Stores currently up (authenticated). */
  peers(): StoreId[];
  /**
   * Drops the open link to `storeId` unless it proved store key `publicKey` (counted
   * `identityRevoked`); true when one was dropped. Optional: transports without store keys.
   */
  revokeLink?(storeId: StoreId, publicKey: Uint8Array): boolean;
  /**
   * The store key the open link to `storeId` proved when it was admitted: undefined when no
   * link is open, it proved none, or (a transport of several parts) its open links proved
   * different keys. Whoever answers a request over that link holds this key's private half.
   * Optional: transports without store keys.
   */
  linkKey?(storeId: StoreId): Uint8Array | undefined;
  /** A snapshot of the counters. */
  counters(): TransportCounters;
  /**
   * Sends `payload` to the request handler of store `targetStoreId` and resolves with its
   * response. Only authenticated peers of this cluster can be asked (a request to a store
   * whose link is still authenticating waits for it, within the timeout). Rejects only with
   * `RpcError` (`Timeout`, `Unreachable`, `Closed`, `TooManyPending`, `RemoteFailed`,
   * `PayloadTooLarge`, `Aborted`).
   */
  request(targetStoreId: StoreId, payload: Uint8Array, o?: RpcRequestOptions): Promise<Uint8Array>;
  /**
   * Serves requests from authenticated peers. One handler at a time (the newest wins);
   * without one, requests are answered `RemoteFailed`.
   */
  onRequest(handler: RequestHandler): Unsubscribe;
  /** Stops everything; queued messages are dropped. */
  close(): void;
}

/**
 * A transport with the partition test hook: a store can be cut off from chosen stores
 * without touching the network, and healed again.
 */
export interface PartitionableTransport extends Transport {
  /** Closes links to `storeIds` and refuses them (sends drop, requests fail `Unreachable`) until healed. */
  partition(storeIds: Iterable<StoreId>): void;
  /** Unblocks `storeIds` (all when omitted); links come back by themselves. */
  heal(storeIds?: Iterable<StoreId>): void;
  /** The stores currently blocked, ascending. */
  partitionedStores(): StoreId[];
}

/** Zeroed counters. */
export function emptyCounters(): TransportCounters {
  const drops = {} as Record<DropReason, number>;
  for (const r of DROP_REASONS) drops[r] = 0;
  return { messagesSent: 0, messagesReceived: 0, framesSent: 0, framesReceived: 0, bytesSent: 0, bytesReceived: 0, backpressurePauses: 0, drops, rpc: emptyRpcCounters() };
}
