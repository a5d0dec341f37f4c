/**
 * Pessimistic transactions across processes: three mvcc stores and a client, each on its own
 * `BroadcastChannelTransport` (Node's BroadcastChannel), PD reached only by store RPC. A lock
 * wait's deadlock detection travels from the waiting store to PD's leader as a
 * `txnDetectDeadlock` request (`RemotePdClient`'s `PdCaller`), exactly as in one process:
 * two transactions locking two keys in opposite order, one `Deadlock`, the other commits.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryEngine } from '@peerkv/storage';
import { BOOTSTRAP_IDS, PD_REGION_ID, randomTempStoreId, startNetworkStore, storeColumnFamilies, type NetworkStore } from '@peerkv/store';
import { BroadcastChannelTransport, deriveClusterKeys, type ClusterKeys, type LinkIdentityOptions } from '@peerkv/transport';
import { PeerKV, PeerKVError, RemotePdService, RemoteStoreResolver, codec } from '../src/index.ts';
import { TXN_CFS } from './txn-cluster.ts';
import { until } from './until.ts';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A store's transport is given its link identity (`startNetworkStore`'s contract: a join's key is recorded only from a link that proved it). */
function transport(keys: ClusterKeys, storeId: number, identity?: LinkIdentityOptions): BroadcastChannelTransport {
  const tr = new BroadcastChannelTransport({ localStoreId: storeId, keys, heartbeatIntervalMs: 50, departureTimeoutMs: 400, ...identity });
  cleanups.push(() => tr.close());
  return tr;
}

async function startStore(clusterId: string, keys: ClusterKeys, i: number): Promise<NetworkStore> {
  const ns = await startNetworkStore({
    clusterId,
    transportFactory: (id, identity) => transport(keys, id, identity),
    store: { tickIntervalMs: 10, heartbeatIntervalTicks: 5, hibernateAfterTicks: 1_000_000, requestTimeoutMs: 2000, dataColumnFamilies: TXN_CFS, dataModel: 'mvcc' },
    joinTimeoutMs: 20_000,
    bootstrap: i === 0,
    address: `dev-${i}`,
    labels: { device: `d${i}` },
    engine: await MemoryEngine.open({ columnFamilies: storeColumnFamilies(TXN_CFS) }),
  });
  cleanups.push(() => ns.close());
  return ns;
}

describe('pessimistic transactions over the network', () => {
  it('opposite-order locking across processes: the detector on PD\'s leader answers Deadlock to one, the other commits', async () => {
    const clusterId = `pess-${randomTempStoreId()}`;
    const keys = await deriveClusterKeys(clusterId, 'secret', 1000);
    const all = [await startStore(clusterId, keys, 0), await startStore(clusterId, keys, 1), await startStore(clusterId, keys, 2)];
    await until('3 replicas of PD and data on every store', () =>
      all.every((n) => [PD_REGION_ID, BOOTSTRAP_IDS.dataRegion].every((id) => n.store.status().regions.some((r) => r.regionId === id && r.peers.length === 3 && r.peers.every((p) => p.role === 'voter')))),
    );
    const client = (): PeerKV => {
      const tr = transport(keys, randomTempStoreId());
      const kv = new PeerKV({ pd: new RemotePdService(tr, { candidates: () => tr.peers(), budgetMs: 8000, attemptTimeoutMs: 1000 }), stores: new RemoteStoreResolver(tr, { requestTimeoutMs: 1000, reachable: () => tr.peers() }), requestTimeoutMs: 1000 });
      cleanups.push(() => kv.close());
      return kv;
    };
    const [a, b] = [client(), client()];
    await until('clients see the stores', async () => {
      try {
        await a.transaction(async (tx) => tx.put(codec.text('p'), codec.text('0')));
        return true;
      } catch {
        return false;
      }
    });
    // The data region's leader (where locks wait) moved off PD's leader (the detector): detection is a network hop.
    const dataLeader = (): NetworkStore | undefined => all.find((n) => n.store.status().regions.some((r) => r.regionId === BOOTSTRAP_IDS.dataRegion && r.role === 'leader'));
    await until('a data leader and a PD leader', () => dataLeader() !== undefined && all.some((n) => n.store.pdIsLeader()));
    const pdHost = all.find((n) => n.store.pdIsLeader())!;
    if (dataLeader() === pdHost) {
      const target = all.find((n) => n !== pdHost)!;
      const peer = pdHost.store.status().regions.find((r) => r.regionId === BOOTSTRAP_IDS.dataRegion)!.peers.find((p) => p.storeId === target.store.storeId)!;
      pdHost.store.transferLeader(BOOTSTRAP_IDS.dataRegion, peer.id);
      await until('the data leader moved off PD\'s leader', () => dataLeader() === target);
    }
    let arrived = 0;
    let open!: () => void;
    const bothLocked = new Promise<void>((r) => (open = r));
    const cross = (x: PeerKV, first: string, second: string): Promise<string> =>
      x.transaction(
        async (tx) => {
          await tx.getForUpdate(codec.text(first));
          if (++arrived === 2) open();
          await bothLocked;
          await tx.getForUpdate(codec.text(second));
          tx.put(codec.text(second), codec.text(`by-${first}`));
          return first;
        },
        { pessimistic: true, retriesMax: 0, waitTimeoutMs: 20_000 },
      );
    const t0 = Date.now();
    const outcomes = await Promise.allSettled([cross(a, 'p', 'q'), cross(b, 'q', 'p')]);
    expect(Date.now() - t0).toBeLessThan(10_000);
    const lost = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0].reason).toBeInstanceOf(PeerKVError);
    expect((lost[0].reason as PeerKVError).kind).toBe('Deadlock');
  });
});
