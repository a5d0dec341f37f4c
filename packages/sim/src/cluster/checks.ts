/**
 * Cluster-level checks: PD's latest region ranges tile the key space (disjoint, no gaps),
 * and after faults heal every region and PD's own group has min(replicas, live stores)
 * voters, all on running stores that actually host them. Owns the violation kinds of
 * cluster mode.
 */
import { ENGINE_LABEL, compareKeys, type PdStateMachine, type Region } from '@peerkv/pd';
import { PD_REGION_ID, dataColumnFamiliesOf, type Store } from '@peerkv/store';
import type { ClusterEnv } from './cluster-env.ts';

/** What went wrong in a cluster run. */
export type ClusterViolationKind =
  /** The per-key history is not linearizable (includes acknowledged writes missing from the final reads). */
  | 'linearizability'
  /** Replicas did not converge after healing, or a final read failed on a healed cluster. */
  | 'liveness'
  /** PD's regions overlap or leave a gap. */
  | 'regionCoverage'
  /** A store stopped with an error, failed to start, or a timer callback threw. */
  | 'storeError'
  /** A stale read returned a value no write had been invoked to write (before the read returned). */
  | 'staleRead'
  /** A scan returned keys out of its range, out of order, or twice. */
  | 'scanOrder'
  /** Two replicas of a region at the same applied index and epoch hold different data. */
  | 'divergence'
  /** A witness store holds user data (it must keep the log and metadata only). */
  | 'witnessData'
  /** A member (a client holding the data key) was refused user data after it proved the data key (`DataKeyProofStats.refusedAfterProof`). */
  | 'dataKeyRefused'
  /**
   * A replica applied an entry under a key older than its region's data-key switch, replicas of
   * a region named different switches at the same applied index, a store lost a rotation it
   * acknowledged, or one stopped on a retired key (data-key-rotation.ts).
   */
  | 'dataKeySwitch';

/** One broken rule, at a virtual time relative to the run's start. */
export interface ClusterViolation {
  kind: ClusterViolationKind;
  atMs: number;
  message: string;
}

const hex = (b: Uint8Array): string => (b.length === 0 ? '∅' : new TextDecoder().decode(b));

/** Why `regions` do not tile the key space, or undefined when they do. */
export function coverageProblem(regions: readonly Region[]): string | undefined {
  if (regions.length === 0) return 'PD knows no data region';
  const sorted = [...regions].sort((a, b) => compareKeys(a.startKey, b.startKey));
  if (sorted[0].startKey.length !== 0) return `first region ${sorted[0].id} starts at ${hex(sorted[0].startKey)}, not the start of the key space`;
  for (let i = 0; i + 1 < sorted.length; i++) {
    const a = sorted[i];
    const b = sorted[i + 1];
    if (a.endKey.length === 0 || compareKeys(a.endKey, b.startKey) !== 0) {
      return `region ${a.id} [${hex(a.startKey)}, ${hex(a.endKey)}) and region ${b.id} [${hex(b.startKey)}, ${hex(b.endKey)}) ${a.endKey.length === 0 || compareKeys(a.endKey, b.startKey) > 0 ? 'overlap' : 'leave a gap'}`;
    }
  }
  const last = sorted[sorted.length - 1];
  if (last.endKey.length !== 0) return `last region ${last.id} ends at ${hex(last.endKey)}, not the end of the key space`;
  return undefined;
}

/**
 * The voters a converged group has over `live` stores (`witnesses` among them): full ones up
 * to `replicas`, plus one witness when that gives at least two full but fewer than `replicas`
 * (PD's `ClusterView.wantedPlacement`, restated).
 */
export function wantedVoters(replicas: number, live: ReadonlySet<number>, witnesses: ReadonlySet<number>): { full: number; witness: number } {
  const liveWitnesses = [...live].filter((id) => witnesses.has(id)).length;
  const full = Math.min(replicas, live.size - liveWitnesses);
  return { full, witness: full >= 2 && full < replicas && liveWitnesses > 0 ? 1 : 0 };
}

/**
 * Why one group is not converged to `want` voters on `live` stores, or undefined. A witness
 * peer must sit on a witness store and a full one on a full store: a full replica on a
 * witness store would be a copy of the data that holds none.
 */
