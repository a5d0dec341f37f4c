/**
 * The PD worker: every `heartbeatIntervalTicks` (from the first tick on) it runs the PD
 * leader's scheduler round (if this store hosts it) and reports this store and the regions it
 * leads; it runs the operator steps PD answers with, reports splits at once, and asks PD about
 * replicas that look removed (TiKV's PD worker and stale peer check). Between heartbeats it
 * reports at once a region whose membership changed or that this store's PD leader gave an
 * operator, and runs a prompt round for stores that joined. A region whose replica here just
 * became leader is reported once that leader heard from every follower: before, its Raft
 * progress (match 0, not recently active) would call every follower pending and down.
 */
import type { OperatorStep, RegionHeartbeat, StoreStats } from '@peerkv/pd';
import type { StoreContext } from './context.ts';
import { compareKeys } from '@peerkv/pd';
import { DAMAGED_REGIONS_MAX } from '@peerkv/proto';
import { storedKeyRange, userKeyOf } from './data-model.ts';
import { inJointConfig } from './apply.ts';
import { PENDING_REPLICA_SILENT_HEARTBEATS, REGION_KEYS_COUNT_MAX, REGION_SIZE_RECOUNT_HEARTBEATS, STALE_CHECK_HEARTBEATS, STALE_CHECK_HIBERNATING_FACTOR } from './options.ts';
import type { PdClient } from './pd-client.ts';
import type { PdService } from './pd-service.ts';
import { ReplicaPatrol } from './replica-patrol.ts';
import { CatchUpWatch, heardFromEveryFollower, pendingPeersOf } from './catch-up-watch.ts';
import { executeOperatorStep } from './operator-steps.ts';
import { ok, type RegionPeer, type Result } from './peer.ts';
import type { StoreRequests } from './requests.ts';

/** What a region's last heartbeat sent to PD described (a hibernating region sends again when it differs). */
interface SentHeartbeat {
  /** The applied index (a new term's leader applies an entry of its term: a new term shows here too). */
  applied: number;
  version: number;
  confVer: number;
  /** PD answered it with an operator step: the next one goes at once too. */
  stepped: boolean;
}

/** What one pass over the replicas found for a store heartbeat (`PdWorker.scanReplicas`). */
interface ReplicaScan {
  /** Led regions whose heartbeat is due now. */
  due: RegionPeer[];
  /** Hibernating ones among them: their bytes are counted already (their patrol share). */
  dueAsleep: Set<RegionPeer>;
  /** The last counted size of the led regions not due, and of the hibernating led ones. */
  usedBytes: number;
  leaderCount: number;
  damaged: number[];
  /** Replicas to ask PD whether they are still members. */
  staleCandidates: RegionPeer[];
  /** Uninitialized replicas to ask PD about. */
  pendingCandidates: RegionPeer[];
}

export class PdWorker {
  private heartbeating = false;
  /** A store heartbeat came due while prompt region heartbeats were in flight: it starts when they end. */
  private heartbeatDue = false;
  /** Prompt region heartbeats (conf changes, catch-ups) are in flight (`reportPromptly`). */
  private reportingPromptly = false;
  /** Each led region's last heartbeat, as sent. */
  private readonly sent = new WeakMap<RegionPeer, SentHeartbeat>();
  /** Hibernating replicas, a slice a heartbeat (`replica-patrol.ts`). */
  private readonly patrol: ReplicaPatrol;
  /**
   * Replicas that fell asleep since the last heartbeat's pass (`onHibernate`): each gets one
   * more visit, whether or not a heartbeat saw it awake (one can wake and sleep between two).
   */
  private readonly fellAsleep = new Set<RegionPeer>();
  /** Hibernating replicas whose last heartbeat went unanswered or got a step: visited at the next heartbeat. */
  private readonly retry = new Set<RegionPeer>();
  /** Operator steps not run because the region changed after the heartbeat that got them. */
  staleSteps = 0;
  /** Led regions whose last heartbeat named pending peers: one that catches up heartbeats at once. */
  private readonly catchUp: CatchUpWatch;
  /**
   * Led regions to heartbeat at once since their last heartbeat was built: they applied a
   * membership change (`onConfChangeApplied`) or this store's PD leader gave them an operator
   * (`PdService.takeRegionsWithNewOperators`). One entry per region, so at most one prompt
   * heartbeat per region however many causes came meanwhile; bounded by the replicas hosted.
   */
  private readonly reportSoon = new Set<RegionPeer>();
  /**
   * Regions whose replica here became leader (`onBecameLeader`), with that term, not reported
   * since: each joins `reportSoon` once its leader heard from every follower
   * (`heardFromEveryFollower`), and leaves when it no longer leads in that term or a store
   * heartbeat reports it. Bounded by the replicas hosted.
   */
  private readonly newLeaders = new Map<RegionPeer, number>();

