/**
 * `PdCaller`: sends PD requests (`pd-codec.ts`) to whichever store can answer them. It asks
 * the store it believes hosts the PD leader first, then every reachable store in turn,
 * follows `NotLeader` hints, and backs off (capped exponential) between full rounds, all
 * within a per-call budget. The caller's own store, if any, is asked directly (a transport
 * cannot request itself). Shared by a store's `RemotePdClient` and a client's
 * `RemotePdService`.
 *
 * News of PD's new leader (`onLeaderNews`, from the caller's own store's PD replica) ends the
 * attempts still waiting on another store, which a killed PD leader never answers, and the
 * call asks the new leader at once (issue 16: a TSO request no longer waits out its attempt
 * timeout on the dead leader).
 */
import type { RegionError } from '@peerkv/pd';
import { RpcError } from '@peerkv/transport';
import type { Result } from '../peer.ts';
import type { LeaderNews } from '../leader-news.ts';
import { PD_REGION_ID } from '../pd-host.ts';
import { REAL_TIMERS, type Timers } from '../options.ts';
import { StoreRpcDecodeError } from '../rpc/errors.ts';
import type { PdRequest } from '../rpc/pd-codec.ts';
import { encodeStoreRequest } from '../rpc/request-codec.ts';
import { decodeStoreResponse, type StoreResponse } from '../rpc/response-codec.ts';
import type { RequestOf } from '../request-types.ts';
import { handleStoreRequest, type ServedStore } from '../rpc/server.ts';

/** Anything that sends a request to a store and awaits its answer (`Transport`, a `LocalRpc` endpoint). */
export interface PdRequester {
  request(targetStoreId: number, payload: Uint8Array, o?: { timeoutMs?: number; signal?: AbortSignal }): Promise<Uint8Array>;
}

/** A store in this process that can answer PD requests itself. */
export type LocalPdServer = ServedStore & { readonly storeId: number };

/** Settings, with units. */
export interface PdCallerOptions {
  /** Stores that may be asked (e.g. `() => transport.peers()`). */
  candidates: () => readonly number[];
  /** This process's own store, asked directly (it is not among the transport's peers). */
  local?: () => LocalPdServer | undefined;
  /** Total time one call may take across attempts, ms (default 10 s). */
  budgetMs?: number;
  /** Timeout of one attempt (store-side; the transport waits `transportSlackMs` more), ms (default 2 s). */
  attemptTimeoutMs?: number;
  /** Extra transport wait beyond the store-side timeout, ms (default 500). */
  transportSlackMs?: number;
  /** First wait after a round where no store answered, ms (default 20), doubling. */
  backoffMsMin?: number;
  /** Cap of that wait, ms (default 500). */
  backoffMsMax?: number;
  /** How long a store that did not answer is asked last, ms (default 5 s). */
  suspectMs?: number;
  /**
   * Full rounds over the stores one call makes before it gives up, even with budget left
   * (default unbounded: the budget alone ends it). A caller with a fallback (a key lookup
   * admits provisionally) gives up after a round where no store could answer.
   */
  roundsMax?: number;
  /** Wall clock for the budget, ms (default `Date.now`). */
  now?: () => number;
  timers?: Timers;
}

/**
 * What the caller sends: a PD request, or a deadlock detector request (the detector runs with
 * PD's leader, `handlers/txn-deadlock.ts`, so it is found the same way).
 */
export type PdCall = PdRequest | RequestOf<'txnDetectDeadlock'>;

/** What a call expects back: the response type of each request type. */
type WithResult = Extract<StoreResponse, { result: unknown }>;
type ResultType = WithResult['type'];
type Answer<T extends ResultType> = Extract<WithResult, { type: T }>;
type Value<T extends ResultType> = Answer<T>['result'] extends Result<infer V> ? V : never;

