/**
 * `peerkv/browser-net`: a store in a browser page that joins a networked cluster (Node
 * `peerkv-store` processes, other browsers) over WebRTC through a signaling server, with
 * its data in IndexedDB, and a `PeerKV` client next to it.
 *
 * This module owns only the wiring: `IdbEngine` + the browser's native `WebRtcTransport` +
 * `startNetworkStore` (bootstrap, join through PD under a temporary id, or restart from the
 * engine's identity) + a client whose PD is reached by store RPC (`RemotePdService`, its own
 * store asked directly) and whose data requests to its own store skip the network.
 */
import { IdbEngine } from '@peerkv/storage';
import { STORE_CFS, isTempStoreId, startNetworkStore, type NetworkStore, type NetworkStoreOptions, type StoreStatus } from '@peerkv/store';
import { WebRtcTransport } from '@peerkv/transport';
import { PeerKV } from '../client.ts';
import { RemotePdService } from '../remote/remote-pd-service.ts';
import { RemoteStoreResolver } from '../remote/remote-store-resolver.ts';
import { deviceId } from '../browser/device-id.ts';

export { DEVICE_ID_STORAGE_KEY, deviceId } from '../browser/device-id.ts';

/** Default per-attempt request timeout of the page's client, ms. */
export const BROWSER_NET_REQUEST_TIMEOUT_MS_DEFAULT = 2000;
/** Default budget of one PD call of the page's client, ms. */
export const BROWSER_NET_PD_BUDGET_MS_DEFAULT = 10_000;

/** How to start a networked store in a page. */
export interface BrowserNetOptions {
  clusterId: string;
  /** Shared secret of the cluster (seals signaling, authenticates peers). */
  secret: string;
  /** Signaling server URL, e.g. `ws://127.0.0.1:4444`. */
  signalingUrl: string;
  /** STUN/TURN servers (default none: host candidates only; tests pass none). */
  iceServers?: RTCIceServer[];
  /** Create the cluster if this profile's database is empty (one device of a new cluster). */
  bootstrap?: boolean;
  /** See `NetworkStoreOptions.bootstrapProbeMs`, ms. */
  bootstrapProbeMs?: number;
  /** IndexedDB database name of the store. Default `peerkv-net-<clusterId>`. */
  dbName?: string;
  /** Reported to PD. Default `browser:<device id>/<dbName>` (device id kept in `localStorage`). */
  address?: string;
  labels?: Record<string, string>;
  /** Store settings (tick interval, timeouts...). */
  store?: NetworkStoreOptions['store'];
  /** Scheduling settings written to PD when this store bootstraps. */
  schedule?: NetworkStoreOptions['schedule'];
  /** Time a joining store keeps asking PD for an id, ms. */
  joinTimeoutMs?: number;
  /** Per-attempt request timeout of the client, ms. */
  requestTimeoutMs?: number;
  /** Budget of one PD call of the client, ms. */
  pdBudgetMs?: number;
}

/** A running networked store with its client. */
export interface BrowserNetNode {
  readonly net: NetworkStore;
  readonly engine: IdbEngine;
  readonly kv: PeerKV;
  readonly pd: RemotePdService;
  readonly stores: RemoteStoreResolver;
  readonly storeId: number;
  readonly started: NetworkStore['started'];
  /** The local store's status (regions, roles, leaders). */
  status(): StoreStatus;
  /** Member stores this page is connected to (temporary ids of clients and joiners left out). */
  members(): number[];
  /** Closes the client, the store, the transport and the database. */
  close(): Promise<void>;
}


/** Opens the profile's database and starts (bootstraps, joins or restarts) its store. */
export async function startBrowserNetStore(o: BrowserNetOptions): Promise<BrowserNetNode> {
  const dbName = o.dbName ?? `peerkv-net-${o.clusterId}`;
  const engine = await IdbEngine.open({ name: dbName, columnFamilies: STORE_CFS });
  let net: NetworkStore;
  try {
    net = await startNetworkStore({
      engine,
      clusterId: o.clusterId,
      bootstrap: o.bootstrap ?? false,
      ...(o.bootstrapProbeMs !== undefined ? { bootstrapProbeMs: o.bootstrapProbeMs } : {}),
      address: o.address ?? `browser:${deviceId()}/${dbName}`,
      labels: o.labels ?? {},
      ...(o.store ? { store: o.store } : {}),
      ...(o.schedule ? { schedule: o.schedule } : {}),
      ...(o.joinTimeoutMs !== undefined ? { joinTimeoutMs: o.joinTimeoutMs } : {}),
      transportFactory: (storeId) => WebRtcTransport.create({ localStoreId: storeId, clusterId: o.clusterId, secret: o.secret, signalingUrl: o.signalingUrl, iceServers: o.iceServers ?? [] }),
    });
  } catch (e) {
    await engine.close();
    throw e;
  }
  const { store, transport } = net;
  const members = (): number[] => transport.peers().filter((id) => !isTempStoreId(id));
  const pd = new RemotePdService(transport, { candidates: members, local: () => store, budgetMs: o.pdBudgetMs ?? BROWSER_NET_PD_BUDGET_MS_DEFAULT });
  const requestTimeoutMs = o.requestTimeoutMs ?? BROWSER_NET_REQUEST_TIMEOUT_MS_DEFAULT;
  const stores = new RemoteStoreResolver(transport, { local: store, reachable: members, requestTimeoutMs });
  const kv = new PeerKV({ pd, stores, localStoreId: store.storeId, requestTimeoutMs });
  return {
    net,
    engine,
    kv,
    pd,
    stores,
    storeId: store.storeId,
    started: net.started,
    status: () => store.status(),
    members,
    close: async () => {
      kv.close();
      await net.close();
      await engine.close();
    },
  };
}
