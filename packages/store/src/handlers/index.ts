/**
 * The store's request handlers, one per request type, in one table: `Store.handle` checks a
 * request's fields (`checkStoreRequest`) and runs its handler from here.
 */
import { handleCampaign, handleChangePeers, handleRotateDataKey, handleSetDraining, handleSplit, handleStatus, handleTransferLeader } from './admin.ts';
import type { HandlerTable } from './handler.ts';
import {
  handlePdAllocId,
  handlePdGetGcSafePoint,
  handlePdGetScheduleConfig,
  handlePdGetRegion,
  handlePdGetRegionById,
  handlePdGetStore,
  handlePdGetTimestamps,
  handlePdPutStore,
  handlePdRegionHeartbeat,
  handlePdRegisterGcService,
  handlePdStoreHeartbeat,
} from './pd.ts';
import { handleGet, handleScan } from './reads.ts';
import { handleTxnCdcPull } from './cdc.ts';
import { handleTxnDetectDeadlock } from './txn-deadlock.ts';
import { handleTxnGc } from './txn-gc.ts';
import { handleTxnReadIndex, handleTxnReplicaGet, handleTxnReplicaScan } from './replica-read.ts';
import { handleTxnStaleGet, handleTxnStaleScan } from './stale-read.ts';
import { handleTxnCheckSecondaryLocks, handleTxnPessimisticLock, handleTxnPessimisticRollback } from './txn-locks.ts';
import { handleTxnCheckStatus, handleTxnCommit, handleTxnGet, handleTxnHeartbeat, handleTxnPrewrite, handleTxnResolveLock, handleTxnRollback, handleTxnScan } from './txn.ts';
import { handleWrite } from './write.ts';

export type { Handler, HandlerEnv, HandlerTable } from './handler.ts';
export { CDC_PAGE_BYTES_MAX, CDC_PAGE_EVENTS_MAX, CDC_WAIT_MS_MAX } from './cdc.ts';
export { READ_ONE_PAGE_PAIRS_MAX, SNAPSHOT_BUSY_BACKOFF_MS } from './reads.ts';

/** Every request type's handler. */
export const STORE_HANDLERS: HandlerTable = {
  write: handleWrite,
  get: handleGet,
  scan: handleScan,
  changePeers: handleChangePeers,
  split: handleSplit,
  transferLeader: handleTransferLeader,
  campaign: handleCampaign,
  setDraining: handleSetDraining,
  rotateDataKey: handleRotateDataKey,
  status: handleStatus,
  pdStoreHeartbeat: handlePdStoreHeartbeat,
  pdRegionHeartbeat: handlePdRegionHeartbeat,
  pdAllocId: handlePdAllocId,
  pdPutStore: handlePdPutStore,
  pdGetRegion: handlePdGetRegion,
  pdGetRegionById: handlePdGetRegionById,
  pdGetStore: handlePdGetStore,
  pdGetTimestamps: handlePdGetTimestamps,
  pdGetGcSafePoint: handlePdGetGcSafePoint,
  pdGetScheduleConfig: handlePdGetScheduleConfig,
  pdRegisterGcService: handlePdRegisterGcService,
  txnPrewrite: handleTxnPrewrite,
  txnCommit: handleTxnCommit,
  txnRollback: handleTxnRollback,
  txnCheckStatus: handleTxnCheckStatus,
  txnResolveLock: handleTxnResolveLock,
  txnHeartbeat: handleTxnHeartbeat,
  txnGet: handleTxnGet,
  txnStaleGet: handleTxnStaleGet,
  txnStaleScan: handleTxnStaleScan,
  txnReadIndex: handleTxnReadIndex,
  txnReplicaGet: handleTxnReplicaGet,
  txnReplicaScan: handleTxnReplicaScan,
  txnScan: handleTxnScan,
  txnCheckSecondaryLocks: handleTxnCheckSecondaryLocks,
  txnPessimisticLock: handleTxnPessimisticLock,
  txnPessimisticRollback: handleTxnPessimisticRollback,
  txnGc: handleTxnGc,
  txnCdcPull: handleTxnCdcPull,
  txnDetectDeadlock: handleTxnDetectDeadlock,
};
