import type { StoreTestMutations } from '@peerkv/store';
import type { TabServeTestMutations } from 'peerkv/browser';
import { CHECK_BUDGET_STEPS_DEFAULT } from '../linearizability.ts';

/**
 * Settings of one cluster-mode run (`runClusterSeed`): cluster size, workload, faults and
 * the virtual-time bounds of each phase. Owns the defaults; every duration is virtual ms.
 */

/** Deliberate harness-level bugs, to prove the checks can fail. */
export interface ClusterMutations {
  /** Clients read with `consistency: 'stale'` (any replica's local state): must be caught as non-linearizable. */
  staleReads?: boolean;
  /** One disk write of device `dev1`'s store fails 2 s into the workload: the store must stop and be reported. */
  diskWriteFailure?: boolean;
  /**
   * Every disk acknowledges `strict` writes before they are synced (a lying disk) and every
   * crash is a power cut: acknowledged Raft writes (votes, appends) can be lost, which the
   * checks must catch.
   */
  unsyncedDisk?: boolean;
  /** Deliberate store bugs (`StoreOptions.unsafeTestMutations`), passed to every store. */
  store?: StoreTestMutations;
  /** Deliberate bugs of the browser runtime's serving path, passed to every simulated host tab (`tabs.ts`). */
  tabServe?: TabServeTestMutations;
}

