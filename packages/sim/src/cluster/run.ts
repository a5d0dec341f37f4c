/**
 * One cluster-mode seed: set up a PD-driven cluster on virtual time, run concurrent clients
 * while the nemesis injects faults, heal, wait for replicas to converge, read every key, and
 * check the history (linearizability per key) and the cluster (region coverage, convergence,
 * stores stopped with an error).
 */
import { ENGINE_LABEL } from '@peerkv/pd';
import { SeededRng } from '@peerkv/raft';
import { pick } from '../rng-utils.ts';
import { History, describeOp, type Operation, type OpStatus } from '../history.ts';
import { checkLinearizable } from '../linearizability.ts';
import { ClusterEnv, type DataKeyProofStats, type OperatorCounts } from './cluster-env.ts';
import { dataKeyLagProblem, type DataKeyRotationStats } from './data-key-rotation.ts';
import { clusterDump, convergenceProblem, coverageProblem, pdReplicaOverlapProblem, replicaViewProblem, laggingFullReplicaProblem, witnessDataProblem, type ClusterViolation } from './checks.ts';
import { nemesisLoop, type NemesisStats } from './nemesis.ts';
import { defaultClusterOptions, type ClusterSimOptions } from './options.ts';
import { DigestChecker, sampleDigests } from './digests.ts';
import { checkStaleReads } from './stale-reads.ts';
import { makeTabHosts, makeTabs } from './tabs.ts';
import { clientLoops, emptyWorkloadStats, finalReads, makeClient, simClientOptions, type Workload, type WorkloadStats } from './workload.ts';

/** What one seed did and found. */
export interface ClusterSeedResult {
  seed: number;
  ops: number;
  outcomes: Record<OpStatus, number>;
  violations: ClusterViolation[];
  /** The linearizability check ran out of its step budget (not a pass). */
  linearizabilityUnknown: boolean;
  /** Search steps the linearizability check spent. */
  checkSteps: number;
  /** FNV-1a of the history: equal for two runs of one seed. */
  historyHash: string;
  operations: readonly Operation[];
  nemesis: NemesisStats;
  /** Every fault injected, by kind (for the summary). */
  faults: FaultCounts;
  workload: WorkloadStats;
  /** Operators PD finished: succeeded by kind, the rest by outcome. */
  operators: OperatorCounts;
  /** The data-key proofs clients and leaders made (all 0 with `SIM_SEAL=0`). */
  proofs: DataKeyProofStats;
  /** The data-key rotation fault's and check's counts. */
  dataKeys: DataKeyRotationStats;
  /** Data regions at the end, and the most stores ever used (wipes add stores). */
  regions: number;
  storesJoined: number;
  /** The device that left for good after healing, if any. */
  retired?: string;
  /** Groups (data regions and PD's) with a witness voter once converged after healing (0 without `witness`). */
  witnessGroups: number;
  /** Groups (data regions and PD's) whose full voters span 2 or more engines once converged after healing. */
  multiEngineGroups: number;
  /** Groups (data regions and PD's) once converged after healing. */
  groups: number;
  virtualMs: number;
  /** Virtual time from healing to convergence, ms. */
  convergeMs: number;
  timersFired: number;
  trace: string[];
}

/** Faults of one seed, by kind. */
export interface FaultCounts {
  /** Crashes (nemesis crash-restarts, wipes and the retired device), power cuts among them. */
  crashes: number;
  powerCuts: number;
  /** Writes in flight torn by a crash (a prefix landed). */
  tornWrites: number;
  /** Writes in flight lost by a crash, and landed whole without their completion. */
  inFlightLost: number;
  inFlightLanded: number;
  /** Completed, unsynced writes lost by power cuts. */
  lostUnsyncedWrites: number;
  restarts: number;
  wipes: number;
  partitions: number;
  leaderTransfers: number;
  /** Sends between stores delivered twice, or out of their link's order. */
  duplicates: number;
  reorders: number;
  /** Disk writes that spent a non-zero delay in flight. */
  slowDiskWrites: number;
  /** Stores whose clock was skewed (of those that ran). */
  skewedStores: number;
  /** Sends of snapshot traffic lost (`netSnapshotDropRate`), and staged chunks a pending apply found gone. */
  snapshotDrops: number;
  stagedChunksLost: number;
}

