/**
 * The admin handlers: membership changes, splits, leadership transfer, elections and status.
 * The work is `StoreRequests`' (PD's operator steps use it too); these adapt the requests.
 */
import { storeStatus } from '../inspect.ts';
import type { Handler } from './handler.ts';
import { requestOptions } from './handler.ts';
import { StoreRequestError } from '../request-types.ts';

/** Changes membership by joint consensus (`StoreRequests.changePeers`). */
export const handleChangePeers: Handler<'changePeers'> = async (env, q, o) => env.requests.changePeers(q.regionId, q.changes, requestOptions(q, o));

/** Splits a region (`StoreRequests.split`). */
export const handleSplit: Handler<'split'> = async (env, q, o) => env.requests.split(q.regionId, q.epoch, q.splitKey, q.newRegionId, q.newPeerIds, requestOptions(q, o));

/** Asks this replica, if it leads, to hand leadership over; ok once asked (not once moved). */
export const handleTransferLeader: Handler<'transferLeader'> = async (env, q) => {
  env.requests.transferLeader(q.regionId, q.peerId);
  return { ok: true, value: undefined };
};

/** Starts an election on this replica; ok once started. */
export const handleCampaign: Handler<'campaign'> = async (env, q) => {
  env.requests.campaign(q.regionId);
  return { ok: true, value: undefined };
};

/** Marks the store draining (`StoreRequests.drain`: leaderships handed away now) or serving again; ok once marked. */
export const handleSetDraining: Handler<'setDraining'> = async (env, q) => {
  if (q.draining) env.requests.drain();
  else env.ctx.draining = false;
  return { ok: true, value: undefined };
};

/**
 * Rotates the data key (`Store.rotateDataKey`'s work, `data-key-switch.ts`); ok once this
 * store's keyring moved and its switches are proposed. A store without a data key, an id below
 * the current one or one it cannot derive is bad input (`BadField`).
 */
export const handleRotateDataKey: Handler<'rotateDataKey'> = async (env, q) => {
  const ring = env.ctx.entryCipher;
  if (!ring) throw new StoreRequestError('BadField', `rotateDataKey: store ${env.ctx.storeId} holds no data key (a witness, or a store that does not seal)`);
  try {
    await env.dataKeySwitcher.rotate(ring, q.keyId);
  } catch (e) {
    if (e instanceof RangeError) throw new StoreRequestError('BadField', `rotateDataKey.keyId: ${e.message}`);
    throw e;
  }
  return { ok: true, value: undefined };
};

/** The store's status. */
export const handleStatus: Handler<'status'> = async (env) => ({ ok: true, value: storeStatus(env.ctx) });
