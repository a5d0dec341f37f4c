/**
 * `WorkerApi`: what the host page asks its Worker, over comlink. `createWorkerApi` builds it
 * around an engine opener (IndexedDB in the real Worker, memory in Node tests) and, for the
 * networked runtime, a maker of WebRTC peers bridged to the page (Workers have no
 * `RTCPeerConnection`; the page runs the peers and relays their events over a `MessagePort`).
 */
import type { PeerFactory } from '@peerkv/transport';
import { EmbeddedCluster, type EmbeddedClusterOptions } from './embedded-cluster.ts';
import { NetHost, type NetHostDeps, type NetHostOptions } from './net-host.ts';
import { toWireError, type Reply, type TabRequest } from './protocol.ts';

/** The options that cross from the page (structured-cloneable): which runtime, and its settings. */
export type WorkerOpenOptions = ({ mode: 'embedded' } & Omit<EmbeddedClusterOptions, 'openEngine' | 'now'>) | ({ mode: 'net' } & NetHostOptions);

/** What the host page can ask its Worker. */
export interface WorkerApi {
  /**
   * Opens (or reopens) the profile's store(s); a failure comes back as a reply, not a throw.
   * `peerPort` carries the page-side WebRTC peers of the networked runtime.
   */
  open(o: WorkerOpenOptions, peerPort?: MessagePort): Promise<Reply>;
  call(req: TabRequest): Promise<Reply>;
  /**
   * Marks the networked store draining (PD moves its leaders away; draining waits up to
   * `graceMs` for its leaderships to move) or serving again; returns the regions asked to move.
   */
  setDraining(draining: boolean, graceMs?: number): Promise<number>;
  /** `navigator.storage.estimate()` where the Worker runs, bytes. */
  estimate(): Promise<{ usageBytes: number; quotaBytes: number } | undefined>;
  close(): Promise<void>;
}

/** What the Worker provides to the runtimes. */
export interface WorkerDeps {
  openEngine: EmbeddedClusterOptions['openEngine'];
  /** Peers over `port` (the page side runs `servePeers`); absent: WebRTC transports use the global peer maker. */
  peersOver?: (port: MessagePort) => PeerFactory;
  /** The profile's IndexedDB database names (see `NetHostDeps.databaseNames`). */
  databaseNames?: NetHostDeps['databaseNames'];
}

type Hosted = EmbeddedCluster | NetHost;

async function estimate(): Promise<{ usageBytes: number; quotaBytes: number } | undefined> {
  const s = (globalThis.navigator as Navigator | undefined)?.storage;
  if (!s?.estimate) return undefined;
  const e = await s.estimate();
  return { usageBytes: e.usage ?? 0, quotaBytes: e.quota ?? 0 };
}

/** The Worker's API over `deps`. */
export function createWorkerApi(deps: WorkerDeps | WorkerDeps['openEngine']): WorkerApi {
  const d: WorkerDeps = typeof deps === 'function' ? { openEngine: deps } : deps;
  let hosted: Hosted | undefined;
  const now = (): number => performance.now();
  return {
    async open(o, peerPort) {
      try {
        if (o.mode === 'net') {
          const { mode: _, ...net } = o;
          const capacityBytes = net.capacityBytes ?? (await estimate().catch(() => undefined))?.quotaBytes;
          const peerFactory = peerPort && d.peersOver ? d.peersOver(peerPort) : undefined;
          hosted = await NetHost.open({ ...net, ...(capacityBytes ? { capacityBytes } : {}) }, { openEngine: d.openEngine, now, ...(peerFactory ? { peerFactory } : {}), ...(d.databaseNames ? { databaseNames: d.databaseNames } : {}) });
        } else {
          const { mode: _, ...embedded } = o;
          hosted = await EmbeddedCluster.open({ ...embedded, openEngine: d.openEngine, now });
        }
        return { ok: true, value: undefined };
      } catch (e) {
        return { ok: false, error: toWireError(e) };
      }
    },
    async call(req) {
      if (!hosted) return { ok: false, error: { kind: 'Closed', message: 'the store is not open' } };
      return hosted.call(req);
    },
    async setDraining(draining, graceMs) {
      return hosted instanceof NetHost ? hosted.setDraining(draining, graceMs) : 0;
    },
    estimate,
    async close() {
      await hosted?.close();
      hosted = undefined;
    },
  };
}
