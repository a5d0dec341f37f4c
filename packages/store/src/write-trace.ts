/**
 * The write-latency trace (issue 16): where a replicated write's time goes on the store whose
 * replica leads its region, span by span, so the hot path can be measured before it is
 * changed, and kept fast after. Each write proposal (`write`, and a txn command's `txn`
 * entry) carries a `ProposalTrace`; its spans are recorded once the round's write holding its
 * apply is durable (when its answer goes out):
 *
 *   received ── beforePropose ──▶ proposed ── proposeToCommit ──▶ committed (a round took it)
 *   ── commitToApplied ──▶ applied into the round's batch ── appliedToDurable ──▶ answered
 *
 * - `beforePropose`: the request's checks, a txn command's latches and its local read;
 *   `localRead` is the read alone (0 for a raw write);
 * - `proposeToCommit`: the leader's log append and the followers' appends and acks (their
 *   round trip), until a round takes the Ready carrying the entry committed;
 * - `commitToApplied`: applying the entries of that Ready up to this one;
 * - `appliedToDurable`: the rest of the round and its engine write.
 *
 * What a client adds (TSO, routing, the transport both ways) is its own latency minus these.
 * The last `WRITE_TRACE_SAMPLES_MAX` writes are kept; `Store.status().writeTrace` summarizes
 * them. The clock is `StoreOptions.traceClock` (monotonic by default).
 */

/** Writes kept for the summary (the newest). */
export const WRITE_TRACE_SAMPLES_MAX = 1024;

/** The spans of one write on its leader's store, in order. */
export const WRITE_TRACE_SPANS = ['beforePropose', 'localRead', 'proposeToCommit', 'commitToApplied', 'appliedToDurable'] as const;
export type WriteTraceSpan = (typeof WRITE_TRACE_SPANS)[number];

/** Times of one write proposal, ms on the trace clock (filled in as it goes). */
export interface ProposalTrace {
  receivedMs: number;
  /** Time spent reading the engine before proposing (a txn command's local read). */
  localReadMs: number;
  proposedMs: number;
  /** When a round took the Ready carrying the entry committed. */
  committedMs?: number;
  /** When the entry was applied into the round's batch. */
  appliedMs?: number;
}

/** Percentiles of each span over the kept writes, ms. */
export interface WriteTraceSummary {
  /** Writes summarized (at most `WRITE_TRACE_SAMPLES_MAX`). */
  samples: number;
  p50Ms: Record<WriteTraceSpan | 'total', number>;
  p99Ms: Record<WriteTraceSpan | 'total', number>;
  /** Means: unlike percentiles, the spans' means (without `localRead`, part of `beforePropose`) add up to the total's. */
  meanMs: Record<WriteTraceSpan | 'total', number>;
}

type Sample = Record<WriteTraceSpan | 'total', number>;

/** The kept samples of one store (a ring). */
export class WriteTrace {
  private readonly samples: Sample[] = [];
  private next = 0;

  /** Records a write whose answer goes out at `durableMs`; a trace missing a stamp (lost to a leader change) is skipped. */
  record(t: ProposalTrace, durableMs: number): void {
    if (t.committedMs === undefined || t.appliedMs === undefined) return;
    const s: Sample = {
      beforePropose: t.proposedMs - t.receivedMs,
      localRead: t.localReadMs,
      proposeToCommit: t.committedMs - t.proposedMs,
      commitToApplied: t.appliedMs - t.committedMs,
      appliedToDurable: durableMs - t.appliedMs,
      total: durableMs - t.receivedMs,
    };
    if (this.samples.length < WRITE_TRACE_SAMPLES_MAX) this.samples.push(s);
    else this.samples[this.next] = s;
    this.next = (this.next + 1) % WRITE_TRACE_SAMPLES_MAX;
  }

  /** The summary of the kept writes, or undefined before the first. */
  summary(): WriteTraceSummary | undefined {
    if (this.samples.length === 0) return undefined;
    const keys = [...WRITE_TRACE_SPANS, 'total'] as const;
    const p50 = {} as Sample;
    const p99 = {} as Sample;
    const mean = {} as Sample;
    for (const k of keys) {
      const s = spanStats(this.samples.map((x) => x[k]));
      p50[k] = s.p50Ms;
      p99[k] = s.p99Ms;
      mean[k] = s.meanMs;
    }
    return { samples: this.samples.length, p50Ms: p50, p99Ms: p99, meanMs: mean };
  }

  /** Forgets the kept writes (a trace started afresh: `Store.clearWriteTrace`). */
  clear(): void {
    this.samples.length = 0;
    this.next = 0;
  }
}

/** Percentiles and mean of one span's samples, ms to the microsecond; `samples` must not be empty. */
export function spanStats(samples: readonly number[]): { p50Ms: number; p99Ms: number; meanMs: number } {
  const xs = [...samples].sort((a, b) => a - b);
  return {
    p50Ms: round3(xs[Math.floor(0.5 * (xs.length - 1))]),
    p99Ms: round3(xs[Math.floor(0.99 * (xs.length - 1))]),
    meanMs: round3(xs.reduce((a, b) => a + b, 0) / xs.length),
  };
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