/** The fault counts of `env` after a run. */
function faultCounts(env: ClusterEnv, nemesis: NemesisStats): FaultCounts {
  const c = env.crashStats;
  return {
    crashes: c.crashes,
    powerCuts: c.powerCuts,
    tornWrites: c.tornWrites,
    inFlightLost: c.inFlightLost,
    inFlightLanded: c.inFlightLanded,
    lostUnsyncedWrites: c.unsyncedLost,
    restarts: nemesis.restarts,
    wipes: nemesis.wipes,
    partitions: nemesis.partitions,
    leaderTransfers: nemesis.leaderTransfers,
    duplicates: env.pd.router.stats.duplicated,
    reorders: env.pd.router.stats.reordered,
    slowDiskWrites: env.diskStats().slowWrites,
    snapshotDrops: env.snapshotFaults.snapshotSendsDropped,
    stagedChunksLost: env.snapshotFaults.stagedChunksLost,
    skewedStores: [...env.clockSkews.values()].filter((s) => s !== 0).length,
  };
}

/** FNV-1a over the JSON of the operations. */
export function historyHash(ops: readonly Operation[]): string {
  const s = JSON.stringify(ops);
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return `${h.toString(16).padStart(8, '0')}:${ops.length}`;
}

/** Runs `p` on virtual time for at most `maxMs`; throws if it neither resolves nor rejects. */
export async function within<T>(env: ClusterEnv, what: string, p: Promise<T>, maxMs: number): Promise<T> {
  const r = await env.sched.await(p, maxMs);
  if (r === undefined) throw new Error(`${what}: not done after ${maxMs} virtual ms`);
  if ('error' in r) throw r.error;
  return r.value;
}