function groupProblem(name: string, region: Region, want: { full: number; witness: number }, live: Map<number, Store>, witnessStores: ReadonlySet<number>): string | undefined {
  const voters = region.peers.filter((p) => p.role === 'voter');
  const total = want.full + want.witness;
  const witnesses = voters.filter((p) => p.witness).length;
  const shape = JSON.stringify(region.peers.map((p) => [p.storeId, p.role, ...(p.witness ? ['witness'] : [])]));
  if (voters.length !== total || region.peers.length !== total || witnesses !== want.witness) return `${name} has peers ${shape}, want ${want.full} full and ${want.witness} witness voters`;
  for (const p of voters) {
    const s = live.get(p.storeId);
    if (!s) return `${name} has a voter on store ${p.storeId}, which is not running`;
    if (!s.regionIds().includes(region.id)) return `${name} lists store ${p.storeId}, which does not host it`;
    if (Boolean(p.witness) !== witnessStores.has(p.storeId)) return `${name} has ${p.witness ? 'a witness' : 'a full'} peer ${p.id} on ${witnessStores.has(p.storeId) ? 'witness' : 'full'} store ${p.storeId}`;
  }
  return undefined;
}

/**
 * Why `region`'s full voters span fewer engines (label `engine`) than PD's `replicaEnginesMin`
 * wants of the engines of the live full stores, or undefined (always while the rule is off).
 */
function engineProblem(name: string, region: Region, pd: PdStateMachine, liveIds: ReadonlySet<number>, witnessStores: ReadonlySet<number>): string | undefined {
  const min = pd.config.replicaEnginesMin;
  if (min < 2) return undefined;
  const enginesOf = (ids: Iterable<number>): Set<string> => new Set([...ids].flatMap((id) => pd.getStore(id)?.meta.labels[ENGINE_LABEL] ?? []));
  const available = enginesOf([...liveIds].filter((id) => !witnessStores.has(id)));
  const want = Math.min(min, available.size);
  const spanned = enginesOf(region.peers.filter((p) => p.role === 'voter' && !p.witness).map((p) => p.storeId));
  return want < 2 || spanned.size >= want ? undefined : `${name} spans engines [${[...spanned].join(', ')}], want ${want} of [${[...available].join(', ')}]`;
}

/** Why the cluster is not converged (PD group and data regions at full strength, on the engines `replicaEnginesMin` wants), or undefined. */
export function convergenceProblem(env: ClusterEnv): string | undefined {
  const live = new Map(env.liveStores().map((s) => [s.storeId, s]));
  const leader = [...live.values()].find((s) => s.pdIsLeader());
  const pd = leader?.pdState();
  if (!pd) return 'no PD leader';
  const { maxReplicas, pdReplicas } = pd.config;
  const group = pd.pdGroup?.region;
  if (!group) return 'PD has no group';
  const liveIds = new Set(live.keys());
  const witnessStores = env.witnessStoreIds();
  const p = groupProblem('PD group', group, wantedVoters(pdReplicas, liveIds, witnessStores), live, witnessStores) ?? engineProblem('PD group', group, pd, liveIds, witnessStores);
  if (p) return p;
  const regions = env.pd.regions();
  const cov = coverageProblem(regions);
  if (cov) return cov;
  for (const r of regions) {
    const q = groupProblem(`region ${r.id}`, r, wantedVoters(maxReplicas, liveIds, witnessStores), live, witnessStores) ?? engineProblem(`region ${r.id}`, r, pd, liveIds, witnessStores);
    if (q) return q;
  }
  return undefined;
}

/**
 * A replica whose region PD does not know yet, or knows at another epoch (a split or a
 * membership change applied on some stores and not yet reported), described; undefined when
 * every live replica matches PD. PD's view alone can look converged in that window: a split's
 * right half exists only on the stores that applied it, and a store still behind gets its
 * replica later, from the new region's leader. Wiping a store then can take two of the new
 * region's three replicas (sim --txn seed 70: region 1009 left on one store).
 */
export function replicaViewProblem(env: ClusterEnv): string | undefined {
  const known = new Map(env.pd.regions().map((r) => [r.id, r]));
  for (const s of env.liveStores()) {
    for (const r of s.status().regions) {
      if (r.regionId === PD_REGION_ID || r.peers.length === 0) continue;
      const pd = known.get(r.regionId);
      if (!pd) return `store ${s.storeId} hosts region ${r.regionId}, which PD does not know yet`;
      if (pd.epoch.version !== r.epoch.version || pd.epoch.confVer !== r.epoch.confVer) return `store ${s.storeId} has region ${r.regionId} at epoch ${JSON.stringify(r.epoch)}, PD at ${JSON.stringify(pd.epoch)}`;
    }
  }
  return undefined;
}

/**
 * A full replica behind its leader's commit index, described; undefined when every full
 * replica of every group has applied all its leader committed. With a witness a wipe waits for
 * this too: "2 full + 1 witness" commits with the leader and the witness, so a full replica
 * lost for good while the other lags takes entries no full replica holds (the witness keeps
 * them in its log only, and refuses its vote to the lagging one, so the group stays without a
 * leader rather than losing them: sim --txn --witness seed 36 before this guard). The same
 * fault model as 3 full replicas, one permanent loss at a time, needs the other full replica
 * whole.
 */
