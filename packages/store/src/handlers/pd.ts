/**
 * The PD handlers, one per PD request type, each run on this store's PD replica. Writes
 * (heartbeats, ids, joins, timestamps, GC registrations) run only where PD's replica leads;
 * elsewhere the store's own answer is `NotLeader` with the PD leader's peer as hint (or
 * `RegionNotFound` for region 1 on a store without a PD replica). Routing reads come from this
 * replica's PD state, which may lag the leader by a few entries (a stale route costs the client
 * one `EpochNotMatch` retry). PD commands are stamped with the caller's clock when it gives one,
 * else the store's. A `pdPutStore` or store heartbeat that PD refuses for another store key than
 * the recorded one is counted (`refused.storeKeyMismatch`).
 */
import { regionContainsKey, type PdApplyResult } from '@peerkv/pd';
import type { Result } from '../peer.ts';
import { PD_REGION_ID } from '../pd-host.ts';
import type { PdRouteAnswer } from '../rpc/pd-codec.ts';
import type { HandleOptions } from '../request-types.ts';
import type { Handler, HandlerEnv } from './handler.ts';
import { requestOptions } from './handler.ts';

function noPd<T>(): Result<T> {
  return { ok: false, error: { kind: 'RegionNotFound', regionId: PD_REGION_ID } };
}

/** The clock PD commands are stamped with. */
function nowOf(env: HandlerEnv, o: HandleOptions): number {
  return (o.now ?? env.ctx.now)();
}

/**
 * A store's key is never replaced: an attempt is someone posing as that store (or a store whose
 * engine lost its key), counted where it was asked.
 */
function countKeyMismatch(env: HandlerEnv, result: Result<PdApplyResult>): Result<PdApplyResult> {
  if (result.ok && result.value.kind === 'refused' && result.value.error.kind === 'StoreKeyMismatch') env.ctx.countRefused('storeKeyMismatch');
  return result;
}

function route<R, P>(region: R, leader: P | undefined): { region: R; leader?: P } {
  return leader ? { region, leader } : { region };
}

export const handlePdStoreHeartbeat: Handler<'pdStoreHeartbeat'> = async (env, q, o) => countKeyMismatch(env, await env.pd.pdHandleStoreHeartbeat(q.stats, nowOf(env, o), requestOptions(q, o)));

export const handlePdRegionHeartbeat: Handler<'pdRegionHeartbeat'> = (env, q, o) => env.pd.pdHandleRegionHeartbeat(q.heartbeat, requestOptions(q, o));

export const handlePdAllocId: Handler<'pdAllocId'> = (env, q, o) => env.pd.pdAllocId(requestOptions(q, o));

export const handlePdPutStore: Handler<'pdPutStore'> = async (env, q, o) =>
  countKeyMismatch(
    env,
    await env.pd.pdPropose({ kind: 'putStore', storeId: q.storeId, address: q.address, labels: q.labels, nowMs: nowOf(env, o), ...(q.publicKey ? { publicKey: q.publicKey } : {}) }, requestOptions(q, o)),
  );

export const handlePdGetTimestamps: Handler<'pdGetTimestamps'> = (env, q, o) => env.pd.pdGetTimestamps(q.count, requestOptions(q, o));

export const handlePdRegisterGcService: Handler<'pdRegisterGcService'> = async (env, q, o) => env.pd.pdRegisterGcService(q.serviceId, q.minStartTs, q.ttlMs, nowOf(env, o));

export const handlePdGetRegion: Handler<'pdGetRegion'> = async (env, q) => {
  const sm = env.pd.pdState();
  if (!sm) return noPd();
  const info = sm.getRegion(q.key);
  const found = info && info.region.id !== PD_REGION_ID && regionContainsKey(info.region, q.key);
  return { ok: true, value: found ? (route(info.region, info.leader) as PdRouteAnswer) : undefined };
};

/** PD's own group is answered too: a store asks about every replica it hosts (`PdClient.getRegionById`). */
export const handlePdGetRegionById: Handler<'pdGetRegionById'> = async (env, q) => {
  const sm = env.pd.pdState();
  if (!sm) return noPd();
  const info = sm.getReplicatedRegionById(q.regionId);
  return { ok: true, value: info ? (route(info.region, info.leader) as PdRouteAnswer) : undefined };
};

export const handlePdGetStore: Handler<'pdGetStore'> = async (env, q) => {
  const sm = env.pd.pdState();
  return sm ? { ok: true, value: sm.getStore(q.storeId)?.meta } : noPd();
};

/** A replica's safe point may lag the leader's, never lead it: a reader checking against it is told less, a GC worker collects less. */
export const handlePdGetGcSafePoint: Handler<'pdGetGcSafePoint'> = async (env) => {
  const sm = env.pd.pdState();
  return sm ? { ok: true, value: sm.gcSafePoint } : noPd();
};

export const handlePdGetScheduleConfig: Handler<'pdGetScheduleConfig'> = async (env) => {
  const sm = env.pd.pdState();
  return sm ? { ok: true, value: sm.config } : noPd();
};
