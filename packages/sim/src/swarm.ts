/**
 * Swarm testing (Groce et al., "Swarm Testing", ISSTA 2012): instead of one fixed fault mix,
 * every seed draws its own — some faults switched off, some turned up — because a mix that
 * omits a fault often reaches states the full mix never does (a leader elected, isolated and
 * re-elected before any client write lands is rare when everything happens at once).
 */
import { SeededRng } from '@peerkv/raft';
import type { NetworkFaults } from '@peerkv/transport/memory';
import type { ClientProfile, FaultProfile, NemesisWeights, StorageTiming } from './profiles.ts';
import { pick } from './rng-utils.ts';

/** Salt so the swarm draw is independent of the run's own PRNG stream. */
const SWARM_SALT = 0x5eed5a17;

const LOSSY_NETWORK: NetworkFaults = { delayMsMin: 1, delayMsMax: 30, lossRate: 0.1, duplicateRate: 0.05, reorderRate: 0.2, reorderDelayMsMax: 60 };

/** Leader churn: isolate and crash leaders often (the Figure 8 windows). */
export const CHURN_WEIGHTS: NemesisWeights = {
  partition: 4,
  asymmetricCut: 2,
  isolateLeader: 8,
  heal: 6,
  crash: 3,
  crashLeader: 4,
  powerLoss: 1,
  powerLossAll: 0.3,
  transferLeader: 1,
  membership: 4,
  networkSpike: 1,
};

/** A fault profile with churn: frequent leader isolation and crashes, new leaders crashing young. */
export function churnFaults(base: FaultProfile): FaultProfile {
  return {
    ...base,
    weights: CHURN_WEIGHTS,
    nemesisIntervalMsMin: 20,
    nemesisIntervalMsMax: 120,
    newLeaderCrashRate: 0.2,
    newLeaderCrashDelayMsMax: 60,
  };
}

/**
 * Leader flapping: almost only leader isolation, and most new leaders are isolated within
 * 40 ms of their election while slow clients still reach them. This is what it takes for a
 * random run to build Figure 8 of the Raft paper: entries of two terms at one index, each on
 * a minority, and a third leader re-replicating the older one.
 */
export function flapFaults(base: FaultProfile): FaultProfile {
  const weights: NemesisWeights = { ...base.weights };
  for (const k of Object.keys(weights) as (keyof NemesisWeights)[]) weights[k] = 0;
  Object.assign(weights, { isolateLeader: 10, heal: 3, crashLeader: 2 });
  return {
    ...base,
    weights,
    nemesisIntervalMsMin: 30,
    nemesisIntervalMsMax: 150,
    newLeaderCrashRate: 0,
    newLeaderIsolateRate: 0.6,
    newLeaderCrashDelayMsMax: 40,
  };
}

/** Client pace for the flapping profile: slow, so a fresh leader often has no entry of its own term yet. */
export const FLAP_THINK_TIME_MS_MAX = 300;

/** A seed's draw: faults, client pace, disk speed. */
export interface SwarmDraw {
  faults: FaultProfile;
  client: ClientProfile;
  storage: StorageTiming;
}

/** A slow disk: writes take 5–40 ms, widening every crash-during-write window. */
const SLOW_DISK: StorageTiming = { writeLatencyMsMin: 5, writeLatencyMsMax: 40, flushIntervalMs: 500 };

/** The fault profile, client pace and disk speed of `seed` under swarm testing. */
export function swarmProfile(seed: number, base: FaultProfile, client: ClientProfile, storage: StorageTiming): SwarmDraw {
  const rng = new SeededRng((seed ^ SWARM_SALT) >>> 0);
  const x = rng.nextFloat();
  if (x < 0.25) return { faults: flapFaults(base), client: { ...client, thinkTimeMsMax: FLAP_THINK_TIME_MS_MAX }, storage };
  const start = x < 0.55 ? churnFaults(base) : base;
  const weights = { ...start.weights };
  for (const k of Object.keys(weights) as (keyof NemesisWeights)[]) weights[k] *= pick(rng, [0, 1, 1, 3]);
  weights.heal = Math.max(weights.heal, 2);
  weights.membership = Math.max(weights.membership, start.weights.membership); // membership changes in every non-flapping seed
  const harshWrites = rng.chance(0.3);
  const faults: FaultProfile = {
    ...start,
    weights,
    newLeaderCrashRate: pick(rng, [0, start.newLeaderCrashRate, 0.3]),
    newLeaderIsolateRate: pick(rng, [0, start.newLeaderIsolateRate, 0.3]),
    writeCrashRate: harshWrites ? 0.05 : start.writeCrashRate,
    voteWriteCrashRate: harshWrites ? 0.4 : start.voteWriteCrashRate,
    restartDelayMsMax: pick(rng, [start.restartDelayMsMax, 100]),
    downNodesMax: pick(rng, [1, 1, 2]),
    network: rng.chance(0.25) ? LOSSY_NETWORK : start.network,
  };
  return {
    faults,
    client: { ...client, thinkTimeMsMax: pick(rng, [client.thinkTimeMsMax, client.thinkTimeMsMax, 150]) },
    storage: rng.chance(0.25) ? SLOW_DISK : storage,
  };
}
