/**
 * `WorkerApi`: what the host page asks its Worker, over comlink. `createWorkerApi` builds it
 * around an engine opener (IndexedDB in the real Worker, memory in Node tests).
 */
import { EmbeddedCluster, type EmbeddedClusterOptions } from './embedded-cluster.ts';
import { toWireError, type KvRequest, type Reply } from './protocol.ts';

/** The cluster options that cross from the page (structured-cloneable). */
export type WorkerOpenOptions = Omit<EmbeddedClusterOptions, 'openEngine' | 'now'>;

/** What the host page can ask its Worker. */
export interface WorkerApi {
  /** Opens (or reopens) the cluster; a failure comes back as a reply, not a throw. */
  open(o: WorkerOpenOptions): Promise<Reply>;
  call(req: KvRequest): Promise<Reply>;
  /** `navigator.storage.estimate()` where the Worker runs, bytes. */
  estimate(): Promise<{ usageBytes: number; quotaBytes: number } | undefined>;
  close(): Promise<void>;
}

/** The Worker's API over `openEngine(database, columnFamilies)`. */
export function createWorkerApi(openEngine: EmbeddedClusterOptions['openEngine']): WorkerApi {
  let cluster: EmbeddedCluster | undefined;
  return {
    async open(o) {
      try {
        cluster = await EmbeddedCluster.open({ ...o, openEngine, now: () => performance.now() });
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
}
