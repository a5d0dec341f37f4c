/**
 * `startNetworkStore`: a store that forms a cluster with stores in other processes, over
 * any `Transport` (WebRTC, BroadcastChannel). What it does depends on its engine:
 *
 * - an engine with an identity restarts as that store (the `bootstrap` flag is ignored);
 * - an empty engine with `bootstrap: true` creates the cluster as store
 *   `BOOTSTRAP_IDS.store` (PD's group and the first data region, one replica each);
 * - an empty engine otherwise joins: a store needs its id before its transport identity
 *   exists, so it first connects under a temporary id from the reserved range
 *   [`TEMP_STORE_ID_MIN`, `TEMP_STORE_ID_MAX`) (PD allocates ids upwards from the bootstrap
 *   ids and never reaches it), asks PD `putStore(0, address, labels)` through any member,
 *   closes that transport and starts under the id PD gave.
 *
 * The key book (`PeerKeyBook`, with the invite's anchors) is loaded before anything else (an
 * anchor conflict starts nothing). Transports under a temporary id (probing, joining) check
 * the anchored ids' keys (`PeerKeyBook.anchorPolicy`), and a join with anchors asks only the
 * anchored members (then the PD leader their answers name): an impostor, whether it poses as
 * an anchored voter or comes under an id of its own, cannot answer the join with a store id
 * of its choosing.
 *
 * A witness store (`store.witness`) never creates a cluster: it always joins, under a temporary
 * id from the top of the range [`WITNESS_TEMP_STORE_ID_MIN`, `TEMP_STORE_ID_MAX`), above every
 * other temporary id, so a store probing with `bootstrap: 'auto'` never takes it for a smaller
 * prober and waits for it (it would wait for a witness that never bootstraps).
 *
 * Every store reports its runtime's `engine` label (`runtimeEngine`) with the labels it is
 * given, at its join, its bootstrap and each restart (`putStore`).
 *
 * Every store's `PdClient` is a `RemotePdClient` over its transport, so its heartbeats
 * reach the PD leader wherever it runs; PD's replica checker then grows PD's group and the
 * data regions onto joined stores.
 *
 * A restart needs no quorum: the store opens from its engine and asks PD nothing before it
 * serves. Its heartbeats retry on their own, and a `QuorumWatch` keeps checking (with
 * backoff) whether PD answers and every region here has a reachable leader, for `quorum()`.
 */
import { DEFAULT_SCHEDULE_CONFIG, ENGINE_LABEL, WITNESS_LABEL, type ScheduleConfig } from '@peerkv/pd';
import type { KvEngine } from '@peerkv/storage';
import type { LinkIdentityOptions, PeerKeyPolicy, StoreKeyPair, Transport } from '@peerkv/transport';
import { bindStore, storeTransportOf, type DoubtedSends } from '../rpc/bind-transport.ts';
import { BOOTSTRAP_IDS, REAL_TIMERS, type StoreOptions, type Timers } from '../options.ts';
import { PD_REGION_ID } from '../pd-host.ts';
import { Store } from '../store.ts';
import { runtimeEngine } from '../runtime-engine.ts';
import { loadOrCreateStoreKeyPair } from '../store-key.ts';
import { PeerKeyBook } from './peer-keys.ts';
import { checkPeerKeyAnchors, type PeerKeyAnchor } from './peer-key-anchors.ts';
import { pdKeyLookup } from './pd-key-lookup.ts';
import { PdCaller } from './pd-caller.ts';
import { QuorumWatch, type QuorumStatus } from './quorum-watch.ts';
import { RemotePdClient, type RemotePdClientOptions } from './remote-pd-client.ts';
import { TEMP_STORE_ID_MAX, TEMP_STORE_ID_MIN, WITNESS_TEMP_STORE_ID_MIN, isTempStoreId, randomTempStoreId, randomWitnessTempStoreId } from '../temp-store-ids.ts';

export { TEMP_STORE_ID_MAX, TEMP_STORE_ID_MIN, WITNESS_TEMP_STORE_ID_MIN, isTempStoreId, randomTempStoreId, randomWitnessTempStoreId };

/** Default time a joining store keeps asking PD for an id, ms. */
export const JOIN_TIMEOUT_MS_DEFAULT = 60_000;
/** Default listening time of `bootstrap: 'auto'` before creating a cluster, ms. */
export const AUTO_BOOTSTRAP_PROBE_MS_DEFAULT = 3000;
/** Wait between checks for a first reachable member while joining, ms. */
export const JOIN_POLL_MS = 50;

