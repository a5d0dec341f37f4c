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
import type { KvService } from '../services.ts';

/** Anything that can send a request to a store and await its answer (`Transport`, a `LocalRpc` endpoint). */
export interface RpcRequester {
  request(targetStoreId: number, payload: Uint8Array, o?: { timeoutMs?: number; signal?: AbortSignal }): Promise<Uint8Array>;
}

/** Settings, with units. */
export interface RemoteKvServiceOptions {
  /** Store-side timeout when a call names none, ms (default 5000). */
  requestTimeoutMs?: number;
  /**
   * Extra time the transport waits beyond the store-side timeout, ms (default 1000), so that
   * the store's own `Timeout` answer arrives before the transport gives up.
   */
  transportSlackMs?: number;
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
  private readonly transportSlackMs: number;
  private readonly busyBackoffMs: number;
  private readonly operatorKey: CryptoKey | (() => Promise<CryptoKey>) | undefined;

  constructor(
    readonly storeId: number,
    private readonly requester: RpcRequester,
    o: RemoteKvServiceOptions = {},
  ) {
    super();
    this.requestTimeoutMs = o.requestTimeoutMs ?? 5000;
    this.transportSlackMs = o.transportSlackMs ?? 1000;
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
    const storeTimeoutMs = 'timeoutMs' in request && request.timeoutMs !== undefined ? request.timeoutMs : this.requestTimeoutMs;
    // Untimed requests keep the field only as this call's deadline; the codec does not send it.
    const q = codec.timed ? { ...request, timeoutMs: storeTimeoutMs } : request;
    let bytes: Uint8Array;
    try {
      let payload = encodeStoreRequest(q);
      if (this.operatorKey && REQUEST_CLASSES[q.type] === 'admin') {
        const key = typeof this.operatorKey === 'function' ? await this.operatorKey() : this.operatorKey;
        payload = await signOperatorRequest(key, this.storeId, payload);
      }
      bytes = await this.requester.request(this.storeId, payload, { timeoutMs: storeTimeoutMs + this.transportSlackMs, signal: o.signal });
    } catch (e) {
      if (e instanceof RpcError) return { ok: false, error: this.transportError(e) } as ResponseOf<Q['type']>;
      throw e;
    }
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
