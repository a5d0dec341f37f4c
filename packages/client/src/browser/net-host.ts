/**
 * `NetHost`: the profile's store as the host tab's Worker runs it by default. One store on
 * IndexedDB (database `peerkv:<cluster>:<storeName>`) that forms a cluster with the stores of
 * other tabs' `storeName`s over BroadcastChannel and with other browsers and Node servers over
 * WebRTC (peers living in the page, bridged to this Worker), found through the signaling
 * servers. An empty database joins a cluster whose members answer within
 * `bootstrapProbeMs`, or creates it (`bootstrap: 'auto'`); a database with an identity
 * restarts as that store. It serves `TabRequest`s: client requests and watches through a
 * `PeerKV` client (PD by store RPC, its own store directly), its status and, when enabled,
 * the test hooks: partition this store from a set of stores inside the transport, slow its
 * disk, stop (crash) and restart it, split a region.
 *
 * Opening needs no quorum: a restarted store serves as soon as it is open from its database
 * (its regions elect leaders when enough voters are back; `status().quorum` says whether they
 * have, and a request that fails meanwhile fails `NoQuorum`). A store that fails to open (a
 * join while PD has no quorum, a storage error) is opened again in the background, backing off
 * from `NET_OPEN_RETRY_MS_MIN` to `NET_OPEN_RETRY_MS_MAX`; `status().openRetry` says so. An
 * anchor conflict (the database keeps another invite's anchors: `PeerKeyAnchorConflictError`)
 * is final, since no later attempt opens it: the first attempt throws `InvalidArgument`; one
 * met by a background attempt ends the retries, `status().opened` says `refused`
 * (`openRefused` counts it) and requests fail `AnchorConflict`.
 */
import type { ReplicaRead } from '../txn/routing.ts';
import { ForwardingEngine, type KvEngine, type WriteBatch, type WriteOptions } from '@peerkv/storage';
import { joinInputOf, joinProgress, type ScheduleConfig } from '@peerkv/pd';
import { DATA_MODEL_DEFAULT, MVCC_DATA_CFS, PD_REGION_ID, PEER_KEY_ANCHORS_MAX, PeerKeyAnchorConflictError, STORE_CFS, Store, isTempStoreId, storeColumnFamilies, startNetworkStore, webCryptoEntryCipher, withDataKeyProof, type NetworkStore, type NetworkStoreOptions, type PeerKeyAnchor, type JoinLinkIdentity, type StoreLinkIdentity, type StoreStatus } from '@peerkv/store';
import {
  BroadcastChannelTransport,
  CompositeTransport,
  WebRtcTransport,
  deriveMemberKeys,
  deriveOperatorKey,
  PBKDF2_ITERATIONS,
  type ClusterKeys,
  type PartitionableTransport,
  type PeerFactory,
} from '@peerkv/transport';
import type { PeerKV } from '../client.ts';
import { PeerKVError } from '../errors.ts';
import type { RemotePdService } from '../remote/remote-pd-service.ts';
import type { RemoteStoreResolver } from '../remote/remote-store-resolver.ts';
import { lateGcLockResolver, storeClient } from '../remote/store-client.ts';
import { splitRegionAt } from '../remote/split-region.ts';
import { BrowserKvError, TXN_LOCKS_COUNTED_MAX, snapshotProgress, type ClusterStatus, type HookRequest, type TabRequest, type PdView, type Reply, type StoreView } from './protocol.ts';
import { checkAnchorOption } from './anchor-option.ts';
import { RequestLedger, serveTab, type TabServing } from './serve-request.ts';
import { HostTrace } from './host-trace.ts';
import { TabWriter } from './tab-writes.ts';
import { bootstrapProbeMsFor } from './bootstrap-probe.ts';
import { offlineQueueDatabaseName } from './offline-queue-idb.ts';

/**
 * Default request timeout of the Worker's client, ms: the longest a point request's attempt
 * waits; shorter once the store's response times are measured (`remote/attempt-timeout.ts`).
 */