/** Why a network store did not start. */
export type NetworkStoreErrorKind =
  /** No member answered the join within `joinTimeoutMs`. */
  | 'JoinTimeout'
  /** PD refused the join (e.g. a tombstoned id). */
  | 'JoinRefused'
  /** Creating the cluster failed. */
  | 'BootstrapFailed'
  /** `bootstrap` on an empty engine, but members of the cluster answered the probe (join instead). */
  | 'ClusterExists'
  /** `bootstrap: true` for a witness store: a witness joins a cluster, a full store creates it. */
  | 'WitnessCannotBootstrap';

/** A network store could not start; `kind` is closed. */
export class NetworkStoreError extends Error {
  override readonly name = 'NetworkStoreError';
  constructor(
    readonly kind: NetworkStoreErrorKind,
    detail: string,
  ) {
    super(`${kind}: ${detail}`);
  }
}

/** Settings of `startNetworkStore`, with units. */
export interface NetworkStoreOptions {
  /** Opened with the column families of `store.dataModel` (`Store.open`'s `engine`); empty for a new store. */
  engine: KvEngine;
  clusterId: string;
  /**
   * Opens this process's transport under a store id (called once per identity used). Under the
   * store's own id it is given the store's link identity (its key pair and its `PeerKeyBook`):
   * pass both to the transport (`new WebRtcTransport({ ..., ...identity })`) so links prove
   * the store's key and check the peers'. Temporary ids (probing, joining) get the key pair
   * too, with a policy that checks only anchored ids' keys (`JoinLinkIdentity`): pass it on the
   * same way (a join's key is recorded only from a link that proved it).
   */
  transportFactory: (storeId: number, identity?: StoreLinkIdentity | JoinLinkIdentity) => Transport | Promise<Transport>;
  /**
   * What an empty engine does: `true` creates the cluster (exactly one store of a new cluster
   * does this), `false` joins, `'auto'` listens `bootstrapProbeMs` under a temporary id and
   * joins if a member shows up, else creates the cluster unless another prober with a smaller
   * temporary id was heard (that one creates it; this one joins).
   */
  bootstrap?: boolean | 'auto';
  /**
   * Before bootstrapping an empty engine, listen this long under a temporary id for members
   * of the cluster, and refuse (`ClusterExists`) if any shows up, ms (default 0: no probe).
   * Guards against a wiped bootstrap store creating a second cluster under the same name.
   */
  bootstrapProbeMs?: number;
  /** How other stores reach this one, reported to PD; stable per device and data directory (an empty engine with a known address replaces that older store). */
  address: string;
  /**
   * Placement labels reported to PD (e.g. `device`). The `engine` label (`ENGINE_LABEL`) is
   * added from the runtime (`runtimeEngine`: chromium, firefox, webkit, node) unless given here.
   */
  labels?: Record<string, string>;
  /** Other store settings. */
  store?: Partial<Omit<StoreOptions, 'storeId' | 'clusterId' | 'engine' | 'transport' | 'pdClient' | 'address' | 'labels'>>;
  /** PD client settings (budget, backoff). */
  pd?: Partial<RemotePdClientOptions>;
  /** Scheduling settings written to PD at bootstrap. */
  schedule?: Partial<ScheduleConfig>;
  /** Time a joining store keeps asking PD for an id, ms (default 60 s). */
  joinTimeoutMs?: number;
  /** The temporary id while joining (default random in the reserved range). */
  tempStoreId?: number;
  timers?: Timers;
  /**
   * The cluster's operator key (`deriveOperatorKey` of the operator secret, by default the
   * cluster secret): admin requests signed with it are served. Without it this store serves
   * admin requests (split, membership and leader changes, drains) to no other store or client.
   */
  operatorKey?: CryptoKey;
  /** Wall clock for the join deadline, ms (default `Date.now`). */
  now?: () => number;
  /**
   * Keys this store believes for PD's voters without asking, from the invite it was opened
   * with (`PeerKeyAnchor`; at most `PEER_KEY_ANCHORS_MAX`, else `PeerKeyAnchorError` before
   * anything starts): links claiming those ids with other keys are refused (`anchorRefused`).
   * Kept in the engine on the first start with any (before a join asks PD anything), so a
   * restart without them still enforces them; another set on a later start is
   * `PeerKeyAnchorConflictError` (nothing starts). A join asks only anchored members.
   */
  anchors?: readonly PeerKeyAnchor[];
}

/** What a store's transport is given to bind its links to the store's key (`LinkIdentityOptions`). */
export interface StoreLinkIdentity extends LinkIdentityOptions {
  identity: StoreKeyPair;
  peerKeys: PeerKeyBook;
}

