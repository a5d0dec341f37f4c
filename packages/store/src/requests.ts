/**
 * The request machinery of a store, shared by the request handlers (`handlers/`) and PD's
 * operator steps: the epoch and range check every request passes first (`checkRequest`),
 * proposals and ReadIndex barriers bounded by a timeout or the caller's abort
 * (`withTimeout`), membership changes, splits, leadership transfer and drain. Proposals are
 * answered by the batch round once they apply.
 */
import type { Peer, Region, RegionEpoch, RegionError } from '@peerkv/pd';
import { regionContainsKey } from '@peerkv/pd';
import { ProposalDroppedError, type ConfChangeSingle } from '@peerkv/raft';
import { inJointConfig } from './apply.ts';
import { encodeCommand, encodeConfChangeContext } from './command.ts';
import type { StoreContext } from './context.ts';
import { RegionPeer, ok, type Result } from './peer.ts';
import type { RequestOptions } from './request-options.ts';

const encoder = new TextEncoder();

/** How long a client backs off before retrying a region that is applying a snapshot, ms. */
export const APPLYING_SNAPSHOT_BACKOFF_MS = 50;

export class StoreRequests {
  private readSeq = 0;

  constructor(private readonly ctx: StoreContext) {}

  /** Checks that this peer can serve a request for `regionId` at `epoch` touching `keys`. */
  checkRequest(regionId: number, epoch: RegionEpoch, keys: Uint8Array[], needLeader: boolean): RegionPeer | RegionError {
    const peer = this.ctx.peers.get(regionId);
    if (!peer || !peer.initialized) return { kind: 'RegionNotFound', regionId };
    // Splits change the range (version); membership changes (confVer) do not matter to data.
    if (epoch.version !== peer.region.epoch.version) return { kind: 'EpochNotMatch', currentRegions: [peer.region] };
    for (const k of keys) {
      if (!regionContainsKey(peer.region, k)) {
        return { kind: 'KeyNotInRegion', key: k, regionId, startKey: peer.region.startKey, endKey: peer.region.endKey };
      }
    }
    // A witness holds no data: every request goes to the leader (TiKV answers `IsWitness`).
    if (peer.witness && !peer.mutations.witnessLeads) return peer.notLeader();
    if (needLeader && !peer.isLeader()) {
      // A client that asks a follower may have lost the leader: tick again, so a leader that
      // is gone is replaced within an election timeout even while this region hibernated. A
      // hibernating follower has not heard from its leader for a while: it names none.
      const stale = peer.hibernating;
      this.ctx.wake(peer.regionId);
      return stale ? { kind: 'NotLeader', regionId } : peer.notLeader();
    }
    // Half of a snapshot is in the data column families: nothing is served until it is whole. (Never
    // the leader: a request for the leader got `NotLeader` above, and re-routes instead of waiting.)
    if (peer.applying) return { kind: 'ServerIsBusy', reason: `region ${regionId} is applying a snapshot`, backoffMs: APPLYING_SNAPSHOT_BACKOFF_MS };
    if (peer.proposals.length + peer.reads.size >= this.ctx.opts.pendingRequestsPerRegionMax) {
      return { kind: 'ServerIsBusy', reason: 'too many pending requests in region', backoffMs: 50 };
    }
    return peer;
  }

  /**
   * Proposes on the region's leader replica and waits for the entry to apply (or the timeout).
   * A client write passes when it was received (`write-trace.ts`): its spans are recorded.
   */
  propose<T = void>(peer: RegionPeer, doPropose: () => void, o: RequestOptions, receivedMs?: number): Promise<Result<T>> {
    this.ctx.wake(peer.regionId);
    try {
      doPropose();
    } catch (e) {
      if (!(e instanceof ProposalDroppedError)) throw e;
      // A membership change must wait for the previous one (and its joint config) to finish.
      if (e.reason === 'ConfChangePending' || e.reason === 'InvalidConfChange' || e.reason === 'UncommittedSizeExceeded') {
        return Promise.resolve({ ok: false, error: { kind: 'ServerIsBusy', reason: e.message, backoffMs: 20 } });
      }
      return Promise.resolve({ ok: false, error: peer.notLeader() });
    }
    const st = peer.raw.status();
    const trace = receivedMs === undefined ? undefined : { receivedMs, localReadMs: 0, proposedMs: this.ctx.traceNow() };
    return this.withTimeout<T>(
      (resolve) => peer.proposals.push({ index: st.lastIndex, term: st.term, resolve: resolve as (r: Result<unknown>) => void, ...(trace ? { trace } : {}) }),
      (resolve) => {
        peer.proposals = peer.proposals.filter((p) => p.resolve !== resolve);
      },
      o,
    ).finally(() => this.ctx.schedule());
  }

