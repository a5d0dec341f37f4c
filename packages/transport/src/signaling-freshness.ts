/**
 * Freshness and replay rules for sealed signaling payloads (issue 13, finding 4). Pure: the
 * caller passes the wall clock.
 *
 * AES-GCM proves a payload came from a member, not that it is new: anyone on the topic can
 * record a sealed announce and publish it again later. So every payload carries, inside the
 * seal, its sender's session start (`sessionStartMs`), a counter that grows by one per payload
 * of that session (`seq`) and the time it was sealed (`sentAtMs`). A receiver refuses
 *
 * - a payload sealed more than `freshnessMs` before or after its own clock (a recording
 *   replayed later; also a payload of an older PeerKV without these fields);
 * - a payload of the sender's current session whose `seq` is not above the highest seen
 *   (a recording replayed within the window);
 * - a payload of a session that started before the sender's current one (a recording of a
 *   store's earlier life: accepting it would retire the live session and its link).
 *
 * Directed payloads also carry the receiver's session (`toSession`): a recording made for
 * an earlier session of the receiver does not apply to this one (checked by the transport).
 */

/** Default `freshnessMs`: covers the clock skew of devices that sync their clocks, and relay time. */
export const SIGNALING_FRESHNESS_MS_DEFAULT = 120_000;

/** Senders remembered per receiver; the least recently heard one is forgotten beyond it. */
export const SIGNALING_SENDERS_MAX = 4096;

/** The freshness fields every sealed payload carries. */
export interface FreshnessFields {
  sessionStartMs: number;
  seq: number;
  sentAtMs: number;
}

/** What a receiver knows of one sender. */
interface SenderState {
  session: string;
  sessionStartMs: number;
  seqMax: number;
  lastHeardWallMs: number;
}

/** Verdict on one payload: accepted, or why not. */
export type FreshnessVerdict = 'fresh' | 'stale' | 'replayed';

/** True when `v` carries the freshness fields as safe integers. */
export function hasFreshnessFields(v: Partial<FreshnessFields>): v is FreshnessFields {
  return Number.isSafeInteger(v.sessionStartMs) && Number.isSafeInteger(v.seq) && Number.isSafeInteger(v.sentAtMs);
}

/** Tracks the newest session and counter of each sender and judges payloads against them. */
export class ReplayGuard {
  private readonly senders = new Map<number, SenderState>();

  constructor(private readonly freshnessMs: number) {}

  /**
   * Judges a payload from `sender` (store id) in session `session`; a fresh one is recorded.
   * Payloads must be judged in the order the sender sealed them (the relay keeps it).
   */
  check(sender: number, session: string, f: FreshnessFields, nowWallMs: number): FreshnessVerdict {
    if (Math.abs(nowWallMs - f.sentAtMs) > this.freshnessMs) return 'stale';
    const known = this.senders.get(sender);
    if (known && known.session === session) {
      if (f.seq <= known.seqMax) return 'replayed';
    } else if (known && f.sessionStartMs <= known.sessionStartMs && nowWallMs - known.lastHeardWallMs <= this.freshnessMs) {
      // An earlier life of the store while its current one is alive. (A current session
      // silent for a whole window no longer blocks: a store whose clock went back can rejoin.)
      return 'replayed';
    }
    this.senders.delete(sender); // re-insert: the map's order is least recently heard first
    this.senders.set(sender, { session, sessionStartMs: f.sessionStartMs, seqMax: f.seq, lastHeardWallMs: nowWallMs });
    if (this.senders.size > SIGNALING_SENDERS_MAX) this.senders.delete(this.senders.keys().next().value as number);
    return 'fresh';
  }
}
