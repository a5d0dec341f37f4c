/**
 * `RemoteKvService`: a `KvService` (plus the store's admin calls) for a store in another
 * tab, worker or device, reached through any request/response transport (`Transport`,
 * `LocalRpc`). `handle` encodes the request with its type's codec and decodes the answer the
 * same way (`STORE_REQUEST_CODECS`). Every failure below the region layer becomes a region
 * error the client already retries: a transport failure or a store that cannot run the
 * request is `Timeout` (the client tries another replica), a remote that is over its request
 * limit is `ServerIsBusy`.
 *
 * With `operatorKey`, admin requests (`REQUEST_CLASSES`: split, membership and leader changes,
 * drains) go signed in an operator envelope (`signOperatorRequest`); a store serves them from
 * no one else.
 *
 * How long an attempt waits comes from the store's measured response times
 * (`attempt-timeout.ts`): a point request a leader serves in one round (its request table
 * entry's `attempt`: `rtoBounded`) waits
 * the RTO derived from them (the store is told the same timeout), and the transport adds the
 * measured answer time as slack, not a fixed second. A leader change that the process's own
 * store learns (`onLeaderNews`) ends the attempts still waiting on another store for that
 * region's leader with `MaybeCommitted` naming the new leader: a killed leader never answers,
 * and the client follows the hint at once rather than waiting out the attempt.
 */
import type { RegionError } from '@peerkv/pd';
import {
  REQUEST_CLASSES,
  RpcError,
  STORE_REQUEST_CODECS,
  StoreApi,
  StoreRpcDecodeError,
  decodeStoreResponse,
  encodeStoreRequest,
  leaderServes,
  rtoBounded,
  signOperatorRequest,
  type HandleOptions,
  type RequestCodec,
  type RequestOptions,
  type Result,
  type ResponseOf,
  type StoreRequest,
  type StoreResponse,
  type StoreStatus,
} from '@peerkv/store';
import type { Peer } from '@peerkv/pd';
import type { KvService } from '../services.ts';
import { AttemptTimeout } from './attempt-timeout.ts';

/** One attempt waiting on the store for its region's leader. */
interface Waiting {
  abort: AbortController;
  /** Set when a leader on another store was reported: the attempt ends with this hint. */
  movedTo?: Peer;
}

/** Anything that can send a request to a store and await its answer (`Transport`, a `LocalRpc` endpoint). */
export interface RpcRequester {
  request(targetStoreId: number, payload: Uint8Array, o?: { timeoutMs?: number; signal?: AbortSignal }): Promise<Uint8Array>;
}

/** Settings, with units. */
export interface RemoteKvServiceOptions {
  /** Store-side timeout when a call names none, ms (default 5000). */
  requestTimeoutMs?: number;
  /**
   * Extra time the transport waits beyond the store-side timeout, ms, so that the store's own
   * `Timeout` answer arrives before the transport gives up. Default: derived from the store's
   * measured answer times (`AttemptTimeout.slackMs`).
   */
  transportSlackMs?: number;
  /** Monotonic clock for response times, ms (default `performance.now`). */
  now?: () => number;
  /** Backoff suggested when the remote is over its request limit, ms (default 50). */
  busyBackoffMs?: number;
  /**
   * The cluster's operator key (`deriveOperatorKey`), or how to get it when the first admin
   * request is signed (a passphrase's derivation is slow: a client that never administers
   * never pays it). Admin requests are signed with it; without it a store refuses them (`Forbidden`).
   */
  operatorKey?: CryptoKey | (() => Promise<CryptoKey>);
}

/** A store reached by requests. */
export class RemoteKvService extends StoreApi implements KvService {
  private readonly requestTimeoutMs: number;
  private readonly transportSlackMs: number | undefined;
  private readonly busyBackoffMs: number;
  private readonly now: () => number;
  /** This store's response times and attempt timeouts. */
  readonly timing = new AttemptTimeout();
  /** Attempts waiting on this store for a region's leader, by region id. */
  private readonly waiting = new Map<number, Set<Waiting>>();
  private readonly operatorKey: CryptoKey | (() => Promise<CryptoKey>) | undefined;

  constructor(
    readonly storeId: number,
    private readonly requester: RpcRequester,
    o: RemoteKvServiceOptions = {},
  ) {
    super();
    this.requestTimeoutMs = o.requestTimeoutMs ?? 5000;
    this.transportSlackMs = o.transportSlackMs;
    this.now = o.now ?? (() => performance.now());
    this.busyBackoffMs = o.busyBackoffMs ?? 50;
    this.operatorKey = o.operatorKey;
  }

