/**
 * The request table (`STORE_REQUEST_CODECS`) is the one place a request type's wire codec and
 * its RPC authorisation live: the derived tables say exactly what the hand-written ones said
 * before they were folded into it (copied from them), and every entry's wire number is unique.
 */
import { describe, expect, it } from 'vitest';
import { PROVISIONAL_REQUESTS, REQUEST_CLASSES, STORE_REQUEST_CODECS, STORE_REQUEST_TYPES } from '../src/index.ts';

/** `REQUEST_CLASSES` as written by hand before the table carried it. */
const CLASSES_BEFORE = {
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
  pdAllocId: 'data',
  pdGetRegion: 'data',
  pdGetRegionById: 'data',
  pdGetStore: 'data',
  pdGetTimestamps: 'data',
  pdGetGcSafePoint: 'data',
  pdGetScheduleConfig: 'data',
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

/** `PROVISIONAL_REQUESTS` as written by hand before the table carried it. */
const PROVISIONAL_BEFORE = {
  write: false,
  get: true,
  scan: true,
  status: true,
  changePeers: false,
  split: false,
  transferLeader: false,
  campaign: false,
  setDraining: false,
  pdStoreHeartbeat: false,
  pdRegionHeartbeat: false,
  pdPutStore: true,
  pdAllocId: false,
  pdGetRegion: true,
  pdGetRegionById: true,
  pdGetStore: true,
  pdGetTimestamps: false,
  pdGetGcSafePoint: true,
  pdGetScheduleConfig: true,
  pdRegisterGcService: false,
  txnPrewrite: false,
  txnCommit: false,
  txnRollback: false,
  txnCheckStatus: false,
  txnResolveLock: false,
  txnHeartbeat: false,
  txnGet: true,
  txnScan: true,
  txnCheckSecondaryLocks: false,
  txnPessimisticLock: false,
  txnPessimisticRollback: false,
  txnGc: false,
  txnStaleGet: true,
  txnStaleScan: true,
  txnCdcPull: true,
  txnReadIndex: true,
  txnReplicaGet: true,
  txnReplicaScan: true,
  txnDetectDeadlock: false,
};

describe('the store request table', () => {
  it('gives every request type the class and provisional rule it had', () => {
    expect({ ...REQUEST_CLASSES }).toEqual(CLASSES_BEFORE);
    expect({ ...PROVISIONAL_REQUESTS }).toEqual(PROVISIONAL_BEFORE);
  });

  it('numbers every request type once', () => {
    const tags = Object.values(STORE_REQUEST_TYPES);
    expect(new Set(tags).size).toBe(Object.keys(STORE_REQUEST_CODECS).length);
    expect(tags).not.toContain(17);
  });
});