export const NET_REQUEST_TIMEOUT_MS_DEFAULT = 2000;
/** Default budget of one PD call of the Worker's client, ms. */
export const NET_PD_BUDGET_MS_DEFAULT = 10_000;
/** Default time an empty store listens for members before creating the cluster, ms. */
export const NET_BOOTSTRAP_PROBE_MS_DEFAULT = 3000;
/** Time `status()` waits for one remote store's own status, ms. */
export const NET_STATUS_TIMEOUT_MS = 1000;
/** Longest artificial disk delay the `slowDisk` hook accepts, ms. */
export const SLOW_DISK_MS_MAX = 10_000;
/** Longest wait for leaderships to move away when a host leaves, ms. */
export const DRAIN_GRACE_MS_MAX = 2000;
/** Poll period while waiting for leaderships to move, ms. */
export const DRAIN_POLL_MS = 20;
/** Most PBKDF2 iterations `pbkdf2Iterations` accepts (10x the default: each costs an open). */
export const PBKDF2_ITERATIONS_MAX = 10 * PBKDF2_ITERATIONS;
/** Signaling servers one store may use. */
export const SIGNALING_URLS_MAX = 4;
/** First wait before opening the store again after a failed open, ms (doubles per failure). */
export const NET_OPEN_RETRY_MS_MIN = 1000;
/** Longest wait between two attempts to open the store, ms. */
export const NET_OPEN_RETRY_MS_MAX = 30_000;

/** How to open the profile's networked store (structured-cloneable: it crosses from the page). */
export interface NetHostOptions {
  /** Cluster name: the signaling topic, part of the database name. */
  cluster: string;
  /** Shared secret of the cluster (seals signaling, authenticates every link). */
  secret: string;
  /**
   * PBKDF2 iterations of a passphrase `secret` and `operatorSecret` (default
   * `PBKDF2_ITERATIONS`, at most `PBKDF2_ITERATIONS_MAX`). Every store of a cluster must use the
   * same. `openBrowser` passes 1 for the built-in secret of a cluster opened without one, which
   * anyone can compute from the cluster name: stretching it protects nothing, and its three
   * PBKDF2 blocks at the default took about 0.8 s of every open.
   */
  pbkdf2Iterations?: number;
  /** The operator secret admin requests are signed and checked with (`deriveOperatorKey`; default: `secret`). */
  operatorSecret?: string;
  /** Signaling server URLs (`ws://…`); none: only stores of this browser profile (BroadcastChannel). */
  signaling: string[];
  /** STUN/TURN servers (default none: host candidates only). */
  iceServers?: RTCIceServer[];
  /** `OpenBrowserOptions.iceTransportPolicy` (default `all`). */
  iceTransportPolicy?: 'all' | 'relay';
  /** This store's name in the profile (database `peerkv:<cluster>:<storeName>`). */
  storeName: string;
  /** Reported to PD; stable per profile and store name. */
  address: string;
  labels?: Record<string, string>;
  testHooks?: boolean;
  /** Store settings (tick interval, durability, ...). */
  store?: NetworkStoreOptions['store'];
  /**
   * Scheduling settings written to PD when this store creates the cluster; `replicaEnginesMin`
   * defaults to `BROWSER_REPLICA_ENGINES_MIN` here (replicas on 2 engines once 2 are present).
   */
  schedule?: Partial<ScheduleConfig>;
  /** See `NET_BOOTSTRAP_PROBE_MS_DEFAULT`, ms. */
  bootstrapProbeMs?: number;
  /** Time a joining store keeps asking PD for an id, ms. */
  joinTimeoutMs?: number;
  /** Per-attempt request timeout of the client, ms. */
  requestTimeoutMs?: number;
  /** Storage quota reported to PD as capacity, bytes. */
  capacityBytes?: number;
  /**
   * The stores' data model (default `DATA_MODEL_DEFAULT`, `mvcc`: the txn column families, every
   * read and write transactional); `raw` for stores created raw and the benchmark baseline.
   */
  dataModel?: 'raw' | 'mvcc';
  /** The mvcc model: which replica serves reads (`ClientOptions.replicaRead`; `closest`: this store first). */
  replicaRead?: ReplicaRead;
  /**
   * An invite's PD voters and keys (`OpenBrowserOptions.anchors`), given to the store's key book
   * (`startNetworkStore`'s `anchors`: kept in the database on the first open with any). A
   * database that keeps another set fails `InvalidArgument` (found by the first attempt) or
   * `AnchorConflict` (by a background one) and is not opened again.
   */
  anchors?: PeerKeyAnchor[];
}

/**
 * `ScheduleConfig.replicaEnginesMin` of a cluster a browser store creates: a region's replicas
 * on at least 2 engines (Chromium, Firefox, WebKit, Node) once stores on 2 can hold them, so
 * no one engine's storage eviction or bug holds every copy.
 */
export const BROWSER_REPLICA_ENGINES_MIN = 2;


