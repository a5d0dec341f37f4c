/**
 * Every knob of one simulated run, with units in the names, and the defaults used by
 * `npm run sim`. A seed plus these options fully determine a run.
 */
import type { UnsafeTestMutations } from '@peerkv/raft';
import type { ViolationKind } from './invariants.ts';
import { CHECK_BUDGET_STEPS_DEFAULT } from './linearizability.ts';
import type { ClientProfile, FaultProfile, StorageTiming } from './profiles.ts';
import type { Durability } from './sim-storage.ts';
import { swarmProfile } from './swarm.ts';

/** Test-only bugs the mutation tests turn on to prove the checkers can fail. */
export interface SimMutations {
  /** KV layer: a non-leader serves `get` from its local state machine (stale reads). */
  staleFollowerReads?: boolean;
  /** Raft core mutations (passed through `Config.unsafeTestMutations`). */
  raft?: UnsafeTestMutations;
}

export type { ClientProfile, FaultProfile, NemesisWeights, StorageTiming } from './profiles.ts';

/** All options of one run. */
export interface SimOptions {
  seed: number;
  /** Initial voters; two spare nodes can join through membership changes. */
  nodes: number;
  /** Client operations to invoke before healing (final reads come on top). */
  ops: number;
  durability: Durability;
  mutations: SimMutations;
  tickMs: number;
  electionTicks: number;
  heartbeatTicks: number;
  /** Max bytes per MsgApp; drawn per seed when undefined (small values split appends). */
  maxSizePerMsgBytes?: number;
  /** Max MsgApp in flight per follower; drawn per seed when undefined. */
  maxInflightMsgs?: number;
  /** Take an application snapshot (and compact the log) every this many applied entries; per seed when undefined. */
  snapshotEveryEntries?: number;
  faults: FaultProfile;
  storage: StorageTiming;
  client: ClientProfile;
  /** After healing, a leader must be elected and the final writes and reads must finish within this. */
  livenessTimeoutMs: number;
  /** Hard bound on the fault phase, virtual ms (clients stop invoking after it). */
  faultPhaseMsMax: number;
  /** Work budget of the linearizability check per seed, search steps (over it the verdict is `unknown`). */
  checkBudgetSteps: number;
  /**
   * Record only these violation kinds (default: all). Lets a test watch one checker see a
   * run through, e.g. linearizability under relaxed durability, where the Raft invariants
   * would stop the run first.
   */
  checkOnly?: readonly ViolationKind[];
  /** Keep a per-seed event log (for `--verbose`). */
  trace: boolean;
  /** With `trace`: also log every Raft message to or from this node. */
  traceMessagesOfNode?: number;
}

/** The fault profile of `npm run sim`. */
export const DEFAULT_FAULTS: FaultProfile = {
  weights: {
    partition: 3,
    asymmetricCut: 2,
    isolateLeader: 2,
    heal: 4,
    crash: 3,
    crashLeader: 2,
    powerLoss: 1,
    powerLossAll: 0.3,
    transferLeader: 2,
    membership: 6,
    networkSpike: 1,
  },
  stormMsMin: 300,
  stormMsMax: 3000,
  calmMsMin: 200,
  calmMsMax: 1000,
  nemesisIntervalMsMin: 50,
  nemesisIntervalMsMax: 400,
  restartDelayMsMin: 5,
  restartDelayMsMax: 400,
  writeCrashRate: 0.01,
  voteWriteCrashRate: 0.15,
  newLeaderCrashRate: 0.1,
  newLeaderIsolateRate: 0.1,
  newLeaderCrashDelayMsMax: 40,
  mayRemoveLeader: false,
  downNodesMax: 1,
  network: { delayMsMin: 1, delayMsMax: 12, lossRate: 0.03, duplicateRate: 0.03, reorderRate: 0.1, reorderDelayMsMax: 40 },
  spikeNetwork: { delayMsMin: 5, delayMsMax: 80, lossRate: 0.2, duplicateRate: 0.1, reorderRate: 0.3, reorderDelayMsMax: 150 },
};

/** Disk timing of `npm run sim` (before swarm variation). */
export const DEFAULT_STORAGE: StorageTiming = { writeLatencyMsMin: 1, writeLatencyMsMax: 8, flushIntervalMs: 200 };

/** The client profile of `npm run sim` (before swarm variation). */
export const DEFAULT_CLIENTS: ClientProfile = {
  clients: 4,
  keys: 5,
  getRate: 0.45,
  deleteRate: 0.1,
  requestTimeoutMs: 250,
  retryBackoffMs: 50,
  opDeadlineMs: 1500,
  thinkTimeMsMax: 20,
};

/**
 * Options for `seed` with the `npm run sim` defaults: 5 voters on every fourth seed, and a
 * per-seed fault mix, client pace and disk speed (swarm testing, see swarm.ts) unless
 * `faults`/`client`/`storage` are given.
 */
export function defaultOptions(seed: number, overrides: Partial<SimOptions> = {}): SimOptions {
  const swarm = swarmProfile(seed, DEFAULT_FAULTS, DEFAULT_CLIENTS, DEFAULT_STORAGE);
  return {
    seed,
    nodes: seed % 4 === 0 ? 5 : 3,
    ops: 300,
    durability: 'strict',
    mutations: {},
    tickMs: 10,
    electionTicks: 10,
    heartbeatTicks: 2,
    faults: swarm.faults,
    storage: swarm.storage,
    client: swarm.client,
    livenessTimeoutMs: 10_000,
    faultPhaseMsMax: 120_000,
    checkBudgetSteps: CHECK_BUDGET_STEPS_DEFAULT,
    trace: false,
    ...overrides,
  };
}