/** A PD request sender with leader tracking. */
export class PdCaller {
  /** The store believed to host the PD leader (learned from answers and hints). */
  leaderGuess: number | undefined;
  /** The store that last answered a routing read. */
  private readGuess: number | undefined;
  /** Stores that did not answer (transport failure), until when they are asked last (ms). */
  private readonly suspects = new Map<number, number>();
  /** Attempts in flight: the store asked, and how to end the attempt when PD's leader is elsewhere. */
  private readonly inflight = new Set<{ storeId: number; abort: AbortController; movedTo?: LeaderNews['leader'] }>();
  private readonly o: Required<Omit<PdCallerOptions, 'local'>> & Pick<PdCallerOptions, 'local'>;

  constructor(
    private readonly requester: PdRequester,
    o: PdCallerOptions,
  ) {
    this.o = {
      budgetMs: 10_000,
      attemptTimeoutMs: 2000,
      transportSlackMs: 500,
      backoffMsMin: 20,
      backoffMsMax: 500,
      suspectMs: 5000,
      roundsMax: Number.POSITIVE_INFINITY,
      now: () => Date.now(),
      timers: REAL_TIMERS,
      ...o,
    };
  }

  /**
   * Sends `q` until a store answers it with a result, or the budget (or `o.timeoutMs`, if
   * shorter) runs out, or after `roundsMax` full rounds (the call's or the caller's, the fewer);
   * the last region error then, or `Timeout`. A caller with a retry loop of its own (the
   * client's TSO batcher) asks for one round, so the two loops' budgets do not stack.
   */
  async call<T extends ResultType>(q: PdCall, expected: T, o: { timeoutMs?: number; signal?: AbortSignal; roundsMax?: number } = {}): Promise<Result<Value<T>>> {
    const deadline = this.o.now() + Math.min(this.o.budgetMs, o.timeoutMs ?? Infinity);
    const roundsMax = Math.min(this.o.roundsMax, o.roundsMax ?? Infinity);
    const write = isWrite(q);
    let last: RegionError = { kind: 'Timeout', what: `PD ${q.type}: no store answered` };
    let backoff = this.o.backoffMsMin;
    for (let round = 0; round < roundsMax && this.o.now() < deadline && !o.signal?.aborted; round++) {
      const tried = new Set<number>();
      let next = this.firstTarget(write);
      while (next !== undefined && !tried.has(next) && this.o.now() < deadline) {
        tried.add(next);
        const r = await this.attempt(next, q, expected, deadline, o.signal);
        if (r.ok) {
          if (write) this.leaderGuess = next;
          else this.readGuess = next;
          return r.value.result as Result<Value<T>>;
        }
        last = r.error;
        next = this.nextTarget(r.error, tried);
      }
      if (round + 1 >= roundsMax) break;
      await this.sleep(Math.min(backoff, Math.max(0, deadline - this.o.now())));
      backoff = Math.min(backoff * 2, this.o.backoffMsMax);
    }
    return { ok: false, error: last };
  }

  /**
   * A leader change a replica on the caller's own store learned: for PD's region, the new
   * leader's store is the one to ask, and attempts waiting on any other end now with
   * `MaybeCommitted` naming it (the call then follows it; a PD write it ended may still apply).
   */
  onLeaderNews(news: Pick<LeaderNews, 'regionId' | 'leader'>): void {
    if (news.regionId !== PD_REGION_ID) return;
    this.leaderGuess = news.leader.storeId;
    this.suspects.delete(news.leader.storeId);
    for (const a of this.inflight) {
      if (a.storeId === news.leader.storeId) continue;
      a.movedTo = news.leader;
      a.abort.abort();
    }
  }

  /** Every store that may be asked: the local one first, stores that recently did not answer last. */
  private targets(): number[] {
    const local = this.o.local?.();
    const ids = [...this.o.candidates()];
    const all = local ? [local.storeId, ...ids.filter((id) => id !== local.storeId)] : ids;
    const now = this.o.now();
    const suspect = (id: number): boolean => (this.suspects.get(id) ?? 0) > now;
    return [...all.filter((id) => !suspect(id)), ...all.filter(suspect)];
  }