  constructor(
    private readonly ctx: StoreContext,
    private readonly requests: StoreRequests,
    private readonly pdService: PdService,
  ) {
    this.patrol = new ReplicaPatrol(ctx.peers);
    this.catchUp = new CatchUpWatch(() => ctx.opts.logGcKeepEntries);
  }

  /** `peer` just began to hibernate (the store tick): the next heartbeat visits it (none without PD). */
  onHibernate(peer: RegionPeer): void {
    if (this.ctx.pdClient) this.fellAsleep.add(peer);
  }

  /**
   * `peer`, a leader, applied a membership change and is outside a joint configuration now (the
   * change is complete): its region heartbeat goes to PD at once, not at the next store
   * heartbeat, so PD sees the new peer and answers with the operator's next step (TiKV's
   * `on_ready_change_peer` heartbeats PD). A learner just added shows pending, so the catch-up
   * watch learns of it at once too. Entering a joint configuration is not reported: PD would
   * answer with the step it already runs, refused while the leave is pending.
   */
  onConfChangeApplied(peer: RegionPeer): void {
    const pd = this.ctx.pdClient;
    if (!pd || peer.destroyed || !peer.isLeader()) return;
    this.reportSoon.add(peer);
    this.reportPromptly(pd);
  }

  /**
   * `peer` just became its region's leader: its region heartbeat goes to PD once the leader has
   * heard from every follower (a store tick later, about), not at the next store heartbeat, so
   * PD's routing and operators follow the new leader now (TiKV's leader heartbeats PD on
   * `on_role_changed`). A running operator's next step comes back with the answer.
   */
  onBecameLeader(peer: RegionPeer): void {
    if (!this.ctx.pdClient || peer.destroyed) return;
    this.newLeaders.set(peer, peer.raw.status().term);
  }

  /** Moves the new leaders that heard from every follower to `reportSoon`; forgets those that no longer lead in their term. */
  private takeNewLeadersHeard(): void {
    for (const [peer, term] of this.newLeaders) {
      const st = peer.raw.status();
      if (peer.destroyed || st.role !== 'leader' || st.term !== term) this.newLeaders.delete(peer);
      else if (heardFromEveryFollower(st, peer.peerId)) {
        this.newLeaders.delete(peer);
        this.reportSoon.add(peer);
      }
    }
  }

  /**
   * Stores joined PD while this store's replica leads it (`ApplyEffects.storesJoined`): a
   * scheduling round now places their first replicas, and the regions led here that got an
   * operator heartbeat at once to get its first step (issue 16: a join waited a round interval,
   * then a heartbeat interval, for these).
   */
  onStoresJoined(): void {
    const pd = this.ctx.pdClient;
    void this.pdService
      .runPromptRound()
      .then(() => {
        if (pd) this.reportPromptly(pd);
      })
      .catch(() => undefined);
  }

  /**
   * Called on every store tick (`ticks` counts them): heartbeats every `heartbeatIntervalTicks`,
   * one at a time (one still running skips the next), and between them the prompt region
   * heartbeats (`reportPromptly`). The two never overlap, so one region's heartbeat is not in
   * flight twice, each answered with the same step: a store heartbeat due while prompt ones are
   * in flight starts when they end.
   */
  onStoreTick(ticks: number): void {
    const pd = this.ctx.pdClient;
    if (!pd) return;
    // The first tick heartbeats too: a store that just started (a join) reports itself and its
    // regions at once, not a heartbeat interval later (issue 16).
    if ((ticks - 1) % this.ctx.opts.heartbeatIntervalTicks === 0 && !this.heartbeating) this.heartbeatDue = true;
    if (this.heartbeating || this.reportingPromptly) return;
    if (this.heartbeatDue) {
      this.heartbeatDue = false;
      this.heartbeating = true;
      void this.pdService
        .runScheduler()
        .then(() => this.sendHeartbeats(pd))
        .catch(() => undefined)
        .finally(() => {
          this.heartbeating = false;
        });
      return;
    }
    this.reportPromptly(pd);
  }

