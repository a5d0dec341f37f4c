/**
 * The `write` handler: replicates and applies a client's key-value ops through the region's
 * Raft group, deduplicated by (clientId, seq) when it applies (`dedup.ts`).
 */
import { compareKeys } from '@peerkv/pd';
import { encodeCommand } from '../command.ts';
import { RegionPeer } from '../peer.ts';
import { StoreRequestError } from '../request-types.ts';
import type { Handler } from './handler.ts';
import { requestOptions, requireRawModel, sealForProposal } from './handler.ts';

/**
 * Resolves once applied on this (leader) replica, or with a region error. A timeout or abort
 * does not retract the proposal: it may still apply (retry with the same seq; it is deduplicated).
 */
export const handleWrite: Handler<'write'> = async (env, q, o) => {
  const receivedMs = env.ctx.traceNow();
  env.ctx.assertOpen();
  requireRawModel(env, 'write');
  // A column family this store does not declare would stop every replica's apply: refused here.
  for (const op of q.ops) {
    if (!env.ctx.dataCfs.includes(op.cf)) throw new StoreRequestError('BadField', `write.ops: column family '${op.cf}' is not one of this store's (${env.ctx.dataCfs.join(', ')})`);
  }
  const keys = q.ops.map((op) => (op.type === 'deleteRange' ? op.start : op.key));
  const checked = env.requests.checkRequest(q.regionId, q.epoch, keys, true);
  if (!(checked instanceof RegionPeer)) return { ok: false, error: checked };
  const peer = checked;
  // Every key of the write, a range delete's end included, must be in the region now: a
  // write the client grouped by a stale view is refused before it reaches the log.
  for (const op of q.ops) {
    if (op.type === 'deleteRange' && peer.region.endKey.length > 0 && compareKeys(op.end, peer.region.endKey) > 0) {
      return { ok: false, error: { kind: 'EpochNotMatch', currentRegions: [peer.region] } };
    }
  }
  const ackFloor = q.ackFloor !== undefined && Number.isSafeInteger(q.ackFloor) && q.ackFloor > 0 ? Math.min(q.ackFloor, q.seq) : 0;
  let data = encodeCommand({ type: 'write', clientId: q.clientId, seq: q.seq, ackFloor, stampMs: Math.max(0, Math.floor(env.ctx.now())), ops: q.ops });
  if (env.ctx.entryCipher) {
    const sealed = await sealForProposal(env, env.ctx.entryCipher, peer, data, requestOptions(q, o));
    if (!(sealed instanceof Uint8Array)) return { ok: false, error: sealed };
    data = sealed;
  }
  return env.requests.propose(peer, () => peer.raw.propose(data), requestOptions(q, o), receivedMs);
};
