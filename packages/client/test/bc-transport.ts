/**
 * BroadcastChannel transports for the network-cluster tests (`net-cluster`, `witness-net`):
 * one per store or client, closed by the test's cleanups.
 */
import { MemoryEngine, type KvEngine } from '@peerkv/storage';
import { MVCC_STORE_CFS, startNetworkStore, type NetworkStore, type NetworkStoreOptions } from '@peerkv/store';
import { BroadcastChannelTransport, type ClusterKeys, type LinkIdentityOptions } from '@peerkv/transport';

/** A transport factory over `keys` whose transports `cleanups` closes; a store's transport gets its link identity. */
export function bcTransportFactory(keys: ClusterKeys, cleanups: (() => unknown)[]): (storeId: number, identity?: LinkIdentityOptions) => BroadcastChannelTransport {
  return (storeId, identity) => {
    const tr = new BroadcastChannelTransport({ localStoreId: storeId, keys, heartbeatIntervalMs: 50, departureTimeoutMs: 400, ...identity });
    cleanups.push(() => tr.close());
    return tr;
  };
}

/** The network tests' store settings: fast ticks and heartbeats, no hibernation. */
export const TEST_NET_STORE = { tickIntervalMs: 10, heartbeatIntervalTicks: 5, hibernateAfterTicks: 1_000_000, requestTimeoutMs: 2000 };

/**
 * Starts a store of `clusterId` on BroadcastChannel with the tests' store settings and a 20 s
 * join budget (an empty memory engine unless `o.engine`), closed by `cleanups`.
 */
export async function startBcStore(clusterId: string, keys: ClusterKeys, cleanups: (() => unknown)[], o: Omit<Partial<NetworkStoreOptions>, 'engine'> & { address: string; engine?: KvEngine }): Promise<NetworkStore> {
  const ns = await startNetworkStore({
    clusterId,
    transportFactory: bcTransportFactory(keys, cleanups),
    store: TEST_NET_STORE,
    joinTimeoutMs: 20_000,
    ...o,
    engine: o.engine ?? (await MemoryEngine.open({ columnFamilies: MVCC_STORE_CFS })),
  });
  cleanups.push(() => ns.close());
  return ns;
}
