/**
 * Requested snapshots (raft-rs `request_snapshot`, TiKV's answer to a snapshot that cannot be
 * used): a replica whose pending apply failed (the staged stream of a snapshot its Raft state
 * already accepted is gone or corrupt) asks its leader to send a new one, instead of waiting
 * for PD to replace it.
 *
 *   apply failed ──► (next round) Raft node restarted from its persisted state,
 *        │           `requestSnapshot(index)`; takes Readies again, appends nothing
 *        ▼
 *   request ──every requestIntervalMs──► every other replica's store; the leader (applied ≥ index)
 *        │   (not counted while a snapshot         calls `handleSnapshotRequest`: its next send to
 *        │    of the region is arriving)           the replica is a snapshot, streamed in chunks
 *        ▼                                         with the transfer's own flow control and resends
 *   snapshot at ≥ index stepped, staged ──► a new pending apply (the failure is forgotten)
 *        │
 *        └── requestsMax requests and none applied ──► also `damaged`: reported to PD, which
 *            replaces it where the quorum allows; the requests go on meanwhile (a replica the
 *            quorum needs, e.g. an incoming voter of a joint config, only PD cannot replace)
 *
 * Why restart the Raft node: between the snapshot's acceptance and the failure, the node took
 * entries, acks and commit news into memory that were never persisted (a replica applying a
 * snapshot takes no Ready). Rebuilding it from disk forgets them exactly as a crash would,
 * which Raft tolerates; nothing it acknowledged is lost. While it waits, Raft appends nothing
 * (entries would apply on top of missing state) and never campaigns; the region stays
 * `applying` on disk, so a restart fails the same apply and asks again.
 */
import type { RegionMessage } from '@peerkv/transport';
import type { Clock } from '@peerkv/proto';
import type { SnapshotTransferLimits, SnapshotTransferStatus } from './options.ts';
import type { RegionPeer } from './peer.ts';
import { snapshotFrameMessage, type SnapshotFrame } from './snapshot-frames.ts';
import { pendingApplyHeader } from './snapshot-stage.ts';

/** Names the lost snapshot in a request when its pending-apply record does not decode. */
const UNKNOWN_SNAPSHOT_ID = { storeId: 0, boot: 0, seq: 0 };

/** What the requests need from their store. */
export interface RequestEnv {
  limits: Pick<SnapshotTransferLimits, 'requestIntervalMs' | 'requestsMax'>;
  status: SnapshotTransferStatus;
  timers: Pick<Clock, 'setTimeout' | 'clearTimeout'>;
  /** The store's peer of `regionId` now. */
  peer(regionId: number): RegionPeer | undefined;
  /** Rebuilds `peer.raw` from the region's persisted Raft state. */
  restartRaft(peer: RegionPeer): void;
  /** Whether a snapshot of `regionId` is arriving now. */
  receiving(regionId: number): boolean;
  send(toStoreId: number, rm: RegionMessage): void;
  /** Wakes the region and schedules a round. */
  wake(regionId: number): void;
  /** The store closed or stopped. */
  stopped(): boolean;
}

/** Both ends of requested snapshots (see the module header). */
export class SnapshotRequests {
  constructor(private readonly env: RequestEnv) {}

  /**
   * `peer`'s apply failed and it asks nothing yet: restart its Raft node and start asking (or,
   * with `requestsMax` 0, mark it damaged at once). Called at the start of a round, when no
   * Ready of `peer` is outstanding.
   */
  begin(peer: RegionPeer): void {
    const a = peer.applying;
    if (!a || a.failed === undefined || a.request || a.damaged) return;
    if (this.env.limits.requestsMax === 0) {
      a.damaged = true;
      return;
    }
    this.env.restartRaft(peer);
    peer.raw.requestSnapshot(a.index);
    // A requested snapshot whose apply failed again: the count goes on, and the next request
    // waits its interval (a staging that keeps failing must not loop without pause).
    const before = a.requestsSentBefore ?? 0;
    a.request = { sent: before, timer: undefined };
    // Reported before: it stays reported (PD's view does not flicker while it asks again).
    if (before > this.env.limits.requestsMax) a.damaged = true;
    if (before === 0) this.ask(peer);
    else a.request.timer = this.env.timers.setTimeout(() => this.ask(peer), this.env.limits.requestIntervalMs);
  }

  /**
   * Sends one request (unless a snapshot is arriving), then arms the next; past `requestsMax`
   * also marks the replica damaged (reported to PD). It never stops asking while it waits:
   * only a new snapshot, PD's removal (the peer destroyed) or a closed store ends it.
   */
  private ask(peer: RegionPeer): void {
    const a = peer.applying;
    if (!a?.request || this.gone(peer)) return;
    if (!this.env.receiving(peer.regionId)) {
      // Past requestsMax the replica is reported to PD too, which replaces it where it can. The
      // asking goes on: PD's replacement is a conf change that needs a quorum, and this replica
      // may be part of every quorum left (an incoming voter of a joint config, a voter beside a
      // dead one); then only a snapshot that applies brings the region back (FINDINGS.md S1).
      if (a.request.sent >= this.env.limits.requestsMax) a.damaged = true;
      a.request.sent++;
      this.env.status.requestsSent = (this.env.status.requestsSent ?? 0) + 1;
      const h = pendingApplyHeader(a);
      const f: SnapshotFrame = { kind: 'request', id: typeof h === 'string' ? UNKNOWN_SNAPSHOT_ID : h.id, index: a.index };
      // The leader may have changed since: every other replica hears it, only a leader acts.
      for (const p of peer.region.peers) {
        if (p.id !== peer.peerId && !p.witness) this.env.send(p.storeId, snapshotFrameMessage(peer.regionId, peer.region.epoch, peer.peerId, p.id, f));
      }
    }
    a.request.timer = this.env.timers.setTimeout(() => this.ask(peer), this.env.limits.requestIntervalMs);
  }

  /**
   * `peer`'s failed apply is being replaced (a new snapshot arrived) or the peer destroyed:
   * stop asking. Returns the requests sent so far (carried to the new apply, should it fail too).
   */
  end(peer: RegionPeer, answered: boolean): number {
    const r = peer.applying?.request;
    if (!r) return 0;
    this.env.timers.clearTimeout(r.timer);
    peer.applying!.request = undefined;
    if (answered) this.env.status.requestsAnswered = (this.env.status.requestsAnswered ?? 0) + 1;
    return r.sent;
  }

  /**
   * A request from store `fromStoreId` (the envelope names the asking peer and ours). Served
   * when we lead the region, the asker is a replica of it on that store, and our applied state
   * is at or past what it lost (else our snapshot would be older; it asks again later).
   */
  onRequest(fromStoreId: number, rm: RegionMessage, index: number): void {
    const peer = this.env.peer(rm.regionId);
    if (!peer || peer.destroyed || peer.peerId !== rm.message.to || !peer.isLeader()) return;
    const asker = peer.region.peers.find((p) => p.id === rm.message.from);
    if (!asker || asker.storeId !== fromStoreId || peer.applied < index) return;
    if (!peer.raw.handleSnapshotRequest(asker.id, index)) return;
    this.env.status.requestsServed = (this.env.status.requestsServed ?? 0) + 1;
    this.env.wake(peer.regionId);
  }

  private gone(peer: RegionPeer): boolean {
    return this.env.stopped() || peer.destroyed || this.env.peer(peer.regionId) !== peer;
  }
}