  /**
   * Starts the prompt region heartbeats, unless a store heartbeat is due or any heartbeat is in
   * flight (then the next store tick starts them): the regions in `reportSoon` (membership
   * changed, new operator, new leader heard from its followers) and regions whose pending peer
   * caught up (`catchUp`).
   */
  private reportPromptly(pd: PdClient): void {
    if (this.heartbeating || this.heartbeatDue || this.reportingPromptly) return;
    if (this.newLeaders.size > 0) this.takeNewLeadersHeard();
    for (const regionId of this.pdService.takeRegionsWithNewOperators()) {
      const peer = this.ctx.peers.get(regionId);
      if (peer?.isLeader()) this.reportSoon.add(peer);
    }
    const peers = new Set(this.reportSoon);
    this.reportSoon.clear();
    if (this.catchUp.size > 0) for (const peer of this.catchUp.caughtUp()) peers.add(peer);
    if (peers.size === 0) return;
    this.reportingPromptly = true;
    void this.reportNow(peers, pd)
      .catch(() => undefined)
      .finally(() => {
        this.reportingPromptly = false;
      });
  }

  /** Reports this store and every region it leads to PD, and runs the steps PD answers with. */
  private async sendHeartbeats(pd: PdClient): Promise<void> {
    const scan = this.scanReplicas(pd.getRegionById !== undefined);
    const stats: StoreStats = {
      storeId: this.ctx.storeId,
      capacityBytes: this.ctx.opts.capacityBytes,
      usedBytes: scan.usedBytes,
      availableBytes: this.ctx.opts.capacityBytes,
      regionCount: this.ctx.peers.size,
      leaderCount: scan.leaderCount,
      draining: this.ctx.draining,
    };
    if (scan.damaged.length > 0) stats.damagedRegionIds = scan.damaged.slice(0, DAMAGED_REGIONS_MAX);
    const heartbeats: RegionHeartbeat[] = [];
    for (const peer of scan.due) {
      this.newLeaders.delete(peer);
      const hb = await this.regionHeartbeatOf(peer);
      if (!scan.dueAsleep.has(peer)) stats.usedBytes += hb.approximateSizeBytes;
      heartbeats.push(hb);
      this.sent.set(peer, { applied: peer.applied, version: hb.region.epoch.version, confVer: hb.region.epoch.confVer, stepped: false });
    }
    stats.availableBytes = Math.max(0, stats.capacityBytes - stats.usedBytes);
    await pd.storeHeartbeat(stats, { timeoutMs: 2000 });
    await this.collectRemovedPeers(pd, scan.staleCandidates);
    await this.collectUnknownPendingReplicas(pd, scan.pendingCandidates);
    for (const hb of heartbeats) await this.sendRegionHeartbeat(hb, pd);
  }

  /** Sends the region heartbeats of `peers` now (`reportPromptly`) and runs the steps PD answers with. */
  private async reportNow(peers: Iterable<RegionPeer>, pd: PdClient): Promise<void> {
    for (const peer of peers) {
      if (peer.destroyed || !peer.isLeader()) continue;
      const hb = await this.regionHeartbeatOf(peer);
      this.sent.set(peer, { applied: peer.applied, version: hb.region.epoch.version, confVer: hb.region.epoch.confVer, stepped: false });
      await this.sendRegionHeartbeat(hb, pd);
    }
  }

  /** Sends one region heartbeat and runs the step PD answers with, if the region is still as described. */
  private async sendRegionHeartbeat(hb: RegionHeartbeat, pd: PdClient): Promise<void> {
    const r = await pd.regionHeartbeat(hb, { timeoutMs: 2000 });
    const peer = this.ctx.peers.get(hb.region.id);
    const sent = peer && this.sent.get(peer);
    // Unanswered: sent again at the next store heartbeat, as if it had changed.
    if (!r.ok) {
      if (peer) this.sent.delete(peer);
      if (peer?.hibernating) this.retry.add(peer);
      return;
    }
    if (!r.value.step) return;
    if (sent) sent.stepped = true;
    if (peer?.hibernating) this.retry.add(peer);
    // PD chose the step for the region as this heartbeat described it. The region may have
    // changed since (a membership change finished while the heartbeat was in flight): a
    // step run on a region PD has not seen can remove a voter PD thought was extra, and
    // leave two voters where one is gone for good (cluster seed 91). PD sends it again
    // after the next heartbeat, if it still applies.
    const now = this.ctx.peers.get(hb.region.id)?.region.epoch;
    if (!now || now.confVer !== hb.region.epoch.confVer || now.version !== hb.region.epoch.version) {
      this.staleSteps++;
      return;
    }
    await this.executeStep(hb.region.id, r.value.step, pd);
  }