  /**
   * Reads: the caller's own store when it has one (its PD replica answers routing reads without
   * the network; one without a replica redirects at no cost). Otherwise the guessed PD leader
   * (writes) or last reader (reads), unless suspect; else the first target.
   */
  private firstTarget(write: boolean): number | undefined {
    const all = this.targets();
    const local = this.o.local?.();
    if (!write && local) return local.storeId;
    const guesses = write ? [this.leaderGuess, this.readGuess] : [this.readGuess, this.leaderGuess];
    const now = this.o.now();
    const usable = guesses.find((g) => g !== undefined && all.includes(g) && (this.suspects.get(g) ?? 0) <= now);
    return usable ?? all[0];
  }

  /** The hinted PD leader if it is new to this round, else the next untried store. */
  private nextTarget(e: RegionError, tried: Set<number>): number | undefined {
    if ((e.kind === 'NotLeader' || e.kind === 'MaybeCommitted') && e.leaderHint && !tried.has(e.leaderHint.storeId)) {
      this.leaderGuess = e.leaderHint.storeId;
      return e.leaderHint.storeId;
    }
    return this.targets().find((id) => !tried.has(id));
  }

  /** One request to one store: its answer, or why there is none (as a region error). */
  private async attempt<T extends ResultType>(storeId: number, q: PdCall, expected: T, deadline: number, signal?: AbortSignal): Promise<Result<Answer<T>>> {
    const timeoutMs = Math.max(1, Math.min(this.o.attemptTimeoutMs, deadline - this.o.now()));
    const payload = encodeStoreRequest(isWrite(q) ? ({ ...q, timeoutMs } as PdCall) : q);
    let bytes: Uint8Array;
    const inflight = { storeId, abort: new AbortController() } as { storeId: number; abort: AbortController; movedTo?: LeaderNews['leader'] };
    const onAbort = (): void => inflight.abort.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) inflight.abort.abort();
    this.inflight.add(inflight);
    try {
      const local = this.o.local?.();
      bytes =
        local && local.storeId === storeId
          ? await handleStoreRequest(local, payload)
          : await this.requester.request(storeId, payload, { timeoutMs: timeoutMs + this.o.transportSlackMs, signal: inflight.abort.signal });
    } catch (e) {
      if (inflight.movedTo) return { ok: false, error: { kind: 'MaybeCommitted', regionId: PD_REGION_ID, leaderHint: inflight.movedTo } };
      if (e instanceof RpcError) {
        this.suspects.set(storeId, this.o.now() + this.o.suspectMs);
        return timeout(`store ${storeId}: ${e.message}`);
      }
      throw e;
    } finally {
      this.inflight.delete(inflight);
      signal?.removeEventListener('abort', onAbort);
    }
    this.suspects.delete(storeId);
    let response;
    try {
      response = decodeStoreResponse(bytes);
    } catch (e) {
      if (e instanceof StoreRpcDecodeError) return timeout(`store ${storeId} sent an undecodable response: ${e.message}`);
      throw e;
    }
    if (response.type === 'failure') return timeout(`store ${storeId}: ${response.failure.kind}: ${response.failure.message}`);
    if (response.type !== expected) return timeout(`store ${storeId} answered ${q.type} with ${response.type}`);
    const answer = response as Answer<T>;
    // A store that cannot serve PD (no replica, not the leader) is a reason to ask another.
    if (!answer.result.ok && isPdRedirect(answer.result.error)) return { ok: false, error: answer.result.error };
    return { ok: true, value: answer };
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => this.o.timers.setTimeout(() => r(), ms));
  }
}

function timeout(what: string): { ok: false; error: RegionError } {
  return { ok: false, error: { kind: 'Timeout', what } };
}

/** Errors meaning "PD is not served here": ask another store. */
function isPdRedirect(e: RegionError): boolean {
  return (e.kind === 'NotLeader' || e.kind === 'RegionNotFound') && (e.regionId === PD_REGION_ID || e.kind === 'NotLeader');
}

function isWrite(q: PdCall): boolean {
  return q.type !== 'pdGetRegion' && q.type !== 'pdGetRegionById' && q.type !== 'pdGetStore';
}
