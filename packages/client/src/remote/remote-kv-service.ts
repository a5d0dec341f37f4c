/**
 * `RemoteKvService`: a `KvService` (plus the store's admin calls) for a store in another
 * tab, worker or device, reached through any request/response transport (`Transport`,
 * `LocalRpc`). It encodes each call with the store RPC codec and decodes the answer. Every
 * failure below the region layer becomes a region error the client already retries:
 * a transport failure or a store that cannot run the request is `Timeout` (the client tries
 * another replica), a remote that is over its request limit is `ServerIsBusy`.
 */
import type { RegionEpoch, RegionError } from '@peerkv/pd';
import {
  RpcError,
  StoreRpcDecodeError,
  decodeStoreResponse,
  encodeStoreRequest,
  type KvOp,
  type PeerChange,
  type ReadConsistency,
  type RequestOptions,
  type WriteRequestOptions,
  type Result,
  type StoreRequest,
  type StoreResponse,
  type StoreStatus,
} from '@peerkv/store';
import type { KvPair, KvService } from '../services.ts';

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
}

type Expected<T extends StoreResponse['type']> = Extract<StoreResponse, { type: T }>;

/** A store reached by requests. */
export class RemoteKvService implements KvService {
  private readonly requestTimeoutMs: number;
  private readonly transportSlackMs: number;
  private readonly busyBackoffMs: number;

  constructor(
    readonly storeId: number,
    private readonly requester: RpcRequester,
    o: RemoteKvServiceOptions = {},
  ) {
    this.requestTimeoutMs = o.requestTimeoutMs ?? 5000;
    this.transportSlackMs = o.transportSlackMs ?? 1000;
    this.busyBackoffMs = o.busyBackoffMs ?? 50;
  }

  write(regionId: number, epoch: RegionEpoch, clientId: string, seq: number, ops: KvOp[], o: WriteRequestOptions = {}): Promise<Result<void>> {
    return this.result<void>({ type: 'write', regionId, epoch, clientId, seq, ackFloor: o.ackFloor ?? 0, ops, ...this.timed(o) }, 'unit', o);
  }

  get(regionId: number, epoch: RegionEpoch, key: Uint8Array, consistency: ReadConsistency = 'linearizable', o: RequestOptions = {}): Promise<Result<Uint8Array | undefined>> {
    return this.result<Uint8Array | undefined>({ type: 'get', regionId, epoch, key, consistency, ...this.timed(o) }, 'value', o);
  }

  scan(
    regionId: number,
    epoch: RegionEpoch,
    range: { start: Uint8Array; end?: Uint8Array; limit: number; reverse?: boolean },
    consistency: ReadConsistency = 'linearizable',
    o: RequestOptions = {},
  ): Promise<Result<KvPair[]>> {
    return this.result<KvPair[]>({ type: 'scan', regionId, epoch, range, consistency, ...this.timed(o) }, 'pairs', o);
  }

  /** `Store.changePeers` on the remote store. */
  changePeers(regionId: number, changes: PeerChange[], o: RequestOptions = {}): Promise<Result<void>> {
    return this.result<void>({ type: 'changePeers', regionId, changes, ...this.timed(o) }, 'unit', o);
  }

  /** `Store.split` on the remote store. */
  split(regionId: number, epoch: RegionEpoch, splitKey: Uint8Array, newRegionId: number, newPeerIds: number[], o: RequestOptions = {}): Promise<Result<void>> {
    return this.result<void>({ type: 'split', regionId, epoch, splitKey, newRegionId, newPeerIds, ...this.timed(o) }, 'unit', o);
  }

  /** `Store.transferLeader` on the remote store; ok once the store has it (not once leadership moved). */
  async transferLeader(regionId: number, peerId: number, o: RequestOptions = {}): Promise<Result<void>> {
    const r = await this.call({ type: 'transferLeader', regionId, peerId }, 'ack', o);
    return r.ok ? { ok: true, value: undefined } : r;
  }

  /** `Store.campaign` on the remote store; ok once the store has it. */
  async campaign(regionId: number, o: RequestOptions = {}): Promise<Result<void>> {
    const r = await this.call({ type: 'campaign', regionId }, 'ack', o);
    return r.ok ? { ok: true, value: undefined } : r;
  }

  /** `Store.status` of the remote store. */
  async status(o: RequestOptions = {}): Promise<Result<StoreStatus>> {
    const r = await this.call({ type: 'status' }, 'status', o);
    return r.ok ? { ok: true, value: r.value.status } : r;
  }

  // ---- Internals -------------------------------------------------------------------------

  private timed(o: RequestOptions): { timeoutMs: number } {
    return { timeoutMs: o.timeoutMs ?? this.requestTimeoutMs };
  }

  /** Sends a request expecting a response carrying a region `Result`, and unwraps it. */
  private async result<R>(q: StoreRequest, expected: 'unit' | 'value' | 'pairs', o: RequestOptions): Promise<Result<R>> {
    const r = await this.call(q, expected, o);
    // `call` checked the type: unit, value and pairs responses all carry a `result`.
    return r.ok ? (r.value as { result: Result<R> }).result : r;
  }

  /** Sends a request; any failure short of a well-formed answer of the expected type is a region error. */
  private async call<T extends StoreResponse['type']>(q: StoreRequest, expected: T, o: RequestOptions): Promise<Result<Expected<T>>> {
    const timeoutMs = (o.timeoutMs ?? this.requestTimeoutMs) + this.transportSlackMs;
    let bytes: Uint8Array;
    try {
      bytes = await this.requester.request(this.storeId, encodeStoreRequest(q), { timeoutMs, signal: o.signal });
    } catch (e) {
      if (e instanceof RpcError) return { ok: false, error: this.transportError(e) };
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
    if (response.type !== expected) return this.timeout(`store ${this.storeId} answered ${q.type} with ${response.type}`);
    return { ok: true, value: response as Expected<T> };
  }

  private transportError(e: RpcError): RegionError {
    if (e.kind === 'TooManyPending') return { kind: 'ServerIsBusy', reason: e.message, backoffMs: this.busyBackoffMs };
    if (e.kind === 'Aborted') return { kind: 'Timeout', what: 'aborted by the caller' };
    return { kind: 'Timeout', what: `store ${this.storeId}: ${e.message}` };
  }

  private timeout(what: string): { ok: false; error: RegionError } {
    return { ok: false, error: { kind: 'Timeout', what } };
  }
}
