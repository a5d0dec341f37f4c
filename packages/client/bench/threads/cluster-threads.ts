/**
 * `bench:cluster`'s per-thread cluster: each store in its own worker thread (`store-thread.ts`,
 * LevelDB, `strict` durability), linked over BroadcastChannel, bootstrapped and joined as
 * `peerkv-store` does (`startNetworkStore`: PD adds the joiners as voters), and the clients in
 * the main thread as a client that is not a store (a temporary id, `RemotePdService` and
 * `RemoteStoreResolver` over the same kind of transport).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { randomTempStoreId } from '@peerkv/store';
import { BroadcastChannelTransport, deriveClusterKeys } from '@peerkv/transport';
import { PeerKV, RemotePdService, RemoteStoreResolver } from '../../src/index.ts';
import { until } from '../bench-util.ts';
import type { StoreThreadData } from './store-thread.ts';

/** Time one store thread may take to start serving, ms. */
const STORE_THREAD_START_MS_MAX = 60_000;
/** Time the cluster may take to reach its voters and a leader, ms. */
const CLUSTER_READY_MS_MAX = 60_000;
/** Time one store thread may take to close, ms. */
const STORE_THREAD_CLOSE_MS_MAX = 20_000;
/** The clients' per-attempt request timeout, ms. */
const CLIENT_REQUEST_TIMEOUT_MS = 5_000;

/** A running per-thread cluster and its clients. */
export interface ThreadCluster {
  clients: PeerKV[];
  close(): Promise<void>;
}

function startStoreThread(data: Omit<StoreThreadData, 'entry'>): Promise<{ worker: Worker; storeId: number }> {
  const worker = new Worker(new URL('./boot.mjs', import.meta.url), { workerData: { ...data, entry: new URL('./store-thread.ts', import.meta.url).href } satisfies StoreThreadData });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`bench: a store thread did not serve within ${STORE_THREAD_START_MS_MAX} ms`)), STORE_THREAD_START_MS_MAX);
    worker.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    worker.on('message', (m: { serving?: boolean; storeId?: number }) => {
      if (!m.serving) return;
      clearTimeout(timer);
      resolve({ worker, storeId: m.storeId! });
    });
  });
}

function closeStoreThread(worker: Worker): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => void worker.terminate().then(() => resolve()), STORE_THREAD_CLOSE_MS_MAX);
    worker.on('message', (m: { closed?: boolean }) => {
      if (!m.closed) return;
      clearTimeout(timer);
      void worker.terminate().then(() => resolve());
    });
    worker.postMessage('close');
  });
}

/** Starts `stores` store threads (the first bootstraps), waits until the data region has them all as voters, and makes `clients` clients. */
export async function startThreadCluster(stores: number, clients: number, tickIntervalMs: number): Promise<ThreadCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'peerkv-bench-threads-'));
  const cluster = `bench-${randomTempStoreId()}`;
  const secret = 'bench-secret';
  const workers: Worker[] = [];
  const ids: number[] = [];
  const start = async (i: number) => {
    const t = await startStoreThread({ cluster, secret, dataDir: join(dir, `store-${i}`), bootstrap: i === 0, tickIntervalMs });
    workers.push(t.worker);
    ids.push(t.storeId);
  };
  await start(0);
  await Promise.all(Array.from({ length: stores - 1 }, (_, i) => start(i + 1)));
  const tr = new BroadcastChannelTransport({ localStoreId: randomTempStoreId(), keys: await deriveClusterKeys(cluster, secret, 1) });
  await until('the client reaches every store', () => ids.every((id) => tr.peers().includes(id)), CLUSTER_READY_MS_MAX);
  const pd = new RemotePdService(tr, { candidates: () => tr.peers(), budgetMs: 10_000, attemptTimeoutMs: CLIENT_REQUEST_TIMEOUT_MS });
  const resolver = new RemoteStoreResolver(tr, { requestTimeoutMs: CLIENT_REQUEST_TIMEOUT_MS, reachable: () => tr.peers() });
  const kvs = Array.from({ length: clients }, () => new PeerKV({ dataModel: 'raw', pd, stores: resolver, requestTimeoutMs: CLIENT_REQUEST_TIMEOUT_MS }));
  await until(`the data region has ${stores} voters`, async () => {
    const r = await pd.getRegion(new TextEncoder().encode('c0-k0')).catch(() => undefined);
    return r !== undefined && r.region.peers.filter((p) => p.role === 'voter').length === stores && r.leader !== undefined;
  }, CLUSTER_READY_MS_MAX);
  return {
    clients: kvs,
    async close() {
      for (const kv of kvs) await kv.close();
      await tr.close();
      await Promise.all(workers.map(closeStoreThread));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