/** Transaction locks in `engine`'s lock column family, up to `TXN_LOCKS_COUNTED_MAX` (undefined if it cannot be read). */
async function countLocks(engine: KvEngine): Promise<number | undefined> {
  let n = 0;
  try {
    for await (const _ of engine.scan('lock', { limit: TXN_LOCKS_COUNTED_MAX })) n++;
  } catch {
    return undefined;
  }
  return n;
}

/** What the Worker provides (IndexedDB and page-bridged WebRTC peers in the browser; memory in tests). */
export interface NetHostDeps {
  openEngine: (database: string, columnFamilies: readonly string[]) => Promise<KvEngine>;
  /** Makes WebRTC peers (bridged to the page in a Worker). */
  peerFactory?: PeerFactory;
  /** Monotonic ms clock. */
  now: () => number;
  /**
   * The names of the profile's IndexedDB databases (`indexedDB.databases()`); absent or
   * undefined where they cannot be listed. Lets a new lone store skip its bootstrap probe
   * (`bootstrap-probe.ts`).
   */
  databaseNames?: () => Promise<string[] | undefined>;
}

/** PD's stores and regions as `store`'s PD replica has applied them (empty without a replica). */
function pdView(store: Store, bytesReceivedByStore: ReadonlyMap<number, number>): PdView {
  const sm = store.pdState();
  if (!sm) return { stores: [], regions: [] };
  const joinInput = joinInputOf(sm);
  return {
    stores: sm.listStores().map((s) => ({
      storeId: s.meta.id,
      address: s.meta.address,
      labels: { ...s.meta.labels },
      state: s.meta.state,
      ...(s.stats ? { capacityBytes: s.stats.capacityBytes, usedBytes: s.stats.usedBytes, draining: s.stats.draining } : {}),
      join: { ...joinProgress(joinInput, s.meta.id), ...(bytesReceivedByStore.has(s.meta.id) ? { bytesReceived: bytesReceivedByStore.get(s.meta.id)! } : {}) },
    })),
    regions: sm.allRegions().map((i) => ({
      regionId: i.region.id,
      ...(i.leader ? { leaderStoreId: i.leader.storeId } : {}),
      approximateSizeBytes: i.approximateSizeBytes,
      approximateKeys: i.approximateKeys,
    })),
  };
}

/**
 * `ClusterStatus.inviteAnchors` of `net`: PD's voters with the keys its PD replica records
 * (its own store among them when it is one), else the anchors its book holds; none when it
 * knows neither.
 */
function inviteAnchorsOf(net: NetworkStore): { inviteAnchors?: PeerKeyAnchor[] } {
  const sm = net.store.pdState();
  const pdRegion = net.store.status().regions.find((r) => r.regionId === PD_REGION_ID);
  const voters = pdRegion?.peers.filter((p) => p.role === 'voter').map((p) => p.storeId) ?? [];
  const recorded = voters.flatMap((storeId) => {
    const publicKey = sm?.getStore(storeId)?.meta.publicKey;
    return publicKey ? [{ storeId, publicKey }] : [];
  });
  const anchors = recorded.length > 0 ? recorded.sort((a, b) => a.storeId - b.storeId).slice(0, PEER_KEY_ANCHORS_MAX) : net.peerKeys.anchorList();
  return anchors.length > 0 ? { inviteAnchors: anchors } : {};
}

/** The database name of a networked store. */
export function netDatabaseName(cluster: string, storeName: string): string {
  return `peerkv:${cluster}:${storeName}`;
}

/** An engine whose writes can be slowed down (the `slowDisk` hook). */
class SlowableEngine extends ForwardingEngine {
  delayMs = 0;
  override async write(batch: WriteBatch, options: WriteOptions): Promise<void> {
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    return this.inner.write(batch, options);
  }
}

interface Running {
  net: NetworkStore;
  engine: SlowableEngine;
  kv: PeerKV;
  pd: RemotePdService;
  stores: RemoteStoreResolver;
  writer: TabWriter;
}

/** Failed attempts to open the store, while it is opened again in the background. */
interface OpenRetry {
  attempts: number;
  lastError: string;
  /** When the next attempt starts (`deps.now()` clock), ms. */
  nextAttemptAt: number;
}

