/**
 * A `PdCluster` whose stores serve user data to data-key provers only (`StoreOptions.dataProofKey`,
 * issue 14): its `LocalRpc` carries the proofs as a link does. A leader sends a data snapshot to a
 * joining store only after that store proved the data key to its ask, so the replicas still reach
 * the configured count and the new ones hold the data; a caller under a temporary id is refused a
 * read until it proves the data key (`withDataKeyProof`), and after a store restarts it proves
 * again and is served.
 */
import { describe, expect, it } from 'vitest';
import { MemoryDisk, MemoryEngine } from '@peerkv/storage';
import { PD_REGION_ID, TEMP_STORE_ID_MIN, decodeStoreResponse, encodeStoreRequest, withDataKeyProof, webCryptoEntryCipher, type StoreRequest } from '@peerkv/store';
import { deriveMemberKeys } from '@peerkv/transport';
import { PdCluster, PeerKV, codec } from '../src/index.ts';
import { until } from './until.ts';

describe('PdCluster with the data-key gate', () => {
  it('sends data snapshots to stores that proved the data key, and serves a caller once it proves', async () => {
    const member = await deriveMemberKeys('pd-dk', 'secret', 1000);
    const disks = new Map<string, MemoryDisk>();
    const c = new PdCluster({
      clusterId: 'pd-dk',
      openEngine: async (name, cfs) => {
        if (!disks.has(name)) disks.set(name, new MemoryDisk());
        return MemoryEngine.open({ columnFamilies: cfs, disk: disks.get(name) });
      },
      // A short log: a joining replica is caught up by a snapshot, not by entries.
      store: { tickIntervalMs: 10, heartbeatIntervalTicks: 5, requestTimeoutMs: 2000, logGcThresholdEntries: 10, logGcKeepEntries: 2, entryCipher: webCryptoEntryCipher(member.dataKey), dataProofKey: member.dataProofKey },
      schedule: { maxStoreDownTimeMs: 60_000, operatorTimeoutMs: 10_000 },
    });
    try {
      const first = await c.bootstrap('dev-a', { device: 'a' });
      const kv = new PeerKV({ pd: c, stores: c });
      for (let i = 0; i < 40; i++) await kv.put(codec.text(`k${i}`), codec.text(`v${i}`));
      const b = await c.join('dev-b', { device: 'b' });
      await c.join('dev-c', { device: 'c' });
      await until('the data region on 3 stores', () => c.regions().every((r) => r.peers.length === 3 && r.peers.every((p) => p.role === 'voter')), 30_000);
      const proven = [...c.stores.values()].reduce((n, s) => n + (s.dataKeyGate?.stats.receiversProven ?? 0), 0);
      expect(proven).toBeGreaterThan(0);
      await until('store b applied the data', () => b.status().regions.some((r) => r.regionId !== PD_REGION_ID && r.applied > 0));

      const region = c.regions()[0];
      const get: StoreRequest = { type: 'txnGet', regionId: region.id, epoch: region.epoch, key: codec.text('k7'), ts: 2n ** 62n, timeoutMs: 2000 };
      const endpoint = c.rpc.endpoint(TEMP_STORE_ID_MIN + 1);
      const leader = [...c.stores.values()].find((s) => s.status().regions.some((r) => r.regionId === region.id && r.role === 'leader'))!;
      const refused = decodeStoreResponse(await endpoint.request(leader.storeId, encodeStoreRequest(get), { timeoutMs: 3000 }));
      expect(refused.type === 'failure' && refused.failure.kind).toBe('DataKeyUnproven');
      const proving = withDataKeyProof(endpoint, member.dataProofKey);
      const served = decodeStoreResponse(await proving.request(leader.storeId, encodeStoreRequest(get), { timeoutMs: 3000 }));
      expect(served.type === 'failure' ? served.failure : served.type).toBe('txn');

      // A restart is a new link: the caller is refused once more, proves again, and is served.
      await c.kill(first.storeId);
      const again = await c.join('dev-a', { device: 'a' });
      const after = decodeStoreResponse(await endpoint.request(again.storeId, encodeStoreRequest({ type: 'status', timeoutMs: 2000 }), { timeoutMs: 3000 }));
      expect(after.type).toBe('status');
      await until('a leader for the data region', () => [...c.stores.values()].some((s) => s.status().regions.some((r) => r.regionId === region.id && r.role === 'leader')));
      expect(codec.fromText((await kv.get(codec.text('k39')))!)).toBe('v39');
      const reread = decodeStoreResponse(await endpoint.request(again.storeId, encodeStoreRequest(get), { timeoutMs: 3000 }));
      expect(reread.type === 'failure' && reread.failure.kind).toBe('DataKeyUnproven');
      const proved = decodeStoreResponse(await proving.request(again.storeId, encodeStoreRequest(get), { timeoutMs: 3000 }));
      expect(proved.type).toBe('txn');
      for (const s of c.stores.values()) expect(s.status().stoppedReason).toBeUndefined();
    } finally {
      await c.close();
    }
  }, 90_000);
});
