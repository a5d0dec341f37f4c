/**
 * `PeerKV.connect`: a Node client of a networked cluster that is not a store. It holds no
 * data: it joins the cluster's signaling topic under a temporary id from the reserved range
 * (`randomTempStoreId`, never allocated by PD, skipped by PD callers and never given a
 * replica), lets the stores dial it over WebRTC (`@roamhq/wrtc`; the smaller id dials, and
 * store ids are below every temporary id), and routes through PD by store RPC
 * (`RemotePdService`) to the stores' request API (`RemoteStoreResolver`). It is the
 * in-process `PeerKV` in every other way: reads, writes, scans, batches, transactions and
 * snapshots. `kv.admin` reaches what an operator needs (`admin.ts`).
 *
 * `close()` stops the client and the transport (the signaling socket, every data channel, every
 * timer), so a process that has nothing else to do exits by itself.
 */
import { PeerKeyAnchorError, PeerKeyBook, checkPeerKeyAnchors, pdKeyLookup, randomTempStoreId, type PeerKeyAnchor, type PeerKeyCounters } from '@peerkv/store';
import { deriveOperatorKey, iceTransportPolicyProblem, SIGNALING_CLIENT_URLS_MAX, type WebRtcTransport } from '@peerkv/transport';
import { PeerKV, PeerKVError, RemotePdService, RemoteStoreResolver, type ClientOptions } from 'peerkv';
import { ClusterAdmin } from './admin.ts';
import { nodeWebRtcTransport } from './node-webrtc.ts';

/**
 * The data model `connect` speaks when none is named: `mvcc`, as the browser runtime's
 * (`BROWSER_DATA_MODEL_DEFAULT` in `peerkv/browser`), so a Node client and a browser agree on
 * a cluster by default. It must match the stores' (`peerkv-store` serves both).
 */
export const CONNECT_DATA_MODEL_DEFAULT = 'mvcc' as const;
/** Default time `connect` waits for a store to connect and PD to answer, ms. */
export const CONNECT_TIMEOUT_MS_DEFAULT = 20_000;
/** Longest `connectTimeoutMs`, ms. */
export const CONNECT_TIMEOUT_MS_MAX = 300_000;
/** Default per-attempt request timeout, ms. */
export const CONNECT_REQUEST_TIMEOUT_MS_DEFAULT = 2000;
/** Default budget of one PD call across stores and retries, ms. */
export const CONNECT_PD_BUDGET_MS_DEFAULT = 10_000;
/** Longest cluster name, characters. */
export const CLUSTER_NAME_CHARS_MAX = 256;
/** Longest secret, characters. */
export const SECRET_CHARS_MAX = 4096;
/** ICE servers one client may name. */
export const ICE_SERVERS_MAX = 8;
/** Longest wait in `close()` for PD to drop the client's GC registration, ms. */
export const CLOSE_DEREGISTER_MS_MAX = 2000;
/** Poll period while waiting for the first store, ms. */
const CONNECT_POLL_MS = 50;

