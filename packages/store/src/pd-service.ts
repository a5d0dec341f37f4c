/**
 * Hosting PD: this store's replica of PD's Raft group (region `PD_REGION_ID`). Proposes PD
 * commands, allocates ids and TSO timestamps from the leader's granted windows, answers
 * region heartbeats with operator steps, runs the scheduler's rounds, and bootstraps a new
 * cluster. The PD state machine itself lives in `@peerkv/pd`; `PdHost` keeps its leader
 * services beside the replica.
 */
import type { GcRegisterResult, PdApplyResult, PdCommand, PdLeaderTick, Region, RegionHeartbeat, StoreStats } from '@peerkv/pd';
import { encodePdCommand, shouldProposeRegionHeartbeat, shouldProposeStoreHeartbeat, type PdStateMachine } from '@peerkv/pd';
import type { StoreContext } from './context.ts';
import { createRegion } from './identity.ts';
import { BOOTSTRAP_IDS, PD_ALLOC_ATTEMPTS_MAX, StoreConfigError } from './options.ts';
import type { RegionHeartbeatResponse } from './pd-client.ts';
import { PD_REGION_ID } from './pd-host.ts';
import type { RegionPeer, Result } from './peer.ts';
import type { RequestOptions } from './request-options.ts';
import type { StoreRequests } from './requests.ts';

/** Tries of one prompt round (`runPromptRound`): the first may only get the id batch it waits for proposed. */
const PROMPT_ROUND_ATTEMPTS_MAX = 2;

export class PdService {
  constructor(
    private readonly ctx: StoreContext,
    private readonly requests: StoreRequests,
  ) {}

  /** This store's PD replica, if it hosts one. */
  private pdPeer(): RegionPeer | undefined {
    const p = this.ctx.peers.get(PD_REGION_ID);
    return p && p.pd && !p.destroyed ? p : undefined;
  }

  /**
   * The PD state machine of this store's replica (routing reads; may lag the leader). Undefined
   * while a restarted replica replays its log up to the commit index it had persisted: its
   * state then is an old snapshot (a routing read could miss regions that exist).
   */
  pdState(): PdStateMachine | undefined {
    const p = this.pdPeer();
    if (!p || p.applied < this.ctx.pdReplayTarget) return undefined;
    return p.pd?.sm;
  }

  /** Whether this store's PD replica leads and serves. */
  pdIsLeader(): boolean {
    const p = this.pdPeer();
    return p !== undefined && p.pd!.servingTerm !== undefined && p.isLeader();
  }

  /** The store hosting the PD leader, as this store's PD replica last heard. */
  pdLeaderStoreId(): number | undefined {
    const p = this.pdPeer();
    return p?.leaderPeer()?.storeId;
  }

  /** Proposes a PD command through PD's Raft group (this replica must lead). */
  pdPropose(cmd: PdCommand, o: RequestOptions = {}): Promise<Result<PdApplyResult>> {
    this.ctx.assertOpen();
    const peer = this.pdPeer();
    if (!peer) return Promise.resolve({ ok: false, error: { kind: 'RegionNotFound', regionId: PD_REGION_ID } });
    if (!peer.isLeader()) return Promise.resolve({ ok: false, error: peer.notLeader() });
    const data = encodePdCommand(cmd);
    return this.requests.propose<PdApplyResult>(peer, () => peer.raw.propose(data), o);
  }

  /** One unique id (store, region or peer), from the PD leader's granted batches. */
  async pdAllocId(o: RequestOptions = {}): Promise<Result<number>> {
    for (let attempt = 0; attempt < PD_ALLOC_ATTEMPTS_MAX; attempt++) {
      const peer = this.pdPeer();
      if (!peer || !this.pdIsLeader()) return { ok: false, error: peer ? peer.notLeader() : { kind: 'RegionNotFound', regionId: PD_REGION_ID } };
      const id = peer.pd!.leader.allocId();
      if (id !== undefined) return { ok: true, value: id };
      const cmd = peer.pd!.leader.ids.proposal(this.ctx.now());
      if (cmd) {
        const r = await this.pdPropose(cmd, o);
        if (!r.ok) return r;
      } else {
        await this.ctx.sleep(5);
      }
    }
    return { ok: false, error: { kind: 'Timeout', what: 'id allocation' } };
  }