export function laggingFullReplicaProblem(env: ClusterEnv): string | undefined {
  const stores = env.liveStores();
  const commits = new Map<number, number>();
  for (const s of stores) for (const r of s.status().regions) if (r.role === 'leader') commits.set(r.regionId, Math.max(commits.get(r.regionId) ?? 0, r.commit));
  for (const s of stores) {
    for (const r of s.status().regions) {
      const commit = commits.get(r.regionId);
      if (r.witness || r.peers.length === 0) continue;
      if (commit === undefined) return `region ${r.regionId} has no live leader`;
      if (r.applied < commit) return `store ${s.storeId} applied region ${r.regionId} to ${r.applied}, its leader committed ${commit}`;
    }
  }
  return undefined;
}

/** A multi-line picture of the cluster for failure reports: PD's operators and stores, every replica's Raft state. */
export function clusterDump(env: ClusterEnv): string[] {
  const out: string[] = [];
  const leader = env.liveStores().find((s) => s.pdIsLeader());
  const pd = leader?.pdState();
  out.push(`PD leader: store ${leader?.storeId ?? 'none'}; operators ${JSON.stringify(leader?.pdOperators() ?? [])}`);
  for (const st of pd?.listStores() ?? []) out.push(`PD store ${st.meta.id} ${st.meta.state} ${JSON.stringify(st.meta.labels)} lastHeartbeat=${st.lastHeartbeatMs - env.startMs}ms`);
  for (const r of pd?.allRegions() ?? []) out.push(`PD region ${r.region.id} epoch=${JSON.stringify(r.region.epoch)} peers=${JSON.stringify(r.region.peers.map((p) => [p.id, p.storeId, p.role, ...(p.witness ? ['witness'] : [])]))} leader=${r.leader?.id ?? '-'}`);
  for (const s of env.liveStores()) {
    for (const r of s.status().regions) {
      out.push(`store ${s.storeId} region ${r.regionId} peer ${r.peerId} ${r.role} term=${r.term} lead=${r.lead} commit=${r.commit} applied=${r.applied} hib=${r.hibernating} epoch=${JSON.stringify(r.epoch)} peers=${JSON.stringify(r.peers.map((p) => [p.id, p.storeId, p.role]))}`);
    }
  }
  return out;
}

/** Why a running witness store's engine holds pairs in a data column family, or undefined (`--witness`). */
export async function witnessDataProblem(env: ClusterEnv): Promise<string | undefined> {
  const cfs = dataColumnFamiliesOf(env.o.dataModel, env.o.dataColumnFamilies);
  for (const d of env.devices) {
    const engine = d.witness ? env.engineOf(d) : undefined;
    if (engine === undefined) continue;
    for (const cf of cfs) {
      for await (const kv of engine.scan(cf, { limit: 1 })) return `witness ${d.label} (store ${d.storeId}) holds ${cf} key ${hex(kv.key)}`;
    }
  }
  // Every full store seals (sim-cipher.ts): a witness that could read a write or txn command
  // got one some path proposed unsealed.
  for (const s of env.liveStores()) {
    const seen = s.status().witnessEntries;
    if (seen && seen.plain > 0) return `witness store ${s.storeId} received ${seen.plain} unsealed write/txn entries (and ${seen.sealed} sealed)`;
  }
  return undefined;
}

/** Two regions of `regions` that overlap, described, or undefined when they are disjoint. */
export function overlapProblem(regions: readonly Region[]): string | undefined {
  const sorted = [...regions].sort((a, b) => compareKeys(a.startKey, b.startKey));
  for (let i = 0; i + 1 < sorted.length; i++) {
    const a = sorted[i];
    const b = sorted[i + 1];
    if (a.endKey.length === 0 || compareKeys(a.endKey, b.startKey) > 0) {
      return `region ${a.id} [${hex(a.startKey)}, ${hex(a.endKey)}) and region ${b.id} [${hex(b.startKey)}, ${hex(b.endKey)}) overlap`;
    }
  }
  return undefined;
}

/**
 * Why some live PD replica's region map has overlapping regions, or undefined. (Gaps are
 * normal for a while: after a split PD learns the new right half from its leader's first
 * heartbeat; full coverage is checked once the cluster has converged.)
 */
export function pdReplicaOverlapProblem(env: ClusterEnv): string | undefined {
  for (const s of env.liveStores()) {
    const regions = (s.pdState()?.allRegions() ?? []).map((i) => i.region).filter((r) => r.id !== PD_REGION_ID);
    const p = overlapProblem(regions);
    if (p) return `PD replica on store ${s.storeId}: ${p}`;
  }
  return undefined;
}
