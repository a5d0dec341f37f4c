/**
 * Which store each Raft peer lives on, and whether an incoming Raft message's peers agree with
 * the link it came over (issue 13: a member store may not speak for another store's peer).
 *
 * Peer ids are allocated by PD for the whole cluster and a peer never moves: a peer id names
 * one replica on one store for good. Two sources say where a peer is:
 *
 * - **recorded**: region metadata this store holds (its replicas' regions, a snapshot's region
 *   it adopted, a membership change it proposed). This is what a message is checked against.
 * - **learned**: the sending store of a message from a peer no region here lists yet (a leader
 *   talking to a replica it just added here, a peer added in a configuration this replica has
 *   not applied). Used only to route replies; never to refuse a message, so a forged message
 *   cannot stop the real peer's messages, and bounded (`LEARNED_PEER_STORES_MAX`), so forged
 *   senders cannot grow it.
 *
 * A message is refused when a recorded store of its `from` peer is not the link's store
 * (`raftPeerNotOnSender`: a member posing as another store's peer) or a recorded store of its
 * `to` peer is not this store (`raftPeerNotHere`). TiKV carries the store id in each peer of a
 * `RaftMessage` and drops a `to_peer` of another store; here the link's authenticated store id
 * (`LinkTransport` checks the batch header against the session) stands for the sender's.
 */
import type { RegionMessage } from '@peerkv/transport';

/** Most peer-to-store pairs learned from messages alone, pairs (the oldest is forgotten first). */
export const LEARNED_PEER_STORES_MAX = 4096;

/** Why a Raft message's peers disagree with the link (each a `refused` counter of the store). */
export type RaftPeerRefusal =
  /** Its `from` peer is recorded on another store than the one whose link sent it. */
  | 'raftPeerNotOnSender'
  /** Its `to` peer is recorded on another store than this one. */
  | 'raftPeerNotHere';

/** See the module comment. */
export class PeerStores {
  private readonly recorded = new Map<number, number>();
  private readonly learned = new Map<number, number>();

  /**
   * `peerId` is on `storeId`, as region metadata says. A peer never moves, so the first record
   * stays: a region made on demand from a forged snapshot cannot move a real peer elsewhere.
   */
  record(peerId: number, storeId: number): void {
    if (this.recorded.has(peerId)) return;
    this.recorded.set(peerId, storeId);
    this.learned.delete(peerId);
  }

  /** A message from `peerId` came over `storeId`'s link: where to send replies, until metadata says. */
  learn(peerId: number, storeId: number): void {
    if (this.recorded.has(peerId)) return;
    this.learned.delete(peerId); // re-inserted last: the newest is kept longest
    this.learned.set(peerId, storeId);
    if (this.learned.size > LEARNED_PEER_STORES_MAX) this.learned.delete(this.learned.keys().next().value!);
  }

  /** Where to send a message for `peerId`: recorded, else learned. */
  storeOf(peerId: number): number | undefined {
    return this.recorded.get(peerId) ?? this.learned.get(peerId);
  }

  /** Where region metadata says `peerId` is (never what a message claimed). */
  recordedStoreOf(peerId: number): number | undefined {
    return this.recorded.get(peerId);
  }
}

/**
 * Why `rm`, which came over `fromStoreId`'s link to store `localStoreId`, is refused, if it is.
 * `recordedStoreOf` says where metadata puts a peer (the region's replica here first); a peer it
 * does not know is not checked (see the module comment).
 */
export function raftPeerRefusal(rm: RegionMessage, fromStoreId: number, localStoreId: number, recordedStoreOf: (peerId: number) => number | undefined): RaftPeerRefusal | undefined {
  const from = recordedStoreOf(rm.message.from);
  if (from !== undefined && from !== fromStoreId) return 'raftPeerNotOnSender';
  const to = recordedStoreOf(rm.message.to);
  if (to !== undefined && to !== localStoreId) return 'raftPeerNotHere';
  return undefined;
}
