/**
 * The client-operation history: every operation's invocation and outcome, in the order the
 * simulator observed them. Owns the real-time order used by the linearizability checker:
 * `invokeOrder`/`completeOrder` come from one counter, so "a completed before b was invoked"
 * is exact even when both happened at the same virtual millisecond.
 */

/** What a client asked for. */
export type OpKind = 'put' | 'delete' | 'get';

/**
 * How it ended: `ok` (acknowledged), `fail` (definitely had no effect), `unknown` (timed out:
 * it may take effect at any time after its invocation, or never), `pending` (still running).
 */
export type OpStatus = 'pending' | 'ok' | 'fail' | 'unknown';

/** A register value; `null` means absent (never written, or deleted). */
export type Value = string | null;

/**
 * Which client call an operation came from, when not a plain single-key call: a multi-key
 * call is recorded as one operation per key (all with the call's interval), a scan as one
 * read per key of its range. `stale` reads are not linearizable and are checked apart.
 */
export type OpVia = 'batchPut' | 'deleteRange' | 'scan' | 'reverseScan' | 'followerGet' | 'followerScan' | 'staleGet' | 'stampedPut' | 'tabDelete' | 'tabBatchPut' | 'tabBatchDelete' | 'tabDeleteRange' | 'tabGet' | 'tabBatchGet' | 'tabScan' | 'finalRead';

/** One client operation on one key. */
export interface Operation {
  id: number;
  clientId: number;
  kind: OpKind;
  key: string;
  /** The call it came from (absent: a plain single-key get, put or delete). */
  via?: OpVia;
  /** Operations of one multi-key call share this id (the id of the call's first operation). */
  call?: number;
  /** The written value (`put` only). */
  value?: string;
  /** The value read (`get` with status `ok` only). */
  output?: Value;
  status: OpStatus;
  invokeAtMs: number;
  completeAtMs?: number;
  /** Position of the invocation in the global event order. */
  invokeOrder: number;
  /** Position of the completion in the global event order (`ok`/`fail` only). */
  completeOrder?: number;
}

/** What `invoke` needs. */
export interface OpInput {
  clientId: number;
  kind: OpKind;
  key: string;
  value?: string;
  via?: OpVia;
  call?: number;
}

/** Thrown when an operation is completed twice or never invoked: a simulator bug. */
export class HistoryError extends Error {
  override readonly name = 'HistoryError';
}

/** Records operations as they are invoked and completed. */
export class History {
  private readonly list: Operation[] = [];
  private order = 0;

  /** Records an invocation at `atMs`; returns the operation id. */
  invoke(input: OpInput, atMs: number): number {
    const op: Operation = { ...input, id: this.list.length, status: 'pending', invokeAtMs: atMs, invokeOrder: this.order++ };
    this.list.push(op);
    return op.id;
  }

  /** Marks operations as the parts of one call: each gets the first one's id as `call`. */
  group(ids: readonly number[]): void {
    if (ids.length < 2) return;
    for (const id of ids) this.open(id).call = ids[0];
  }

  /** The operation succeeded; `output` is the value read for a `get`. */
  ok(id: number, atMs: number, output?: Value): void {
    const op = this.open(id);
    op.status = 'ok';
    if (op.kind === 'get') op.output = output ?? null;
    this.close(op, atMs);
  }

  /** The operation definitely had no effect. */
  fail(id: number, atMs: number): void {
    const op = this.open(id);
    op.status = 'fail';
    this.close(op, atMs);
  }

  /** The outcome is unknown (it may or may not take effect). No completion order: it stays open. */
  unknown(id: number, atMs: number): void {
    const op = this.open(id);
    op.status = 'unknown';
    op.completeAtMs = atMs;
  }

  /** Marks every still-pending operation unknown (end of the run). */
  closePending(atMs: number): void {
    for (const op of this.list) if (op.status === 'pending') this.unknown(op.id, atMs);
  }

  /** All operations, in invocation order. */
  operations(): readonly Operation[] {
    return this.list;
  }

  /** Counts by status. */
  counts(): Record<OpStatus, number> {
    const c: Record<OpStatus, number> = { pending: 0, ok: 0, fail: 0, unknown: 0 };
    for (const op of this.list) c[op.status]++;
    return c;
  }

  private open(id: number): Operation {
    const op = this.list[id];
    if (op === undefined) throw new HistoryError(`operation ${id} was never invoked`);
    if (op.status !== 'pending') throw new HistoryError(`operation ${id} already ${op.status}`);
    return op;
  }

  private close(op: Operation, atMs: number): void {
    op.completeAtMs = atMs;
    op.completeOrder = this.order++;
  }
}

/** A one-line human description of an operation, for failure reports. */
export function describeOp(op: Operation): string {
  const arg = op.kind === 'put' ? `(${op.key}, ${op.value})` : `(${op.key})`;
  const out = op.kind === 'get' && op.status === 'ok' ? ` -> ${JSON.stringify(op.output)}` : '';
  const end = op.completeAtMs === undefined ? '…' : `${op.completeAtMs}`;
  const via = op.via === undefined ? '' : ` via ${op.via}${op.call !== undefined && op.call !== op.id ? ` of #${op.call}` : ''}`;
  return `#${op.id} c${op.clientId} ${op.kind}${arg}${out} ${op.status}${via} [${op.invokeAtMs}ms, ${end}ms]`;
}
