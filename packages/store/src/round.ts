/**
 * The batch round (group commit): collects the Ready of every peer with work, stages all of
 * it (entries, hard states, snapshots, applied state, splits' right halves, log compaction)
 * in ONE engine write, sends messages (a leader's appends before the write, votes and acks
 * only after it), then resolves requests and advances each peer. Rounds never overlap. A
 * data snapshot's write persists its Raft state and the region's `applying` state; its data
 * is applied after the write, in chunks, and the replica takes no Ready until that is done.
 */
import type { Region } from '@peerkv/pd';
import type { Message, Ready } from '@peerkv/raft';
import type { RaftWriteBatch } from '@peerkv/storage';
import type { RegionMessage } from '@peerkv/transport';
import type { StoreContext } from './context.ts';
import { stageDedupTable, type DedupTable } from './dedup.ts';
import { RAFT_INIT_TERM } from './options.ts';
import type { PdWorker } from './pd-worker.ts';
import { applyEntries, type ApplyEffects } from './apply.ts';
import { sealedKeyIdsOf } from './sealing.ts';
import type { RegionPeer } from './peer.ts';
import { rangesOverlap, stageInitialRegion } from './region-meta.ts';
import type { SnapshotWorker } from './snapshot-worker.ts';
import type { SplitPlan, StoreLoop } from './store-loop.ts';
import type { ProposalTrace } from './write-trace.ts';

export class BatchRound {
  /** Replicas left out of rounds until their committed sealed payloads are open (`waitForPayloads`). */
  private readonly waitingForPayloads = new Set<RegionPeer>();

  constructor(
    private readonly ctx: StoreContext,
    private readonly loop: StoreLoop,
    private readonly snapshots: SnapshotWorker,
    private readonly pdWorker: PdWorker,
  ) {}

