/**
 * The store loop: one tick timer drives every peer (idle caught-up peers hibernate),
 * incoming Raft messages are stepped into their peers, and peers are created (by a leader's
 * message or a vote request, or as a split's right half), replaced when a newer peer of their
 * region is addressed, and destroyed when removed. Vote requests for regions a pending split will
 * create here wait in `pendingVotes` (TiKV's store FSM and peer lifecycle, scaled down).
 */
import type { ResolvedTsWorker } from './txn/resolved-ts.ts';
import type { Region } from '@peerkv/pd';
import { ProposalDroppedError } from '@peerkv/raft';
import type { RegionLog } from '@peerkv/storage';
import type { RegionMessage } from '@peerkv/transport';
import type { StoreContext } from './context.ts';
import { DedupTable } from './dedup.ts';
import { isDataKeyForwardMessage } from './data-key-forward.ts';
import type { DataKeySwitcher } from './data-key-switch.ts';
import { META_CF, dataKeySwitchKey, dedupPrefix, prefixEnd, regionStateKey, safeTsKey } from './keys.ts';
import { PENDING_VOTES_MAX, RAFT_INIT_INDEX } from './options.ts';
import type { PdWorker } from './pd-worker.ts';
import type { RegionPeer } from './peer.ts';
import { createsReplica, encodeTombstone, isLeaderMessage } from './region-meta.ts';
import { raftPeerRefusal } from './peer-stores.ts';
import { ReplacementChecks } from './replacement-check.ts';
import { isSnapshotFrameMessage } from './snapshot-frames.ts';
import { stageDropPendingApply } from './snapshot-stage.ts';
import type { SnapshotWorker } from './snapshot-worker.ts';

/** A split's right half staged in a round's write, started once it is durable. */
export interface SplitPlan {
  region: Region;
  peerId: number;
  log: RegionLog;
  dedup: DedupTable;
  parentLeader: boolean;
  /** An uninitialized replica of the region, replaced by the new one. */
  existing: RegionPeer | undefined;
}

interface PendingCreate {
  messages: { from: number; msg: RegionMessage }[];
}

export class StoreLoop {
  private ticks = 0;
  private readonly creating = new Map<number, PendingCreate>();
  /**
   * Replicas created on demand (`maybeCreatePeer`) and the store whose message made each, while
   * they wait for their first snapshot: bounded by `pendingReplicasMax` and, per sender,
   * `pendingReplicasPerSenderMax`. An entry goes once its replica is initialized or gone.
   */
  private readonly pendingReplicas = new Map<number, number>();
  /**
   * Regions whose replica is being destroyed (its write in flight): no new replica of them is
   * created until it is done, or the new one would hold the old log's in-memory view, which the
   * destroy then unloads ("region N is not open").
   */
  private readonly destroying = new Set<number>();
  /**
   * Vote requests for regions not hosted here yet, kept (at most `PENDING_VOTES_MAX`, oldest
   * dropped) for a split's right half this store has not applied yet: the new region's leader
   * campaigns as soon as its split applies, and its votes would be lost until an election
   * timeout later (TiKV's pending messages of split peers).
   */
  private readonly pendingVotes: { from: number; msg: RegionMessage }[] = [];
  /** Regions whose local replica is stale (a newer peer id was addressed): replaced at the next round. */
  private readonly staleReplacements = new Map<number, { from: number; msg: RegionMessage }[]>();
  /** Replacements whose sender this store cannot place, confirmed with PD (`replacement-check.ts`). */
  private readonly replacementChecks: ReplacementChecks;

  constructor(
    private readonly ctx: StoreContext,
    private readonly snapshots: SnapshotWorker,
    private readonly pdWorker: PdWorker,
    /** Advances the resolved ts of the mvcc regions this store leads (each tick asks whether one is due). */
    private readonly resolvedTs?: ResolvedTsWorker,
    /** Proposes data-key switches in the regions this store leads (data-key-switch.ts). */
    private readonly dataKeySwitcher?: DataKeySwitcher,
  ) {
    this.replacementChecks = new ReplacementChecks(ctx);
  }

  // ------------------------------------------------------------------ ticks and hibernation