  /** Waits for `register`'s answer, at most `o.timeoutMs`; then answers `timedOut` (by default `Timeout`: the request may still take effect; a function is called then, so it can say how far things got). */
  private withTimeout<T>(
    register: (resolve: (r: Result<T>) => void) => void,
    unregister: (resolve: (r: Result<T>) => void) => void,
    o: RequestOptions,
    timedOut: RegionError | (() => RegionError) = { kind: 'Timeout', what: 'request timed out' },
  ): Promise<Result<T>> {
    return new Promise<Result<T>>((outer) => {
      let done = false;
      const finish = (r: Result<T>): void => {
        if (done) return;
        done = true;
        this.ctx.timers.clearTimeout(timer);
        o.signal?.removeEventListener('abort', onAbort);
        outer(r);
      };
      const onAbort = (): void => {
        unregister(finish);
        finish({ ok: false, error: { kind: 'Timeout', what: 'aborted by the caller' } });
      };
      const timer = this.ctx.timers.setTimeout(() => {
        unregister(finish);
        finish({ ok: false, error: typeof timedOut === 'function' ? timedOut() : timedOut });
      }, o.timeoutMs ?? this.ctx.opts.requestTimeoutMs);
      if (o.signal?.aborted) {
        onAbort();
        return;
      }
      o.signal?.addEventListener('abort', onAbort, { once: true });
      register(finish);
      this.ctx.schedule();
    });
  }

  /** Waits until reads at this point are linearizable on this replica (ReadIndex). */
  async readBarrier(peer: RegionPeer, o: RequestOptions): Promise<Result<void>> {
    this.ctx.wake(peer.regionId);
    // Unique across restarts: a leader merges a request into a pending one with the same
    // context and would answer it with the older one's (smaller) read index.
    const ctx = this.ctx.mutations.restartedReadContext ? `${this.ctx.storeId}:${++this.readSeq}` : `${this.ctx.storeId}:${this.ctx.boot}:${++this.readSeq}`;
    try {
      peer.raw.readIndex(encoder.encode(ctx));
    } catch (e) {
      if (e instanceof ProposalDroppedError) return { ok: false, error: peer.notLeader() };
      throw e;
    }
    // No quorum confirmed the index in time: nothing was proposed, so the answer is typed as
    // such (a write command's ReadIndex runs before its proposal), never an ambiguous `Timeout`.
    const notReady: RegionError = { kind: 'ReadIndexNotReady', regionId: peer.regionId, reason: `no quorum confirmed the read index within ${o.timeoutMs ?? this.ctx.opts.requestTimeoutMs} ms` };
    return this.withTimeout<void>(
      (resolve) => peer.reads.set(ctx, { ctx, resolve }),
      () => peer.reads.delete(ctx),
      o,
      notReady,
    );
  }

  /**
   * Waits until `peer`'s engine holds everything up to `index` (a replica read's catch-up,
   * `handlers/replica-read.ts`): at once when it does, else as a read whose ReadIndex answered
   * `index`, served by the round that makes it visible. A peer that stops serving fails it as it
   * fails its reads (leadership change, destroy). A replica still behind `index` at the caller's
   * timeout answers `ReadIndexNotReady`, never `Timeout`: it is alive and answered, the read had
   * no effect, and the client reads elsewhere without suspecting the store (TiKV's follower read
   * answers a replica that cannot finish its read index with a region error client-go retries).
   */
  waitApplied(peer: RegionPeer, index: number, o: RequestOptions): Promise<Result<void>> {
    if (peer.appliedVisible >= index && !peer.applying) return Promise.resolve({ ok: true, value: undefined });
    this.ctx.wake(peer.regionId);
    const ctx = `${this.ctx.storeId}:${this.ctx.boot}:applied:${++this.readSeq}`;
    const behind = (): RegionError => ({
      kind: 'ReadIndexNotReady',
      regionId: peer.regionId,
      reason: `replica ${peer.peerId} did not apply up to the leader's read index ${index} within ${o.timeoutMs ?? this.ctx.opts.requestTimeoutMs} ms (applied ${peer.appliedVisible}${peer.applying ? ', applying a snapshot' : ''})`,
    });
    return this.withTimeout<void>(
      (resolve) => peer.reads.set(ctx, { ctx, index, resolve }),
      () => peer.reads.delete(ctx),
      o,
      behind,
    );
  }

  /**
   * Changes membership through Raft, always by joint consensus (thesis §4.3; the joint config
   * is left automatically), so no change relies on the one-voter-at-a-time rule. A change
   * proposed while the previous one (or its leave) is pending gets `ServerIsBusy`.
   * `peers` names the peers (with stores) being changed.
   */
  changePeers(regionId: number, changes: { type: ConfChangeSingle['type']; peer: Peer }[], o: RequestOptions = {}): Promise<Result<void>> {
    this.ctx.assertOpen();
    const peer = this.ctx.peers.get(regionId);
    if (!peer) return Promise.resolve({ ok: false, error: { kind: 'RegionNotFound', regionId } });
    if (!peer.isLeader()) return Promise.resolve({ ok: false, error: peer.notLeader() });
    // Changes already in effect are no-ops (a retried operator step must not bump the epoch),
    // and a store never holds two replicas of one region (a routing view may be stale).
    const region = peer.region;
    const pending = changes.filter((c) => {
      const cur = region.peers.find((p) => p.id === c.peer.id);
      if (c.type === 'removeNode') return cur !== undefined;
      if (c.type === 'addLearnerNode') return cur?.role !== 'learner';
      return cur?.role !== 'voter';
    });
    if (pending.length === 0) return Promise.resolve(ok());
    for (const c of pending) {
      if (c.type === 'removeNode') continue;
      const other = region.peers.find((p) => p.storeId === c.peer.storeId && p.id !== c.peer.id);
      if (other) {
        return Promise.resolve({ ok: false, error: { kind: 'ServerIsBusy', reason: `store ${c.peer.storeId} already holds peer ${other.id} of region ${regionId}`, backoffMs: 100 } });
      }
    }
    changes = pending;
    const cc = {
      transition: 'implicit' as const,
      changes: changes.map((c) => ({ type: c.type, nodeId: c.peer.id })),
      context: encodeConfChangeContext({ peers: changes.map((c) => c.peer) }),
    };
    for (const c of changes) this.ctx.peerStores.record(c.peer.id, c.peer.storeId);
    return this.propose(peer, () => peer.raw.proposeConfChange(cc), o);
  }

