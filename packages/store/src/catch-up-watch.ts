/**
 * Which replicas a leader told PD were pending (still catching up), and which of them caught up
 * since: the PD worker sends such a region's heartbeat at once instead of at the next store
 * heartbeat (issue 16, join time). PD promotes a learner, and ends an add-peer operator, only
 * once a heartbeat shows it caught up, so each promotion of a join waited up to a heartbeat
 * interval (1 s by default). TiKV's leader does the same (`Peer::any_new_peer_catch_up`, then a
 * PD heartbeat).
 */
import type { Status } from '@peerkv/raft';
import type { RegionPeer } from './peer.ts';

/** Regions watched at most; past it the oldest is forgotten (its catch-up waits for the next heartbeat, as before). */
export const CATCH_UP_WATCHED_MAX = 1024;

/**
 * The peers of a leader's Raft `st` that PD should count as pending: never answered (a replica
 * being made), waiting for a snapshot, or more than `keepEntries` behind the commit index (the
 * log GC would cut them off).
 */
export function pendingPeersOf(st: Status, selfId: number, keepEntries: number): number[] {
  const pending: number[] = [];
  for (const [id, pr] of st.progress ?? []) {
    if (id === selfId) continue;
    if (pr.match === 0 || pr.state === 'snapshot' || pr.match + keepEntries < st.commit) pending.push(id);
  }
  return pending;
}

/**
 * Whether a leader's Raft `st` has heard from every follower since it was elected (each has a
 * match index and was recently active): before that, a region heartbeat would name every
 * follower pending and down only because the leader is new.
 */
export function heardFromEveryFollower(st: Status, selfId: number): boolean {
  for (const [id, pr] of st.progress ?? []) if (id !== selfId && (pr.match === 0 || !pr.recentActive)) return false;
  return true;
}

export class CatchUpWatch {
  /** Each watched region's peers that its last heartbeat reported pending. */
  private readonly watched = new Map<RegionPeer, readonly number[]>();

  constructor(private readonly keepEntries: () => number) {}

  /** `peer`'s heartbeat reported `pending` to PD: watch them (none: stop watching). */
  reported(peer: RegionPeer, pending: readonly number[]): void {
    this.watched.delete(peer);
    if (pending.length === 0) return;
    if (this.watched.size >= CATCH_UP_WATCHED_MAX) this.watched.delete(this.watched.keys().next().value!);
    this.watched.set(peer, pending);
  }

  /**
   * The watched regions of which a reported peer is no longer pending, now forgotten (their
   * heartbeat is the caller's to send, and watches again). A region no longer led here is
   * forgotten too: its new leader reports for it.
   */
  caughtUp(): RegionPeer[] {
    const out: RegionPeer[] = [];
    for (const [peer, pending] of this.watched) {
      if (peer.destroyed || !peer.isLeader()) {
        this.watched.delete(peer);
        continue;
      }
      const now = new Set(pendingPeersOf(peer.raw.status(), peer.peerId, this.keepEntries()));
      if (pending.every((id) => now.has(id))) continue;
      this.watched.delete(peer);
      out.push(peer);
    }
    return out;
  }

  get size(): number {
    return this.watched.size;
  }
}