  /**
   * Sends `request` (a timed one with the default store-side timeout when it names none) and
   * answers with its type's answer; any failure short of a well-formed answer of that type is
   * a region error. Never rejects for a failure of the link or the remote.
   */
  override async handle<Q extends StoreRequest>(request: Q, o: HandleOptions = {}): Promise<ResponseOf<Q['type']>> {
    const codec = STORE_REQUEST_CODECS[request.type] as RequestCodec<StoreRequest['type']>;
    const callerTimeoutMs = 'timeoutMs' in request && request.timeoutMs !== undefined ? request.timeoutMs : this.requestTimeoutMs;
    const bounded = rtoBounded(request);
    const storeTimeoutMs = bounded ? this.timing.attemptMs(callerTimeoutMs) : callerTimeoutMs;
    // Untimed requests keep the field only as this call's deadline; the codec does not send it.
    const q = codec.timed ? { ...request, timeoutMs: storeTimeoutMs } : request;
    const regionId = leaderServes(q) && 'regionId' in q ? q.regionId : undefined;
    const wait = regionId !== undefined ? this.startWaiting(regionId, o.signal) : undefined;
    const sentAt = this.now();
    let bytes: Uint8Array;
    try {
      let payload = encodeStoreRequest(q);
      if (this.operatorKey && REQUEST_CLASSES[q.type] === 'admin') {
        const key = typeof this.operatorKey === 'function' ? await this.operatorKey() : this.operatorKey;
        payload = await signOperatorRequest(key, this.storeId, payload);
      }
      const slackMs = this.transportSlackMs ?? this.timing.slackMs();
      bytes = await this.requester.request(this.storeId, payload, { timeoutMs: storeTimeoutMs + slackMs, signal: wait?.abort.signal ?? o.signal });
    } catch (e) {
      if (wait?.movedTo) return { ok: false, error: { kind: 'MaybeCommitted', regionId: regionId!, leaderHint: wait.movedTo } } as ResponseOf<Q['type']>;
      if (e instanceof RpcError) {
        if (bounded && e.kind === 'Timeout') this.timing.unanswered();
        return { ok: false, error: this.transportError(e) } as ResponseOf<Q['type']>;
      }
      throw e;
    } finally {
      if (wait) this.stopWaiting(regionId!, wait);
    }
    const answer = this.decode<Q>(q, codec, bytes);
    if (bounded) {
      // A store's own Timeout (its round did not finish in time) counts as unanswered.
      if (!answer.ok && (answer.error as RegionError).kind === 'Timeout') this.timing.unanswered();
      else this.timing.answered(this.now() - sentAt);
    }
    return answer;
  }

  /**
   * A leader change for `news.regionId` as the process's own store learned it: every attempt
   * waiting here for that region's leader ends (`MaybeCommitted` with the new leader as hint)
   * unless the new leader is on this store.
   */
  onLeaderNews(news: { regionId: number; leader: Peer }): void {
    if (news.leader.storeId === this.storeId) return;
    const set = this.waiting.get(news.regionId);
    if (!set) return;
    for (const w of set) {
      w.movedTo = news.leader;
      w.abort.abort();
    }
  }

  private startWaiting(regionId: number, callerSignal: AbortSignal | undefined): Waiting {
    const w: Waiting = { abort: new AbortController() };
    if (callerSignal?.aborted) w.abort.abort();
    else callerSignal?.addEventListener('abort', () => w.abort.abort(), { once: true });
    let set = this.waiting.get(regionId);
    if (!set) this.waiting.set(regionId, (set = new Set()));
    set.add(w);
    return w;
  }

  private stopWaiting(regionId: number, w: Waiting): void {
    const set = this.waiting.get(regionId);
    set?.delete(w);
    if (set?.size === 0) this.waiting.delete(regionId);
  }

  /** The answer in `bytes` to `q`; anything short of a well-formed answer of its type is a `Timeout`. */
  private decode<Q extends StoreRequest>(q: StoreRequest, codec: RequestCodec<StoreRequest['type']>, bytes: Uint8Array): ResponseOf<Q['type']> {
    let response: StoreResponse;
    try {
      response = decodeStoreResponse(bytes);
    } catch (e) {
      if (e instanceof StoreRpcDecodeError) return this.timeout(`store ${this.storeId} sent an undecodable response: ${e.message}`);
      throw e;
    }
    if (response.type === 'failure') return this.timeout(`store ${this.storeId} could not run ${q.type}: ${response.failure.kind}: ${response.failure.message}`);
    if (response.type !== codec.answer.type) return this.timeout(`store ${this.storeId} answered ${q.type} with ${response.type}`);
    return codec.answer.fromWire(response) as ResponseOf<Q['type']>;
  }

  /** `Store.transferLeader` on the remote store; ok once the store has it (not once leadership moved). */
  transferLeader(regionId: number, peerId: number, o: RequestOptions = {}): Promise<Result<void>> {
    return this.handle({ type: 'transferLeader', regionId, peerId, timeoutMs: o.timeoutMs }, o);
  }

  /** `Store.campaign` on the remote store; ok once the store has it. */
  campaign(regionId: number, o: RequestOptions = {}): Promise<Result<void>> {
    return this.handle({ type: 'campaign', regionId, timeoutMs: o.timeoutMs }, o);
  }

  /** Marks the remote store draining (its leaderships handed away, PD keeps leaders off it) or serving again; ok once marked. */
  setDraining(draining: boolean, o: RequestOptions = {}): Promise<Result<void>> {
    return this.handle({ type: 'setDraining', draining }, o);
  }

  /** `Store.status` of the remote store. */
  status(o: RequestOptions = {}): Promise<Result<StoreStatus>> {
    return this.handle({ type: 'status', timeoutMs: o.timeoutMs }, o);
  }

  private transportError(e: RpcError): RegionError {
    if (e.kind === 'TooManyPending') return { kind: 'ServerIsBusy', reason: e.message, backoffMs: this.busyBackoffMs };
    if (e.kind === 'Aborted') return { kind: 'Timeout', what: 'aborted by the caller' };
    return { kind: 'Timeout', what: `store ${this.storeId}: ${e.message}` };
  }

  private timeout<R>(what: string): R {
    return { ok: false, error: { kind: 'Timeout', what } } as R;
  }
}