  /** `count` consecutive TSO timestamps (the first is returned). */
  async pdGetTimestamps(count: number, o: RequestOptions = {}): Promise<Result<{ first: bigint; count: number }>> {
    for (let attempt = 0; attempt < PD_ALLOC_ATTEMPTS_MAX; attempt++) {
      const peer = this.pdPeer();
      if (!peer || !this.pdIsLeader()) return { ok: false, error: peer ? peer.notLeader() : { kind: 'RegionNotFound', regionId: PD_REGION_ID } };
      const pd = peer.pd!;
      const r = pd.leader.getTimestamps(count, this.ctx.now());
      // Renew the window ahead of time so requests rarely wait.
      const renewal = pd.leader.tso.windowProposal(this.ctx.now());
      if (r.kind === 'ok') {
        if (renewal) void this.pdPropose(renewal);
        return { ok: true, value: { first: r.first, count: r.count } };
      }
      if (r.error.kind === 'NotLeader') return { ok: false, error: peer.notLeader() };
      if (r.error.kind === 'InvalidCount') return { ok: false, error: { kind: 'ServerIsBusy', reason: `invalid timestamp count ${count}`, backoffMs: 0 } };
      if (renewal) {
        const w = await this.pdPropose(renewal, o);
        if (!w.ok) return w;
      } else {
        await this.ctx.sleep(5);
      }
    }
    return { ok: false, error: { kind: 'Timeout', what: 'timestamp allocation' } };
  }

  /**
   * Registers (refreshes; `ttlMs` 0 removes) a client's oldest live start ts with the PD
   * leader's `GcSafePointKeeper`, answering the safe point this replica has applied. Soft
   * state of the leader, not proposed: `NotLeader` (with the hint) elsewhere.
   */
  pdRegisterGcService(serviceId: string, minStartTs: bigint, ttlMs: number, nowMs: number = this.ctx.now()): Result<GcRegisterResult> {
    const peer = this.pdPeer();
    if (!peer?.pd || !this.pdIsLeader()) return { ok: false, error: peer ? peer.notLeader() : { kind: 'RegionNotFound', regionId: PD_REGION_ID } };
    const r = peer.pd.leader.registerGcService(serviceId, minStartTs, ttlMs, nowMs);
    if (r.kind === 'error' && r.error.kind === 'NotLeader') return { ok: false, error: peer.notLeader() };
    return { ok: true, value: r };
  }

  /**
   * The oldest live GC registration on this leader's keeper (`hold` when this replica does not
   * lead, or leads too recently to know them all; with `servicePrefix`, of those services
   * only): a GC driver outside PD (the simulator's, as
   * TiDB's GC worker) publishes no safe point above it.
   */
  pdGcRegistrationsFloor(servicePrefix?: string, nowMs: number = this.ctx.now()): bigint | undefined | 'hold' {
    const peer = this.pdPeer();
    if (!peer?.pd || !this.pdIsLeader()) return 'hold';
    return peer.pd.leader.gcRegistrationsFloor(nowMs, servicePrefix);
  }

  /**
   * Creates a new cluster on this (empty) store: PD's group and the first data region, both
   * with one replica here, then records the cluster in PD. A one-store cluster works fully
   * offline; PD grows both groups as stores join.
   */
  async bootstrapCluster(o: { clusterNumber: number; address: string; labels?: Record<string, string>; publicKey?: Uint8Array }, ro: RequestOptions = {}): Promise<Result<PdApplyResult>> {
    if (this.ctx.storeId !== BOOTSTRAP_IDS.store) throw new Error(`the bootstrap store must have id ${BOOTSTRAP_IDS.store}`);
    // A witness holds no data and can never lead: a cluster needs a full store to start.
    if (this.ctx.witness) throw new StoreConfigError(`store ${this.ctx.storeId} is a witness: a cluster is bootstrapped by a full store, a witness joins one`);
    const pdRegion: Region = { id: PD_REGION_ID, startKey: new Uint8Array(), endKey: new Uint8Array(), epoch: { confVer: 1, version: 1 }, peers: [{ id: BOOTSTRAP_IDS.pdPeer, storeId: this.ctx.storeId, role: 'voter' }] };
    const dataRegion: Region = { id: BOOTSTRAP_IDS.dataRegion, startKey: new Uint8Array(), endKey: new Uint8Array(), epoch: { confVer: 1, version: 1 }, peers: [{ id: BOOTSTRAP_IDS.dataPeer, storeId: this.ctx.storeId, role: 'voter' }] };
    if (!this.ctx.peers.has(PD_REGION_ID)) await createRegion(this.ctx, pdRegion);
    if (!this.ctx.peers.has(dataRegion.id)) await createRegion(this.ctx, dataRegion);
    this.requests.campaign(PD_REGION_ID);
    this.requests.campaign(dataRegion.id);
    for (let i = 0; i < PD_ALLOC_ATTEMPTS_MAX && !this.pdIsLeader(); i++) await this.ctx.sleep(10);
    return this.pdPropose(
      {
        kind: 'bootstrap',
        clusterId: o.clusterNumber,
        store: { id: this.ctx.storeId, address: o.address, labels: o.labels ?? {}, state: 'up', ...(o.publicKey ? { publicKey: o.publicKey } : {}) },
        region: dataRegion,
        pdGroup: { regionId: PD_REGION_ID, epoch: pdRegion.epoch, peers: pdRegion.peers },
        nowMs: this.ctx.now(),
      },
      ro,
    );
  }