/** How to reach a cluster. */
export interface ConnectOptions {
  /** The cluster name (the signaling topic). */
  cluster: string;
  /** The cluster's shared secret (seals signaling, authenticates every link). Required. */
  secret: string;
  /**
   * The signaling server, `ws://host:port` or `wss://…`, or the URLs of several processes of one
   * deployment that share topics (`peerkv-signaling --redis`, at most `SIGNALING_CLIENT_URLS_MAX`):
   * one is used at a time, the next when it fails.
   */
  signaling: string | readonly string[];
  /** STUN/TURN servers (default none: host candidates only, e.g. one machine or a LAN). */
  iceServers?: RTCIceServer[];
  /** `relay`: TURN relay candidates only, every link through a `turn:` server of `iceServers` (default `all`). */
  iceTransportPolicy?: 'all' | 'relay';
  /** The stores' data model (default `CONNECT_DATA_MODEL_DEFAULT`, `mvcc`). */
  dataModel?: 'raw' | 'mvcc';
  /** How long to wait for a store to connect and PD to answer, ms (default `CONNECT_TIMEOUT_MS_DEFAULT`). */
  connectTimeoutMs?: number;
  /** Per-attempt request timeout, ms (default `CONNECT_REQUEST_TIMEOUT_MS_DEFAULT`). */
  requestTimeoutMs?: number;
  /** Budget of one PD call, ms (default `CONNECT_PD_BUDGET_MS_DEFAULT`). */
  pdBudgetMs?: number;
  /** The client's write identity (random by default). */
  clientId?: string;
  /**
   * The operator secret: `kv.admin`'s split, leader transfer and drain are signed with its key
   * (`deriveOperatorKey`), which stores check. Default: the cluster secret (stores started
   * without `--operator-secret` accept that).
   */
  operatorSecret?: string;
  /**
   * PD voters' store ids and keys from a version 2 invite (`decodeInvite(code).anchors`; at
   * most `PEER_KEY_ANCHORS_MAX`): the client believes them without asking and refuses a store
   * claiming one of those ids with another key (`PeerKeyBook` anchors), so a liar that is all
   * of PD the client reaches cannot pose as those voters. `connect({ ...decodeInvite(code) })`
   * passes them. Default none. Held in memory only (a client keeps nothing).
   */
  anchors?: readonly PeerKeyAnchor[];
}

/** What `checkConnectOptions` settles: every default filled in. */
export interface ConnectSettings extends Required<Omit<ConnectOptions, 'clientId' | 'iceServers' | 'operatorSecret'>> {
  iceServers: RTCIceServer[];
  iceTransportPolicy: 'all' | 'relay';
  clientId?: string;
  operatorSecret?: string;
}

const ICE_SCHEMES = ['stun:', 'stuns:', 'turn:', 'turns:'];

/** `o` with defaults, or `PeerKVError('InvalidArgument')` naming what is wrong. Throws nothing else. */
export function checkConnectOptions(o: ConnectOptions): ConnectSettings {
  const bad = (what: string): never => {
    throw new PeerKVError('InvalidArgument', what);
  };
  if (typeof o !== 'object' || o === null) bad('connect needs an options object');
  if (typeof o.cluster !== 'string' || o.cluster === '' || o.cluster.length > CLUSTER_NAME_CHARS_MAX) bad(`cluster must be a name of 1..${CLUSTER_NAME_CHARS_MAX} characters`);
  const signalingUrls: unknown[] = Array.isArray(o.signaling) ? o.signaling : [o.signaling];
  if (signalingUrls.length === 0 || signalingUrls.length > SIGNALING_CLIENT_URLS_MAX) bad(`signaling must be 1..${SIGNALING_CLIENT_URLS_MAX} URLs, got ${signalingUrls.length}`);
  for (const u of signalingUrls) if (typeof u !== 'string' || !isWsUrl(u)) bad(`signaling must be a ws:// or wss:// URL, got ${JSON.stringify(String(u).slice(0, 100))}`);
  if (typeof o.secret !== 'string' || o.secret === '') bad('a cluster reached through signaling needs a secret');
  if (o.secret.length > SECRET_CHARS_MAX) bad(`secret is over ${SECRET_CHARS_MAX} characters`);
  if (o.operatorSecret !== undefined && (typeof o.operatorSecret !== 'string' || o.operatorSecret === '' || o.operatorSecret.length > SECRET_CHARS_MAX)) bad(`operatorSecret must be 1..${SECRET_CHARS_MAX} characters`);
  const iceServers = o.iceServers ?? [];
  if (!Array.isArray(iceServers) || iceServers.length > ICE_SERVERS_MAX) bad(`iceServers must be an array of at most ${ICE_SERVERS_MAX}`);
  for (const s of iceServers) {
    const urls = typeof s?.urls === 'string' ? [s.urls] : s?.urls;
    if (!Array.isArray(urls) || urls.length === 0 || urls.some((u) => typeof u !== 'string' || !ICE_SCHEMES.some((p) => u.startsWith(p)))) {
      bad(`an ICE server's urls must be stun:, stuns:, turn: or turns: URLs, got ${JSON.stringify(s?.urls)}`);
    }
  }
  const iceTransportPolicy = o.iceTransportPolicy ?? 'all';
  const policyProblem = iceTransportPolicyProblem(iceServers, iceTransportPolicy);
  if (policyProblem) bad(policyProblem);
  const anchors = o.anchors ?? [];
  if (!Array.isArray(anchors)) bad('anchors must be a list of { storeId, publicKey }');
  try {
    checkPeerKeyAnchors(anchors);
  } catch (e) {
    if (e instanceof PeerKeyAnchorError) bad(`anchors: ${e.message}`);
    throw e;
  }
  const dataModel = o.dataModel ?? CONNECT_DATA_MODEL_DEFAULT;
  if (dataModel !== 'raw' && dataModel !== 'mvcc') bad(`dataModel is 'raw' or 'mvcc', not ${String(dataModel)}`);
  const ms = (name: string, v: number | undefined, dflt: number, max = CONNECT_TIMEOUT_MS_MAX): number => {
    const x = v ?? dflt;
    if (!Number.isSafeInteger(x) || x < 1 || x > max) bad(`${name} must be an integer in 1..${max} ms`);
    return x;
  };
  return {
    cluster: o.cluster,
    secret: o.secret,
    signaling: o.signaling,
    iceServers,
    iceTransportPolicy,
    dataModel,
    anchors,
    connectTimeoutMs: ms('connectTimeoutMs', o.connectTimeoutMs, CONNECT_TIMEOUT_MS_DEFAULT),
    requestTimeoutMs: ms('requestTimeoutMs', o.requestTimeoutMs, CONNECT_REQUEST_TIMEOUT_MS_DEFAULT),
    pdBudgetMs: ms('pdBudgetMs', o.pdBudgetMs, CONNECT_PD_BUDGET_MS_DEFAULT),
    ...(o.clientId !== undefined ? { clientId: o.clientId } : {}),
    ...(o.operatorSecret !== undefined ? { operatorSecret: o.operatorSecret } : {}),
  };
}

function isWsUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return (u.protocol === 'ws:' || u.protocol === 'wss:') && u.hostname !== '';
  } catch {
    return false;
  }
}

/** The parts a connected client runs on. */
interface Wiring {
  transport: WebRtcTransport;
  admin: ClusterAdmin;
  settings: ConnectSettings;
  /** The stores' keys this client accepts (anchored ones first). */
  peerKeys: PeerKeyBook;
  /** Stops the store-key checks' sweep. */
  stopKeys: () => void;
}

/** A `PeerKV` connected to a networked cluster from Node; see the module header. */
export class NodePeerKV extends PeerKV {
  /** The cluster name. */
  readonly cluster: string;
  /** Status, membership and the operator's requests (split, transfer-leader). */
  readonly admin: ClusterAdmin;
  private readonly transport: WebRtcTransport;
  private readonly peerKeys: PeerKeyBook;
  private readonly stopKeys: () => void;
  private released = false;

  private constructor(w: Wiring, o: ClientOptions) {
    super(o);
    this.cluster = w.settings.cluster;
    this.transport = w.transport;
    this.peerKeys = w.peerKeys;
    this.stopKeys = w.stopKeys;
    this.admin = w.admin;
  }

  /**
   * Connects to `o.cluster` through `o.signaling`: resolves once a store is connected and PD
   * answers a routing question, or rejects `PeerKVError('Unavailable')` after
   * `connectTimeoutMs` (a wrong secret looks the same: no store can open what this client
   * seals). Bad options reject `PeerKVError('InvalidArgument')` before anything is opened.
   */
  static async connect(o: ConnectOptions): Promise<NodePeerKV> {
    const settings = checkConnectOptions(o);
    // Derived when kv.admin first signs a request: a passphrase costs a PBKDF2 run.
    let derived: Promise<CryptoKey> | undefined;
    const operatorKey = (): Promise<CryptoKey> => (derived ??= deriveOperatorKey(settings.cluster, settings.operatorSecret ?? settings.secret));
    // The client has no key of its own, but checks the stores': each store's proof must carry
    // the key PD records for its id (asked through the other stores), and a link a key
    // learned later contradicts is revoked.
    // Anchored ids (an invite's PD voters) must prove the invite's keys.
    const peerKeys = PeerKeyBook.inMemory(settings.anchors);
    const transport = await nodeWebRtcTransport({
      peerKeys,
      localStoreId: randomTempStoreId(),
      clusterId: settings.cluster,
      secret: settings.secret,
      signalingUrl: settings.signaling,
      iceServers: settings.iceServers,
      iceTransportPolicy: settings.iceTransportPolicy,
    });
    const stopKeys = peerKeys.start({ links: transport, lookup: pdKeyLookup(transport, { members: () => transport.peers() }) });
    try {
      // A store whose provisional link PD's answers speak against gets no request (`isDoubted`).
      const candidates = (): number[] => transport.peers().filter((id) => !peerKeys.isDoubted(id));
      const pd = new RemotePdService(transport, { candidates, budgetMs: settings.pdBudgetMs, attemptTimeoutMs: settings.requestTimeoutMs });
      const stores = new RemoteStoreResolver(transport, { requestTimeoutMs: settings.requestTimeoutMs, reachable: candidates, operatorKey });
      await waitForCluster(transport, pd, settings);
      const admin = new ClusterAdmin(transport, pd, stores);
      return new NodePeerKV({ transport, admin, settings, peerKeys, stopKeys }, {
        pd,
        stores,
        dataModel: settings.dataModel,
        requestTimeoutMs: settings.requestTimeoutMs,
        ...(settings.clientId !== undefined ? { clientId: settings.clientId } : {}),
        statusSource: admin,
      });
    } catch (e) {
      stopKeys();
      transport.close();
      throw e;
    }
  }