  /** One group-commit round across every region with work. */
  async round(): Promise<void> {
    await this.loop.replaceStalePeers();
    const batch = this.ctx.logs.batch();
    const work: { peer: RegionPeer; rd: Ready; fx: ApplyEffects }[] = [];
    const outbox = new Map<number, RegionMessage[]>();
    if (this.ctx.opts.verifyWorkSet) this.verifyWorkSet();
    // Only the replicas given work since the last round (the work set), not every replica.
    for (const peer of this.ctx.takePeersWithWork()) {
      if (peer.destroyed) continue;
      // A failed apply wakes its replica: it asks its leader for a new snapshot from here on.
      this.snapshots.maybeRequestSnapshot(peer);
      // A replica applying a snapshot takes no Ready until the apply is done (TiKV's pending
      // apply), or until it failed and asks for a new snapshot (snapshot-request.ts): it stays
      // in the work set, so the round after the apply visits it.
      if (!peer.takesReady) {
        this.ctx.peersWithWork.add(peer);
        continue;
      }
      if (!peer.raw.hasReady()) continue;
      // Its next Ready commits a sealed entry not opened yet: it waits for it, outside the round.
      if (peer.machine.holdsData && this.waitForPayloads(peer)) continue;
      const rd = peer.raw.ready();
      if (rd.snapshot) await this.snapshots.stageSnapshotInstall(batch, peer, rd.snapshot);
      batch.stageAppend(peer.regionId, rd.entries);
      // A follower starts opening what it appends now: by the time it commits, it is open.
      if (peer.machine.holdsData) void this.ctx.payloads.prefetch(peer.regionId, rd.entries);
      if (rd.hardState) batch.stageHardState(peer.regionId, rd.hardState);
      // Sent now, before the write (a leader's appends and heartbeats).
      await this.queueMessages(outbox, peer, rd.messages);
      const appliedBefore = peer.applied;
      // A lost leadership stops leader services (PD's) before anything more is applied.
      if (rd.softState && rd.softState.role !== 'leader') peer.machine.onRole(peer, this.ctx.now());
      const committedMs = rd.committedEntries.length > 0 ? this.ctx.traceNow() : 0;
      // A full replica applies sealed payloads opened (with the data key); the log keeps them sealed.
      const committed = peer.machine.holdsData ? this.ctx.payloads.open(rd.committedEntries) : rd.committedEntries;
      const sealedKeyIds = peer.machine.holdsData ? sealedKeyIdsOf(rd.committedEntries) : undefined;
      const fx = applyEntries(peer, committed, { ...this.applyEnv(batch), ...(sealedKeyIds ? { sealedKeyIds } : {}) });
      if (fx.traced.length > 0) stampApplied(fx.traced, committedMs, this.ctx.traceNow());
      if (peer.applied !== appliedBefore || rd.snapshot) batch.stageApplyState(peer.regionId, { appliedIndex: peer.applied });
      peer.machine.stageApplied(batch, peer);
      // The conf state is kept as of the applied index, so a restart neither loses nor replays a change.
      if (fx.confChanged) batch.stageConfState(peer.regionId, peer.raw.status().config);
      // The log view is updated only after the write: no compaction in a snapshot's round.
      if (!rd.snapshot) this.maybeCompact(batch, peer);
      work.push({ peer, rd, fx });
    }
    // Right halves of splits, staged after every Ready of the round so their initial state is
    // what this write leaves (an uninitialized replica of one may have staged its own state).
    const splitPlans: SplitPlan[] = [];
    for (const { peer, fx } of work) {
      for (const s of fx.splits) {
        // The right half starts from the parent's records as of the split entry (a mutation
        // copies them after the whole batch instead: replicas that batch differently diverge).
        const plan = await this.stageSplitPeer(batch, s.region, s.parentLeader, this.ctx.mutations.splitDedupAfterBatch ? peer.dedup : s.dedup);
        if (plan) splitPlans.push(plan);
      }
    }
    if (this.ctx.mutations.ackBeforePersist) {
      for (const { peer, rd } of work) await this.queueMessages(outbox, peer, rd.persistedMessages);
    }
    this.flush(outbox);
    if (work.length === 0) return;
    this.ctx.splitsInFlight = splitPlans.map((p) => p.region);
    try {
      await this.ctx.logs.write(batch, { durability: this.ctx.opts.durability });
    } finally {
      this.ctx.splitsInFlight = [];
    }
    this.ctx.counters.rounds++;
    this.ctx.counters.writes++;
    const durableMs = this.ctx.traceNow();
    for (const { fx } of work) for (const t of fx.traced) this.ctx.writeTrace.record(t, durableMs);
    for (const plan of splitPlans) this.loop.startSplitPeer(plan);
    for (const { peer, rd, fx } of work) {
      // The engine holds everything applied so far: local reads may rely on it now.
      peer.appliedVisible = peer.applied;
      // The snapshot's Raft state and the region's `applying` state are durable: apply its staged stream.
      if (peer.applying) this.snapshots.startApply(peer);
      const after = new Map<number, RegionMessage[]>();
      if (!this.ctx.mutations.ackBeforePersist) await this.queueMessages(after, peer, rd.persistedMessages);
      this.flush(after);
      peer.onReadStates(rd.readStates);
      peer.raw.advance(rd);
      for (const cb of fx.callbacks) cb();
      // PD's replica applied new stores while it leads PD: a scheduling round for them now.
      if (fx.storesJoined) this.pdWorker.onStoresJoined();
      if (rd.softState && rd.softState.role !== 'leader') {
        // Leadership lost: answer waiting requests now so clients re-route at once. A proposal
        // may still commit under the new leader, so its answer says so (`MaybeCommitted`, not
        // `NotLeader`); the client's retry carries the same (clientId, seq) and is deduplicated.
        peer.failPending(peer.notLeader());
      }
      peer.serveReads();
      peer.machine.onRole(peer, this.ctx.now());
      if (rd.softState && rd.softState.lead !== 0) this.tellLeader(peer, rd.softState.lead);
      if (rd.softState?.role === 'leader') this.pdWorker.onBecameLeader(peer);
      if (fx.splits.some((x) => x.parentLeader)) this.pdWorker.reportSplit(peer, fx.splits.map((x) => x.region.id));
      // A membership change is complete once the joint configuration is left: PD hears of it at once.
      if (fx.confChanged && !fx.removed && peer.raw.status().config.votersOutgoing.length === 0) this.pdWorker.onConfChangeApplied(peer);
      if (fx.removed) await this.loop.destroyPeer(peer);
    }
    // Every replica whose node changed since the round took the set is in it again (advance marks too).
    for (const p of this.ctx.peersWithWork) if (p.takesReady && p.raw.hasReady()) this.ctx.scheduleAgain();
  }

