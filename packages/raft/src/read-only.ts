/**
 * Pending ReadIndex requests on the leader (etcd `read_only.go`, thesis §6.4).
 *
 * In `safe` mode a request is recorded with the commit index at its arrival; the leader
 * broadcasts a heartbeat carrying the request context, and once a quorum has acknowledged
 * that heartbeat, every request up to it can be served at its recorded index.
 */
import type { Message, NodeId } from './types.ts';

export interface ReadIndexStatus {
  req: Message;
  index: number;
  acks: Map<NodeId, boolean>;
}

/** Context bytes as a map key. */
export function ctxKey(ctx: Uint8Array): string {
  let s = '';
  for (const b of ctx) s += b.toString(16).padStart(2, '0');
  return s;
}

export class ReadOnly {
  private pending = new Map<string, ReadIndexStatus>();
  private queue: string[] = [];

  constructor(
    readonly option: 'safe' | 'lease',
    /** Bound on queued read requests; more are refused until some complete. */
    readonly pendingMax: number,
  ) {}

  isFull(): boolean {
    return this.queue.length >= this.pendingMax;
  }

  /** Records a request `m` (its context is `m.entries[0].data`) at commit index `index`. */
  addRequest(index: number, m: Message): void {
    const key = ctxKey(m.entries[0].data);
    if (this.pending.has(key)) return;
    this.pending.set(key, { index, req: m, acks: new Map() });
    this.queue.push(key);
  }

  /** Records a heartbeat ack for the request with `ctx`; returns its acks so far. */
  recvAck(id: NodeId, ctx: Uint8Array): Map<NodeId, boolean> | undefined {
    const rs = this.pending.get(ctxKey(ctx));
    if (!rs) return undefined;
    rs.acks.set(id, true);
    return rs.acks;
  }

  /** Dequeues every request up to and including the one with `ctx`. */
  advance(ctx: Uint8Array): ReadIndexStatus[] {
    const key = ctxKey(ctx);
    const at = this.queue.indexOf(key);
    if (at < 0) return [];
    const done = this.queue.splice(0, at + 1);
    const out: ReadIndexStatus[] = [];
    for (const k of done) {
      const rs = this.pending.get(k);
      if (rs) out.push(rs);
      this.pending.delete(k);
    }
    return out;
  }

  /** Context of the most recent pending request, if any. */
  lastPendingRequestCtx(): Uint8Array | undefined {
    if (this.queue.length === 0) return undefined;
    return this.pending.get(this.queue[this.queue.length - 1])!.req.entries[0].data;
  }

  reset(): void {
    this.pending = new Map();
    this.queue = [];
  }
}