  /** The ids of the stores this client is connected to. */
  members(): number[] {
    return this.admin.members();
  }

  /**
   * What the client's key book did with the stores' links (a copy): `anchorRefused` counts
   * stores refused for not proving the key an invite anchors for their id (a wrong or stale
   * invite, or an impostor), `refused` every refusal, `provisional` links admitted before PD
   * confirmed their key.
   */
  peerKeyCounters(): PeerKeyCounters {
    return { ...this.peerKeys.counters };
  }

  /**
   * Stops the client, removes its GC registration from PD (waiting at most
   * `CLOSE_DEREGISTER_MS_MAX`: the registration lapses by its TTL anyway), then closes the
   * transport (signaling, data channels, timers). Idempotent. A call still in flight fails
   * once its retries find no store (within `pdBudgetMs` for PD calls).
   */
  override async close(): Promise<void> {
    const deregistered = super.close();
    if (this.released) return;
    this.released = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([deregistered, new Promise<void>((r) => (timer = setTimeout(r, CLOSE_DEREGISTER_MS_MAX)))]);
    clearTimeout(timer);
    this.stopKeys();
    this.transport.close();
  }
}

/** Waits for a store to connect and PD to route the first key; `Unavailable` after `connectTimeoutMs`. */
async function waitForCluster(transport: WebRtcTransport, pd: RemotePdService, s: ConnectSettings): Promise<void> {
  const deadline = performance.now() + s.connectTimeoutMs;
  const unavailable = (why: string) =>
    new PeerKVError('Unavailable', `cluster '${s.cluster}' not reached through ${String(s.signaling)} within ${s.connectTimeoutMs} ms: ${why} (is a store running, and is the secret right?)`);
  while (transport.peers().length === 0) {
    if (performance.now() >= deadline) throw unavailable('no store connected');
    await sleep(CONNECT_POLL_MS);
  }
  const left = Math.max(1, Math.round(deadline - performance.now()));
  try {
    await pd.getRegion(new Uint8Array(), { signal: AbortSignal.timeout(left) });
  } catch (e) {
    throw unavailable(`PD did not answer: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