  /**
   * Whether `peer` must wait before its next Ready: it commits sealed entries whose payloads are
   * not opened yet (an entry reloaded from disk, or one that committed as fast as it arrived).
   * Then they are being opened, and the peer is back in the work set once they are.
   */
  private waitForPayloads(peer: RegionPeer): boolean {
    if (this.waitingForPayloads.has(peer)) return true;
    const opening = this.ctx.payloads.prefetch(peer.regionId, peer.raw.peekCommittedEntries());
    if (!opening) return false;
    this.waitingForPayloads.add(peer);
    void opening.then(() => {
      this.waitingForPayloads.delete(peer);
      this.ctx.peersWithWork.add(peer);
      this.ctx.schedule();
    });
    return true;
  }

  /**
   * `StoreOptions.verifyWorkSet`: no replica outside the work set has a Ready. One that has is
   * a missed wakeup (a call path that gave a replica work without marking it): no round would
   * visit it, and a hibernating one would never be visited at all.
   */
  private verifyWorkSet(): void {
    for (const p of this.ctx.peers.values()) {
      if (!p.takesReady || this.ctx.peersWithWork.has(p) || this.waitingForPayloads.has(p)) continue;
      if (p.raw.hasReady()) throw new Error(`store ${this.ctx.storeId}: region ${p.regionId}'s replica has a Ready but is not in the round's work set (a missed wakeup)`);
    }
  }

  /** Tells the leader observers that `peer`'s region is led by peer `lead` now. */
  private tellLeader(peer: RegionPeer, lead: number): void {
    if (this.ctx.leaderObservers.length === 0) return;
    const leader = peer.region.peers.find((p) => p.id === lead);
    // A leader outside the replica's (possibly older) region view: no store to name.
    if (!leader) return;
    const news = { regionId: peer.regionId, leader: { ...leader }, term: peer.raw.status().term };
    for (const observe of this.ctx.leaderObservers) {
      try {
        observe(news);
      } catch {
        this.ctx.applyCounters.observerErrors++;
      }
    }
  }

  private applyEnv(batch: RaftWriteBatch): Parameters<typeof applyEntries>[2] {
    return { kv: batch.kv, storeId: this.ctx.storeId, dataCfs: this.ctx.dataCfs, dataModel: this.ctx.dataModel, observers: this.ctx.applyObservers, counters: this.ctx.applyCounters, keyring: this.ctx.entryCipher };
  }

  private async queueMessages(outbox: Map<number, RegionMessage[]>, peer: RegionPeer, msgs: Message[]): Promise<void> {
    for (const m of msgs) {
      const to = peer.storeOf(m.to) ?? this.ctx.peerStores.storeOf(m.to);
      if (to === undefined) {
        peer.raw.reportUnreachable(m.to);
        continue;
      }
      if (m.type === 'MsgSnap') {
        // Streamed in chunks by the snapshot worker, which reports the outcome to Raft.
        await this.snapshots.sendSnapshot(peer, m, to);
        continue;
      }
      const list = outbox.get(to) ?? [];
      list.push({ regionId: peer.regionId, regionEpoch: { ...peer.region.epoch }, message: m });
      outbox.set(to, list);
    }
  }

  private flush(outbox: Map<number, RegionMessage[]>): void {
    for (const [to, msgs] of outbox) {
      if (to === this.ctx.storeId) this.loop.receive(this.ctx.storeId, msgs);
      else this.ctx.transport.send(to, msgs);
    }
  }

