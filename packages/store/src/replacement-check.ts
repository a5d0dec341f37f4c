/**
 * PD's word on a replica replacement the local metadata cannot verify (issue 13).
 *
 * A leader message addressed to a newer peer id of a region hosted here replaces the local
 * replica (`StoreLoop.receive`), but only from a peer that metadata here places on the sending
 * store: else any member could destroy a replica with one forged heartbeat. A stale replica may
 * not know its leader at all, though: one made on demand that never got its snapshot holds no
 * region metadata (no peers), and one removed long ago knows only the peers of its old
 * configuration. Its group left it behind, so nobody else tells it (PD's stale check covers
 * initialized replicas only, and reclaims uninitialized ones only if they never voted). Without
 * this, such a replica refused its replacement's every message for good (sim `--cluster --seed
 * 8`: region 17's learner on store 8 never initialized, its old uninitialized peer 31 refusing
 * leader peer 19's heartbeats to peer 35).
 *
 * So a refused replacement asks PD (`getRegionById`, at most once per region every
 * `REPLACEMENT_CHECK_MS_MIN`): when PD's region places the addressed peer on this store, every
 * peer of PD's region is recorded where PD says it is (`PeerStores.record`, the same metadata a
 * snapshot's region gives), and the leader's next message is checked against that record: the
 * real leader's passes, a member posing as it is refused (`raftPeerNotOnSender`). A forged
 * message costs one PD question per region and interval, and replaces nothing.
 */
import type { PdClient } from './pd-client.ts';
import type { PeerStores } from './peer-stores.ts';

/** Least time between two questions to PD about one region's replacement, ms. */
export const REPLACEMENT_CHECK_MS_MIN = 1000;

/** What a `ReplacementChecks` needs of its store. */
export interface ReplacementCheckHost {
  storeId: number;
  peerStores: PeerStores;
  pdClient: PdClient | undefined;
  now(): number;
}

/** See the module comment. */
export class ReplacementChecks {
  /** When PD was last asked about each region, ms; entries older than `REPLACEMENT_CHECK_MS_MIN` are dropped. */
  private readonly asked = new Map<number, number>();

  constructor(private readonly host: ReplacementCheckHost) {}

  /** Asks PD whether peer `toPeerId` of region `regionId` is on this store (see the module comment); at most once per region and interval. */
  ask(regionId: number, toPeerId: number): void {
    const pd = this.host.pdClient;
    if (!pd?.getRegionById) return;
    const now = this.host.now();
    for (const [id, at] of this.asked) if (now - at >= REPLACEMENT_CHECK_MS_MIN) this.asked.delete(id);
    if (this.asked.has(regionId)) return;
    this.asked.set(regionId, now);
    void pd.getRegionById(regionId, { timeoutMs: REPLACEMENT_CHECK_MS_MIN }).then(
      (r) => {
        const region = r.ok ? r.value?.region : undefined;
        if (!region?.peers.some((p) => p.id === toPeerId && p.storeId === this.host.storeId)) return;
        for (const p of region.peers) this.host.peerStores.record(p.id, p.storeId);
      },
      () => {}, // no answer: asked again at the leader's next message after the interval
    );
  }
}
