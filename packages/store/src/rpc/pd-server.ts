/**
 * The server side of the PD requests: runs each on the store's PD replica. Writes
 * (heartbeats, ids, joins, timestamps) run only where PD's replica leads; elsewhere the
 * store's own answer is `NotLeader` with the PD leader's peer as hint (or `RegionNotFound`
 * for region 1 on a store without a PD replica). Routing reads come from this replica's PD
 * state, which may lag the leader by a few entries (a stale route costs the client one
 * `EpochNotMatch` retry). PD commands are stamped with the serving store's clock.
 */
import { regionContainsKey } from '@peerkv/pd';
import type { Result } from '../peer.ts';
import { PD_REGION_ID } from '../pd-host.ts';
import type { PdService } from '../pd-service.ts';
import type { PdRequest, PdResponse } from './pd-codec.ts';

/** The PD methods of a store the server calls. */
export type ServedPdStore = Pick<PdService, 'pdPropose' | 'pdAllocId' | 'pdGetTimestamps' | 'pdHandleRegionHeartbeat' | 'pdHandleStoreHeartbeat' | 'pdState' | 'pdRegisterGcService'>;

function noPd<T>(): Result<T> {
  return { ok: false, error: { kind: 'RegionNotFound', regionId: PD_REGION_ID } };
}

/** Runs one PD request; `timeout` maps the request's timeout to the store's options. */
export async function dispatchPd(store: ServedPdStore, q: PdRequest, timeout: (q: { timeoutMs?: number }) => { timeoutMs?: number }, now: () => number): Promise<PdResponse> {
  switch (q.type) {
    case 'pdStoreHeartbeat':
      return { type: 'pdApply', result: await store.pdHandleStoreHeartbeat(q.stats, now(), timeout(q)) };
    case 'pdRegionHeartbeat':
      return { type: 'pdStep', result: await store.pdHandleRegionHeartbeat(q.heartbeat, timeout(q)) };
    case 'pdAllocId':
      return { type: 'pdId', result: await store.pdAllocId(timeout(q)) };
    case 'pdPutStore':
      return { type: 'pdApply', result: await store.pdPropose({ kind: 'putStore', storeId: q.storeId, address: q.address, labels: q.labels, nowMs: now(), ...(q.publicKey ? { publicKey: q.publicKey } : {}) }, timeout(q)) };
    case 'pdGetTimestamps':
      return { type: 'pdTimestamps', result: await store.pdGetTimestamps(q.count, timeout(q)) };
    case 'pdRegisterGcService':
      return { type: 'pdGcRegister', result: store.pdRegisterGcService(q.serviceId, q.minStartTs, q.ttlMs, now()) };
    default:
      return readPd(store, q);
  }
}

/** Routing reads from this store's PD replica. */
function readPd(store: ServedPdStore, q: Extract<PdRequest, { type: 'pdGetRegion' | 'pdGetRegionById' | 'pdGetStore' | 'pdGetGcSafePoint' | 'pdGetScheduleConfig' }>): PdResponse {
  const sm = store.pdState();
  switch (q.type) {
    case 'pdGetRegion': {
      if (!sm) return { type: 'pdRoute', result: noPd() };
      const info = sm.getRegion(q.key);
      const found = info && info.region.id !== PD_REGION_ID && regionContainsKey(info.region, q.key);
      return { type: 'pdRoute', result: { ok: true, value: found ? route(info.region, info.leader) : undefined } };
    }
    case 'pdGetRegionById': {
      if (!sm) return { type: 'pdRoute', result: noPd() };
      const info = sm.getRegionById(q.regionId);
      return { type: 'pdRoute', result: { ok: true, value: info ? route(info.region, info.leader) : undefined } };
    }
    case 'pdGetStore':
      return { type: 'pdStore', result: sm ? { ok: true, value: sm.getStore(q.storeId)?.meta } : noPd() };
    case 'pdGetGcSafePoint':
      // A replica's safe point may lag the leader's, never lead it: a reader checking against it is told less, a GC worker collects less.
      return { type: 'pdGcSafePoint', result: sm ? { ok: true, value: sm.gcSafePoint } : noPd() };
    case 'pdGetScheduleConfig':
      return { type: 'pdScheduleConfig', result: sm ? { ok: true, value: sm.config } : noPd() };
  }
}

function route<R, P>(region: R, leader: P | undefined): { region: R; leader?: P } {
  return leader ? { region, leader } : { region };
}