  /** Starts the store's one tick timer (stopped by close, or when the store stops). */
  startTicking(): void {
    const loop = (): void => {
      if (this.ctx.closed) return;
      this.tick();
      this.ctx.tickHandle = this.ctx.timers.setTimeout(loop, this.ctx.opts.tickIntervalMs);
    };
    this.ctx.tickHandle = this.ctx.timers.setTimeout(loop, this.ctx.opts.tickIntervalMs);
  }

  /**
   * One store tick: ticks every awake peer, hibernates idle caught-up ones. Only the awake set
   * is walked: a store of 10,000 idle regions walked all of them ten times a second (issue 16).
   */
  tick(): void {
    if (this.ctx.closed || this.ctx.fatal) return;
    const awake = this.ctx.awake;
    for (const peer of awake) {
      if (peer.destroyed || this.ctx.peers.get(peer.regionId) !== peer) {
        awake.delete(peer);
        continue;
      }
      peer.raw.tick();
      peer.idleTicks++;
      if (peer.idleTicks >= this.ctx.opts.hibernateAfterTicks && this.canHibernate(peer)) {
        peer.hibernating = true;
        peer.asleepSinceTick = this.ticks;
        awake.delete(peer);
        this.pdWorker.onHibernate(peer);
      }
    }
    this.pdWorker.onStoreTick(++this.ticks);
    this.resolvedTs?.onTick();
    this.dataKeySwitcher?.onTick();
    this.ctx.schedule();
  }

  /**
   * A peer may stop ticking when nothing is in flight: a leader whose voters all match its
   * last index (followers hibernate too, so no election starts), or a follower with a leader.
   */
  private canHibernate(peer: RegionPeer): boolean {
    if (peer.proposals.length > 0 || peer.reads.size > 0) return false;
    // An uninitialized replica waits awake for its snapshot, or for PD to disown it (its check
    // runs at every store heartbeat only for awake replicas); with no voters it never campaigns.
    if (!peer.initialized) return false;
    const st = peer.raw.status();
    if (st.role === 'leader') {
      if (st.commit !== st.lastIndex) return false;
      for (const pr of st.progress!.values()) if (pr.match !== st.lastIndex) return false;
      return true;
    }
    return st.role === 'follower' && st.lead !== 0;
  }

  /**
   * `peer` got a vote request: an election is under way. It stays awake (its idle count starts
   * over), and a follower that hibernated first ticks the ticks it slept through, at most an
   * election timeout. Asleep, its Raft node kept the lease of a leader it has not heard from
   * since, and with CheckQuorum it ignored every vote (thesis §4.2.3) until it had ticked that
   * lease out awake; but each vote woke it for a tick only, and it fell asleep again. A region
   * whose leader's store died while it hibernated, with no link-down news yet, took about ten
   * election timeouts to elect a new leader. TiKV's Hibernate Region RFC: a peer that receives a
   * vote request starts ticking. A leader replays nothing: its CheckQuorum would count the
   * followers' silence while all hibernated against it.
   */
  private wakeForElection(peer: RegionPeer): void {
    peer.idleTicks = 0;
    if (!peer.hibernating || peer.raw.role() !== 'follower') return;
    const missed = Math.min(this.ticks - peer.asleepSinceTick, this.ctx.electionTicks);
    for (let i = 0; i < missed; i++) peer.raw.tick();
  }

  /** The transport lost a store: wake every region so elections can replace its leaders. */
  onStoreDown(storeId: number): void {
    this.snapshots.onStoreDown(storeId);
    for (const p of this.ctx.peers.values()) {
      if (p.region.peers.some((x) => x.storeId === storeId)) {
        p.hibernating = false;
        p.idleTicks = 0;
        for (const x of p.region.peers) if (x.storeId === storeId) p.raw.reportUnreachable(x.id);
      }
    }
    this.ctx.schedule();
  }

  // ------------------------------------------------------------------ messages in