  /**
   * One pass for a store heartbeat: the regions led here (those whose heartbeat is due,
   * the last counted size of the others), the damaged replicas, and the replicas whose
   * membership or existence to ask PD about (their counters advance here; `stale`: PD can answer
   * such questions). Awake replicas are visited at every heartbeat; hibernating ones when the
   * patrol reaches them (once every `hibernatingHeartbeatIntervalTicks`), when they fell asleep
   * since the last heartbeat, or when their last heartbeat must go again (`retry`). A hibernating
   * replica changes nothing a heartbeat reports (a change needs a proposal or a message, which
   * wakes it). Walking every replica here at every heartbeat was most of an idle store's CPU
   * with 10,000 regions (issue 16, `bench:idle`).
   */
  private scanReplicas(stale: boolean): ReplicaScan {
    const scan: ReplicaScan = { due: [], dueAsleep: new Set(), usedBytes: 0, leaderCount: 0, damaged: [], staleCandidates: [], pendingCandidates: [] };
    for (const peer of this.ctx.awake) {
      if (peer.destroyed || peer.hibernating) continue;
      this.patrol.forget(peer);
      const leader = this.visit(scan, peer, stale, 1);
      if (leader) scan.due.push(peer);
    }
    const lapBeats = this.lapBeats();
    const turn = this.patrol.next(lapBeats);
    const asleep = new Set(turn);
    for (const peer of [...this.fellAsleep, ...this.retry]) if (peer.hibernating && !peer.destroyed) asleep.add(peer);
    this.retry.clear();
    this.fellAsleep.clear();
    const onTurn = new Set(turn);
    for (const peer of asleep) {
      const leader = this.visit(scan, peer, stale, onTurn.has(peer) ? lapBeats : 1);
      this.patrol.record(peer, leader, this.counted.get(peer)?.size ?? 0, peer.applying?.damaged === true);
      if (leader && (onTurn.has(peer) || this.changedSinceSent(peer))) {
        scan.due.push(peer);
        scan.dueAsleep.add(peer);
      }
    }
    scan.leaderCount += this.patrol.leaderCount;
    scan.usedBytes += this.patrol.usedBytes;
    scan.damaged.push(...this.patrol.damagedRegionIds());
    return scan;
  }

  /**
   * Visits one replica for a store heartbeat: counts an awake damaged replica, and asks PD
   * about it when due (`beats`: store heartbeats since its last visit, a lap's for a hibernating
   * one the patrol reached). Whether it is an initialized leader (whose heartbeat the caller may send).
   */
  private visit(scan: ReplicaScan, peer: RegionPeer, stale: boolean, beats: number): boolean {
    // Replicas whose received snapshot cannot be applied (its staged stream is gone or corrupt)
    // and whose requests for a new one ran out (snapshot-request.ts) serve nothing until PD
    // replaces them: report them (TiKV's damaged regions). Hibernating ones count by their share.
    if (!peer.hibernating && peer.applying?.damaged === true) scan.damaged.push(peer.regionId);
    const leader = peer.isLeader();
    if (stale) {
      if (this.staleCheckDue(peer, leader, beats)) scan.staleCandidates.push(peer);
      else if (this.pendingCheckDue(peer, beats)) scan.pendingCandidates.push(peer);
    }
    if (!peer.initialized || !leader) return false;
    if (!peer.hibernating) scan.leaderCount++;
    return true;
  }

  /** Store heartbeats a patrol lap takes: one `hibernatingHeartbeatIntervalTicks`. */
  private lapBeats(): number {
    return Math.max(1, Math.round(this.ctx.opts.hibernatingHeartbeatIntervalTicks / this.ctx.opts.heartbeatIntervalTicks));
  }

  /** A led region's last heartbeat went unanswered, got a step, or describes another applied index or epoch. */
  private changedSinceSent(peer: RegionPeer): boolean {
    const last = this.sent.get(peer);
    if (last === undefined || last.stepped) return true;
    return last.applied !== peer.applied || last.version !== peer.region.epoch.version || last.confVer !== peer.region.epoch.confVer;
  }

