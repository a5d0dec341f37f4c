/**
 * `RemotePdService`: the client's routing (`PdService`) when PD runs in stores elsewhere.
 * Each question goes to a store's PD replica by request (`PdCaller` from `@peerkv/store`:
 * the PD leader's store first, hints followed, every reachable store tried, backoff within
 * a budget). Answers come from that replica's PD state; a route that lags costs the client
 * one `EpochNotMatch` retry. When no store answers within the budget the call throws
 * `PeerKVError('Unavailable')`.
 */
import type { GcRegisterResult, ScheduleConfig, StoreMeta } from '@peerkv/pd';
import { PdCaller, isTempStoreId, type PdCallerOptions, type PdRequester, type Result } from '@peerkv/store';
import { PeerKVError } from '../errors.ts';
import type { PdService, RegionRoute, TsoCallOptions } from '../services.ts';

/** Settings: those of `PdCaller`; `candidates` defaults to none (pass `() => transport.peers()`). */
export type RemotePdServiceOptions = PdCallerOptions;

/** Routing over store RPC. */
export class RemotePdService implements PdService {
  readonly caller: PdCaller;

  constructor(requester: PdRequester, o: RemotePdServiceOptions) {
    // Temporary ids are clients and joining stores: they serve no PD.
    this.caller = new PdCaller(requester, { ...o, candidates: () => o.candidates().filter((id) => !isTempStoreId(id)) });
  }

  async getRegion(key: Uint8Array, o: { signal?: AbortSignal } = {}): Promise<RegionRoute | undefined> {
    return unwrap(await this.caller.call({ type: 'pdGetRegion', key }, 'pdRoute', o), 'getRegion');
  }

  async getRegionById(regionId: number, o: { signal?: AbortSignal } = {}): Promise<RegionRoute | undefined> {
    return unwrap(await this.caller.call({ type: 'pdGetRegionById', regionId }, 'pdRoute', o), 'getRegionById');
  }

  async getStore(storeId: number, o: { signal?: AbortSignal } = {}): Promise<StoreMeta | undefined> {
    return unwrap(await this.caller.call({ type: 'pdGetStore', storeId }, 'pdStore', o), 'getStore');
  }

  /** `count` consecutive TSO timestamps from the PD leader (the first is returned); `once`: one round over the stores. */
  async getTimestamps(count: number, o: TsoCallOptions = {}): Promise<{ first: bigint; count: number }> {
    const call = { ...(o.signal ? { signal: o.signal } : {}), ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}), ...(o.once ? { roundsMax: 1 } : {}) };
    return unwrap(await this.caller.call({ type: 'pdGetTimestamps', count }, 'pdTimestamps', call), 'getTimestamps');
  }

  /** PD's GC safe point, from some store's PD replica (it may lag the leader's, never lead it). */
  async getGcSafePoint(o: { signal?: AbortSignal } = {}): Promise<bigint> {
    return unwrap(await this.caller.call({ type: 'pdGetGcSafePoint' }, 'pdGcSafePoint', o), 'getGcSafePoint');
  }

  /** PD's schedule config (`maxReplicas`, tolerances, ...), as PD's leader has applied it. */
  async getScheduleConfig(o: { signal?: AbortSignal } = {}): Promise<ScheduleConfig> {
    return unwrap(await this.caller.call({ type: 'pdGetScheduleConfig' }, 'pdScheduleConfig', o), 'getScheduleConfig');
  }

  /** Registers or refreshes a GC service on the PD leader (see `PdService.registerGcService`). */
  async registerGcService(serviceId: string, minStartTs: bigint, ttlMs: number, o: { signal?: AbortSignal } = {}): Promise<GcRegisterResult> {
    return unwrap(await this.caller.call({ type: 'pdRegisterGcService', serviceId, minStartTs, ttlMs }, 'pdGcRegister', o), 'registerGcService');
  }

  /** Removes a GC service's registration. */
  async removeGcService(serviceId: string, o: { signal?: AbortSignal } = {}): Promise<void> {
    unwrap(await this.caller.call({ type: 'pdRegisterGcService', serviceId, minStartTs: 0n, ttlMs: 0 }, 'pdGcRegister', o), 'removeGcService');
  }
}

function unwrap<T>(r: Result<T>, what: string): T {
  if (r.ok) return r.value;
  throw new PeerKVError('Unavailable', `PD ${what}: ${r.error.kind}${'what' in r.error ? ` (${r.error.what})` : ''}`, r.error);
}