  /** Raft messages from another store (the transport calls this). */
  receive(fromStoreId: number, messages: RegionMessage[]): void {
    if (this.ctx.closed || this.ctx.fatal) return;
    for (const rm of messages) {
      const peer = this.ctx.peers.get(rm.regionId);
      const recordedStoreOf = (peerId: number): number | undefined => peer?.storeOf(peerId) ?? this.ctx.peerStores.recordedStoreOf(peerId);
      // A member store may not speak for another store's peer, nor address a peer elsewhere.
      const refusal = raftPeerRefusal(rm, fromStoreId, this.ctx.storeId, recordedStoreOf);
      if (refusal) {
        this.ctx.countRefused(refusal);
        continue;
      }
      // No store forwards proposals (`disableProposalForwarding`): a MsgProp from another store
      // would append its entries (writes, membership changes) past every request check here.
      if (rm.message.type === 'MsgProp') {
        this.ctx.countRefused('raftProposalFromStore');
        continue;
      }
      this.ctx.peerStores.learn(rm.message.from, fromStoreId);
      if (isDataKeyForwardMessage(rm)) {
        this.dataKeySwitcher?.forwards.receive(rm);
        continue;
      }
      if (isSnapshotFrameMessage(rm)) {
        this.snapshots.onFrame(fromStoreId, rm);
        continue;
      }
      if (peer && rm.message.to > peer.peerId && isLeaderMessage(rm)) {
        // PD allocates peer ids in increasing order: a leader talking to a newer peer of this
        // region on this store means the local replica was removed while we were away.
        // Replace it (destroyed at the next round) by the new, uninitialized one. Only on the
        // word of a peer this replica knows on the sending store: else any member could destroy
        // a replica with one forged heartbeat. A replica that cannot place the sender (one made
        // on demand holds no peers) asks PD; an initialized one whose group moved on entirely is
        // also found by PD's stale check (`PdWorker.collectRemovedPeers`).
        if (recordedStoreOf(rm.message.from) !== fromStoreId) {
          this.ctx.countRefused('raftReplacementUnverified');
          this.replacementChecks.ask(rm.regionId, rm.message.to); // a stale replica may not know its leader: PD's region says
          continue;
        }
        this.staleReplacements.set(rm.regionId, [...(this.staleReplacements.get(rm.regionId) ?? []), { from: fromStoreId, msg: rm }]);
        continue;
      }
      if (peer) {
        this.stepPeer(peer, rm);
        continue;
      }
      if ((rm.message.type === 'MsgVote' || rm.message.type === 'MsgPreVote') && !this.ctx.tombstones.has(rm.message.to)) {
        this.pendingVotes.push({ from: fromStoreId, msg: rm });
        if (this.pendingVotes.length > PENDING_VOTES_MAX) this.pendingVotes.shift();
      }
      this.maybeCreatePeer(fromStoreId, rm);
    }
    this.ctx.schedule();
  }

  /** Steps one message into its peer, unless it is for an older incarnation or an overlapping snapshot. */
  stepPeer(peer: RegionPeer, rm: RegionMessage): void {
    if (rm.message.to !== peer.peerId) return; // for an older incarnation of this replica
    peer.silentHeartbeats = 0;
    // A snapshot's chunks are awaited before Raft sees it; one whose range overlaps another
    // local region would overwrite that region's data: refused until the stale overlapping
    // replica is updated or removed (TiKV's snapshot overlap check). The leader retries.
    if (rm.message.type === 'MsgSnap' && rm.message.snapshot && this.snapshots.admitSnapshot(peer, rm) !== 'step') return;
    if (rm.message.type === 'MsgPreVote' || rm.message.type === 'MsgVote') this.wakeForElection(peer);
    peer.hibernating = false;
    if (rm.message.entries.length > 0) {
      peer.idleTicks = 0;
      // Sealed entries start opening as they arrive, so they are open before they commit (sealing.ts).
      if (peer.machine.holdsData) void this.ctx.payloads.prefetch(peer.regionId, rm.message.entries);
    }
    try {
      peer.raw.step(rm.message);
    } catch (e) {
      if (!(e instanceof ProposalDroppedError)) throw e;
    }
    if (peer.reclaimable && peer.raw.status().vote !== 0) peer.reclaimable = false;
  }