  /**
   * Whether a replica should ask PD whether it is still a member (advancing its counters).
   * Replicas without a leader for a while ask: a replica removed while its store was away is
   * never told by the group, so without this check it would campaign forever and keep its
   * stale range (TiKV's stale peer check).
   */
  private staleCheckDue(peer: RegionPeer, leader: boolean, beats: number): boolean {
    // Data replicas, and a witness of a data region (it holds no data, but a stale one still votes).
    const dataRegion = peer.machine.holdsData || (peer.witness && peer.machine.kind === 'data');
    if (!dataRegion || !peer.initialized) return false;
    if (leader) {
      peer.leaderlessHeartbeats = 0;
      peer.silentHeartbeats = 0;
      return false;
    }
    // A replica without a leader, or one its group stopped talking to (a removed learner
    // remembers its old leader forever and nobody sends to it: TiKV's leader-missing check).
    // Hibernating groups are silent by design: those ask on a slower clock.
    const leaderless = peer.raw.status().lead === 0 ? (peer.leaderlessHeartbeats += beats) : (peer.leaderlessHeartbeats = 0);
    const silent = (peer.silentHeartbeats += beats);
    const silentLimit = peer.hibernating ? STALE_CHECK_HEARTBEATS * STALE_CHECK_HIBERNATING_FACTOR : STALE_CHECK_HEARTBEATS;
    if (leaderless < STALE_CHECK_HEARTBEATS && silent < silentLimit) return false;
    peer.silentHeartbeats = 0;
    return true;
  }

  /** Asks PD about each of `candidates` (`staleCheckDue`); one PD's newer view leaves out is destroyed. */
  private async collectRemovedPeers(pd: PdClient, candidates: readonly RegionPeer[]): Promise<void> {
    if (!pd.getRegionById) return;
    for (const peer of candidates) {
      if (peer.destroyed) continue;
      const r = await pd.getRegionById(peer.regionId, { timeoutMs: 2000 });
      if (!r.ok || !r.value) continue;
      const known = r.value.region;
      const member = known.peers.some((p) => p.id === peer.peerId);
      // PD's view is newer in membership: a higher confVer, or the same one while this replica
      // is still in the joint configuration that PD's view has left (leaving bumps no confVer,
      // and a peer missing at the same confVer can only be one the leave took out). Without the
      // second case, a replica removed through a joint change before it applied the leave kept
      // its old range forever and refused every snapshot overlapping it (sim --txn seed 10: a
      // learner added there never initialized).
      const newer = known.epoch.confVer > peer.region.epoch.confVer || (known.epoch.confVer === peer.region.epoch.confVer && inJointConfig(peer.region) && !inJointConfig(known));
      if (!member && newer && !peer.destroyed) {
        this.ctx.staleDestroys.add(peer.regionId);
        this.ctx.schedule();
      }
    }
  }

  /**
   * Whether a replica made on demand, still uninitialized, has heard nothing from its group for
   * `PENDING_REPLICA_SILENT_HEARTBEATS` heartbeats (advancing its counter): then PD is asked
   * about it (`collectUnknownPendingReplicas`).
   */
  private pendingCheckDue(peer: RegionPeer, beats: number): boolean {
    if (peer.initialized || peer.applying || !peer.reclaimable) return false;
    return (peer.silentHeartbeats += beats) >= PENDING_REPLICA_SILENT_HEARTBEATS;
  }

  /**
   * Checks `candidates` (`pendingCheckDue`) with PD: one PD lists in no region (a forged region
   * id, or a peer PD never saw added) and that never voted is dropped at the next round
   * (`StoreLoop.reclaimPendingReplicas`). No answer from PD: asked again at the next heartbeat.
   */
  private async collectUnknownPendingReplicas(pd: PdClient, candidates: readonly RegionPeer[]): Promise<void> {
    if (!pd.getRegionById) return;
    for (const peer of candidates) {
      if (peer.destroyed || peer.initialized || peer.applying || !peer.reclaimable) continue;
      const r = await pd.getRegionById(peer.regionId, { timeoutMs: 2000 });
      if (!r.ok) continue;
      peer.silentHeartbeats = 0;
      if (r.value?.region.peers.some((p) => p.id === peer.peerId)) continue;
      this.ctx.pendingReclaims.add(peer.regionId);
      this.ctx.schedule();
    }
  }

