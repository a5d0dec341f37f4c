/**
 * The client side of the write-latency trace (issue 16): where a request's time goes before it
 * reaches a store and after it leaves one. The store side (`@peerkv/store`'s `write-trace.ts`)
 * times a write on its region's leader from received to answered; this module times what
 * surrounds it, span by span:
 *
 *   host:<type> (a tab's request served by its host, browser runtime)
 *     ├─ tso                 one timestamp from PD's TSO (through the batcher)
 *     ├─ route               one region lookup: the region cache, or PD on a miss
 *     └─ send:<type>         one attempt at a store request, sent until answered: the
 *                            transport both ways plus the store's own spans
 *
 * so a write's transport hop is `send:<type>` less the leader's `total`, and a tab's hop to its
 * host is what the tab measured less `host:<type>` (means add up; percentiles do not).
 *
 * A `SpanTrace` is off until a caller hands one to the client (`PeerKV.setTrace`): while off the
 * instrumented paths read no clock and allocate nothing (one field read each; see
 * `test/client-trace.test.ts`). Each span keeps its newest `TRACE_SAMPLES_MAX` durations and at
 * most `TRACE_SPANS_MAX` spans are kept (request types bound them; more are dropped and counted).
 */
import { spanStats, type StoreService } from '@peerkv/store';
import type { KvService } from './services.ts';

/** Durations kept per span (the newest). */
export const TRACE_SAMPLES_MAX = 1024;
/** Distinct spans one trace keeps; samples of further spans are dropped (`TraceSummary.droppedSamples`). */
export const TRACE_SPANS_MAX = 64;

/** One span's percentiles and mean over its kept samples, ms. */
export interface SpanSummary {
  samples: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
}

/** Every span recorded so far, by name (`tso`, `route`, `send:<type>`, `host:<type>`). */
export interface TraceSummary {
  spans: Record<string, SpanSummary>;
  /** Samples of spans beyond `TRACE_SPANS_MAX`, not kept. */
  droppedSamples: number;
}

/** A clock for durations, ms (monotonic). */
export interface TraceClock {
  now(): number;
}

const MONOTONIC: TraceClock = { now: () => performance.now() };

/** A ring of one span's durations. */
class SpanRing {
  readonly samples: number[] = [];
  private next = 0;

  add(ms: number): void {
    if (this.samples.length < TRACE_SAMPLES_MAX) this.samples.push(ms);
    else this.samples[this.next] = ms;
    this.next = (this.next + 1) % TRACE_SAMPLES_MAX;
  }
}

/** Recorded spans of one client (and its host); see the module header. */
export class SpanTrace {
  private readonly spans = new Map<string, SpanRing>();
  private dropped = 0;

  constructor(private readonly clock: TraceClock = MONOTONIC) {}

  /** Now on the trace's clock, ms: a span's start. */
  now(): number {
    return this.clock.now();
  }

  /** Records span `name` as lasting from `startMs` until now. */
  record(name: string, startMs: number): void {
    const ms = this.clock.now() - startMs;
    let ring = this.spans.get(name);
    if (ring === undefined) {
      if (this.spans.size >= TRACE_SPANS_MAX) {
        this.dropped++;
        return;
      }
      this.spans.set(name, (ring = new SpanRing()));
    }
    ring.add(ms);
  }

  /** Runs `fn`, recording span `name` over it (until it settles, failed or not). */
  async time<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const t0 = this.clock.now();
    try {
      return await fn();
    } finally {
      this.record(name, t0);
    }
  }

  /** Every span's percentiles and mean. */
  summary(): TraceSummary {
    const spans: Record<string, SpanSummary> = {};
    for (const [name, ring] of [...this.spans].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) spans[name] = { samples: ring.samples.length, ...spanStats(ring.samples) };
    return { spans, droppedSamples: this.dropped };
  }
}

/** `svc` with each request timed as span `send:<type>` (what the client hands a request's sender while tracing). */
export function tracedService(svc: KvService, trace: SpanTrace): KvService {
  const handle: StoreService['handle'] = (request, o) => trace.time(`send:${request.type}`, () => svc.handle(request, o));
  return { storeId: svc.storeId, handle };
}
