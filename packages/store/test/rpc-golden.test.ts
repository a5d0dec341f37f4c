/**
 * The store RPC's bytes are pinned: every request type and the answers of the data requests
 * encode exactly as the codec did before requests became one table (recorded from it), so a
 * peer of either version reads the other. A change here breaks mixed-version clusters.
 */
import { describe, expect, it } from 'vitest';
import { STORE_REQUEST_CODECS, decodeStoreRequest, encodeStoreRequest, encodeStoreResponse, type StoreRequest } from '../src/index.ts';

const e = { confVer: 3, version: 7 };
const k = new Uint8Array([1, 2, 3]);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** [request, its bytes as the earlier codec wrote them]. */
const REQUESTS: [StoreRequest, string][] = [
  [
    {
      type: 'write',
      regionId: 5,
      epoch: e,
      clientId: 'c1',
      seq: 9,
      ackFloor: 4,
      ops: [
        { type: 'put', cf: 'default', key: k, value: k },
        { type: 'delete', cf: 'default', key: k },
        { type: 'deleteRange', cf: 'default', start: k, end: new Uint8Array([9]) },
      ],
      timeoutMs: 1234,
    },
    '0101050307026331090403010301020303010203020301020303030102030109d309',
  ],
  [{ type: 'write', regionId: 5, epoch: e, clientId: 'c1', seq: 9, ackFloor: 0, ops: [] }, '010105030702633109000000'],
  [{ type: 'get', regionId: 5, epoch: e, key: k, consistency: 'follower', timeoutMs: 5 }, '0201050307030102030106'],
  [{ type: 'scan', regionId: 5, epoch: e, range: { start: k, end: k, limit: 10, reverse: true }, consistency: 'stale' }, '03010503070301020301030102030b010200'],
  [{ type: 'scan', regionId: 5, epoch: e, range: { start: k, limit: Infinity, reverse: false }, consistency: 'linearizable', timeoutMs: 0 }, '0301050307030102030000000001'],
  [{ type: 'changePeers', regionId: 5, changes: [{ type: 'addLearnerNode', peer: { id: 4, storeId: 2, role: 'learner' } }], timeoutMs: 77 }, '04010501020402014e'],
  [{ type: 'split', regionId: 5, epoch: e, splitKey: k, newRegionId: 6, newPeerIds: [7, 8, 9], timeoutMs: 100 }, '050105030703010203060307080965'],
  [{ type: 'transferLeader', regionId: 5, peerId: 3 }, '06010503'],
  [{ type: 'campaign', regionId: 5 }, '070105'],
  [{ type: 'status' }, '0801'],
  [{ type: 'setDraining', draining: true }, '140101'],
  [{ type: 'setDraining', draining: false }, '140100'],
  [{ type: 'pdPutStore', storeId: 4, address: 'a', labels: { z: 'y' }, timeoutMs: 9 }, '0c0104016101017a01790a'],
  [{ type: 'pdAllocId', timeoutMs: 10 }, '0b010b'],
  [{ type: 'pdGetRegion', key: k }, '0d0103010203'],
  [{ type: 'pdGetRegionById', regionId: 4 }, '0e0104'],
  [{ type: 'pdGetStore', storeId: 4 }, '0f0104'],
  [{ type: 'pdGetTimestamps', count: 3, timeoutMs: 9 }, '1001030a'],
  [{ type: 'pdGetScheduleConfig' }, '1501'],
];

describe('store RPC bytes', () => {
  it('encode and decode every request as before', () => {
    for (const [q, bytes] of REQUESTS) {
      expect(hex(encodeStoreRequest(q)), q.type).toBe(bytes);
      expect(decodeStoreRequest(Uint8Array.from(Buffer.from(bytes, 'hex'))), q.type).toEqual(q);
    }
  });

  it('send each data request answer as the response type it always was', () => {
    const answer = <K extends 'write' | 'get' | 'scan' | 'transferLeader'>(type: K, v: Parameters<(typeof STORE_REQUEST_CODECS)[K]['answer']['toWire']>[0]): string =>
      hex(encodeStoreResponse(STORE_REQUEST_CODECS[type].answer.toWire(v as never)));
    expect(answer('write', { ok: true, value: undefined })).toBe('010101');
    expect(answer('write', { ok: false, error: { kind: 'NotLeader', regionId: 3, leaderHint: { id: 1, storeId: 2, role: 'voter' } } })).toBe('010100010301010200');
    expect(answer('get', { ok: true, value: k })).toBe('0201010103010203');
    expect(answer('get', { ok: true, value: undefined })).toBe('02010100');
    expect(answer('scan', { ok: true, value: [{ key: k, value: k }] })).toBe('030101010301020303010203');
    expect(answer('transferLeader', { ok: true, value: undefined })).toBe('0401');
  });
});
