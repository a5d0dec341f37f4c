/**
 * The dedicated Worker of the host tab: it owns the profile's `EmbeddedCluster` (stores on
 * IndexedDB, Raft ticks, the PeerKV client) and exposes `WorkerApi` through comlink.
 */
import * as Comlink from 'comlink';
import { IdbEngine } from '@peerkv/storage';
import { EmbeddedCluster, type EmbeddedClusterOptions } from './embedded-cluster.ts';
import { toWireError, type KvRequest, type Reply } from './protocol.ts';

/** What the host page can ask its Worker. */
export interface WorkerApi {
  /** Opens (or reopens) the cluster; a failure comes back as a reply, not a throw. */
  open(o: Omit<EmbeddedClusterOptions, 'openEngine' | 'now'>): Promise<Reply>;
  call(req: KvRequest): Promise<Reply>;
  /** `navigator.storage.estimate()` from the Worker, bytes. */
  estimate(): Promise<{ usageBytes: number; quotaBytes: number } | undefined>;
  close(): Promise<void>;
}

let cluster: EmbeddedCluster | undefined;

const api: WorkerApi = {
  async open(o) {
    try {
      cluster = await EmbeddedCluster.open({
        ...o,
        openEngine: (name, cfs) => IdbEngine.open({ name, columnFamilies: cfs }),
        now: () => performance.now(),
      });
      return { ok: true, value: undefined };
    } catch (e) {
      return { ok: false, error: toWireError(e) };
    }
  },
  async call(req) {
    if (!cluster) return { ok: false, error: { kind: 'Closed', message: 'the cluster is not open' } };
    return cluster.call(req);
  },
  async estimate() {
    const s = (globalThis.navigator as Navigator | undefined)?.storage;
    if (!s?.estimate) return undefined;
    const e = await s.estimate();
    return { usageBytes: e.usage ?? 0, quotaBytes: e.quota ?? 0 };
  },
  async close() {
    await cluster?.close();
    cluster = undefined;
  },
};

Comlink.expose(api);
