/**
 * The PD handlers: each PD request runs on this store's PD replica (`rpc/pd-server.ts` says
 * which run where and how routing reads are answered); PD commands are stamped with the
 * caller's clock when it gives one, else the store's. A `pdPutStore` that PD refuses for
 * another store key than the recorded one is counted (`refused.storeKeyMismatch`).
 */
import type { PdRequest } from '../rpc/pd-codec.ts';
import { dispatchPd } from '../rpc/pd-server.ts';
import type { ResponseOf } from '../request-types.ts';
import type { Handler } from './handler.ts';
import { requestOptions } from './handler.ts';

/** The handler of every PD request type. */
function pdHandler<K extends PdRequest['type']>(): Handler<K> {
  return async (env, q, o) => {
    const answer = await dispatchPd(env.pd, q, (t) => requestOptions(t, o), o.now ?? env.ctx.now);
    // A store's key is never replaced: an attempt is someone posing as that store (or a store
    // whose engine lost its key), counted where it was asked.
    if (answer.type === 'pdApply' && answer.result.ok && answer.result.value.kind === 'refused' && answer.result.value.error.kind === 'StoreKeyMismatch') env.ctx.countRefused('storeKeyMismatch');
    return answer.result as ResponseOf<K>;
  };
}

export const handlePdStoreHeartbeat = pdHandler<'pdStoreHeartbeat'>();
export const handlePdRegionHeartbeat = pdHandler<'pdRegionHeartbeat'>();
export const handlePdAllocId = pdHandler<'pdAllocId'>();
export const handlePdPutStore = pdHandler<'pdPutStore'>();
export const handlePdGetRegion = pdHandler<'pdGetRegion'>();
export const handlePdGetRegionById = pdHandler<'pdGetRegionById'>();
export const handlePdGetStore = pdHandler<'pdGetStore'>();
export const handlePdGetTimestamps = pdHandler<'pdGetTimestamps'>();
export const handlePdGetGcSafePoint = pdHandler<'pdGetGcSafePoint'>();
export const handlePdGetScheduleConfig = pdHandler<'pdGetScheduleConfig'>();
export const handlePdRegisterGcService = pdHandler<'pdRegisterGcService'>();
