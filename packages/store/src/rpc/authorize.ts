/**
 * Who may ask a store what over RPC (issue 13, finding 6): every request type has one class,
 * and the caller is the store id its link authenticated (`RequestSource.onRequest`'s
 * `fromStoreId`).
 *
 * - `data`: reads, writes, transactions, status, PD's routing reads, timestamps and ids, GC
 *   registrations: any member, clients under temporary ids included (a client holding the
 *   secret reads and writes everything by design).
 * - `self`: a store's own reports to PD: a store heartbeat for the caller's store id, a region
 *   heartbeat whose leader is on the caller's store, `pdPutStore` for the caller's own id (or
 *   id 0, a join, which a joining store sends under a temporary id). A temporary id is never a
 *   store: it may only join.
 * - `admin`: membership changes, splits, leader transfers, elections, drains: only in an
 *   envelope signed with the operator key (`operator-auth.ts`). PD's own operators run these
 *   on the region's leader in process (`PdWorker.executeStep`), never over RPC.
 *
 * A refused request answers the failure `Forbidden` and is counted by its reason.
 */
import type { StoreRequest, StoreRequestType } from '../request-types.ts';
import { isTempStoreId } from '../temp-store-ids.ts';

/** What a request type is (see the module header). */
export type RequestClass = 'data' | 'self' | 'admin';

/** The class of every request type (a new request type must be placed here to compile). */
export const REQUEST_CLASSES: { readonly [K in StoreRequestType]: RequestClass } = {
  write: 'data',
  get: 'data',
  scan: 'data',
  status: 'data',
  changePeers: 'admin',
  split: 'admin',
  transferLeader: 'admin',
  campaign: 'admin',
  setDraining: 'admin',
  pdStoreHeartbeat: 'self',
  pdRegionHeartbeat: 'self',
  pdPutStore: 'self',
  // Ids are plentiful (2^48 below the temporary range): one burnt costs nothing.
  pdAllocId: 'data',
  pdGetRegion: 'data',
  pdGetRegionById: 'data',
  pdGetStore: 'data',
  pdGetTimestamps: 'data',
  pdGetGcSafePoint: 'data',
  pdRegisterGcService: 'data',
  txnPrewrite: 'data',
  txnCommit: 'data',
  txnRollback: 'data',
  txnCheckStatus: 'data',
  txnResolveLock: 'data',
  txnHeartbeat: 'data',
  txnGet: 'data',
  txnScan: 'data',
  txnCheckSecondaryLocks: 'data',
  txnPessimisticLock: 'data',
  txnPessimisticRollback: 'data',
  txnGc: 'data',
  txnStaleGet: 'data',
  txnStaleScan: 'data',
  txnCdcPull: 'data',
  txnReadIndex: 'data',
  txnReplicaGet: 'data',
  txnReplicaScan: 'data',
  txnDetectDeadlock: 'data',
};

/** Why a request was refused (each is a counter of the store's `status().refused`). */
export type ForbiddenReason =
  /** An admin request without a valid operator signature. */
  | 'forbiddenAdmin'
  /** A store report (heartbeat, `pdPutStore`) for a store other than the caller. */
  | 'forbiddenOtherStore'
  /** A store report from a temporary id (a client or a store still joining). */
  | 'forbiddenNotStore'
  /** An operator envelope that does not verify, is stale, replayed, or addressed to another store. */
  | 'forbiddenOperatorProof';

/** Whether `callerStoreId` may send `q` (`operator`: it came in a verified operator envelope); the refusal's reason if not. */
export function authorizeRequest(callerStoreId: number, q: StoreRequest, operator: boolean): ForbiddenReason | undefined {
  if (operator) return undefined;
  switch (REQUEST_CLASSES[q.type]) {
    case 'data':
      return undefined;
    case 'admin':
      return 'forbiddenAdmin';
    case 'self':
      return selfReportRefusal(callerStoreId, q);
  }
}

function selfReportRefusal(caller: number, q: StoreRequest): ForbiddenReason | undefined {
  const temp = isTempStoreId(caller);
  switch (q.type) {
    case 'pdPutStore':
      if (q.storeId === 0) return undefined; // a join: PD picks the id
      return temp ? 'forbiddenNotStore' : q.storeId === caller ? undefined : 'forbiddenOtherStore';
    case 'pdStoreHeartbeat':
      return temp ? 'forbiddenNotStore' : q.stats.storeId === caller ? undefined : 'forbiddenOtherStore';
    case 'pdRegionHeartbeat':
      return temp ? 'forbiddenNotStore' : q.heartbeat.leader.storeId === caller ? undefined : 'forbiddenOtherStore';
    default:
      return undefined;
  }
}
