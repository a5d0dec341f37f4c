/**
 * The profiles a run is drawn from: how hard the nemesis hits (`FaultProfile` and its
 * `NemesisWeights`), storage latency and client behaviour. A leaf module, so that `options.ts`
 * (the defaults) and `swarm.ts` (per-seed draws over them) both build on it without importing
 * each other.
 */
import type { NetworkFaults } from '@peerkv/transport/memory';

/** Relative weights of the nemesis's actions (0 disables one). */
export interface NemesisWeights {
  partition: number;
  asymmetricCut: number;
  isolateLeader: number;
  heal: number;
  crash: number;
  crashLeader: number;
  powerLoss: number;
  /** Every node loses power at once (a site outage); ignores `downNodesMax`. */
  powerLossAll: number;
  transferLeader: number;
  membership: number;
  networkSpike: number;
}

/** How hard the nemesis hits. */
export interface FaultProfile {
  weights: NemesisWeights;
  /** Length of a storm (faults on), virtual ms, drawn in [min, max]. */
  stormMsMin: number;
  stormMsMax: number;
  /** Length of a calm spell (network healed, no new faults; crashed nodes restart on their own), virtual ms. */
  calmMsMin: number;
  calmMsMax: number;
  /** Virtual ms between two nemesis actions, drawn in [min, max]. */
  nemesisIntervalMsMin: number;
  nemesisIntervalMsMax: number;
  /** A crashed node restarts after a delay drawn in [min, max] virtual ms. */
  restartDelayMsMin: number;
  restartDelayMsMax: number;
  /** Probability that a node crashes while a storage write is in flight (before it completes). */
  writeCrashRate: number;
  /** The same for writes that change the persisted vote (the votes-before-persist window). */
  voteWriteCrashRate: number;
  /** Probability that a newly elected leader crashes within `newLeaderCrashDelayMsMax`. */
  newLeaderCrashRate: number;
  /** Probability that a newly elected leader is isolated (and reconnected after a restart delay). */
  newLeaderIsolateRate: number;
  /** Both happen within this many ms of the election. */
  newLeaderCrashDelayMsMax: number;
  /**
   * Let membership changes remove the current leader. Off by default: the removed node then
   * holds the longest log, and if it crashes before the remaining voters learn that the
   * joint config was left, no node can be elected — the known liveness gap of apply-time
   * conf changes (packages/sim/FINDINGS.md, finding 2). Operators (TiKV's PD, for one)
   * transfer leadership away first, and so does the nemesis.
   */
  mayRemoveLeader: boolean;
  /** At most this many nodes are down at once (crash actions are skipped beyond it). */
  downNodesMax: number;
  /** Baseline network faults while the nemesis runs. */
  network: NetworkFaults;
  /** Network faults during a spike (`networkSpike` action), until the next heal. */
  spikeNetwork: NetworkFaults;
}

/** Storage latency: a write completes after [min, max] virtual ms. */
export interface StorageTiming {
  writeLatencyMsMin: number;
  writeLatencyMsMax: number;
  /** Relaxed durability only: completed writes are flushed to disk every this many ms. */
  flushIntervalMs: number;
}

/** Client behaviour. */
export interface ClientProfile {
  clients: number;
  keys: number;
  /** Probabilities of get and delete; the rest are puts. */
  getRate: number;
  deleteRate: number;
  /** A request with no answer after this long is retried (same seq) at another node. */
  requestTimeoutMs: number;
  /** Pause before retrying a refused request. */
  retryBackoffMs: number;
  /** After this long since invocation the client gives up: the outcome is unknown. */
  opDeadlineMs: number;
  /** Pause between two operations of one client, drawn in [0, max]. */
  thinkTimeMsMax: number;
}
