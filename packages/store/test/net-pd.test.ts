/**
 * PD over store RPC: every PD request and response round-trips through the codec, bad
 * bytes are typed decode errors; `PdCaller` follows NotLeader hints, skips unreachable and
 * PD-less stores, remembers the leader, and gives up with the last error at its budget.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_SCHEDULE_CONFIG, type Region } from '@peerkv/pd';
import { RpcError } from '@peerkv/transport';
import {
  PD_REGION_ID,
  PdCaller,
  StoreRpcDecodeError,
  TEMP_STORE_ID_MAX,
  TEMP_STORE_ID_MIN,
  decodeStoreRequest,
  decodeStoreResponse,
  encodeStoreRequest,
  encodeStoreResponse,
  isTempStoreId,
  randomTempStoreId,
  type PdRequest,
  type PdResponse,
} from '../src/index.ts';

const k = (s: string): Uint8Array => new TextEncoder().encode(s);
const region: Region = { id: 3, startKey: k('a'), endKey: k('m'), epoch: { confVer: 2, version: 5 }, peers: [{ id: 5, storeId: 2, role: 'voter' }, { id: 9, storeId: 7, role: 'learner' }] };

/** A store public key's shape (the codec checks the length only). */
const storeKey = new Uint8Array(65).fill(7);

const requests: PdRequest[] = [
  { type: 'pdStoreHeartbeat', stats: { storeId: 7, capacityBytes: 2 ** 40, usedBytes: 12, availableBytes: 2 ** 40 - 12, regionCount: 3, leaderCount: 1, draining: true }, timeoutMs: 2000 },
  {
    type: 'pdRegionHeartbeat',
    heartbeat: { region, leader: region.peers[0], downPeers: [9], pendingPeers: [], approximateSizeBytes: 100, approximateKeys: 4, writtenBytesPerSec: 0, term: 6 },
  },
  { type: 'pdAllocId', timeoutMs: 0 },
  { type: 'pdPutStore', storeId: 0, address: 'host:/data/a', labels: { device: 'a', zone: 'z' }, timeoutMs: 1500 },
  { type: 'pdPutStore', storeId: 5, address: 'host:/data/b', labels: {}, publicKey: storeKey },
  { type: 'pdGetRegion', key: k('c') },
  { type: 'pdGetRegionById', regionId: 3 },
  { type: 'pdGetStore', storeId: 7 },
  { type: 'pdGetTimestamps', count: 10, timeoutMs: 100 },
  { type: 'pdGetGcSafePoint' },
  { type: 'pdGetScheduleConfig' },
];

const responses: PdResponse[] = [
  { type: 'pdApply', result: { ok: true, value: { kind: 'storePut', storeId: 12, isNew: true, replacedStoreIds: [4] } } },
  { type: 'pdApply', result: { ok: true, value: { kind: 'refused', error: { kind: 'StaleRegion', regionId: 3, current: region } } } },
  { type: 'pdApply', result: { ok: true, value: { kind: 'refused', error: { kind: 'InvalidStoreStateChange', storeId: 3, from: 'up', to: 'tombstone' } } } },
  { type: 'pdApply', result: { ok: true, value: { kind: 'idsAllocated', firstId: 10, lastId: 20, requesterId: 4, requesterTerm: 6, requestSeq: 2 } } },
  { type: 'pdApply', result: { ok: false, error: { kind: 'NotLeader', regionId: 1, leaderHint: { id: 4, storeId: 2, role: 'voter' } } } },
  { type: 'pdStep', result: { ok: true, value: { step: { kind: 'addLearner', storeId: 7, peerId: 30 } } } },
  { type: 'pdStep', result: { ok: true, value: { step: { kind: 'splitRegion', splitKey: k('g') } } } },
  { type: 'pdStep', result: { ok: true, value: {} } },
  { type: 'pdId', result: { ok: true, value: 77 } },
  { type: 'pdRoute', result: { ok: true, value: { region, leader: region.peers[0] } } },
  { type: 'pdRoute', result: { ok: true, value: { region } } },
  { type: 'pdRoute', result: { ok: true, value: undefined } },
  { type: 'pdStore', result: { ok: true, value: { id: 7, address: 'x', labels: { device: 'b' }, state: 'offline' } } },
  { type: 'pdStore', result: { ok: true, value: { id: 8, address: 'y', labels: {}, state: 'up', publicKey: storeKey } } },
  { type: 'pdApply', result: { ok: true, value: { kind: 'refused', error: { kind: 'StoreKeyMismatch', storeId: 8 } } } },
  { type: 'pdStore', result: { ok: false, error: { kind: 'RegionNotFound', regionId: 1 } } },
  { type: 'pdTimestamps', result: { ok: true, value: { first: (1_700_000_000_000n << 18n) | 5n, count: 3 } } },
  // A cluster's own settings, a later field (`replicaEnginesMin`) off its default included.
  { type: 'pdScheduleConfig', result: { ok: true, value: { ...DEFAULT_SCHEDULE_CONFIG, maxReplicas: 5, regionScheduleTolerance: 0, balanceRegionBy: 'bytes', isolationLabel: 'zone', replicaEnginesMin: 2 } } },
  { type: 'pdScheduleConfig', result: { ok: true, value: { ...DEFAULT_SCHEDULE_CONFIG } } },
  { type: 'pdScheduleConfig', result: { ok: false, error: { kind: 'RegionNotFound', regionId: 1 } } },
];

