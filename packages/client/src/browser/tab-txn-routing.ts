/**
 * A pessimistic transaction run in a tab that is not the host: its locks are taken through the
 * host. The tab keeps the transaction's state (`PessimisticLocks`: the primary, the keys locked,
 * the heartbeats, and a `LockResolver` for the locks it meets) and sends each store request it
 * builds to the host as a `txnRegionRequest`, which the host's client routes to the region's
 * leader (following region errors) and answers with how that ended; routing questions go as
 * `txnRoute`, timestamps as `getTimestamp`. A resend to a new host after a failover is
 * harmless: every forwarded request is idempotent by its start ts (and `forUpdateTs`).
 *
 * If the tab closes, its heartbeats stop and its locks are resolved by others once their TTL
 * runs out, as for any client that dies.
 */
import type { StoreRequest } from '@peerkv/store';
import { BACKOFF_DEFAULT, type Clock } from '../backoff.ts';
import type { KvService, RegionRoute } from '../services.ts';
import { LockResolver } from '../txn/lock-resolver.ts';
import type { RegionRequestOutcome, TabTxnRequest, TxnRouting } from '../txn/routing.ts';
import { BrowserKvError, type ClientCall } from './protocol.ts';

/** Store-side timeout of one forwarded request attempt, ms (the host's client retries within its own budget). */
export const TAB_TXN_REQUEST_TIMEOUT_MS = 5000;

/** What the tab's routing needs of the tab. */
export interface TabTxnHost {
  /** Sends a client request (table `kv`) to the host. */
  request: ClientCall;
  getTimestamp(): Promise<bigint>;
  /** The tab's time (lock TTLs, backoff) and backoff jitter (`TabTxns`'s). */
  clock: Clock;
  random: () => number;
}

/** The routing and lock resolver of a tab's pessimistic transactions (one per tab). */
export function tabTxnLocking(host: TabTxnHost): { routing: TxnRouting; resolver: LockResolver } {
  const routing: TxnRouting = {
    clock: host.clock,
    random: host.random,
    backoff: BACKOFF_DEFAULT,
    requestTimeoutMs: TAB_TXN_REQUEST_TIMEOUT_MS,
    send: <T>(locate: Uint8Array, keys: readonly Uint8Array[] | undefined, fn: (route: RegionRoute, svc: KvService) => Promise<unknown>) =>
      // The host answers what the store answered to the inner request: `fn`'s answer type, `T`.
      host.request({ type: 'txnRegionRequest', locate, ...(keys ? { keys: [...keys] } : {}), request: regionlessRequest(fn) }) as Promise<RegionRequestOutcome<T>>,
    sendToReplica: () => Promise.reject(new BrowserKvError('InvalidArgument', 'a tab reads from a replica through staleScan, not through its transactions')),
    // Reads are the host's (`snapshotGet`); a lock request goes to the leader.
    askReplica: () => Promise.resolve(undefined),
    markBehind: () => undefined,
    route: (key) => host.request({ type: 'txnRoute', key }),
    getTimestamp: () => host.getTimestamp(),
  };
  return { routing, resolver: new LockResolver(routing) };
}

/**
 * The request `fn` would send, without its region (the host fills that in). The transaction
 * layer builds each request inside its send callback from the route it is given, so `fn` is
 * called with a stand-in route and a service whose `handle` only records the request (and
 * never settles: nothing waits on it).
 */
function regionlessRequest(fn: (route: RegionRoute, svc: KvService) => Promise<unknown>): TabTxnRequest {
  let built: StoreRequest | undefined;
  const route: RegionRoute = { region: { id: 0, startKey: new Uint8Array(), endKey: new Uint8Array(), epoch: { confVer: 0, version: 0 }, peers: [] } };
  const svc = {
    storeId: 0,
    handle: (q: StoreRequest) => {
      built = q;
      return new Promise<never>(() => {});
    },
  } as unknown as KvService;
  void fn(route, svc);
  if (built === undefined) throw new BrowserKvError('Internal', 'a transaction request was not built when its send began');
  const { regionId: _regionId, epoch: _epoch, ...rest } = built as StoreRequest & { regionId?: number; epoch?: unknown };
  return rest as TabTxnRequest;
}