/** Runs one seed end to end. */
export async function runClusterSeed(seed: number, overrides: Partial<Omit<ClusterSimOptions, 'seed'>> = {}): Promise<ClusterSeedResult> {
  const o = defaultClusterOptions(seed, overrides);
  const env = new ClusterEnv(o);
  const rng = new SeededRng(seed ^ 0x2545f491);
  const history = new History();
  const violations: ClusterViolation[] = [];
  const at = (): number => env.sched.now() - env.startMs;
  const nemesis: NemesisStats = { kills: 0, restarts: 0, wipes: 0, partitions: 0, leaderTransfers: 0 };
  const workload: WorkloadStats = emptyWorkloadStats();
  const digests = new DigestChecker();
  let lin = false;
  let convergeMs = -1;
  let retired: string | undefined;
  let witnessGroups = 0;
  let multiEngineGroups = 0;
  let groups = 0;
  try {
    await within(env, 'setup', env.setup(), o.setupMaxMs);
    if (!(await env.sched.runUntil(() => convergenceProblem(env) === undefined, o.setupMaxMs))) {
      violations.push({ kind: 'liveness', atMs: at(), message: `initial replication did not converge: ${convergenceProblem(env)}` });
    }
    const readConsistency = o.mutations.staleReads ? 'stale' : 'linearizable';
    // Each client sits next to one device's store (where its follower and stale reads go).
    const clients = Array.from({ length: o.clients }, (_, i) => makeClient(env, i, readConsistency, env.devices[i % env.devices.length].storeId));
    const tabHosts = makeTabHosts(env, clients, (i) => simClientOptions(env, i, 29, 'w'), o.mutations.tabServe);
    const w: Workload = { env, history, clients, tabs: makeTabs(seed), tabHosts, stats: workload, readConsistency };
    const until = env.sched.now() + o.workloadMs;
    const loops = clientLoops(w, rng.fork(), until);
    // A wipe waits until PD's view and every replica agree (`replicaViewProblem`), not PD's alone.
    const faults = nemesisLoop(env, rng.fork(), until, () => convergenceProblem(env) === undefined && replicaViewProblem(env) === undefined && (!o.witness || laggingFullReplicaProblem(env) === undefined), nemesis);
    const retireRng = rng.fork();
    const sampler = sampleCoverage(env, until, (message) => violations.push({ kind: 'regionCoverage', atMs: at(), message }));
    const digestSampler = sampleDigests(env, digests, until);
    await within(env, 'workload', Promise.all([...loops, faults, sampler, digestSampler]), o.workloadMs + o.clientBudgetMs * 3 + o.faultLengthMs[1] * 2 + o.setupMaxMs);
    await within(env, 'heal', env.healAll(), o.setupMaxMs);
    const healedAt = env.sched.now();
    const converged = await runUntilConverged(env, o.convergeMaxMs);
    convergeMs = env.sched.now() - healedAt;
    witnessGroups = witnessGroupsOf(env);
    ({ multiEngineGroups, groups } = engineGroupsOf(env));
    if (!converged) {
      violations.push({ kind: 'liveness', atMs: at(), message: `not converged ${o.convergeMaxMs}ms after healing: ${convergenceProblem(env)}` });
      env.trace.push(...clusterDump(env));
    }
    if (converged && !(await env.sched.runUntil(() => dataKeyLagProblem(env.liveStores(), env.pd.regions()) === undefined, o.convergeMaxMs))) {
      violations.push({ kind: 'dataKeySwitch', atMs: at(), message: `not every region switched data keys ${o.convergeMaxMs}ms after converging: ${dataKeyLagProblem(env.liveStores(), env.pd.regions())}` });
    }
    if (converged && env.dataProofMac) await within(env, 'retire data keys', env.dataKeys.retire(env), o.setupMaxMs);
    if (converged && env.devices.length > 1 && retireRng.nextFloat() < o.retireChance) {
      // A device leaves for good: PD must rebuild its replicas on the others.
      // With a witness, a full device retires only while two full ones stay (else no full
      // store could take its replicas: PD keeps them, as it must, and nothing converges).
      const fullUp = env.devices.filter((x) => x.up && !x.witness).length;
      const d = pick(retireRng, env.devices.filter((x) => x.up && (x.witness || fullUp > 2)));
      await within(env, 'retire', env.crash(d, retireRng), o.setupMaxMs);
      retired = d.label;
      env.note(`retire ${d.label} (store ${d.storeId}) for good`);
      if (!(await runUntilConverged(env, o.convergeMaxMs))) {
        violations.push({ kind: 'liveness', atMs: at(), message: `not converged ${o.convergeMaxMs}ms after retiring ${d.label}: ${convergenceProblem(env)}` });
        env.trace.push(...clusterDump(env));
      }
    }
    const reader = makeClient(env, o.clients, 'linearizable');
    const failed = await within(env, 'final reads', finalReads(env, reader, history, o.clients), o.keys * o.clientBudgetMs * 2);
    if (failed > 0) violations.push({ kind: 'liveness', atMs: at(), message: `${failed} final read(s) failed on the healed cluster` });
    const cov = await lastChecks(env, digests);
    if (cov) violations.push({ kind: 'regionCoverage', atMs: at(), message: cov });
    const wd = await witnessDataProblem(env);
    if (wd) violations.push({ kind: 'witnessData', atMs: at(), message: wd });
  } catch (e) {
    violations.push({ kind: 'storeError', atMs: at(), message: `run aborted: ${String((e as Error).stack ?? e)}` });
  }
  history.closePending(env.rel());
  for (const p of storeErrorProblems(env)) violations.push({ kind: 'storeError', ...p });
  // Stale reads promise no linearizability: they get their own, weaker check.
  const linearizable = history.operations().filter((op) => op.via !== 'staleGet');
  for (const p of checkStaleReads(history.operations())) violations.push({ kind: 'staleRead', atMs: p.atMs, message: p.message });
  for (const p of digests.problems) violations.push({ kind: 'divergence', atMs: p.atMs, message: p.message });
  workload.digestChecks = digests.checks;
  for (const p of env.scanProblems) violations.push({ kind: 'scanOrder', atMs: at(), message: p });
  for (const s of env.liveStores()) {
    env.collectGateStats(s);
    env.dataKeys.collect(s, at());
  }
  for (const p of env.dataKeys.problems) violations.push({ kind: 'dataKeySwitch', ...p });
  if (env.proofStats.refusedAfterProof > 0) violations.push({ kind: 'dataKeyRefused', atMs: at(), message: `${env.proofStats.refusedAfterProof} answer(s) refused a client user data after it proved the data key, with no link change since` });
  const report = checkLinearizable(linearizable, { budgetSteps: o.checkBudgetSteps });
  for (const f of report.findings) {
    if (f.verdict === 'illegal') {
      violations.push({ kind: 'linearizability', atMs: at(), message: `key ${f.key} not linearizable; stuck at ${f.stuckOp ? describeOp(f.stuckOp) : '?'}; ops:\n      ${f.ops.map(describeOp).join('\n      ')}` });
    } else lin = true;
  }
  const storesJoined = new Set(env.devices.map((d) => d.engineName)).size + env.devices.reduce((n, d) => n + d.wipes, 0);
  const regions = env.pd.regions().length;
  await closeCluster(env);
  return {
    seed,
    ops: history.operations().length,
    outcomes: history.counts(),
    violations,
    linearizabilityUnknown: lin,
    checkSteps: report.steps,
    historyHash: historyHash(history.operations()),
    operations: history.operations(),
    nemesis,
    faults: faultCounts(env, nemesis),
    workload,
    operators: { ...env.operators },
    proofs: { ...env.proofStats },
    dataKeys: { ...env.dataKeys.stats },
    regions,
    storesJoined,
    ...(retired !== undefined ? { retired } : {}),
    witnessGroups,
    multiEngineGroups,
    groups,
    virtualMs: at(),
    convergeMs,
    timersFired: env.sched.firedTimers,
    trace: env.trace,
  };
}

