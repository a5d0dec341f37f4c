/**
 * What `openBrowser()` takes: `OpenBrowserOptions` with their defaults, the checks made before
 * anything opens (`checkOpenOptions`), and what they become for the host's Worker
 * (`workerOpenOptions`: the networked store by default, the embedded cluster on request).
 * Only the host tab's options shape the store.
 */
import { DEVICE_LABEL, type ScheduleConfig } from '@peerkv/pd';
import type { PeerKeyAnchor, StoreOptions } from '@peerkv/store';
import { checkAnchorOption } from './anchor-option.ts';
import { iceTransportPolicyProblem } from '@peerkv/transport';
import type { ReplicaRead } from '../txn/routing.ts';
import type { OfflineQueueStore } from '../txn/offline-queue.ts';
import { BrowserKvError, type ReadFields } from './protocol.ts';
import { deviceId } from './device-id.ts';
import type { WorkerOpenOptions } from './worker-api.ts';

/** Default time a request may wait for a host and its answer, ms. */
export const REQUEST_DEADLINE_MS_DEFAULT = 60_000;
/** Default period of the "who hosts?" probe and deadline check while requests wait, ms. */
export const HOST_PROBE_MS_DEFAULT = 500;

/** Secret of a cluster opened without one: enough for the stores of one profile, which trust the origin. */
const LOCAL_SECRET_PREFIX = 'peerkv-local-secret:';
/** PBKDF2 iterations of that secret: anyone can compute it, so stretching it protects nothing. */
const LOCAL_SECRET_PBKDF2_ITERATIONS = 1;
/** Default wait, when a host leaves, for its store's leaderships to move to other stores, ms. */
export const DRAIN_GRACE_MS_DEFAULT = 500;
/** After this long hidden, a host marks its store draining so PD moves leaders away, ms. */
export const HIDDEN_DRAIN_MS_DEFAULT = 60_000;
/** The browser runtime's data model unless `OpenBrowserOptions.dataModel` says otherwise. */
export const BROWSER_DATA_MODEL_DEFAULT = 'mvcc' as const;

/** How to open the profile's PeerKV. Only the host tab's options shape the store. */
export interface OpenBrowserOptions {
  /** Cluster name (signaling topic, lock, channel and database names). Default `default`. */
  cluster?: string;
  /**
   * Shared secret of the cluster: seals signaling and authenticates every link. Required with
   * `signaling`; without it only stores of this profile can join.
   */
  secret?: string;
  /** Signaling server URLs (`ws://…`), through which stores in other browsers and devices are found. */
  signaling?: string[];
  /** STUN/TURN servers for WebRTC (default none: host candidates only). */
  iceServers?: RTCIceServer[];
  /**
   * `relay`: TURN relay candidates only, so every data channel of this profile's store goes
   * through a `turn:`/`turns:` server in `iceServers` and no host address reaches a peer
   * (`RTCConfiguration.iceTransportPolicy`). Default `all`.
   */
  iceTransportPolicy?: 'all' | 'relay';
  /**
   * This profile's store (database `peerkv:<cluster>:<storeName>`, its own host election).
   * Default `store`; demos and tests start separate stores in one page with distinct names.
   */
  storeName?: string;
  /** Labels reported to PD (placement rules). */
  labels?: Record<string, string>;
  /** Time an empty store listens for members before creating the cluster, ms (default 3000). */
  bootstrapProbeMs?: number;
  /** Run an embedded cluster of `stores` stores in the Worker, with no network (offline, demos). */
  embedded?: boolean;
  /** Stores of the embedded cluster. Default 3. */
  stores?: number;
  /** Enables stop/start/partition/slow-disk/split (demos and tests). Off by default. */
  testHooks?: boolean;
  /** Store settings passed to the Worker (structured-cloneable values only). */
  store?: Partial<Pick<StoreOptions, 'tickIntervalMs' | 'durability' | 'hibernateAfterTicks' | 'requestTimeoutMs' | 'logGcThresholdEntries' | 'heartbeatIntervalTicks'>>;
  /** Scheduling settings written to PD if this store creates the cluster (networked, or embedded mvcc). */
  schedule?: Partial<ScheduleConfig>;
  /** A host hidden this long marks its store draining, ms (default 60 s). */
  hiddenDrainMs?: number;
  /** When a host leaves, how long it waits for its store's leaderships to move, ms (default 500). */
  drainGraceMs?: number;
  /** How long one call may wait for a host and its answer, ms. */
  requestDeadlineMs?: number;
  /** Period of the host probe while calls wait, ms. */
  hostProbeMs?: number;
  /** Makes the host's Worker (tests may substitute one). */
  createWorker?: () => Worker;
  /**
   * Start the Worker while waiting for the lock (default true): it loads its code but opens
   * nothing until this tab is elected, so a failover skips the Worker's start-up.
   */
  standbyWorker?: boolean;
  /** The lock manager of the election; `navigator.locks` when absent (tests inject one). */
  locks?: ElectionLocks;
  /**
   * The data model of the cluster's stores (default `BROWSER_DATA_MODEL_DEFAULT`, `mvcc`): every
   * read and write is transactional and `transaction()` works; the embedded runtime then runs PD
   * in its Worker for timestamps. `raw` (keys as they are, writes deduplicated by tab stamps, no
   * transactions) is kept as the benchmarks' baseline and for stores created raw. Every store of a
   * cluster must use the same; a store keeps the one it was created with.
   */
  dataModel?: 'raw' | 'mvcc';
  /**
   * Where transactions queued while the quorum is away are kept (default: IndexedDB database
   * `peerkv:<cluster>:<storeName>:offline-queue`, shared by the profile's tabs; one drains at a
   * time under the Web Lock `peerkv:<cluster>:<storeName>:offline-queue`).
   */
  offlineQueue?: OfflineQueueStore;
  /** How long a queueable transaction's start ts and reads may take before it is queued, ms (default `OFFLINE_DECIDE_MS_DEFAULT`). */
  offlineDecideMs?: number;
  /** Transactions the offline queue holds at most (default `OFFLINE_QUEUE_TXNS_MAX_DEFAULT`). */
  offlineQueueTxnsMax?: number;
  /** Bytes the offline queue holds at most (default `OFFLINE_QUEUE_BYTES_MAX_DEFAULT`, 16 MiB). */
  offlineQueueBytesMax?: number;
  /**
   * The mvcc model: which replica serves reads and transactions' reads (default `leader`).
   * Networked runtime: `closest` reads this browser's own store's replica after one small round
   * trip to the leader, `follower` a follower's. Embedded runtime: `follower` a replica in the
   * Worker that does not lead, `closest` the one with the lowest measured round trip. See README
   * "Read consistency"; the raw model's embedded runtime refuses anything but `leader`.
   */
  replicaRead?: ReplicaRead;
  /**
   * PD voters' store ids and keys from a version 2 invite (`decodeInvite(link).anchors`; at
   * most `PEER_KEY_ANCHORS_MAX`): the profile's store believes them without asking and refuses
   * a link claiming one of those ids with another key. The store keeps the set it was first
   * opened with (a reload enforces it without the invite); opening it again with another set
   * fails `InvalidArgument`, or, when the host found it while opening in the background, makes
   * `status().opened` `refused` and requests fail `AnchorConflict`. Default none.
   */
  anchors?: PeerKeyAnchor[];
}

