/**
 * `peerkv txn`: JSON ops read from stdin, applied as one transaction. The ops are a JSON
 * array (or `{"ops": [...]}`) of `{"op":"get","key"}`, `{"op":"put","key","value"}`,
 * `{"op":"del","key"}` and `{"op":"expect","key","value": string | null}`. Every op runs inside
 * the transaction in order; an `expect` whose key does not hold that value (null: absent)
 * ends the transaction before it commits (`TxnExpectationFailed`: nothing is written), the way
 * etcd's `txn` compares guard its writes. Reads see the transaction's own writes.
 */
import type { PeerKV } from 'peerkv';
import { CliUsageError, bytesArg, type OutputOptions } from './args.ts';

/** Ops one `txn` takes at most. */
export const TXN_OPS_MAX = 1024;
/** Bytes of stdin `txn` reads at most. */
export const TXN_INPUT_BYTES_MAX = 8 * 1024 * 1024;

/** One op. */
export type TxnOp =
  | { op: 'get'; key: Uint8Array }
  | { op: 'put'; key: Uint8Array; value: Uint8Array }
  | { op: 'del'; key: Uint8Array }
  | { op: 'expect'; key: Uint8Array; value: Uint8Array | null };

/** What each op gave: the value a get read (null: absent); nothing for the others. */
export interface TxnOpResult {
  op: TxnOp['op'];
  key: Uint8Array;
  value?: Uint8Array | null;
}

/** An `expect` op did not hold: the transaction ended without committing. */
export class TxnExpectationFailed extends Error {
  override readonly name = 'TxnExpectationFailed';
}

/** Parses the ops; `CliUsageError` naming the first bad one. */
export function parseTxnOps(text: string, o: OutputOptions): TxnOp[] {
  if (text.length > TXN_INPUT_BYTES_MAX) throw new CliUsageError(`txn input is over ${TXN_INPUT_BYTES_MAX} bytes`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new CliUsageError(`txn input is not JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  const list = Array.isArray(doc) ? doc : (doc as { ops?: unknown } | null)?.ops;
  if (!Array.isArray(list)) throw new CliUsageError('txn input must be a JSON array of ops or {"ops": [...]}');
  if (list.length === 0 || list.length > TXN_OPS_MAX) throw new CliUsageError(`txn takes 1..${TXN_OPS_MAX} ops, got ${list.length}`);
  return list.map((x, i) => parseOp(x, i, o));
}

function parseOp(x: unknown, i: number, o: OutputOptions): TxnOp {
  const bad = (why: string): never => {
    throw new CliUsageError(`txn op ${i}: ${why}`);
  };
  if (typeof x !== 'object' || x === null) bad('not an object');
  const { op, key, value } = x as { op?: unknown; key?: unknown; value?: unknown };
  if (typeof key !== 'string' || key === '') bad('needs a non-empty string "key"');
  const k = bytesArg(`txn op ${i} key`, key as string, o);
  if (op === 'get') return { op, key: k };
  if (op === 'del' || op === 'delete') return { op: 'del', key: k };
  if (op === 'put') {
    if (typeof value !== 'string') bad('put needs a string "value"');
    return { op, key: k, value: bytesArg(`txn op ${i} value`, value as string, o) };
  }
  if (op === 'expect') {
    if (value !== null && typeof value !== 'string') bad('expect needs "value": a string, or null for absent');
    return { op, key: k, value: value === null ? null : bytesArg(`txn op ${i} value`, value as string, o) };
  }
  return bad(`unknown op ${JSON.stringify(op)} (get, put, del, expect)`);
}

/** Runs `ops` as one transaction; answers each op's result and the transaction's timestamps. */
export async function runTxnOps(kv: PeerKV, ops: readonly TxnOp[], pessimistic: boolean): Promise<{ results: TxnOpResult[]; startTs: bigint; commitTs?: bigint; attempts: number }> {
  const { value, info } = await kv.transactionWithInfo(
    async (tx) => {
      const results: TxnOpResult[] = [];
      for (const op of ops) {
        if (op.op === 'put') tx.put(op.key, op.value);
        else if (op.op === 'del') tx.delete(op.key);
        const read = op.op === 'get' || op.op === 'expect' ? ((pessimistic ? await tx.getForUpdate(op.key) : await tx.get(op.key)) ?? null) : undefined;
        if (op.op === 'expect' && !sameValue(read ?? null, op.value)) {
          throw new TxnExpectationFailed(`expect failed: ${JSON.stringify(new TextDecoder().decode(op.key))} does not hold the expected value; nothing was written`);
        }
        results.push(op.op === 'get' ? { op: op.op, key: op.key, value: read } : { op: op.op, key: op.key });
      }
      return results;
    },
    { pessimistic },
  );
  return { results: value, startTs: info.startTs, ...(info.commitTs !== undefined ? { commitTs: info.commitTs } : {}), attempts: info.attempts };
}

function sameValue(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === null || b === null) return a === b;
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