  /** Splits a region at `splitKey`; the right half gets `newRegionId` and `newPeerIds` (one per current peer, same order). */
  split(regionId: number, epoch: RegionEpoch, splitKey: Uint8Array, newRegionId: number, newPeerIds: number[], o: RequestOptions = {}): Promise<Result<void>> {
    this.ctx.assertOpen();
    const checked = this.checkRequest(regionId, epoch, [splitKey], true);
    if (!(checked instanceof RegionPeer)) return Promise.resolve({ ok: false, error: checked });
    if (inJointConfig(checked.region)) {
      return Promise.resolve({ ok: false, error: { kind: 'ServerIsBusy', reason: `region ${regionId} is in a joint configuration: split after it is left`, backoffMs: 100 } });
    }
    const data = encodeCommand({ type: 'split', splitKey, newRegionId, newPeerIds });
    return this.propose(checked, () => checked.raw.propose(data), o);
  }

  /** Asks the region's leader (this replica) to hand leadership to `peerId`. */
  transferLeader(regionId: number, peerId: number): void {
    const peer = this.ctx.peers.get(regionId);
    if (!peer) return;
    // A witness can never lead (its Raft ignores MsgTimeoutNow): asking would only stall proposals.
    if (peer.region.peers.some((p) => p.id === peerId && p.witness)) return;
    this.ctx.wake(regionId);
    peer.raw.transferLeader(peerId);
    this.ctx.schedule();
  }

  /**
   * The store is going away (a closing tab, a shutting-down server): report draining to PD
   * (its drain-leader scheduler keeps leaders off this store) and hand every leadership
   * held here to the most caught-up other voter now. Returns the regions asked to move.
   */
  drain(): number[] {
    this.ctx.draining = true;
    const moved: number[] = [];
    for (const peer of this.ctx.peers.values()) {
      if (peer.destroyed || !peer.isLeader()) continue;
      const st = peer.raw.status();
      let best: { id: number; match: number } | undefined;
      for (const [id, pr] of st.progress ?? []) {
        const voter = peer.region.peers.some((p) => p.id === id && p.role === 'voter' && !p.witness);
        if (id === peer.peerId || !voter || pr.isLearner) continue;
        if (!best || pr.match > best.match) best = { id, match: pr.match };
      }
      if (!best) continue;
      this.transferLeader(peer.regionId, best.id);
      moved.push(peer.regionId);
    }
    return moved;
  }

  /** Starts an election for the region on this replica now. */
  campaign(regionId: number): void {
    const peer = this.ctx.peers.get(regionId);
    if (!peer) return;
    this.ctx.wake(regionId);
    peer.raw.campaign();
    this.ctx.schedule();
  }

  /**
   * Elects, now, each replica that is its region's only voter (every region of a lone store,
   * PD's group of a one-store cluster): it is its own quorum, so the election timeout it would
   * otherwise wait (10 to 20 ticks, 1-2 s by default) only delays the first request after an
   * open. Asks no other store. TiKV's `Peer::maybe_campaign` does the same for a one-peer region.
   * Returns the regions it campaigned for.
   */
  campaignSoleVoters(): number[] {
    const elected: number[] = [];
    for (const peer of this.ctx.peers.values()) {
      if (!peer.initialized || peer.raw.role() === 'leader') continue;
      const { voters, votersOutgoing } = peer.raw.status().config;
      if (votersOutgoing.length > 0 || voters.length !== 1 || voters[0] !== peer.peerId) continue;
      this.campaign(peer.regionId);
      elected.push(peer.regionId);
    }
    return elected;
  }

  /** The region this store hosts that contains `key`, if any (for routing in tests and demos). */
  regionForKey(key: Uint8Array): Region | undefined {
    for (const p of this.ctx.peers.values()) if (p.initialized && p.machine.holdsData && regionContainsKey(p.region, key)) return p.region;
    return undefined;
  }

  /** Region ids hosted here. */
  regionIds(): number[] {
    return [...this.ctx.peers.keys()].sort((a, b) => a - b);
  }
}