  /**
   * PD leader: applies a region heartbeat through PD's Raft group and answers with the next
   * operator step for that region, if the scheduler has one.
   */
  async pdHandleRegionHeartbeat(hb: RegionHeartbeat, o: RequestOptions = {}): Promise<Result<RegionHeartbeatResponse>> {
    const peer = this.pdPeer();
    if (!peer?.pd || peer.pd.servingTerm === undefined) return { ok: false, error: peer ? peer.notLeader() : { kind: 'RegionNotFound', regionId: PD_REGION_ID } };
    // Unchanged heartbeats need no Raft round (heartbeat-filter.ts).
    if (shouldProposeRegionHeartbeat(peer.pd.sm, hb)) {
      const r = await this.pdPropose({ kind: 'regionHeartbeat', heartbeat: hb, nowMs: this.ctx.now() }, o);
      if (!r.ok) return r;
    }
    let step = peer.pd.leader.onRegionHeartbeat(hb, this.ctx.now());
    // This heartbeat ended the region's operator: a round now starts the next one (the region
    // is dirty), answered with its first step, instead of a round and a heartbeat later.
    if (step === null && peer.pd.leader.roundWanted) {
      await this.runScheduler();
      step = this.pdPeer() === peer ? peer.pd.leader.onRegionHeartbeat(hb, this.ctx.now()) : null;
    }
    return { ok: true, value: step ? { step } : {} };
  }

  /**
   * PD leader: records a store heartbeat stamped `nowMs` (this store's clock). Changed stats, and
   * a recorded time grown old, go through PD's Raft group; an unchanged heartbeat only refreshes
   * the store's liveness in the leader's memory (heartbeat-filter.ts).
   */
  async pdHandleStoreHeartbeat(stats: StoreStats, nowMs: number, o: RequestOptions = {}): Promise<Result<PdApplyResult>> {
    const pd = this.pdPeer()?.pd;
    // Only a serving leader keeps liveness in memory; elsewhere the proposal answers (NotLeader off the leader).
    if (pd === undefined || !this.pdIsLeader() || shouldProposeStoreHeartbeat(pd.sm, stats, nowMs)) return this.pdPropose({ kind: 'storeHeartbeat', stats, nowMs }, o);
    pd.leader.onStoreHeartbeat(stats.storeId, nowMs);
    return { ok: true, value: { kind: 'storeUpdated', storeId: stats.storeId } };
  }

  /** PD leader: one scheduling round; its operators run as regions heartbeat. */
  async runScheduler(): Promise<void> {
    const pd = this.pdPeer()?.pd;
    if (!pd || pd.servingTerm === undefined) return;
    // TSO windows, id batches (the checkers take ids synchronously), tombstones.
    await this.finishRound(pd.leader.tick(this.ctx.now()));
  }

  /**
   * PD leader: a scheduling round now for stores that just joined (`PdLeader.onStoreJoined`,
   * rate-capped), instead of at the next periodic round. A round that waited for an id batch
   * runs once the batch proposed here applied (a second try; a capped one stays for `tick`).
   */
  async runPromptRound(): Promise<void> {
    for (let attempt = 0; attempt < PROMPT_ROUND_ATTEMPTS_MAX; attempt++) {
      const pd = this.pdPeer()?.pd;
      if (!pd || pd.servingTerm === undefined) return;
      await this.finishRound(pd.leader.onStoreJoined(this.ctx.now()));
      if (!pd.leader.roundWanted) return;
    }
  }

  /**
   * Regions given an operator by a round on this PD leader since the last call, to heartbeat
   * at once (`PdWorker`): PD answers the heartbeat with the operator's first step, instead of at
   * the region's next heartbeat (a hibernating region's may be a minute away). Bounded by the
   * regions (a set of ids).
   */
  takeRegionsWithNewOperators(): number[] {
    const ids = [...this.newOperatorRegions];
    this.newOperatorRegions.clear();
    return ids;
  }

  private readonly newOperatorRegions = new Set<number>();

  /** Tells the observer of the operators that ended, notes the regions of the new ones, and proposes the round's commands. */
  private async finishRound(out: PdLeaderTick): Promise<void> {
    const finished = this.pdPeer()?.pd?.leader.scheduler.operators.takeEvents() ?? [];
    if (finished.length > 0) this.ctx.pdOperatorObserver?.(finished);
    for (const a of out.added) this.newOperatorRegions.add(a.operator.regionId);
    for (const cmd of out.commands) await this.pdPropose(cmd, { timeoutMs: 2000 });
  }

  /** Running operators on the PD leader (for status and dashboards). */
  pdOperators(): { regionId: number; kind: string; desc: string }[] {
    const pd = this.pdPeer()?.pd;
    if (!pd || pd.servingTerm === undefined) return [];
    return pd.leader.scheduler.operators.running().map((r) => ({ regionId: r.operator.regionId, kind: r.operator.kind, desc: r.operator.desc }));
  }
}
