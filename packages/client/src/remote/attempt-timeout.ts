/**
 * How long one attempt of a request to a remote store may wait, from that store's measured
 * response times (RFC 6298's retransmission timeout, as TCP derives it from its RTT): the
 * smoothed time `srtt` and its mean deviation `rttvar` of answered point requests give
 * `rto = srtt + 4 × rttvar`, within [`ATTEMPT_TIMEOUT_MS_MIN`, the caller's timeout]; each
 * attempt that goes unanswered doubles it (a slow store is waited on longer, not hammered),
 * an answer sets it back from the estimate. Karn's rule holds by construction: an attempt is
 * one send, so an answer is never matched to the wrong send.
 *
 * The slack the transport adds to a store's own timeout (so that the store's `Timeout` answer
 * arrives before the transport gives up) is the time an answer takes to travel, measured the
 * same way, within [`TRANSPORT_SLACK_MS_MIN`, `TRANSPORT_SLACK_MS_MAX`] (the maximum until
 * anything was measured).
 */

/** Shortest per-attempt timeout of a point request, ms: below it, an answer that one slow disk write or GC pause delays is given up for nothing. */
export const ATTEMPT_TIMEOUT_MS_MIN = 400;
/** Shortest transport slack beyond a store's own timeout, ms. */
export const TRANSPORT_SLACK_MS_MIN = 50;
/** Longest transport slack (also before any answer was measured), ms. */
export const TRANSPORT_SLACK_MS_MAX = 1000;
/** RFC 6298's gains: `srtt` moves by 1/8 of each sample's error, `rttvar` by 1/4. */
const SRTT_GAIN = 1 / 8;
const RTTVAR_GAIN = 1 / 4;
/** RFC 6298's K: deviations above the smoothed time before an attempt is given up. */
const RTTVAR_FACTOR = 4;
/** Doublings of the timeout after consecutive unanswered attempts (2^4 = 16 × the estimate, within the caller's timeout). */
const BACKOFF_DOUBLINGS_MAX = 4;

/** One remote store's response-time estimate and attempt timeouts; see the module header. */
export class AttemptTimeout {
  private srttMs: number | undefined;
  private rttvarMs = 0;
  private doublings = 0;

  /** Folds in an answered attempt's time, ms, and ends any backoff. */
  answered(ms: number): void {
    if (!(ms >= 0) || !Number.isFinite(ms)) return;
    if (this.srttMs === undefined) {
      this.srttMs = ms;
      this.rttvarMs = ms / 2;
    } else {
      this.rttvarMs += RTTVAR_GAIN * (Math.abs(this.srttMs - ms) - this.rttvarMs);
      this.srttMs += SRTT_GAIN * (ms - this.srttMs);
    }
    this.doublings = 0;
  }

  /** An attempt went unanswered: the next waits twice as long (up to `BACKOFF_DOUBLINGS_MAX` doublings). */
  unanswered(): void {
    this.doublings = Math.min(BACKOFF_DOUBLINGS_MAX, this.doublings + 1);
  }

  /** The time one attempt may wait, ms: `callerMs` until something was measured, else the RTO within [`ATTEMPT_TIMEOUT_MS_MIN`, `callerMs`]. */
  attemptMs(callerMs: number): number {
    if (this.srttMs === undefined) return callerMs;
    // RFC 6298 2.4 then 5.5: the floor first, the backoff doubles what it gives.
    const rto = Math.max(ATTEMPT_TIMEOUT_MS_MIN, Math.ceil(this.srttMs + RTTVAR_FACTOR * this.rttvarMs));
    return Math.min(callerMs, rto * 2 ** this.doublings);
  }

  /** The transport's wait beyond the store's own timeout, ms. */
  slackMs(): number {
    if (this.srttMs === undefined) return TRANSPORT_SLACK_MS_MAX;
    return Math.min(TRANSPORT_SLACK_MS_MAX, Math.max(TRANSPORT_SLACK_MS_MIN, Math.ceil(this.srttMs + RTTVAR_FACTOR * this.rttvarMs)));
  }

  /** The smoothed response time, ms (undefined before the first answer). */
  get smoothedMs(): number | undefined {
    return this.srttMs;
  }
}
