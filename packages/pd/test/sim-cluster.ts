/**
 * A tiny model of stores executing PD operators, for scheduler tests: regions live in a map,
 * each round every region's leader heartbeats PD, gets a step back and carries it out at
 * once (conf changes bump confVer, learners catch up immediately), and live stores send
 * store heartbeats. Down stores send nothing. As on a store, a region heartbeat is applied only
 * when it changes something (`shouldProposeRegionHeartbeat`), and every apply result goes to
 * the scheduler (`PdLeader.onApplied`).
 */
import type { OperatorStep, PdApplyResult, PdCommand, Peer, Region, ScheduleConfig, ScheduleOutput, SchedulerOptions } from '../src/index.ts';
import { PdStateMachine, Scheduler, shouldProposeRegionHeartbeat } from '../src/index.ts';
import { bootstrapCommand, expectKind, heartbeat, joinStores, peer, region, stats } from './helpers.ts';

export interface SimRegion {
  region: Region;
  leader: Peer;
  sizeBytes: number;
  keys: number;
  term?: number;
  /** Peers the leader reports as catching up. */
  pending?: number[];
}

export class SimCluster {
  readonly sm = PdStateMachine.create();
  readonly scheduler: Scheduler;
  readonly regions = new Map<number, SimRegion>();
  readonly down = new Set<number>();
  readonly draining = new Set<number>();
  /** Per store, the regions whose replica there it reports damaged. */
  readonly damaged = new Map<number, Set<number>>();
  nowMs = 0;
  leaderSinceMs = 0;
  private nextId = 10_000;
  readonly log: string[] = [];

  /** Store 1 (device d1) is bootstrapped with region 2 [,) and PD group 100; `devices` join as stores 102, 103, ... */
  constructor(devices: string[], config: Partial<ScheduleConfig> = {}, schedulerOptions: Partial<SchedulerOptions> = {}) {
    this.scheduler = new Scheduler(schedulerOptions);
    expectKind(this.apply(bootstrapCommand(0)), 'bootstrapped');
    this.storeIds = [1, ...joinStores(this.sm, devices, 0)];
    if (Object.keys(config).length > 0) expectKind(this.apply({ kind: 'setScheduleConfig', config: { ...this.sm.config, ...config } }), 'configSet');
    const first = this.sm.getRegionById(2)!;
    this.regions.set(2, { region: first.region, leader: first.leader!, sizeBytes: 0, keys: 0 });
    const pd = this.sm.pdGroup!;
    this.pdGroup = { region: pd.region, leader: pd.leader!, sizeBytes: 0, keys: 0 };
  }

  /** PD's own group, heartbeating and executing like a region. */
  pdGroup: SimRegion;

  readonly storeIds: number[];

  allocId = (): number => this.nextId++;

  /** Applies `cmd` and tells the scheduler, as `PdLeader.onApplied` does on the PD leader. */
  apply(cmd: PdCommand): PdApplyResult {
    const result = this.sm.apply(cmd);
    this.scheduler.onApplied(result);
    return result;
  }

  /** Joins a store (device `device`, and `extra` labels), a witness store when `witness`; returns its id. */
  join(device: string, witness = false, extra: Record<string, string> = {}): number {
    const labels: Record<string, string> = witness ? { ...extra, device, witness: 'true' } : { ...extra, device };
    const r = this.apply({ kind: 'putStore', storeId: 0, address: `addr-${device}-${this.sm.idHighWater}`, labels, nowMs: this.nowMs });
    const id = expectKind(r, 'storePut').storeId;
    (this.storeIds as number[]).push(id);
    return id;
  }

  /** Replaces store `id`'s labels (as its `putStore` on a restart does). */
  relabel(id: number, labels: Record<string, string>): void {
    const meta = this.sm.getStore(id)!.meta;
    expectKind(this.apply({ kind: 'putStore', storeId: id, address: meta.address, labels, nowMs: this.nowMs }), 'storePut');
  }

  /** Replaces the model's regions (and tells PD through heartbeats). */
  setRegions(regions: SimRegion[]): void {
    this.regions.clear();
    for (const r of regions) this.regions.set(r.region.id, r);
    this.heartbeatRegions(false);
  }

  heartbeatStores(): void {
    for (const id of this.storeIds) {
      if (this.down.has(id) || this.sm.getStore(id)?.meta.state === 'tombstone') continue;
      const usedBytes = [...this.regions.values()].filter((r) => r.region.peers.some((p) => p.storeId === id)).reduce((n, r) => n + r.sizeBytes, 0);
      // A damaged replica is reported until it is removed (a new one there starts whole).
      const damaged = [...(this.damaged.get(id) ?? [])].filter((regionId) => this.regions.get(regionId)?.region.peers.some((p) => p.storeId === id));
      if (damaged.length > 0) this.damaged.set(id, new Set(damaged));
      else this.damaged.delete(id);
      this.apply({ kind: 'storeHeartbeat', stats: stats(id, { draining: this.draining.has(id), usedBytes, ...(damaged.length > 0 ? { damagedRegionIds: damaged } : {}) }), nowMs: this.nowMs });
    }
  }

