/**
 * Apply of a `txn` command (the writes of one transactional action): every op's user key must
 * still be in the region (a split between the leader's snapshot and apply moves keys away:
 * `EpochNotMatch`), checked for all ops before any is written, so a command applies whole or
 * not at all. No dedup: the action is idempotent by its start ts.
 *
 * Txn column families hold encoded keys (`lock`: `encodeKey(key)`; `write`, `default`:
 * `encodeMvccKey(key, ts)`); the region's bounds are user keys, so the user key is decoded
 * before the range check.
 */
import type { Region, RegionError } from '@peerkv/pd';
import { regionContainsKey } from '@peerkv/pd';
import { CF_LOCK, decodeKey, decodeMvccKey } from '@peerkv/txn';
import type { KvOp, TxnCommand } from '../command.ts';
import { assertDataModel } from '../data-model.ts';
import { ok, type ApplyContext, type Result } from '../peer.ts';

/** A committed `txn` command holds an op no leader could have produced (a broken invariant: the store stops). */
export class TxnCommandError extends Error {
  override readonly name = 'TxnCommandError';
}

/** The user key a txn op writes, decoded from its column family's key layout. */
export function txnOpUserKey(op: KvOp): Uint8Array {
  if (op.type === 'deleteRange') throw new TxnCommandError('a txn command holds a range delete');
  const cf = op.cf;
  return cf === CF_LOCK ? decodeKey(op.key) : decodeMvccKey(op.key).key;
}

function opProblem(op: KvOp, region: Region, dataCfs: readonly string[]): RegionError | undefined {
  const cf = op.cf;
  // The leader checked its declaration before proposing, and every store of a cluster declares the same.
  if (!dataCfs.includes(cf)) throw new TxnCommandError(`a txn command names column family '${cf}', not declared here (${dataCfs.join(', ')})`);
  if (!regionContainsKey(region, txnOpUserKey(op))) return { kind: 'EpochNotMatch', currentRegions: [region] };
  return undefined;
}

/** Applies a `txn` command: all of its ops into their column families, or none (`EpochNotMatch`). */
export function applyTxn(cmd: TxnCommand, a: ApplyContext): Result<void> {
  // Encoded keys go only into an mvcc store's column families (data-model.ts).
  assertDataModel(a.dataModel, 'txn');
  for (const op of cmd.ops) {
    const problem = opProblem(op, a.peer.region, a.dataCfs);
    if (problem) return { ok: false, error: problem };
  }
  for (const op of cmd.ops) {
    if (op.type === 'put') a.kv.put(op.cf, op.key, op.value);
    else if (op.type === 'delete') a.kv.delete(op.cf, op.key);
  }
  a.applied.push(...cmd.ops);
  return ok();
}