/**
 * What a transport under a temporary id (probing, joining) is given: the store's key pair, so its
 * links prove the key the join registers (a member records a joining key only from a link that
 * proved it, `keyUnproven`), and the anchors' policy (`PeerKeyBook.anchorPolicy`), not the key
 * book: a temporary id is no store, so no store's key is bound to it.
 */
export interface JoinLinkIdentity extends LinkIdentityOptions {
  identity: StoreKeyPair;
  peerKeys: PeerKeyPolicy;
}

/** The options with the engine's identity key pair and key book loaded. */
type KeyedOptions = NetworkStoreOptions & { keyPair: StoreKeyPair; peerKeys: PeerKeyBook };

/** A running network store. */
export interface NetworkStore {
  readonly store: Store;
  readonly transport: Transport;
  readonly pdClient: RemotePdClient;
  /** The keys this store accepts for other stores' ids on its links (`net/peer-keys.ts`). */
  readonly peerKeys: PeerKeyBook;
  /** How it started: `bootstrapped`, `joined` (new id from PD) or `restarted`. */
  readonly started: 'bootstrapped' | 'joined' | 'restarted';
  /** Whether PD answers and every region here has a reachable leader (see `QuorumWatch`). */
  quorum(): QuorumStatus;
  /** Stops serving, closes the store, then the transport. */
  close(): Promise<void>;
}

/** Starts (bootstraps, joins or restarts) a store on `o.engine`; see the module comment. */
export async function startNetworkStore(given: NetworkStoreOptions): Promise<NetworkStore> {
  // Made before anything else on an empty engine, so that the join can carry its public key.
  const engine = runtimeEngine();
  const labels = { ...(engine ? { [ENGINE_LABEL]: engine } : {}), ...given.labels };
  checkPeerKeyAnchors(given.anchors ?? []);
  const keyPair = await loadOrCreateStoreKeyPair(given.engine);
  const o: KeyedOptions = { ...given, labels, keyPair, peerKeys: await PeerKeyBook.load(given.engine, given.anchors) };
  if (o.store?.witness) return startWitnessStore(o);
  const ident = await Store.readIdentity(o.engine);
  if (ident) return open(o, ident.storeId, 'restarted');
  if (o.bootstrap === 'auto') {
    const tempId = o.tempStoreId ?? randomTempStoreId();
    const probeMs = o.bootstrapProbeMs ?? AUTO_BOOTSTRAP_PROBE_MS_DEFAULT;
    // A probe of 0 ms hears nothing: the caller knows no member can exist (nothing to open).
    const seen = probeMs > 0 ? await probe(o, probeMs, tempId) : { members: [], probers: [] };
    if (seen.members.length === 0 && seen.probers.every((id) => id > tempId)) return bootstrap(o);
    // Join under the probe's id: a prober still listening must not mistake this joiner for a
    // smaller prober (then nobody would create the cluster).
    return open(o, await joinId({ ...o, tempStoreId: tempId }), 'joined');
  }
  if (o.bootstrap) {
    const members = o.bootstrapProbeMs ? (await probe(o, o.bootstrapProbeMs, o.tempStoreId ?? randomTempStoreId())).members : [];
    if (members.length > 0) throw new NetworkStoreError('ClusterExists', `stores ${members.join(', ')} of '${o.clusterId}' are up: start without bootstrap to join`);
    return bootstrap(o);
  }
  return open(o, await joinId(o), 'joined');
}

/** A witness store: restarts, or joins (never bootstraps) with the witness label and a witness temporary id. */
async function startWitnessStore(given: KeyedOptions): Promise<NetworkStore> {
  if (given.bootstrap === true) throw new NetworkStoreError('WitnessCannotBootstrap', `a witness of '${given.clusterId}' joins a cluster that a full store created`);
  const o: KeyedOptions = { ...given, labels: { ...given.labels, [WITNESS_LABEL]: 'true' } };
  const ident = await Store.readIdentity(o.engine);
  if (ident) return open(o, ident.storeId, 'restarted');
  return open(o, await joinId({ ...o, tempStoreId: o.tempStoreId ?? randomWitnessTempStoreId() }), 'joined');
}

