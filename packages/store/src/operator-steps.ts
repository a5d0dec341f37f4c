/**
 * The operator steps PD answers a region heartbeat with, run on the region's leader here
 * (`PdWorker`): membership changes, a leader transfer, and a split at PD's key or at the
 * region's middle key, with new ids from PD.
 */
import type { OperatorStep } from '@peerkv/pd';
import { compareKeys } from '@peerkv/pd';
import type { StoreContext } from './context.ts';
import { storedKeyRange, userKeyOf } from './data-model.ts';
import { DATA_CF } from './keys.ts';
import { REGION_KEYS_COUNT_MAX } from './options.ts';
import type { PdClient } from './pd-client.ts';
import { ok, type RegionPeer, type Result } from './peer.ts';
import type { StoreRequests } from './requests.ts';

/** Runs one operator step PD asked for on a region this store leads. */
export async function executeOperatorStep(ctx: StoreContext, requests: StoreRequests, regionId: number, step: OperatorStep, pd: PdClient): Promise<Result<void>> {
  const peer = ctx.peers.get(regionId);
  if (!peer || !peer.isLeader()) return { ok: false, error: peer ? peer.notLeader() : { kind: 'RegionNotFound', regionId } };
  switch (step.kind) {
    case 'addLearner':
      return requests.changePeers(regionId, [{ type: 'addLearnerNode', peer: { id: step.peerId, storeId: step.storeId, role: 'learner', ...(step.witness ? { witness: true as const } : {}) } }]);
    case 'promoteLearner':
      return requests.changePeers(regionId, [{ type: 'addNode', peer: { id: step.peerId, storeId: step.storeId, role: 'voter' } }]);
    case 'removePeer':
      return requests.changePeers(regionId, [{ type: 'removeNode', peer: { id: step.peerId, storeId: step.storeId, role: 'voter' } }]);
    case 'transferLeader': {
      const target = peer.region.peers.find((p) => p.storeId === step.toStoreId);
      if (target) requests.transferLeader(regionId, target.id);
      return ok();
    }
    case 'splitRegion':
      return splitByPd(ctx, requests, peer, step.splitKey, pd);
  }
}

/** Splits with ids from PD, at `splitKey` or at the region's middle key. */
async function splitByPd(ctx: StoreContext, requests: StoreRequests, peer: RegionPeer, splitKey: Uint8Array | undefined, pd: PdClient): Promise<Result<void>> {
  const key = splitKey ?? (await middleKey(ctx, peer));
  if (!key) return ok();
  const ids: number[] = [];
  for (let i = 0; i < peer.region.peers.length + 1; i++) {
    const r = await pd.allocId();
    if (!r.ok) return r;
    ids.push(r.value);
  }
  return requests.split(peer.regionId, peer.region.epoch, key, ids[0], ids.slice(1));
}

/**
 * The median user key of a region (bounded scan), or undefined for regions too small to
 * split. In an mvcc store a stored key is a user key's encoding plus perhaps a version: each
 * is decoded (`userKeyOf`) and a key's versions count once, so the key is a user key and,
 * being the median of at least two distinct ones, above the region's start.
 */
async function middleKey(ctx: StoreContext, peer: RegionPeer): Promise<Uint8Array | undefined> {
  const { startKey, endKey } = peer.region;
  const model = ctx.dataModel;
  // The split key comes from the column family holding the most bytes of this region.
  let cf = DATA_CF;
  let most = -1;
  for (const c of ctx.dataCfs) {
    const bytes = await ctx.engine.approximateSize(c, storedKeyRange(model, c, startKey, endKey));
    if (bytes > most) [cf, most] = [c, bytes];
  }
  const keys: Uint8Array[] = [];
  for await (const kv of ctx.engine.scan(cf, { ...storedKeyRange(model, cf, startKey, endKey), limit: REGION_KEYS_COUNT_MAX })) {
    const key = userKeyOf(model, cf, kv.key);
    if (keys.length === 0 || compareKeys(keys[keys.length - 1], key) !== 0) keys.push(key);
  }
  if (keys.length < 2) return undefined;
  const key = keys[Math.floor(keys.length / 2)];
  // Never the region's start (a split there is refused): the keys are sorted and distinct, the median is not the first.
  return compareKeys(key, startKey) > 0 ? key : undefined;
}
