/**
 * What the transaction layer needs of a `PeerKV`: routing with its region cache, the retry
 * loop that follows region errors, PD's TSO and the client's clock, chance and backoff. The
 * committer, the lock resolver and the snapshot reader take this, not the client, so they can
 * be tested against a fake and never reach into the client's write sessions.
 */
import { TAB_REQUEST_TYPES, type Result, type StoreRequest, type TabRequestType } from '@peerkv/store';
import { backoffDelayMs, sleepFor, type BackoffOptions, type Clock } from '../backoff.ts';
import { PeerKVError } from '../errors.ts';
import type { Peer } from '@peerkv/pd';
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
 * Replicas one replica or stale read asks at most, the first included, before the leader
 * answers it (`askReplicas`). One replica that cannot serve (behind its leader, cut off, too
 * stale) should not send the read to the leader while another is current; but a region whose
 * replicas all lag must not cost a read one timeout per replica.
 */
export const REPLICA_READ_ATTEMPTS_MAX = 3;

/** One replica's answer to one attempt of a replica read, and which replica gave it. */
export interface ReplicaAnswer<T> {
  peer: Peer;
  answer: Result<T>;
}

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
   * One attempt (no retry) on a replica of `route` for a replica read (`askReplicas`), other
   * than those in `skip` (peer ids): `closest` is this client's store when it holds a replica,
   * else the replica with the lowest measured round trip; `follower` the same among the replicas
   * other than the leader. A replica found behind is asked after the others. An unreachable
   * store, or one that closed under the request, answers `Timeout` (its store is then a
   * suspect); a replica that did not catch up in time (`ReadIndexNotReady`) or that says it
   * cannot serve (`NotLeader`: a witness, a replica cut off) is marked behind (its store is no
   * suspect); no replica left to ask answers `undefined`. A malformed answer is `Unavailable`.
   */
  askReplica<T>(route: RegionRoute, replicaRead: ReplicaRead, fn: (svc: KvService) => Promise<Result<T>>, skip?: ReadonlySet<number>): Promise<ReplicaAnswer<T> | undefined>;
  /**
   * Marks `peer` behind for a while: it answered, but could not serve the read at the ts it
   * needs (`DataIsNotReady`, a resolved ts older than `maxStaleness`). `askReplica` picks it
   * after the region's other replicas meanwhile, and so does a stale read's first attempt
   * (which otherwise asks this client's own replica first: "served locally if the local safe
   * ts is within the bound"). A replica read's `ReadIndexNotReady` marks it for replica reads
   * only (`askReplica`): its resolved ts may still serve a stale read.
   */
  markBehind(peer: Peer): void;
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

/** How `askReplicas` goes on from replicas asked elsewhere, and which answers it does not take. */
export interface AskReplicasOptions<T> {
  /** Replicas already asked for this read (its first attempt): not asked again, and counted against the bound. */
  asked?: readonly Peer[];
  /**
   * An answer its replica gave but cannot serve the read with (a stale read's `DataIsNotReady`,
   * a resolved ts older than the caller's bound): the replica is marked behind and another asked.
   */
  behind?: (value: T) => boolean;
}

/**
 * A replica read (or a stale read's retry) on the replicas of `route`, one at a time, each
 * replica at most once and at most `REPLICA_READ_ATTEMPTS_MAX` in all (`o.asked` included): the
 * first answer that serves the read, or `undefined` when none did (the caller asks the leader).
 * A region error from a replica moves on to the next (`askReplica` marks the replica behind or
 * its store suspect, so later reads avoid it too), and so does an answer `o.behind` refuses.
 */
export async function askReplicas<T>(
  routing: TxnRouting,
  route: RegionRoute,
  replicaRead: ReplicaRead,
  fn: (svc: KvService) => Promise<Result<T>>,
  o: AskReplicasOptions<T> = {},
): Promise<T | undefined> {
  const skip = new Set((o.asked ?? []).map((p) => p.id));
  for (let attempt = skip.size; attempt < REPLICA_READ_ATTEMPTS_MAX; attempt++) {
    const r = await routing.askReplica(route, replicaRead, fn, skip);
    if (r === undefined) return undefined;
    skip.add(r.peer.id);
    if (!r.answer.ok) continue;
    if (o.behind?.(r.answer.value) === true) {
      routing.markBehind(r.peer);
      continue;
    }
    return r.answer.value;
  }
  return undefined;
}