/** Everything one seed's run depends on (besides the seed). */
export interface ClusterSimOptions {
  seed: number;
  /** Stores started before the workload (one bootstraps, the rest join), the witness among them. */
  stores: number;
  /**
   * The last of `stores` is a witness store (`StoreOptions.witness`, `--witness`): PD places
   * "2 full + 1 witness" (2 or 3 full stores by seed, so the witness is placed, and also
   * removed again when the third full store joins), and every fault can hit it.
   */
  witness: boolean;
  /**
   * Devices alternate between the `engine` labels `SIM_ENGINES` (dev0 chromium, dev1 firefox,
   * ...) and PD keeps replicas on both (`replicaEnginesMin` 2, `--engines`): a group is
   * converged only once its full voters span the engines of the live full stores.
   */
  engines: boolean;
  /** Concurrent `PeerKV` clients. */
  clients: number;
  /** Op loops per client running at once (a client has up to this many ops in flight). */
  lanesPerClient: number;
  /** Size of the key space (`k00` ... ). */
  keys: number;
  /** The first `hotKeys` keys get `hotKeyShare` of the single-key ops (contention: many writers and readers on one key). */
  hotKeys: number;
  hotKeyShare: number;
  /** Probability that an acknowledged put or delete is followed at once by a read of its key (by the same lane). */
  readAfterWriteChance: number;
  /** Virtual time during which clients run ops and the nemesis injects faults, ms. */
  workloadMs: number;
  /** Client pause between two ops, ms (uniform in [0, this]). */
  thinkMsMax: number;
  /** Relative weights of the nemesis' faults: stop a store (crash or graceful), wipe one, partition, transfer a leadership. */
  faultWeights: Readonly<Record<'stop' | 'wipe' | 'partition' | 'transfer' | 'rotate', number>>;
  /** The stores' Raft log GC: compact once a log holds more than `thresholdEntries`, keeping `keepEntries` (low values let data keys retire: data-key-rotation.ts). */
  logGc: { thresholdEntries: number; keepEntries: number };
  /** Of the nemesis' data-key rotations, the share that crash the rotated store (half while it saves the rotation, half right after it answered). */
  rotateCrashShare: number;
  /** Nemesis pause between two faults, ms (uniform in [min, max]). */
  faultGapMs: readonly [number, number];
  /** How long a killed store stays down or a partition lasts, ms (uniform in [min, max]). */
  faultLengthMs: readonly [number, number];
  /** Most stores down at once (killed or wiped and not yet back). */
  downStoresMax: number;
  /** Of the nemesis' store stops, the share that are graceful restarts (drain, close, then start); the rest are crashes. */
  gracefulRestartShare: number;
  /** A graceful stop first hands the store's leaderships away (`Store.drain`) and waits this long, ms. */
  drainGraceMs: number;
  /** Of the crashes, the share restarted at once (a supervisor, a tab reload): down for `quickRestartMs`. */
  quickRestartShare: number;
  quickRestartMs: readonly [number, number];
  /** Probability that a crash waits (a little) for a write in flight on the device's disk, to hit it mid-write. */
  crashMidWriteChance: number;
  /** Probability that a crash waits (a little) for reads waiting for their ReadIndex at the store, to hit them mid-read. */
  crashDuringReadsChance: number;
  /** Probability that a crash is also a power cut (completed writes never synced are lost: only `relaxed` ones, or all under `unsyncedDisk`). */
  powerCutChance: number;
  /**
   * Probability that a crash tears the first write in flight (a prefix of its ops lands). This
   * breaks the engine contract (a batch is all or nothing, also across a crash), so it is off
   * by default: turn it on to see what the store does with a broken disk.
   */
  tearChance: number;
  /** Durability of every store's Raft writes (`relaxed` loses acknowledged writes on power cuts, by design). */
  durability: 'strict' | 'relaxed';
  /** Per-write disk delay of every device, ms (uniform in [min, max]; 0 lands at once). */
  diskDelayMs: readonly [number, number];
  /** Probability that a device's disk is slow (per disk incarnation). */
  slowDiskChance: number;
  /** Per-write delay of a slow disk, ms (uniform in [min, max]). */
  slowDiskDelayMs: readonly [number, number];
  /** Probability that one write of a slow disk stalls, and for how long, ms. */
  diskStallChance: number;
  diskStallMs: readonly [number, number];
  /** Probability that a store's clock is skewed, and the largest skew either way, ms. */
  clockSkewChance: number;
  clockSkewMsMax: number;
  /** Probability that, once healed and converged, one device leaves for good (PD must rebuild its replicas). */
  retireChance: number;
  /** After healing, the virtual time within which replicas must converge, ms. */
  convergeMaxMs: number;
  /** Virtual time allowed for setup steps (bootstrap, joins, first replication), ms. */
  setupMaxMs: number;
  /** One-way delay of a Raft message between stores, ms (uniform in [min, max]; per-link order kept). */
  netDelayMs: readonly [number, number];
  /** Probability that one send between stores is lost. */
  netDropRate: number;
  /**
   * Probability that one send carrying snapshot traffic (a MsgSnap header, chunks, acks, a
   * replica's request for a new snapshot) is lost besides `netDropRate`: transfers resend,
   * give up and are retried by Raft. 0.05 by default.
   */
  netSnapshotDropRate: number;
  /**
   * Probability that one read of a data region's staged snapshot chunk by a pending apply finds
   * it gone (read back as missing): the apply fails and the replica asks its leader for the
   * snapshot again (store snapshot-request.ts). Per chunk read, so a large snapshot fails more
   * often: at 0.03 (the default) a 29-chunk apply fails 59 % of the time (0.1 makes it 95 %,
   * which can outlast the convergence bound however often the replica asks; FINDINGS.md S1).
   * On by default with `netSnapshotDropRate` at 0.05 since FINDINGS.md S2 was fixed, so
   * `--cluster` and `--txn` runs reach the lost-snapshot paths.
   */
  stagedChunkLossChance: number;
  /** The stores' `snapshotTransfer.requestIntervalMs` (a replica's requests for a lost snapshot), virtual ms. */
  snapshotRequestIntervalMs: number;
  /** Probability that one send between stores is delivered twice (the copy out of order). */
  netDuplicateRate: number;
  /** Probability that one send between stores leaves its link's order. */
  netReorderRate: number;
  /** Of the sends out of order (reordered or duplicates), the share held up long, and for how long, ms (uniform in [min, max]). */
  netLongDelayShare: number;
  netLongDelayMs: readonly [number, number];
  /** Store tick, ms. */
  tickIntervalMs: number;
  /** Store-side request timeout and the client's per-attempt timeout, ms. */
  requestTimeoutMs: number;
  /** The client's total retry budget per op, ms. */
  clientBudgetMs: number;
  /** PD: a store silent this long is down and its replicas are rebuilt, ms. */
  maxStoreDownTimeMs: number;
  /** PD: a region with this many keys is split. */
  regionSplitKeys: number;
  /** PD: replicas per data region. */
  maxReplicas: number;
  /** Work budget of the linearizability check, search steps (over it the verdict is `unknown`). */
  checkBudgetSteps: number;
  /** The stores' data column families (`--txn` declares `default`, `lock`, `write`); absent: the store's default. */
  dataColumnFamilies?: readonly string[];
  /**
   * The stores' and clients' data model: `raw` in `--cluster` mode (`defaultClusterOptions`: its
   * linearizability checker is about the raw commands, one key per op), `mvcc` in `--txn`.
   */
  dataModel: 'raw' | 'mvcc';
  /** The stores' `safeTsIntervalMs` (the resolved ts cadence of mvcc regions), virtual ms; the store default when absent. */
  safeTsIntervalMs?: number;
  /** The stores' GC worker round interval (`gcIntervalMs`), virtual ms; the store default (30 s: no round in a run) when absent. */
  storeGcIntervalMs?: number;
  /** The GC safe point knobs of the stores' PD replicas (`pdGc`); PD's defaults when absent. */
  pdGc?: { serviceTtlMsMax?: number };
  /**
   * Regions PD's patrol checks per scheduling round (`patrolRegionsPerRoundMin` and `Max`);
   * PD's default (128, more than a run's regions: every round checks every region) when
   * absent. `--patrol 1` leaves the repairs to the dirty set (changed regions checked at once).
   */
  pdPatrolRegionsPerRound?: number;
  mutations: ClusterMutations;
}