/** The Worker's networked store; see the module header. */
export class NetHost {
  private running: Running | undefined;
  private readonly partitioned = new Set<number>();
  private started: NetworkStore['started'] | undefined;
  private openMs = 0;
  /** Set while the store failed to open and is being opened again. */
  private openRetry: OpenRetry | undefined;
  /** Why a background open was refused for good (an anchor conflict); no attempt follows. */
  private openRefusal: string | undefined;
  /** Background opens refused for an anchor conflict (`ClusterStatus.openRefused`). */
  private openRefused = 0;
  /** An attempt to open the store is under way (one at a time: one engine, one store). */
  private starting = false;
  private closed = false;
  private storeId = 0;
  private slowDiskMs = 0;
  private readonly ledger: RequestLedger;
  /** The latency trace's switch (`host-trace.ts`). */
  private readonly hostTrace = new HostTrace();

  /** The stores' data model: `NetHostOptions.dataModel`, else `DATA_MODEL_DEFAULT`. */
  private get dataModel(): 'raw' | 'mvcc' {
    return this.o.dataModel ?? DATA_MODEL_DEFAULT;
  }

  private constructor(
    private readonly o: NetHostOptions,
    private readonly deps: NetHostDeps,
    private readonly keys: ClusterKeys,
    /** Signs this host's admin requests and checks those its store serves. */
    private readonly operatorKey: CryptoKey,
    /** Seals the payloads its store proposes and opens those it applies (a witness never has it). */
    private readonly dataKey: CryptoKey,
    /** Proves the data key to other stores, and gates its store's data requests (`StoreOptions.dataProofKey`). */
    private readonly dataProofKey: CryptoKey,
  ) {
    this.ledger = new RequestLedger(o.testHooks ?? false);
  }