/** Groups in PD's view (data regions and PD's own), and those whose full voters span 2 or more `engine` labels. */
export function engineGroupsOf(env: ClusterEnv): { multiEngineGroups: number; groups: number } {
  const pd = env.liveStores().find((s) => s.pdIsLeader())?.pdState();
  const all = [...env.pd.regions(), ...(pd?.pdGroup ? [pd.pdGroup.region] : [])];
  const engines = (r: (typeof all)[number]): number => new Set(r.peers.filter((p) => p.role === 'voter' && !p.witness).flatMap((p) => pd?.getStore(p.storeId)?.meta.labels[ENGINE_LABEL] ?? [])).size;
  return { multiEngineGroups: all.filter((r) => engines(r) >= 2).length, groups: all.length };
}

/** Groups in PD's view (data regions and PD's own) with a witness voter. */
export function witnessGroupsOf(env: ClusterEnv): number {
  const pd = env.liveStores().find((s) => s.pdIsLeader())?.pdState();
  const groups = [...env.pd.regions(), ...(pd?.pdGroup ? [pd.pdGroup.region] : [])];
  return groups.filter((r) => r.peers.some((p) => p.witness && p.role === 'voter')).length;
}

/**
 * Stores that stopped with an error and timer callbacks that threw, as problems: one per
 * distinct error (a broken replica can throw the same assertion every tick).
 */
export function storeErrorProblems(env: ClusterEnv): { atMs: number; message: string }[] {
  const out = env.storeFaults.map((f) => ({ atMs: f.atMs - env.startMs, message: `${f.device} store ${f.storeId ?? '?'}: ${f.reason}` }));
  const thrown = new Map<string, { atMs: number; times: number }>();
  for (const c of env.sched.callbackErrors) {
    const text = String((c.error as Error).stack ?? c.error);
    const seen = thrown.get(text);
    if (seen) seen.times++;
    else thrown.set(text, { atMs: c.atMs - env.startMs, times: 1 });
  }
  for (const [text, t] of thrown) out.push({ atMs: t.atMs, message: `timer callback threw${t.times > 1 ? ` (${t.times} times)` : ''}: ${text}` });
  return out;
}

/**
 * The checks of a healed, converged, quiet cluster: one more digest sample (every replica has
 * caught up), stores stopped with an error collected; returns PD's region coverage problem.
 */
export async function lastChecks(env: ClusterEnv, digests: DigestChecker | undefined): Promise<string | undefined> {
  if (digests !== undefined) {
    await env.sched.runFor(QUIET_BEFORE_LAST_DIGEST_MS);
    await within(env, 'last digest sample', digests.sample(env), env.o.setupMaxMs);
  }
  env.collectStopped();
  return coverageProblem(env.pd.regions());
}

/** Virtual time the healed cluster runs before the last digest sample, ms (followers apply the last entries). */
const QUIET_BEFORE_LAST_DIGEST_MS = 500;

/** Virtual time between two overlap checks of every PD replica's region map during the workload, ms. */
const COVERAGE_SAMPLE_MS = 100;

/** Checks PD replicas' region maps for overlaps every `COVERAGE_SAMPLE_MS` until `untilMs`; reports the first problem only. */
export async function sampleCoverage(env: ClusterEnv, untilMs: number, report: (message: string) => void): Promise<void> {
  while (env.sched.now() < untilMs) {
    await env.sched.sleep(COVERAGE_SAMPLE_MS);
    const p = pdReplicaOverlapProblem(env);
    if (p) {
      report(`during the workload: ${p}`);
      return;
    }
  }
}

/** Runs until converged, checking every `CONVERGE_POLL_MS` of virtual time (the check is not free). */
export async function runUntilConverged(env: ClusterEnv, maxMs: number): Promise<boolean> {
  const deadline = env.sched.now() + maxMs;
  while (env.sched.now() < deadline) {
    if (convergenceProblem(env) === undefined) return true;
    await env.sched.runFor(CONVERGE_POLL_MS);
  }
  return convergenceProblem(env) === undefined;
}

/** Virtual time between two convergence checks, ms. */
const CONVERGE_POLL_MS = 50;

async function closeCluster(env: ClusterEnv): Promise<void> {
  await env.sched.await(env.pd.close(), 10_000);
}