/** Log GC of every fourth seed: compact past 4 entries, keep none (`ClusterSimOptions.logGc`). */
export const LOG_GC_EAGER = { thresholdEntries: 4, keepEntries: 0 } as const;

/** The defaults for `seed`, with `overrides` applied. */
export function defaultClusterOptions(seed: number, overrides: Partial<Omit<ClusterSimOptions, 'seed'>> = {}): ClusterSimOptions {
  const witness = overrides.witness ?? false;
  return {
    seed,
    stores: witness ? 3 + (seed % 2) : 4 + (seed % 2),
    witness,
    engines: false,
    clients: 5,
    lanesPerClient: 3,
    keys: 10,
    hotKeys: 2,
    hotKeyShare: 0.3,
    readAfterWriteChance: 0.4,
    workloadMs: 7_000,
    thinkMsMax: 40,
    faultWeights: { stop: 40, wipe: 12, partition: 30, transfer: 18, rotate: 8 },
    // Every fourth seed compacts logs almost at once, so regions' logs pass their data-key
    // switches and the old keys retire (data-key-rotation.ts); the others keep longer logs.
    logGc: seed % 4 === 0 ? LOG_GC_EAGER : { thresholdEntries: 40, keepEntries: 8 },
    rotateCrashShare: 0.3,
    faultGapMs: [150, 700],
    faultLengthMs: [200, 2_500],
    downStoresMax: 2,
    gracefulRestartShare: 0.25,
    drainGraceMs: 150,
    quickRestartShare: 0.3,
    quickRestartMs: [20, 150],
    crashMidWriteChance: 0.45,
    crashDuringReadsChance: 0.3,
    powerCutChance: 0.5,
    tearChance: 0,
    durability: 'strict',
    diskDelayMs: [0, 2],
    slowDiskChance: 0.4,
    slowDiskDelayMs: [2, 15],
    diskStallChance: 0.02,
    diskStallMs: [40, 250],
    clockSkewChance: 0.6,
    clockSkewMsMax: 250,
    retireChance: 0.35,
    convergeMaxMs: 15_000,
    setupMaxMs: 15_000,
    netDelayMs: [1, 12],
    netDropRate: 0.01,
    netSnapshotDropRate: 0.05,
    stagedChunkLossChance: 0.03,
    snapshotRequestIntervalMs: 400,
    netDuplicateRate: 0.02,
    netReorderRate: 0.05,
    netLongDelayShare: 0.1,
    netLongDelayMs: [50, 600],
    tickIntervalMs: 20,
    requestTimeoutMs: 1_000,
    clientBudgetMs: 4_000,
    maxStoreDownTimeMs: 1_500,
    regionSplitKeys: 4,
    maxReplicas: 3,
    checkBudgetSteps: CHECK_BUDGET_STEPS_DEFAULT,
    dataModel: 'raw',
    mutations: {},
    ...overrides,
  };
}