describe('PD request/response codec', () => {
  it('round-trips every PD request and response', () => {
    for (const q of requests) expect(decodeStoreRequest(encodeStoreRequest(q))).toEqual(q.type === 'pdAllocId' ? { type: 'pdAllocId', timeoutMs: 0 } : q);
    for (const r of responses) expect(decodeStoreResponse(encodeStoreResponse(r))).toEqual(r);
  });

  it('rejects truncated bytes, trailing bytes and bad enums with typed errors', () => {
    const kind = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(StoreRpcDecodeError);
        return (e as StoreRpcDecodeError).kind;
      }
      return 'none';
    };
    for (const q of requests) {
      const b = encodeStoreRequest(q);
      expect(kind(() => decodeStoreRequest(b.subarray(0, b.length - 1)))).not.toBe('none');
      expect(kind(() => decodeStoreRequest(new Uint8Array([...b, 0])))).toBe('Malformed');
    }
    for (const r of responses) {
      const b = encodeStoreResponse(r);
      expect(kind(() => decodeStoreResponse(b.subarray(0, b.length - 1)))).not.toBe('none');
    }
    // pdStep ok with step kind 99.
    expect(kind(() => decodeStoreResponse(new Uint8Array([8, 1, 1, 1, 99])))).toBe('Malformed');
    expect(kind(() => decodeStoreRequest(new Uint8Array([17, 1])))).toBe('UnknownType');
    expect(kind(() => decodeStoreRequest(encodeStoreRequest({ type: 'pdGetTimestamps', count: 1 << 20 })))).toBe('LimitExceeded');
  });

  it('temporary ids fall in the reserved range', () => {
    for (let i = 0; i < 100; i++) expect(isTempStoreId(randomTempStoreId())).toBe(true);
    expect(isTempStoreId(TEMP_STORE_ID_MIN - 1)).toBe(false);
    expect(isTempStoreId(TEMP_STORE_ID_MAX)).toBe(false);
    expect(isTempStoreId(2)).toBe(false);
  });
});

/** A requester whose stores answer by a table: a response, or a transport failure. */
function fakeNet(answers: Record<number, PdResponse | 'unreachable'>) {
  const asked: number[] = [];
  return {
    asked,
    request: async (to: number, payload: Uint8Array): Promise<Uint8Array> => {
      decodeStoreRequest(payload);
      asked.push(to);
      const a = answers[to];
      if (a === undefined || a === 'unreachable') throw new RpcError('Unreachable', `store ${to}`);
      return encodeStoreResponse(a);
    },
  };
}

