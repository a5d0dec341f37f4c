/**
 * How a remote caller waits on one attempt of a request type, as it is written in that type's
 * entry of the request table (`STORE_REQUEST_CODECS`, `request-codec.ts`): whether only the
 * region's leader serves it, whether its attempt is bounded by the store's measured RTO, and
 * whether a browser tab's transaction may send it through its host. `RemoteKvService` and the
 * tab protocol derive their per-type behaviour from here (`leaderServes`, `rtoBounded`,
 * `TAB_REQUEST_TYPES`) instead of keeping lists of type names.
 */

/** How a remote caller waits on one attempt of a request type. */
export interface RequestAttempt {
  /**
   * Who serves it: `always` the region's leader only; `linearizable` the leader when the
   * request's `consistency` is `linearizable`, any replica otherwise; `never` not tied to a
   * leader (a store's own state, PD, a replica, the deadlock detector). A leader-served attempt
   * ends early when a leader on another store is reported.
   */
  readonly leader: 'always' | 'linearizable' | 'never';
  /**
   * Whether a leader serves it in one Raft round (or one ReadIndex/lease read) with bounded
   * work and no wait by design, so its attempt is bounded by the RTO and sampled for it (only
   * when the leader serves it). Scans (work grows with the page), change-feed pulls and lock
   * waits (long polls) are not.
   */
  readonly rto: boolean;
  /** Whether a pessimistic transaction running in a browser tab may send it through its host (`txnRegionRequest`). */
  readonly tab: boolean;
}

/**
 * An entry without `attempt`: not tied to a leader, the caller's whole timeout, not from a tab.
 * Each is the safe side: an attempt that waits its timeout is only slower than one cut at the
 * RTO or by leader news, and a type a tab may not send is refused by the host.
 */
export const ATTEMPT_DEFAULT: RequestAttempt = { leader: 'never', rto: false, tab: false };

/** Served by the leader in one round (writes, txn point commands). */
export const ATTEMPT_LEADER_ROUND = { leader: 'always', rto: true, tab: false } as const;

/** As `ATTEMPT_LEADER_ROUND`, and a tab's pessimistic transaction sends it through its host. */
export const ATTEMPT_LEADER_ROUND_TAB = { leader: 'always', rto: true, tab: true } as const;

/** Served by the leader with unbounded work or a wait by design (txn scans, change-feed pulls). */
export const ATTEMPT_LEADER_LONG = { leader: 'always', rto: false, tab: false } as const;

/** As `ATTEMPT_LEADER_LONG`, and a tab's pessimistic transaction sends it through its host (lock waits). */
export const ATTEMPT_LEADER_LONG_TAB = { leader: 'always', rto: false, tab: true } as const;

/** A raw point read: the leader in one round when linearizable, any replica otherwise. */
export const ATTEMPT_CONSISTENT_POINT = { leader: 'linearizable', rto: true, tab: false } as const;

/** A raw scan: the leader when linearizable (work grows with the page), any replica otherwise. */
export const ATTEMPT_CONSISTENT_SCAN = { leader: 'linearizable', rto: false, tab: false } as const;