/** The part of the Web Locks API the election uses (an exclusive lock, abortable while queued). */
export interface ElectionLocks {
  request(name: string, options: { signal?: AbortSignal }, callback: () => Promise<unknown>): Promise<unknown>;
}

/**
 * Options of a read, as `PeerKV`'s: `consistency`, or (mvcc) a read at a timestamp, `readTs` or
 * `maxStaleness` ms (not both; `ReadFields`). A bare value does not say as of when: read through
 * `snapshot({ maxStaleness })` for that (its `ts`).
 */
export type BrowserReadOptions = ReadFields;

/** Options of `scan`: pairs in [start, end), at most `limit` (≤ SCAN_ARRAY_PAIRS_MAX). */
export interface BrowserScanOptions extends BrowserReadOptions {
  start?: Uint8Array;
  end?: Uint8Array;
  limit?: number;
  reverse?: boolean;
}

/** Refuses options no store could open with (`InvalidArgument`), before anything starts. */
export function checkOpenOptions(o: OpenBrowserOptions): void {
  if ((o.signaling?.length ?? 0) > 0 && !o.secret) throw new BrowserKvError('InvalidArgument', 'a cluster reached through signaling needs a secret');
  const policyProblem = iceTransportPolicyProblem(o.iceServers ?? [], o.iceTransportPolicy);
  if (policyProblem) throw new BrowserKvError('InvalidArgument', policyProblem);
  checkAnchorOption(o.anchors);
}



/** Which store(s) a handle opens: its cluster, store name and data model (the options' defaults applied). */
export interface OpenTarget {
  cluster: string;
  storeName: string;
  dataModel: 'raw' | 'mvcc';
}

/** What the Worker opens: the networked store by default, the embedded cluster on request. */
export function workerOpenOptions(o: OpenBrowserOptions, t: OpenTarget): WorkerOpenOptions {
  const { stores, testHooks, store, embedded } = o;
  if (embedded) {
    return {
      mode: 'embedded',
      cluster: t.cluster,
      storeName: t.storeName,
      stores,
      testHooks,
      store,
      dataModel: t.dataModel,
      ...(o.schedule ? { schedule: o.schedule } : {}),
      ...(o.replicaRead ? { replicaRead: o.replicaRead } : {}),
    };
  }
  const signaling = o.signaling ?? [];
  const device = deviceId();
  return {
    mode: 'net',
    cluster: t.cluster,
    secret: o.secret ?? `${LOCAL_SECRET_PREFIX}${t.cluster}`,
    // The built-in secret is no secret (the cluster name gives it): no stretching.
    ...(o.secret === undefined ? { pbkdf2Iterations: LOCAL_SECRET_PBKDF2_ITERATIONS } : {}),
    signaling,
    storeName: t.storeName,
    address: `browser:${device}/${t.storeName}`,
    ...(o.iceServers ? { iceServers: o.iceServers } : {}),
    ...(o.iceTransportPolicy ? { iceTransportPolicy: o.iceTransportPolicy } : {}),
    // The profile is the device PD isolates replicas by (the Worker adds the engine label).
    labels: { [DEVICE_LABEL]: device, ...o.labels },
    ...(o.schedule ? { schedule: o.schedule } : {}),
    ...(o.bootstrapProbeMs !== undefined ? { bootstrapProbeMs: o.bootstrapProbeMs } : {}),
    ...(store ? { store } : {}),
    dataModel: t.dataModel,
    ...(o.replicaRead ? { replicaRead: o.replicaRead } : {}),
    ...(o.anchors?.length ? { anchors: o.anchors } : {}),
    testHooks,
  };
}
