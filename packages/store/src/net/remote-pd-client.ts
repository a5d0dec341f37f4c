/**
 * `RemotePdClient`: a store's `PdClient` when PD's leader may live in another process. Every
 * call goes through a `PdCaller` (leader guess, hints, every reachable store, backoff within
 * a budget). The store it serves is attached after it opens (`attachLocal`), so that this
 * store's own PD replica is asked directly.
 */
import type { GcRegisterResult, PdApplyResult, RegionHeartbeat, StoreMeta, StoreStats } from '@peerkv/pd';
import type { Result } from '../peer.ts';
import type { PdClient, RegionHeartbeatResponse } from '../pd-client.ts';
import type { PdRouteAnswer } from '../rpc/pd-codec.ts';
import type { RequestOptions } from '../request-options.ts';
import type { RequestOf, ResponseOf } from '../request-types.ts';
import { PdCaller, type LocalPdServer, type PdCallerOptions, type PdRequester } from './pd-caller.ts';

/** Settings: those of `PdCaller` except `local` (see `attachLocal`). */
export type RemotePdClientOptions = Omit<PdCallerOptions, 'local'>;

/** A `PdClient` over store RPC. */
export class RemotePdClient implements PdClient {
  readonly caller: PdCaller;
  private local: LocalPdServer | undefined;

  constructor(requester: PdRequester, o: RemotePdClientOptions) {
    this.caller = new PdCaller(requester, { ...o, local: () => this.local });
  }

  /** Serves calls from `store`'s own PD replica when it can (pass the store once open). */
  attachLocal(store: LocalPdServer | undefined): void {
    this.local = store;
  }

  storeHeartbeat(stats: StoreStats, o?: RequestOptions): Promise<Result<PdApplyResult>> {
    return this.caller.call({ type: 'pdStoreHeartbeat', stats }, 'pdApply', o);
  }

  regionHeartbeat(hb: RegionHeartbeat, o?: RequestOptions): Promise<Result<RegionHeartbeatResponse>> {
    return this.caller.call({ type: 'pdRegionHeartbeat', heartbeat: hb }, 'pdStep', o);
  }

  allocId(o?: RequestOptions): Promise<Result<number>> {
    return this.caller.call({ type: 'pdAllocId' }, 'pdId', o);
  }

  putStore(storeId: number, address: string, labels: Record<string, string>, o?: RequestOptions, publicKey?: Uint8Array): Promise<Result<PdApplyResult>> {
    return this.caller.call({ type: 'pdPutStore', storeId, address, labels, ...(publicKey ? { publicKey } : {}) }, 'pdApply', o);
  }

  /** `count` consecutive TSO timestamps (the first is returned). */
  getTimestamps(count: number, o?: RequestOptions): Promise<Result<{ first: bigint; count: number }>> {
    return this.caller.call({ type: 'pdGetTimestamps', count }, 'pdTimestamps', o);
  }

  /** PD's GC safe point, from some store's PD replica (may lag the leader's, never lead it). */
  getGcSafePoint(o?: RequestOptions): Promise<Result<bigint>> {
    return this.caller.call({ type: 'pdGetGcSafePoint' }, 'pdGcSafePoint', o);
  }

  /** Registers a GC service with the PD leader's keeper (`pdRegisterGcService`, request 19). */
  registerGcService(serviceId: string, minStartTs: bigint, ttlMs: number, o?: RequestOptions): Promise<Result<GcRegisterResult>> {
    return this.caller.call({ type: 'pdRegisterGcService', serviceId, minStartTs, ttlMs }, 'pdGcRegister', o);
  }

  /** A deadlock detector request, to the store whose PD replica leads (the detector's host). */
  async detectDeadlock(q: RequestOf<'txnDetectDeadlock'>, o?: RequestOptions): Promise<ResponseOf<'txnDetectDeadlock'>> {
    const r = await this.caller.call(q, 'txn', o);
    if (!r.ok) return r;
    // A unit answer's value carries nothing: only whether it is a deadlock.
    return { ok: true, value: r.value.ok ? { ok: true, value: undefined } : r.value };
  }

  /** The data region containing `key` and its leader, from some store's PD replica. */
  getRegion(key: Uint8Array, o?: RequestOptions): Promise<Result<PdRouteAnswer | undefined>> {
    return this.caller.call({ type: 'pdGetRegion', key }, 'pdRoute', o);
  }

  /** A data region by id, from some store's PD replica. */
  getRegionById(regionId: number, o?: RequestOptions): Promise<Result<PdRouteAnswer | undefined>> {
    return this.caller.call({ type: 'pdGetRegionById', regionId }, 'pdRoute', o);
  }

  /** A store's metadata, from some store's PD replica. */
  getStore(storeId: number, o?: RequestOptions): Promise<Result<StoreMeta | undefined>> {
    return this.caller.call({ type: 'pdGetStore', storeId }, 'pdStore', o);
  }
}
