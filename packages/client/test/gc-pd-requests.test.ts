/**
 * PD's GC requests for clients over the store RPC: `pdGetGcSafePoint` and
 * `pdRegisterGcService` round-trip through the codec, and a `RemotePdService` (every call a
 * request to a store's PD replica) registers, refreshes and removes a service, is told
 * `SafePointPassed` below the safe point and `TooManyServices` past `servicesMax`, and reads
 * the safe point; `PdCluster` answers the same in process.
 */
import { describe, expect, it } from 'vitest';
import { MemoryEngine } from '@peerkv/storage';
import { decodeStoreRequest, decodeStoreResponse, encodeStoreRequest, encodeStoreResponse, handleStoreRequest, type PdRequest, type PdResponse } from '@peerkv/store';
import { PdCluster, RemotePdService } from '../src/index.ts';

const requests: PdRequest[] = [
  { type: 'pdGetGcSafePoint' },
  { type: 'pdRegisterGcService', serviceId: 'client-ä', minStartTs: (1_763_000_000_000n << 18n) | 7n, ttlMs: 30_000, timeoutMs: 900 },
  { type: 'pdRegisterGcService', serviceId: 'c', minStartTs: 0n, ttlMs: 0 },
];

const responses: PdResponse[] = [
  { type: 'pdGcSafePoint', result: { ok: true, value: 12n << 18n } },
  { type: 'pdGcSafePoint', result: { ok: false, error: { kind: 'RegionNotFound', regionId: 1 } } },
  { type: 'pdGcRegister', result: { ok: true, value: { kind: 'ok', gcSafePoint: 5n, ttlMs: 3000 } } },
  { type: 'pdGcRegister', result: { ok: true, value: { kind: 'error', error: { kind: 'SafePointPassed', gcSafePoint: 9n } } } },
  { type: 'pdGcRegister', result: { ok: true, value: { kind: 'error', error: { kind: 'TooManyServices', servicesMax: 3 } } } },
  { type: 'pdGcRegister', result: { ok: true, value: { kind: 'error', error: { kind: 'InvalidArgument', reason: 'ttlMs must be a non-negative integer' } } } },
  { type: 'pdGcRegister', result: { ok: false, error: { kind: 'NotLeader', regionId: 1, leaderHint: { id: 4, storeId: 2, role: 'voter' } } } },
];

describe('GC requests codec', () => {
  it('round-trips the GC requests and answers', () => {
    for (const q of requests) expect(decodeStoreRequest(encodeStoreRequest(q))).toEqual(q);
    for (const r of responses) expect(decodeStoreResponse(encodeStoreResponse(r))).toEqual(r);
  });
});

describe('GC service registration through PD', () => {
  it('registers, refreshes, refuses and removes over the store RPC and in process', async () => {
    const c = new PdCluster({
      openEngine: (_name, cfs) => MemoryEngine.open({ columnFamilies: cfs }),
      store: { tickIntervalMs: 10, pdGc: { servicesMax: 2, serviceTtlMsMax: 5000 } },
    });
    try {
      const store = await c.bootstrap('a');
      const pd = new RemotePdService({ request: (_to, payload) => handleStoreRequest(store, payload) }, { candidates: () => [store.storeId], budgetMs: 2000 });
      expect(await pd.getGcSafePoint()).toBe(0n);
      const ts = (BigInt(Date.now()) << 18n) | 1n;
      expect(await pd.registerGcService('one', ts, 1000)).toEqual({ kind: 'ok', gcSafePoint: 0n, ttlMs: 1000 });
      expect(await pd.registerGcService('one', ts + 5n, 1000)).toEqual({ kind: 'ok', gcSafePoint: 0n, ttlMs: 1000 });
      expect(await c.registerGcService('two', ts, 1000)).toEqual({ kind: 'ok', gcSafePoint: 0n, ttlMs: 1000 });
      expect(await pd.registerGcService('three', ts, 1000)).toEqual({ kind: 'error', error: { kind: 'TooManyServices', servicesMax: 2 } });
      await pd.removeGcService('two');
      expect(await pd.registerGcService('three', ts, 1000)).toEqual({ kind: 'ok', gcSafePoint: 0n, ttlMs: 1000 });

      const sp = ts + 100n;
      const set = await store.pdPropose({ kind: 'setGcSafePoint', safePoint: sp });
      expect(set.ok).toBe(true);
      expect(await pd.getGcSafePoint()).toBe(sp);
      expect(await c.getGcSafePoint()).toBe(sp);
      expect(await pd.registerGcService('one', ts, 1000)).toEqual({ kind: 'error', error: { kind: 'SafePointPassed', gcSafePoint: sp } });
      expect(await pd.registerGcService('one', sp, 60_000)).toEqual({ kind: 'ok', gcSafePoint: sp, ttlMs: 5000 });
      expect(await pd.registerGcService('', sp, 1000)).toMatchObject({ kind: 'error', error: { kind: 'InvalidArgument' } });
      await c.removeGcService('one');
      await c.removeGcService('three');
    } finally {
      await c.close();
    }
  });
});
