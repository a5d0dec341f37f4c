/**
 * One store of `bench:cluster`'s per-thread cluster, in its own worker thread as stores are
 * deployed (one event loop each): a LevelDB engine in `dataDir`, `startNetworkStore` over a
 * `BroadcastChannelTransport` (Node's BroadcastChannel reaches every thread of the process),
 * bootstrapping the cluster or joining it through PD. Posts `{ serving, storeId }`, then
 * closes the store and its engine when the parent posts `close` and posts `{ closed }`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { LevelEngine } from '@peerkv/storage/level';
// The cipher alone: `@peerkv/node`'s entry loads the native WebRTC module, in every thread.
import { nodeEntryCipher } from '@peerkv/node/cipher';
import { STORE_CFS, startNetworkStore } from '@peerkv/store';
import { BroadcastChannelTransport, deriveMemberKeys } from '@peerkv/transport';

export interface StoreThreadData {
  entry: string;
  cluster: string;
  secret: string;
  dataDir: string;
  bootstrap: boolean;
  tickIntervalMs: number;
}

const d = workerData as StoreThreadData;
// A member's three keys: the data key seals every write, as in a deployed store (`BENCH_SEAL=0`: not).
const { keys, dataKey } = await deriveMemberKeys(d.cluster, d.secret, 1);
const engine = await LevelEngine.open({ location: d.dataDir, columnFamilies: STORE_CFS });
const ns = await startNetworkStore({
  engine,
  clusterId: d.cluster,
  bootstrap: d.bootstrap,
  address: `bench-thread:${d.dataDir}`,
  store: { dataModel: 'raw', tickIntervalMs: d.tickIntervalMs, hibernateAfterTicks: 1_000_000, logGcThresholdEntries: 5000, logGcKeepEntries: 100, ...(process.env.BENCH_SEAL === '0' ? {} : { entryCipher: nodeEntryCipher(dataKey) }) },
  transportFactory: (storeId, identity) => new BroadcastChannelTransport({ localStoreId: storeId, keys, ...identity }),
});
parentPort!.on('message', (m: unknown) => {
  if (m !== 'close') return;
  // The engine too, before the parent terminates this thread.
  void ns
    .close()
    .then(() => engine.close())
    .then(() => parentPort!.postMessage({ closed: true }));
});
parentPort!.postMessage({ serving: true, storeId: ns.store.storeId });
