/**
 * The network between clients and stores in cluster mode: every request and every answer
 * takes a seeded virtual delay and may be lost (the client then sees its per-attempt
 * timeout, as over a real link). A request reaching a store that is not running also times
 * out. Lost answers to writes are what make the client retry a write that was applied, so
 * the stores' (clientId, seq) deduplication is exercised.
 */
import type { HandleOptions, Result, StoreRequest } from '@peerkv/store';
import type { KvService, StoreResolver } from 'peerkv';
import type { SeededRng } from '@peerkv/raft';
import type { ClusterEnv } from './cluster-env.ts';

/** Counts of the client network. */
export interface ClientNetStats {
  requests: number;
  lost: number;
}

/** A `StoreResolver` whose services reach the env's stores through a lossy, delayed link. */
export class SimStoreResolver implements StoreResolver {
  readonly stats: ClientNetStats = { requests: 0, lost: 0 };

  constructor(
    private readonly env: ClusterEnv,
    private readonly rng: SeededRng,
  ) {}

  private delayMs(): number {
    const [min, max] = this.env.o.netDelayMs;
    return min + this.rng.nextInt(max - min + 1);
  }

  private lost(): boolean {
    const l = this.rng.nextFloat() < this.env.o.netDropRate;
    if (l) this.stats.lost++;
    return l;
  }

  /** Sends one request to store `storeId` and brings its answer back, or times out (`readIndex`: a read that waits for a ReadIndex). */
  private async call<T>(storeId: number, timeoutMsAsked: number | undefined, readIndex: boolean, run: (s: KvService) => Promise<Result<T>>): Promise<Result<T>> {
    this.stats.requests++;
    const timeoutMs = timeoutMsAsked ?? this.env.o.requestTimeoutMs;
    const timedOut = async (): Promise<Result<T>> => {
      await this.env.sched.sleep(timeoutMs);
      return { ok: false, error: { kind: 'Timeout', what: 'no answer from the store' } };
    };
    const sentAt = this.env.sched.now();
    if (this.lost()) return timedOut();
    await this.env.sched.sleep(this.delayMs());
    const store = this.env.pd.store(storeId);
    if (!store) {
      await this.env.sched.sleep(Math.max(0, timeoutMs - (this.env.sched.now() - sentAt)));
      return { ok: false, error: { kind: 'Timeout', what: 'no answer from the store' } };
    }
    let r: Result<T>;
    // Reads that wait for a ReadIndex are tracked: the nemesis aims some crashes at them.
    const read = readIndex;
    if (read) this.env.readsInFlight.set(store, (this.env.readsInFlight.get(store) ?? 0) + 1);
    try {
      r = await run(store);
    } catch {
      // The store closed under the request (StoreClosedError): no answer comes back.
      r = { ok: false, error: { kind: 'Timeout', what: 'the store went away' } };
    } finally {
      if (read) this.env.readsInFlight.set(store, (this.env.readsInFlight.get(store) ?? 1) - 1);
    }
    // A store that crashed while serving never answers (its process is gone).
    if (this.env.isCrashed(store) || this.lost()) {
      await this.env.sched.sleep(Math.max(0, timeoutMs - (this.env.sched.now() - sentAt)));
      return { ok: false, error: { kind: 'Timeout', what: 'the answer was lost' } };
    }
    await this.env.sched.sleep(this.delayMs());
    return r;
  }

  /**
   * A service for any store id: whether the store runs is only learnt by calling it (a dead one
   * times out). Typed over the whole `StoreRequest` union with an `unknown` answer and cast to
   * `handle`'s generic signature once: a generic `<Q extends StoreRequest>` body relating
   * `ResponseOf<Q['type']>` to the store's answer makes tsc expand the request union against the
   * response map, which fails with TS2590 ("union type too complex") as request types grow.
   */
  store(storeId: number): KvService {
    const handle: UntypedHandle = (q, o) => this.call(storeId, timeoutOf(q), waitsForReadIndex(q), (s) => (s.handle as unknown as UntypedHandle)(q, o));
    return { storeId, handle: handle as unknown as KvService['handle'] };
  }
}

/** `StoreService.handle` without its generic: any request, any answer. */
type UntypedHandle = (q: StoreRequest, o?: HandleOptions) => Promise<Result<unknown>>;

/** The request's own timeout, if it carries one. */
function timeoutOf(q: StoreRequest): number | undefined {
  return (q as { timeoutMs?: number }).timeoutMs;
}

/** Reads that wait for a ReadIndex (the nemesis aims some crashes at them). */
function waitsForReadIndex(q: StoreRequest): boolean {
  return (q.type === 'get' || q.type === 'scan') && q.consistency !== 'stale';
}