  /**
   * Log GC (TiKV's raft log GC, scaled down: each replica compacts its own log). Once the log
   * holds more than `logGcThresholdEntries`, it is compacted to `logGcKeepEntries` behind the
   * applied index, but a leader keeps what its slowest follower still needs: a follower that
   * lags by less than `logGcLagEntriesMax` catches up from the log, not from a snapshot.
   */
  private maybeCompact(batch: RaftWriteBatch, peer: RegionPeer): void {
    const first = peer.log.firstIndex();
    if (peer.applied - first + 1 <= this.ctx.opts.logGcThresholdEntries) return;
    let compactTo = peer.applied - this.ctx.opts.logGcKeepEntries;
    const slowest = this.slowestFollowerMatch(peer);
    if (slowest !== undefined && peer.applied - slowest <= this.ctx.opts.logGcLagEntriesMax) compactTo = Math.min(compactTo, slowest);
    // PD replays its log from its persisted snapshot after a restart: keep that part.
    compactTo = Math.min(compactTo, peer.machine.logCompactLimit());
    if (compactTo <= first) return;
    batch.stageCompact(peer.regionId, compactTo);
    this.ctx.counters.logCompactions++;
  }

  /** As leader: the least match index among its followers (undefined otherwise). */
  private slowestFollowerMatch(peer: RegionPeer): number | undefined {
    const st = peer.raw.status();
    if (st.role !== 'leader' || !st.progress) return undefined;
    let slowest: number | undefined;
    for (const [id, pr] of st.progress) {
      // A follower being sent a snapshot does not hold the log back (its lag is bounded below).
      if (id === peer.peerId || pr.state === 'snapshot') continue;
      slowest = slowest === undefined ? pr.match : Math.min(slowest, pr.match);
    }
    return slowest;
  }

  /**
   * The right half of a split starts on this store, from the parent's data: its initial state
   * is staged in the same write as the parent's split entry, so no crash can leave the parent
   * split without its right half (a half no replica hosts could never elect a leader).
   * Returns what to do once that write is durable, or undefined when no replica is created.
   */
  private async stageSplitPeer(batch: RaftWriteBatch, region: Region, parentLeader: boolean, parentDedup: DedupTable): Promise<SplitPlan | undefined> {
    const me = region.peers.find((p) => p.storeId === this.ctx.storeId);
    if (!me || this.ctx.tombstones.has(me.id)) return undefined;
    const existing = this.ctx.peers.get(region.id);
    // The new region's leader reached us first and its snapshot already initialized it.
    if (existing && existing.initialized) return undefined;
    // A newer region already holds part of the range here (this replica lagged: the new region
    // split again and a descendant arrived by snapshot first). Creating it from the parent's
    // data would make two replicas own the same keys; its leader sends a snapshot instead,
    // of its current (narrower) range (TiKV skips such a split peer the same way).
    for (const p of this.ctx.peers.values()) {
      if (p === existing || !p.machine.holdsData || p.destroyed || p.regionId === region.id) continue;
      for (const held of this.snapshots.rangesHeld(p)) if (rangesOverlap(held, region) && held.epoch.version > region.epoch.version) return undefined;
    }
    const log = existing ? existing.log : await this.ctx.logs.open(region.id);
    // An uninitialized peer of the new region may have voted, in this run (in memory) or in an
    // earlier one (on disk only): keep the newer term and its vote, never go back in term.
    const mem = existing ? existing.raw.status() : undefined;
    const disk = log.hardState();
    const hs = mem && mem.term >= disk.term ? { term: mem.term, vote: mem.vote } : { term: disk.term, vote: disk.vote };
    const keepVote = hs.term > RAFT_INIT_TERM;
    stageInitialRegion(batch, region, { term: keepVote ? hs.term : RAFT_INIT_TERM, vote: keepVote ? hs.vote : 0 });
    const dedup = parentDedup.clone();
    stageDedupTable(batch.kv, region.id, dedup);
    return { region, peerId: me.id, log, dedup, parentLeader, existing };
  }
}

/** The traced writes of one Ready were committed when the round took it and applied by `appliedMs`. */
function stampApplied(traced: readonly ProposalTrace[], committedMs: number, appliedMs: number): void {
  for (const t of traced) {
    t.committedMs = committedMs;
    t.appliedMs = appliedMs;
  }
}
