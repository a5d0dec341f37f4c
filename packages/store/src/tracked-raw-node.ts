/**
 * `TrackedRawNode`: a replica's `RawNode` that says when it may have new work. The batch round
 * visits only the replicas in the store's work set (`StoreContext.peersWithWork`) instead of
 * asking every replica `hasReady()`: with 10,000 hibernating regions, a walk of all of them per
 * round was most of an idle store's CPU (issue 16, `bench:idle`). A Ready can only appear
 * through a call into the node (a tick, a message, a proposal, a read, a transfer, a report, an
 * applied conf change, the advance of the previous Ready) or through its storage (entries
 * fetched later, which `StoreContext.wake` covers), so every such call here marks the replica
 * first: no call site can forget to (a missed wakeup would leave a proposal waiting for a tick
 * that a hibernating replica never gets). Marking is idempotent and costs a set insertion.
 */
import { RawNode, type Config, type ConfChangeV2, type ConfState, type Message, type NodeId, type Ready } from '@peerkv/raft';
import type { StoreTestMutations } from './mutations.ts';

export class TrackedRawNode extends RawNode {
  constructor(
    config: Config,
    /** Puts the replica in the store's work set. */
    private readonly touched: () => void,
    private readonly mutations: StoreTestMutations,
  ) {
    super(config);
  }

  override tick(): void {
    this.touched();
    super.tick();
  }

  override campaign(): void {
    this.touched();
    super.campaign();
  }

  override propose(data: Uint8Array): void {
    this.touched();
    super.propose(data);
  }

  override proposeConfChange(cc: ConfChangeV2): void {
    this.touched();
    super.proposeConfChange(cc);
  }

  override step(m: Message): void {
    // The mutation forgets the replica a message gave work (the missed wakeup the work set's
    // check, `StoreOptions.verifyWorkSet`, must catch).
    if (!this.mutations.workSetMissesStep) this.touched();
    super.step(m);
  }

  override readIndex(ctx: Uint8Array): void {
    this.touched();
    super.readIndex(ctx);
  }

  override transferLeader(to: NodeId): void {
    this.touched();
    super.transferLeader(to);
  }

  override reportUnreachable(id: NodeId): void {
    this.touched();
    super.reportUnreachable(id);
  }

  override reportSnapshot(id: NodeId, ok: boolean): void {
    this.touched();
    super.reportSnapshot(id, ok);
  }

  override applyConfChange(cc: ConfChangeV2): ConfState {
    this.touched();
    return super.applyConfChange(cc);
  }

  /** More committed entries than one Ready carried may be waiting: the next round looks again. */
  override advance(rd: Ready): void {
    this.touched();
    super.advance(rd);
  }
}