  /**
   * A message for a region this store does not host: a leader added us (conf change), or a
   * candidate asks for our vote (`createsReplica`). An uninitialized peer is created and waits
   * for a snapshot; a tombstoned region never comes back.
   */
  private maybeCreatePeer(fromStoreId: number, rm: RegionMessage): void {
    if (!createsReplica(rm)) return;
    if (this.ctx.tombstones.has(rm.message.to)) return;
    if (this.destroying.has(rm.regionId)) return; // the leader sends again
    const pending = this.creating.get(rm.regionId);
    if (pending) {
      pending.messages.push({ from: fromStoreId, msg: rm });
      return;
    }
    const refusal = this.pendingReplicaRefusal(fromStoreId);
    if (refusal) {
      this.ctx.countRefused(refusal);
      return; // a real region's leader (or candidate) sends again once a slot is free
    }
    this.pendingReplicas.set(rm.regionId, fromStoreId);
    this.creating.set(rm.regionId, { messages: [{ from: fromStoreId, msg: rm }] });
    void this.createUninitialized(rm).catch((e) => this.ctx.stop(e));
  }

  /**
   * Why a replica made on demand for `fromStoreId` is refused now, if it is: too many replicas
   * made on demand still wait for their first snapshot, here or from that sender.
   */
  private pendingReplicaRefusal(fromStoreId: number): 'pendingReplicasFull' | 'pendingReplicasPerSenderFull' | undefined {
    let fromSender = 0;
    for (const [regionId, sender] of this.pendingReplicas) {
      const peer = this.ctx.peers.get(regionId);
      const waiting = this.creating.has(regionId) || (peer !== undefined && !peer.destroyed && !peer.initialized);
      if (!waiting) this.pendingReplicas.delete(regionId);
      else if (sender === fromStoreId) fromSender++;
    }
    if (this.pendingReplicas.size >= this.ctx.opts.pendingReplicasMax) return 'pendingReplicasFull';
    if (fromSender >= this.ctx.opts.pendingReplicasPerSenderMax) return 'pendingReplicasPerSenderFull';
    return undefined;
  }

  private async createUninitialized(rm: RegionMessage): Promise<void> {
    const log = await this.ctx.logs.open(rm.regionId);
    const pending = this.creating.get(rm.regionId)!;
    this.creating.delete(rm.regionId);
    if (this.ctx.closed || this.ctx.peers.has(rm.regionId) || this.destroying.has(rm.regionId) || this.ctx.tombstones.has(rm.message.to)) return;
    const region: Region = { id: rm.regionId, startKey: new Uint8Array(), endKey: new Uint8Array(), epoch: { ...rm.regionEpoch }, peers: [] };
    const peer = this.ctx.addPeer(region, rm.message.to, log, new DedupTable(), log.applyState().appliedIndex);
    // Raft state left by an earlier run may hold a vote: only a fresh replica may be reclaimed.
    const st = peer.raw.status();
    peer.reclaimable = st.term === 0 && st.vote === 0;
    for (const { msg } of pending.messages) this.stepPeer(peer, msg);
    this.ctx.schedule();
  }

  // ------------------------------------------------------------------ peer lifecycle

  /** Destroys replicas found stale and creates their newer peers from the queued messages; drops reclaimed replicas. */
  async replaceStalePeers(): Promise<void> {
    await this.reclaimPendingReplicas();
    for (const regionId of [...this.ctx.staleDestroys]) {
      this.ctx.staleDestroys.delete(regionId);
      const peer = this.ctx.peers.get(regionId);
      if (peer && !peer.destroyed) await this.destroyPeer(peer);
    }
    if (this.staleReplacements.size === 0) return;
    const pending = [...this.staleReplacements];
    this.staleReplacements.clear();
    for (const [regionId, msgs] of pending) {
      const peer = this.ctx.peers.get(regionId);
      if (peer && peer.peerId < msgs[0].msg.message.to) await this.destroyPeer(peer);
      for (const { from, msg } of msgs) {
        const now = this.ctx.peers.get(regionId);
        if (now) this.stepPeer(now, msg);
        else this.maybeCreatePeer(from, msg);
      }
    }
  }

