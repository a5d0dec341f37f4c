/**
 * What the transaction layer needs of a `PeerKV`: routing with its region cache, the retry
 * loop that follows region errors, PD's TSO and the client's clock, chance and backoff. The
 * committer, the lock resolver and the snapshot reader take this, not the client, so they can
 * be tested against a fake and never reach into the client's write sessions.
 */
import { TAB_REQUEST_TYPES, type Result, type StoreRequest, type TabRequestType } from '@peerkv/store';
import { backoffDelayMs, sleepFor, type BackoffOptions, type Clock } from '../backoff.ts';
import { PeerKVError } from '../errors.ts';
import type { KvService, RegionRoute } from '../services.ts';
import type { GcRegistration } from './gc-registration.ts';

/** One request's retry loop's end: a value, or why not and whether an attempt may have taken effect. */
export type RegionRequestOutcome<T> =
  /** `ambiguous`: an earlier attempt went unanswered (it may have taken effect as well). */
  | { kind: 'applied'; value: T; ambiguous: boolean }
  | { kind: 'failed' | 'stale' | 'aborted' | 'regroup'; ambiguous: boolean; lastError?: import('@peerkv/pd').RegionError };

/**
 * Which replica serves a transactional read (TiDB's `tidb_replica_read`): `leader` (default)
 * the leader; `follower` a follower; `closest` this client's store, else the lowest-RTT
 * replica. A non-leader read costs the leader one small `txnReadIndex` and ships the data from
 * the replica (`handlers/replica-read.ts` on the store).
 */
export type ReplicaRead = 'leader' | 'follower' | 'closest';

/** The replica-read settings, checked. */
export const REPLICA_READS: readonly ReplicaRead[] = ['leader', 'follower', 'closest'];

/**
 * The store requests a pessimistic transaction running in a browser tab sends through its host
 * (`PeerKV.txnRegionRequest`): taking and dropping pessimistic locks, heartbeating the primary,
 * and what resolving a lock met takes. Derived from the request table (`attempt.tab` in a type's
 * entry of `STORE_REQUEST_CODECS`): a new request type is not sent from a tab unless its entry says so.
 */
export const TAB_TXN_REQUEST_TYPES: readonly TabRequestType[] = TAB_REQUEST_TYPES;

/** A request of `TAB_TXN_REQUEST_TYPES` without its region (the host fills `regionId` and `epoch`). */
export type TabTxnRequest = DistributiveOmit<Extract<StoreRequest, { type: TabRequestType }>, 'regionId' | 'epoch'>;

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

export interface TxnRouting {
  readonly clock: Clock;
  readonly random: () => number;
  readonly backoff: BackoffOptions;
  /** Per-attempt store-side timeout, ms. */
  readonly requestTimeoutMs: number;
  /**
   * Sends `fn`'s request to the leader of the region holding `locate`, following region errors
   * until an answer or the budget ends. With `keys`, a refreshed route that no longer holds
   * every one of them ends the loop with `regroup` (the caller cuts the keys again).
   */
  send<T>(
    locate: Uint8Array,
    keys: readonly Uint8Array[] | undefined,
    fn: (route: RegionRoute, svc: KvService) => Promise<Result<T>>,
    signal?: AbortSignal,
  ): Promise<RegionRequestOutcome<T>>;
  /**
   * As `send`, to a replica chosen for a stale read: this client's local store when it holds
   * one, else a voter (never waiting for a leader).
   */
  sendToReplica<T>(
    locate: Uint8Array,
    keys: readonly Uint8Array[] | undefined,
    fn: (route: RegionRoute, svc: KvService) => Promise<Result<T>>,
    signal?: AbortSignal,
  ): Promise<RegionRequestOutcome<T>>;
  /**
   * One attempt (no retry) on a replica of `route` for a replica read (`snapshot-reader.ts`):
   * `closest` is this client's store when it holds a replica, else the replica with the lowest
   * measured round trip; `follower` the same among the replicas other than the leader. An
   * unreachable store, or one that closed under the request, answers `Timeout` (its store is
   * then a suspect); a replica that did not catch up in time answers `ReadIndexNotReady` (it is
   * asked after the others for a while; its store is no suspect); no replica at all answers
   * `undefined`.
   */
  askReplica<T>(route: RegionRoute, replicaRead: ReplicaRead, fn: (svc: KvService) => Promise<Result<T>>): Promise<Result<T> | undefined>;
  /** The region holding `key` (cache, then PD). */
  route(key: Uint8Array, signal?: AbortSignal): Promise<RegionRoute>;
  /** A fresh TSO timestamp. */
  getTimestamp(o?: { signal?: AbortSignal }): Promise<bigint>;
  /** The client's GC registration: readers hold their ts with it (absent: PD takes no registrations here). */
  readonly gc?: GcRegistration;
}

/**
 * The region holding `key`, waiting out a moment when PD knows none (a split it has not heard
 * of yet, a PD leader just elected): `Unavailable` is retried with backoff like any region
 * error, within the client's budget.
 */
export async function routeOf(routing: TxnRouting, key: Uint8Array, signal?: AbortSignal): Promise<RegionRoute> {
  const started = routing.clock.now();
  for (let attempt = 0; ; attempt++) {
    try {
      return await routing.route(key, signal);
    } catch (e) {
      const spent = attempt + 1 >= routing.backoff.attemptsMax || routing.clock.now() - started > routing.backoff.budgetMs;
      if (!(e instanceof PeerKVError) || e.kind !== 'Unavailable' || spent) throw e;
      await sleepFor(routing.clock, backoffDelayMs(routing.backoff, attempt, routing.random), signal);
    }
  }
}

/** `keys` grouped by the region holding each (in the order regions were first met). */
export async function groupByRegion<T extends { key: Uint8Array }>(routing: TxnRouting, items: readonly T[], signal?: AbortSignal): Promise<{ route: RegionRoute; items: T[] }[]> {
  const groups = new Map<number, { route: RegionRoute; items: T[] }>();
  for (const item of items) {
    const route = await routeOf(routing, item.key, signal);
    let g = groups.get(route.region.id);
    if (g === undefined) {
      g = { route, items: [] };
      groups.set(route.region.id, g);
    }
    g.items.push(item);
  }
  return [...groups.values()];
}