describe('PdCaller', () => {
  const notLeader = (hint?: number): PdResponse => ({ type: 'pdId', result: { ok: false, error: hint ? { kind: 'NotLeader', regionId: 1, leaderHint: { id: 40, storeId: hint, role: 'voter' } } : { kind: 'NotLeader', regionId: 1 } } });
  const noPd: PdResponse = { type: 'pdId', result: { ok: false, error: { kind: 'RegionNotFound', regionId: 1 } } };

  it('follows the hint past unreachable and PD-less stores, then asks the leader first', async () => {
    const net = fakeNet({ 3: 'unreachable', 4: noPd, 5: notLeader(9), 9: { type: 'pdId', result: { ok: true, value: 42 } } });
    const caller = new PdCaller(net, { candidates: () => [3, 4, 5, 9], budgetMs: 5000 });
    expect(await caller.call({ type: 'pdAllocId' }, 'pdId')).toEqual({ ok: true, value: 42 });
    expect(net.asked).toEqual([3, 4, 5, 9]);
    expect(caller.leaderGuess).toBe(9);
    net.asked.length = 0;
    await caller.call({ type: 'pdAllocId' }, 'pdId');
    expect(net.asked).toEqual([9]);
  });

  it('asks a store that did not answer last, until its suspicion ends', async () => {
    const net = fakeNet({ 3: 'unreachable', 5: { type: 'pdId', result: { ok: true, value: 1 } } });
    const caller = new PdCaller(net, { candidates: () => [3, 5], budgetMs: 5000, suspectMs: 300 });
    await caller.call({ type: 'pdAllocId' }, 'pdId');
    expect(net.asked).toEqual([3, 5]);
    net.asked.length = 0;
    caller.leaderGuess = 3; // e.g. a stale hint
    await caller.call({ type: 'pdAllocId' }, 'pdId');
    expect(net.asked).toEqual([5]);
    await new Promise((r) => setTimeout(r, 400));
    net.asked.length = 0;
    caller.leaderGuess = 3;
    await caller.call({ type: 'pdAllocId' }, 'pdId');
    expect(net.asked).toEqual([3, 5]);
  });

  it('gives up at its budget with the last error, retrying rounds meanwhile', async () => {
    const net = fakeNet({ 5: notLeader(), 6: 'unreachable' });
    const caller = new PdCaller(net, { candidates: () => [5, 6], budgetMs: 150, backoffMsMin: 10, backoffMsMax: 20 });
    const r = await caller.call({ type: 'pdAllocId' }, 'pdId');
    expect(r.ok).toBe(false);
    expect(net.asked.length).toBeGreaterThan(2);
  });

  it('news of PD\'s new leader ends the attempt waiting on the dead one and asks the new leader at once', async () => {
    // Store 3 led PD and was killed: it never answers (the transport would wait out the attempt).
    const asked: number[] = [];
    const net = {
      request: (to: number, payload: Uint8Array, o?: { signal?: AbortSignal }): Promise<Uint8Array> => {
        decodeStoreRequest(payload);
        asked.push(to);
        if (to === 5) return Promise.resolve(encodeStoreResponse({ type: 'pdId', result: { ok: true, value: 42 } }));
        return new Promise((_, reject) => o?.signal?.addEventListener('abort', () => reject(new RpcError('Aborted', 'aborted')), { once: true }));
      },
    };
    const caller = new PdCaller(net, { candidates: () => [3, 5], budgetMs: 60_000, attemptTimeoutMs: 30_000 });
    caller.leaderGuess = 3;
    const started = Date.now();
    const call = caller.call({ type: 'pdAllocId' }, 'pdId');
    await new Promise((r) => setTimeout(r, 20));
    expect(asked).toEqual([3]);
    caller.onLeaderNews({ regionId: 9, leader: { id: 50, storeId: 5, role: 'voter' } }); // another region: nothing
    await new Promise((r) => setTimeout(r, 20));
    expect(asked).toEqual([3]);
    caller.onLeaderNews({ regionId: PD_REGION_ID, leader: { id: 50, storeId: 5, role: 'voter' } });
    expect(await call).toEqual({ ok: true, value: 42 });
    expect(asked).toEqual([3, 5]);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(caller.leaderGuess).toBe(5);
  });

  it('returns a wrong response type as a failure, not a value', async () => {
    const net = fakeNet({ 5: { type: 'pdStore', result: { ok: true, value: undefined } } });
    const caller = new PdCaller(net, { candidates: () => [5], budgetMs: 50, backoffMsMin: 10 });
    const r = await caller.call({ type: 'pdAllocId' }, 'pdId');
    expect(r).toMatchObject({ ok: false, error: { kind: 'Timeout' } });
  });
});