  /**
   * Drops the replicas made on demand that the PD worker found unknown to PD and silent
   * (`PENDING_REPLICA_SILENT_HEARTBEATS`), if they are still uninitialized and never voted:
   * their Raft state and log go and no tombstone is kept, so a real leader that sends again
   * makes a fresh one.
   */
  private async reclaimPendingReplicas(): Promise<void> {
    for (const regionId of [...this.ctx.pendingReclaims]) {
      this.ctx.pendingReclaims.delete(regionId);
      const peer = this.ctx.peers.get(regionId);
      if (!peer || peer.destroyed || peer.initialized || peer.applying || !peer.reclaimable) continue;
      this.destroying.add(regionId);
      try {
        peer.destroyed = true;
        peer.failPending({ kind: 'RegionNotFound', regionId });
        this.ctx.peers.delete(regionId);
        this.pendingReplicas.delete(regionId);
        const batch = this.ctx.logs.batch();
        batch.stageDestroy(regionId);
        batch.kv.delete(META_CF, regionStateKey(regionId));
        await this.ctx.logs.write(batch, { durability: this.ctx.opts.durability });
        this.ctx.logs.unload(regionId);
        this.ctx.countRefused('pendingReplicasReclaimed');
      } finally {
        this.destroying.delete(regionId);
      }
    }
  }

  /**
   * Starts the replica of a split's right half once its initial state is durable. It replaces
   * the uninitialized replica of the region, the one the split was staged over or one a message
   * created while the split's write was in flight: that replica takes no Ready again, so its
   * Raft state (commit 0) is never persisted over the split's (commit `RAFT_INIT_INDEX`), which
   * would leave a store that cannot restart (FINDINGS.md S2; TiKV's split replaces an
   * uninitialized peer the same way). A vote the latter granted was neither persisted nor sent.
   */
  startSplitPeer(plan: SplitPlan): void {
    for (const replaced of new Set([plan.existing, this.ctx.peers.get(plan.region.id)])) {
      if (!replaced) continue;
      // No round ran since the split was staged over an uninitialized replica: none took a snapshot.
      if (replaced.initialized) throw new Error(`store ${this.ctx.storeId}: region ${plan.region.id}'s split would replace an initialized replica`);
      replaced.destroyed = true;
      replaced.failPending({ kind: 'RegionNotFound', regionId: plan.region.id });
    }
    const peer = this.ctx.addPeer(plan.region, plan.peerId, plan.log, plan.dedup, RAFT_INIT_INDEX);
    if (plan.parentLeader) peer.raw.campaign();
    for (let i = 0; i < this.pendingVotes.length; ) {
      const v = this.pendingVotes[i];
      if (v.msg.regionId !== plan.region.id) {
        i++;
        continue;
      }
      this.pendingVotes.splice(i, 1);
      if (v.msg.message.to === plan.peerId) this.stepPeer(peer, v.msg);
    }
    this.ctx.schedule();
  }

  /** This store's replica was removed from its region: delete its data and remember the tombstone. */
  async destroyPeer(peer: RegionPeer): Promise<void> {
    this.destroying.add(peer.regionId);
    try {
      await this.destroyPeerNow(peer);
    } finally {
      this.destroying.delete(peer.regionId);
    }
  }

  private async destroyPeerNow(peer: RegionPeer): Promise<void> {
    peer.destroyed = true;
    peer.failPending({ kind: 'RegionNotFound', regionId: peer.regionId });
    this.ctx.peers.delete(peer.regionId);
    this.ctx.tombstones.add(peer.peerId);
    // A snapshot apply in flight stops after its current write, so none lands after the destroy.
    await this.snapshots.stopApply(peer);
    const batch = this.ctx.logs.batch();
    stageDropPendingApply(batch.kv, peer.regionId, peer.applying);
    batch.stageDestroy(peer.regionId);
    // PD's group owns no user data; a data region's range may be shared with newer local regions.
    if (peer.machine.holdsData && peer.initialized) this.snapshots.deleteDataExcept(batch.kv, peer.regionId, peer.region.startKey, peer.region.endKey);
    peer.machine.stageDestroy(batch.kv);
    const prefix = dedupPrefix(peer.regionId);
    batch.kv.deleteRange(META_CF, prefix, prefixEnd(prefix));
    batch.kv.delete(META_CF, safeTsKey(peer.regionId));
    batch.kv.delete(META_CF, dataKeySwitchKey(peer.regionId));
    batch.kv.put(META_CF, regionStateKey(peer.regionId), encodeTombstone(peer.peerId));
    await this.ctx.logs.write(batch, { durability: this.ctx.opts.durability });
    this.ctx.logs.unload(peer.regionId);
  }
}