  /** The last size and key count of each region this store led, and what they were counted at. */
  private readonly counted = new WeakMap<RegionPeer, { applied: number; version: number; heartbeats: number; size: number; keys: number }>();

  /**
   * The region's approximate size and user keys (PD's split trigger). Counting walks every data
   * column family of the region (up to `REGION_KEYS_COUNT_MAX` keys), so it is reused: as is
   * while the region applied nothing and kept its range, and for up to
   * `REGION_SIZE_RECOUNT_HEARTBEATS` heartbeats while it is written (TiKV checks sizes on a
   * tick too). A split or merge (a new epoch version) counts again at once.
   */
  private async sizeOf(peer: RegionPeer): Promise<{ size: number; keys: number }> {
    const last = this.counted.get(peer);
    if (last !== undefined && last.version === peer.region.epoch.version) {
      if (last.applied === peer.applied) return last;
      if (++last.heartbeats < REGION_SIZE_RECOUNT_HEARTBEATS) return last;
    }
    const applied = peer.applied;
    let size = 0;
    let keys = 0;
    // Every data column family counts toward the region's size (its split trigger).
    for (const cf of this.ctx.dataCfs) {
      const range = storedKeyRange(this.ctx.dataModel, cf, peer.region.startKey, peer.region.endKey);
      size += await this.ctx.engine.approximateSize(cf, range);
      // A user key's versions count once: a region of one key with many versions has nothing to split at.
      let lastKey: Uint8Array | undefined;
      for await (const kv of this.ctx.engine.scan(cf, { ...range, limit: REGION_KEYS_COUNT_MAX - keys })) {
        const key = userKeyOf(this.ctx.dataModel, cf, kv.key);
        if (lastKey === undefined || compareKeys(lastKey, key) !== 0) keys++;
        lastKey = key;
      }
      if (keys >= REGION_KEYS_COUNT_MAX) break;
    }
    const counted = { applied, version: peer.region.epoch.version, heartbeats: 0, size, keys };
    this.counted.set(peer, counted);
    return counted;
  }

  private async regionHeartbeatOf(peer: RegionPeer): Promise<RegionHeartbeat> {
    const st = peer.raw.status();
    // A peer that never answered (a replica being created) is pending, not down.
    const pendingPeers = pendingPeersOf(st, peer.peerId, this.ctx.opts.logGcKeepEntries);
    // This heartbeat shows the region's membership as of now: a prompt report of it is not needed.
    this.reportSoon.delete(peer);
    const downPeers: number[] = [];
    for (const [id, pr] of st.progress ?? []) if (id !== peer.peerId && !pendingPeers.includes(id) && !pr.recentActive) downPeers.push(id);
    this.catchUp.reported(peer, pendingPeers);
    const { size, keys } = peer.machine.holdsData ? await this.sizeOf(peer) : { size: 0, keys: 0 };
    return {
      region: { ...peer.region, peers: peer.region.peers.map((p) => ({ ...p })) },
      leader: peer.leaderPeer() ?? { id: peer.peerId, storeId: this.ctx.storeId, role: 'voter' },
      downPeers,
      pendingPeers,
      approximateSizeBytes: size,
      approximateKeys: keys,
      writtenBytesPerSec: 0,
      term: st.term,
    };
  }

  /**
   * Tells PD about a split at once (parent, then each new region) instead of waiting for the
   * next heartbeat, so PD's routing has no gap for long (TiKV's ReportBatchSplit).
   */
  reportSplit(parent: RegionPeer, newRegionIds: number[]): void {
    const pd = this.ctx.pdClient;
    if (!pd) return;
    void (async () => {
      for (const p of [parent, ...newRegionIds.map((id) => this.ctx.peers.get(id))]) {
        if (!p || p.destroyed || !p.initialized) continue;
        await pd.regionHeartbeat(await this.regionHeartbeatOf(p), { timeoutMs: 2000 });
      }
    })().catch(() => undefined);
  }

  /** Runs one operator step PD asked for on a region this store leads (operator-steps.ts). */
  executeStep(regionId: number, step: OperatorStep, pd: PdClient): Promise<Result<void>> {
    return executeOperatorStep(this.ctx, this.requests, regionId, step, pd);
  }
}