  /**
   * Opens the store (creating, joining or restarting); a restart waits for no quorum. If the
   * first attempt fails, returns a host that keeps opening it in the background (requests
   * fail `Unavailable` meanwhile and `status().openRetry` says why).
   */
  static async open(o: NetHostOptions, deps: NetHostDeps): Promise<NetHost> {
    if (typeof o.secret !== 'string' || o.secret === '') throw new BrowserKvError('InvalidArgument', 'a cluster secret is required');
    if (!Array.isArray(o.signaling) || o.signaling.length > SIGNALING_URLS_MAX || o.signaling.some((u) => !/^wss?:\/\//.test(u))) {
      throw new BrowserKvError('InvalidArgument', `signaling must be at most ${SIGNALING_URLS_MAX} ws:// or wss:// URLs`);
    }
    const iterations = o.pbkdf2Iterations ?? PBKDF2_ITERATIONS;
    if (!Number.isInteger(iterations) || iterations < 1 || iterations > PBKDF2_ITERATIONS_MAX) {
      throw new BrowserKvError('InvalidArgument', `pbkdf2Iterations must be an integer in [1, ${PBKDF2_ITERATIONS_MAX}]`);
    }
    checkAnchorOption(o.anchors);
    // Both derivations at once: WebCrypto runs them off this thread. The member keys are the
    // link and signaling keys and the data key, from one derivation (`deriveMemberKeys`).
    const [member, operatorKey] = await Promise.all([deriveMemberKeys(o.cluster, o.secret, iterations), deriveOperatorKey(o.cluster, o.operatorSecret ?? o.secret, iterations)]);
    const h = new NetHost(o, deps, member.keys, operatorKey, member.dataKey, member.dataProofKey);
    const t0 = deps.now();
    try {
      await h.start();
      h.openMs = Math.round(deps.now() - t0);
    } catch (e) {
      // Another invite's anchors than the database keeps: no retry opens it.
      if (e instanceof PeerKeyAnchorConflictError) throw new BrowserKvError('InvalidArgument', e.message);
      void h.reopenInBackground(e, t0);
    }
    return h;
  }

  /** Opens the store again after `first` failed, backing off, until it opens or the host closes. */
  private async reopenInBackground(first: unknown, t0: number): Promise<void> {
    let delayMs = NET_OPEN_RETRY_MS_MIN;
    this.openRetry = { attempts: 1, lastError: errorText(first), nextAttemptAt: this.deps.now() + delayMs };
    let attempts = 1;
    while (!this.closed && !this.running) {
      await new Promise((r) => setTimeout(r, delayMs));
      // A hook may have opened it meanwhile (`startStore`).
      if (this.closed || this.running || this.starting) break;
      try {
        await this.start();
        this.openMs = Math.round(this.deps.now() - t0);
      } catch (e) {
        if (e instanceof PeerKeyAnchorConflictError) return this.refuseOpen(e);
        delayMs = Math.min(delayMs * 2, NET_OPEN_RETRY_MS_MAX);
        this.openRetry = { attempts: ++attempts, lastError: errorText(e), nextAttemptAt: this.deps.now() + delayMs };
      }
    }
    if (this.running) this.openRetry = undefined;
  }

  /**
   * Ends the background opens: the database keeps another invite's anchors, which no later
   * attempt replaces (retrying would only load the same record again, forever).
   */
  private refuseOpen(e: PeerKeyAnchorConflictError): void {
    this.openRetry = undefined;
    this.openRefused++;
    this.openRefusal = e.message;
  }

  /** The store's transports; `identity` (the store's key pair and `PeerKeyBook`, or under a temporary id the anchors' policy) binds its links to its key. */
  private transport(storeId: number, identity: StoreLinkIdentity | JoinLinkIdentity | undefined): PartitionableTransport {
    const parts: PartitionableTransport[] = [new BroadcastChannelTransport({ localStoreId: storeId, keys: this.keys, ...identity })];
    for (const url of this.o.signaling) {
      parts.push(new WebRtcTransport({ localStoreId: storeId, keys: this.keys, signalingUrl: url, iceServers: this.o.iceServers ?? [], iceTransportPolicy: this.o.iceTransportPolicy ?? 'all', peerFactory: this.deps.peerFactory, ...identity }));
    }
    const t = new CompositeTransport(parts);
    // A restarted store stays cut off from the stores it was partitioned from.
    if (this.partitioned.size > 0 && !isTempStoreId(storeId)) t.partition(this.partitioned);
    // Other stores serve this host's data requests once it proved the data key on its link.
    return withDataKeyProof(t, this.dataProofKey);
  }

  private async start(): Promise<void> {
    if (this.starting) throw new BrowserKvError('Unavailable', `store ${this.storeId || '(new)'} is being opened`);
    this.starting = true;
    try {
      await this.startOnce();
    } finally {
      this.starting = false;
    }
  }

  /** Opens the engine and the store; asks the cluster nothing a restart would wait on. */
  private async startOnce(): Promise<void> {
    const mvcc = this.dataModel === 'mvcc';
    const raw = await this.deps.openEngine(netDatabaseName(this.o.cluster, this.o.storeName), mvcc ? storeColumnFamilies(MVCC_DATA_CFS) : STORE_CFS);
    const engine = new SlowableEngine(raw);
    engine.delayMs = this.slowDiskMs;
    let net: NetworkStore;
    try {
      net = await startNetworkStore({
        engine,
        clusterId: this.o.cluster,
        bootstrap: 'auto',
        // A store with an identity restarts without a probe; an empty one probes unless alone.
        bootstrapProbeMs: (await Store.readIdentity(engine)) ? 0 : await this.bootstrapProbeMs(),
        address: this.o.address,
        labels: this.o.labels ?? {},
        store: {
          ...this.o.store,
          entryCipher: webCryptoEntryCipher(this.dataKey),
          dataProofKey: this.dataProofKey,
          ...(this.o.capacityBytes ? { capacityBytes: this.o.capacityBytes } : {}),
          ...(mvcc ? { dataColumnFamilies: MVCC_DATA_CFS, dataModel: 'mvcc' as const, gcLockResolver: lateGcLockResolver(() => this.running?.kv) } : { dataModel: 'raw' as const }),
        },
        schedule: { replicaEnginesMin: BROWSER_REPLICA_ENGINES_MIN, ...this.o.schedule },
        ...(this.o.joinTimeoutMs !== undefined ? { joinTimeoutMs: this.o.joinTimeoutMs } : {}),
        transportFactory: (id, identity) => this.transport(id, identity),
        operatorKey: this.operatorKey,
        ...(this.o.anchors?.length ? { anchors: this.o.anchors } : {}),
      });
    } catch (e) {
      await engine.close();
      throw e;
    }
    if (this.closed) {
      await net.close();
      await engine.close();
      throw new BrowserKvError('Closed', 'the host closed while its store opened');
    }
    const { store } = net;
    const requestTimeoutMs = this.o.requestTimeoutMs ?? NET_REQUEST_TIMEOUT_MS_DEFAULT;
    const { pd, stores, kv } = storeClient(net, {
      requestTimeoutMs,
      pdBudgetMs: NET_PD_BUDGET_MS_DEFAULT,
      dataModel: mvcc ? 'mvcc' : 'raw',
      operatorKey: this.operatorKey,
      ...(this.o.replicaRead ? { client: { replicaRead: this.o.replicaRead } } : {}),
    });
    kv.setTrace(this.hostTrace.current);
    const writer = new TabWriter({ getRegion: (k) => pd.getRegion(k), store: (id) => stores.store(id) }, requestTimeoutMs);
    this.running = { net, engine, kv, pd, stores, writer };
    this.storeId = store.storeId;
    this.started = net.started;
    // A restart elects at once where it can; where no quorum is up, the regions keep
    // campaigning by themselves (PreVote) until enough voters are back. Nothing waits here.
    if (net.started === 'restarted') for (const id of store.regionIds()) store.campaign(id);
  }

  /** The probe this empty store needs (`bootstrap-probe.ts`), ms. */
  private async bootstrapProbeMs(): Promise<number> {
    const probeMs = this.o.bootstrapProbeMs ?? NET_BOOTSTRAP_PROBE_MS_DEFAULT;
    const names = this.o.signaling.length === 0 ? await this.deps.databaseNames?.().catch(() => undefined) : undefined;
    const ownDatabases = [netDatabaseName(this.o.cluster, this.o.storeName), offlineQueueDatabaseName(this.o.cluster, this.o.storeName)];
    return bootstrapProbeMsFor({ cluster: this.o.cluster, ownDatabases, signaling: this.o.signaling, probeMs }, names);
  }

  /** The running parts, or `Unavailable` while the store is stopped or not open yet. */
  private live(): Running {
    if (this.running) return this.running;
    if (this.openRefusal !== undefined) throw new BrowserKvError('AnchorConflict', `the store will not open: ${this.openRefusal}`);
    const retry = this.openRetry;
    if (retry) {
      const inMs = Math.max(0, Math.round(retry.nextAttemptAt - this.deps.now()));
      throw new BrowserKvError('Unavailable', `the store did not open (${retry.attempts} attempts, next in ${inMs} ms): ${retry.lastError}`);
    }
    throw new BrowserKvError('Unavailable', `store ${this.storeId} is stopped`);
  }

  /** Serves one request; never throws (failures are `Reply` values). */
  call(req: TabRequest): Promise<Reply> {
    return this.ledger.reply(req, (r) => this.hostTrace.serve(r, (x) => serveTab(this.serving, x)));
  }

  /** This runtime's client, status, trace and hooks, as `serveTab` asks for them. */
  private readonly serving: TabServing = {
    withClient: (serve) => this.withClient(serve),
    status: () => this.status(),
    trace: (on) => this.hostTrace.switch(on, this.running?.kv, this.running ? [this.running.net.store] : []),
    hook: (req) => this.hook(req),
  };

  /** Runs `serve` with the running store's client; a failure for want of a quorum says so (`NoQuorum`). */
  private async withClient(serve: (kv: PeerKV, writer: TabWriter) => Promise<unknown>): Promise<unknown> {
    const { kv, writer, net } = this.live();
    try {
      return await serve(kv, writer);
    } catch (e) {
      throw noQuorumError(e, net) ?? e;
    }
  }

  // ------------------------------------------------------------------ hooks

  private async hook(req: HookRequest): Promise<unknown> {
    switch (req.type) {
      case 'stopStore':
        return this.stop(this.ownId(req.storeId));
      case 'startStore':
        return this.restart(this.ownId(req.storeId));
      case 'partitionStore':
        return this.partition(req.storeId === this.storeId ? this.members() : [req.storeId]);
      case 'partition':
        return this.partition(req.storeIds);
      case 'heal':
        return this.heal();
      case 'slowDisk':
        return this.slowDisk(req.delayMs);
      case 'splitRegion':
        return this.split(req.splitKey);
    }
  }

  private ownId(storeId: number): number {
    if (storeId !== this.storeId) throw new BrowserKvError('InvalidHook', `this host runs store ${this.storeId}, not ${storeId}`);
    return storeId;
  }

  private members(): number[] {
    return this.running ? this.running.net.transport.peers().filter((id) => !isTempStoreId(id)) : [];
  }

  /** Stops the store as a crash would (no drain, no goodbye); its IndexedDB stays. */
  private async stop(_id: number): Promise<void> {
    const r = this.running;
    if (!r) throw new BrowserKvError('InvalidHook', `store ${this.storeId} is already stopped`);
    this.running = undefined;
    r.kv.close();
    await r.net.close();
    await r.engine.close();
  }

  private async restart(_id: number): Promise<void> {
    if (this.running || this.starting) throw new BrowserKvError('InvalidHook', `store ${this.storeId} is already running or opening`);
    await this.start();
  }

  /** Cuts this store off from `storeIds` inside its transport (both sides see the links drop). */
  private partition(storeIds: number[]): void {
    if (!Array.isArray(storeIds) || storeIds.some((id) => !Number.isSafeInteger(id) || id <= 0 || id === this.storeId)) {
      throw new BrowserKvError('InvalidHook', 'partition takes the ids of other stores');
    }
    for (const id of storeIds) this.partitioned.add(id);
    (this.running?.net.transport as PartitionableTransport | undefined)?.partition(storeIds);
  }

  private heal(): void {
    this.partitioned.clear();
    (this.running?.net.transport as PartitionableTransport | undefined)?.heal();
  }

  private slowDisk(delayMs: number): void {
    if (!Number.isFinite(delayMs) || delayMs < 0 || delayMs > SLOW_DISK_MS_MAX) throw new BrowserKvError('InvalidHook', `slowDisk takes 0..${SLOW_DISK_MS_MAX} ms`);
    this.slowDiskMs = delayMs;
    if (this.running) this.running.engine.delayMs = delayMs;
  }

  /**
   * Splits the region holding `splitKey` at it, with ids from PD, on the region's leader (here
   * or remote): `splitRegionAt` (retries while PD's route lags the leader).
   */
  private async split(splitKey: Uint8Array): Promise<{ newRegionId: number }> {
    if (splitKey.length === 0) throw new BrowserKvError('InvalidHook', 'split key must not be empty');
    const { pd, stores, net } = this.live();
    const r = await splitRegionAt(
      {
        pd,
        allocId: () => net.pdClient.allocId(),
        split: (storeId, regionId, epoch, key, newRegionId, newPeerIds) =>
          storeId === this.storeId ? net.store.split(regionId, epoch, key, newRegionId, newPeerIds) : stores.remote(storeId).split(regionId, epoch, key, newRegionId, newPeerIds),
      },
      splitKey,
    );
    if (!r.ok) throw new BrowserKvError('RegionError', r.message);
    return { newRegionId: r.newRegionId };
  }

  // ------------------------------------------------------------------ status

  /**
   * Marks the store draining (PD keeps leaders away; every leadership here is handed to the
   * most caught-up other voter) or serving again. Draining waits up to `graceMs` for the
   * handovers to take effect; returns the regions asked to move.
   */
  async setDraining(draining: boolean, graceMs = 0): Promise<number> {
    const store = this.running?.net.store;
    if (!store) return 0;
    if (!draining) {
      store.draining = false;
      return 0;
    }
    const moved = store.drain();
    const deadline = this.deps.now() + Math.min(Math.max(0, graceMs), DRAIN_GRACE_MS_MAX);
    const leadsAny = (): boolean => store.status().regions.some((r) => moved.includes(r.regionId) && r.role === 'leader');
    while (leadsAny() && this.deps.now() < deadline) await new Promise((r) => setTimeout(r, DRAIN_POLL_MS));
    return moved.length;
  }

  /** This store, every connected member and every store named by a region, as each reports itself. */
  async status(): Promise<ClusterStatus> {
    const r = this.running;
    const views: StoreView[] = [];
    /** The host's own store's status (for the trace). */
    const own: StoreStatus[] = [];
    const database = netDatabaseName(this.o.cluster, this.o.storeName);
    // Snapshot bytes each store received since it started (its own status; over RPC for the others), for PD's join view.
    const bytesReceived = new Map<number, number>();
    if (r) {
      const st = r.net.store.status();
      own.push(st);
      if (st.snapshotTransfer) bytesReceived.set(st.storeId, st.snapshotTransfer.bytesReceived);
      const txnLocks = this.dataModel === 'mvcc' ? await countLocks(r.engine) : undefined;
      const catchUp = snapshotProgress(st.snapshotTransfer);
      views.push({ storeId: st.storeId, database, local: true, up: true, partitioned: false, draining: r.net.store.draining, counters: st.counters, stoppedReason: st.stoppedReason, regions: st.regions, ...(txnLocks !== undefined ? { txnLocks } : {}), ...(catchUp ? { catchUp } : {}) });
    } else {
      views.push({ storeId: this.storeId, database, local: true, up: false, partitioned: false, regions: [] });
    }
    const known = new Set<number>(this.partitioned);
    for (const v of views) for (const reg of v.regions) for (const p of reg.peers) known.add(p.storeId);
    const members = this.members();
    for (const id of members) known.add(id);
    known.delete(this.storeId);
    const remote = await Promise.all(
      [...known].sort((a, b) => a - b).map(async (id): Promise<StoreView> => {
        const partitioned = this.partitioned.has(id);
        if (!r || !members.includes(id)) return { storeId: id, database: '', up: false, partitioned, regions: [] };
        const s = await r.stores.remote(id).status({ timeoutMs: NET_STATUS_TIMEOUT_MS });
        if (!s.ok) return { storeId: id, database: '', up: false, partitioned, regions: [] };
        const p = s.value.snapshotProgress;
        if (p) bytesReceived.set(id, p.bytesReceived);
        const catchUp = p && (p.receiving > 0 || p.applying.length > 0) ? { receiving: p.receiving, bytesReceived: p.bytesReceived, applying: p.applying } : undefined;
        return { storeId: id, database: '', up: true, partitioned, counters: s.value.counters, stoppedReason: s.value.stoppedReason, regions: s.value.regions, ...(catchUp ? { catchUp } : {}) };
      }),
    );
    views.push(...remote);
    const store = r?.net.store;
    const tso = r ? await this.timestamp(r) : undefined;
    const retry = this.openRetry;
    return {
      cluster: this.o.cluster,
      mode: 'net',
      localStoreId: this.storeId,
      opened: this.openedState(),
      openMs: this.openMs,
      ...(this.openRefused > 0 ? { openRefused: this.openRefused } : {}),
      ...(retry ? { openRetry: { attempts: retry.attempts, lastError: retry.lastError, nextAttemptInMs: Math.max(0, Math.round(retry.nextAttemptAt - this.deps.now())) } } : {}),
      ...(r ? { quorum: r.net.quorum() } : {}),
      testHooks: this.o.testHooks ?? false,
      stores: views,
      members,
      pdLeaderStoreId: store?.pdLeaderStoreId(),
      operators: store?.pdOperators() ?? [],
      slowDiskMs: this.slowDiskMs,
      ...(store ? { pd: pdView(store, bytesReceived) } : {}),
      ...(r ? { ...inviteAnchorsOf(r.net), peerKeys: { ...r.net.peerKeys.counters } } : {}),
      ...(tso !== undefined ? { tso } : {}),
      requests: { ...this.ledger.requests },
      trace: this.hostTrace.view(own),
    };
  }

  /** `ClusterStatus.opened`: how the store opened, or that it is opening or was refused for good. */
  private openedState(): ClusterStatus['opened'] {
    if (this.started === undefined) return this.openRefusal !== undefined ? 'refused' : 'opening';
    return this.started === 'bootstrapped' ? 'bootstrapped' : this.started === 'joined' ? 'joined' : 'reopened';
  }

  /** One TSO timestamp, or undefined if PD does not answer within `NET_STATUS_TIMEOUT_MS`. */
  private async timestamp(r: Running): Promise<string | undefined> {
    try {
      const ts = await r.pd.getTimestamps(1, { signal: AbortSignal.timeout(NET_STATUS_TIMEOUT_MS) });
      return ts.first.toString();
    } catch {
      return undefined;
    }
  }

  /** Drains nothing (see `setDraining`); stops the store and closes its database. */
  async close(): Promise<void> {
    this.closed = true;
    const r = this.running;
    this.running = undefined;
    if (!r) return;
    r.kv.close();
    await r.net.close();
    await r.engine.close();
  }
}

/** An error as `kind: message` (once: some messages already start with their kind). */
function errorText(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const kind = 'kind' in e ? String((e as { kind: unknown }).kind) : e.name;
  return e.message.startsWith(`${kind}:`) ? e.message : `${kind}: ${e.message}`;
}

/**
 * A request that ran out of retries while the store lacks a quorum fails `NoQuorum`, naming
 * what is missing, rather than with the last region error alone; undefined for other failures.
 */
function noQuorumError(e: unknown, net: NetworkStore): BrowserKvError | undefined {
  if (!(e instanceof PeerKVError) || (e.kind !== 'RetryBudgetExhausted' && e.kind !== 'Unavailable')) return undefined;
  const q = net.quorum();
  if (q.state !== 'waiting') return undefined;
  return new BrowserKvError('NoQuorum', `store ${net.store.storeId} has no quorum for ${q.forMs} ms (${q.attempts} checks failed, last: ${q.lastError ?? 'none'}): ${e.message}`);
}
