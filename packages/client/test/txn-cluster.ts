/**
 * The cluster the client's transaction tests share: three mvcc stores (the txn column
 * families) under one `PdCluster` with PD, clients made on it, all closed after each test.
 */
import { afterEach } from 'vitest';
import { MemoryDisk, MemoryEngine } from '@peerkv/storage';
import type { LocalRouterOptions, Store, StoreOptions } from '@peerkv/store';
import { PdCluster, PeerKV } from '../src/index.ts';
import { until } from './until.ts';

export const TXN_CFS = ['default', 'lock', 'write'];
let cluster: PdCluster | undefined;
let clients: PeerKV[] = [];

/** Closes the clients and the cluster after each test of the calling file. */
export function closeTxnClusterAfterEach(): void {
  afterEach(async () => {
    for (const c of clients) c.close();
    clients = [];
    await cluster?.close();
    cluster = undefined;
  });
}

/** A store's resolved ts: the least safe ts over its data regions' replicas (0 with none). */
export function safeTsOf(store: Store): bigint {
  const s = store as unknown as { ctx: { peers: Map<number, { safeTs: bigint; region: { id: number } }> } };
  let min: bigint | undefined;
  for (const p of s.ctx.peers.values()) if (p.region.id !== 1 && (min === undefined || p.safeTs < min)) min = p.safeTs;
  return min ?? 0n;
}

/** Starts the cluster (a data region with three voters; `store` adds store options, `router` the network's behaviour) and a maker of clients on it. */
export async function start(store: Partial<Pick<StoreOptions, 'safeTsIntervalMs' | 'pdGc'>> = {}, router?: LocalRouterOptions): Promise<{ c: PdCluster; kv: (dataModel?: 'raw' | 'mvcc') => PeerKV }> {
  const disks = new Map<string, MemoryDisk>();
  const c = new PdCluster({
    openEngine: async (name, cfs) => {
      if (!disks.has(name)) disks.set(name, new MemoryDisk());
      return MemoryEngine.open({ columnFamilies: cfs, disk: disks.get(name) });
    },
    // Only the model is named: PdCluster opens each engine with the mvcc column families, and
    // the stores take them (`dataColumnFamiliesOf`).
    store: { tickIntervalMs: 10, heartbeatIntervalTicks: 5, dataModel: 'mvcc', ...store },
    ...(router ? { router } : {}),
  });
  cluster = c;
  await c.bootstrap('a');
  await c.join('b');
  await c.join('c');
  const kv = (dataModel: 'raw' | 'mvcc' = 'raw'): PeerKV => {
    const x = new PeerKV({ pd: c, stores: c, dataModel });
    clients.push(x);
    return x;
  };
  await until('data region has three voters', () => c.regions().some((r) => r.id !== 1 && r.peers.filter((p) => p.role === 'voter').length === 3));
  return { c, kv };
}