async function open(o: KeyedOptions, storeId: number, started: NetworkStore['started']): Promise<NetworkStore> {
  const { peerKeys } = o;
  const transport = await o.transportFactory(storeId, { identity: o.keyPair, peerKeys });
  // Ids with no key known are looked up in PD through other stores, and live links a key
  // learned later contradicts are revoked (`PeerKeyBook.sweep`).
  const timers = o.timers ?? REAL_TIMERS;
  const stopKeys = peerKeys.start({ links: transport, lookup: pdKeyLookup(transport, { members: () => transport.peers() }), timers });
  const pdClient = new RemotePdClient(transport, { candidates: () => transport.peers().filter((id) => !isTempStoreId(id)), ...o.pd });
  let store: Store | undefined;
  // A store the answers about its key speak against gets no data-region Raft from here; one
  // merely provisional (joining, no second PD replica to vouch) does (`bind-transport.ts`).
  const sends: DoubtedSends = {
    doubted: (id) => peerKeys.isDoubted(id),
    withheld: (n) => {
      for (let i = 0; i < n; i++) store?.countRefused('raftToDoubted');
    },
  };
  try {
    store = await Store.open({
      ...o.store,
      ...(o.timers ? { timers: o.timers } : {}),
      storeId,
      clusterId: o.clusterId,
      engine: o.engine,
      transport: storeTransportOf(transport, sends),
      pdClient,
      address: o.address,
      labels: o.labels ?? {},
    });
  } catch (e) {
    stopKeys();
    transport.close();
    throw e;
  }
  pdClient.attachLocal(store);
  // PD's voters as this store's own replica of PD's group has them (a witness has no record to read).
  const pdVoters = (): number[] | undefined => store.status().regions.find((r) => r.regionId === PD_REGION_ID)?.peers.filter((p) => p.role === 'voter' && p.storeId !== storeId).map((p) => p.storeId);
  peerKeys.attachPd(() => store.pdState(), pdVoters);
  // A store whose key is not confirmed yet may only reach PD and the key lookup.
  const unbind = bindStore(store, transport, { provisional: (id) => peerKeys.isProvisional(id), linkKey: (id) => transport.linkKey?.(id), ...(o.operatorKey ? { operatorKey: o.operatorKey } : {}) });
  const watch = new QuorumWatch({
    storeId,
    status: () => store.status(),
    members: () => transport.peers().filter((id) => !isTempStoreId(id)),
    getTimestamps: (count, ro) => pdClient.getTimestamps(count, ro),
    timers: o.timers ?? REAL_TIMERS,
    now: o.now ?? (() => Date.now()),
  });
  // A restarted store may predate store keys: PD records its key now if it has none.
  const keyRegistration = started === 'restarted' ? registerStoreKey(o, storeId, pdClient, store) : undefined;
  return {
    store,
    transport,
    pdClient,
    peerKeys,
    started,
    quorum: () => watch.status(),
    close: async () => {
      keyRegistration?.cancel();
      stopKeys();
      watch.close();
      unbind();
      pdClient.attachLocal(undefined);
      await store.close();
      transport.close();
    },
  };
}

/** Tries after a restart before giving up on recording the store's key in PD (once a second). */
export const STORE_KEY_REGISTER_ATTEMPTS_MAX = 120;
/** Time between those tries, ms. */
export const STORE_KEY_REGISTER_RETRY_MS = 1000;

/**
 * Sends `pdPutStore(self, address, labels, publicKey)` until PD answers: `storePut` (the key is
 * recorded, or was already), or a refusal. `StoreKeyMismatch` means PD holds another key for
 * this id (this engine's key was lost or replaced): counted, and the store's links to stores
 * that know the recorded key will be refused.
 */
function registerStoreKey(o: KeyedOptions, storeId: number, pdClient: RemotePdClient, store: Store): { cancel(): void } {
  const timers = o.timers ?? REAL_TIMERS;
  let cancelled = false;
  let retry: ReturnType<Timers['setTimeout']> | undefined;
  const attempt = async (n: number): Promise<void> => {
    if (cancelled || n >= STORE_KEY_REGISTER_ATTEMPTS_MAX) return;
    const r = await pdClient.putStore(storeId, o.address, o.labels ?? {}, { timeoutMs: STORE_KEY_REGISTER_RETRY_MS * 2 }, o.keyPair.publicKey);
    if (cancelled) return;
    if (r.ok && r.value.kind === 'storePut') return;
    if (r.ok && r.value.kind === 'refused' && r.value.error.kind !== 'NotBootstrapped') {
      if (r.value.error.kind === 'StoreKeyMismatch') store.countRefused('ownStoreKeyMismatch');
      return;
    }
    retry = timers.setTimeout(() => void attempt(n + 1).catch(() => {}), STORE_KEY_REGISTER_RETRY_MS);
  };
  void attempt(0).catch(() => {});
  return {
    cancel: () => {
      cancelled = true;
      if (retry !== undefined) timers.clearTimeout(retry);
    },
  };
}

