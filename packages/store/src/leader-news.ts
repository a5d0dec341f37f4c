/**
 * Leader news: a region replica on this store has learned who leads its region (it won an
 * election, or heard the new leader's first append or heartbeat). The client of the process
 * hosting the store uses it to give up at once on a request still waiting for a store that no
 * longer leads (a killed browser never answers) and to follow the new leader: TiKV's clients
 * learn the same from the `NotLeader` a follower answers, this tells them without being asked.
 */
import type { Peer } from '@peerkv/pd';

/** One region's new leader as a replica on this store learned it. */
export interface LeaderNews {
  regionId: number;
  /** The leading peer (it is in the replica's region). */
  leader: Peer;
  /** The Raft term it leads in. */
  term: number;
}

/**
 * Sees every leader change a replica on this store learns, once its round's write is durable.
 * It must not throw (a throw is caught and counted in `observerErrors`) and must not block: it
 * runs inside the store's round.
 */
export type LeaderObserver = (news: LeaderNews) => void;
