/**
 * The PD worker's walk over hibernating replicas: a slice of the store's replicas at each store
 * heartbeat, so that each is visited once per lap of `lapBeats` heartbeats (PD's region patrol,
 * turned to the store side). Awake replicas are visited at every heartbeat from
 * `StoreContext.awake`; a walk over every replica at every heartbeat was most of an idle
 * store's CPU with 10,000 hibernating regions (issue 16, `bench:idle`).
 *
 * What a hibernating replica adds to a store heartbeat (a leader, its bytes, a damaged replica)
 * is kept as of its last visit (its share): the sums are exact for awake replicas and at most a
 * lap old for hibernating ones. A replica's share goes when it is next seen awake, or at the end
 * of a lap that did not visit it (it is gone).
 */
import type { RegionPeer } from './peer.ts';

/** What a hibernating replica added to the store heartbeat when it was last visited. */
interface Share {
  leader: boolean;
  bytes: number;
  damaged: boolean;
  /** The lap that recorded it. */
  lap: number;
}

export class ReplicaPatrol {
  private cursor: Iterator<RegionPeer> | undefined;
  private lap = 0;
  private readonly shares = new Map<RegionPeer, Share>();
  /** Hibernating leaders, over the recorded shares. */
  leaderCount = 0;
  /** Their bytes. */
  usedBytes = 0;
  private damagedCount = 0;

  constructor(private readonly peers: ReadonlyMap<number, RegionPeer>) {}

  /**
   * The hibernating replicas among the next `ceil(replicas / lapBeats)` replicas of the walk
   * (it starts over at the end, closing the lap).
   */
  next(lapBeats: number): RegionPeer[] {
    const slice = Math.ceil(this.peers.size / Math.max(1, lapBeats));
    const out: RegionPeer[] = [];
    let restarted = false;
    for (let walked = 0; walked < slice; ) {
      this.cursor ??= this.peers.values();
      const it = this.cursor.next();
      if (it.done === true) {
        this.endLap();
        // Once per call: a map emptied meanwhile ends the slice.
        if (restarted) break;
        restarted = true;
        continue;
      }
      walked++;
      if (it.value.hibernating && !it.value.destroyed) out.push(it.value);
    }
    return out;
  }

  /** Records what hibernating `peer` adds to store heartbeats from now on. */
  record(peer: RegionPeer, leader: boolean, bytes: number, damaged: boolean): void {
    this.forget(peer);
    this.shares.set(peer, { leader, bytes, damaged, lap: this.lap });
    this.add(leader, bytes, damaged, 1);
  }

  /** `peer` is awake (its caller counts it) or gone: its share goes. */
  forget(peer: RegionPeer): void {
    const s = this.shares.get(peer);
    if (s === undefined) return;
    this.shares.delete(peer);
    this.add(s.leader, s.bytes, s.damaged, -1);
  }

  /** The hibernating replicas reported damaged at their last visit. */
  damagedRegionIds(): number[] {
    if (this.damagedCount === 0) return [];
    const out: number[] = [];
    for (const [peer, s] of this.shares) if (s.damaged) out.push(peer.regionId);
    return out;
  }

  private add(leader: boolean, bytes: number, damaged: boolean, sign: 1 | -1): void {
    if (leader) {
      this.leaderCount += sign;
      this.usedBytes += sign * bytes;
    }
    if (damaged) this.damagedCount += sign;
  }

  /** A lap ended: shares it did not record belong to replicas gone since. */
  private endLap(): void {
    this.cursor = undefined;
    for (const [peer, s] of this.shares) if (s.lap !== this.lap) this.forget(peer);
    this.lap++;
  }
}
