/**
 * `IdAllocator`: hands out unique ids (stores, regions, peers) from memory on the PD leader.
 * Ids come in batches reserved through Raft (`allocIds` commands). A batch belongs to the
 * allocator that proposed it: the result carries (requesterId, requesterTerm, requestSeq)
 * and only the allocator that is leader of that term with that id takes it. So ids stay
 * unique across leader changes (a deposed leader may finish a batch it was granted: nobody
 * else has it) and across restarts (replaying old results matches no current term).
 * `requesterId` must be the PD peer id: Raft elects one leader per term.
 */
import type { AllocIdsCommand, PdApplyResult } from './command.ts';
import { ID_BATCH_MAX } from './limits.ts';

/** Batch sizing of the id allocator. */
export interface IdAllocatorConfig {
  /** Ids reserved per `allocIds` command. */
  batchSize: number;
  /** Ask for a new batch when fewer than this many ids are left. */
  lowWater: number;
  /** Re-propose an unanswered request after this long. */
  proposalRetryMs: number;
}

/** Defaults: batches of 1000, renewed with 100 left. */
export const DEFAULT_ID_ALLOCATOR_CONFIG: Readonly<IdAllocatorConfig> = Object.freeze({
  batchSize: 1000,
  lowWater: 100,
  proposalRetryMs: 1000,
});

/** Leader-side id allocator fed by applied `allocIds` results. */
export class IdAllocator {
  private readonly config: IdAllocatorConfig;
  /** Granted, not yet handed out: [next, last] per batch, in grant order. */
  private readonly ranges: { next: number; last: number }[] = [];
  /** The Raft term this allocator leads in (undefined while not leader). */
  private term: number | undefined;
  private requestSeq = 0;
  private pending: { seq: number; proposedAtMs: number } | undefined;

  constructor(
    readonly requesterId: number,
    config: Partial<IdAllocatorConfig> = {},
  ) {
    this.config = { ...DEFAULT_ID_ALLOCATOR_CONFIG, ...config };
    if (this.config.batchSize < 1 || this.config.batchSize > ID_BATCH_MAX) throw new RangeError(`batchSize must be 1..${ID_BATCH_MAX}`);
  }

  /**
   * Starts taking grants proposed in `term` (this replica's term as PD leader). What is left of
   * an earlier term's batches is dropped: another leader may have been granted higher ids
   * since, and ids must increase across leaders (a store replaces a replica with a newer peer
   * of its region only when the new peer's id is higher: TiKV's PD rebases its allocator on
   * election likewise). Ids are plentiful; a dropped remainder costs nothing.
   */
  becomeLeader(term: number): void {
    this.term = term;
    this.pending = undefined;
    this.ranges.length = 0;
  }

  /** Stops proposing and handing out ids (`becomeLeader` starts from a new batch). */
  stepDown(): void {
    this.term = undefined;
    this.pending = undefined;
    this.ranges.length = 0;
  }

  /** Whether fewer ids than `lowWater` are at hand (a batch is due or in flight). */
  get low(): boolean {
    return this.available < this.config.lowWater;
  }

  /** Ids available from memory. */
  get available(): number {
    return this.ranges.reduce((n, r) => n + (r.last - r.next + 1), 0);
  }

  /** The next unique id, or undefined when the granted batches are used up. */
  alloc(): number | undefined {
    const range = this.ranges[0];
    if (range === undefined) return undefined;
    const id = range.next++;
    if (range.next > range.last) this.ranges.shift();
    return id;
  }

  /** `count` unique ids, all or none (undefined when fewer are at hand). */
  allocMany(count: number): number[] | undefined {
    if (count > this.available) return undefined;
    const out: number[] = [];
    for (let i = 0; i < count; i++) out.push(this.alloc()!);
    return out;
  }

  /** An `allocIds` command to propose now, or null (not leader, enough ids, or a request in flight). */
  proposal(nowMs: number): AllocIdsCommand | null {
    if (this.term === undefined || this.available >= this.config.lowWater) return null;
    if (this.pending !== undefined && nowMs - this.pending.proposedAtMs < this.config.proposalRetryMs) return null;
    this.requestSeq += 1;
    this.pending = { seq: this.requestSeq, proposedAtMs: nowMs };
    const { requesterId, term: requesterTerm, requestSeq } = this;
    return { kind: 'allocIds', count: this.config.batchSize, requesterId, requesterTerm, requestSeq };
  }

  /**
   * Feed every applied result here. Grants to this requester in its current term are kept,
   * including answers to retried requests (each grant is a distinct range).
   */
  onApplied(result: PdApplyResult): void {
    if (result.kind !== 'idsAllocated' || result.requesterId !== this.requesterId) return;
    if (this.term === undefined || result.requesterTerm !== this.term) return;
    this.ranges.push({ next: result.firstId, last: result.lastId });
    if (this.pending !== undefined && result.requestSeq >= this.pending.seq) this.pending = undefined;
  }
}
