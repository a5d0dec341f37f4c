/**
 * Client requests waiting at one node: writes until their (clientId, seq) is applied, reads
 * until their ReadIndex is known and applied. Volatile: a crash forgets them all (the
 * clients time out and retry elsewhere). Bounded by `limit`.
 */
import type { KvStateMachine } from './kv.ts';
import type { ClientRequest } from './messages.ts';

interface PendingRead {
  request: ClientRequest;
  /** The read index once the ReadIndex round answered. */
  index?: number;
}

const writeKey = (clientId: number, seq: number): string => `${clientId}:${seq}`;

/** The waiting requests of one node; see the module header. */
export class PendingRequests {
  private readonly writes = new Map<string, ClientRequest[]>();
  private readonly reads = new Map<string, PendingRead>();

  constructor(private readonly limit: number) {}

  /** True when no more requests may wait. */
  get full(): boolean {
    return this.writes.size + this.reads.size >= this.limit;
  }

  /** Forgets everything (crash). */
  clear(): void {
    this.writes.clear();
    this.reads.clear();
  }

  /** Waits for a write; returns a function that takes the wait back (proposal refused). */
  addWrite(request: ClientRequest): () => void {
    const key = writeKey(request.clientId, request.seq);
    const waiting = this.writes.get(key) ?? [];
    waiting.push(request);
    this.writes.set(key, waiting);
    return () => {
      waiting.splice(waiting.indexOf(request), 1);
      if (waiting.length === 0) this.writes.delete(key);
    };
  }

  /** Takes every request waiting for (clientId, seq). */
  takeWrites(clientId: number, seq: number): ClientRequest[] {
    const key = writeKey(clientId, seq);
    const waiting = this.writes.get(key) ?? [];
    this.writes.delete(key);
    return waiting;
  }

  /**
   * After a snapshot replaced the state machine: takes the writes it already applied. Those
   * whose result it remembers are returned to be answered; older ones are just dropped.
   */
  takeAppliedWrites(kv: KvStateMachine): ClientRequest[] {
    const answered: ClientRequest[] = [];
    for (const [key, waiting] of this.writes) {
      const { clientId, seq } = waiting[0];
      if (!kv.hasApplied(clientId, seq)) continue;
      if (kv.resultOf(clientId, seq) !== undefined) answered.push(...waiting);
      this.writes.delete(key);
    }
    return answered;
  }

  /** Waits for a read identified by its ReadIndex context. */
  addRead(ctx: string, request: ClientRequest): void {
    this.reads.set(ctx, { request });
  }

  /** Forgets a read (the ReadIndex request was refused). */
  dropRead(ctx: string): void {
    this.reads.delete(ctx);
  }

  /** The ReadIndex round for `ctx` answered with `index`. */
  onReadState(ctx: string, index: number): void {
    const read = this.reads.get(ctx);
    if (read !== undefined) read.index = index;
  }

  /** Takes the reads that can be served now that `applied` entries are applied. */
  takeServableReads(applied: number): ClientRequest[] {
    const ready: ClientRequest[] = [];
    for (const [ctx, read] of this.reads) {
      if (read.index === undefined || read.index > applied) continue;
      this.reads.delete(ctx);
      ready.push(read.request);
    }
    return ready;
  }
}
