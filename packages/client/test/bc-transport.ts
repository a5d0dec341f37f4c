/**
 * BroadcastChannel transports for the network-cluster tests (`net-cluster`, `witness-net`):
 * one per store or client, closed by the test's cleanups.
 */
import { MemoryEngine, type KvEngine } from '@peerkv/storage';
import { MVCC_STORE_CFS, PD_REGION_ID, readStoreKeyPair, startNetworkStore, type NetworkStore, type NetworkStoreOptions } from '@peerkv/store';
import { BroadcastChannelTransport, type ClusterKeys, type LinkIdentityOptions, type StoreKeyPair } from '@peerkv/transport';
import { until } from './until.ts';

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

/**
 * Starts three stores of `clusterId` (the first bootstraps; a store down 120 s is not
 * replaced) and waits until PD's group has a voter on each.
 */
export async function startThreePdStores(clusterId: string, keys: ClusterKeys, cleanups: (() => unknown)[]): Promise<[NetworkStore, NetworkStore, NetworkStore]> {
  const first = await startBcStore(clusterId, keys, cleanups, { bootstrap: true, address: 'dev-0', schedule: { maxStoreDownTimeMs: 120_000 } });
  const second = await startBcStore(clusterId, keys, cleanups, { address: 'dev-1' });
  const third = await startBcStore(clusterId, keys, cleanups, { address: 'dev-2' });
  const all: [NetworkStore, NetworkStore, NetworkStore] = [first, second, third];
  await until('3 replicas of PD on the first three', () =>
    all.every((n) => n.store.status().regions.some((r) => r.regionId === PD_REGION_ID && r.peers.length === 3 && r.peers.every((p) => p.role === 'voter'))),
  );
  return all;
}

/**
 * A liar for the lying-member tests: a store that joins like any other (PD records its key,
 * seen through `pd`), then closes, leaving its id and key pair for a transport the test drives.
 */
export async function registeredThenClosed(clusterId: string, keys: ClusterKeys, cleanups: (() => unknown)[], pd: NetworkStore): Promise<{ storeId: number; keyPair: StoreKeyPair }> {
  const engine = await MemoryEngine.open({ columnFamilies: MVCC_STORE_CFS });
  const ns = await startBcStore(clusterId, keys, cleanups, { address: 'dev-liar', engine });
  const storeId = ns.store.storeId;
  const keyPair = (await readStoreKeyPair(engine))!;
  await until('the liar’s key in PD', () => pd.store.pdState()!.getStore(storeId)?.meta.publicKey !== undefined);
  await ns.close();
  return { storeId, keyPair };
}