  /** Every live-led region heartbeats; with `execute`, the returned step is carried out. */
  heartbeatRegions(execute: boolean): void {
    for (const r of [this.pdGroup, ...this.regions.values()]) {
      if (this.down.has(r.leader.storeId) && !this.elect(r)) continue;
      const hb = heartbeat(r.region, r.leader, { approximateSizeBytes: r.sizeBytes, approximateKeys: r.keys, term: r.term ?? 1, pendingPeers: r.pending ?? [] });
      // As the store layer does: only a heartbeat that changes something goes through Raft.
      if (shouldProposeRegionHeartbeat(this.sm, hb)) {
        const result = this.apply({ kind: 'regionHeartbeat', heartbeat: hb, nowMs: this.nowMs });
        if (result.kind === 'refused') throw new Error(`heartbeat refused: ${JSON.stringify(result.error)}`);
      }
      const step = this.scheduler.onRegionHeartbeat(hb, this.nowMs);
      if (execute && step !== null) this.execute(r, step);
    }
  }

  schedule(): ScheduleOutput {
    const out = this.scheduler.schedule({ sm: this.sm, nowMs: this.nowMs, leaderSinceMs: this.leaderSinceMs, allocId: this.allocId });
    for (const a of out.added) this.log.push(`${a.operator.kind}: ${a.operator.desc}`);
    for (const cmd of out.commands) this.apply(cmd);
    return out;
  }

  /** `n` rounds of: store heartbeats, region heartbeats (executing steps), a schedule round; time advances `stepMs`. */
  run(n: number, stepMs = 1000): void {
    for (let i = 0; i < n; i++) {
      this.heartbeatStores();
      this.heartbeatRegions(true);
      this.schedule();
      this.nowMs += stepMs;
    }
  }

  /** A live voter takes over from a leader on a down store (a Raft election); false when none can. */
  private elect(r: SimRegion): boolean {
    const voters = r.region.peers.filter((p) => p.role === 'voter');
    const live = voters.filter((p) => !this.down.has(p.storeId));
    // A witness votes but never leads.
    const candidate = live.find((p) => !p.witness);
    if (live.length * 2 <= voters.length || candidate === undefined) return false;
    r.leader = candidate;
    r.term = (r.term ?? 1) + 1;
    return true;
  }

  private execute(r: SimRegion, step: OperatorStep): void {
    const bump = (peers: Peer[]): void => {
      r.region = { ...r.region, peers, epoch: { ...r.region.epoch, confVer: r.region.epoch.confVer + 1 } };
    };
    switch (step.kind) {
      case 'addLearner':
        if (!r.region.peers.some((p) => p.id === step.peerId)) bump([...r.region.peers, { id: step.peerId, storeId: step.storeId, role: 'learner', ...(step.witness ? { witness: true as const } : {}) }]);
        return;
      case 'promoteLearner':
        bump(r.region.peers.map((p) => (p.id === step.peerId ? { ...p, role: 'voter' } : p)));
        return;
      case 'removePeer':
        if (step.peerId !== r.leader.id) bump(r.region.peers.filter((p) => p.id !== step.peerId));
        return;
      case 'transferLeader': {
        const to = r.region.peers.find((p) => p.storeId === step.toStoreId && p.role === 'voter' && !p.witness);
        if (to && !this.down.has(to.storeId)) {
          r.leader = to;
          r.term = (r.term ?? 1) + 1;
        }
        return;
      }
      case 'splitRegion':
        return;
    }
  }

  /** Store ids holding a replica of region `id`, sorted. */
  storesOf(id: number): number[] {
    const r = id === this.pdGroup.region.id ? this.pdGroup : this.regions.get(id)!;
    return r.region.peers.map((p) => p.storeId).sort((a, b) => a - b);
  }

  /** Leaders per store over the model's regions. */
  leaderCounts(): Map<number, number> {
    const m = new Map<number, number>();
    for (const r of this.regions.values()) m.set(r.leader.storeId, (m.get(r.leader.storeId) ?? 0) + 1);
    return m;
  }
}

/** `n` regions over consecutive key ranges, each with voters on `stores` (peer ids from 5000) led on `leaderStore`. */
export function regionsOn(n: number, stores: number[], leaderStore = stores[0]): SimRegion[] {
  const out: SimRegion[] = [];
  for (let i = 0; i < n; i++) {
    const start = i === 0 ? '' : `k${String(i).padStart(3, '0')}`;
    const end = i === n - 1 ? '' : `k${String(i + 1).padStart(3, '0')}`;
    const id = i === 0 ? 2 : 3000 + i;
    const peers = stores.map((s, j) => peer(5000 + i * 10 + j, s));
    const r: Region = region(id, start, end, peers, { confVer: 5, version: 5 });
    out.push({ region: r, leader: peers[stores.indexOf(leaderStore)], sizeBytes: 1000, keys: 10 });
  }
  return out;
}
