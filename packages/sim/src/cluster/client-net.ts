/**
 * The network between clients and stores in cluster mode: every request and every answer
 * takes a seeded virtual delay and may be lost (the client then sees its per-attempt
 * timeout, as over a real link). A request reaching a store that is not running also times
 * out. Lost answers to writes are what make the client retry a write that was applied, so
 * the stores' (clientId, seq) deduplication is exercised.
 *
 * When the stores serve user data to provers only (`ClusterEnv.dataProofMac`), a request goes
 * as a deployed client's does: encoded, over the cluster's `LocalRpc` under the client's
 * temporary id, to the store's `serveStore` and its data-key gate, and the client proves the
 * data key when a store answers `DataKeyUnproven` (`withDataKeyProof`: a store that restarted,
 * a new store) and sends the request once more. An answer still `DataKeyUnproven` after that
 * is counted (`DataKeyProofStats.unprovenAfterProof`, a violation): a member is never refused.
 */
import {
  RpcError,
  STORE_REQUEST_CODECS,
  StoreRpcDecodeError,
  decodeStoreResponse,
  encodeStoreRequest,
  isDataKeyProofMessage,
  isDataKeyProofStep,
  isDataKeyUnproven,
  withDataKeyProof,
  type HandleOptions,
  type ProvingRequester,
  type RequestCodec,
  type Result,
  type StoreRequest,
} from '@peerkv/store';
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

  /** The client's link to the stores when they gate user data (see the module header). */
  private readonly requester: ProvingRequester | undefined;
  /** Each store's last proof by this client: whether it succeeded, and the env's `linkEpoch` when it did. */
  private readonly lastProofs = new Map<number, { ok: boolean; linkEpoch: number }>();

  constructor(
    private readonly env: ClusterEnv,
    private readonly rng: SeededRng,
  ) {
    if (env.dataProofMac) this.requester = withDataKeyProof(countProofs(env.pd.rpc.endpoint(env.nextClientId()), env, this.lastProofs), env.dataProofMac);
  }

  /** `q` sent to store `storeId` over the client's link (see the module header); any failure short of an answer is a `Timeout`. */
  private async viaLink(requester: ProvingRequester, storeId: number, q: StoreRequest, timeoutMs: number): Promise<Result<unknown>> {
    const codec = STORE_REQUEST_CODECS[q.type] as RequestCodec<StoreRequest['type']>;
    let bytes: Uint8Array;
    try {
      bytes = await requester.request(storeId, encodeStoreRequest(q), { timeoutMs: timeoutMs + LINK_SLACK_MS });
    } catch (e) {
      if (e instanceof RpcError) return { ok: false, error: { kind: 'Timeout', what: `store ${storeId}: ${e.message}` } };
      throw e;
    }
    if (isDataKeyUnproven(bytes)) {
      // The resend after a good proof was refused, though no link changed meanwhile: a member refused.
      const last = this.lastProofs.get(storeId);
      if (last?.ok && last.linkEpoch === this.env.linkEpoch) this.env.proofStats.refusedAfterProof++;
      else this.env.proofStats.refusedAfterFailedProof++;
    }
    try {
      const response = decodeStoreResponse(bytes);
      if (response.type === codec.answer.type) return codec.answer.fromWire(response) as Result<unknown>;
      const what = response.type === 'failure' ? `${response.failure.kind}: ${response.failure.message}` : `answered ${response.type}`;
      return { ok: false, error: { kind: 'Timeout', what: `store ${storeId} could not run ${q.type}: ${what}` } };
    } catch (e) {
      if (e instanceof StoreRpcDecodeError) return { ok: false, error: { kind: 'Timeout', what: `store ${storeId}: ${e.message}` } };
      throw e;
    }
  }

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
    const requester = this.requester;
    const handle: UntypedHandle = (q, o) =>
      this.call(storeId, timeoutOf(q), waitsForReadIndex(q), (s) => (requester ? this.viaLink(requester, storeId, q, timeoutOf(q) ?? this.env.o.requestTimeoutMs) : (s.handle as unknown as UntypedHandle)(q, o)));
    return { storeId, handle: handle as unknown as KvService['handle'] };
  }
}

/** Time a link request waits beyond the request's own timeout, ms (the store's `Timeout` answer arrives first). */
const LINK_SLACK_MS = 1_000;

/**
 * `requester` counting the data-key proofs made through it (the step that carries the MAC; a
 * lost challenge fails the proof before it) and recording each store's last outcome in `last`.
 */
function countProofs(requester: ProvingRequester, env: ClusterEnv, last: Map<number, { ok: boolean; linkEpoch: number }>): ProvingRequester {
  const failed = (target: number): void => {
    env.proofStats.clientProofsFailed++;
    last.set(target, { ok: false, linkEpoch: env.linkEpoch });
  };
  return {
    localStoreId: requester.localStoreId,
    request: async (target, payload, o) => {
      const proof = isDataKeyProofStep(payload);
      const linkEpoch = env.linkEpoch;
      if (proof) env.proofStats.clientProofs++;
      let answer: Uint8Array;
      try {
        answer = await requester.request(target, payload, o);
      } catch (e) {
        if (isDataKeyProofMessage(payload)) failed(target);
        throw e;
      }
      if (proof && !isDataKeyProofMessage(answer)) failed(target);
      else if (proof) last.set(target, { ok: true, linkEpoch });
      return answer;
    },
  };
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