async function bootstrap(o: KeyedOptions): Promise<NetworkStore> {
  const ns = await open(o, BOOTSTRAP_IDS.store, 'bootstrapped');
  const r = await ns.store.bootstrapCluster({ clusterNumber: 1, address: o.address, labels: o.labels ?? {}, publicKey: o.keyPair.publicKey });
  if (!r.ok || r.value.kind !== 'bootstrapped') {
    await ns.close();
    throw new NetworkStoreError('BootstrapFailed', JSON.stringify(r));
  }
  const cfg = await ns.store.pdPropose({ kind: 'setScheduleConfig', config: { ...DEFAULT_SCHEDULE_CONFIG, ...o.schedule } });
  if (!cfg.ok || cfg.value.kind !== 'configSet') {
    await ns.close();
    throw new NetworkStoreError('BootstrapFailed', `schedule config: ${JSON.stringify(cfg)}`);
  }
  return ns;
}

/**
 * Listens under temporary id `tempId` until a member (non-temporary id) shows up or `ms`
 * pass; also reports the other temporary ids heard (probers and joiners).
 */
async function probe(o: KeyedOptions, ms: number, tempId: number): Promise<{ members: number[]; probers: number[] }> {
  const timers = o.timers ?? REAL_TIMERS;
  const now = o.now ?? (() => Date.now());
  const deadline = now() + ms;
  const temp = await tempTransport(o, tempId);
  const probers = new Set<number>();
  try {
    const members = (): number[] => temp.peers().filter((id) => !isTempStoreId(id));
    const note = (): void => {
      for (const id of temp.peers()) if (isTempStoreId(id)) probers.add(id);
    };
    while (members().length === 0 && now() < deadline) {
      note();
      await new Promise((r) => timers.setTimeout(() => r(undefined), JOIN_POLL_MS));
    }
    note();
    return { members: members(), probers: [...probers] };
  } finally {
    temp.close();
  }
}

/** A transport under temporary id `tempId`, checking anchored ids' keys. */
function tempTransport(o: KeyedOptions, tempId: number): Transport | Promise<Transport> {
  const identity: JoinLinkIdentity = { identity: o.keyPair, peerKeys: o.peerKeys.anchorPolicy() };
  return o.transportFactory(tempId, identity);
}

/** Connects under a temporary id and asks PD for a store id. */
async function joinId(o: KeyedOptions): Promise<number> {
  const timers = o.timers ?? REAL_TIMERS;
  const now = o.now ?? (() => Date.now());
  const deadline = now() + (o.joinTimeoutMs ?? JOIN_TIMEOUT_MS_DEFAULT);
  const temp = await tempTransport(o, o.tempStoreId ?? randomTempStoreId());
  const anchored = o.peerKeys.anchorList().map((a) => a.storeId);
  try {
    // Members only: other joiners and clients also use temporary ids. With anchors, only the
    // anchored ones (their links proved the anchored keys): any other member could answer the
    // join with an id of its choosing. A redirect they give to PD's leader is still followed.
    const members = (): number[] => temp.peers().filter((id) => (anchored.length > 0 ? anchored.includes(id) : !isTempStoreId(id)));
    const caller = new PdCaller(temp, { ...o.pd, candidates: members });
    // Why the last ask got no store id (a full store's join without the data-key proof, say).
    let lastError = '';
    while (now() < deadline) {
      if (members().length === 0) {
        await new Promise((r) => timers.setTimeout(() => r(undefined), JOIN_POLL_MS));
        continue;
      }
      const r = await caller.call({ type: 'pdPutStore', storeId: 0, address: o.address, labels: o.labels ?? {}, publicKey: o.keyPair.publicKey }, 'pdApply', { timeoutMs: Math.max(1, deadline - now()) });
      if (r.ok && r.value.kind === 'storePut') return r.value.storeId;
      if (!r.ok) lastError = `: ${r.error.kind}${'what' in r.error ? ` ${String(r.error.what)}` : ''}`;
      if (r.ok && r.value.kind === 'refused') {
        // A member whose cluster is still being created (its transport is up before its PD
        // is bootstrapped): ask again shortly.
        if (r.value.error.kind === 'NotBootstrapped') {
          await new Promise((res) => timers.setTimeout(() => res(undefined), JOIN_POLL_MS));
          continue;
        }
        throw new NetworkStoreError('JoinRefused', JSON.stringify(r.value.error));
      }
    }
    const asked = anchored.length > 0 ? `anchored member (stores ${anchored.join(', ')})` : 'member';
    throw new NetworkStoreError('JoinTimeout', `no ${asked} of '${o.clusterId}' gave a store id in time${lastError}`);
  } finally {
    temp.close();
  }
}
